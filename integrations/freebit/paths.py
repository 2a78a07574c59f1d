"""The Freebit operations the project uses and where each one is posted.

The operation names label logs and errors (and match the emulator's fault targets); the
paths come from `FreebitSettings` (`FREEBIT_PATH_*`), since Freebit publishes no spec.
"""

from __future__ import annotations

from enum import StrEnum

from integrations.config import FreebitSettings


class FreebitOperation(StrEnum):
    AUTH = "auth"
    ACCOUNT_DETAIL = "getDetail"
    TRAFFIC_INFO = "getTrafficInfo"
    ADD_QUOTA = "addSpec"
    PLAN_CHANGE = "changePlan"
    VOICE_OPTIONS = "talkOption"
    CONTRACT_LINE = "contractLine"
    CANCEL = "cancel"


def operation_url(settings: FreebitSettings, operation: FreebitOperation) -> str:
    paths = {
        FreebitOperation.AUTH: settings.path_auth,
        FreebitOperation.ACCOUNT_DETAIL: settings.path_account_detail,
        FreebitOperation.TRAFFIC_INFO: settings.path_traffic_info,
        FreebitOperation.ADD_QUOTA: settings.path_add_quota,
        FreebitOperation.PLAN_CHANGE: settings.path_plan_change,
        FreebitOperation.VOICE_OPTIONS: settings.path_voice_options,
        FreebitOperation.CONTRACT_LINE: settings.path_contract_line,
        FreebitOperation.CANCEL: settings.path_cancel,
    }
    return f"{settings.base_url.rstrip('/')}/{paths[operation].lstrip('/')}"
