"""Salesforce activities: read the Order with its items, and write the activation outcome.

simple-salesforce is synchronous, so these are sync activities run in the worker's thread
pool. Every write is idempotent, so a retried attempt is harmless.
"""

from __future__ import annotations

from temporalio import activity

from contracts.provisioning import (
    LOAD_ORDER,
    MARK_ORDER_ACTIVATED,
    MARK_ORDER_ACTIVATING,
    MARK_ORDER_FAILED,
    ActivationFailure,
    ActivationStatus,
    ActivationSuccess,
    Order,
    OrderRef,
)
from integrations.salesforce.client import SalesforceClient
from integrations.salesforce.models import RecordUpdate

COMPOSITE_BATCH_SIZE = 200
"""Most records one composite/sobjects request accepts."""


class SalesforceActivities:
    def __init__(self, client: SalesforceClient) -> None:
        self._client = client

    @activity.defn(name=LOAD_ORDER.name)
    def load_order(self, request: OrderRef) -> Order:
        """The Order, its items and their Product2 fields, in one query."""
        return self._client.get_order(request.order_id)

    @activity.defn(name=MARK_ORDER_ACTIVATING.name)
    def mark_order_activating(self, request: OrderRef) -> None:
        self._client.update_record(
            "Order",
            request.order_id,
            {
                "Activation_Status__c": ActivationStatus.ACTIVATING.value,
                "Activation_Error_Code__c": None,
                "Activation_Error_Message__c": None,
            },
        )

    @activity.defn(name=MARK_ORDER_FAILED.name)
    def mark_order_failed(self, request: ActivationFailure) -> None:
        self._client.update_record(
            "Order",
            request.order_id,
            {
                "Activation_Status__c": ActivationStatus.FAILED.value,
                "Activation_Error_Code__c": request.error_code,
                "Activation_Error_Message__c": request.error_message[:255],
            },
        )

    @activity.defn(name=MARK_ORDER_ACTIVATED.name)
    def mark_order_activated(self, request: ActivationSuccess) -> None:
        """Order and every item in as few composite requests as the API allows (usually one)."""
        updates = [
            RecordUpdate(
                sobject="Order",
                id=request.order_id,
                fields={
                    "Activation_Status__c": ActivationStatus.ACTIVATED.value,
                    "WHMCS_Order_ID__c": str(request.whmcs_order_id),
                    "Activation_Error_Code__c": None,
                    "Activation_Error_Message__c": None,
                },
            ),
            *(
                RecordUpdate(
                    sobject="OrderItem",
                    id=item_id,
                    fields={"WHMCS_Service_ID__c": ",".join(map(str, service_ids))},
                )
                for item_id, service_ids in request.service_ids_by_item.items()
            ),
        ]
        for start in range(0, len(updates), COMPOSITE_BATCH_SIZE):
            self._client.update_records(updates[start : start + COMPOSITE_BATCH_SIZE])
