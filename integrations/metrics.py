"""Prometheus metrics of this service, exposed at `GET /metrics` by the worker and the bridge.

- `portal_integration_request_seconds{integration, operation}` and
  `portal_integration_errors_total{integration, code}`: every activity, by its task queue's
  integration and its activity type (activities/metrics.py measures them).
- `portal_freebit_token_cache_total{result="hit"|"miss"}`: the shared authKey cache.
- From the latest scheduled health checks (PostgreSQL, so every process shows the same):
  `portal_integration_health_status{integration}` (0 ok, 1 warning, 2 critical, 3 down),
  `portal_integration_health_latency_seconds{integration}`,
  `portal_integration_health_checked_timestamp_seconds{integration}` and
  `portal_salesforce_api_usage{kind="used"|"limit"}` (from `Sforce-Limit-Info`).
- The bridge's Platform Events: `portal_platform_events_received_total{channel}` (delivered by
  Salesforce), `portal_platform_events_handled_total{channel, outcome}` (`started`: workflows
  started; `rejected`: parked in the dead-letter; `already running`, `already done`),
  `portal_platform_event_lag_seconds{channel}` (the event's CreatedDate to Temporal
  acknowledging its workflow start or signal) and
  `portal_platform_event_replay_ids_stored_total{channel}` (replay ids written to Redis) and
  `portal_platform_event_transport{channel, transport}` (1 for the transport subscribed
  with: pubsub or cometd; the last replay id is on `/health`, opaque ids make no metric).
- The bridge's leader lease: `portal_bridge_leader{channel}` (1 leader, 0 standby),
  `portal_bridge_lease_token{channel}` and `portal_bridge_leader_terms_total{channel}`.
- The Temporal SDK's own metrics (`temporal_*`), which its runtime exports on a loopback
  port (`temporal_metrics_runtime`) and `/metrics` passes on.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping

import httpx
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from contracts.health import Integration
from integrations.health.store import StoredHealth

LOOPBACK = "127.0.0.1"
SCRAPE_TIMEOUT_SECONDS = 2.0

REQUEST_SECONDS = Histogram(
    "portal_integration_request_seconds",
    "Duration of calls to an integration (one activity), by operation.",
    ["integration", "operation"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 30, 60),
)
ERRORS = Counter(
    "portal_integration_errors",
    "Failed calls to an integration, by error code (429, 503, ETIMEOUT, AUTH, ...).",
    ["integration", "code"],
)
FREEBIT_TOKEN_CACHE = Counter(
    "portal_freebit_token_cache",
    "Freebit authKey lookups: served from a cache (hit) or by a new authentication (miss).",
    ["result"],
)
PLATFORM_EVENTS_RECEIVED = Counter(
    "portal_platform_events_received",
    "Platform Events delivered by Salesforce to the bridge.",
    ["channel"],
)
PLATFORM_EVENTS_HANDLED = Counter(
    "portal_platform_events_handled",
    "Platform Events the bridge is done with, by outcome: started (a workflow started), "
    "already running (signalled), already done, rejected (parked in the intake dead-letter).",
    ["channel", "outcome"],
)
PLATFORM_EVENT_LAG = Histogram(
    "portal_platform_event_lag_seconds",
    "From a Platform Event's CreatedDate to Temporal acknowledging its workflow start or signal.",
    ["channel"],
    buckets=(0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 3600),
)
REPLAY_IDS_STORED = Counter(
    "portal_platform_event_replay_ids_stored",
    "Replay ids of handed-over Platform Events written to Redis.",
    ["channel"],
)
PLATFORM_EVENT_TRANSPORT = Gauge(
    "portal_platform_event_transport",
    "1 for the transport the bridge subscribes with (pubsub: the Pub/Sub API, cometd).",
    ["channel", "transport"],
)
BRIDGE_LEADER = Gauge(
    "portal_bridge_leader",
    "1 while this bridge subscribes to the channel (the leader), 0 while it stands by.",
    ["channel"],
)
BRIDGE_LEASE_TOKEN = Gauge(
    "portal_bridge_lease_token",
    "Fencing token of this bridge's term as leader; 0 when it holds no lease.",
    ["channel"],
)
BRIDGE_LEADER_TERMS = Counter(
    "portal_bridge_leader_terms",
    "Terms this bridge began as leader (a failover or a restart begins one).",
    ["channel"],
)


def process_exposition() -> bytes:
    """This process's own metrics (and Python's process and GC collectors)."""
    return generate_latest(REGISTRY)


def health_exposition(stored: Mapping[Integration, StoredHealth]) -> bytes:
    registry = CollectorRegistry()
    status = Gauge(
        "portal_integration_health_status",
        "Latest scheduled health check: 0 ok, 1 warning, 2 critical, 3 down.",
        ["integration"],
        registry=registry,
    )
    latency = Gauge(
        "portal_integration_health_latency_seconds",
        "Response time of the latest scheduled health check.",
        ["integration"],
        registry=registry,
    )
    checked = Gauge(
        "portal_integration_health_checked_timestamp_seconds",
        "When the latest scheduled health check ran (Unix time).",
        ["integration"],
        registry=registry,
    )
    api_usage = Gauge(
        "portal_salesforce_api_usage",
        "Salesforce daily API requests (Sforce-Limit-Info at the latest health check).",
        ["kind"],
        registry=registry,
    )
    for integration, entry in stored.items():
        result = entry.result
        status.labels(integration.value).set(result.status.level)
        latency.labels(integration.value).set(result.latency_ms / 1000)
        checked.labels(integration.value).set(result.checked_at.timestamp())
        if result.api_usage is not None:
            api_usage.labels("used").set(result.api_usage.used)
            api_usage.labels("limit").set(result.api_usage.limit)
    return generate_latest(registry)


def temporal_metrics_runtime(port: int) -> Runtime:
    """A Temporal runtime exporting the SDK's metrics in Prometheus format on loopback `port`.

    Clients (and their workers) created with it report there; make it the default with
    `Runtime.set_default` before the first client is created.
    """
    return Runtime(
        telemetry=TelemetryConfig(
            metrics=PrometheusConfig(
                bind_address=f"{LOOPBACK}:{port}",
                counters_total_suffix=True,
                durations_as_seconds=True,
            )
        )
    )


def free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


async def temporal_exposition(http: httpx.AsyncClient, port: int) -> bytes:
    """The SDK's metrics from its exporter; empty when it does not answer."""
    try:
        response = await http.get(
            f"http://{LOOPBACK}:{port}/metrics", timeout=SCRAPE_TIMEOUT_SECONDS
        )
        response.raise_for_status()
    except httpx.HTTPError:
        return b""
    return response.content
