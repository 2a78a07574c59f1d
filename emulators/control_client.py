"""HTTP client for an emulator's control API, used by tests, the demo and the benchmarks."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import httpx

from emulators.core import CONTROL_PREFIX
from emulators.faults import Fault


class EmulatorControl:
    def __init__(self, base_url: str, *, ca_path: Path | None = None) -> None:
        self._http = httpx.Client(
            base_url=f"{base_url}{CONTROL_PREFIX}",
            verify=ssl.create_default_context(cafile=ca_path) if ca_path else True,
            timeout=10,
        )

    def close(self) -> None:
        self._http.close()

    def reset(self) -> None:
        self.post("/reset")

    def inject(self, fault: Fault) -> None:
        self.post("/faults", fault.model_dump(mode="json"))

    def clear_faults(self) -> None:
        self._http.delete("/faults").raise_for_status()

    def call_counts(self) -> dict[str, int]:
        counts: dict[str, int] = self.get("/calls")
        return counts

    def call_arrivals(self) -> list[tuple[str, float]]:
        """(operation, epoch seconds) of the latest calls, in the order they arrived."""
        return [(operation, arrived) for operation, arrived in self.get("/calls/arrivals")]

    def post(self, path: str, payload: Any = None) -> Any:
        response = self._http.post(path, json=payload)
        response.raise_for_status()
        return response.json() if response.content else None

    def get(self, path: str, params: dict[str, str] | None = None) -> Any:
        response = self._http.get(path, params=params)
        response.raise_for_status()
        return response.json()
