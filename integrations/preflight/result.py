"""A preflight check's result, and the runner that turns any failure into one."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from enum import StrEnum

from pydantic import BaseModel

CHECK_TIMEOUT_SECONDS = 60
MAX_DETAIL_LENGTH = 500


class CheckStatus(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    SKIPPED = "skipped"
    """Not run (e.g. AddOrder without --with-test-order); never a failure."""


class CheckResult(BaseModel):
    system: str
    name: str
    status: CheckStatus
    detail: str
    """What was checked and what came back."""
    fix: str = ""
    """What to do; empty when it passed."""

    @property
    def ok(self) -> bool:
        return self.status is not CheckStatus.FAIL


Fix = str | Callable[[Exception], str]


async def run_check(
    system: str, name: str, check: Callable[[], Awaitable[str]], fix: Fix
) -> CheckResult:
    """Run `check` (its return value is the detail of a pass); any exception is a failure
    carrying the exception's text and `fix` (or `fix(exception)`)."""
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            detail = await check()
    except Exception as error:  # the failure of a check is its result
        return failed(system, name, describe(error), fix(error) if callable(fix) else fix)
    return CheckResult(system=system, name=name, status=CheckStatus.PASS, detail=detail)


def failed(system: str, name: str, detail: str, fix: str) -> CheckResult:
    return CheckResult(system=system, name=name, status=CheckStatus.FAIL, detail=detail, fix=fix)


def skipped(system: str, name: str, detail: str) -> CheckResult:
    return CheckResult(system=system, name=name, status=CheckStatus.SKIPPED, detail=detail)


class CheckFailedError(Exception):
    """A check's own finding (not an error of a call): the message is the detail."""


def describe(error: BaseException) -> str:
    if isinstance(error, TimeoutError):
        return f"no answer within {CHECK_TIMEOUT_SECONDS} s"
    text = str(error) or type(error).__name__
    return text[:MAX_DETAIL_LENGTH]
