"""Salesforce: the JWT login with the configured audience, the fields this system reads and
writes (sObject Describe), the error-code field's length, and the Platform Event channel."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from integrations.config import EventTransport, PlatformEventSettings, SalesforceSettings
from integrations.preflight.result import CheckFailedError, CheckResult, run_check
from integrations.salesforce.auth import PrivateKeySource, SalesforceAuth
from integrations.salesforce.client import SalesforceClient
from integrations.salesforce.event_transports import open_transport

SYSTEM = "salesforce"
READ_FIELDS: Mapping[str, frozenset[str]] = {
    "Order": frozenset(
        {
            "Id",
            "OrderNumber",
            "AccountId",
            "Activation_Status__c",
            "Activation_Error_Code__c",
            "Activation_Error_Message__c",
            "WHMCS_Order_ID__c",
        }
    ),
    "OrderItem": frozenset({"Id", "Quantity", "Product2Id", "WHMCS_Service_ID__c"}),
    "Product2": frozenset({"Name", "WH_Product_ID__c", "Billing_Cycle__c"}),
}
"""What `ORDER_WITH_ITEMS_QUERY` reads (integrations/salesforce/client.py)."""
WRITTEN_FIELDS: Mapping[str, frozenset[str]] = {
    "Order": frozenset(
        {
            "Activation_Status__c",
            "Activation_Error_Code__c",
            "Activation_Error_Message__c",
            "WHMCS_Order_ID__c",
        }
    ),
    "OrderItem": frozenset({"WHMCS_Service_ID__c"}),
}
"""What activities/salesforce.py writes."""
MINIMUM_LENGTHS = {"Activation_Error_Code__c": 80, "Activation_Error_Message__c": 255}
"""Salesforce's error codes run to ~50 characters (docs/runbook-provisioning.md: Text(80));
the error message is written cut to 255."""


class SalesforcePreflight:
    def __init__(
        self,
        settings: SalesforceSettings,
        events: PlatformEventSettings,
        client: SalesforceClient,
        private_key: PrivateKeySource | None,
    ) -> None:
        self._settings = settings
        self._events = events
        self._client = client
        self._private_key = private_key

    async def run(self) -> list[CheckResult]:
        checks = [
            run_check(SYSTEM, "JWT login", self._login, self._login_fix),
            *(
                run_check(SYSTEM, f"{sobject} fields", self._fields_check(sobject), _fields_fix)
                for sobject in READ_FIELDS
            ),
            run_check(
                SYSTEM,
                "Activation_Error_Code__c length",
                self._lengths,
                "make Activation_Error_Code__c Text(80) and Activation_Error_Message__c at "
                "least Text(255): a shorter field refuses the Failed status (STRING_TOO_LONG)",
            ),
            run_check(
                SYSTEM,
                "Platform Event channel",
                self._subscribe,
                f"create the Platform Event {self._events.provision_event_channel} and give "
                "the integration user Read on it, or correct SF_PROVISION_EVENT_CHANNEL",
            ),
        ]
        return list(await asyncio.gather(*checks))

    def _auth(self) -> SalesforceAuth:
        return SalesforceAuth(self._settings, private_key=self._private_key)

    async def _login(self) -> str:
        auth = self._auth()
        try:
            token = await asyncio.to_thread(auth.token)
        finally:
            auth.close()
        return (
            f"logged in as {self._settings.username} with audience "
            f"{self._settings.jwt_audience}; instance {token.instance_url}"
        )

    def _login_fix(self, error: Exception) -> str:
        if "audience" in str(error):
            return (
                "set SF_AUDIENCE to https://login.salesforce.com (production), "
                "https://test.salesforce.com (sandbox) or the Experience Cloud site URL"
            )
        return (
            "check SF_CLIENT_ID, SF_USERNAME, the connected app's certificate (it must match "
            "the active private key) and that the user is pre-authorized for the app"
        )

    async def _describe(self, sobject: str) -> dict[str, dict[str, Any]]:
        answer = await asyncio.to_thread(self._client.describe, sobject)
        return {field["name"]: field for field in answer.get("fields", [])}

    def _fields_check(self, sobject: str) -> Callable[[], Awaitable[str]]:
        async def check() -> str:
            fields = await self._describe(sobject)
            missing = sorted(READ_FIELDS[sobject] - fields.keys())
            written = WRITTEN_FIELDS.get(sobject, frozenset())
            unwritable = sorted(
                name for name in written if name in fields and not fields[name].get("updateable")
            )
            problems = []
            if missing:
                problems.append(f"missing: {', '.join(missing)}")
            if unwritable:
                problems.append(f"not updateable by the integration user: {', '.join(unwritable)}")
            if problems:
                raise CheckFailedError(f"{sobject} " + "; ".join(problems))
            return f"{len(READ_FIELDS[sobject])} fields read exist" + (
                f", {len(written)} written are updateable" if written else ""
            )

        return check

    async def _lengths(self) -> str:
        fields = await self._describe("Order")
        short = [
            f"{name} is {fields[name].get('length')} long, needs {length}"
            for name, length in MINIMUM_LENGTHS.items()
            if name in fields and int(fields[name].get("length") or 0) < length
        ]
        if short:
            raise CheckFailedError("; ".join(short))
        return ", ".join(
            f"{name} {fields[name].get('length')}" for name in MINIMUM_LENGTHS if name in fields
        )

    async def _subscribe(self) -> str:
        channel = self._events.provision_event_channel
        auth = self._auth()
        probe = open_transport(self._settings, self._events, auth)
        try:
            await probe.check_subscription(channel)
        finally:
            await probe.aclose()
            auth.close()
        if self._events.events_transport is EventTransport.COMETD:
            return f"handshake and subscribe to {channel} accepted, then disconnected"
        return f"Pub/Sub API GetTopic {channel}: subscribing allowed"


def _fields_fix(error: Exception) -> str:
    if isinstance(error, CheckFailedError):
        return (
            "create the missing fields (docs/runbook-provisioning.md) and give the integration "
            "user's profile or permission set Edit on the fields it writes"
        )
    return "fix the JWT login first; else give the integration user Read on the object"
