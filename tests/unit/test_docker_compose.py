"""docker-compose.yml stays consistent with the code: every `portalctl` command it runs
exists, every variable it sets is read by a settings class, the search attributes it
registers are the ones the workflows use, its Temporal server supports Worker Versioning, and
it builds the Dockerfile's production target for the app services and the `emulators` target
only for the emulators."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from emulators.freebit import DEFAULT_PLAN_CODES
from tests.support.portalctl import environment_variables, parse_error
from workflows import search_attributes

REPOSITORY = Path(__file__).parents[2]
COMPOSE_FILE = REPOSITORY / "docker-compose.yml"
DOCKERFILE = REPOSITORY / "Dockerfile"
APP_IMAGE = "portal-workflows:latest"
PRODUCTION_TARGET = "app"
EMULATORS_TARGET = "emulators"
PRODUCTION_SERVICES = {"worker", "bridge", "codec-server", "schedules"}
# The first server release with Worker Versioning (Worker Deployments) as the SDK uses it.
WORKER_VERSIONING_SERVER = (1, 29, 1)


def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return document


def built_services() -> dict[str, dict[str, Any]]:
    """Services running an image built from this repository's Dockerfile."""
    return {name: svc for name, svc in compose()["services"].items() if "build" in svc}


def app_services() -> dict[str, dict[str, Any]]:
    """Services running the production image."""
    return {
        name: service
        for name, service in built_services().items()
        if service.get("image") == APP_IMAGE
    }


def build_target(service: dict[str, Any]) -> str | None:
    build = service["build"]
    return None if isinstance(build, str) else build.get("target")


def command_args(service: dict[str, Any]) -> list[str]:
    command = service["command"]
    return shlex.split(command) if isinstance(command, str) else list(command)


def image_version(service: str, repository: str) -> tuple[int, ...]:
    image = compose()["services"][service]["image"]
    name, _, tag = image.partition(":")
    assert name == repository, f"{service} runs {image}"
    match = re.match(r"(\d+)\.(\d+)\.(\d+)", tag)
    assert match, f"{service}: {image} is not pinned to a release"
    return tuple(int(part) for part in match.groups())


def default_of(value: str) -> str:
    """The default of a `${VARIABLE:-default}` value."""
    match = re.fullmatch(r"\$\{\w+:-([^}]*)\}", value)
    assert match, f"{value} has no default"
    return match[1]


def dockerfile_stages() -> list[str]:
    """The names of the Dockerfile's stages, in order ("" for an unnamed one)."""
    stages = re.findall(
        r"^FROM\s+(?:--\S+\s+)*\S+(?:\s+AS\s+(\S+))?\s*$", DOCKERFILE.read_text(), re.I | re.M
    )
    return [str(name) for name in stages]


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
    [name for name, svc in built_services().items() if command_args(svc)[0] == "portalctl"],
)
def test_every_portalctl_command_exists(service: str) -> None:
    args = command_args(built_services()[service])
    assert parse_error(args[1:]) is None, f"{service}: {shlex.join(args)}"


@pytest.mark.parametrize("service", sorted(built_services()))
def test_every_variable_set_is_a_setting_the_code_reads(service: str) -> None:
    unread = set(built_services()[service].get("environment", {})) - environment_variables()
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
    registered: dict[str, str] = {}
    for command in script.split("search-attribute create")[1:]:
        words = shlex.split(command.split(";", 1)[0].split("&&", 1)[0])
        kind = words[words.index("--type") + 1]
        registered |= {words[i + 1]: kind for i, word in enumerate(words) if word == "--name"}
    assert registered == {
        key.name: key.indexed_value_type.name.title() for key in search_attributes.ALL
    }


def test_setup_and_ui_use_the_namespace_the_app_uses() -> None:
    services = compose()["services"]
    namespace = services["worker"]["environment"]["TEMPORAL_NAMESPACE"]
    assert services["temporal-setup"]["environment"]["TEMPORAL_NAMESPACE"] == namespace
    assert services["temporal-ui"]["environment"]["TEMPORAL_DEFAULT_NAMESPACE"] == namespace


def test_the_temporal_server_supports_worker_versioning() -> None:
    server = image_version("temporal", "temporalio/server")
    assert server >= WORKER_VERSIONING_SERVER
    # The schema and the CLI come from the admin tools of the server's own release.
    assert image_version("temporal-schema", "temporalio/admin-tools") == server
    assert image_version("temporal-setup", "temporalio/admin-tools") == server


def test_the_temporal_server_runs_with_worker_versioning_enabled() -> None:
    temporal = compose()["services"]["temporal"]
    path = temporal["environment"]["DYNAMIC_CONFIG_FILE_PATH"]
    [mount] = [volume for volume in temporal["volumes"] if volume.split(":")[1] == path]
    source = REPOSITORY / mount.split(":")[0]
    dynamic_config = yaml.safe_load(source.read_text())
    for setting in ("system.enableDeploymentVersions", "frontend.workerVersioningWorkflowAPIs"):
        assert [value["value"] for value in dynamic_config[setting]] == [True], setting


def test_the_worker_is_a_versioned_worker_with_the_emulators_plan_codes() -> None:
    worker = compose()["services"]["worker"]["environment"]
    assert {"TEMPORAL_DEPLOYMENT_NAME", "TEMPORAL_WORKER_BUILD_ID"} <= set(worker)
    # A build id is per release: no default that two releases could share.
    assert re.fullmatch(
        r"\$\{TEMPORAL_WORKER_BUILD_ID:\?[^}]+\}", worker["TEMPORAL_WORKER_BUILD_ID"]
    )
    assert default_of(worker["FREEBIT_PLAN_CODES"]).split(",") == list(DEFAULT_PLAN_CODES)


def test_app_services_run_the_production_target_and_only_the_emulators_the_other() -> None:
    targets = {name: build_target(service) for name, service in built_services().items()}
    assert targets.pop("emulators") == EMULATORS_TARGET
    assert set(targets) == PRODUCTION_SERVICES
    assert set(targets.values()) == {PRODUCTION_TARGET}
    assert set(app_services()) == PRODUCTION_SERVICES


def test_each_image_name_is_built_from_one_target() -> None:
    """Two targets tagged with one name would overwrite each other's image."""
    targets_of: dict[str, set[str | None]] = {}
    for service in built_services().values():
        targets_of.setdefault(service["image"], set()).add(build_target(service))
    assert all(len(targets) == 1 for targets in targets_of.values()), targets_of


def test_the_dockerfile_has_the_targets_compose_builds() -> None:
    stages = dockerfile_stages()
    targets = {build_target(service) for service in built_services().values()}
    assert targets <= set(stages)
    # `docker build .` (no --target) builds the last stage: the production image.
    assert stages[-1] == PRODUCTION_TARGET
