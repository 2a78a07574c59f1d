"""Async client for the Freebit SIM management API.

Every failure becomes an `IntegrationError` whose `code` an operator can act on:
- ETIMEOUT: the request went out but no complete answer came back (timed out, or the
  connection broke). Ambiguous: Freebit may have applied it, the caller decides whether
  sending it again is safe.
- ECONNECTION: no connection, nothing was sent. 429, 5xx, EBADRESPONSE: transient.
- ERATELIMIT (transient): no turn under FREEBIT_RATE_LIMIT_PER_SECOND within the timeout;
  nothing was sent.
- LOCKED (`AccountLockedError`, transient): one of FREEBIT_ACCOUNT_LOCKED_CODES, the account
  is locked or inside its operation gap; nothing was applied.
- AUTH (`AuthenticationError`): the OEM credentials were refused.
- Freebit's statusCode (`FreebitError`, business): any other refusal.
An authKey refused with one of FREEBIT_AUTH_KEY_REJECTED_CODES is renewed once, transparently.
The oemKey and authKeys are never logged.

Freebit publishes no spec: what the client assumes of it (those codes, the authKey lifetime
FREEBIT_TOKEN_TTL, FREEBIT_LOGIN_INVALIDATES_OLDER_KEYS) is in `FreebitSettings`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx
import structlog

from contracts.sim import (
    Cancellation,
    NetworkTypeChange,
    PlanChange,
    QuotaTopUp,
    VoiceOptionsChange,
)
from integrations.config import FreebitSettings
from integrations.errors import AuthenticationError, IntegrationError, TransientError
from integrations.freebit import wire
from integrations.freebit.errors import AccountLockedError, AuthKeyRejectedError, FreebitError
from integrations.freebit.models import (
    AccountDetail,
    TrafficInfo,
    check_account,
    check_top_up,
    check_voice_options,
)
from integrations.freebit.paths import FreebitOperation, operation_url
from integrations.freebit.token_cache import FreebitTokenCache
from integrations.rate_limited_http import rate_limited_http
from integrations.secrets.provider import CredentialSource
from integrations.vendor_rate_limit import AsyncVendorRateLimit

log = structlog.get_logger(__name__)

Json = dict[str, Any]
AnswerT = TypeVar("AnswerT")

_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
PROBE_PLACEHOLDER_ACCOUNT = "00000000000"
"""What the health check reads without FREEBIT_PROBE_ACCOUNT: a well-formed number that is no
SIM's (no Japanese number starts with 00)."""


