"""Every metric an alerting rule or a Grafana dashboard queries is exported, with the labels
the query uses: `portalctl worker` and `portalctl bridge` run as the operator runs them, one
order goes from its Platform Event to Activated (one WHMCS call failing once on the way), the
five scheduled health checks run once, then both `/metrics` are scraped. The bridge leads its
channel (it has Redis) and the worker exports its task queues' backlog."""

from __future__ import annotations

import asyncio
import os
from collections import defaultdict
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from temporalio.testing import WorkflowEnvironment

from contracts.health import HealthCheckInput, Integration
from emulators.faults import Fault, FaultKind
from integrations.config import DatabaseSettings
from integrations.metrics import free_loopback_port
from starters.demo.local_vendors import LocalVendors
from starters.demo.portal_processes import portal_processes
from starters.demo.redis_server import running_redis_server
from tests.support.metric_usage import Usage, dashboard_expressions, rule_expressions, usage
from tests.support.polling import wait_until
from tests.support.process_environment import portal_environment
from tests.support.provisioning import unapproved_order
from workers.dependencies import Integrations
from workflows.health_check import HealthCheck

pytestmark = pytest.mark.e2e

CHECKED = (
    Integration.SALESFORCE,
    Integration.WHMCS,
    Integration.FREEBIT,
    Integration.REDIS,
    Integration.DATABASE,
)


def exported(exposition: str) -> Usage:
    """Sample name -> the labels its samples carry."""
    labels: Usage = defaultdict(set)
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            labels[sample.name] |= set(sample.labels)
    return labels


def exported_samples(exposition: str) -> set[tuple[str, tuple[tuple[str, str], ...]]]:
    return {
        (sample.name, tuple(sorted(sample.labels.items())))
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    }


def sample_values(exposition: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """Labels -> value of each sample of `name`."""
    return {
        tuple(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
        if sample.name == name
    }


def bucket_bounds(exposition: str, name: str) -> set[float]:
    return {
        float(labels["le"])
        for sample_name, label_items in exported_samples(exposition)
        if sample_name == name and (labels := dict(label_items))["le"] != "+Inf"
    }


def missing(used: Usage, available: Usage) -> dict[str, str]:
    problems = {}
    for name, needed in sorted(used.items()):
        if name not in available:
            problems[name] = "not exported"
        elif absent := needed - available[name]:
            problems[name] = f"exported without the labels {sorted(absent)}"
    return problems


@pytest.fixture(scope="module")
def queried() -> Usage:
    return usage(iter([*rule_expressions(), *dashboard_expressions()]))


def test_the_rules_and_dashboards_query_something() -> None:
    assert len(usage(rule_expressions())) >= 10
    assert len(usage(dashboard_expressions())) >= 10


async def test_every_queried_metric_is_exported_with_its_labels(
    queried: Usage,
    dev_env: WorkflowEnvironment,
    task_queue: str,
    vendors: LocalVendors,
    integrations: Integrations,
    database: DatabaseSettings,
    tmp_path: Path,
) -> None:
    worker_port, bridge_port = free_loopback_port(), free_loopback_port()
    order = await unapproved_order(vendors, integrations)
    vendors.whmcs.inject(Fault(target="AddOrder", kind=FaultKind.HTTP_503))
    vendors.salesforce.approve_order(order.order_id)  # the bridge replays it (ALL, no replay id)
    with running_redis_server(tmp_path) as redis_server:
        environment = {
            **portal_environment(dev_env, task_queue, vendors, database, redis_server.url),
            "SF_EVENTS_REPLAY": "ALL",
            "PROVISION_RETRY_INITIAL_INTERVAL": "200ms",
            "WORKER_HTTP_PORT": str(worker_port),
            "BRIDGE_HTTP_PORT": str(bridge_port),
            "OPS_HTTP_HOST": "127.0.0.1",
            "PATH": os.environ["PATH"],
        }
        with portal_processes(environment, tmp_path):

            async def activated() -> bool:
                record = vendors.salesforce.get_record("Order", order.order_id)
                return bool(record["Activation_Status__c"] == "Activated")

            await wait_until(activated, "the order is Activated")
            await asyncio.gather(
                *(
                    dev_env.client.execute_workflow(
                        HealthCheck.run,
                        HealthCheckInput(integration=integration),
                        id=f"metric-names-{task_queue}-{integration.value}",
                        task_queue=task_queue,
                    )
                    for integration in CHECKED
                )
            )
            async with httpx.AsyncClient() as http:
                worker = await http.get(f"http://127.0.0.1:{worker_port}/metrics")
                bridge = await http.get(f"http://127.0.0.1:{bridge_port}/metrics")

    available: Usage = defaultdict(set)
    for exposition in (worker.text, bridge.text):
        for name, labels in exported(exposition).items():
            available[name] |= labels
    assert missing(queried, available) == {}
    # The per-system thresholds hold only if a vendor's calls carry its name, wherever they run.
    # The rules compare in seconds: the SDK's histograms are in seconds (sub-second buckets),
    # and the thresholds (2, 5 s; 5 s lag) are bucket bounds of the service's own.
    for sdk in ("workflow_task", "activity"):
        histogram = f"temporal_{sdk}_schedule_to_start_latency_bucket"
        assert {0.1, 0.5, 1.0} <= bucket_bounds(worker.text, histogram)
    assert {2.0, 3.0, 5.0, 10.0} <= bucket_bounds(
        worker.text, "portal_integration_request_seconds_bucket"
    )
    assert 5.0 in bucket_bounds(bridge.text, "portal_platform_event_lag_seconds_bucket")
    whmcs_503 = (("code", "503"), ("integration", "whmcs"))
    assert ("portal_integration_errors_total", whmcs_503) in exported_samples(worker.text)
    # The leadership alerts expect a lone bridge to count 1 for its channel; the backlog
    # alerts tell workflow tasks (base queue) from activities (every queue) by task_type.
    assert list(sample_values(bridge.text, "portal_bridge_leader").values()) == [1.0]
    backlogs = {
        (dict(labels)["task_queue"], dict(labels)["task_type"])
        for labels in sample_values(worker.text, "portal_task_queue_backlog_age_seconds")
    }
    assert {(task_queue, "workflow"), (f"{task_queue}-whmcs", "activity")} <= backlogs
