"""How injected faults look on the wire for APIs that never answer 429, 503 or 504 themselves
(WHMCS, Freebit): the page a proxy or load balancer in front of them would send."""

from __future__ import annotations

from starlette.responses import HTMLResponse, Response

from emulators.faults import Fault, FaultKind, hold

_PAGE = "<html><head><title>{status} {reason}</title></head><body><h1>{reason}</h1></body></html>"


async def answer_fault_before_call(fault: Fault) -> Response | None:
    """The response that replaces the call, or None when the call should still run."""
    match fault.kind:
        case FaultKind.LATENCY:
            await hold(fault)
            return None
        case FaultKind.HTTP_503:
            return _proxy_page(503, "Service Unavailable")
        case FaultKind.RATE_LIMIT:
            headers = {} if fault.retry_after is None else {"Retry-After": str(fault.retry_after)}
            return _proxy_page(429, "Too Many Requests", headers)
        case FaultKind.TIMEOUT:
            return await gateway_timeout_after(fault)
        case FaultKind.COMMIT_THEN_TIMEOUT:
            return None


async def gateway_timeout_after(fault: Fault) -> Response:
    await hold(fault)
    return _proxy_page(504, "Gateway Timeout")


def _proxy_page(status: int, reason: str, headers: dict[str, str] | None = None) -> Response:
    return HTMLResponse(_PAGE.format(status=status, reason=reason), status, headers)
