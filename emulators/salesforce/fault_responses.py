"""How the Salesforce emulator acts out an injected fault around one operation."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.responses import Response

from emulators.core import EmulatorCore
from emulators.faults import Fault, FaultKind, hold
from emulators.salesforce.api_errors import ApiError


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
