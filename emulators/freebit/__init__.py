"""Wire-faithful Freebit (MVNO SIM management) API emulator with fault injection."""

from emulators.freebit.app import (
    API_PREFIX,
    DEFAULT_CREDENTIALS,
    DEFAULT_PATHS,
    DEFAULT_PLAN_CODES,
    FreebitEmulator,
)
from emulators.freebit.control import FreebitEmulatorControl
from emulators.freebit.records import (
    FreebitBehaviour,
    FreebitTiming,
    NewSimAccount,
    OemCredentials,
    OperationRecord,
    RecordedRequest,
    SimAccountRecord,
)

__all__ = [
    "API_PREFIX",
    "DEFAULT_CREDENTIALS",
    "DEFAULT_PATHS",
    "DEFAULT_PLAN_CODES",
    "FreebitBehaviour",
    "FreebitEmulator",
    "FreebitEmulatorControl",
    "FreebitTiming",
    "NewSimAccount",
    "OemCredentials",
    "OperationRecord",
    "RecordedRequest",
    "SimAccountRecord",
]
