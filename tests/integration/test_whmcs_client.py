"""WhmcsClient against the WHMCS emulator served on a real socket."""

from __future__ import annotations

import io
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from pydantic import SecretStr

from contracts.provisioning import OrderLine
from emulators.faults import Fault, FaultKind
from emulators.server import EmulatorServer
from emulators.whmcs import (
    API_PATH,
    DEFAULT_CREDENTIAL,
    ApiCredential,
    NewClient,
    PayMethodFields,
    WhmcsEmulator,
    WhmcsEmulatorControl,
)
from integrations.config import ConfigurationError, WhmcsSettings, load
from integrations.errors import AuthenticationError, BusinessError, TransientError
from integrations.secrets.material import WhmcsApiKey
from integrations.secrets.provider import CredentialSource
from integrations.secrets.store import Credential
from integrations.whmcs.client import ApiActionNotAllowedError, OrderNotPendingError, WhmcsClient
from integrations.whmcs.models import AddOrderRequest

SIM_PRODUCT_ID = 101
VOICE_PRODUCT_ID = 102
ACCESS_KEY = "Acc3ss-Key_(with)[every].documented!@#$%*"
ROTATED_CREDENTIAL = ApiCredential(identifier="rotated-identifier", secret="rotated-secret")


@dataclass(frozen=True)
class Seed:
    client_id: int
    sim_product_id: int
    voice_product_id: int


@pytest.fixture(scope="module")
def emulator_url() -> Iterator[str]:
    with EmulatorServer(WhmcsEmulator().asgi_app()) as server:
        yield server.url


@pytest.fixture(scope="module")
def control(emulator_url: str) -> Iterator[WhmcsEmulatorControl]:
    control = WhmcsEmulatorControl(emulator_url)
    yield control
    control.close()


@pytest.fixture(autouse=True)
def seed(control: WhmcsEmulatorControl) -> Seed:
    control.reset()
    client = control.create_client(NewClient(paymethods=[PayMethodFields()]))
    sim = control.add_product("SIM data 20GB", product_id=SIM_PRODUCT_ID, price=Decimal("2980"))
    voice = control.add_product(
        "Voice option",
        product_id=VOICE_PRODUCT_ID,
        price=Decimal("500"),
        billing_cycles=("monthly", "semiannually", "annually"),
    )
    return Seed(client_id=client.id, sim_product_id=sim.id, voice_product_id=voice.id)


@asynccontextmanager
async def connected_client(
    api_base_url: str,
    *,
    timeout_ms: int = 5_000,
    identifier: str = DEFAULT_CREDENTIAL.identifier,
    secret: str = DEFAULT_CREDENTIAL.secret,
    access_key: str | None = None,
    credentials: CredentialSource | None = None,
) -> AsyncIterator[WhmcsClient]:
    settings = WhmcsSettings(
        api_url=f"{api_base_url}{API_PATH}",
        api_identifier=SecretStr(identifier),
        api_secret=SecretStr(secret),
        access_key=None if access_key is None else SecretStr(access_key),
        timeout=timeout_ms,
    )
    client = WhmcsClient(settings, credentials=credentials)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def whmcs(emulator_url: str) -> AsyncIterator[WhmcsClient]:
    async with connected_client(emulator_url) as client:
        yield client


def order_request(seed: Seed, note: str = "sfOrderId=801000000000001AAA") -> AddOrderRequest:
    return AddOrderRequest(
        client_id=seed.client_id,
        lines=[
            OrderLine(product_id=seed.sim_product_id, billing_cycle="Monthly"),
            OrderLine(product_id=seed.voice_product_id, billing_cycle="annually", quantity=2),
        ],
        payment_method="mailin",
        notes=note,
    )


