"""The REST API's error answer: a JSON array of `{"message", "errorCode", "fields"?}`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.responses import JSONResponse


class ApiError(Exception):
    def __init__(
        self, status: int, error_code: str, message: str, fields: Sequence[str] = ()
    ) -> None:
        super().__init__(f"{error_code}: {message}")
        self.status = status
        self.error_code = error_code
        self.message = message
        self.fields = list(fields)

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"message": self.message, "errorCode": self.error_code}
        if self.fields:
            body["fields"] = self.fields
        return body

    def response(self) -> JSONResponse:
        return JSONResponse([self.body()], status_code=self.status)


def not_found() -> ApiError:
    return ApiError(404, "NOT_FOUND", "The requested resource does not exist")
