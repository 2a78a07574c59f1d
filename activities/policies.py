"""The worker's policy settings, as the workflows read them: once, when a workflow starts,
through a local activity, so the values are recorded in its history and a replay (or a
worker with other settings) sees the same. Set them where the worker runs."""

from __future__ import annotations

from dataclasses import dataclass

from temporalio import activity

from contracts.provisioning import PROVISIONING_POLICY, ProvisionPolicy
from contracts.records import RECORDS_POLICY, RecordsPolicy
from contracts.rotation import ROTATION_POLICY, RotationPolicy
from contracts.sim import SIM_POLICY, SimAccountPolicy


@dataclass(frozen=True)
class PolicyActivities:
    provisioning: ProvisionPolicy
    sim_account: SimAccountPolicy
    records: RecordsPolicy
    rotation: RotationPolicy

    @activity.defn(name=PROVISIONING_POLICY.name)
    async def provisioning_policy(self) -> ProvisionPolicy:
        return self.provisioning

    @activity.defn(name=SIM_POLICY.name)
    async def sim_account_policy(self) -> SimAccountPolicy:
        return self.sim_account

    @activity.defn(name=RECORDS_POLICY.name)
    async def records_policy(self) -> RecordsPolicy:
        return self.records

    @activity.defn(name=ROTATION_POLICY.name)
    async def rotation_policy(self) -> RotationPolicy:
        return self.rotation
