"""Which metrics, with which labels, the alerting rules and the Grafana dashboards query.

Every PromQL expression is parsed (promql-parser, Prometheus' own grammar) and walked: each
selector needs its metric with the labels it matches on, plus the labels that enclosing
aggregations group by (`by`) and binary operators match on (`on`). Series of recording rules
(`level:metric:operation`, with colons) are the rules' own and are left out; the expressions
that record them are checked like any other.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import promql_parser
import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES_DIR = ROOT / "deploy" / "prometheus" / "rules"
DASHBOARDS_DIR = ROOT / "deploy" / "grafana" / "dashboards"
GRAFANA_INTERVALS = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}

Usage = dict[str, set[str]]
"""Metric name -> labels the queries use on it."""


def rule_expressions() -> Iterator[tuple[str, str]]:
    """(where, expression) of every alerting and recording rule."""
    for path in sorted(RULES_DIR.glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                name = rule.get("alert") or rule["record"]
                yield f"{path.name}: {name}", rule["expr"]


def dashboard_expressions() -> Iterator[tuple[str, str]]:
    """(where, expression) of every panel target and query variable of every dashboard."""
    for path in sorted(DASHBOARDS_DIR.glob("*.json")):
        dashboard = json.loads(path.read_text())
        for panel in dashboard["panels"]:
            for target in panel.get("targets", []):
                yield f"{path.name}: {panel['title']}", _concrete(target["expr"])
        for variable in dashboard.get("templating", {}).get("list", []):
            if variable.get("type") == "query":
                yield f"{path.name}: ${variable['name']}", _label_values_selector(variable)


def _concrete(expression: str) -> str:
    for variable, value in GRAFANA_INTERVALS.items():
        expression = expression.replace(variable, value)
    return expression


def _label_values_selector(variable: dict[str, object]) -> str:
    """`label_values(metric{...}, label)` as the selector `metric{...,label!=""}`."""
    query = variable["query"]
    text = query["query"] if isinstance(query, dict) else str(query)
    inner = text.removeprefix("label_values(").removesuffix(")")
    selector, _, label = inner.rpartition(",")
    label = label.strip()
    if selector.endswith("}"):
        return f'{selector[:-1]},{label}!=""}}'
    return f'{selector}{{{label}!=""}}'


def usage(expressions: Iterator[tuple[str, str]]) -> Usage:
    used: Usage = defaultdict(set)
    for where, expression in expressions:
        try:
            tree = promql_parser.parse(expression)
        except ValueError as error:
            raise AssertionError(f"{where}: cannot parse {expression!r}: {error}") from None
        _collect(tree, frozenset(), used)
    return {name: labels for name, labels in used.items() if ":" not in name}


def _collect(node: object, context: frozenset[str], used: Usage) -> None:
    match node:
        case promql_parser.VectorSelector():
            labels = {m.name for m in node.matchers.matchers if m.name != "__name__"}
            if node.name:
                used[node.name] |= labels | context
        case promql_parser.MatrixSelector():
            _collect(node.vector_selector, context, used)
        case promql_parser.AggregateExpr():
            grouping = node.modifier
            if grouping is not None and grouping.type == promql_parser.AggModifierType.By:
                context = context | set(grouping.labels)
            _collect(node.expr, context, used)
        case promql_parser.BinaryExpr():
            matching = node.modifier.matching if node.modifier else None
            if matching is not None and matching.type == promql_parser.LabelModifierType.Include:
                context = context | set(matching.labels)
            _collect(node.lhs, context, used)
            _collect(node.rhs, context, used)
        case promql_parser.Call():
            for argument in node.args:
                _collect(argument, context, used)
        case promql_parser.ParenExpr() | promql_parser.UnaryExpr() | promql_parser.SubqueryExpr():
            _collect(node.expr, context, used)
