"""The production Salesforce client against the Salesforce emulator, over real TLS."""

from __future__ import annotations

import base64
import io
import json
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import pytest

from emulators.faults import Fault, FaultKind
from emulators.salesforce import SalesforceEmulator, SalesforceEmulatorControl
from emulators.salesforce.control_models import RecordErrorCode
from emulators.server import EmulatorServer
from emulators.tls import TlsFiles, ensure_tls_files
from integrations.config import SalesforceSettings
from integrations.errors import (
    AuthenticationError,
    BusinessError,
    IntegrationError,
    TransientError,
)
from integrations.salesforce.client import SalesforceClient
from integrations.salesforce.keys import JwtKeyPair, generate_jwt_key_pair
from integrations.salesforce.models import RecordUpdate

CONSUMER_KEY = "3MVG9portalworkflowstest"
USERNAME = "integration@portal.example"
API_PATH = "/services/data/v62.0"
MISSING_ORDER_ID = "801000000000001AAA"


@pytest.fixture(scope="module")
def signing_key() -> JwtKeyPair:
    return generate_jwt_key_pair(USERNAME)


@pytest.fixture(scope="module")
def other_signing_key() -> JwtKeyPair:
    return generate_jwt_key_pair(USERNAME)


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return ensure_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def emulator_url(tls: TlsFiles) -> Iterator[str]:
    with EmulatorServer(SalesforceEmulator().asgi_app(), tls=tls) as server:
        yield server.url


@pytest.fixture
def control(
    emulator_url: str, tls: TlsFiles, signing_key: JwtKeyPair
) -> Iterator[SalesforceEmulatorControl]:
    control = SalesforceEmulatorControl(emulator_url, ca_path=tls.ca_path)
    control.reset()
    control.register_connected_app(CONSUMER_KEY, USERNAME, [signing_key.certificate_pem])
    yield control
    control.close()


ClientFactory = Callable[..., SalesforceClient]


@pytest.fixture
def make_client(
    emulator_url: str, tls: TlsFiles, signing_key: JwtKeyPair, control: SalesforceEmulatorControl
) -> Iterator[ClientFactory]:
    clients: list[SalesforceClient] = []

    def make(
        *,
        private_key_pem: bytes | None = None,
        timeout_ms: int = 5_000,
        audience: str | None = None,
    ) -> SalesforceClient:
        settings = SalesforceSettings(
            login_url=emulator_url,
            audience=audience,
            client_id=CONSUMER_KEY,
            username=USERNAME,
            private_key_base64=base64.b64encode(private_key_pem or signing_key.private_key_pem),
            ca_bundle=tls.ca_path,
            timeout=timeout_ms,
        )
        client = SalesforceClient(settings)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def client(make_client: ClientFactory) -> SalesforceClient:
    return make_client()


@dataclass(frozen=True)
class SeededOrder:
    order_id: str
    item_ids: list[str]


def _seed_order(control: SalesforceEmulatorControl, quantities: tuple[int, ...]) -> SeededOrder:
    account = control.create_record("Account", {"Name": "Yamada Taro"})
    order = control.create_record(
        "Order", {"AccountId": account["Id"], "Activation_Status__c": "Activating"}
    )
    item_ids = []
    for position, quantity in enumerate(quantities):
        product = control.create_record(
            "Product2",
            {
                "Name": f"SIM plan {position}",
                "WH_Product_ID__c": 12 + position,
                "Billing_Cycle__c": "Monthly",
            },
        )
        item = control.create_record(
            "OrderItem",
            {"OrderId": order["Id"], "Product2Id": product["Id"], "Quantity": quantity},
        )
        item_ids.append(item["Id"])
    return SeededOrder(order["Id"], item_ids)


def _post_token(url: str, tls: TlsFiles, claims: dict[str, Any], key: JwtKeyPair) -> httpx.Response:
    assertion = jwt.encode(claims, key.private_key_pem, algorithm="RS256")
    form = {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion}
    verify = ssl.create_default_context(cafile=str(tls.ca_path))
    return httpx.post(f"{url}/services/oauth2/token", data=form, verify=verify)


