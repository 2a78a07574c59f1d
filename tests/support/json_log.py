"""Reading the `json_log` fixture's buffer: the production logging pipeline's JSON lines."""

from __future__ import annotations

import io
import json
from typing import Any


def log_lines(json_log: io.StringIO, message_start: str) -> list[dict[str, Any]]:
    """The logged lines whose message starts with `message_start`, in order."""
    lines = (json.loads(line) for line in json_log.getvalue().splitlines())
    return [line for line in lines if str(line.get("event", "")).startswith(message_start)]
