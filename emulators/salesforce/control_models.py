"""Bodies of the Salesforce emulator's control API, shared by its routes and its client."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ConnectedAppRegistration(BaseModel):
    consumer_key: str
    username: str
    certificates: list[str] = Field(description="PEM X.509 certificates of the signing keys")


class CertificateUpload(BaseModel):
    certificate: str = Field(description="PEM X.509 certificate")


class OrgSettings(BaseModel):
    api_limit: int | None = Field(default=None, ge=0, description="daily API request allowance")
    query_batch_size: int | None = Field(default=None, ge=1, description="records per page")
