"""ProvisionOrder on the time-skipping server, against the emulators over real HTTP(S)."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta

import psycopg
import pytest
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner

from contracts.provisioning import (
    ORDER_MEMO,
    ActivationStatus,
    OrderMemo,
    ProvisionOutcome,
    ProvisionPolicy,
    ProvisionStep,
    RetryRequest,
)
from emulators.faults import Fault, FaultKind
from integrations.config import DatabaseSettings, OrderMarker
from starters.cli.app import app
from starters.demo.local_vendors import LocalVendors
from starters.demo.sample_orders import (
    SampleOrderSpec,
    SampleProduct,
)
from tests.support.provisioning import Provision, failed_at, sample_order, wait_for_failure
from tests.support.temporal import deployment_for
from tests.support.worker_policies import with_policies
from workers.dependencies import Integrations
from workers.worker import running_workers
from workflows.provision_order import ALREADY_IN_PROGRESS, ProvisionOrder
from workflows.search_attributes import (
    ACTIVATION_STATUS,
    FAILED_STEP,
    ORDER_ID,
    SALESFORCE_ACCOUNT_ID,
    WHMCS_ORDER_ID,
)

POLICY = ProvisionPolicy()
"""The worker's defaults: 3 attempts, from 5 s, 30 days of waiting for a manual retry."""

pytestmark = pytest.mark.usefixtures("worker")


def order_record(vendors: LocalVendors, order_id: str) -> dict[str, object]:
    return vendors.salesforce.get_record("Order", order_id)


async def test_happy_path_activates_order_and_writes_whmcs_ids(
    env: WorkflowEnvironment,
    provision: Provision,
    vendors: LocalVendors,
    integrations: Integrations,
) -> None:
    order = await sample_order(vendors, integrations)

    result = await (await provision(order.order_id)).result()

    assert result.outcome is ProvisionOutcome.ACTIVATED
    [whmcs_order] = vendors.whmcs.orders(order.whmcs_client_id)
    assert whmcs_order.status == "Active"
    assert whmcs_order.notes == f"sfOrderId={order.order_id}"
    assert [service.billing_cycle for service in whmcs_order.services] == ["monthly", "monthly"]
    record = order_record(vendors, order.order_id)
    assert record["Activation_Status__c"] == "Activated"
    assert record["WHMCS_Order_ID__c"] == str(whmcs_order.id)
    for item_id, service in zip(order.item_ids, whmcs_order.services, strict=True):
        item = vendors.salesforce.get_record("OrderItem", item_id)
        assert item["WHMCS_Service_ID__c"] == str(service.id)
    assert result.service_ids_by_item == {
        item_id: [service.id]
        for item_id, service in zip(order.item_ids, whmcs_order.services, strict=True)
    }


async def test_an_item_of_quantity_two_gets_two_services(
    provision: Provision, vendors: LocalVendors, integrations: Integrations
) -> None:
    spec = SampleOrderSpec(products=(SampleProduct("SIM", quantity=2), SampleProduct("Voice")))
    order = await sample_order(vendors, integrations, spec)

    result = await (await provision(order.order_id)).result()

    [whmcs_order] = vendors.whmcs.orders(order.whmcs_client_id)
    sims, voice = whmcs_order.services[:2], whmcs_order.services[2]
    assert result.service_ids_by_item == {
        order.item_ids[0]: [service.id for service in sims],
        order.item_ids[1]: [voice.id],
    }
    item = vendors.salesforce.get_record("OrderItem", order.item_ids[0])
    assert item["WHMCS_Service_ID__c"] == f"{sims[0].id},{sims[1].id}"


async def test_happy_path_uses_two_salesforce_calls_and_sets_search_attributes(
    env: WorkflowEnvironment,
    provision: Provision,
    vendors: LocalVendors,
    integrations: Integrations,
) -> None:
    """The approved Order is already Activating with no last error: nothing to write before
    the result."""
    order = await sample_order(vendors, integrations)

    handle = await provision(order.order_id)
    result = await handle.result()

    calls = vendors.salesforce.call_counts()
    assert (calls.get("query"), calls.get("update"), calls.get("composite")) == (1, None, 1)
    description = await handle.describe()
    attributes = description.typed_search_attributes
    assert attributes.get(ORDER_ID) == order.order_id
    assert attributes.get(ACTIVATION_STATUS) == "Activated"
    assert attributes.get(SALESFORCE_ACCOUNT_ID) == order.account_id
    assert attributes.get(WHMCS_ORDER_ID) == str(result.whmcs_order_id)
    assert attributes.get(FAILED_STEP) is None
    memo = await description.memo_value(ORDER_MEMO, type_hint=OrderMemo)
    assert memo.summary.endswith(f"for Account {order.account_id}, 2 item(s)")
    assert (memo.runs, memo.failure_message) == (1, None)