def _valid_claims() -> dict[str, Any]:
    return {
        "iss": CONSUMER_KEY,
        "sub": USERNAME,
        "aud": "https://login.salesforce.com",
        "exp": time.time() + 180,
    }


def _rest_session(url: str, tls: TlsFiles, key: JwtKeyPair) -> httpx.Client:
    """A plain HTTP client with a session of the emulator, to see its answers on the wire."""
    token = _post_token(url, tls, _valid_claims(), key).json()["access_token"]
    return httpx.Client(
        base_url=f"{url}{API_PATH}",
        headers={"Authorization": f"Bearer {token}"},
        verify=ssl.create_default_context(cafile=str(tls.ca_path)),
    )


def test_logs_in_once_for_several_calls(
    client: SalesforceClient, control: SalesforceEmulatorControl
) -> None:
    seeded = _seed_order(control, (1,))

    client.get_order(seeded.order_id)
    client.query("SELECT Id FROM Account LIMIT 1")
    client.update_record("Order", seeded.order_id, {"Activation_Error_Code__c": None})

    assert control.call_counts() == {"token": 1, "query": 2, "update": 1}


def test_assertion_signed_by_an_unregistered_key_is_rejected(
    make_client: ClientFactory, other_signing_key: JwtKeyPair
) -> None:
    client = make_client(private_key_pem=other_signing_key.private_key_pem)

    with pytest.raises(AuthenticationError, match="invalid assertion") as raised:
        client.query("SELECT COUNT() FROM Order")
    assert raised.value.code == "AUTH"


def test_rotated_certificate_replaces_the_old_one(
    make_client: ClientFactory,
    control: SalesforceEmulatorControl,
    signing_key: JwtKeyPair,
    other_signing_key: JwtKeyPair,
) -> None:
    control.add_certificate(CONSUMER_KEY, other_signing_key.certificate_pem)
    make_client(private_key_pem=other_signing_key.private_key_pem).query(
        "SELECT COUNT() FROM Order"
    )

    control.remove_certificate(CONSUMER_KEY, signing_key.certificate_pem)

    with pytest.raises(AuthenticationError, match="invalid assertion"):
        make_client().query("SELECT COUNT() FROM Order")


@pytest.mark.parametrize(
    ("claims", "description"),
    [
        ({"sub": "someone.else@portal.example"}, "user hasn't approved this consumer"),
        ({"iss": "unknown-consumer-key"}, "user hasn't approved this consumer"),
        ({"aud": "https://evil.example.com"}, "audience is invalid"),
        # A My Domain is where the token may be requested, never the audience.
        ({"aud": "https://acme.my.salesforce.com"}, "audience is invalid"),
        ({"aud": "https://login.salesforce.com/services/oauth2/token"}, "audience is invalid"),
        ({"aud": ["https://login.salesforce.com"]}, "audience is invalid"),
        ({"exp": int(time.time()) - 600}, "expired authorization code"),
    ],
)
def test_token_endpoint_rejects_bad_claims(
    emulator_url: str,
    tls: TlsFiles,
    control: SalesforceEmulatorControl,
    signing_key: JwtKeyPair,
    claims: dict[str, Any],
    description: str,
) -> None:
    response = _post_token(emulator_url, tls, _valid_claims() | claims, signing_key)

    assert response.status_code == 400
    assert response.json() == {"error": "invalid_grant", "error_description": description}


def test_token_endpoint_refuses_its_own_url_as_audience(
    emulator_url: str, tls: TlsFiles, control: SalesforceEmulatorControl, signing_key: JwtKeyPair
) -> None:
    """The host the token is requested from (here the emulator, in production a My Domain) is
    not an audience Salesforce accepts."""
    response = _post_token(emulator_url, tls, _valid_claims() | {"aud": emulator_url}, signing_key)

    assert response.status_code == 400
    assert response.json() == {"error": "invalid_grant", "error_description": "audience is invalid"}


