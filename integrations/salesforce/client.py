"""The Salesforce REST client the activities use: read an Order with its items, write back.

Synchronous (activities run in a thread pool) and safe to share between threads. Every
failure surfaces as an `IntegrationError` whose code an operator sees on the Order: for a
refusal by Salesforce, its own error code (`errorCode` of a REST error, `statusCode` of a
record's error in an sObject Collections answer), e.g. `FIELD_CUSTOM_VALIDATION_EXCEPTION`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple, TypeVar
from urllib.parse import quote

import requests
import structlog
from requests.adapters import HTTPAdapter
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import SalesforceError, SalesforceExpiredSession

from contracts.provisioning import Order
from integrations.config import SalesforceSettings
from integrations.errors import AuthenticationError, BusinessError, IntegrationError, TransientError
from integrations.rate_limited_http import RateLimitedAdapter
from integrations.salesforce.auth import PrivateKeySource, SalesforceAuth, SalesforceToken
from integrations.salesforce.models import RecordUpdate
from integrations.vendor_rate_limit import VendorRateLimit

log = structlog.get_logger(__name__)

ORDER_WITH_ITEMS_QUERY = (
    "SELECT Id, OrderNumber, AccountId, Activation_Status__c, Activation_Error_Code__c, "
    "Activation_Error_Message__c, WHMCS_Order_ID__c, "
    "(SELECT Id, Quantity, Product2Id, Product2.Name, Product2.WH_Product_ID__c, "
    "Product2.Billing_Cycle__c, WHMCS_Service_ID__c FROM OrderItems) "
    "FROM Order WHERE Id = {order_id}"
)
KEPT_CONNECTIONS = 32
"""Open connections kept for reuse: one per worker thread that may call Salesforce at once
(requests keeps 10 by default, and closes the others after each call: a TLS handshake each)."""
_ROLLED_BACK = "ALL_OR_NONE_OPERATION_ROLLED_BACK"
TRANSIENT_ERROR_CODES = frozenset({"UNABLE_TO_LOCK_ROW"})
"""Record errors worth retrying within the activity retry policy (seconds apart).

