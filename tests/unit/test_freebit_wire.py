"""Freebit's wire format: request bodies, result codes, answers, paths and input checks."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from contracts.sim import (
    Cancellation,
    NetworkTypeChange,
    PlanChange,
    QuotaTopUp,
    VoiceOptionsChange,
)
from integrations.config import ConfigurationError, FreebitSettings, load
from integrations.errors import AuthenticationError
from integrations.freebit import wire
from integrations.freebit.errors import AccountLockedError, AuthKeyRejectedError, FreebitError
from integrations.freebit.models import (
    MAX_QUOTA_MB,
    check_account,
    check_top_up,
    check_voice_options,
)
from integrations.freebit.paths import FreebitOperation, operation_url

ACCOUNT = "08012345678"
FULL_WIDTH_ACCOUNT = "".join(chr(0xFF10 + int(digit)) for digit in ACCOUNT)
REQUIRED_SETTINGS = {
    "FREEBIT_BASE_URL": "https://freebit.example/emptool/api/",
    "FREEBIT_OEM_ID": "PASI",
    "FREEBIT_OEM_KEY": "key",
}
DEFAULT_CODES = wire.ResultCodes.of(
    FreebitSettings(base_url="https://freebit.example/", oem_id="PASI", oem_key=SecretStr("key"))
)


def refusal(result_code: str, status_code: str = "400", message: str = "refused") -> Any:
    return {"resultCode": result_code, "status": {"message": message, "statusCode": status_code}}


def test_form_has_one_field_holding_a_json_object() -> None:
    form = wire.form({"account": ACCOUNT, "talkOption": {"voiceMail": "10"}})

    assert list(form) == ["json"]
    assert json.loads(form["json"]) == {"account": ACCOUNT, "talkOption": {"voiceMail": "10"}}


def test_voice_options_send_only_the_options_given() -> None:
    both = VoiceOptionsChange(voice_mail=False, call_waiting=True)
    one = VoiceOptionsChange(voice_mail=True)

    assert wire.voice_options_body(ACCOUNT, both) == {
        "account": ACCOUNT,
        "talkOption": {"voiceMail": "20", "callWaiting": "10"},
    }
    assert wire.voice_options_body(ACCOUNT, one)["talkOption"] == {"voiceMail": "10"}


def test_dates_are_yyyymmdd_and_left_out_when_absent() -> None:
    scheduled = PlanChange(plan_code="PASI_5GB", run_time=date(2026, 4, 1))
    now = scheduled.model_copy(update={"run_time": None})

    assert wire.plan_change_body(ACCOUNT, scheduled)["runTime"] == "20260401"
    assert wire.plan_change_body(ACCOUNT, now) == {
        "account": ACCOUNT,
        "planCode": "PASI_5GB",
        "globalIp": "20",
    }
    assert wire.cancel_body(ACCOUNT, Cancellation()) == {"kind": "MVNO", "account": ACCOUNT}
    top_up = QuotaTopUp(quota_mb=100, expire=date(2026, 12, 31))
    assert wire.add_quota_body(ACCOUNT, top_up, "CODE") == {
        "kind": "MVNO",
        "account": ACCOUNT,
        "quota": 100,
        "quotaCode": "CODE",
        "expire": "20261231",
    }


def test_network_type_body_names_the_contract_line() -> None:
    change = NetworkTypeChange(contract_line="5G")

    assert wire.contract_line_body(ACCOUNT, change) == {"account": ACCOUNT, "contractLine": "5G"}


def test_account_detail_asks_for_version_2_of_one_mvno_account() -> None:
    assert wire.account_detail_body(ACCOUNT) == {
        "requestDatas": [{"kind": "MVNO", "account": ACCOUNT}],
        "version": "2",
    }


def test_success_needs_result_code_100() -> None:
    wire.raise_for_result(FreebitOperation.ACCOUNT_DETAIL, {"resultCode": "100"}, DEFAULT_CODES)
    with pytest.raises(FreebitError):
        wire.raise_for_result(
            FreebitOperation.ACCOUNT_DETAIL, {"authKey": "no result code"}, DEFAULT_CODES
        )


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
        wire.raise_for_result(operation, answer, DEFAULT_CODES)

    assert type(raised.value) is error_class
    assert getattr(raised.value, "code", None) == code


def test_locked_is_retryable_and_other_refusals_are_not() -> None:
    with pytest.raises(AccountLockedError) as locked:
        wire.raise_for_result(
            FreebitOperation.ADD_QUOTA, refusal("240", "409", "locked"), DEFAULT_CODES
        )
    with pytest.raises(FreebitError) as refused:
        wire.raise_for_result(
            FreebitOperation.ADD_QUOTA, refusal("220", "400", "bad quota"), DEFAULT_CODES
        )

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
    ("check", "refusal"),
    [
        (lambda: check_account("8012345678"), "not 10 or 11 digits"),
        (lambda: check_account("080-1234-5678"), "not 10 or 11 digits"),
        (lambda: check_account("080123456789"), "not 10 or 11 digits"),
        (lambda: check_account(FULL_WIDTH_ACCOUNT), "not 10 or 11 digits"),
        (lambda: check_top_up(QuotaTopUp(quota_mb=MAX_QUOTA_MB + 1)), "outside 1-512000 MB"),
        (lambda: check_voice_options(VoiceOptionsChange()), "voice_mail or call_waiting"),
    ],
)
def test_the_client_checks_refuse_what_freebit_would(check: Any, refusal: str) -> None:
    with pytest.raises(ValueError, match=refusal):
        check()


def test_the_client_checks_let_freebits_limits_through() -> None:
    check_account(ACCOUNT)
    check_account("0312345678")
    check_top_up(QuotaTopUp(quota_mb=MAX_QUOTA_MB))
    check_voice_options(VoiceOptionsChange(call_waiting=False))


@pytest.mark.parametrize(
    "make",
    [
        lambda: QuotaTopUp(quota_mb=0),
        lambda: PlanChange(plan_code=""),
        lambda: NetworkTypeChange(contract_line="3G"),
    ],
)
def test_operations_that_cannot_be_sent_cannot_be_made(make: Any) -> None:
    with pytest.raises(ValidationError):
        make()


def test_paths_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in REQUIRED_SETTINGS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("FREEBIT_PATH_PLAN_CHANGE", "/mvno/plan/change/")

    settings = load(FreebitSettings)

    assert operation_url(settings, FreebitOperation.PLAN_CHANGE) == (
        "https://freebit.example/emptool/api/mvno/plan/change/"
    )
    assert operation_url(settings, FreebitOperation.AUTH) == (
        "https://freebit.example/emptool/api/authOem/"
    )


# The assumptions about Freebit's behaviour: settings with documented defaults


def test_the_assumptions_default_to_the_safe_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in REQUIRED_SETTINGS.items():
        monkeypatch.setenv(name, value)

    settings = load(FreebitSettings)

    assert settings.auth_key_rejected_codes == ["211"]
    assert settings.account_locked_codes == ["240"]
    assert settings.token_ttl == timedelta(minutes=50)
    assert settings.login_invalidates_older_keys is True
    assert settings.probe_account is None


def test_the_assumptions_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in REQUIRED_SETTINGS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("FREEBIT_AUTH_KEY_REJECTED_CODES", "211, 212")
    monkeypatch.setenv("FREEBIT_ACCOUNT_LOCKED_CODES", "240,241")
    monkeypatch.setenv("FREEBIT_TOKEN_TTL", "20m")
    monkeypatch.setenv("FREEBIT_LOGIN_INVALIDATES_OLDER_KEYS", "false")
    monkeypatch.setenv("FREEBIT_PROBE_ACCOUNT", ACCOUNT)

    settings = load(FreebitSettings)

    assert settings.auth_key_rejected_codes == ["211", "212"]
    assert settings.account_locked_codes == ["240", "241"]
    assert settings.token_ttl == timedelta(minutes=20)
    assert settings.login_invalidates_older_keys is False
    assert settings.probe_account == ACCOUNT


@pytest.mark.parametrize(
    ("name", "value", "error"),
    [
        ("FREEBIT_AUTH_KEY_REJECTED_CODES", "100", "FREEBIT_AUTH_KEY_REJECTED_CODES: 100 is"),
        ("FREEBIT_ACCOUNT_LOCKED_CODES", " , ", "FREEBIT_ACCOUNT_LOCKED_CODES: List should"),
        ("FREEBIT_ACCOUNT_LOCKED_CODES", "240,211", "resultCode(s) 211 in both"),
        ("FREEBIT_TOKEN_TTL", "0s", "FREEBIT_TOKEN_TTL: Input should be greater"),
        ("FREEBIT_PROBE_ACCOUNT", "080-1234-5678", "FREEBIT_PROBE_ACCOUNT: String should"),
    ],
)
def test_a_malformed_assumption_names_its_setting(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, error: str
) -> None:
    for required, required_value in REQUIRED_SETTINGS.items():
        monkeypatch.setenv(required, required_value)
    monkeypatch.setenv(name, value)

    with pytest.raises(ConfigurationError) as raised:
        load(FreebitSettings)

    assert error in str(raised.value)


def test_configured_result_codes_replace_the_defaults() -> None:
    codes = wire.ResultCodes(
        auth_key_rejected=frozenset({"301", "302"}), account_locked=frozenset({"530"})
    )

    with pytest.raises(AuthKeyRejectedError) as expired:
        wire.raise_for_result(FreebitOperation.ACCOUNT_DETAIL, refusal("302", "401"), codes)
    with pytest.raises(AccountLockedError) as locked:
        wire.raise_for_result(FreebitOperation.PLAN_CHANGE, refusal("530", "409"), codes)
    with pytest.raises(FreebitError) as no_longer_special:
        wire.raise_for_result(FreebitOperation.PLAN_CHANGE, refusal("211", "401"), codes)

    assert (expired.value.code, expired.value.result_code) == ("AUTH", "302")
    assert (locked.value.code, locked.value.result_code, locked.value.retryable) == (
        "LOCKED",
        "530",
        True,
    )
    assert (no_longer_special.value.result_code, no_longer_special.value.retryable) == (
        "211",
        False,
    )
