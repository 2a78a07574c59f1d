"""The operator docs stay true to the code: every `portalctl` command they quote parses as
a command of the real CLI, and every runbook symptom names something an operator can run or
search (the searches themselves run on a server in tests/e2e/test_docs_queries.py)."""

from __future__ import annotations

import shlex

import pytest

from tests.support.operator_docs import (
    Section,
    documents,
    portalctl_commands,
    symptom_sections,
    visibility_queries,
)
from tests.support.portalctl import parse_error

SEED_SYMPTOMS = [
    "No events received",
    "Event replays not advancing",
    "409 Payment method missing",
    "WHMCS Add/Accept errors",
    "Salesforce status not updated",
    "JWT authentication failure",
    "Platform Events not received",
    "API limits",
    "WHMCS authentication failure",
    "WHMCS rate limiting",
    "WHMCS field mapping issues",
    "Freebit OEM authentication failure",
    "SIM operations failing",
    "Network type changes delayed",
    "SFTP connection refused",
    "SFTP authentication failure",
    "SFTP files not found",
    "Redis unavailable or slow",
    "PostgreSQL unavailable or slow",
]
CREDENTIAL_SECTIONS = [
    "JWT authentication failure",
    "WHMCS authentication failure",
    "Freebit OEM authentication failure",
    "SFTP authentication failure",
]

QUOTED_COMMANDS = sorted(
    {shlex.join(args) for text in documents().values() for args in portalctl_commands(text)}
)


def test_docs_quote_commands() -> None:
    assert len(QUOTED_COMMANDS) > 20


@pytest.mark.parametrize("command", QUOTED_COMMANDS)
def test_every_quoted_portalctl_command_parses(command: str) -> None:
    assert parse_error(shlex.split(command)) is None, f"portalctl {command}"


def test_every_seed_symptom_has_its_section() -> None:
    titles = {section.title for section in symptom_sections()}
    assert [symptom for symptom in SEED_SYMPTOMS if symptom not in titles] == []


@pytest.mark.parametrize("section", symptom_sections(), ids=lambda section: section.title)
def test_every_symptom_names_a_command_or_a_search(section: Section) -> None:
    assert portalctl_commands(section.text) or visibility_queries(section.text), section


@pytest.mark.parametrize("title", CREDENTIAL_SECTIONS)
def test_credential_failures_point_to_the_rotation_runbook(title: str) -> None:
    [section] = [section for section in symptom_sections() if section.title == title]
    assert "credential-rotation.md" in section.text
