"""What a start-up failure line may show, and how failures are told apart."""

from __future__ import annotations

import pytest

from integrations.startup import StartupError, classify, without_password


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "postgresql://portal:pw@db:5432/portal?sslmode=require",
            "postgresql://portal@db:5432/portal",
        ),
        ("redis://:pw@cache:6379/0", "redis://cache:6379/0"),
        ("rediss://default:pw@[::1]:6380/1", "rediss://default@[::1]:6380/1"),
        (
            "host=db port=5432 dbname=portal user=portal password=pw",
            "host=db port=5432 dbname=portal user=portal",
        ),
        ("postgresql://portal:pw@db:notaport/x", "<unparsable URL>"),
    ],
)
def test_urls_are_shown_without_their_password(url: str, shown: str) -> None:
    assert without_password(url) == shown


@pytest.mark.parametrize(
    ("error", "what", "transient"),
    [
        (OSError("connect failed: Connection refused"), "connection refused", True),
        (TimeoutError(), "timed out", True),
        (
            RuntimeError('password authentication failed for user "portal"'),
            "authentication failed",
            False,
        ),
        (RuntimeError("invalid peer certificate: UnknownIssuer"), "TLS handshake failed", False),
        (
            RuntimeError("failed to lookup address information: Name or service not known"),
            "host name not resolved",
            True,
        ),
        (RuntimeError('database "portal" does not exist'), "database does not exist", False),
        (ValueError("something else"), "unreachable (ValueError)", True),
    ],
)
def test_failures_are_classified_without_quoting_them(
    error: BaseException, what: str, transient: bool
) -> None:
    failure = classify(error)
    assert (failure.what, failure.transient) == (what, transient)


def test_the_line_names_the_setting_target_and_failure() -> None:
    error = StartupError("TEMPORAL_ADDRESS", "connection refused after 3 attempts", "t:7233")
    assert (
        str(error)
        == "start-up failed: TEMPORAL_ADDRESS (t:7233): connection refused after 3 attempts"
    )
