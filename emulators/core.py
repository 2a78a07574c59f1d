"""What every emulator has: injectable faults, a count of the API calls it served, and the
control routes under `/__emulator/` that tests, the demo and the benchmarks drive."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from emulators.faults import Fault, FaultInjector

CONTROL_PREFIX = "/__emulator"


class EmulatorCore:
    def __init__(self) -> None:
        self.faults = FaultInjector()
        self._calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def record_call(self, operation: str) -> None:
        with self._lock:
            self._calls[operation] += 1

    def call_counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._calls)

    def reset(self) -> None:
        self.faults.clear()
        with self._lock:
            self._calls.clear()

    def control_routes(self, reset_state: Callable[[], None]) -> list[Route]:
        """Routes shared by all emulators; `reset_state` clears the emulator's own data."""

        async def reset(_: Request) -> Response:
            self.reset()
            reset_state()
            return Response(status_code=204)

        async def add_fault(request: Request) -> Response:
            self.faults.add(Fault.model_validate(await request.json()))
            return Response(status_code=204)

        async def clear_faults(_: Request) -> Response:
            self.faults.clear()
            return Response(status_code=204)

        async def list_faults(_: Request) -> Response:
            return JSONResponse([fault.model_dump(mode="json") for fault in self.faults.pending()])

        async def calls(_: Request) -> Response:
            return JSONResponse(self.call_counts())

        return [
            Route(f"{CONTROL_PREFIX}/reset", reset, methods=["POST"]),
            Route(f"{CONTROL_PREFIX}/faults", add_fault, methods=["POST"]),
            Route(f"{CONTROL_PREFIX}/faults", clear_faults, methods=["DELETE"]),
            Route(f"{CONTROL_PREFIX}/faults", list_faults, methods=["GET"]),
            Route(f"{CONTROL_PREFIX}/calls", calls, methods=["GET"]),
        ]
