"""`portalctl order retry` takes one order or a selection, never neither or both; checked
before anything is contacted."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from starters.cli.app import app


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "Give an ORDER_ID, or --failed"),
        (["--code", "503"], "Give an ORDER_ID, or --failed"),
        (["801000000000001AAA", "--failed"], "not both"),
        (["801000000000001AAA", "--since", "2h"], "not both"),
        (["--failed", "--rate", "fast"], "is not a rate"),
        (["--failed", "--rate", "0/s"], "is not a rate"),
        (["--failed", "--since", "yesterday"], "is not a duration"),
    ],
)
def test_order_retry_refuses_an_unclear_request(args: list[str], message: str) -> None:
    outcome = CliRunner().invoke(app, ["order", "retry", *args], env={"COLUMNS": "200"})

    assert outcome.exit_code == 2
    assert message in outcome.output