def post_api(emulator_url: str, form: list[tuple[str, str]]) -> dict[str, Any]:
    credentials = [
        ("identifier", DEFAULT_CREDENTIAL.identifier),
        ("secret", DEFAULT_CREDENTIAL.secret),
        ("responsetype", "json"),
    ]
    response = httpx.post(
        f"{emulator_url}{API_PATH}",
        content=urlencode(credentials + form),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    body: dict[str, Any] = response.json()
    return body


async def test_each_unit_of_an_order_line_becomes_a_service(
    whmcs: WhmcsClient, control: WhmcsEmulatorControl, seed: Seed
) -> None:
    result = await whmcs.add_order(order_request(seed))

    [stored] = control.orders(seed.client_id)
    assert stored.id == result.order_id
    assert [service.id for service in stored.services] == result.service_ids
    assert [(s.billing_cycle, s.quantity) for s in stored.services] == [
        ("monthly", 1),
        ("annually", 1),
        ("annually", 1),
    ]
    assert (stored.status, stored.invoice_id, result.invoice_id) == ("Pending", 0, None)


def test_emulator_reads_php_append_brackets(emulator_url: str, seed: Seed) -> None:
    body = post_api(
        emulator_url,
        [
            ("action", "AddOrder"),
            ("clientid", str(seed.client_id)),
            ("pid[]", str(seed.sim_product_id)),
            ("pid[]", str(seed.voice_product_id)),
            ("billingcycle[]", "monthly"),
            ("billingcycle[]", "monthly"),
            ("paymentmethod", "banktransfer"),
        ],
    )

    assert body["result"] == "success", body
    assert len(body["serviceids"].split(",")) == 2
    assert body["invoiceid"] != "0"


def test_emulator_answers_numbers_as_strings_and_unknown_actions_as_errors(
    emulator_url: str, seed: Seed
) -> None:
    clients = post_api(emulator_url, [("action", "GetClients")])
    unknown = post_api(emulator_url, [("action", "DeleteEverything")])

    assert clients["totalresults"] == "1"
    assert clients["clients"]["client"][0]["id"] == str(seed.client_id)
    assert unknown == {"result": "error", "message": "Command Not Found"}


async def test_string_numbers_are_parsed_into_ints(whmcs: WhmcsClient, seed: Seed) -> None:
    added = await whmcs.add_order(order_request(seed))

    page = await whmcs.get_orders(order_id=added.order_id)

    assert page.total_results == 1
    [order] = page.orders
    assert (order.id, order.client_id, order.status) == (added.order_id, seed.client_id, "Pending")
    assert order.service_ids == added.service_ids
    assert all(isinstance(service_id, int) for service_id in order.service_ids)


async def test_get_clients_reports_total_beyond_the_limit(
    whmcs: WhmcsClient, control: WhmcsEmulatorControl
) -> None:
    control.create_client(NewClient(firstname="Hanako", email="hanako@example.jp"))

    first = await whmcs.get_clients(limit=1)
    found = await whmcs.get_clients(limit=10, search="HANAKO")

    assert (first.total_results, len(first.clients)) == (2, 1)
    assert [client.email for client in found.clients] == ["hanako@example.jp"]


async def test_pay_methods_present_and_absent(
    whmcs: WhmcsClient, control: WhmcsEmulatorControl, seed: Seed
) -> None:
    without = control.create_client()

    present = await whmcs.get_pay_methods(seed.client_id)
    absent = await whmcs.get_pay_methods(without.id)
    control.remove_pay_methods(seed.client_id)
    removed = await whmcs.get_pay_methods(seed.client_id)

    assert [method.type for method in present] == ["BankAccount"]
    assert absent == []
    assert removed == []


async def test_pay_methods_of_an_unknown_client_is_a_business_error(whmcs: WhmcsClient) -> None:
    with pytest.raises(BusinessError, match="Client Not Found"):
        await whmcs.get_pay_methods(999_999)


async def test_find_order_by_note_pages_past_the_first_page(whmcs: WhmcsClient, seed: Seed) -> None:
    added = [
        await whmcs.add_order(order_request(seed, f"sfOrderId=8010000000000{n:02d}AAA"))
        for n in range(30)
    ]

    first_page = await whmcs.get_orders(client_id=seed.client_id)
    oldest = await whmcs.find_order_by_note(seed.client_id, "sfOrderId=801000000000000AAA")
    missing = await whmcs.find_order_by_note(seed.client_id, "sfOrderId=801000000000099AAA")

    assert (first_page.total_results, len(first_page.orders)) == (30, 25)
    assert first_page.orders[0].id == added[-1].order_id
    assert oldest is not None
    assert oldest.id == added[0].order_id
    assert missing is None


async def test_find_order_by_note_matches_whole_lines_only(whmcs: WhmcsClient, seed: Seed) -> None:
    added = await whmcs.add_order(order_request(seed, "sfOrderId=801000000000001AAA\nchecked"))

    whole_line = await whmcs.find_order_by_note(seed.client_id, "sfOrderId=801000000000001AAA")
    prefix = await whmcs.find_order_by_note(seed.client_id, "sfOrderId=801000000000001")

    assert whole_line is not None
    assert whole_line.id == added.order_id
    assert prefix is None


async def test_accepting_twice_raises_order_not_pending(
    whmcs: WhmcsClient, control: WhmcsEmulatorControl, seed: Seed
) -> None:
    added = await whmcs.add_order(order_request(seed))

    await whmcs.accept_order(added.order_id)
    with pytest.raises(OrderNotPendingError):
        await whmcs.accept_order(added.order_id)

    [stored] = control.orders(seed.client_id)
    assert stored.status == "Active"
    assert {service.status for service in stored.services} == {"Active"}


async def test_bad_secret_is_an_authentication_error(emulator_url: str) -> None:
    async with connected_client(emulator_url, secret="wrong") as client:
        with pytest.raises(AuthenticationError) as raised:
            await client.get_clients()

    assert (raised.value.code, raised.value.message) == ("AUTH", "Authentication Failed")


async def test_rotated_credentials_replace_the_old_ones(
    whmcs: WhmcsClient, control: WhmcsEmulatorControl, emulator_url: str
) -> None:
    control.set_credentials(ApiCredential(identifier=DEFAULT_CREDENTIAL.identifier, secret="new"))

    with pytest.raises(AuthenticationError):
        await whmcs.get_clients()
    async with connected_client(emulator_url, secret="new") as rotated:
        assert (await rotated.get_clients()).total_results == 1


async def test_address_outside_the_allow_list_is_an_authentication_error(
    whmcs: WhmcsClient, control: WhmcsEmulatorControl
) -> None:
    control.set_allowed_ips(["203.0.113.9"])
    with pytest.raises(AuthenticationError) as raised:
        await whmcs.get_clients()
    assert raised.value.message == "Invalid IP 127.0.0.1"

    control.set_allowed_ips(["203.0.113.9", "127.0.0.1"])
    assert (await whmcs.get_clients()).total_results == 1


def denying(*actions: str) -> ApiCredential:
    """The default credential with API roles that do not allow `actions`."""
    return DEFAULT_CREDENTIAL.model_copy(update={"denied_actions": list(actions)})


async def post_form(
    emulator_url: str, form: dict[str, str], *, query: dict[str, str] | None = None
) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.post(
            f"{emulator_url}{API_PATH}", params=query, data=form | {"responsetype": "json"}
        )


@dataclass(frozen=True)
class Refusal:
    """WHMCS's answer to a request, under a configuration of the emulator."""

    message: str
    error: type[BusinessError]
    configure: Callable[[WhmcsEmulatorControl], None] = lambda control: None
    identifier: str = DEFAULT_CREDENTIAL.identifier
    secret: str = DEFAULT_CREDENTIAL.secret
    access_key: str | None = None


REFUSALS = {
    "address not allow-listed": Refusal(
        "Invalid IP 127.0.0.1",
        AuthenticationError,
        configure=lambda control: control.set_allowed_ips(["203.0.113.9"]),
    ),
    "wrong access key": Refusal(
        "Invalid Access Key",
        AuthenticationError,
        configure=lambda control: control.set_access_key(ACCESS_KEY),
        access_key="not-the-key",
    ),
    "unknown identifier": Refusal(
        "Invalid or missing credentials", AuthenticationError, identifier="deleted-identifier"
    ),
    "no secret": Refusal("Invalid or missing credentials", AuthenticationError, secret=""),
    "wrong secret": Refusal("Authentication Failed", AuthenticationError, secret="wrong"),
    "action outside the API role": Refusal(
        'Invalid Permissions: API action "getclients" is not allowed',
        ApiActionNotAllowedError,
        configure=lambda control: control.set_credentials(denying("GetClients")),
    ),
}


@pytest.mark.parametrize("refusal", REFUSALS.values(), ids=REFUSALS.keys())
async def test_each_refusal_text_maps_to_its_error_class(
    emulator_url: str, control: WhmcsEmulatorControl, refusal: Refusal
) -> None:
    refusal.configure(control)
    form = {"identifier": refusal.identifier, "secret": refusal.secret, "action": "GetClients"}
    if refusal.access_key is not None:
        form["accesskey"] = refusal.access_key

    wire = await post_form(emulator_url, form)
    async with connected_client(
        emulator_url,
        identifier=refusal.identifier,
        secret=refusal.secret,
        access_key=refusal.access_key,
    ) as client:
        with pytest.raises(BusinessError) as raised:
            await client.get_clients()

    assert (wire.status_code, wire.json()) == (403, {"result": "error", "message": refusal.message})
    assert type(raised.value) is refusal.error
    assert raised.value.message.startswith(refusal.message)
    assert raised.value.code == ("AUTH" if refusal.error is AuthenticationError else "WHMCS")
    assert not raised.value.retryable


async def test_access_key_goes_with_every_call_and_bypasses_the_ip_allow_list(
    emulator_url: str, control: WhmcsEmulatorControl, seed: Seed
) -> None:
    control.set_access_key(ACCESS_KEY)
    control.set_allowed_ips([])  # no address at all: only the access key lets a call in

    async with (
        connected_client(emulator_url, access_key=ACCESS_KEY) as keyed,
        connected_client(emulator_url) as without_key,
    ):
        added = await keyed.add_order(order_request(seed))
        await keyed.accept_order(added.order_id)
        [order] = (await keyed.get_orders(client_id=seed.client_id)).orders
        pay_methods = await keyed.get_pay_methods(seed.client_id)
        clients = await keyed.get_clients()
        with pytest.raises(AuthenticationError) as refused:
            await without_key.get_clients()
    in_the_url = await post_form(  # where the Access Control page puts it
        emulator_url,
        {
            "identifier": DEFAULT_CREDENTIAL.identifier,
            "secret": DEFAULT_CREDENTIAL.secret,
            "action": "GetClients",
        },
        query={"accesskey": ACCESS_KEY},
    )

    assert (order.id, order.status) == (added.order_id, "Active")
    assert [method.type for method in pay_methods] == ["BankAccount"]
    assert clients.total_results == 1
    assert refused.value.message == "Invalid IP 127.0.0.1"
    assert in_the_url.json()["result"] == "success"


async def test_an_access_key_whmcs_does_not_have_leaves_the_ip_check_in_force(
    emulator_url: str, control: WhmcsEmulatorControl
) -> None:
    control.set_allowed_ips(["203.0.113.9"])

    async with connected_client(emulator_url, access_key=ACCESS_KEY) as keyed:
        with pytest.raises(AuthenticationError) as raised:
            await keyed.get_clients()

    assert raised.value.message == "Invalid IP 127.0.0.1"


async def test_action_outside_the_api_role_names_the_action_to_allow(
    whmcs: WhmcsClient, control: WhmcsEmulatorControl, seed: Seed
) -> None:
    control.set_credentials(denying("AddOrder"))

    clients = await whmcs.get_clients()
    with pytest.raises(ApiActionNotAllowedError) as raised:
        await whmcs.add_order(order_request(seed))

    assert clients.total_results == 1
    assert (raised.value.action, raised.value.code) == ("AddOrder", "WHMCS")
    assert raised.value.message == (
        'Invalid Permissions: API action "addorder" is not allowed: allow the API action '
        "AddOrder in an API role of this API credential (WHMCS Admin > Configuration > "
        "System Settings > Manage API Credentials > API Roles)"
    )
    assert not raised.value.retryable
    assert control.orders() == []


class PromotedMeanwhile(CredentialSource):
    """The secret store as one worker sees it after another promoted a new credential: its
    cached version 1 until WHMCS refuses it, then version 2."""

    def __init__(self, cached: ApiCredential, promoted: ApiCredential) -> None:
        super().__init__(lambda: api_key(cached), version=1)
        self._promoted = Credential(version=2, value=api_key(promoted))
        self.rejected: list[int] = []

    def after_rejection(self, rejected: Credential) -> Credential | None:
        self.rejected.append(rejected.version)
        return self._promoted if rejected.version != self._promoted.version else None


def api_key(credential: ApiCredential) -> bytes:
    return WhmcsApiKey(
        identifier=SecretStr(credential.identifier), secret=SecretStr(credential.secret)
    ).to_bytes()


async def test_a_deleted_credential_falls_back_to_the_one_promoted_meanwhile(
    emulator_url: str, control: WhmcsEmulatorControl
) -> None:
    control.set_credentials(ROTATED_CREDENTIAL)  # the old one is deleted: its identifier unknown
    source = PromotedMeanwhile(DEFAULT_CREDENTIAL, ROTATED_CREDENTIAL)

    async with connected_client(emulator_url, credentials=source) as client:
        clients = await client.get_clients()

    assert clients.total_results == 1
    assert source.rejected == [1]
    assert control.call_counts() == {"GetClients": 2}


async def test_a_refusal_by_the_api_role_tries_no_other_credential(
    emulator_url: str, control: WhmcsEmulatorControl
) -> None:
    control.set_credentials(denying("GetClients"), ROTATED_CREDENTIAL)
    source = PromotedMeanwhile(DEFAULT_CREDENTIAL, ROTATED_CREDENTIAL)

    async with connected_client(emulator_url, credentials=source) as client:
        with pytest.raises(ApiActionNotAllowedError):
            await client.get_clients()

    assert source.rejected == []
    assert control.call_counts() == {"GetClients": 1}


async def test_the_access_key_never_reaches_the_logs(
    emulator_url: str, control: WhmcsEmulatorControl, json_log: io.StringIO
) -> None:
    control.set_access_key(ACCESS_KEY)
    control.set_allowed_ips([])

    async with connected_client(emulator_url, access_key=ACCESS_KEY) as keyed:
        await keyed.get_clients()
    async with connected_client(emulator_url, access_key="wrong-access-key") as wrong:
        with pytest.raises(AuthenticationError):
            await wrong.get_clients()

    logged = json_log.getvalue()
    assert "whmcs call failed" in logged
    assert ACCESS_KEY not in logged
    assert "wrong-access-key" not in logged


@pytest.mark.parametrize(
    ("value", "accepted"),
    [(ACCESS_KEY, ACCESS_KEY), ("", None), ("key with spaces", "refused"), ("key&more", "refused")],
)
def test_access_key_setting_takes_the_documented_characters_only(
    monkeypatch: pytest.MonkeyPatch, value: str, accepted: str | None
) -> None:
    monkeypatch.setenv("WHMCS_API_URL", "https://whmcs.invalid/includes/api.php")
    monkeypatch.setenv("WHMCS_API_IDENTIFIER", "identifier")
    monkeypatch.setenv("WHMCS_API_SECRET", "secret")
    monkeypatch.setenv("WHMCS_ACCESS_KEY", value)

    if accepted == "refused":
        with pytest.raises(ConfigurationError) as raised:
            load(WhmcsSettings)
        assert str(raised.value) == (
            "configuration error: WHMCS_ACCESS_KEY: may contain letters, numbers and "
            "! @ # $ % . ( ) * [ ] - _ only"
        )
    else:
        access_key = load(WhmcsSettings).access_key
        assert (access_key and access_key.get_secret_value()) == accepted


async def test_rate_limit_carries_retry_after(
    whmcs: WhmcsClient, control: WhmcsEmulatorControl
) -> None:
    control.inject(Fault(target="GetClients", kind=FaultKind.RATE_LIMIT, retry_after=7))

    with pytest.raises(TransientError) as raised:
        await whmcs.get_clients()

    assert (raised.value.code, raised.value.retry_after) == ("429", 7)


async def test_service_unavailable_is_transient(
    whmcs: WhmcsClient, control: WhmcsEmulatorControl
) -> None:
    control.inject(Fault(target="*", kind=FaultKind.HTTP_503))

    with pytest.raises(TransientError) as raised:
        await whmcs.get_clients()

    assert raised.value.code == "503"
    assert (await whmcs.get_clients()).total_results == 1


async def test_slow_answer_is_a_timeout(emulator_url: str, control: WhmcsEmulatorControl) -> None:
    control.inject(Fault(target="GetClients", kind=FaultKind.TIMEOUT, seconds=2))

    async with connected_client(emulator_url, timeout_ms=300) as impatient:
        with pytest.raises(TransientError) as raised:
            await impatient.get_clients()

    assert raised.value.code == "ETIMEOUT"


async def test_refused_connection_is_a_connection_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]

    async with connected_client(f"http://127.0.0.1:{closed_port}") as client:
        with pytest.raises(TransientError) as raised:
            await client.get_clients()

    assert raised.value.code == "ECONNECTION"


