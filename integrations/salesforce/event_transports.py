"""The Platform Event transport SF_EVENTS_TRANSPORT names: the Pub/Sub API (default) or
CometD. Both hand the bridge the same `PlatformEvent`s; their replay ids differ in kind (bytes
and ints) and neither transport accepts the other's."""

from __future__ import annotations

from integrations.config import EventTransport, PlatformEventSettings, SalesforceSettings
from integrations.salesforce.auth import SalesforceAuth
from integrations.salesforce.pubsub.transport import PubSubTransport
from integrations.salesforce.streaming import CometdTransport

SubscribingTransport = CometdTransport | PubSubTransport


def open_transport(
    salesforce: SalesforceSettings, events: PlatformEventSettings, auth: SalesforceAuth
) -> SubscribingTransport:
    if events.events_transport is EventTransport.COMETD:
        return CometdTransport(salesforce, auth)
    return PubSubTransport(salesforce, events, auth)
