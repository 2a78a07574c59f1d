"""`portalctl sim ...` refuses a malformed phone number itself, before it contacts Temporal:
the operator's typo is named, not hidden behind a connection error."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from starters.cli.app import app

UNREACHABLE_TEMPORAL = "127.0.0.1:1"


@pytest.mark.parametrize(
    "args",
    [
        ["sim", "show", "0801234"],
        ["sim", "top-up", "080-1234-5678", "100"],
        ["sim", "cancel-op", "O8012345678", "op-1"],
    ],
)
def test_a_malformed_account_is_refused_before_temporal_is_contacted(
    monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    monkeypatch.setenv("TEMPORAL_ADDRESS", UNREACHABLE_TEMPORAL)

    result = CliRunner().invoke(app, args)

    assert result.exit_code == 2
    assert result.output.splitlines() == [
        f"Refused: account {args[2]!r} is not a 10 or 11 digit phone number"
    ]
