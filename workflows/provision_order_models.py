"""Input, output, query and handler models of the `ProvisionOrder` workflow."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum

from pydantic import BaseModel, Field

from integrations.config import Duration


class ProvisionStep(StrEnum):
    """The steps in order; names are the seed's log step names."""

    VALIDATION = "validation"
    SF_STATUS_UPDATE = "sf_status_update"
    ORDER_DETAILS = "order_details"
    MAPPING = "mapping"
    PAYMENT_METHOD = "payment_method"
    WHMCS_CREATE = "whmcs_create"
    WHMCS_ACCEPT = "whmcs_accept"
    SF_SUCCESS_UPDATE = "sf_success_update"


class ProvisionPolicy(BaseModel):
    """Retry behaviour, read from PROVISION_* settings by whoever starts the workflow."""

    max_attempts: int = Field(default=3, ge=1)
    retry_initial_interval: Duration = timedelta(seconds=5)
    manual_retry_wait: Duration = timedelta(days=30)
    call_timeout: Duration = timedelta(minutes=1)
    """How long one attempt of one vendor call may take before it is retried (an attempt on
    a killed worker is only noticed after this)."""


class ProvisionOrderInput(BaseModel):
    order_id: str
    idem_key: str | None = None
    event_id: str | None = Field(default=None, description="the Platform Event that started it")
    policy: ProvisionPolicy = ProvisionPolicy()


class ProvisionOutcome(StrEnum):
    ACTIVATED = "activated"
    SKIPPED = "skipped"
    FAILED = "failed"
    """Failed, and no retry came before the manual retry wait ran out."""


class StepFailure(BaseModel):
    step: ProvisionStep
    code: str
    message: str


class ProvisionOrderResult(BaseModel):
    order_id: str
    outcome: ProvisionOutcome
    reason: str | None = None
    whmcs_order_id: int | None = None
    service_ids_by_item: dict[str, int] = Field(default_factory=dict)


class ProvisionStatus(BaseModel):
    """What the `status` query answers."""

    order_id: str
    activation_status: str | None = None
    current_step: ProvisionStep | None = None
    runs: int = Field(default=1, description="1 + the manual retries that resumed the order")
    completed_steps: list[ProvisionStep] = Field(default_factory=list)
    whmcs_order_id: int | None = None
    service_ids_by_item: dict[str, int] = Field(default_factory=dict)
    last_error: StepFailure | None = None
    waiting_for_retry: bool = False


class RetryRequest(BaseModel):
    reason: str | None = None
    event_id: str | None = Field(default=None, description="set when a Platform Event asks")


class RetryAnswer(BaseModel):
    accepted: bool
    message: str
