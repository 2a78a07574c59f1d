"""What runs on each task queue: workflows on the base queue, with what they run as local
activities there (the policy reads, and provisioning's vendor calls and database read); the
other vendor calls on their vendor's queue; on every queue the health check and the rotation
steps that reach its system. And each queue's worker options: threads for the synchronous
clients. (Each vendor's rate limit is in its client.)"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from activities.freebit import FreebitActivities
from activities.salesforce import SalesforceActivities
from activities.whmcs import WhmcsActivities
from workers.dependencies import Integrations
from workflows.registry import WORKFLOW_RUNNER, WORKFLOWS

QueueActivities = dict[str, list[Callable[..., Any]]]
"""`TaskQueues` field name -> the activities its worker registers."""
QueueOptions = dict[str, dict[str, Any]]
"""`TaskQueues` field name -> its `temporalio.worker.Worker` options besides activities."""

SALESFORCE_THREADS = 16
"""simple-salesforce is synchronous: its activities run in this many threads."""
SFTP_IMPORTS = 2
"""paramiko is synchronous too: at most this many call-record files load at once."""
ACTIVITY_THREADS = 2 * SALESFORCE_THREADS + SFTP_IMPORTS
"""Salesforce calls on the base queue (local activities) and on the Salesforce queue (health
checks, rotation steps), and the imports."""
SFTP_HEARTBEAT_THROTTLE = timedelta(seconds=2)
"""Import heartbeats carry the bytes read: `portalctl records import` shows them as a bar."""


def options_by_queue(integrations: Integrations, threads: ThreadPoolExecutor) -> QueueOptions:
    return {
        "portal": {
            "workflows": WORKFLOWS,
            "workflow_runner": WORKFLOW_RUNNER,
            "activity_executor": threads,
        },
        "salesforce": {
            "activity_executor": threads,
            "max_concurrent_activities": SALESFORCE_THREADS,
        },
        "whmcs": {},
        "freebit": {},
        "sftp": {
            "activity_executor": threads,
            "max_concurrent_activities": SFTP_IMPORTS,
            "max_heartbeat_throttle_interval": SFTP_HEARTBEAT_THROTTLE,
        },
    }


def activities_by_queue(integrations: Integrations) -> QueueActivities:
    salesforce = SalesforceActivities(integrations.salesforce)
    whmcs = WhmcsActivities(
        integrations.whmcs,
        integrations.whmcs_orders,
        integrations.whmcs_settings,
        integrations.id_mappings,
    )
    freebit = FreebitActivities(integrations.freebit, integrations.operation_journal)
    policies = integrations.policies
    health = integrations.health
    own: QueueActivities = {
        "portal": [
            salesforce.load_order,
            salesforce.mark_order_activating,
            salesforce.mark_order_failed,
            salesforce.mark_order_activated,
            whmcs.map_and_create_order,
            whmcs.accept_order,
            health.record_health,
            policies.provisioning_policy,
            policies.sim_account_policy,
            policies.records_policy,
            policies.rotation_policy,
        ],
        "salesforce": [],
        "whmcs": [],
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
