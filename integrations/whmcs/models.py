"""WHMCS API request and response shapes the project uses (numbers arrive as strings)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from contracts.provisioning import OrderLine


class _WhmcsModel(BaseModel):
    model_config = ConfigDict(extra="ignore")


class PayMethod(_WhmcsModel):
    id: int
    type: str
    description: str = ""


class WhmcsClientSummary(_WhmcsModel):
    id: int
    firstname: str = ""
    lastname: str = ""
    companyname: str = ""
    email: str = ""
    status: str = ""


class ClientsPage(_WhmcsModel):
    total_results: int
    clients: list[WhmcsClientSummary]


class AddOrderRequest(_WhmcsModel):
    client_id: int
    lines: list[OrderLine] = Field(min_length=1)
    payment_method: str
    notes: str | None
    """The exactly-once marker; None: WHMCS_ORDER_MARKER=none."""
    no_invoice: bool = True
    no_email: bool = True


class WhmcsOrder(_WhmcsModel):
    id: int
    client_id: int
    status: str
    notes: str = ""
    service_ids: list[int] = Field(default_factory=list)


class OrdersPage(_WhmcsModel):
    total_results: int
    orders: list[WhmcsOrder]


class WhmcsProduct(_WhmcsModel):
    """A product as GetProducts describes it, with the billing cycles it is sold in."""

    id: int
    name: str
    billing_cycles: frozenset[str]