async def test_order_committed_before_a_timeout_is_found_by_its_note(
    whmcs: WhmcsClient, emulator_url: str, control: WhmcsEmulatorControl, seed: Seed
) -> None:
    control.inject(Fault(target="AddOrder", kind=FaultKind.COMMIT_THEN_TIMEOUT, seconds=2))
    request = order_request(seed, "sfOrderId=801000000000042AAA")

    async with connected_client(emulator_url, timeout_ms=300) as impatient:
        with pytest.raises(TransientError) as raised:
            await impatient.add_order(request)
    found = await whmcs.find_order_by_note(seed.client_id, "sfOrderId=801000000000042AAA")

    assert raised.value.code == "ETIMEOUT"
    [stored] = control.orders(seed.client_id)
    assert found is not None
    assert (found.id, found.service_ids) == (stored.id, [s.id for s in stored.services])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"client_id": 999_999}, "Client ID Not Found"),
        (
            {"lines": [OrderLine(product_id=999_999, billing_cycle="monthly")]},
            "No items added to cart so order cannot proceed",
        ),
        ({"payment_method": "cash"}, "Invalid Payment Method"),
    ],
)
async def test_refused_order_is_a_business_error(
    whmcs: WhmcsClient,
    control: WhmcsEmulatorControl,
    seed: Seed,
    change: dict[str, Any],
    message: str,
) -> None:
    request = order_request(seed).model_copy(update=change)

    with pytest.raises(BusinessError) as raised:
        await whmcs.add_order(request)

    assert (raised.value.code, raised.value.message) == ("WHMCS", message)
    assert not raised.value.retryable
    assert control.orders() == []


