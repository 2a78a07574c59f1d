"""OpenTelemetry tracing: one order is one trace, from the bridge's Platform Event through its
ProvisionOrder workflow and activities to every vendor HTTP call and the Salesforce
write-back.

Spans come from the Temporal SDK's `TracingInterceptor` (client and worker: StartWorkflow,
RunWorkflow, StartActivity, RunActivity, with the trace context carried in Temporal headers),
from the HTTP client instrumentations (httpx: WHMCS, Freebit, the Salesforce login;
requests: simple-salesforce's REST calls) and from the bridge, one span per Platform Event.

Off by default. On in a process when OTEL_EXPORTER_OTLP_ENDPOINT or
OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set and OTEL_SDK_DISABLED is not `true`: spans go by
OTLP over HTTP/protobuf, and the other standard variables apply (OTEL_SERVICE_NAME,
OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER / _ARG, OTEL_EXPORTER_OTLP_HEADERS, ..._TIMEOUT,
OTEL_BSP_*).

No secret or personal data in span attributes: credentials travel in request bodies and
headers, which no span records, and a URL is recorded without its query string (a SOQL query
or a lookup could name a person).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.instrumentation.requests import RequestsInstrumentor
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import Span, SpanKind, Tracer
from temporalio.contrib.opentelemetry import TracingInterceptor

from integrations.salesforce.models import is_record_id

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
URL_ATTRIBUTES = ("http.url", "url.full")


def enabled(environment: Mapping[str, str]) -> bool:
    if environment.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return any(environment.get(variable) for variable in ENDPOINT_VARIABLES)


def _without_query(span: Span, *_: Any) -> None:
    """Request hook of both HTTP instrumentations: the URL without its query string."""
    attributes = getattr(span, "attributes", None) or {}
    for key in URL_ATTRIBUTES:
        url = attributes.get(key)
        if isinstance(url, str):
            span.set_attribute(key, urlunsplit(urlsplit(url)._replace(query="", fragment="")))


async def _without_query_async(span: Span, *args: Any) -> None:
    _without_query(span, *args)


@dataclass(frozen=True)
class Tracing:
    provider: TracerProvider

    @property
    def tracer(self) -> Tracer:
        return self.provider.get_tracer(__name__)

    def temporal_interceptor(self) -> TracingInterceptor:
        return TracingInterceptor(self.tracer)

    def instrument_http_clients(self) -> None:
        HTTPXClientInstrumentor().instrument(
            tracer_provider=self.provider,
            request_hook=_without_query,
            async_request_hook=_without_query_async,
        )
        RequestsInstrumentor().instrument(
            tracer_provider=self.provider, request_hook=_without_query
        )

    def close(self) -> None:
        HTTPXClientInstrumentor().uninstrument()
        RequestsInstrumentor().uninstrument()
        self.provider.shutdown()


_active: Tracing | None = None


def start(exporter: SpanExporter, service_name: str) -> Tracing:
    """Trace this process from now on (Temporal clients connected after this, HTTP clients,
    the bridge's events) into `exporter`."""
    global _active
    resource = Resource.create(
        {} if os.environ.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: service_name}
    )
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    tracing = Tracing(provider)
    tracing.instrument_http_clients()
    _active = tracing
    return tracing


def stop() -> None:
    """Flush and end tracing (what `start` began)."""
    global _active
    if _active is not None:
        _active.close()
        _active = None


def start_from_environment(service_name: str) -> Tracing | None:
    """Tracing as the OTEL_* variables say: OTLP to their endpoint, or off."""
    if not enabled(os.environ):
        return None
    return start(OTLPSpanExporter(), service_name)


def temporal_interceptors() -> list[TracingInterceptor]:
    """For a Temporal client (and the workers built on it): tracing, when it is on."""
    return [] if _active is None else [_active.temporal_interceptor()]


@contextmanager
def platform_event_span(channel: str, replay_id: object, order_id: object) -> Iterator[None]:
    """The bridge's span of one Platform Event, parent of its workflow start (when on). A
    Pub/Sub replay id (bytes) in hex; the order id only when it is a Salesforce record id (a
    bad event's field could hold anything)."""
    if _active is None:
        yield
        return
    attributes = {
        "messaging.system": "salesforce",
        "messaging.destination.name": channel,
        "salesforce.replay_id": replay_id.hex() if isinstance(replay_id, bytes) else str(replay_id),
    }
    if isinstance(order_id, str) and is_record_id(order_id):
        attributes["salesforce.order_id"] = order_id
    name = f"PlatformEvent {channel}"
    with _active.tracer.start_as_current_span(name, kind=SpanKind.CONSUMER, attributes=attributes):
        yield
