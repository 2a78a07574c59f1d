"""Debian's promtool (package prometheus) for the tests of deploy/prometheus."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.support.debian_tools import require_tool


def run_promtool(*args: str | Path) -> None:
    """Run promtool; fail with its output unless it succeeds."""
    completed = subprocess.run(
        [require_tool("promtool", "prometheus"), *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
