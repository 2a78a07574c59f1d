"""/metrics never fails for want of Temporal's visibility: the workflow gauges are left out,
with one warning until visibility answers again (no Temporal server here: a closed port)."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

from temporalio.client import Client

from integrations.metrics import free_loopback_port
from integrations.workflow_gauges import WorkflowGauges

LEFT_OUT = "Workflow gauges left out of /metrics until Temporal's visibility answers"


async def test_unanswered_visibility_leaves_the_gauges_out_with_one_warning(
    json_log: io.StringIO,
) -> None:
    client = await Client.connect(f"127.0.0.1:{free_loopback_port()}", lazy=True)
    gauges = WorkflowGauges(client)

    scrapes = [await gauges.exposition(datetime.now(UTC)) for _ in range(3)]

    assert scrapes == [b"", b"", b""]
    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    assert [line["event"] for line in lines] == [LEFT_OUT]
    assert lines[0]["level"] == "warning"
