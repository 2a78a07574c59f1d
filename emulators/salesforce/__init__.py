"""A wire-faithful Salesforce stand-in: JWT bearer login, REST query/update, faults."""

from emulators.salesforce.app import SalesforceEmulator, run_salesforce_emulator
from emulators.salesforce.control import SalesforceEmulatorControl

__all__ = ["SalesforceEmulator", "SalesforceEmulatorControl", "run_salesforce_emulator"]
