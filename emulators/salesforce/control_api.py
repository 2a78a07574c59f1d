"""Routes under `/__emulator/` that seed and inspect the Salesforce emulator.

POST   /__emulator/connected-apps                                  ConnectedAppRegistration
POST   /__emulator/connected-apps/{consumer_key}/certificates     CertificateUpload
DELETE /__emulator/connected-apps/{consumer_key}/certificates/{sha256 hex}
POST   /__emulator/records/{sobject}          API-named fields -> 201 the record with its Id
GET    /__emulator/records/{sobject}          every record of the type
GET    /__emulator/records/{sobject}/{id}
POST   /__emulator/sessions/expire            every access token becomes invalid
GET    /__emulator/settings                   {"api_limit", "api_used", "query_batch_size"}
PUT    /__emulator/settings                   OrgSettings (fields left out stay unchanged)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from emulators.core import CONTROL_PREFIX
from emulators.salesforce.api_errors import ApiError, not_found
from emulators.salesforce.api_usage import ApiUsage
from emulators.salesforce.control_models import (
    CertificateUpload,
    ConnectedAppRegistration,
    OrgSettings,
)
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
    ) -> None:
        self._issuer = issuer
        self._records = records
        self._queries = queries
        self._usage = usage

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
            }
        )

    async def _change_settings(self, request: Request) -> Response:
        settings = OrgSettings.model_validate_json(await request.body())
        if settings.api_limit is not None:
            self._usage.limit = settings.api_limit
        if settings.query_batch_size is not None:
            self._queries.batch_size = settings.query_batch_size
        return Response(status_code=204)


def _route(path: str, handler: Handler, method: str) -> Route:
    async def answered(request: Request) -> Response:
        try:
            return await handler(request)
        except ApiError as error:
            return error.response()
        except ValueError as error:
            return JSONResponse({"detail": str(error)}, status_code=400)

    return Route(path, answered, methods=[method])