UNABLE_TO_LOCK_ROW: another transaction holds the record's lock. An update waits at most 10 s
for it, then fails, and the lock is released when that transaction completes ("Locking
Statements", Apex Developer Guide,
https://developer.salesforce.com/docs/atlas.en-us.apexcode.meta/apexcode/langCon_apex_locking_statements.htm;
"Record Locking Cheat Sheet",
https://resources.docs.salesforce.com/rel1/doc/en-us/static/pdf/SF_Record-Locking-Cheatsheet_web.pdf),
so the same write succeeds seconds later. Salesforce's advice for the REST API, which cannot
lock first, is to catch it and retry the request (developerforce/Force.com-JavaScript-REST-
Toolkit issue #68). The code is a StatusCode of "Core Data Types Used in API Calls", SOAP API
Developer Guide.

Not ENTITY_IS_LOCKED: an approval-process lock. "When a record is in the approval process,
it's always locked, and only an administrator can edit it" (ProcessDefinition.LockType,
Object Reference, https://developer.salesforce.com/docs/platform/object-reference/references/standard-objects/object-processdefinition.html),
and it is released only when a person approves, rejects or recalls it or an admin unlocks it
(Approval Class, Apex Reference,
https://developer.salesforce.com/docs/platform/apex-ref/references/apex-ref/apex-methods-system-approval.html);
an approval process can even keep the record locked after final approval
(ApprovalProcess.finalApprovalRecordLock, Metadata API). Retrying for seconds cannot outlast
that: the step fails with code ENTITY_IS_LOCKED and the order waits, visible, for the manual
retry (PROVISION_MANUAL_RETRY_WAIT, 30 days) that resumes at this write once the record is
unlocked.
"""

T = TypeVar("T")
FieldValue = str | int | float | bool | None


class ApiUsage(NamedTuple):
    """The org's API requests used today and its daily limit."""

    used: int
    limit: int


class _SalesforceSession(requests.Session):
    """Gives every request a timeout (simple-salesforce has no such option) and the CA bundle,
    and keeps a connection for each thread that may call at once.

    The CA bundle goes on each request because requests lets `REQUESTS_CA_BUNDLE` override a
    session-level `verify`.
    """

    def __init__(
        self, timeout_seconds: float, ca_bundle: Path | None, adapter: HTTPAdapter
    ) -> None:
        super().__init__()
        self._timeout_seconds = timeout_seconds
        self._ca_bundle = ca_bundle
        for prefix in ("https://", "http://"):
            self.mount(prefix, adapter)

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self._timeout_seconds)
        if self._ca_bundle is not None:
            kwargs.setdefault("verify", str(self._ca_bundle))
        return super().request(*args, **kwargs)


class SalesforceClient:
    def __init__(
        self,
        settings: SalesforceSettings,
        *,
        private_key: PrivateKeySource | None = None,
        rate_limit: VendorRateLimit | None = None,
    ) -> None:
        """`rate_limit`: SF_RATE_LIMIT_PER_SECOND, which every REST request takes a turn under.
        Not the JWT bearer logins (`SalesforceAuth`, its own HTTP client): they are no API
        requests (the API usage Salesforce reports counts "all calls, except for login()",
        LimitInfoHeader, SOAP API Developer Guide), happen once per access token, and a
        login held back behind REST calls would hold up every thread waiting for the token."""
        self._settings = settings
        self._auth = SalesforceAuth(settings, private_key=private_key)
        adapter = (
            HTTPAdapter(pool_maxsize=KEPT_CONNECTIONS)
            if rate_limit is None
            else RateLimitedAdapter(rate_limit, pool_maxsize=KEPT_CONNECTIONS)
        )
        self._http = _SalesforceSession(settings.timeout / 1000, settings.ca_bundle, adapter)
        self._lock = threading.Lock()
        self._connection: Salesforce | None = None
        self._api_usage: ApiUsage | None = None

    @property
    def api_usage(self) -> ApiUsage | None:
        """From the latest `Sforce-Limit-Info` header; None before the first call."""
        return self._api_usage

    def get_order(self, order_id: str) -> Order:
        """The Order with its items and their Product2 fields, in one query."""
        records = self.query(ORDER_WITH_ITEMS_QUERY.format(order_id=_soql_string(order_id)))
        if not records:
            raise BusinessError("404", f"Order {order_id} not found")
        return Order.model_validate(records[0])

    def query(self, soql: str) -> list[dict[str, Any]]:
        """All records of a SOQL query, following `nextRecordsUrl`."""
        result = self._call("query", lambda connection: connection.query_all(soql))
        records: list[dict[str, Any]] = result["records"]
        return records

    def describe(self, sobject: str) -> dict[str, Any]:
        """The object's metadata, its `fields` included ("sObject Describe", REST API)."""
        path = f"sobjects/{quote(sobject, safe='')}/describe"
        answer = self._call("describe", lambda connection: connection.restful(path, method="GET"))
        return answer if isinstance(answer, dict) else {}

    def update_record(self, sobject: str, record_id: str, fields: Mapping[str, FieldValue]) -> None:
        path = f"sobjects/{quote(sobject, safe='')}/{quote(record_id, safe='')}"
        self._call(
            "update", lambda connection: connection.restful(path, method="PATCH", json=fields)
        )

    def update_records(self, updates: list[RecordUpdate]) -> None:
        """Update several records in one request; all of them or, on any error, none."""
        if not updates:
            return
        body = {
            "allOrNone": True,
            "records": [
                {"attributes": {"type": update.sobject}, "id": update.id, **update.fields}
                for update in updates
            ],
        }
        answer = self._call(
            "composite",
            lambda connection: connection.restful("composite/sobjects", method="PATCH", json=body),
        )
        results: list[dict[str, Any]] = answer or []
        failed = [
            (update, result["errors"])
            for update, result in zip(updates, results, strict=True)
            if not result["success"] and not _only_rolled_back(result["errors"])
        ]
        if failed:
            message = "; ".join(
                f"{update.sobject} {update.id}: {_error_text(errors)}" for update, errors in failed
            )
            codes = [code for _, errors in failed for code in _error_codes(errors)]
            raise _refusal(codes, message, fallback_code="400")

    def close(self) -> None:
        self._http.close()
        self._auth.close()

    def _call(self, operation: str, action: Callable[[Salesforce], T]) -> T:
        """Run `action` on a logged-in connection; after a 401, log in again and retry once."""
        for _ in range(2):
            token = self._auth.token()
            connection = self._connection_for(token)
            try:
                with _integration_errors(operation, self._settings.timeout):
                    result = action(connection)
            except SalesforceExpiredSession:
                log.info("salesforce session invalid, logging in again", operation=operation)
                self._auth.invalidate(token)
                continue
            except IntegrationError as error:
                log.warning(
                    "salesforce call failed",
                    operation=operation,
                    code=error.code,
                    reason=error.message,
                )
                raise
            self._remember_usage(connection)
            return result
        raise AuthenticationError("401", "Salesforce rejected a fresh session")

    def _connection_for(self, token: SalesforceToken) -> Salesforce:
        with self._lock:
            if self._connection is None or self._connection.session_id != token.access_token:
                self._connection = Salesforce(
                    instance_url=token.instance_url,
                    session_id=token.access_token,
                    version=self._settings.api_version,
                    session=self._http,
                    object_pairs_hook=dict,
                )
            return self._connection

    def _remember_usage(self, connection: Salesforce) -> None:
        usage = connection.api_usage.get("api-usage")
        if usage is not None:
            self._api_usage = ApiUsage(used=usage.used, limit=usage.total)


@contextmanager
def _integration_errors(operation: str, timeout_ms: int) -> Iterator[None]:
    """Translate simple-salesforce and requests errors; a 401 passes through for re-login."""
    try:
        yield
    except SalesforceExpiredSession:
        raise
    except SalesforceError as error:
        raise _api_error(error.status, error.content) from None
    except requests.Timeout:
        message = f"Salesforce {operation} took longer than {timeout_ms} ms"
        raise TransientError("ETIMEOUT", message) from None
    except requests.RequestException as error:
        raise TransientError("ECONNECTION", f"Salesforce {operation} failed: {error}") from None


def _api_error(status: int, content: Any) -> IntegrationError:
    message = _error_text(content)
    if status == 429 or "REQUEST_LIMIT_EXCEEDED" in message:
        return TransientError("429", message)
    if status >= 500:
        return TransientError(str(status), message)
    return _refusal(_error_codes(content), message, fallback_code=str(status))


def _refusal(codes: list[str], message: str, *, fallback_code: str) -> IntegrationError:
    """Salesforce refused the request: transient when every error is (TRANSIENT_ERROR_CODES),
    else a business error; its code is Salesforce's (the first one that is not transient)."""
    if codes and all(code in TRANSIENT_ERROR_CODES for code in codes):
        return TransientError(codes[0], message)
    lasting = [code for code in codes if code not in TRANSIENT_ERROR_CODES]
    return BusinessError(lasting[0] if lasting else fallback_code, message)


def _error_codes(errors: Any) -> list[str]:
    """`errorCode` of each REST error, `statusCode` of each sObject Collections record error."""
    if not isinstance(errors, list):
        return []
    codes = (
        error.get("errorCode") or error.get("statusCode")
        for error in errors
        if isinstance(error, dict)
    )
    return [code for code in codes if isinstance(code, str) and code]


def _error_text(errors: Any) -> str:
    """ "CODE: message" of a REST error array (`errorCode`) or composite errors (`statusCode`)."""
    if not isinstance(errors, list) or not errors or not isinstance(errors[0], dict):
        return str(errors)[:500]
    return "; ".join(
        f"{error.get('errorCode') or error.get('statusCode')}: {error.get('message')}"
        for error in errors
    )


def _only_rolled_back(errors: list[dict[str, Any]]) -> bool:
    return all(error.get("statusCode") == _ROLLED_BACK for error in errors)


def _soql_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"
