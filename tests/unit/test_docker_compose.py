"""docker-compose.yml stays consistent with the code: every `portalctl` command it runs
exists, every variable it sets is read by a settings class, and the search attributes it
registers are the ones the workflows use."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.portalctl import environment_variables, parse_error
from workflows import search_attributes

COMPOSE_FILE = Path(__file__).parents[2] / "docker-compose.yml"
APP_IMAGE = "portal-workflows:latest"


def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return document


def app_services() -> dict[str, dict[str, Any]]:
    """Services running this repository's image."""
    return {
        name: service
        for name, service in compose()["services"].items()
        if service.get("image") == APP_IMAGE
    }


def command_args(service: dict[str, Any]) -> list[str]:
    command = service["command"]
    return shlex.split(command) if isinstance(command, str) else list(command)


def test_compose_runs_the_whole_system() -> None:
    commands = {
        " ".join(command_args(service)[:2])
        for service in app_services().values()
        if command_args(service)[0] == "portalctl"
    }
    assert {"portalctl worker", "portalctl bridge", "portalctl codec-server"} <= commands
    assert {"postgresql", "redis", "temporal", "temporal-ui"} <= set(compose()["services"])
    assert compose()["services"]["emulators"]["profiles"] == ["emulators"]


@pytest.mark.parametrize(
    "service",
    [name for name, svc in app_services().items() if command_args(svc)[0] == "portalctl"],
)
def test_every_portalctl_command_exists(service: str) -> None:
    args = command_args(app_services()[service])
    assert parse_error(args[1:]) is None, f"{service}: {shlex.join(args)}"


@pytest.mark.parametrize("service", sorted(app_services()))
def test_every_variable_set_is_a_setting_the_code_reads(service: str) -> None:
    unread = set(app_services()[service].get("environment", {})) - environment_variables()
    assert not unread, f"{service} sets variables no settings class reads: {sorted(unread)}"


def test_payload_encryption_is_on_and_the_ui_decodes_through_the_codec_server() -> None:
    services = compose()["services"]
    assert "TEMPORAL_PAYLOAD_ENCRYPTION_KEYS" in services["worker"]["environment"]
    codec_port = services["codec-server"]["environment"]["CODEC_SERVER_PORT"]
    ui = services["temporal-ui"]["environment"]
    assert ui["TEMPORAL_CODEC_ENDPOINT"] == f"http://localhost:{codec_port}"
    assert ui["TEMPORAL_CORS_ORIGINS"] in services["codec-server"]["environment"][
        "CODEC_SERVER_CORS_ORIGINS"
    ].split(",")


def test_registered_search_attributes_are_the_ones_the_workflows_set() -> None:
    script = command_args(compose()["services"]["temporal-setup"])[-1]
    words = shlex.split(script.split("search-attribute create", 1)[1])
    registered = {words[i + 1] for i, word in enumerate(words) if word == "--name"}
    assert registered == {key.name for key in search_attributes.ALL}
