"""Debian's promtool (package prometheus) for the tests of deploy/prometheus: the calling test
is skipped without it, or fails when REQUIRE_PROMTOOL=1 (CI installs it, so a missing
promtool is a CI bug there)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        reason = "promtool is not installed (Debian package prometheus)"
        if os.environ.get("REQUIRE_PROMTOOL") == "1":
            pytest.fail(f"REQUIRE_PROMTOOL=1 but {reason}")
        pytest.skip(reason)
    return path


def run_promtool(*args: str | Path) -> None:
    """Run promtool; fail with its output unless it succeeds."""
    completed = subprocess.run(
        [promtool(), *map(str, args)], capture_output=True, text=True, check=False
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
