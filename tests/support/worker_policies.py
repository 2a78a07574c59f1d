"""Workers with other policy settings: what an operator sets where the worker runs."""

from __future__ import annotations

import dataclasses
from typing import Any

from workers.dependencies import Integrations


def with_policies(integrations: Integrations, **policies: Any) -> Integrations:
    """The same dependencies with some policies replaced (`provisioning=`, `sim_account=`,
    `records=`, `rotation=`)."""
    return dataclasses.replace(
        integrations, policies=dataclasses.replace(integrations.policies, **policies)
    )
