"""WHMCS: the version, each API action this system uses (a harmless call each), and, with
--with-test-order, the exactly-once marker round trip (AddOrder with `notes`, GetOrders,
CancelOrder) on this installation."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from contracts.provisioning import OrderLine
from integrations.config import WhmcsSettings
from integrations.errors import BusinessError
from integrations.preflight.result import (
    CheckFailedError,
    CheckResult,
    run_check,
    skipped,
)
from integrations.whmcs.client import ApiActionNotAllowedError, WhmcsClient
from integrations.whmcs.models import AddOrderRequest

SYSTEM = "whmcs"
NONEXISTENT_CLIENT_ID = 999_999_999
TEST_ORDER_LABEL = (
    "PREFLIGHT TEST ORDER by portalctl preflight --with-test-order: cancelled at once"
)


class WhmcsPreflight:
    def __init__(
        self, settings: WhmcsSettings, client: WhmcsClient, *, test_client_id: int | None
    ) -> None:
        """`test_client_id`: run the marker round trip with a test order for this client."""
        self._settings = settings
        self._client = client
        self._test_client_id = test_client_id

    async def run(self) -> list[CheckResult]:
        checks = [
            run_check(SYSTEM, "version (WhmcsDetails)", self._version, _action_fix),
            self._action("GetClients", lambda: self._client.get_clients(limit=1)),
            self._action("GetPayMethods", self._get_pay_methods),
            self._action("GetProducts", lambda: self._client.get_products([])),
            self._action("GetOrders", lambda: self._client.get_orders(limit=1)),
        ]
        results = list(await asyncio.gather(*checks))
        if self._test_client_id is None:
            note = "checked only with --with-test-order (it cannot be called harmlessly)"
            results += [
                skipped(SYSTEM, "AddOrder allowed", note),
                skipped(SYSTEM, "AcceptOrder allowed", note),
                skipped(SYSTEM, "order marker round trip", note),
            ]
        else:
            results += await self._marker_round_trip(self._test_client_id)
        return results

    def _action(self, action: str, call: Callable[[], Awaitable[object]]) -> Awaitable[CheckResult]:
        async def check() -> str:
            await call()
            return f"{action} answered"

        return run_check(SYSTEM, f"{action} allowed", check, _action_fix)

    async def _version(self) -> str:
        version = await self._client.version()
        return f"WHMCS {version}" if version else "WhmcsDetails named no version"

    async def _get_pay_methods(self) -> None:
        """Of the first client (or a client id that exists nowhere: any answer but a refusal
        of the action shows it is allowed)."""
        page = await self._client.get_clients(limit=1)
        client_id = page.clients[0].id if page.clients else NONEXISTENT_CLIENT_ID
        try:
            await self._client.get_pay_methods(client_id)
        except ApiActionNotAllowedError:
            raise
        except Exception:
            if client_id != NONEXISTENT_CLIENT_ID:
                raise

    async def _marker_round_trip(self, client_id: int) -> list[CheckResult]:
        marker = f"sfOrderId=PREFLIGHT-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
        order_ids: list[int] = []

        async def add_order() -> str:
            products = await self._client.get_products([])
            if not products:
                raise CheckFailedError("GetProducts lists no product to order")
            product = products[0]
            cycle = min(product.billing_cycles) if product.billing_cycles else "monthly"
            result = await self._client.add_order(
                AddOrderRequest(
                    client_id=client_id,
                    lines=[OrderLine(product_id=product.id, billing_cycle=cycle)],
                    payment_method=self._settings.payment_method,
                    notes=f"{marker}\n{TEST_ORDER_LABEL}",
                )
            )
            order_ids.append(int(result.order_id))
            return f"test order {result.order_id} for client {client_id} (product {product.id})"

        added = await run_check(SYSTEM, "AddOrder allowed", add_order, _action_fix)
        if not order_ids:
            return [
                added,
                skipped(SYSTEM, "order marker round trip", "no test order was created"),
                skipped(SYSTEM, "CancelOrder allowed", "no test order was created"),
            ]
        order_id = order_ids[0]

        async def read_back() -> str:
            page = await self._client.get_orders(order_id=order_id, limit=1)
            notes = page.orders[0].notes if page.orders else ""
            if marker not in (line.strip() for line in notes.splitlines()):
                raise CheckFailedError(
                    f"GetOrders answered order {order_id} without the notes line {marker}: "
                    "this installation does not keep AddOrder's notes"
                )
            return f"order {order_id} read back with {marker}: WHMCS_ORDER_MARKER=notes works"

        async def cancel() -> str:
            await self._client.cancel_order(order_id)
            return f"test order {order_id} cancelled"

        marker_result = await run_check(
            SYSTEM,
            "order marker round trip",
            read_back,
            lambda error: (
                "set WHMCS_ORDER_MARKER=none (an ambiguous AddOrder then fails as "
                "'outcome unknown' instead of being looked up)"
                if isinstance(error, CheckFailedError)
                else _action_fix(error)
            ),
        )
        cancelled = await run_check(
            SYSTEM,
            "CancelOrder allowed",
            cancel,
            lambda error: f"{_action_fix(error)}; cancel test order {order_id} by hand",
        )
        if not cancelled.ok:
            not_run = "not run: the test order could not be cancelled (it would be accepted)"
            return [
                added,
                marker_result,
                cancelled,
                skipped(SYSTEM, "AcceptOrder allowed", not_run),
            ]

        async def accept_cancelled() -> str:
            try:
                await self._client.accept_order(order_id)
            except ApiActionNotAllowedError:
                raise
            except BusinessError as refusal:  # WHMCS judged the order: the action is allowed
                return f"AcceptOrder of the cancelled test order refused as expected: {refusal}"
            raise CheckFailedError(f"WHMCS accepted the cancelled test order {order_id}")

        accepted = await run_check(SYSTEM, "AcceptOrder allowed", accept_cancelled, _action_fix)
        return [added, marker_result, cancelled, accepted]


def _action_fix(error: Exception) -> str:
    if isinstance(error, ApiActionNotAllowedError):
        return f"allow {error.action} in the API role of this API credential"
    if isinstance(error, CheckFailedError):
        return "add a product in WHMCS (Products/Services) or pass another --test-client-id"
    return "check WHMCS_API_URL, the API credential, and the IP allow list or WHMCS_ACCESS_KEY"