class FreebitClient:
    def __init__(
        self,
        settings: FreebitSettings,
        token_cache: FreebitTokenCache,
        *,
        oem_key: CredentialSource | None = None,
        rate_limit: AsyncVendorRateLimit | None = None,
    ) -> None:
        """`oem_key`: e.g. the secret store's active version; default: FREEBIT_OEM_KEY.
        `rate_limit`: FREEBIT_RATE_LIMIT_PER_SECOND, which every request (authOem too) takes a
        turn under."""
        self._settings = settings
        self._codes = wire.ResultCodes.of(settings)
        self._token_cache = token_cache
        self._oem_key = oem_key or CredentialSource(settings.oem_key.get_secret_value().encode)
        self._http = rate_limited_http(settings.timeout / 1000, rate_limit)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def account_detail(self, account: str) -> AccountDetail:
        check_account(account)
        body = await self._call(FreebitOperation.ACCOUNT_DETAIL, wire.account_detail_body(account))
        return _decoded(FreebitOperation.ACCOUNT_DETAIL, wire.account_detail_from, body)

    async def traffic_info(self, account: str) -> TrafficInfo:
        check_account(account)
        body = await self._call(FreebitOperation.TRAFFIC_INFO, wire.traffic_info_body(account))
        return _decoded(FreebitOperation.TRAFFIC_INFO, wire.traffic_info_from, body)

    async def add_quota(self, account: str, top_up: QuotaTopUp) -> None:
        """Raises ValueError, before any call, beyond Freebit's MAX_QUOTA_MB."""
        check_account(account)
        check_top_up(top_up)
        body = wire.add_quota_body(account, top_up, self._settings.quota_code)
        await self._call(FreebitOperation.ADD_QUOTA, body)

    async def change_plan(self, account: str, change: PlanChange) -> None:
        check_account(account)
        await self._call(FreebitOperation.PLAN_CHANGE, wire.plan_change_body(account, change))

    async def change_voice_options(self, account: str, change: VoiceOptionsChange) -> None:
        """Raises ValueError, before any call, when neither option is given."""
        check_account(account)
        check_voice_options(change)
        body = wire.voice_options_body(account, change)
        await self._call(FreebitOperation.VOICE_OPTIONS, body)

    async def change_network_type(self, account: str, change: NetworkTypeChange) -> None:
        """Freebit locks the account for about 30 minutes afterwards; it cannot be undone."""
        check_account(account)
        body = wire.contract_line_body(account, change)
        await self._call(FreebitOperation.CONTRACT_LINE, body)

    async def cancel_account(self, account: str, cancellation: Cancellation) -> None:
        """Freebit accepts the cancellation now and carries it out later."""
        check_account(account)
        await self._call(FreebitOperation.CANCEL, wire.cancel_body(account, cancellation))

    async def verify_credentials(self, oem_key: str | None = None) -> None:
        """Authenticate afresh with `oem_key` or the active key, bypassing the cache.

        With FREEBIT_LOGIN_INVALIDATES_OLDER_KEYS (default) that login has just made the cached
        authKey invalid: it is dropped (not one a worker stored meanwhile), so the workers' next
        call logs in instead of sending a dead key. Otherwise the cache is left alone."""
        invalidated = (
            await self._token_cache.peek() if self._settings.login_invalidates_older_keys else None
        )
        if oem_key is None:
            await self._authenticate()
        else:
            await self._authenticate_with(oem_key)
        if invalidated is not None:
            await self._token_cache.invalidate(invalidated)

    async def check_auth_key(self) -> None:
        """The health check: a read-only getDetail with the authKey the workers share, through
        their token cache, so it logs in only when none is cached or Freebit rejected it, and
        never makes the workers' key invalid.

        It reads FREEBIT_PROBE_ACCOUNT, whose answer must be a success or the account locked;
        unset, a number that is no SIM's, where any refusal but an authKey rejection shows that
        Freebit answered and accepted the key."""
        account = self._settings.probe_account
        operation = FreebitOperation.ACCOUNT_DETAIL
        started = time.monotonic()
        try:
            body = await self._call_with_auth_key(
                operation, wire.account_detail_body(account or PROBE_PLACEHOLDER_ACCOUNT)
            )
        except AccountLockedError as refusal:
            result = f"account locked ({refusal.result_code})"
        except FreebitError as refusal:
            if account is not None or not refusal.result_code:
                raise  # a refusal of the probe account, or no answer of Freebit's (HTTP 404)
            result = f"refused as expected ({refusal.result_code})"
        else:
            if account is not None:
                _decoded(operation, wire.account_detail_from, body)
            result = "success"
        log.info("freebit health probe", operation=operation, result=result, **_took(started))

    async def _call(self, operation: FreebitOperation, body: Json) -> Json:
        started = time.monotonic()
        try:
            answer = await self._call_with_auth_key(operation, body)
        except IntegrationError as error:
            log.warning(
                "freebit call failed", operation=operation, code=error.code, **_took(started)
            )
            raise
        log.info("freebit call", operation=operation, result="success", **_took(started))
        return answer

    async def _call_with_auth_key(self, operation: FreebitOperation, body: Json) -> Json:
        auth_key = await self._token_cache.auth_key(self._authenticate)
        try:
            return await self._post(operation, {**body, "authKey": auth_key})
        except AuthKeyRejectedError as rejected:
            log.info(
                "freebit authKey rejected, authenticating again",
                operation=operation,
                result_code=rejected.result_code,
            )
            await self._token_cache.invalidate(auth_key)
        renewed = await self._token_cache.auth_key(self._authenticate)
        return await self._post(operation, {**body, "authKey": renewed})

    async def _authenticate(self) -> str:
        """With the active OEM key; once more with a newer one if the store has one by now."""
        key = await self._oem_key.current_async()
        try:
            return await self._authenticate_with(key.text())
        except AuthenticationError:
            newer = await self._oem_key.after_rejection_async(key)
            if newer is None:
                raise
            return await self._authenticate_with(newer.text())

    async def _authenticate_with(self, oem_key: str) -> str:
        body = await self._post(
            FreebitOperation.AUTH, wire.auth_body(self._settings.oem_id, oem_key)
        )
        return _decoded(FreebitOperation.AUTH, wire.auth_key_from, body)

    async def _post(self, operation: FreebitOperation, payload: Json) -> Json:
        url = operation_url(self._settings, operation)
        try:
            response = await self._http.post(url, data=wire.form(payload))
        except _NOT_SENT as error:
            raise TransientError("ECONNECTION", f"{operation}: {error!r}") from error
        except httpx.TimeoutException as error:
            timeout_ms = self._settings.timeout
            raise TransientError(
                "ETIMEOUT", f"{operation} timed out after {timeout_ms} ms"
            ) from error
        except httpx.TransportError as error:
            message = f"{operation}: connection lost after sending: {error!r}"
            raise TransientError("ETIMEOUT", message) from error
        body = _json_answer(operation, response)
        wire.raise_for_result(operation, body, self._codes)
        return body


def _json_answer(operation: FreebitOperation, response: httpx.Response) -> Json:
    status = response.status_code
    if status == 429:
        retry_after = response.headers.get("Retry-After", "")
        seconds = float(retry_after) if retry_after.isdigit() else None
        raise TransientError("429", f"{operation} rate limited", retry_after=seconds)
    if status >= 500:
        raise TransientError(str(status), f"{operation} failed with HTTP {status}")
    if status != 200:
        raise FreebitError(str(status), f"{operation} failed with HTTP {status}", result_code="")
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise TransientError("EBADRESPONSE", f"{operation} answered something other than JSON")
    return body


def _decoded(operation: FreebitOperation, decode: Callable[[Json], AnswerT], body: Json) -> AnswerT:
    try:
        return decode(body)
    except (KeyError, TypeError, ValueError) as error:
        raise TransientError(
            "EBADRESPONSE", f"{operation} answer not understood: {error}"
        ) from error


def _took(started: float) -> dict[str, int]:
    return {"duration_ms": round((time.monotonic() - started) * 1000)}
