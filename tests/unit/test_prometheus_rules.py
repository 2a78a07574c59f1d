"""The alerting and recording rules in deploy/prometheus/: valid (`promtool check rules`), their
unit tests pass (`promtool test rules`), every alert is tested firing and silent, and every
alert is documented where its runbook annotation points (promtool: tests/support/promtool.py)."""

from __future__ import annotations

import re
from typing import Any

import yaml

from tests.support.metric_usage import ROOT, RULES_DIR
from tests.support.promtool import run_promtool

TESTS_DIR = ROOT / "deploy" / "prometheus" / "tests"
DOCS = ROOT / "docs" / "health-and-metrics.md"


def alerts() -> list[dict[str, Any]]:
    return [
        rule
        for path in sorted(RULES_DIR.glob("*.yml"))
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    ]


def alert_expectations() -> list[tuple[str, bool]]:
    """(alert name, whether it is expected to fire) of every `alert_rule_test` entry."""
    return [
        (case["alertname"], bool(case.get("exp_alerts")))
        for path in sorted(TESTS_DIR.glob("*.yml"))
        for test in yaml.safe_load(path.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
    ]


def test_rules_are_valid() -> None:
    run_promtool("check", "rules", *sorted(RULES_DIR.glob("*.yml")))


def test_rule_unit_tests_pass() -> None:
    run_promtool("test", "rules", *sorted(TESTS_DIR.glob("*.yml")))


def test_every_alert_is_tested_firing_and_silent() -> None:
    expectations = set(alert_expectations())
    untested = [
        (rule["alert"], outcome)
        for rule in alerts()
        for outcome in ("firing", "silent")
        if (rule["alert"], outcome == "firing") not in expectations
    ]
    assert untested == []


def test_every_alert_has_a_severity_and_a_documented_runbook_section() -> None:
    headings = re.findall(r"^#### `(\w+)`", DOCS.read_text(), flags=re.MULTILINE)
    for rule in alerts():
        name = rule["alert"]
        assert rule["labels"]["severity"] in {"warning", "critical"}, name
        assert rule["annotations"]["runbook"] == f"docs/health-and-metrics.md#{name.lower()}"
        assert name in headings, f"{name} is not described in {DOCS.name}"
