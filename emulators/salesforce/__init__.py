"""A wire-faithful Salesforce stand-in: JWT bearer login, REST query/update, CometD Platform
Events, faults."""

from emulators.salesforce.app import SalesforceEmulator
from emulators.salesforce.control import SalesforceEmulatorControl
from emulators.salesforce.event_bus import ORDER_PROVISION_CHANNEL

__all__ = [
    "ORDER_PROVISION_CHANNEL",
    "SalesforceEmulator",
    "SalesforceEmulatorControl",
]
