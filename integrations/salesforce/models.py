"""The Salesforce records the project reads and writes, typed with their API field names."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

_RECORD_ID = re.compile(r"[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?")


def is_record_id(value: str) -> bool:
    """A Salesforce record Id: 15 characters, or 18 with the case-safe suffix."""
    return _RECORD_ID.fullmatch(value) is not None


class _SObject(BaseModel):
    model_config = ConfigDict(extra="ignore", validate_by_name=True, validate_by_alias=True)


class ActivationStatus(StrEnum):
    """Values of `Order.Activation_Status__c`."""

    ACTIVATING = "Activating"
    ACTIVATED = "Activated"
    FAILED = "Failed"


class Product2(_SObject):
    name: str = Field(alias="Name")
    whmcs_product_id: str | None = Field(default=None, alias="WH_Product_ID__c")
    billing_cycle: str | None = Field(default=None, alias="Billing_Cycle__c")

    @field_validator("whmcs_product_id", mode="before")
    @classmethod
    def _number_field_as_text(cls, value: Any) -> Any:
        """A Number(18,0) field arrives as 12.0; WHMCS wants "12"."""
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return None if value is None else str(value)


class OrderItem(_SObject):
    id: str = Field(alias="Id")
    quantity: int = Field(alias="Quantity")
    product2_id: str | None = Field(default=None, alias="Product2Id")
    product: Product2 | None = Field(default=None, alias="Product2")
    whmcs_service_id: str | None = Field(default=None, alias="WHMCS_Service_ID__c")

    @field_validator("quantity", mode="before")
    @classmethod
    def _whole_quantity(cls, value: Any) -> Any:
        """Quantity is a double in the API (1.0)."""
        return int(value) if isinstance(value, float) and value.is_integer() else value


class Order(_SObject):
    id: str = Field(alias="Id")
    order_number: str | None = Field(default=None, alias="OrderNumber")
    account_id: str | None = Field(default=None, alias="AccountId")
    activation_status: str | None = Field(default=None, alias="Activation_Status__c")
    activation_error_code: str | None = Field(default=None, alias="Activation_Error_Code__c")
    activation_error_message: str | None = Field(default=None, alias="Activation_Error_Message__c")
    whmcs_order_id: str | None = Field(default=None, alias="WHMCS_Order_ID__c")
    items: list[OrderItem] = Field(default_factory=list, alias="OrderItems")

    @field_validator("items", mode="before")
    @classmethod
    def _subquery_records(cls, value: Any) -> Any:
        """A child subquery arrives as {"totalSize", "done", "records"}, or null when empty."""
        if value is None:
            return []
        return value["records"] if isinstance(value, dict) else value

    @property
    def has_last_error(self) -> bool:
        return self.activation_error_code is not None or self.activation_error_message is not None


class RecordUpdate(BaseModel):
    """One record of a composite update: type, id and the fields to set (API names)."""

    sobject: str
    id: str
    fields: dict[str, str | int | float | bool | None]
