"""How the Salesforce emulator acts out an injected fault around one operation, and the record
errors (row and approval locks, validation refusals) injected into writes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from starlette.responses import Response

from emulators.core import EmulatorCore
from emulators.faults import Fault, FaultKind, hold
from emulators.salesforce.api_errors import ApiError
from emulators.salesforce.control_models import RecordErrorInjection
from integrations.salesforce.record_ids import case_safe_id


async def serve_with_faults(
    core: EmulatorCore, operation: str, serve: Callable[[], Awaitable[Response]]
) -> Response:
    """Count the call, then serve it unless a pending fault for `operation` says otherwise."""
    core.record_call(operation)
    fault = core.faults.take(operation)
    if fault is None:
        return await serve()
    if fault.kind is FaultKind.LATENCY:
        await hold(fault)
        return await serve()
    if fault.kind is FaultKind.HTTP_503:
        error = ApiError(503, "SERVER_UNAVAILABLE", "Server temporarily unavailable")
        return _with_retry_after(error.response(), fault)
    if fault.kind is FaultKind.RATE_LIMIT:
        error = ApiError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
        return _with_retry_after(error.response(), fault)
    if fault.kind is FaultKind.COMMIT_THEN_TIMEOUT:
        await serve()
    await hold(fault)
    return ApiError(504, "REQUEST_TIMEOUT", "The request timed out").response()


def _with_retry_after(response: Response, fault: Fault) -> Response:
    if fault.retry_after is not None:
        response.headers["Retry-After"] = str(fault.retry_after)
    return response


class RecordErrors:
    """Injected record errors (RecordErrorInjection), each taken by the writes it matches.

    Not locked: the emulator touches it only from its event loop, like the record store.
    """

    def __init__(self) -> None:
        self._pending: list[RecordErrorInjection] = []

    def add(self, injection: RecordErrorInjection) -> None:
        self._pending.append(injection)

    def clear(self) -> None:
        self._pending.clear()

    def pending(self) -> list[RecordErrorInjection]:
        return list(self._pending)

    def take(
        self, operation: str, record_ids: Sequence[str | None]
    ) -> tuple[RecordErrorInjection, int] | None:
        """The first injection for a write (`operation`) of these records, with the position
        of the record it refuses (the one it names, else the first; None: a record the request
        itself got wrong); counts the injection down."""
        for index, injection in enumerate(self._pending):
            if injection.operation not in ("*", operation):
                continue
            position = _refused_position(injection, record_ids)
            if position is None:
                continue
            if injection.times == 1:
                del self._pending[index]
            elif injection.times > 1:
                self._pending[index] = injection.model_copy(update={"times": injection.times - 1})
            return injection, position
        return None


def _refused_position(
    injection: RecordErrorInjection, record_ids: Sequence[str | None]
) -> int | None:
    wanted = None if injection.record_id is None else case_safe_id(injection.record_id)
    for position, record_id in enumerate(record_ids):
        if record_id is None:
            continue
        if injection.record_id is None or case_safe_id(record_id) == wanted:
            return position
    return None
