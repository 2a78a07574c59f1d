"""Every metric an alerting rule or a Grafana dashboard queries is exported, with the labels
the query uses: `portalctl worker` and `portalctl bridge` run as the operator runs them, one
order goes from its Platform Event to Activated (one WHMCS call failing once on the way), the
five scheduled health checks run once, then both `/metrics` are scraped."""

from __future__ import annotations

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
from starters.demo.sample_orders import SampleOrderSpec, create_sample_order
from tests.support.metric_usage import Usage, dashboard_expressions, rule_expressions, usage
from tests.support.polling import wait_until
from workers.dependencies import Integrations
from workflows.health_check import HealthCheck

pytestmark = pytest.mark.e2e

SUBSCRIBED = "platform event subscription started"
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
    order = await create_sample_order(
        vendors, integrations.id_mappings, SampleOrderSpec(activation_status=None)
    )
    vendors.whmcs.inject(Fault(target="AddOrder", kind=FaultKind.HTTP_503))
    with running_redis_server(tmp_path) as redis_server:
        environment = {
            **vendors.environment(),
            "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
            "TEMPORAL_TASK_QUEUE": task_queue,
            "TEMPORAL_DEPLOYMENT_NAME": f"test-{task_queue}",
            "DATABASE_URL": database.url,
            "REDIS_URL": redis_server.url,
            "SF_EVENTS_REPLAY": "LATEST",
            "WORKER_HTTP_PORT": str(worker_port),
            "BRIDGE_HTTP_PORT": str(bridge_port),
            "OPS_HTTP_HOST": "127.0.0.1",
            "PATH": os.environ["PATH"],
        }
        with portal_processes(environment, tmp_path) as (_, bridge_process):
            assert bridge_process is not None

            def subscribed() -> bool:
                return SUBSCRIBED in bridge_process.log_path.read_text(errors="replace")

            await wait_until(subscribed, "the bridge has subscribed")
            vendors.salesforce.approve_order(order.order_id)

            async def activated() -> bool:
                record = vendors.salesforce.get_record("Order", order.order_id)
                return bool(record["Activation_Status__c"] == "Activated")

            await wait_until(activated, "the order is Activated")
            for integration in CHECKED:
                await dev_env.client.execute_workflow(
                    HealthCheck.run,
                    HealthCheckInput(integration=integration),
                    id=f"metric-names-{task_queue}-{integration.value}",
                    task_queue=task_queue,
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
    whmcs_503 = (("code", "503"), ("integration", "whmcs"))
    assert ("portal_integration_errors_total", whmcs_503) in exported_samples(worker.text)
