"""Which activities run on which task queue: database work and the policy reads on the base
queue, each vendor's calls on its own queue (so its rate limit covers them), and on every
queue the health check and the rotation steps that reach its system."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from activities.freebit import FreebitActivities
from activities.mapping import MappingActivities
from activities.salesforce import SalesforceActivities
from activities.whmcs import WhmcsActivities
from workers.dependencies import Integrations

QueueActivities = dict[str, list[Callable[..., Any]]]
"""`TaskQueues` field name -> the activities its worker registers."""


def activities_by_queue(integrations: Integrations) -> QueueActivities:
    salesforce = SalesforceActivities(integrations.salesforce)
    whmcs = WhmcsActivities(integrations.whmcs, integrations.whmcs_payment_method)
    freebit = FreebitActivities(integrations.freebit, integrations.operation_journal)
    mapping = MappingActivities(integrations.id_mappings)
    policies = integrations.policies
    health = integrations.health
    own: QueueActivities = {
        "portal": [
            mapping.map_order,
            health.record_health,
            policies.provisioning_policy,
            policies.sim_account_policy,
            policies.records_policy,
            policies.rotation_policy,
        ],
        "salesforce": [
            salesforce.load_order,
            salesforce.mark_order_activating,
            salesforce.mark_order_failed,
            salesforce.mark_order_activated,
        ],
        "whmcs": [whmcs.create_payable_order, whmcs.accept_order],
        "freebit": [
            freebit.change_plan,
            freebit.add_quota,
            freebit.change_network_type,
            freebit.change_voice_options,
            freebit.cancel_account,
        ],
        "sftp": [integrations.call_records.import_file],
    }
    rotation = integrations.credentials.activities_for
    return {
        queue: [*activities, health.check_integration, *rotation(queue)]
        for queue, activities in own.items()
    }
