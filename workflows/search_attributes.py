"""Search attributes the workflows set; register them on the namespace (see README)."""

from typing import Any

from temporalio.common import SearchAttributeKey

ORDER_ID = SearchAttributeKey.for_keyword("OrderId")
ACTIVATION_STATUS = SearchAttributeKey.for_keyword("ActivationStatus")
SALESFORCE_ACCOUNT_ID = SearchAttributeKey.for_keyword("SalesforceAccountId")
WHMCS_ORDER_ID = SearchAttributeKey.for_keyword("WhmcsOrderId")
FAILED_STEP = SearchAttributeKey.for_keyword("FailedStep")
ERROR_CODE = SearchAttributeKey.for_keyword("ErrorCode")
FAILED_AT = SearchAttributeKey.for_datetime("FailedAt")
SIM_ACCOUNT = SearchAttributeKey.for_keyword("SimAccount")
SIM_QUEUED_OPERATIONS = SearchAttributeKey.for_int("SimQueuedOperations")
RECORDS_MONTH = SearchAttributeKey.for_keyword("RecordsMonth")
CREDENTIAL_KIND = SearchAttributeKey.for_keyword("CredentialKind")

ALL: list[SearchAttributeKey[Any]] = [
    ORDER_ID,
    ACTIVATION_STATUS,
    SALESFORCE_ACCOUNT_ID,
    WHMCS_ORDER_ID,
    FAILED_STEP,
    ERROR_CODE,
    FAILED_AT,
    SIM_ACCOUNT,
    SIM_QUEUED_OPERATIONS,
    RECORDS_MONTH,
    CREDENTIAL_KIND,
]
