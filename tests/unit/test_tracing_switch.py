"""Tracing is off unless an OTLP endpoint is configured by the standard OTEL_* variables, and
OTEL_SDK_DISABLED=true turns it off whatever else is set."""

from __future__ import annotations

import pytest

from integrations import tracing

COLLECTOR = "http://collector:4318"


@pytest.mark.parametrize(
    ("environment", "on"),
    [
        ({}, False),
        ({"OTEL_SERVICE_NAME": "portal-worker"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": COLLECTOR}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": ""}, False),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": COLLECTOR, "OTEL_SDK_DISABLED": "true"},
            False,
        ),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": COLLECTOR, "OTEL_SDK_DISABLED": "TRUE"},
            False,
        ),
    ],
)
def test_tracing_is_on_only_with_an_otlp_endpoint(environment: dict[str, str], on: bool) -> None:
    assert tracing.enabled(environment) is on


def test_off_means_no_temporal_interceptor(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in tracing.ENDPOINT_VARIABLES:
        monkeypatch.delenv(variable, raising=False)

    assert tracing.start_from_environment("portal-worker") is None
    assert tracing.temporal_interceptors() == []
