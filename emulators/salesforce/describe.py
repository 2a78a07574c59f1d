"""The sObject Describe answer (GET /services/data/vXX.X/sobjects/{sObject}/describe), built
from the emulator's schema.

Shaped like Salesforce's ("sObject Describe", REST API Developer Guide,
https://developer.salesforce.com/docs/platform/api-rest/guide/dome-sobject-describe; the
fields are a DescribeSObjectResult's, SOAP API Developer Guide): the object's `name`,
`keyPrefix`, `updateable`, and `fields[]` with `name`, `type`, `length` (0 for non-text
types), `updateable`, `createable`, `nillable`, `custom`. Only the subset this project reads.
The field types and lengths are the org setup the runbooks ask for (`Activation_Error_Code__c`
Text(80), "Salesforce error codes" in docs/runbook-provisioning.md).
"""

from __future__ import annotations

import threading
from typing import Any

from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from emulators.core import CONTROL_PREFIX
from emulators.salesforce.schema import SObjectType

_TEXT_LENGTHS: dict[str, int] = {
    "Name": 255,
    "ProductCode": 255,
    "Status": 40,
    "Billing_Cycle__c": 40,
    "Activation_Status__c": 255,
    "Activation_Error_Code__c": 80,
    "Activation_Error_Message__c": 255,
    "WHMCS_Order_ID__c": 40,
    "WHMCS_Service_ID__c": 255,
    "OrderNumber": 30,
    "OrderItemNumber": 30,
}
_TYPES: dict[str, str] = {
    "Id": "id",
    "CreatedDate": "datetime",
    "LastModifiedDate": "datetime",
    "EffectiveDate": "date",
    "IsActive": "boolean",
    "Status": "picklist",
    "Activation_Status__c": "picklist",
    "Billing_Cycle__c": "picklist",
    "UnitPrice": "currency",
    "Activation_Error_Message__c": "textarea",
}


class FieldChange(BaseModel):
    """How this org's field differs from the schema (a test's broken org setup)."""

    sobject: str
    field: str
    exists: bool = Field(default=True, description="False: the field is not in this org")
    updateable: bool | None = Field(default=None, description="e.g. False: read-only FLS")
    length: int | None = Field(default=None, ge=0)


class FieldDefinitions:
    """The changes to the schema's fields describe answers with; none after a reset."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._changes: dict[tuple[str, str], FieldChange] = {}

    def change(self, change: FieldChange) -> None:
        with self._lock:
            self._changes[(change.sobject, change.field)] = change

    def clear(self) -> None:
        with self._lock:
            self._changes.clear()

    def describe(self, sobject: SObjectType) -> dict[str, Any]:
        with self._lock:
            changes = {
                field: change
                for (name, field), change in self._changes.items()
                if name == sobject.name
            }
        fields = []
        for name in sorted(sobject.fields):
            described = _field(sobject, name)
            change = changes.get(name)
            if change is not None:
                if not change.exists:
                    continue
                if change.updateable is not None:
                    described["updateable"] = change.updateable
                if change.length is not None:
                    described["length"] = change.length
            fields.append(described)
        return {
            "name": sobject.name,
            "keyPrefix": sobject.key_prefix,
            "custom": False,
            "updateable": True,
            "fields": fields,
        }

    def control_routes(self) -> list[Route]:
        async def change_field(request: Request) -> Response:
            self.change(FieldChange.model_validate(await request.json()))
            return Response(status_code=204)

        return [Route(f"{CONTROL_PREFIX}/describe/fields", change_field, methods=["PUT"])]


def _field(sobject: SObjectType, name: str) -> dict[str, Any]:
    writable = name in sobject.writable_fields
    if name in sobject.lookups:
        field_type = "reference"
    elif name in sobject.double_fields:
        field_type = "double"
    else:
        field_type = _TYPES.get(name, "string")
    length = _TEXT_LENGTHS.get(name, 255) if field_type in ("string", "picklist", "textarea") else 0
    return {
        "name": name,
        "type": field_type,
        "length": 18 if field_type in ("id", "reference") else length,
        "updateable": writable,
        "createable": writable,
        "nillable": name not in {"Id", "CreatedDate", "LastModifiedDate"},
        "custom": name.endswith("__c"),
    }
