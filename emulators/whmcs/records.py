"""What the WHMCS emulator stores, and the shapes its control API accepts to seed it.

`New*` models are control-API inputs (an `id` may be chosen, otherwise one is allocated);
`*Record` models are what the emulator keeps and reports back.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field


class ApiCredential(BaseModel):
    identifier: str
    secret: str
    denied_actions: list[str] = Field(
        default_factory=list,
        description="API actions none of the credential's API roles allow (any case)",
    )


class AllowedIps(BaseModel):
    ips: list[str] | None = Field(description="the API IP allow list; None: every address")


class AccessKey(BaseModel):
    access_key: str | None = Field(description="$api_access_key; None: not configured")


class PayMethodFields(BaseModel):
    type: str = "BankAccount"
    description: str = ""
    gateway_name: str = "banktransfer"
    card_last_four: str = ""
    expiry_date: str = ""
    card_type: str = ""


class PayMethodRecord(PayMethodFields):
    id: int


class ClientFields(BaseModel):
    firstname: str = "Test"
    lastname: str = "Customer"
    companyname: str = ""
    email: str = "customer@example.com"
    status: str = "Active"
    groupid: int = 0


class NewClient(ClientFields):
    id: int | None = None
    paymethods: list[PayMethodFields] = Field(default_factory=list)


class ClientRecord(ClientFields):
    id: int
    datecreated: date
    paymethods: list[PayMethodRecord] = Field(default_factory=list)


class ProductFields(BaseModel):
    name: str
    type: str = Field(default="Other", description="WHMCS product type label, e.g. 'Other'")
    price: Decimal = Decimal("0.00")
    pay_type: Literal["free", "onetime", "recurring"] = "recurring"
    billing_cycles: list[str] = Field(
        default_factory=lambda: ["monthly"],
        description="the recurring cycles priced (in WHMCS's order, shortest first)",
    )
    service_per_unit: bool = Field(
        default=False,
        description="'Allow Multiple Quantities: Yes - Multiple Services': a line of quantity "
        "N makes N services",
    )


class NewProduct(ProductFields):
    id: int | None = None


class ProductRecord(ProductFields):
    id: int


class ServiceRecord(BaseModel):
    """One service (WHMCS `tblhosting` row) created by an order line."""

    id: int
    product_id: int
    product_name: str
    product_type: str
    billing_cycle: str
    quantity: int
    amount: Decimal
    status: str


class OrderRecord(BaseModel):
    id: int
    ordernum: str
    client_id: int
    date: datetime
    amount: Decimal
    payment_method: str
    invoice_id: int
    status: str
    notes: str
    services: list[ServiceRecord]


class WhmcsVersion(BaseModel):
    version: str = Field(pattern=r"^\d+\.\d+(\.\d+)?$")


class OrderNotes(BaseModel):
    store: bool = Field(description="False: AddOrder drops `notes` (the marker cannot work)")
