"""Typed client for the WHMCS emulator's control API."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from pydantic import TypeAdapter

from emulators.control_client import EmulatorControl
from emulators.whmcs.records import (
    AccessKey,
    AllowedIps,
    ApiCredential,
    ClientRecord,
    NewClient,
    NewProduct,
    OrderNotes,
    OrderRecord,
    PayMethodFields,
    PayMethodRecord,
    ProductRecord,
    WhmcsVersion,
)

_ORDERS = TypeAdapter(list[OrderRecord])
_PRODUCTS = TypeAdapter(list[ProductRecord])


class WhmcsEmulatorControl(EmulatorControl):
    def create_client(self, client: NewClient | None = None) -> ClientRecord:
        """Create a client (defaults: an active client without pay methods)."""
        payload = (client or NewClient()).model_dump(mode="json", exclude_none=True)
        return ClientRecord.model_validate(self.post("/clients", payload))

    def add_pay_method(
        self, client_id: int, pay_method: PayMethodFields | None = None
    ) -> PayMethodRecord:
        """Add a pay method (default: a bank account) to an existing client."""
        payload = (pay_method or PayMethodFields()).model_dump(mode="json")
        return PayMethodRecord.model_validate(
            self.post(f"/clients/{client_id}/paymethods", payload)
        )

    def remove_pay_methods(self, client_id: int, pay_method_id: int | None = None) -> None:
        """Remove one pay method, or every pay method of the client when no id is given."""
        path = f"/clients/{client_id}/paymethods"
        if pay_method_id is not None:
            path = f"{path}/{pay_method_id}"
        self._http.delete(path).raise_for_status()

    def add_product(
        self,
        name: str,
        *,
        product_id: int | None = None,
        price: Decimal = Decimal("0.00"),
        billing_cycles: Sequence[str] = ("monthly",),
        service_per_unit: bool = False,
    ) -> ProductRecord:
        """A recurring product sold in `billing_cycles`."""
        product = NewProduct(
            id=product_id,
            name=name,
            price=price,
            billing_cycles=list(billing_cycles),
            service_per_unit=service_per_unit,
        )
        payload = product.model_dump(mode="json", exclude_none=True)
        return ProductRecord.model_validate(self.post("/products", payload))

    def products(self) -> list[ProductRecord]:
        return _PRODUCTS.validate_python(self.get("/products"))

    def orders(self, client_id: int | None = None) -> list[OrderRecord]:
        """Orders as stored, newest first."""
        params = None if client_id is None else {"client_id": str(client_id)}
        return _ORDERS.validate_python(self.get("/orders", params))

    def set_credentials(self, *credentials: ApiCredential) -> None:
        """Replace the API credentials (with their API roles' `denied_actions`); pass two to
        overlap old and new in a rotation. A credential left out is deleted: its identifier
        is then unknown ("Invalid or missing credentials")."""
        payload = [credential.model_dump() for credential in credentials]
        self._http.put("/credentials", json=payload).raise_for_status()

    def set_allowed_ips(self, ips: Sequence[str] | None) -> None:
        """The API IP allow list: only these addresses (none for an empty list, as in WHMCS)
        may call without a valid access key; None: every address (the start state)."""
        payload = AllowedIps(ips=None if ips is None else list(ips)).model_dump()
        self._http.put("/allowed-ips", json=payload).raise_for_status()

    def set_version(self, version: str) -> None:
        """Behave as this WHMCS version (`qty[]` is read from 8.12 on)."""
        payload = WhmcsVersion(version=version).model_dump()
        self._http.put("/version", json=payload).raise_for_status()

    def set_access_key(self, access_key: str | None) -> None:
        """Configure `$api_access_key` (None: remove it). A request passing `accesskey` is then
        judged by the key instead of its IP."""
        payload = AccessKey(access_key=access_key).model_dump()
        self._http.put("/access-key", json=payload).raise_for_status()

    def set_store_order_notes(self, store: bool) -> None:
        """False: AddOrder drops its `notes`, so the exactly-once marker cannot be found."""
        payload = OrderNotes(store=store).model_dump()
        self._http.put("/order-notes", json=payload).raise_for_status()
