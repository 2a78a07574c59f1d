"""What every emulator has: injectable faults, a count of the API calls it served (and when
the latest ones arrived), and the control routes under `/__emulator/` that tests, the demo
and the benchmarks drive."""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Sequence

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from emulators.faults import Fault, FaultInjector

CONTROL_PREFIX = "/__emulator"
ARRIVALS_KEPT = 10_000

Endpoint = Callable[[Request], Awaitable[Response]]


def guarded_control_routes(
    routes: Sequence[tuple[str, Endpoint, str]], *, not_found: type[Exception]
) -> list[Route]:
    """Control routes (path below CONTROL_PREFIX, endpoint, method) that answer bad seed data
    with 422 and an unknown record (`not_found`) with 404, both with the reason."""

    def guarded(endpoint: Endpoint) -> Endpoint:
        async def answer(request: Request) -> Response:
            try:
                return await endpoint(request)
            except not_found as error:
                reason = getattr(error, "message", str(error))
                return JSONResponse({"error": reason}, status_code=404)
            except ValueError as error:  # pydantic's ValidationError included
                return JSONResponse({"error": str(error)}, status_code=422)

        return answer

    return [
        Route(f"{CONTROL_PREFIX}{path}", guarded(endpoint), methods=[method])
        for path, endpoint, method in routes
    ]


class EmulatorCore:
    def __init__(self) -> None:
        self.faults = FaultInjector()
        self._calls: Counter[str] = Counter()
        self._arrivals: deque[tuple[str, float]] = deque(maxlen=ARRIVALS_KEPT)
        self._lock = threading.Lock()

    def record_call(self, operation: str) -> None:
        with self._lock:
            self._calls[operation] += 1
            self._arrivals.append((operation, time.time()))

    def call_counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._calls)

    def call_arrivals(self) -> list[tuple[str, float]]:
        """(operation, epoch seconds) of the latest ARRIVALS_KEPT calls, in arrival order."""
        with self._lock:
            return list(self._arrivals)

    def reset(self) -> None:
        self.faults.clear()
        with self._lock:
            self._calls.clear()
            self._arrivals.clear()

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

        async def call_arrivals(_: Request) -> Response:
            return JSONResponse(self.call_arrivals())

        return [
            Route(f"{CONTROL_PREFIX}/reset", reset, methods=["POST"]),
            Route(f"{CONTROL_PREFIX}/faults", add_fault, methods=["POST"]),
            Route(f"{CONTROL_PREFIX}/faults", clear_faults, methods=["DELETE"]),
            Route(f"{CONTROL_PREFIX}/faults", list_faults, methods=["GET"]),
            Route(f"{CONTROL_PREFIX}/calls", calls, methods=["GET"]),
            Route(f"{CONTROL_PREFIX}/calls/arrivals", call_arrivals, methods=["GET"]),
        ]
