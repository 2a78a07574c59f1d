"""Routes under `/__emulator/` that seed and inspect the Salesforce emulator.

POST   /__emulator/connected-apps                                  ConnectedAppRegistration
POST   /__emulator/connected-apps/{consumer_key}/certificates     CertificateUpload
DELETE /__emulator/connected-apps/{consumer_key}/certificates/{sha256 hex}
POST   /__emulator/records/{sobject}          API-named fields -> 201 the record with its Id
GET    /__emulator/records/{sobject}          every record of the type
GET    /__emulator/records/{sobject}/{id}
POST   /__emulator/sessions/expire            every access token becomes invalid
GET    /__emulator/settings                   {"api_limit", "api_used", "query_batch_size",
                                               "connect_hold_seconds",
                                               "reconnect_deadline_seconds"}
PUT    /__emulator/settings                   OrgSettings (fields left out stay unchanged)
POST   /__emulator/events                     EventPublication -> 201 the event as delivered
GET    /__emulator/events?channel=/event/...  the retained events as delivered, oldest first
POST   /__emulator/orders/{id}/approve        OrderApproval: what the approval button and the
                                              Flow do -> 201 the OrderProvisionRequested__e
POST   /__emulator/clock/advance              ClockAdvance (ages the retained events)
GET    /__emulator/cometd/clients             each CometD client: {"client_id", "waiting" (a
                                              /meta/connect of it is held), "positions"}
DELETE /__emulator/cometd/clients             forget every CometD client (403::Unknown client)
POST   /__emulator/record-errors              RecordErrorInjection: refuse the next write(s)
GET    /__emulator/record-errors              the injected record errors still pending
DELETE /__emulator/record-errors              forget them
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from emulators.core import CONTROL_PREFIX
from emulators.salesforce.api_errors import ApiError, not_found
from emulators.salesforce.api_usage import ApiUsage
from emulators.salesforce.clock import OrgClock
from emulators.salesforce.cometd import CometdEndpoint
from emulators.salesforce.control_models import (
    CertificateUpload,
    ClockAdvance,
    ConnectedAppRegistration,
    EventPublication,
    OrderApproval,
    OrgSettings,
    RecordErrorInjection,
)
from emulators.salesforce.event_bus import (
    ORDER_PROVISION_CHANNEL,
    EventBus,
    PublishedEvent,
    UnknownChannelError,
)
from emulators.salesforce.fault_responses import RecordErrors
from emulators.salesforce.oauth import JwtBearerIssuer
from emulators.salesforce.query import QueryEngine
from emulators.salesforce.records import RecordStore

Handler = Callable[[Request], Awaitable[Response]]


class ControlApi:
    def __init__(
        self,
        issuer: JwtBearerIssuer,
        records: RecordStore,
        queries: QueryEngine,
        usage: ApiUsage,
        *,
        events: EventBus,
        cometd: CometdEndpoint,
        clock: OrgClock,
        record_errors: RecordErrors,
    ) -> None:
        self._issuer = issuer
        self._records = records
        self._queries = queries
        self._usage = usage
        self._events = events
        self._cometd = cometd
        self._clock = clock
        self._record_errors = record_errors

    def routes(self) -> list[Route]:
        apps = f"{CONTROL_PREFIX}/connected-apps"
        records = f"{CONTROL_PREFIX}/records/{{sobject}}"
        return [
            _route(apps, self._register_app, "POST"),
            _route(f"{apps}/{{consumer_key}}/certificates", self._add_certificate, "POST"),
            _route(
                f"{apps}/{{consumer_key}}/certificates/{{fingerprint}}",
                self._remove_certificate,
                "DELETE",
            ),
            _route(records, self._create_record, "POST"),
            _route(records, self._list_records, "GET"),
            _route(f"{records}/{{record_id}}", self._get_record, "GET"),
            _route(f"{CONTROL_PREFIX}/sessions/expire", self._expire_sessions, "POST"),
            _route(f"{CONTROL_PREFIX}/settings", self._get_settings, "GET"),
            _route(f"{CONTROL_PREFIX}/settings", self._change_settings, "PUT"),
            _route(f"{CONTROL_PREFIX}/events", self._publish_event, "POST"),
            _route(f"{CONTROL_PREFIX}/events", self._list_events, "GET"),
            _route(f"{CONTROL_PREFIX}/orders/{{order_id}}/approve", self._approve_order, "POST"),
            _route(f"{CONTROL_PREFIX}/clock/advance", self._advance_clock, "POST"),
            _route(f"{CONTROL_PREFIX}/cometd/clients", self._list_cometd_clients, "GET"),
            _route(f"{CONTROL_PREFIX}/cometd/clients", self._drop_cometd_clients, "DELETE"),
            _route(f"{CONTROL_PREFIX}/record-errors", self._inject_record_error, "POST"),
            _route(f"{CONTROL_PREFIX}/record-errors", self._list_record_errors, "GET"),
            _route(f"{CONTROL_PREFIX}/record-errors", self._clear_record_errors, "DELETE"),
        ]

    async def _register_app(self, request: Request) -> Response:
        registration = ConnectedAppRegistration.model_validate_json(await request.body())
        self._issuer.register_app(
            registration.consumer_key, registration.username, registration.certificates
        )
        return Response(status_code=204)

    async def _add_certificate(self, request: Request) -> Response:
        upload = CertificateUpload.model_validate_json(await request.body())
        app = self._issuer.apps.get(request.path_params["consumer_key"])
        if app is None:
            raise not_found()
        app.add_certificate(upload.certificate)
        return Response(status_code=204)

    async def _remove_certificate(self, request: Request) -> Response:
        app = self._issuer.apps.get(request.path_params["consumer_key"])
        if app is None or app.certificates.pop(request.path_params["fingerprint"], None) is None:
            raise not_found()
        return Response(status_code=204)

    async def _create_record(self, request: Request) -> Response:
        fields = await request.json()
        if not isinstance(fields, dict):
            raise ApiError(400, "JSON_PARSER_ERROR", "The request body must be a JSON object")
        record = self._records.create(request.path_params["sobject"], fields)
        return JSONResponse(record, status_code=201)

    async def _list_records(self, request: Request) -> Response:
        sobject = request.path_params["sobject"]
        return JSONResponse([self._records.view(sobject, r) for r in self._records.all(sobject)])

    async def _get_record(self, request: Request) -> Response:
        sobject = request.path_params["sobject"]
        record = self._records.get(sobject, request.path_params["record_id"])
        if record is None:
            raise not_found()
        return JSONResponse(self._records.view(sobject, record))

    async def _expire_sessions(self, _: Request) -> Response:
        self._issuer.expire_sessions()
        return Response(status_code=204)

    async def _get_settings(self, _: Request) -> Response:
        return JSONResponse(
            {
                "api_limit": self._usage.limit,
                "api_used": self._usage.used,
                "query_batch_size": self._queries.batch_size,
                "connect_hold_seconds": self._cometd.hold_seconds,
                "reconnect_deadline_seconds": self._cometd.reconnect_deadline_seconds,
            }
        )

    async def _change_settings(self, request: Request) -> Response:
        settings = OrgSettings.model_validate_json(await request.body())
        if settings.api_limit is not None:
            self._usage.limit = settings.api_limit
        if settings.query_batch_size is not None:
            self._queries.batch_size = settings.query_batch_size
        if settings.connect_hold_seconds is not None:
            self._cometd.hold_seconds = settings.connect_hold_seconds
        if settings.reconnect_deadline_seconds is not None:
            self._cometd.reconnect_deadline_seconds = settings.reconnect_deadline_seconds
        return Response(status_code=204)

    async def _publish_event(self, request: Request) -> Response:
        publication = EventPublication.model_validate_json(await request.body())
        event = self._publish(publication.channel, publication.payload)
        return JSONResponse(event.message(), status_code=201)

    async def _list_events(self, request: Request) -> Response:
        channel = request.query_params.get("channel", ORDER_PROVISION_CHANNEL)
        try:
            events = self._events.retained(channel)
        except UnknownChannelError:
            raise _unknown_channel(channel) from None
        return JSONResponse([event.message() for event in events])

    async def _approve_order(self, request: Request) -> Response:
        """Set the Order Activating (clearing the last error), then publish as the Flow does."""
        approval = OrderApproval.model_validate_json(await request.body() or b"{}")
        activating = {
            "Activation_Status__c": "Activating",
            "Activation_Error_Code__c": None,
            "Activation_Error_Message__c": None,
        }
        order_id = request.path_params["order_id"]
        values = self._records.check_update("Order", order_id, activating)
        payload = {"OrderId__c": self._records.apply_update("Order", order_id, values)}
        if approval.idem_key is not None:
            payload["IdemKey__c"] = approval.idem_key
        event = self._publish(ORDER_PROVISION_CHANNEL, payload)
        return JSONResponse(event.message(), status_code=201)

    async def _advance_clock(self, request: Request) -> Response:
        advance = ClockAdvance.model_validate_json(await request.body())
        self._clock.advance(timedelta(seconds=advance.seconds))
        return Response(status_code=204)

    async def _list_cometd_clients(self, _: Request) -> Response:
        return JSONResponse(self._cometd.clients())

    async def _drop_cometd_clients(self, _: Request) -> Response:
        self._cometd.drop_clients()
        return Response(status_code=204)

    async def _inject_record_error(self, request: Request) -> Response:
        self._record_errors.add(RecordErrorInjection.model_validate_json(await request.body()))
        return Response(status_code=204)

    async def _list_record_errors(self, _: Request) -> Response:
        pending = self._record_errors.pending()
        return JSONResponse([injection.model_dump(mode="json") for injection in pending])

    async def _clear_record_errors(self, _: Request) -> Response:
        self._record_errors.clear()
        return Response(status_code=204)

    def _publish(self, channel: str, payload: dict[str, Any]) -> PublishedEvent:
        try:
            return self._events.publish(channel, payload)
        except UnknownChannelError:
            raise _unknown_channel(channel) from None


def _unknown_channel(channel: str) -> ApiError:
    return ApiError(404, "NOT_FOUND", f"No platform event channel {channel}")


def _route(path: str, handler: Handler, method: str) -> Route:
    async def answered(request: Request) -> Response:
        try:
            return await handler(request)
        except ApiError as error:
            return error.response()
        except ValueError as error:
            return JSONResponse({"detail": str(error)}, status_code=400)

    return Route(path, answered, methods=[method])
