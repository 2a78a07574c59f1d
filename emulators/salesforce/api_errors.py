"""The REST API's error answer: a JSON array of `{"message", "errorCode", "fields"?}`
("Status Codes and Error Responses", REST API Developer Guide,
https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/errorcodes.htm), and
the record errors (StatusCode values, "Core Data Types Used in API Calls", SOAP API Developer
Guide, https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_calls_concepts_core_data_objects.htm)
a write can be refused with."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from starlette.responses import JSONResponse

from emulators.salesforce.control_models import RecordErrorCode


class ApiError(Exception):
    """`fields` None leaves the key out (as on INVALID_SESSION_ID); a record error always has
    it, empty when no field is to blame."""

    def __init__(
        self, status: int, error_code: str, message: str, fields: Sequence[str] | None = None
    ) -> None:
        super().__init__(f"{error_code}: {message}")
        self.status = status
        self.error_code = error_code
        self.message = message
        self.fields = None if fields is None else list(fields)

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"message": self.message, "errorCode": self.error_code}
        if self.fields is not None:
            body["fields"] = self.fields
        return body

    def response(self) -> JSONResponse:
        return JSONResponse([self.body()], status_code=self.status)


def not_found() -> ApiError:
    return ApiError(404, "NOT_FOUND", "The requested resource does not exist")


def record_error(
    error_code: RecordErrorCode,
    sobject: str,
    written: Mapping[str, Any],
    *,
    field: str | None = None,
    message: str | None = None,
) -> ApiError:
    """A DML refusal of a write of `written` (API field name -> value) to a `sobject` record,
    with Salesforce's message for the code (HTTP 400 when answered on its own)."""
    code = error_code.value
    match error_code:
        case RecordErrorCode.UNABLE_TO_LOCK_ROW:
            # As the REST API answers it ("unable to obtain exclusive access to this record",
            # fields []: developerforce/Force.com-JavaScript-REST-Toolkit issue #68).
            return ApiError(400, code, "unable to obtain exclusive access to this record", [])
        case RecordErrorCode.ENTITY_IS_LOCKED:
            # Adobe Marketo's "Salesforce Diagnostics" error cheat sheet quotes the message.
            return ApiError(400, code, "the entity is locked for editing", [])
        case RecordErrorCode.FIELD_CUSTOM_VALIDATION_EXCEPTION:
            # The message is the one the org's admin wrote on the validation rule; `fields`
            # names the field the rule shows its error at, none when shown at the top.
            rule_message = message or f"{sobject} can't be saved: a validation rule refused it"
            return ApiError(400, code, rule_message, [field] if field else [])
        case RecordErrorCode.STRING_TOO_LONG:
            name = field or _first(written, lambda value: isinstance(value, str))
            value = str(written.get(name) or "x")
            text = f"{_label(name)}: data value too large: {value} (max length={len(value) - 1})"
            return ApiError(400, code, text, [name])
        case RecordErrorCode.INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST:
            name = field or _first(written, lambda value: isinstance(value, str))
            text = f"{_label(name)}: bad value for restricted picklist field: {written.get(name)}"
            return ApiError(400, code, text, [name])
        case RecordErrorCode.REQUIRED_FIELD_MISSING:
            name = field or _first(written, lambda value: value is None)
            return ApiError(400, code, f"Required fields are missing: [{name}]", [name])


def _first(written: Mapping[str, Any], wanted: Any) -> str:
    """The first written field whose value is `wanted`, else the first written field."""
    names = [name for name in written if name not in ("attributes", "id", "Id")]
    return next((name for name in names if wanted(written[name])), names[0] if names else "Id")


def _label(api_name: str) -> str:
    """The field label Salesforce puts in messages, from the API name of a custom field."""
    return api_name.removesuffix("__c").replace("_", " ")
