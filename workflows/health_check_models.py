"""Input and output models of the `HealthCheck` workflow."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, Field

from integrations.config import Duration
from integrations.health.status import HealthResult, HealthStatus, Integration


class HealthCheckInput(BaseModel):
    integration: Integration
    check_timeout: Duration = Field(
        default=timedelta(minutes=2),
        description="how long the check may wait for a worker and run before it counts as down",
    )


class HealthCheckResult(BaseModel):
    result: HealthResult
    previous: HealthStatus | None
    """The stored status this result replaced; None for an integration's first result."""

    @property
    def changed(self) -> bool:
        """A first result counts as a change only when it is not ok."""
        return self.result.status is not (self.previous or HealthStatus.OK)
