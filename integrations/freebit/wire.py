"""Freebit's wire format, kept in this one module since Freebit publishes no spec.

Every request is a form with one field `json` holding a JSON object; every answer is a
JSON object whose `resultCode` is "100" on success, otherwise `status.{message,statusCode}`
explain the refusal. Flags are "10" (on) / "20" (off), dates YYYYMMDD, and numbers in
answers may arrive as strings. Which resultCodes mean "authKey expired" and "account locked"
are settings (`ResultCodes`, from FREEBIT_AUTH_KEY_REJECTED_CODES and
FREEBIT_ACCOUNT_LOCKED_CODES).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from contracts.sim import (
    Cancellation,
    NetworkTypeChange,
    PlanChange,
    QuotaTopUp,
    VoiceOptionsChange,
)
from integrations.config import FreebitSettings
from integrations.errors import AuthenticationError
from integrations.freebit.errors import AccountLockedError, AuthKeyRejectedError, FreebitError
from integrations.freebit.models import AccountDetail, TrafficInfo
from integrations.freebit.paths import FreebitOperation

Json = dict[str, Any]

SUCCESS = "100"
LOCKED_CODE = "LOCKED"
ON, OFF = "10", "20"
MVNO = "MVNO"
ACCOUNT_DETAIL_VERSION = "2"
NO_GLOBAL_IP = OFF


@dataclass(frozen=True)
class ResultCodes:
    """The refusals the client acts on by itself; any other one is a `FreebitError`."""

    auth_key_rejected: frozenset[str]
    """The authKey expired or is invalid: authenticate again, once."""
    account_locked: frozenset[str]
    """The account is locked or an operation on it is in progress: nothing was applied."""

    @classmethod
    def of(cls, settings: FreebitSettings) -> ResultCodes:
        return cls(
            auth_key_rejected=frozenset(settings.auth_key_rejected_codes),
            account_locked=frozenset(settings.account_locked_codes),
        )


def form(payload: Json) -> dict[str, str]:
    return {"json": json.dumps(payload, ensure_ascii=False, separators=(",", ":"))}


def auth_body(oem_id: str, oem_key: str) -> Json:
    return {"oemId": oem_id, "oemKey": oem_key}


def account_detail_body(account: str) -> Json:
    return {
        "requestDatas": [{"kind": MVNO, "account": account}],
        "version": ACCOUNT_DETAIL_VERSION,
    }


def traffic_info_body(account: str) -> Json:
    return {"account": account}


def add_quota_body(account: str, top_up: QuotaTopUp, quota_code: str) -> Json:
    body: Json = {
        "kind": MVNO,
        "account": account,
        "quota": top_up.quota_mb,
        "quotaCode": quota_code,
    }
    return _with_date(body, "expire", top_up.expire)


def plan_change_body(account: str, change: PlanChange) -> Json:
    body: Json = {"account": account, "planCode": change.plan_code, "globalIp": NO_GLOBAL_IP}
    return _with_date(body, "runTime", change.run_time)


def voice_options_body(account: str, change: VoiceOptionsChange) -> Json:
    options = {"voiceMail": change.voice_mail, "callWaiting": change.call_waiting}
    talk_option = {name: _flag(on) for name, on in options.items() if on is not None}
    return {"account": account, "talkOption": talk_option}


def contract_line_body(account: str, change: NetworkTypeChange) -> Json:
    return {"account": account, "contractLine": change.contract_line}


def cancel_body(account: str, cancellation: Cancellation) -> Json:
    body: Json = {"kind": MVNO, "account": account}
    return _with_date(body, "runDate", cancellation.run_date)


def raise_for_result(operation: FreebitOperation, body: Json, codes: ResultCodes) -> None:
    """Nothing on success; otherwise the error the refusal stands for."""
    result_code = str(body.get("resultCode") or "")
    if result_code == SUCCESS:
        return
    status = body.get("status")
    if not isinstance(status, dict):
        status = {}
    message = str(status.get("message") or f"{operation} refused with resultCode {result_code}")
    status_code = str(status.get("statusCode") or "")
    if operation is FreebitOperation.AUTH:
        raise AuthenticationError("AUTH", message)
    if result_code in codes.auth_key_rejected:
        raise AuthKeyRejectedError("AUTH", message, result_code=result_code)
    if result_code in codes.account_locked:
        raise AccountLockedError(LOCKED_CODE, message, result_code=result_code)
    raise FreebitError(status_code or result_code, message, result_code=result_code)


def auth_key_from(body: Json) -> str:
    auth_key = body.get("authKey")
    if not isinstance(auth_key, str) or not auth_key:
        raise ValueError("authOem answered without an authKey")
    return auth_key


def account_detail_from(body: Json) -> AccountDetail:
    [detail] = body["responseDatas"]
    talk_option = detail.get("talkOption") or {}
    return AccountDetail(
        account=detail["account"],
        state=detail["state"],
        plan_code=detail["planCode"],
        contract_line=detail["contractLine"],
        voice_mail=talk_option.get("voiceMail") == ON,
        call_waiting=talk_option.get("callWaiting") == ON,
        remaining_quota_mb=detail["remainingQuotaMb"],
        next_plan_code=detail.get("nextPlanCode"),
        plan_change_date=_optional_date(detail.get("planChangeDate")),
        cancel_date=_optional_date(detail.get("cancelDate")),
    )


def traffic_info_from(body: Json) -> TrafficInfo:
    traffic = body["traffic"]
    return TrafficInfo(
        account=body["account"],
        today_used_mb=traffic["todayMb"],
        recent_days_used_mb=traffic["recentDaysMb"],
        remaining_quota_mb=body["remainingQuotaMb"],
    )


def _with_date(body: Json, name: str, day: date | None) -> Json:
    return body if day is None else {**body, name: day.strftime("%Y%m%d")}


def _flag(on: bool) -> str:
    return ON if on else OFF


def _optional_date(text: str | None) -> date | None:
    return None if not text else datetime.strptime(text, "%Y%m%d").date()
