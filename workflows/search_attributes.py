"""Search attributes the workflows set; register them on the namespace (see README)."""

from temporalio.common import SearchAttributeKey

ORDER_ID = SearchAttributeKey.for_keyword("OrderId")
ACTIVATION_STATUS = SearchAttributeKey.for_keyword("ActivationStatus")
SIM_ACCOUNT = SearchAttributeKey.for_keyword("SimAccount")
RECORDS_MONTH = SearchAttributeKey.for_keyword("RecordsMonth")
CREDENTIAL_KIND = SearchAttributeKey.for_keyword("CredentialKind")

ALL = [ORDER_ID, ACTIVATION_STATUS, SIM_ACCOUNT, RECORDS_MONTH, CREDENTIAL_KIND]