@pytest.mark.parametrize(
    "audience", ["https://login.salesforce.com", "https://test.salesforce.com"]
)
def test_client_logs_in_with_the_configured_audience(
    make_client: ClientFactory, control: SalesforceEmulatorControl, audience: str
) -> None:
    make_client(audience=audience).query("SELECT COUNT() FROM Order")

    assert control.call_counts() == {"token": 1, "query": 1}


def test_client_with_an_audience_salesforce_refuses_fails_with_its_description(
    make_client: ClientFactory, emulator_url: str, json_log: io.StringIO
) -> None:
    """SF_AUDIENCE set to the login URL (the mistake this setting exists to prevent); the log
    line names the audience sent, for the runbook's "audience is invalid" fix."""
    client = make_client(audience=emulator_url)

    with pytest.raises(AuthenticationError, match=r"^AUTH audience is invalid$") as raised:
        client.query("SELECT COUNT() FROM Order")

    assert raised.value.code == "AUTH"
    logs = [json.loads(line) for line in json_log.getvalue().splitlines()]
    [failed] = [entry for entry in logs if entry["event"] == "salesforce login failed"]
    assert (failed["audience"], failed["login_url"]) == (emulator_url, emulator_url)


def test_token_endpoint_accepts_simple_salesforce_style_assertion(
    emulator_url: str, tls: TlsFiles, control: SalesforceEmulatorControl, signing_key: JwtKeyPair
) -> None:
    claims = {
        "iss": CONSUMER_KEY,
        "sub": USERNAME,
        "aud": "https://login.salesforce.com",
        "exp": f"{time.time() + 180:.0f}",
    }

    response = _post_token(emulator_url, tls, claims, signing_key)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "instance_url", "id", "token_type", "scope"}
    assert body["instance_url"] == emulator_url
    assert body["token_type"] == "Bearer"


