"""Durations as operators write them: `250ms`, `5s`, `30m`, `1h30m`, `30d`, seconds, ISO 8601."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: Any) -> Any:
    """Accept "30m", "1h30m", "5s", "250ms", "30d" besides what pydantic takes (seconds, ISO)."""
    if not isinstance(value, str):
        return value
    text = value.strip().lower()
    if text.replace(".", "", 1).isdigit():
        return timedelta(seconds=float(text))
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        return value
    return timedelta(seconds=sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts))


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
