"""Tools some tests need from Debian packages (sshd, promtool, kubectl, chromium): a test is
skipped without its tool, or fails when REQUIRE_DEBIAN_TOOLS=1 (`.ci/run` installs them all,
so a missing one is a CI bug there)."""

from __future__ import annotations

import os
import shutil

import pytest


def require_tool(command: str, package: str) -> str:
    """The tool's path (`command` is a name on PATH or an absolute path)."""
    path = shutil.which(command)
    if path is not None:
        return path
    reason = f"{command} is not installed (Debian package {package})"
    if os.environ.get("REQUIRE_DEBIAN_TOOLS") == "1":
        pytest.fail(f"REQUIRE_DEBIAN_TOOLS=1 but {reason}")
    pytest.skip(reason)
