"""The REST data API under `/services/data/vXX.X/`: query, record update, composite update.

Every answer carries `Sforce-Limit-Info`; every call needs a live Bearer session and spends
one request of the org's API allowance. A write can be refused with an injected record error
(RecordErrors): a record update answers it as the REST error array with 400, an sObject
Collections update as that record's result in a 200 ("Update Records Using sObject
Collections": a well-formed request answers 200 with one SaveResult per record, the errors in
its `errors` array; https://developer.salesforce.com/docs/platform/api-rest/guide/resources-composite-sobjects-collections-update.html).
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from emulators.core import EmulatorCore
from emulators.salesforce.api_errors import ApiError, not_found, record_error
from emulators.salesforce.api_usage import ApiUsage
from emulators.salesforce.control_models import RecordErrorInjection
from emulators.salesforce.describe import FieldDefinitions
from emulators.salesforce.fault_responses import RecordErrors, serve_with_faults
from emulators.salesforce.oauth import JwtBearerIssuer
from emulators.salesforce.query import QueryEngine
from emulators.salesforce.records import Record, RecordStore
from emulators.salesforce.schema import SOBJECT_TYPES

API_PREFIX = "/services/data/v{version}"
COMPOSITE_RECORD_LIMIT = 200
_VERSION = re.compile(r"\d{2}\.0")
_ROLLED_BACK = {
    "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "message": "Record rolled back because not all records were valid and the request was"
    " using AllOrNone header",
    "fields": [],
}

Handler = Callable[[Request], Awaitable[Response]]


class RestApi:
    def __init__(
        self,
        core: EmulatorCore,
        issuer: JwtBearerIssuer,
        records: RecordStore,
        queries: QueryEngine,
        usage: ApiUsage,
        record_errors: RecordErrors,
        field_definitions: FieldDefinitions | None = None,
    ) -> None:
        self._core = core
        self._issuer = issuer
        self._records = records
        self._queries = queries
        self._usage = usage
        self._record_errors = record_errors
        self._field_definitions = field_definitions or FieldDefinitions()

    def routes(self) -> list[Route]:
        return [
            Route(f"{API_PREFIX}/query", self._guarded("query", self._query), methods=["GET"]),
            Route(f"{API_PREFIX}/query/", self._guarded("query", self._query), methods=["GET"]),
            Route(
                f"{API_PREFIX}/query/{{locator}}",
                self._guarded("query", self._query_more),
                methods=["GET"],
            ),
            Route(
                f"{API_PREFIX}/sobjects/{{sobject}}/{{record_id}}",
                self._guarded("update", self._update),
                methods=["PATCH"],
            ),
            Route(
                f"{API_PREFIX}/sobjects/{{sobject}}/describe",
                self._guarded("describe", self._describe),
                methods=["GET"],
            ),
            Route(
                f"{API_PREFIX}/composite/sobjects",
                self._guarded("composite", self._composite),
                methods=["PATCH"],
            ),
        ]

    def _guarded(self, operation: str, handler: Handler) -> Handler:
        """Wrap a handler with faults, session check, API allowance and the limit header."""

        async def guarded(request: Request) -> Response:
            async def serve() -> Response:
                try:
                    self._authorize(request)
                    return await handler(request)
                except ApiError as error:
                    return error.response()

            response = await serve_with_faults(self._core, operation, serve)
            response.headers["Sforce-Limit-Info"] = self._usage.header()
            return response

        return guarded

    def _authorize(self, request: Request) -> None:
        if not _VERSION.fullmatch(request.path_params["version"]):
            raise not_found()
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not self._issuer.is_valid_session(token):
            raise ApiError(401, "INVALID_SESSION_ID", "Session expired or invalid")
        if not self._usage.consume():
            raise ApiError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")

    async def _query(self, request: Request) -> Response:
        soql = request.query_params.get("q")
        if not soql:
            raise ApiError(400, "MALFORMED_QUERY", "A query string has to be specified")
        return JSONResponse(self._queries.run(soql, _api_path(request)))

    async def _query_more(self, request: Request) -> Response:
        locator = request.path_params["locator"]
        return JSONResponse(self._queries.more(locator, _api_path(request)))

    async def _describe(self, request: Request) -> Response:
        """ "sObject Describe" (see `emulators.salesforce.describe`)."""
        sobject = SOBJECT_TYPES.get(request.path_params["sobject"])
        if sobject is None:
            raise not_found()
        return JSONResponse(self._field_definitions.describe(sobject))

    async def _update(self, request: Request) -> Response:
        fields = await _json_body(request)
        if not isinstance(fields, dict):
            raise ApiError(400, "JSON_PARSER_ERROR", "The request body must be a JSON object")
        sobject, record_id = request.path_params["sobject"], request.path_params["record_id"]
        values = self._records.check_update(sobject, record_id, fields)
        refusal = self._record_errors.take("update", [record_id])
        if refusal is not None:
            raise _injected(refusal[0], sobject, fields)
        self._records.apply_update(sobject, record_id, values)
        return Response(status_code=204)

    async def _composite(self, request: Request) -> Response:
        body = await _json_body(request)
        records = body.get("records") if isinstance(body, dict) else None
        if not isinstance(records, list):
            raise ApiError(400, "JSON_PARSER_ERROR", "The request body needs a records array")
        if len(records) > COMPOSITE_RECORD_LIMIT:
            raise ApiError(
                400,
                "EXCEEDED_ID_LIMIT",
                f"record limit reached. cannot submit more than {COMPOSITE_RECORD_LIMIT}"
                " records into this call",
            )
        checked = [self._checked_composite_record(record) for record in records]
        self._refuse_injected(records, checked)
        if body.get("allOrNone") and any(isinstance(item, ApiError) for item in checked):
            return JSONResponse([_rolled_back(item) for item in checked])
        return JSONResponse([self._applied(item) for item in checked])

    def _checked_composite_record(self, record: Any) -> tuple[str, str, Record] | ApiError:
        if not isinstance(record, dict):
            return ApiError(400, "JSON_PARSER_ERROR", "Each record must be a JSON object")
        fields = dict(record)
        sobject = (fields.pop("attributes", None) or {}).get("type")
        record_id = fields.pop("id", None) or fields.pop("Id", None)
        if not sobject or not isinstance(record_id, str):
            return ApiError(400, "INVALID_FIELD", "Each record needs attributes.type and id")
        try:
            return sobject, record_id, self._records.check_update(sobject, record_id, fields)
        except ApiError as error:
            return error

    def _refuse_injected(
        self, records: list[Any], checked: list[tuple[str, str, Record] | ApiError]
    ) -> None:
        """Replace the record an injected record error refuses by that error."""
        record_ids = [None if isinstance(item, ApiError) else item[1] for item in checked]
        refusal = self._record_errors.take("composite", record_ids)
        if refusal is None:
            return
        injection, position = refusal
        item = checked[position]
        assert not isinstance(item, ApiError), "take() refuses only well-formed records"
        checked[position] = _injected(injection, item[0], records[position])

    def _applied(self, item: tuple[str, str, Record] | ApiError) -> dict[str, Any]:
        if isinstance(item, ApiError):
            return _failure(item)
        sobject, record_id, values = item
        applied_id = self._records.apply_update(sobject, record_id, values)
        return {"id": applied_id, "success": True, "errors": []}


def _injected(injection: RecordErrorInjection, sobject: str, written: Any) -> ApiError:
    fields = written if isinstance(written, dict) else {}
    return record_error(
        injection.error_code, sobject, fields, field=injection.field, message=injection.message
    )


def _rolled_back(item: tuple[str, str, Record] | ApiError) -> dict[str, Any]:
    if isinstance(item, ApiError):
        return _failure(item)
    return {"success": False, "errors": [_ROLLED_BACK]}


def _failure(error: ApiError) -> dict[str, Any]:
    fields = error.fields or []
    detail = {"statusCode": error.error_code, "message": error.message, "fields": fields}
    return {"success": False, "errors": [detail]}


def _api_path(request: Request) -> str:
    return API_PREFIX.format(version=request.path_params["version"])


async def _json_body(request: Request) -> Any:
    try:
        return json.loads(await request.body())
    except ValueError as error:
        raise ApiError(400, "JSON_PARSER_ERROR", f"Unexpected JSON: {error}") from None
