"""Imports go one way: contracts import nothing of ours, workflows no integration or activity
code (what the sandbox would have to load), activities no workflows, benchmarks no tests."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
FIRST_PARTY = {"contracts", "workflows", "activities", "workers", "starters", "integrations"}
FIRST_PARTY |= {"emulators", "tests", "bench"}
ALLOWED = {
    "contracts": {"contracts", "pydantic"},
    "workflows": {"contracts", "workflows", "temporalio"},
    "activities": {"contracts", "activities", "integrations", "temporalio", "*"},
    "bench": FIRST_PARTY - {"tests"} | {"*"},
}
"""Top-level packages a package may import; "*" allows any third-party package."""


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names)


def forbidden(package: str, imported: set[str]) -> set[str]:
    allowed = ALLOWED[package]
    if "*" in allowed:
        return (imported & FIRST_PARTY) - allowed
    return imported - allowed


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_imports_go_one_way(package: str) -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(bad)
        for path in sorted((ROOT / package).rglob("*.py"))
        if (bad := forbidden(package, imported_packages(path)))
    }
    assert offenders == {}
