"""The committed Pub/Sub API modules are what `make proto` generates from the .proto, and the
wire names and field numbers are Salesforce's (a client that gets them wrong talks past the
real service)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from integrations.salesforce.pubsub import pubsub_api_pb2 as api

ROOT = Path(__file__).resolve().parents[2]
PROTO = Path("integrations/salesforce/pubsub/pubsub_api.proto")
GENERATED = ("pubsub_api_pb2.py", "pubsub_api_pb2.pyi", "pubsub_api_pb2_grpc.py")


def test_committed_modules_match_the_proto(tmp_path: Path) -> None:
    outputs = [f"--{kind}_out={tmp_path}" for kind in ("python", "pyi", "grpc_python")]
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", "-I.", *outputs, str(PROTO)],
        cwd=ROOT,
        check=True,
    )
    for name in GENERATED:
        generated = (tmp_path / PROTO.parent / name).read_text()
        committed = (ROOT / PROTO.parent / name).read_text()
        assert committed == generated, f"{name} is stale: run `make proto`"


@pytest.mark.parametrize(
    ("message", "fields"),
    [
        (
            api.FetchRequest,
            {
                "topic_name": 1,
                "replay_preset": 2,
                "replay_id": 3,
                "num_requested": 4,
                "auth_refresh": 5,
            },
        ),
        (
            api.FetchResponse,
            {"events": 1, "latest_replay_id": 2, "rpc_id": 3, "pending_num_requested": 4},
        ),
        (api.ConsumerEvent, {"event": 1, "replay_id": 2}),
        (api.ProducerEvent, {"id": 1, "schema_id": 2, "payload": 3, "headers": 4}),
        (api.SchemaInfo, {"schema_json": 1, "schema_id": 2, "rpc_id": 3}),
        (
            api.TopicInfo,
            {
                "topic_name": 1,
                "tenant_guid": 2,
                "can_publish": 3,
                "can_subscribe": 4,
                "schema_id": 5,
                "rpc_id": 6,
            },
        ),
    ],
)
def test_field_numbers_are_salesforces(message: type, fields: dict[str, int]) -> None:
    descriptor = message.DESCRIPTOR  # type: ignore[attr-defined]
    assert descriptor.full_name.startswith("eventbus.v1.")
    assert {field.name: field.number for field in descriptor.fields} == fields


def test_replay_presets_are_salesforces() -> None:
    assert (api.LATEST, api.EARLIEST, api.CUSTOM) == (0, 1, 2)
