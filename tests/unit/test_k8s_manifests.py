"""The Kubernetes manifests (deploy/k8s, kustomize) as `kubectl kustomize` renders them: every
object valid for Kubernetes (kubernetes-validate's bundled schemas, offline, strict), the
bridge at two or more replicas, probes on /health, a PodDisruptionBudget per Deployment,
secrets only from Secret objects, resource requests, and the workers autoscaled on the backlog
of their own Worker Deployment Version.

KEDA's kinds (ScaledObject, TriggerAuthentication) are custom resources kubernetes-validate
has no schema for: SCHEMALESS_KINDS lists them, and the tests below check the fields KEDA's
Temporal scaler needs (https://keda.sh/docs/2.22/scalers/temporal/) instead.
"""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

from contracts.task_queues import TaskQueues
from tests.support.debian_tools import require_tool
from tests.support.portalctl import environment_variables, parse_error

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
OVERLAYS = sorted(path.name for path in (K8S / "overlays").iterdir())
KUBERNETES_VERSION = "1.32.0"
"""The oldest Kubernetes the manifests are for (kubectl here is 1.32)."""
SCHEMALESS_KINDS = {"ScaledObject", "TriggerAuthentication"}
OPS_PORTS = {"portal-worker": 9000, "portal-bridge": 9001}


@functools.cache
def rendered(overlay: str) -> tuple[dict[str, Any], ...]:
    kubectl = require_tool("kubectl", "kubernetes-client")
    completed = subprocess.run(
        [kubectl, "kustomize", str(K8S / "overlays" / overlay)],
        capture_output=True,
        text=True,
        check=False,
    )
    # Debian's kubernetes-client (1.20) embeds kustomize 2, which knows neither `labels`
    # nor `replacements`: the manifests need kubectl 1.27+ (kustomize 5).
    assert completed.returncode == 0, f"{kubectl} kustomize: {completed.stderr}"
    return tuple(document for document in yaml.safe_load_all(completed.stdout) if document)


def of_kind(overlay: str, kind: str) -> list[dict[str, Any]]:
    return [document for document in rendered(overlay) if document["kind"] == kind]


def containers(deployment: dict[str, Any]) -> list[dict[str, Any]]:
    return list(deployment["spec"]["template"]["spec"]["containers"])


def app_name(deployment: dict[str, Any]) -> str:
    return str(deployment["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"])


def config_values(overlay: str, name_prefix: str) -> dict[str, str]:
    (config,) = [
        document
        for document in of_kind(overlay, "ConfigMap")
        if document["metadata"]["name"].startswith(name_prefix)
    ]
    return dict(config["data"])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_is_valid_for_kubernetes(overlay: str) -> None:
    checked = 0
    for document in rendered(overlay):
        if document["kind"] in SCHEMALESS_KINDS:
            continue
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
        checked += 1
    assert checked >= 5


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_bridge_runs_at_least_twice_and_the_workers_are_autoscaled(overlay: str) -> None:
    deployments = {app_name(d): d for d in of_kind(overlay, "Deployment")}
    assert set(deployments) == set(OPS_PORTS)
    assert deployments["portal-bridge"]["spec"]["replicas"] >= 2
    assert "replicas" not in deployments["portal-worker"]["spec"]  # KEDA sets it


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_process_runs_a_real_command_with_probes_on_its_health_port(overlay: str) -> None:
    for deployment in of_kind(overlay, "Deployment"):
        (container,) = containers(deployment)
        assert container["args"][0] == "portalctl"
        assert parse_error(container["args"][1:]) is None
        (port,) = container["ports"]
        assert port["containerPort"] == OPS_PORTS[app_name(deployment)]
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert container[probe]["httpGet"] == {"path": "/health", "port": port["name"]}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_deployment_has_a_disruption_budget_that_selects_its_pods(overlay: str) -> None:
    budgets = of_kind(overlay, "PodDisruptionBudget")
    for deployment in of_kind(overlay, "Deployment"):
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        covering = [
            budget
            for budget in budgets
            if budget["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
        ]
        assert len(covering) == 1, deployment["metadata"]["name"]
        assert covering[0]["spec"]["minAvailable"] >= 1


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_secrets_come_from_secret_objects_and_every_variable_is_a_setting(overlay: str) -> None:
    settings = environment_variables()
    for name, values in [
        (document["metadata"]["name"], document["data"])
        for document in of_kind(overlay, "ConfigMap")
    ]:
        assert set(values) <= settings, name
        assert not {key for key in values if "SECRET" in key or "KEY" in key}, name
    for deployment in of_kind(overlay, "Deployment"):
        (container,) = containers(deployment)
        assert {variable["name"] for variable in container["env"]} <= settings
        assert all("value" not in v or "SECRET" not in v["name"] for v in container["env"])
        assert {"secretRef": {"name": "portal-secrets"}} in container["envFrom"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_requests_resources(overlay: str) -> None:
    for deployment in of_kind(overlay, "Deployment"):
        (container,) = containers(deployment)
        assert {"cpu", "memory"} <= set(container["resources"]["requests"])
        assert "memory" in container["resources"]["limits"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_workers_scale_on_the_backlog_of_their_own_version_of_every_queue(overlay: str) -> None:
    config = config_values(overlay, "portal-config")
    workers = {d["metadata"]["name"]: d for d in of_kind(overlay, "Deployment")}
    authentications = {a["metadata"]["name"] for a in of_kind(overlay, "TriggerAuthentication")}
    queues = set(TaskQueues.for_base(config["TEMPORAL_TASK_QUEUE"]).model_dump().values())
    scaled = of_kind(overlay, "ScaledObject")
    assert scaled
    for scaled_object in scaled:
        spec = scaled_object["spec"]
        worker = workers[spec["scaleTargetRef"]["name"]]
        assert app_name(worker) == "portal-worker"
        assert spec["minReplicaCount"] >= 1  # a draining build's pinned workflows need workers
        build_id = build_id_of(overlay, worker)
        triggers = [trigger["metadata"] for trigger in spec["triggers"]]
        assert {trigger["type"] for trigger in spec["triggers"]} == {"temporal"}
        assert {metadata["taskQueue"] for metadata in triggers} == queues
        for metadata in triggers:
            assert metadata["namespace"] == config["TEMPORAL_NAMESPACE"]
            assert metadata["workerDeploymentName"] == config["TEMPORAL_DEPLOYMENT_NAME"]
            assert metadata["workerDeploymentBuildId"] == build_id
            assert metadata["endpointFromEnv"] == "TEMPORAL_ADDRESS"
            assert int(metadata["targetQueueSize"]) > 0
        for trigger in spec["triggers"]:
            if "authenticationRef" in trigger:
                assert trigger["authenticationRef"]["name"] in authentications


def build_id_of(overlay: str, worker: dict[str, Any]) -> str:
    (container,) = containers(worker)
    (build,) = [v for v in container["env"] if v["name"] == "TEMPORAL_WORKER_BUILD_ID"]
    config_map = build["valueFrom"]["configMapKeyRef"]["name"]
    (config,) = [c for c in of_kind(overlay, "ConfigMap") if c["metadata"]["name"] == config_map]
    return str(config["data"]["TEMPORAL_WORKER_BUILD_ID"])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_keda_reads_the_temporal_api_key_from_the_secret(overlay: str) -> None:
    for authentication in of_kind(overlay, "TriggerAuthentication"):
        for reference in authentication["spec"]["secretTargetRef"]:
            assert reference["name"] == "portal-secrets"
            assert reference["key"] in environment_variables()