async def test_last_error_left_on_an_activating_order_is_cleared_first(
    env: WorkflowEnvironment,
    provision: Provision,
    vendors: LocalVendors,
    integrations: Integrations,
) -> None:
    spec = SampleOrderSpec(last_error=("503", "WHMCS was down"))
    order = await sample_order(vendors, integrations, spec)

    await (await provision(order.order_id)).result()

    calls = vendors.salesforce.call_counts()
    assert (calls.get("query"), calls.get("update"), calls.get("composite")) == (1, 1, 1)


async def test_already_activated_order_is_skipped_without_touching_whmcs(
    env: WorkflowEnvironment,
    provision: Provision,
    vendors: LocalVendors,
    integrations: Integrations,
) -> None:
    order = await sample_order(
        vendors, integrations, SampleOrderSpec(activation_status=ActivationStatus.ACTIVATED)
    )
    vendors.whmcs.reset()

    result = await (await provision(order.order_id)).result()

    assert result.outcome is ProvisionOutcome.SKIPPED
    assert result.reason == "Order is already Activated"
    assert vendors.whmcs.call_counts() == {}


async def test_missing_payment_method_fails_with_409_then_manual_retry_resumes(
    env: WorkflowEnvironment,
    provision: Provision,
    vendors: LocalVendors,
    integrations: Integrations,
) -> None:
    order = await sample_order(vendors, integrations, SampleOrderSpec(has_payment_method=False))
    handle = await provision(order.order_id)

    status = await wait_for_failure(env, handle)

    assert failed_at(status) == (ProvisionStep.PAYMENT_METHOD, "409")
    record = order_record(vendors, order.order_id)
    assert record["Activation_Status__c"] == "Failed"
    assert record["Activation_Error_Code__c"] == "409"
    assert record["Activation_Error_Message__c"] == "Payment method missing"
    assert "AddOrder" not in vendors.whmcs.call_counts()
    assert status.current_step == ProvisionStep.PAYMENT_METHOD

    vendors.whmcs.add_pay_method(order.whmcs_client_id)
    answer = await handle.execute_update(ProvisionOrder.request_retry, RetryRequest())
    result = await handle.result()

    assert answer.accepted
    assert answer.message == "Retry accepted: resuming at payment_method"
    assert result.outcome is ProvisionOutcome.ACTIVATED
    assert vendors.salesforce.call_counts()["query"] == 1  # validation was not repeated
    assert order_record(vendors, order.order_id)["Activation_Error_Code__c"] is None
    assert (await handle.query(ProvisionOrder.status)).runs == 2


async def test_missing_mappings_are_all_named_in_one_report(
    env: WorkflowEnvironment,
    provision: Provision,
    vendors: LocalVendors,
    integrations: Integrations,
) -> None:
    spec = SampleOrderSpec(
        products=(
            SampleProduct("Mapped SIM"),
            SampleProduct("Unmapped Router", in_whmcs=False),
            SampleProduct("No Cycle Option", billing_cycle=None),
        )
    )
    order = await sample_order(vendors, integrations, spec)

    status = await wait_for_failure(env, await provision(order.order_id))

    assert failed_at(status) == (ProvisionStep.MAPPING, "MAPPING")
    assert status.last_error is not None
    message = status.last_error.message
    assert order.item_ids[0] not in message
    assert f"OrderItem {order.item_ids[1]} (Unmapped Router) has no Product2.WH_Product_ID__c" in (
        message
    )
    assert f"OrderItem {order.item_ids[2]} (No Cycle Option) has no Product2.Billing_Cycle__c" in (
        message
    )
    assert order_record(vendors, order.order_id)["Activation_Error_Code__c"] == "MAPPING"


