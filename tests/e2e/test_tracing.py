"""One order is one trace: the bridge's Platform Event span, then the ProvisionOrder workflow,
its activities and every vendor HTTP call down to the Salesforce write-back, with nothing
secret in any span. Real dev server, emulators over HTTP(S), spans in an in-memory exporter.

The tree is asserted by ancestry, not by exact activity span names, so it holds whether a
step runs as an activity or a local activity."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from temporalio.testing import WorkflowEnvironment

from contracts.provisioning import ProvisionOutcome, provision_workflow_id
from integrations import tracing
from integrations.config import DatabaseSettings
from integrations.temporal import connect
from starters.demo.local_vendors import LocalVendors
from tests.support.bridges import positioned_bridge
from tests.support.provisioning import unapproved_order
from tests.support.temporal import deployment_for
from workers.dependencies import Integrations
from workers.worker import running_workers
from workflows.provision_order import ProvisionOrder

pytestmark = pytest.mark.e2e

QUIET_SECONDS = 2.0
URL_KEYS = ("http.url", "url.full")
WORKFLOW_STARTS = {"StartWorkflow:ProvisionOrder", "SignalWithStartWorkflow:ProvisionOrder"}


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    spans = InMemorySpanExporter()
    tracing.start(spans, "portal-test")
    try:
        yield spans
    finally:
        tracing.stop()


@pytest.fixture
def vendors(vendors: LocalVendors) -> LocalVendors:
    """Short long polls: the one-off bridge below stops soon after the last event."""
    vendors.salesforce.set_connect_hold(0.5)
    return vendors


class Trace:
    def __init__(self, spans: list[ReadableSpan]) -> None:
        self.spans = spans
        self._by_id = {span.context.span_id: span for span in spans}

    def ancestors(self, span: ReadableSpan) -> Iterator[ReadableSpan]:
        while span.parent is not None and span.parent.span_id in self._by_id:
            span = self._by_id[span.parent.span_id]
            yield span

    def descends_from(self, span: ReadableSpan, ancestor: ReadableSpan) -> bool:
        return any(parent is ancestor for parent in self.ancestors(span))

    def named(self, name: str) -> list[ReadableSpan]:
        return [span for span in self.spans if span.name == name]

    def roots(self) -> list[ReadableSpan]:
        return [span for span in self.spans if next(self.ancestors(span), None) is None]


def url_of(span: ReadableSpan) -> str | None:
    attributes = span.attributes or {}
    return next((str(attributes[key]) for key in URL_KEYS if key in attributes), None)


def http_calls_to(trace: Trace, base_url: str) -> list[ReadableSpan]:
    host = urlsplit(base_url).netloc
    return [
        span
        for span in trace.spans
        if span.kind is SpanKind.CLIENT and urlsplit(url_of(span) or "").netloc == host
    ]


@pytest.fixture
async def traced_order(
    exporter: InMemorySpanExporter,
    dev_env: WorkflowEnvironment,
    task_queue: str,
    vendors: LocalVendors,
    integrations: Integrations,
    database: DatabaseSettings,
) -> str:
    """An order approved in Salesforce, handed over by the bridge, provisioned by the worker,
    all on a client connected after tracing started (as `portalctl` does)."""
    address = dev_env.client.service_client.config.target_host
    client = await connect(environment={"TEMPORAL_ADDRESS": address})
    order = await unapproved_order(vendors, integrations)
    vendors.salesforce.approve_order(order.order_id)
    async with running_workers(client, task_queue, integrations, deployment_for(task_queue)):
        async with positioned_bridge(
            client, task_queue=task_queue, vendors=vendors, database=database
        ) as bridge:
            await bridge.run(stop_when_quiet_for=QUIET_SECONDS)
        handle = client.get_workflow_handle_for(
            ProvisionOrder.run, provision_workflow_id(order.order_id)
        )
        assert (await handle.result()).outcome is ProvisionOutcome.ACTIVATED
    return order.order_id


async def test_one_order_is_one_trace_from_the_event_to_the_salesforce_write_back(
    traced_order: str,
    exporter: InMemorySpanExporter,
    vendors: LocalVendors,
) -> None:
    order_id = traced_order
    tracing.stop()  # flushes the batch processor
    spans = list(exporter.get_finished_spans())
    (event,) = [
        span
        for span in spans
        if span.name.startswith("PlatformEvent ")
        and (span.attributes or {}).get("salesforce.order_id") == order_id
    ]
    order = Trace([span for span in spans if span.context.trace_id == event.context.trace_id])
    (start,) = [span for span in order.spans if span.name in WORKFLOW_STARTS]
    (workflow,) = order.named("RunWorkflow:ProvisionOrder")
    whmcs = http_calls_to(order, vendors.whmcs_settings.api_url)
    salesforce = http_calls_to(order, vendors.salesforce_settings.login_url)
    calls = [*whmcs, *salesforce]

    assert order.roots() == [event]
    assert order.descends_from(start, event)
    assert order.descends_from(workflow, start)
    assert whmcs
    assert salesforce
    for call in calls:
        # TracingInterceptor parents a workflow's activities on its start, beside RunWorkflow.
        assert order.descends_from(call, start), call.name
        assert any(parent.name.startswith("RunActivity:") for parent in order.ancestors(call))
    write_back = max(calls, key=lambda span: span.end_time or 0)
    assert write_back in salesforce
    assert (write_back.attributes or {})["http.method"] == "PATCH"
    workflow_id = provision_workflow_id(order_id)
    elsewhere = [
        span
        for span in spans
        if (span.attributes or {}).get("temporalWorkflowID") == workflow_id
        and span.context.trace_id != event.context.trace_id
    ]
    assert elsewhere == []


async def test_no_span_attribute_holds_a_secret_or_a_query_string(
    traced_order: str,
    exporter: InMemorySpanExporter,
    vendors: LocalVendors,
) -> None:
    tracing.stop()
    assert vendors.salesforce_settings.private_key_path is not None
    key_lines = vendors.salesforce_settings.private_key_path.read_text().splitlines()
    secrets = [
        key_lines[1],  # the first line of the JWT key's body
        vendors.whmcs_settings.api_secret.get_secret_value(),
        vendors.freebit_settings.oem_key.get_secret_value(),
        vendors.secrets_settings.master_key.get_secret_value(),
    ]
    values = [
        str(value)
        for span in exporter.get_finished_spans()
        for value in (span.attributes or {}).values()
    ]

    assert values
    assert [value for value in values if any(secret in value for secret in secrets)] == []
    urls = [url for span in exporter.get_finished_spans() if (url := url_of(span))]
    assert urls
    assert [url for url in urls if urlsplit(url).query] == []