async def test_add_order_leaves_out_unknown_products_and_bills_a_cycle_the_product_has(
    whmcs: WhmcsClient, control: WhmcsEmulatorControl, seed: Seed
) -> None:
    """What WHMCS does instead of refusing: why the product check runs before AddOrder."""
    request = order_request(seed).model_copy(
        update={
            "lines": [
                OrderLine(product_id=999_999, billing_cycle="monthly"),
                OrderLine(product_id=seed.sim_product_id, billing_cycle="Annually"),
                OrderLine(product_id=seed.voice_product_id, billing_cycle="Semi-Annually"),
            ]
        }
    )

    created = await whmcs.add_order(request)

    [stored] = control.orders(seed.client_id)
    assert len(created.service_ids) == 2
    assert [(s.product_id, s.billing_cycle) for s in stored.services] == [
        (seed.sim_product_id, "monthly"),
        (seed.voice_product_id, "semiannually"),
    ]


@pytest.mark.parametrize(
    ("version", "service_per_unit"),
    [("8.11.0", False), ("8.13.1", False), ("8.13.1", True)],
    ids=["before qty", "qty, one service", "qty, one service per unit"],
)
async def test_a_quantity_becomes_one_service_per_unit_on_every_whmcs(
    whmcs: WhmcsClient,
    control: WhmcsEmulatorControl,
    seed: Seed,
    version: str,
    service_per_unit: bool,
) -> None:
    """`qty[]` is read only from 8.12, and then makes one or several services depending on
    the product: the client sends one line per unit, which means the same everywhere."""
    control.set_version(version)
    control.add_product("Multi-SIM", product_id=77, service_per_unit=service_per_unit)
    request = order_request(seed).model_copy(
        update={"lines": [OrderLine(product_id=77, billing_cycle="monthly", quantity=3)]}
    )

    created = await whmcs.add_order(request)

    [stored] = control.orders(seed.client_id)
    assert len(created.service_ids) == 3
    assert [(service.product_id, service.quantity) for service in stored.services] == [(77, 1)] * 3


async def test_get_products_names_the_cycles_each_product_is_sold_in(
    whmcs: WhmcsClient, seed: Seed
) -> None:
    products = await whmcs.get_products([seed.voice_product_id, seed.sim_product_id, 999_999])

    assert {(p.id, p.billing_cycles) for p in products} == {
        (seed.sim_product_id, frozenset({"monthly"})),
        (seed.voice_product_id, frozenset({"monthly", "semiannually", "annually"})),
    }


async def test_every_api_call_is_counted_per_action(
    whmcs: WhmcsClient, control: WhmcsEmulatorControl, seed: Seed
) -> None:
    control.inject(Fault(target="AddOrder", kind=FaultKind.HTTP_503))

    await whmcs.get_clients()
    await whmcs.get_pay_methods(seed.client_id)
    with pytest.raises(TransientError):
        await whmcs.add_order(order_request(seed))
    await whmcs.add_order(order_request(seed))

    assert control.call_counts() == {"GetClients": 1, "GetPayMethods": 1, "AddOrder": 2}
