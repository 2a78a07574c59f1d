"""Every workflow type, in one list, and the sandbox they run in."""

from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

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

WORKFLOW_RUNNER = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_modules(
        "contracts", "workflows.calls", "workflows.search_attributes"
    )
)
"""The sandbox of the worker and the replay test. Each workflow run imports the workflow
modules afresh, so one that reads the clock or does I/O fails its task; the leaf modules they
share, which hold only data models and the names of activities and search attributes, are
imported once per process (re-importing them cost each run about as much as the workflow)."""