def test_rest_rejects_unknown_session_with_salesforce_error_array(
    emulator_url: str, tls: TlsFiles, control: SalesforceEmulatorControl
) -> None:
    response = httpx.get(
        f"{emulator_url}{API_PATH}/query/",
        params={"q": "SELECT Id FROM Order"},
        headers={"Authorization": "Bearer not-a-session"},
        verify=ssl.create_default_context(cafile=str(tls.ca_path)),
    )

    assert response.status_code == 401
    assert response.json() == [
        {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
    ]
    assert response.headers["Sforce-Limit-Info"] == "api-usage=0/15000"


def test_expired_session_logs_in_again_transparently(
    client: SalesforceClient, control: SalesforceEmulatorControl
) -> None:
    client.query("SELECT COUNT() FROM Order")
    control.expire_sessions()

    client.query("SELECT COUNT() FROM Order")

    assert control.call_counts() == {"token": 2, "query": 3}


def test_get_order_returns_items_with_product_fields(
    client: SalesforceClient, control: SalesforceEmulatorControl
) -> None:
    seeded = _seed_order(control, (2, 1))

    order = client.get_order(seeded.order_id)

    assert order.id == seeded.order_id
    assert order.activation_status == "Activating"
    assert order.order_number is not None
    assert [item.id for item in order.items] == seeded.item_ids
    assert [item.quantity for item in order.items] == [2, 1]
    first = order.items[0].product
    assert first is not None
    assert (first.name, first.whmcs_product_id, first.billing_cycle) == (
        "SIM plan 0",
        "12",
        "Monthly",
    )


def test_order_without_items_has_empty_item_list(
    client: SalesforceClient, control: SalesforceEmulatorControl
) -> None:
    seeded = _seed_order(control, ())

    assert client.get_order(seeded.order_id).items == []


def test_missing_order_is_a_404_business_error(client: SalesforceClient) -> None:
    with pytest.raises(BusinessError, match="not found") as raised:
        client.get_order(MISSING_ORDER_ID)
    assert raised.value.code == "404"


def test_update_record_is_visible_in_salesforce(
    client: SalesforceClient, control: SalesforceEmulatorControl
) -> None:
    seeded = _seed_order(control, (1,))

    client.update_record(
        "Order",
        seeded.order_id,
        {"Activation_Status__c": "Failed", "Activation_Error_Code__c": "503"},
    )

    order = control.get_record("Order", seeded.order_id)
    assert (order["Activation_Status__c"], order["Activation_Error_Code__c"]) == ("Failed", "503")


def test_update_of_missing_record_is_a_not_found_business_error(client: SalesforceClient) -> None:
    with pytest.raises(BusinessError) as raised:
        client.update_record("Order", MISSING_ORDER_ID, {"Activation_Status__c": "Failed"})
    assert raised.value.code == "NOT_FOUND"


def test_update_with_malformed_id_is_a_business_error_with_its_code(
    client: SalesforceClient,
) -> None:
    with pytest.raises(BusinessError, match="MALFORMED_ID") as raised:
        client.update_record("Order", "not-an-id", {"Activation_Status__c": "Failed"})
    assert raised.value.code == "MALFORMED_ID"


def test_composite_update_writes_order_and_items_in_one_call(
    client: SalesforceClient, control: SalesforceEmulatorControl
) -> None:
    seeded = _seed_order(control, (1, 1))
    updates = [
        RecordUpdate(
            sobject="Order",
            id=seeded.order_id,
            fields={"Activation_Status__c": "Activated", "WHMCS_Order_ID__c": "1001"},
        ),
        *(
            RecordUpdate(sobject="OrderItem", id=item_id, fields={"WHMCS_Service_ID__c": f"5{n}"})
            for n, item_id in enumerate(seeded.item_ids)
        ),
    ]

    client.update_records(updates)

    order = control.get_record("Order", seeded.order_id)
    assert (order["Activation_Status__c"], order["WHMCS_Order_ID__c"]) == ("Activated", "1001")
    services = [control.get_record("OrderItem", i)["WHMCS_Service_ID__c"] for i in seeded.item_ids]
    assert services == ["50", "51"]
    assert control.call_counts()["composite"] == 1


def test_composite_update_with_one_bad_record_applies_nothing(
    client: SalesforceClient, control: SalesforceEmulatorControl
) -> None:
    seeded = _seed_order(control, (1,))
    updates = [
        RecordUpdate(
            sobject="Order", id=seeded.order_id, fields={"Activation_Status__c": "Activated"}
        ),
        RecordUpdate(sobject="OrderItem", id=seeded.item_ids[0], fields={"No_Such_Field__c": "x"}),
    ]

    with pytest.raises(
        BusinessError, match=f"OrderItem {seeded.item_ids[0]}: INVALID_FIELD"
    ) as raised:
        client.update_records(updates)

    assert raised.value.code == "INVALID_FIELD"
    assert control.get_record("Order", seeded.order_id)["Activation_Status__c"] == "Activating"


def test_service_unavailable_is_transient_503(
    client: SalesforceClient, control: SalesforceEmulatorControl
) -> None:
    control.inject(Fault(target="query", kind=FaultKind.HTTP_503))

    with pytest.raises(TransientError) as raised:
        client.query("SELECT COUNT() FROM Order")
    assert raised.value.code == "503"


def test_request_limit_exceeded_is_transient_429(
    client: SalesforceClient, control: SalesforceEmulatorControl
) -> None:
    control.inject(Fault(target="update", kind=FaultKind.RATE_LIMIT))

    with pytest.raises(TransientError) as raised:
        client.update_record("Order", MISSING_ORDER_ID, {"Activation_Status__c": "Failed"})
    assert raised.value.code == "429"


def test_exhausted_daily_allowance_is_transient_429(
    client: SalesforceClient, control: SalesforceEmulatorControl
) -> None:
    control.set_api_limit(1)
    client.query("SELECT COUNT() FROM Order")

    with pytest.raises(TransientError) as raised:
        client.query("SELECT COUNT() FROM Order")
    assert raised.value.code == "429"


def test_slow_answer_is_transient_etimeout(
    make_client: ClientFactory, control: SalesforceEmulatorControl
) -> None:
    client = make_client(timeout_ms=300)
    client.query("SELECT COUNT() FROM Order")
    control.inject(Fault(target="query", kind=FaultKind.TIMEOUT, seconds=2))

    started = time.monotonic()
    with pytest.raises(TransientError) as raised:
        client.query("SELECT COUNT() FROM Order")
    assert raised.value.code == "ETIMEOUT"
    assert time.monotonic() - started < 1.5


def test_update_committed_before_a_timeout_is_kept(
    make_client: ClientFactory, control: SalesforceEmulatorControl
) -> None:
    seeded = _seed_order(control, (1,))
    client = make_client(timeout_ms=300)
    client.query("SELECT COUNT() FROM Order")
    control.inject(Fault(target="update", kind=FaultKind.COMMIT_THEN_TIMEOUT, seconds=1))

    with pytest.raises(TransientError) as raised:
        client.update_record("Order", seeded.order_id, {"Activation_Status__c": "Activated"})
    assert raised.value.code == "ETIMEOUT"
    assert control.get_record("Order", seeded.order_id)["Activation_Status__c"] == "Activated"


def test_login_during_an_outage_is_transient(
    client: SalesforceClient, control: SalesforceEmulatorControl
) -> None:
    control.inject(Fault(target="token", kind=FaultKind.HTTP_503))

    with pytest.raises(TransientError) as raised:
        client.query("SELECT COUNT() FROM Order")
    assert raised.value.code == "503"
    client.query("SELECT COUNT() FROM Order")


def test_api_usage_comes_from_the_limit_header(
    client: SalesforceClient, control: SalesforceEmulatorControl
) -> None:
    control.set_api_limit(500)
    assert client.api_usage is None

    client.query("SELECT COUNT() FROM Order")
    client.query("SELECT COUNT() FROM Order")

    assert client.api_usage == (2, 500)
    assert control.api_usage() == (2, 500)


def test_unsupported_soql_is_a_malformed_query_business_error(client: SalesforceClient) -> None:
    with pytest.raises(BusinessError, match="MALFORMED_QUERY") as raised:
        client.query("SELECT Id FROM Order ORDER BY CreatedDate")
    assert raised.value.code == "MALFORMED_QUERY"


def test_query_follows_next_records_url(
    client: SalesforceClient, control: SalesforceEmulatorControl
) -> None:
    control.set_query_batch_size(2)
    names = [f"Account {n}" for n in range(5)]
    for name in names:
        control.create_record("Account", {"Name": name})

    records = client.query("SELECT Id, Name FROM Account")

    assert [record["Name"] for record in records] == names
    assert control.call_counts()["query"] == 3


# Record errors: a write Salesforce refuses. A row lock (UNABLE_TO_LOCK_ROW) goes away within
# seconds and is retried; everything else, an approval lock (ENTITY_IS_LOCKED) included, needs
# a person and is a business error whose code is Salesforce's own.

RECORD_ERROR_CLASSES = [
    (RecordErrorCode.UNABLE_TO_LOCK_ROW, TransientError),
    (RecordErrorCode.ENTITY_IS_LOCKED, BusinessError),
    (RecordErrorCode.FIELD_CUSTOM_VALIDATION_EXCEPTION, BusinessError),
    (RecordErrorCode.STRING_TOO_LONG, BusinessError),
    (RecordErrorCode.INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST, BusinessError),
    (RecordErrorCode.REQUIRED_FIELD_MISSING, BusinessError),
]


def _success_updates(seeded: SeededOrder) -> list[RecordUpdate]:
    return [
        RecordUpdate(
            sobject="Order",
            id=seeded.order_id,
            fields={"Activation_Status__c": "Activated", "WHMCS_Order_ID__c": "1001"},
        ),
        *(
            RecordUpdate(sobject="OrderItem", id=item_id, fields={"WHMCS_Service_ID__c": "501"})
            for item_id in seeded.item_ids
        ),
    ]


@pytest.mark.parametrize(("error_code", "error_class"), RECORD_ERROR_CLASSES)
def test_refused_record_update_maps_to_its_error_class_and_code(
    client: SalesforceClient,
    control: SalesforceEmulatorControl,
    error_code: RecordErrorCode,
    error_class: type[IntegrationError],
) -> None:
    seeded = _seed_order(control, (1,))
    control.inject_record_error(error_code, operation="update")

    with pytest.raises(IntegrationError) as raised:
        client.update_record("Order", seeded.order_id, {"Activation_Status__c": "Failed"})

    assert type(raised.value) is error_class
    assert raised.value.code == error_code
    assert raised.value.message.startswith(f"{error_code}: ")
    assert control.get_record("Order", seeded.order_id)["Activation_Status__c"] == "Activating"


@pytest.mark.parametrize(("error_code", "error_class"), RECORD_ERROR_CLASSES)
def test_refused_composite_update_maps_to_its_error_class_and_code(
    client: SalesforceClient,
    control: SalesforceEmulatorControl,
    error_code: RecordErrorCode,
    error_class: type[IntegrationError],
) -> None:
    seeded = _seed_order(control, (1, 1))
    control.inject_record_error(error_code, operation="composite")

    with pytest.raises(IntegrationError) as raised:
        client.update_records(_success_updates(seeded))

    assert type(raised.value) is error_class
    assert raised.value.code == error_code
    assert raised.value.message.startswith(f"Order {seeded.order_id}: {error_code}: ")
    # allOrNone: the items were rolled back with the Order.
    assert control.get_record("Order", seeded.order_id)["Activation_Status__c"] == "Activating"
    items = [control.get_record("OrderItem", item_id) for item_id in seeded.item_ids]
    assert [item["WHMCS_Service_ID__c"] for item in items] == [None, None]


def test_composite_update_succeeds_once_the_row_lock_is_gone(
    client: SalesforceClient, control: SalesforceEmulatorControl
) -> None:
    seeded = _seed_order(control, (1,))
    control.inject_record_error(
        RecordErrorCode.UNABLE_TO_LOCK_ROW, operation="composite", record_id=seeded.item_ids[0]
    )

    with pytest.raises(TransientError, match=f"OrderItem {seeded.item_ids[0]}: UNABLE_TO_LOCK"):
        client.update_records(_success_updates(seeded))
    client.update_records(_success_updates(seeded))

    assert control.get_record("Order", seeded.order_id)["Activation_Status__c"] == "Activated"
    assert control.get_record("OrderItem", seeded.item_ids[0])["WHMCS_Service_ID__c"] == "501"
    assert control.call_counts()["composite"] == 2


def test_row_lock_on_a_record_update_is_salesforce_s_rest_error_array(
    emulator_url: str, tls: TlsFiles, control: SalesforceEmulatorControl, signing_key: JwtKeyPair
) -> None:
    seeded = _seed_order(control, (1,))
    control.inject_record_error(RecordErrorCode.UNABLE_TO_LOCK_ROW, operation="update")

    with _rest_session(emulator_url, tls, signing_key) as rest:
        response = rest.patch(
            f"/sobjects/Order/{seeded.order_id}", json={"Activation_Status__c": "Failed"}
        )

    assert response.status_code == 400
    assert response.json() == [
        {
            "message": "unable to obtain exclusive access to this record",
            "errorCode": "UNABLE_TO_LOCK_ROW",
            "fields": [],
        }
    ]


def test_refused_record_in_an_sobject_collection_is_its_result_in_a_200(
    emulator_url: str, tls: TlsFiles, control: SalesforceEmulatorControl, signing_key: JwtKeyPair
) -> None:
    seeded = _seed_order(control, (1,))
    control.inject_record_error(
        RecordErrorCode.STRING_TOO_LONG, operation="composite", field="Activation_Error_Message__c"
    )
    body = {
        "allOrNone": True,
        "records": [
            {
                "attributes": {"type": "Order"},
                "id": seeded.order_id,
                "Activation_Status__c": "Failed",
                "Activation_Error_Message__c": "WHMCS was down",
            },
            {
                "attributes": {"type": "OrderItem"},
                "id": seeded.item_ids[0],
                "WHMCS_Service_ID__c": "501",
            },
        ],
    }

    with _rest_session(emulator_url, tls, signing_key) as rest:
        response = rest.patch("/composite/sobjects", json=body)

    assert response.status_code == 200
    assert response.json() == [
        {
            "success": False,
            "errors": [
                {
                    "statusCode": "STRING_TOO_LONG",
                    "message": "Activation Error Message: data value too large: WHMCS was down"
                    " (max length=13)",
                    "fields": ["Activation_Error_Message__c"],
                }
            ],
        },
        {
            "success": False,
            "errors": [
                {
                    "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                    "message": "Record rolled back because not all records were valid and the"
                    " request was using AllOrNone header",
                    "fields": [],
                }
            ],
        },
    ]


@pytest.mark.parametrize(
    ("error_code", "written", "message", "fields"),
    [
        (
            RecordErrorCode.ENTITY_IS_LOCKED,
            {"Activation_Status__c": "Activated"},
            "the entity is locked for editing",
            [],
        ),
        (
            RecordErrorCode.INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST,
            {"Activation_Status__c": "Done"},
            "Activation Status: bad value for restricted picklist field: Done",
            ["Activation_Status__c"],
        ),
        (
            RecordErrorCode.REQUIRED_FIELD_MISSING,
            {"Activation_Status__c": "Failed", "Activation_Error_Code__c": None},
            "Required fields are missing: [Activation_Error_Code__c]",
            ["Activation_Error_Code__c"],
        ),
    ],
)
def test_record_errors_carry_salesforce_s_messages(
    emulator_url: str,
    tls: TlsFiles,
    control: SalesforceEmulatorControl,
    signing_key: JwtKeyPair,
    error_code: RecordErrorCode,
    written: dict[str, Any],
    message: str,
    fields: list[str],
) -> None:
    seeded = _seed_order(control, (1,))
    control.inject_record_error(error_code)

    with _rest_session(emulator_url, tls, signing_key) as rest:
        response = rest.patch(f"/sobjects/Order/{seeded.order_id}", json=written)

    assert response.status_code == 400
    assert response.json() == [{"message": message, "errorCode": error_code, "fields": fields}]


def test_validation_rule_refusal_carries_the_rule_s_message(
    client: SalesforceClient, control: SalesforceEmulatorControl
) -> None:
    seeded = _seed_order(control, (1,))
    rule_message = "Activated Orders need a WHMCS order id"
    control.inject_record_error(
        RecordErrorCode.FIELD_CUSTOM_VALIDATION_EXCEPTION, message=rule_message
    )

    with pytest.raises(BusinessError) as raised:
        client.update_record("Order", seeded.order_id, {"Activation_Status__c": "Activated"})

    assert raised.value.code == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    assert raised.value.message == f"FIELD_CUSTOM_VALIDATION_EXCEPTION: {rule_message}"


def test_record_error_for_one_record_leaves_writes_to_others_alone(
    client: SalesforceClient, control: SalesforceEmulatorControl
) -> None:
    locked, other = _seed_order(control, (1,)), _seed_order(control, (1,))
    control.inject_record_error(
        RecordErrorCode.ENTITY_IS_LOCKED, record_id=locked.order_id, times=0
    )

    client.update_record("Order", other.order_id, {"Activation_Status__c": "Failed"})
    for _ in range(2):
        with pytest.raises(BusinessError, match="ENTITY_IS_LOCKED"):
            client.update_record("Order", locked.order_id, {"Activation_Status__c": "Failed"})
    control.clear_record_errors()
    client.update_record("Order", locked.order_id, {"Activation_Status__c": "Failed"})

    assert control.get_record("Order", other.order_id)["Activation_Status__c"] == "Failed"
    assert control.get_record("Order", locked.order_id)["Activation_Status__c"] == "Failed"
