"""The worker's Worker Deployment Version: its settings and the computed build id."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from integrations.config import ConfigurationError, WorkerDeploymentSettings, load
from workers import deployment
from workers.deployment import build_id, deployment_config, git_commit


@pytest.fixture(autouse=True)
def unset_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TEMPORAL_DEPLOYMENT_NAME", raising=False)
    monkeypatch.delenv("TEMPORAL_WORKER_BUILD_ID", raising=False)
    deployment.default_build_id.cache_clear()


def test_defaults_name_the_project_and_compute_the_build() -> None:
    settings = load(WorkerDeploymentSettings)

    assert settings.deployment_name == "portal-workflows"
    assert settings.worker_build_id is None
    assert build_id(settings).startswith(deployment.package_version())


def test_an_explicit_build_id_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEMPORAL_DEPLOYMENT_NAME", "portal_prod-2")
    monkeypatch.setenv("TEMPORAL_WORKER_BUILD_ID", "1.4.0+9f3c2ab")

    config = deployment_config(load(WorkerDeploymentSettings))

    assert config.use_worker_versioning
    assert (config.version.deployment_name, config.version.build_id) == (
        "portal_prod-2",
        "1.4.0+9f3c2ab",
    )
    assert config.default_versioning_behavior.name == "UNSPECIFIED"


def test_an_empty_build_id_is_computed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEMPORAL_WORKER_BUILD_ID", "")
    assert load(WorkerDeploymentSettings).worker_build_id is None


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("TEMPORAL_DEPLOYMENT_NAME", "portal.workflows"),
        ("TEMPORAL_DEPLOYMENT_NAME", "portal:workflows"),
        ("TEMPORAL_WORKER_BUILD_ID", "1.0 beta"),
        ("TEMPORAL_WORKER_BUILD_ID", "__unversioned__"),
        ("TEMPORAL_WORKER_BUILD_ID", "x" * 256),
    ],
)
def test_malformed_names_stop_the_worker_in_one_line(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError, match=rf"^configuration error: {variable}: must be"):
        load(WorkerDeploymentSettings)


@pytest.mark.parametrize(
    ("version", "commit", "expected"),
    [
        ("0.1.0", "abc1234", "0.1.0+abc1234"),
        ("0.1.0", None, "0.1.0"),
        ("0.1.0+local", "abc1234", "0.1.0+local.abc1234"),
    ],
)
def test_default_build_id_is_the_version_plus_the_commit(
    monkeypatch: pytest.MonkeyPatch, version: str, commit: str | None, expected: str
) -> None:
    monkeypatch.setattr(deployment, "package_version", lambda: version)
    monkeypatch.setattr(deployment, "git_commit", lambda: commit)
    assert deployment.default_build_id() == expected


def test_no_commit_outside_a_checkout(tmp_path: Path) -> None:
    assert git_commit(tmp_path) is None


def test_no_commit_without_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".git").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert git_commit(tmp_path) is None


def test_no_commit_from_a_broken_checkout(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    assert git_commit(tmp_path) is None


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_the_commit_of_a_checkout(tmp_path: Path) -> None:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
            cwd=tmp_path,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()

    git("init", "--quiet")
    git("commit", "--quiet", "--allow-empty", "-m", "one")

    assert git_commit(tmp_path) == git("rev-parse", "--short", "HEAD")
