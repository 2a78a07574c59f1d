"""Wire-faithful WHMCS API emulator with fault injection."""

from emulators.whmcs.app import API_PATH, DEFAULT_CREDENTIAL, WhmcsEmulator
from emulators.whmcs.control import WhmcsEmulatorControl
from emulators.whmcs.records import ApiCredential, NewClient, PayMethodFields

__all__ = [
    "API_PATH",
    "DEFAULT_CREDENTIAL",
    "ApiCredential",
    "NewClient",
    "PayMethodFields",
    "WhmcsEmulator",
    "WhmcsEmulatorControl",
]