async def test_a_billing_cycle_whmcs_does_not_sell_fails_at_mapping_before_add_order(
    env: WorkflowEnvironment,
    provision: Provision,
    vendors: LocalVendors,
    integrations: Integrations,
) -> None:
    """WHMCS would bill another cycle without a word; the order stops at mapping instead,
    and a retry after the cycle is added in WHMCS carries on at once."""
    spec = SampleOrderSpec(products=(SampleProduct("Router", billing_cycle="Annually"),))
    order = await sample_order(vendors, integrations, spec)

    handle = await provision(order.order_id)
    status = await wait_for_failure(env, handle)
    [product] = vendors.whmcs.products()
    vendors.whmcs.add_product(
        product.name, product_id=product.id, billing_cycles=("monthly", "annually")
    )
    await handle.execute_update(ProvisionOrder.request_retry, RetryRequest(reason="cycle added"))
    result = await handle.result()

    assert failed_at(status) == (ProvisionStep.MAPPING, "MAPPING")
    assert status.last_error is not None
    assert f"product {product.id} (Router) is not sold annually (only: monthly)" in (
        status.last_error.message
    )
    assert result.outcome is ProvisionOutcome.ACTIVATED
    [whmcs_order] = vendors.whmcs.orders(order.whmcs_client_id)
    assert [service.billing_cycle for service in whmcs_order.services] == ["annually"]


async def test_unreadable_id_mappings_fail_at_mapping_and_a_retry_carries_on(
    env: WorkflowEnvironment,
    provision: Provision,
    vendors: LocalVendors,
    integrations: Integrations,
    database: DatabaseSettings,
) -> None:
    """The lookup runs in the same activity as AddOrder, yet PostgreSQL refusing it is reported
    at `mapping`, as the runbook says, and nothing reaches WHMCS before it is known."""
    order = await sample_order(vendors, integrations)
    async with await psycopg.AsyncConnection.connect(database.url, autocommit=True) as admin:
        await admin.execute("ALTER TABLE id_mappings RENAME TO id_mappings_away")
        try:
            handle = await provision(order.order_id)
            status = await wait_for_failure(env, handle)
        finally:
            await admin.execute("ALTER TABLE id_mappings_away RENAME TO id_mappings")
    calls_while_failing = vendors.whmcs.call_counts()
    await handle.execute_update(ProvisionOrder.request_retry, RetryRequest(reason="database back"))
    result = await handle.result()

    assert failed_at(status) == (ProvisionStep.MAPPING, "ECONNECTION")
    assert status.last_error is not None
    assert "PostgreSQL id_mappings" in status.last_error.message
    assert [calls_while_failing.get(call, 0) for call in ("GetPayMethods", "AddOrder")] == [0, 0]
    assert result.outcome is ProvisionOutcome.ACTIVATED
    assert vendors.whmcs.call_counts()["AddOrder"] == 1


async def test_transient_503_recovers_within_the_retry_policy(
    env: WorkflowEnvironment,
    provision: Provision,
    vendors: LocalVendors,
    integrations: Integrations,
) -> None:
    order = await sample_order(vendors, integrations)
    vendors.whmcs.inject(Fault(target="AddOrder", kind=FaultKind.HTTP_503, times=2))

    result = await (await provision(order.order_id)).result()

    assert result.outcome is ProvisionOutcome.ACTIVATED
    assert vendors.whmcs.call_counts()["AddOrder"] == 3
    assert len(vendors.whmcs.orders(order.whmcs_client_id)) == 1


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        (Fault(target="GetPayMethods", kind=FaultKind.HTTP_503, times=0), "503"),
        (Fault(target="GetPayMethods", kind=FaultKind.TIMEOUT, times=0, seconds=3), "ETIMEOUT"),
        (Fault(target="GetPayMethods", kind=FaultKind.RATE_LIMIT, times=0), "429"),
    ],
)
async def test_exhausted_retries_mark_the_order_failed_with_the_error_code(
    env: WorkflowEnvironment,
    provision: Provision,
    vendors: LocalVendors,
    integrations: Integrations,
    fault: Fault,
    code: str,
) -> None:
    order = await sample_order(vendors, integrations)
    vendors.whmcs.inject(fault)

    status = await wait_for_failure(env, await provision(order.order_id))

    assert status.last_error is not None
    assert status.last_error.code == code
    assert "GetPayMethods" in status.last_error.message
    assert vendors.whmcs.call_counts()["GetPayMethods"] == POLICY.max_attempts
    record = order_record(vendors, order.order_id)
    assert (record["Activation_Status__c"], record["Activation_Error_Code__c"]) == ("Failed", code)


