"""Where a vendor client's requests take their turn under the vendor's rate limit: below the
client's own logic, so every request it sends counts (retries, pages, logins to the vendor's
API host), whichever transport or proxy then carries it."""

from __future__ import annotations

from typing import Any

import httpx
import requests
from requests.adapters import HTTPAdapter

from integrations.vendor_rate_limit import AsyncVendorRateLimit, VendorRateLimit


def rate_limited_http(
    timeout_seconds: float, rate_limit: AsyncVendorRateLimit | None
) -> httpx.AsyncClient:
    """An httpx client whose every request (redirects too) first takes its turn; no limit, and
    no Redis, when `rate_limit` is None. A request hook rather than a transport: httpx sends a
    request to a proxy from the environment through a transport of its own."""
    if rate_limit is None:
        return httpx.AsyncClient(timeout=timeout_seconds)

    async def take_turn(_: httpx.Request) -> None:
        await rate_limit.take_turn()

    return httpx.AsyncClient(timeout=timeout_seconds, event_hooks={"request": [take_turn]})


class RateLimitedAdapter(HTTPAdapter):
    """A requests adapter (the transport of a `requests.Session`) that sends each request once
    it has its turn."""

    def __init__(self, rate_limit: VendorRateLimit, **adapter_options: Any) -> None:
        super().__init__(**adapter_options)
        self._rate_limit = rate_limit

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        self._rate_limit.take_turn()
        return super().send(request, *args, **kwargs)
