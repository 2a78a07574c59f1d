"""Every workflow type, in one list."""

from workflows.health_check import HealthCheck
from workflows.import_call_records import ImportCallRecords
from workflows.import_call_records_scheduled import ScheduledCallRecordsImport
from workflows.provision_order import ProvisionOrder
from workflows.rotate_credential import RotateCredential
from workflows.sim_account import SimAccount

WORKFLOWS = [
    ProvisionOrder,
    SimAccount,
    ImportCallRecords,
    ScheduledCallRecordsImport,
    HealthCheck,
    RotateCredential,
]
"""Every workflow type: what the worker registers and the replay test replays."""