async def test_retry_after_failed_accept_does_not_add_a_second_order(
    env: WorkflowEnvironment,
    provision: Provision,
    vendors: LocalVendors,
    integrations: Integrations,
) -> None:
    order = await sample_order(vendors, integrations)
    vendors.whmcs.inject(Fault(target="AcceptOrder", kind=FaultKind.HTTP_503, times=0))
    handle = await provision(order.order_id)
    status = await wait_for_failure(env, handle)
    assert status.last_error is not None
    assert status.last_error.step is ProvisionStep.WHMCS_ACCEPT

    vendors.whmcs.clear_faults()
    await handle.signal(ProvisionOrder.retry, RetryRequest(reason="test"))
    result = await handle.result()

    assert result.outcome is ProvisionOutcome.ACTIVATED
    assert vendors.whmcs.call_counts()["AddOrder"] == 1
    [whmcs_order] = vendors.whmcs.orders(order.whmcs_client_id)
    assert whmcs_order.status == "Active"
    assert result.whmcs_order_id == whmcs_order.id


async def test_add_order_committed_then_timed_out_yields_exactly_one_whmcs_order(
    env: WorkflowEnvironment,
    provision: Provision,
    vendors: LocalVendors,
    integrations: Integrations,
) -> None:
    order = await sample_order(vendors, integrations)
    vendors.whmcs.inject(Fault(target="AddOrder", kind=FaultKind.COMMIT_THEN_TIMEOUT, seconds=3))

    result = await (await provision(order.order_id)).result()

    assert result.outcome is ProvisionOutcome.ACTIVATED
    assert vendors.whmcs.call_counts()["AddOrder"] == 1
    [whmcs_order] = vendors.whmcs.orders(order.whmcs_client_id)
    assert result.whmcs_order_id == whmcs_order.id
    assert order_record(vendors, order.order_id)["WHMCS_Order_ID__c"] == str(whmcs_order.id)


async def test_a_clean_order_is_added_without_looking_for_an_earlier_one(
    env: WorkflowEnvironment,
    provision: Provision,
    vendors: LocalVendors,
    integrations: Integrations,
) -> None:
    """The journal says no AddOrder was sent before: no GetOrders scan of the client."""
    order = await sample_order(vendors, integrations)

    await (await provision(order.order_id)).result()

    calls = vendors.whmcs.call_counts()
    assert (calls["AddOrder"], calls.get("GetOrders", 0)) == (1, 0)


async def test_add_order_that_timed_out_uncommitted_is_sent_again_once_settled(
    env: WorkflowEnvironment,
    provision: Provision,
    vendors: LocalVendors,
    integrations: Integrations,
) -> None:
    order = await sample_order(vendors, integrations)
    vendors.whmcs.inject(Fault(target="AddOrder", kind=FaultKind.TIMEOUT, seconds=3))

    result = await (await provision(order.order_id)).result()

    assert result.outcome is ProvisionOutcome.ACTIVATED
    assert vendors.whmcs.call_counts()["AddOrder"] == 2
    [whmcs_order] = vendors.whmcs.orders(order.whmcs_client_id)
    assert result.whmcs_order_id == whmcs_order.id


async def test_add_order_that_may_still_run_on_the_whmcs_host_is_not_sent_again(
    env: WorkflowEnvironment,
    provision: Provision,
    vendors: LocalVendors,
    integrations: Integrations,
) -> None:
    """Within WHMCS_ORDER_SETTLE_TIME of a timed-out AddOrder, a retry looks, never adds."""
    order = await sample_order(vendors, integrations)
    vendors.whmcs.inject(Fault(target="AddOrder", kind=FaultKind.TIMEOUT, seconds=3))
    slow_host = dataclasses.replace(
        integrations,
        whmcs_settings=integrations.whmcs_settings.model_copy(
            update={"order_settle_time": timedelta(minutes=1)}
        ),
    )
    async with running_workers(env.client, "slow-host", slow_host, deployment_for("slow-host")):
        status = await wait_for_failure(env, await provision(order.order_id, "slow-host"))

    assert failed_at(status) == (ProvisionStep.WHMCS_CREATE, "EPENDING")
    assert vendors.whmcs.call_counts()["AddOrder"] == 1


