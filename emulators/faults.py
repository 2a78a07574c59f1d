"""Fault injection shared by all emulators: queue a fault, the next matching request takes it."""

from __future__ import annotations

import asyncio
import random
import threading
from enum import StrEnum

from pydantic import BaseModel, Field


class FaultKind(StrEnum):
    LATENCY = "latency"
    """Wait `seconds`, then answer normally."""
    HTTP_503 = "http_503"
    RATE_LIMIT = "rate_limit"
    """The vendor's rate-limit answer (WHMCS: HTTP 429; Salesforce: 403 REQUEST_LIMIT_EXCEEDED)."""
    TIMEOUT = "timeout"
    """Hold the request `seconds` without doing anything, then fail it with 504."""
    COMMIT_THEN_TIMEOUT = "commit_then_timeout"
    """Do the work and keep its effect, then hold the answer `seconds` and fail with 504."""


class Fault(BaseModel):
    target: str = Field(description="operation the fault applies to, or '*' for every one")
    kind: FaultKind
    times: int = Field(default=1, ge=0, description="requests it affects; 0 means until cleared")
    probability: float = Field(default=1.0, gt=0, le=1)
    seconds: float = Field(default=30.0, ge=0)
    retry_after: int | None = Field(default=None, ge=0, description="Retry-After header, seconds")


class FaultInjector:
    """Thread-safe list of pending faults; emulators call `take` once per request."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._random = random.Random()

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def pending(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def take(self, target: str) -> Fault | None:
        with self._lock:
            for index, fault in enumerate(self._faults):
                if fault.target not in ("*", target):
                    continue
                if self._random.random() >= fault.probability:
                    continue
                if fault.times == 1:
                    del self._faults[index]
                elif fault.times > 1:
                    self._faults[index] = fault.model_copy(update={"times": fault.times - 1})
                return fault
        return None


async def hold(fault: Fault) -> None:
    """Sleep for the fault's duration (latency and timeouts)."""
    await asyncio.sleep(fault.seconds)
