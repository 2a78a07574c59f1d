"""The account operations, read from Freebit's `json` bodies and answered in its shapes.

Flags are "10" (on) / "20" (off), dates YYYYMMDD (Japanese calendar), numbers go out as
strings. Parameters are checked before the account is looked at.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from emulators.freebit.accounts import SimAccounts, is_cancelled_by
from emulators.freebit.clock import japan_date
from emulators.freebit.records import SimAccountRecord
from emulators.freebit.refusals import invalid_request, unknown_plan_code

Json = dict[str, Any]
Handler = Callable[[SimAccounts, Json, datetime], Json]

ON, OFF = "10", "20"
MAX_QUOTA_MB = 512_000
_FLAGS = {ON: True, OFF: False}
_TALK_OPTIONS = {"voiceMail": "voice_mail", "callWaiting": "call_waiting"}


def account_detail(accounts: SimAccounts, body: Json, now: datetime) -> Json:
    if body.get("version") != "2":
        raise invalid_request('version must be "2"')
    request_datas = body.get("requestDatas")
    if not isinstance(request_datas, list) or len(request_datas) != 1:
        raise invalid_request("requestDatas must hold one entry")
    [request] = request_datas
    if not isinstance(request, dict):
        raise invalid_request("requestDatas entry must be an object")
    _require_mvno(request)
    record = accounts.read(_account(request), now)
    return {"responseDatas": [_detail_json(record, japan_date(now))]}


def traffic_info(accounts: SimAccounts, body: Json, now: datetime) -> Json:
    record = accounts.read(_account(body), now)
    return {
        "account": record.account,
        "traffic": {
            "todayMb": str(record.today_used_mb),
            "recentDaysMb": str(record.recent_days_used_mb),
        },
        "remainingQuotaMb": str(record.remaining_quota_mb),
    }


def add_quota(accounts: SimAccounts, body: Json, now: datetime) -> Json:
    _require_mvno(body)
    quota_mb = _quota(body.get("quota"))
    if not _text(body.get("quotaCode")):
        raise invalid_request("quotaCode is required")
    _optional_date(body, "expire", not_before=japan_date(now))

    def top_up(record: SimAccountRecord) -> None:
        record.remaining_quota_mb += quota_mb

    accounts.write(_account(body), "addSpec", _logged(body), now, top_up)
    return {}


def change_plan(accounts: SimAccounts, body: Json, now: datetime) -> Json:
    plan_code = _text(body.get("planCode"))
    if not accounts.is_known_plan_code(plan_code):
        raise unknown_plan_code(plan_code)
    if body.get("globalIp", OFF) not in _FLAGS:
        raise invalid_request('globalIp must be "10" or "20"')
    today = japan_date(now)
    run_on = _optional_date(body, "runTime", not_before=today)

    def switch_plan(record: SimAccountRecord) -> None:
        if run_on is None or run_on <= today:
            record.plan_code = plan_code
        else:
            record.scheduled_plan_code, record.plan_change_on = plan_code, run_on

    accounts.write(_account(body), "changePlan", _logged(body), now, switch_plan)
    return {}


def change_voice_options(accounts: SimAccounts, body: Json, now: datetime) -> Json:
    talk_option = body.get("talkOption")
    if not isinstance(talk_option, dict) or not talk_option:
        raise invalid_request("talkOption must name at least one option")
    changes = {_talk_option_field(name): _flag(name, value) for name, value in talk_option.items()}

    def apply_options(record: SimAccountRecord) -> None:
        for field, enabled in changes.items():
            setattr(record, field, enabled)

    accounts.write(_account(body), "talkOption", _logged(body), now, apply_options)
    return {}


def change_contract_line(accounts: SimAccounts, body: Json, now: datetime) -> Json:
    contract_line = body.get("contractLine")
    if contract_line not in ("4G", "5G"):
        raise invalid_request('contractLine must be "4G" or "5G"')

    def switch_line(record: SimAccountRecord) -> None:
        record.contract_line = contract_line

    accounts.write(
        _account(body), "contractLine", _logged(body), now, switch_line, locks_account=True
    )
    return {}


def cancel_account(accounts: SimAccounts, body: Json, now: datetime) -> Json:
    _require_mvno(body)
    today = japan_date(now)
    run_on = _optional_date(body, "runDate", not_before=today) or today

    def schedule_cancellation(record: SimAccountRecord) -> None:
        record.cancel_on = run_on

    accounts.write(_account(body), "cancel", _logged(body), now, schedule_cancellation)
    return {}


ACCOUNT_OPERATIONS: dict[str, Handler] = {
    "getDetail": account_detail,
    "getTrafficInfo": traffic_info,
    "addSpec": add_quota,
    "changePlan": change_plan,
    "talkOption": change_voice_options,
    "contractLine": change_contract_line,
    "cancel": cancel_account,
}


def _detail_json(record: SimAccountRecord, today: date) -> Json:
    detail: Json = {
        "kind": "MVNO",
        "account": record.account,
        "state": "canceled" if is_cancelled_by(record, today) else "active",
        "planCode": record.plan_code,
        "contractLine": record.contract_line,
        "talkOption": {
            "voiceMail": ON if record.voice_mail else OFF,
            "callWaiting": ON if record.call_waiting else OFF,
        },
        "remainingQuotaMb": str(record.remaining_quota_mb),
    }
    if record.plan_change_on is not None:
        detail["nextPlanCode"] = record.scheduled_plan_code
        detail["planChangeDate"] = _yyyymmdd(record.plan_change_on)
    if record.cancel_on is not None:
        detail["cancelDate"] = _yyyymmdd(record.cancel_on)
    return detail


def _logged(body: Json) -> Json:
    return {name: value for name, value in body.items() if name != "authKey"}


def _require_mvno(body: Json) -> None:
    if body.get("kind") != "MVNO":
        raise invalid_request('kind must be "MVNO"')


def _account(body: Json) -> str:
    account = _text(body.get("account"))
    if not account.isdigit():
        raise invalid_request("account is required")
    return account


def _quota(value: object) -> int:
    text = str(value) if isinstance(value, int | str) and not isinstance(value, bool) else ""
    if not text.isdigit() or not 1 <= int(text) <= MAX_QUOTA_MB:
        raise invalid_request(f"quota must be 1-{MAX_QUOTA_MB} (MB)")
    return int(text)


def _talk_option_field(name: str) -> str:
    if name not in _TALK_OPTIONS:
        raise invalid_request(f"unknown talkOption {name}")
    return _TALK_OPTIONS[name]


def _flag(name: str, value: object) -> bool:
    if not isinstance(value, str) or value not in _FLAGS:
        raise invalid_request(f'{name} must be "10" or "20"')
    return _FLAGS[value]


def _optional_date(body: Json, name: str, *, not_before: date) -> date | None:
    if name not in body:
        return None
    value = body[name]
    try:
        day = datetime.strptime(value, "%Y%m%d").date() if isinstance(value, str) else None
    except ValueError:
        day = None
    if day is None or len(value) != 8:
        raise invalid_request(f"{name} must be a date YYYYMMDD")
    if day < not_before:
        raise invalid_request(f"{name} must not be in the past")
    return day


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _yyyymmdd(day: date) -> str:
    return day.strftime("%Y%m%d")