async def test_without_a_marker_an_ambiguous_add_order_waits_for_an_operator(
    env: WorkflowEnvironment,
    provision: Provision,
    vendors: LocalVendors,
    integrations: Integrations,
    database: DatabaseSettings,
) -> None:
    """WHMCS_ORDER_MARKER=none: a retry never adds blindly; the operator checks WHMCS, says
    which order the timed-out AddOrder created, and the retry carries on with that one."""
    order = await sample_order(vendors, integrations)
    vendors.whmcs.inject(Fault(target="AddOrder", kind=FaultKind.COMMIT_THEN_TIMEOUT, seconds=3))
    no_marker = dataclasses.replace(
        integrations,
        whmcs_settings=integrations.whmcs_settings.model_copy(
            update={"order_marker": OrderMarker.NONE}
        ),
    )
    async with running_workers(env.client, "no-marker", no_marker, deployment_for("no-marker")):
        handle = await provision(order.order_id, "no-marker")
        status = await wait_for_failure(env, handle)
        [created] = vendors.whmcs.orders(order.whmcs_client_id)
        resolved = await asyncio.to_thread(
            CliRunner().invoke,
            app,
            ["order", "resolve", order.order_id, "--whmcs-order", str(created.id)],
            env={"DATABASE_URL": database.url},
        )
        await handle.execute_update(ProvisionOrder.request_retry, RetryRequest(reason="resolved"))
        result = await handle.result()

    assert failed_at(status) == (ProvisionStep.WHMCS_CREATE, "OUTCOME_UNKNOWN")
    assert status.last_error is not None
    assert status.last_error.message.startswith(
        f"outcome unknown: check WHMCS orders of client {order.whmcs_client_id} since "
    )
    assert resolved.exit_code == 0, resolved.output
    assert result.outcome is ProvisionOutcome.ACTIVATED
    assert result.whmcs_order_id == created.id
    assert vendors.whmcs.call_counts()["AddOrder"] == 1


async def test_second_start_for_the_same_order_joins_the_first_workflow_as_a_retry(
    env: WorkflowEnvironment,
    provision: Provision,
    vendors: LocalVendors,
    integrations: Integrations,
) -> None:
    order = await sample_order(vendors, integrations, SampleOrderSpec(has_payment_method=False))
    first = await provision(order.order_id)
    await wait_for_failure(env, first)
    vendors.whmcs.add_pay_method(order.whmcs_client_id)

    second = await provision(order.order_id)
    result = await first.result()

    assert second.result_run_id == first.result_run_id
    assert result.outcome is ProvisionOutcome.ACTIVATED
    assert (await first.query(ProvisionOrder.status)).runs == 2
    assert len(vendors.whmcs.orders(order.whmcs_client_id)) == 1


async def test_retry_while_running_answers_already_in_progress(
    env: WorkflowEnvironment,
    provision: Provision,
    vendors: LocalVendors,
    integrations: Integrations,
) -> None:
    order = await sample_order(vendors, integrations, SampleOrderSpec(has_payment_method=False))
    handle = await provision(order.order_id)
    await wait_for_failure(env, handle)
    # Keep the resumed run busy: its first call, marking the Order Activating, hangs.
    vendors.salesforce.inject(Fault(target="update", kind=FaultKind.TIMEOUT, seconds=2, times=0))

    first = await handle.execute_update(ProvisionOrder.request_retry, RetryRequest())
    second = await handle.execute_update(ProvisionOrder.request_retry, RetryRequest())

    assert first.accepted
    assert (second.accepted, second.message) == (False, ALREADY_IN_PROGRESS)
    vendors.salesforce.clear_faults()
    assert (await wait_for_failure(env, handle)).runs == 2  # one resumed run, not two


async def test_bad_order_id_is_refused_before_anything_starts(provision: Provision) -> None:
    with pytest.raises(ValueError, match="'801-nope' is not a Salesforce Order Id"):
        await provision("801-nope")


async def test_order_not_found_fails_with_404(
    env: WorkflowEnvironment, provision: Provision, vendors: LocalVendors
) -> None:
    status = await wait_for_failure(env, await provision("801000000000000AAA"))

    assert failed_at(status) == (ProvisionStep.VALIDATION, "404")


async def test_manual_retry_wait_expires_as_failed(
    env: WorkflowEnvironment,
    provision: Provision,
    vendors: LocalVendors,
    integrations: Integrations,
) -> None:
    if not env.supports_time_skipping:
        pytest.skip("waits an hour of workflow time")
    order = await sample_order(vendors, integrations, SampleOrderSpec(has_payment_method=False))
    one_hour = with_policies(
        integrations, provisioning=POLICY.model_copy(update={"manual_retry_wait": "1h"})
    )
    async with running_workers(
        env.client, "one-hour-wait", one_hour, deployment_for("one-hour-wait")
    ):
        handle = await provision(order.order_id, "one-hour-wait")
        await wait_for_failure(env, handle)
        await env.sleep(timedelta(hours=1))

        result = await handle.result()

    assert result.outcome is ProvisionOutcome.FAILED
    assert result.reason == "no retry within 1:00:00"
    memo = await (await handle.describe()).memo_value(ORDER_MEMO, type_hint=OrderMemo)
    assert memo.failure_message == "Payment method missing"  # still what `order list` shows
