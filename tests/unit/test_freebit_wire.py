"""Freebit's wire format: request bodies, result codes, answers, paths and input checks."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from pydantic import ValidationError

from integrations.config import FreebitSettings, load
from integrations.errors import AuthenticationError
from integrations.freebit import wire
from integrations.freebit.errors import AccountLockedError, AuthKeyRejectedError, FreebitError
from integrations.freebit.models import (
    AccountQuery,
    Cancellation,
    PlanChange,
    QuotaTopUp,
    VoiceOptionChange,
)
from integrations.freebit.paths import FreebitOperation, operation_url

ACCOUNT = "08012345678"


def refusal(result_code: str, status_code: str = "400", message: str = "refused") -> Any:
    return {"resultCode": result_code, "status": {"message": message, "statusCode": status_code}}


def test_form_has_one_field_holding_a_json_object() -> None:
    form = wire.form({"account": ACCOUNT, "talkOption": {"voiceMail": "10"}})

    assert list(form) == ["json"]
    assert json.loads(form["json"]) == {"account": ACCOUNT, "talkOption": {"voiceMail": "10"}}


def test_voice_options_send_only_the_options_given() -> None:
    both = VoiceOptionChange(account=ACCOUNT, voice_mail=False, call_waiting=True)
    one = VoiceOptionChange(account=ACCOUNT, voice_mail=True)

    assert wire.voice_options_body(both)["talkOption"] == {"voiceMail": "20", "callWaiting": "10"}
    assert wire.voice_options_body(one)["talkOption"] == {"voiceMail": "10"}


def test_dates_are_yyyymmdd_and_left_out_when_absent() -> None:
    scheduled = PlanChange(account=ACCOUNT, plan_code="PASI_5GB", run_time=date(2026, 4, 1))

    assert wire.plan_change_body(scheduled)["runTime"] == "20260401"
    assert "runTime" not in wire.plan_change_body(scheduled.model_copy(update={"run_time": None}))
    assert wire.cancel_body(Cancellation(account=ACCOUNT)) == {"kind": "MVNO", "account": ACCOUNT}
    top_up = QuotaTopUp(account=ACCOUNT, quota_mb=100, expire=date(2026, 12, 31))
    assert wire.add_quota_body(top_up, "CODE")["expire"] == "20261231"


def test_account_detail_asks_for_version_2_of_one_mvno_account() -> None:
    assert wire.account_detail_body(AccountQuery(account=ACCOUNT)) == {
        "requestDatas": [{"kind": "MVNO", "account": ACCOUNT}],
        "version": "2",
    }


def test_success_needs_result_code_100() -> None:
    wire.raise_for_result(FreebitOperation.ACCOUNT_DETAIL, {"resultCode": "100"})
    with pytest.raises(FreebitError):
        wire.raise_for_result(FreebitOperation.ACCOUNT_DETAIL, {"authKey": "no result code"})


@pytest.mark.parametrize(
    ("operation", "answer", "error_class", "code"),
    [
        (FreebitOperation.AUTH, refusal("210", "401"), AuthenticationError, "AUTH"),
        (FreebitOperation.ACCOUNT_DETAIL, refusal("211", "401"), AuthKeyRejectedError, "AUTH"),
        (FreebitOperation.CONTRACT_LINE, refusal("240", "409"), AccountLockedError, "LOCKED"),
        (FreebitOperation.PLAN_CHANGE, refusal("221", "400"), FreebitError, "400"),
        (FreebitOperation.CANCEL, {"resultCode": "999"}, FreebitError, "999"),
    ],
)
def test_refusals_map_to_errors(
    operation: FreebitOperation, answer: Any, error_class: type[Exception], code: str
) -> None:
    with pytest.raises(error_class) as raised:
        wire.raise_for_result(operation, answer)

    assert type(raised.value) is error_class
    assert getattr(raised.value, "code", None) == code


def test_locked_is_retryable_and_other_refusals_are_not() -> None:
    with pytest.raises(AccountLockedError) as locked:
        wire.raise_for_result(FreebitOperation.ADD_QUOTA, refusal("240", "409", "locked"))
    with pytest.raises(FreebitError) as refused:
        wire.raise_for_result(FreebitOperation.ADD_QUOTA, refusal("220", "400", "bad quota"))

    assert (locked.value.retryable, locked.value.message) == (True, "locked")
    assert (refused.value.retryable, refused.value.result_code) == (False, "220")


def test_account_detail_answer_with_string_numbers_and_dates() -> None:
    answer = {
        "resultCode": "100",
        "responseDatas": [
            {
                "account": ACCOUNT,
                "state": "active",
                "planCode": "PASI_10GB",
                "contractLine": "4G",
                "talkOption": {"voiceMail": "10", "callWaiting": "20"},
                "remainingQuotaMb": "512",
                "cancelDate": "20260131",
            }
        ],
    }

    detail = wire.account_detail_from(answer)

    assert (detail.voice_mail, detail.call_waiting) == (True, False)
    assert (detail.remaining_quota_mb, detail.cancel_date) == (512, date(2026, 1, 31))
    assert detail.cancellation_requested


@pytest.mark.parametrize(
    "make",
    [
        lambda: AccountQuery(account="8012345678"),
        lambda: AccountQuery(account="080-1234-5678"),
        lambda: QuotaTopUp(account=ACCOUNT, quota_mb=0),
        lambda: QuotaTopUp(account=ACCOUNT, quota_mb=512_001),
        lambda: PlanChange(account=ACCOUNT, plan_code=""),
        lambda: VoiceOptionChange(account=ACCOUNT),
    ],
)
def test_bad_input_is_refused_before_sending(make: Any) -> None:
    with pytest.raises(ValidationError):
        make()


def test_paths_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FREEBIT_BASE_URL", "https://freebit.example/emptool/api/")
    monkeypatch.setenv("FREEBIT_OEM_ID", "PASI")
    monkeypatch.setenv("FREEBIT_OEM_KEY", "key")
    monkeypatch.setenv("FREEBIT_PATH_PLAN_CHANGE", "/mvno/plan/change/")

    settings = load(FreebitSettings)

    assert operation_url(settings, FreebitOperation.PLAN_CHANGE) == (
        "https://freebit.example/emptool/api/mvno/plan/change/"
    )
    assert operation_url(settings, FreebitOperation.AUTH) == (
        "https://freebit.example/emptool/api/authOem/"
    )
