"""docker-compose's `monitoring` profile, checked without a Docker engine: Prometheus gets a
valid configuration (`promtool check config`, which also checks the rules it loads) that
scrapes the worker's and the bridge's ports; Grafana's provisioned data source is that
Prometheus and its provisioned dashboards are the repository's, each well formed and using
that data source. The queries themselves: tests/e2e/test_metric_names.py."""

from __future__ import annotations

import json
import re
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from tests.support.metric_usage import DASHBOARDS_DIR, ROOT
from tests.support.promtool import run_promtool

COMPOSE_FILE = ROOT / "docker-compose.yml"
MONITORING = ("prometheus", "grafana")
DASHBOARDS = {"orders", "vendors", "intake", "sim-queue", "temporal-workers"}


def services() -> dict[str, Any]:
    document: dict[str, dict[str, Any]] = yaml.safe_load(COMPOSE_FILE.read_text())
    return document["services"]


def bind_mounts(service: str) -> dict[PurePosixPath, Path]:
    """Container path -> repository path of the service's `./...` volumes."""
    mounts = {}
    for volume in services()[service]["volumes"]:
        source, target, *_ = volume.split(":")
        if source.startswith("./"):
            mounts[PurePosixPath(target)] = ROOT / source
    return mounts


def in_repository(service: str, container_path: str) -> Path:
    """The repository file a container path of the service is mounted from."""
    path = PurePosixPath(container_path)
    for target, source in bind_mounts(service).items():
        if path == target or target in path.parents:
            return source / path.relative_to(target)
    raise AssertionError(f"{service}: nothing mounted at {container_path}")


def prometheus_config() -> tuple[Path, dict[str, Any]]:
    flags = dict(arg.split("=", 1) for arg in services()["prometheus"]["command"])
    path = in_repository("prometheus", flags["--config.file"])
    config: dict[str, Any] = yaml.safe_load(path.read_text())
    return path, config


def grafana_provisioning(directory: str, key: str) -> list[dict[str, Any]]:
    """The `key` entries of the provisioning files in /etc/grafana/provisioning/`directory`."""
    files = in_repository("grafana", f"/etc/grafana/provisioning/{directory}").glob("*.yml")
    return [entry for path in sorted(files) for entry in yaml.safe_load(path.read_text())[key]]


def dashboards() -> dict[str, dict[str, Any]]:
    return {path.stem: json.loads(path.read_text()) for path in DASHBOARDS_DIR.glob("*.json")}


def port_setting(service: str, setting: str) -> str:
    value: str = services()[service]["environment"][setting]
    return value


def test_the_monitoring_profile_runs_pinned_prometheus_and_grafana() -> None:
    for name in MONITORING:
        service = services()[name]
        assert service["profiles"] == ["monitoring"]
        assert re.search(r":v?\d+\.\d+\.\d+$", service["image"]), service["image"]
        for source in bind_mounts(name).values():
            assert source.exists(), f"{name} mounts {source}, which is missing"


def test_prometheus_configuration_and_the_rules_it_loads_are_valid() -> None:
    path, _ = prometheus_config()
    run_promtool("check", "config", path)


def test_prometheus_scrapes_the_worker_and_the_bridge_on_their_ports() -> None:
    _, config = prometheus_config()
    targets = {
        target
        for job in config["scrape_configs"]
        for static in job["static_configs"]
        for target in static["targets"]
    }
    assert targets == {
        f"worker:{port_setting('worker', 'WORKER_HTTP_PORT')}",
        f"bridge:{port_setting('bridge', 'BRIDGE_HTTP_PORT')}",
    }


def test_prometheus_loads_every_rules_file() -> None:
    path, config = prometheus_config()
    loaded = {rules for pattern in config["rule_files"] for rules in path.parent.glob(pattern)}
    assert loaded == set((ROOT / "deploy" / "prometheus" / "rules").glob("*.yml"))


def test_grafana_data_source_is_the_compose_prometheus() -> None:
    (source,) = grafana_provisioning("datasources", "datasources")
    assert source["type"] == "prometheus"
    assert source["url"] == "http://prometheus:9090"
    assert "9090:9090" in services()["prometheus"]["ports"]


def test_grafana_provisions_the_repository_dashboards() -> None:
    (provider,) = grafana_provisioning("dashboards", "providers")
    assert in_repository("grafana", provider["options"]["path"]) == DASHBOARDS_DIR
    home = services()["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert in_repository("grafana", home).exists()
    assert set(dashboards()) == DASHBOARDS


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_dashboard_is_well_formed_and_queries_the_provisioned_prometheus(name: str) -> None:
    (source,) = grafana_provisioning("datasources", "datasources")
    dashboard = dashboards()[name]
    panels = dashboard["panels"]
    assert dashboard["uid"] == f"portal-{name}"
    assert len({panel["id"] for panel in panels}) == len(panels)
    for panel in panels:
        assert panel["datasource"]["uid"] == source["uid"], panel["title"]
        assert panel["targets"], panel["title"]
        refs = [target["refId"] for target in panel["targets"]]
        assert len(set(refs)) == len(refs), panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == source["uid"], panel["title"]
            assert target["expr"].strip(), panel["title"]
