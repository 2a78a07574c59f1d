"""Read a form-encoded request body the way PHP (and so WHMCS) reads `$_POST`."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl

_BRACKET_KEY = re.compile(r"^(?P<name>[^\[\]]+)\[(?P<index>[^\]]*)\]$")


class PhpForm:
    """Scalars are `name=value` (the last one wins); arrays are `name[0]=a&name[]=b`."""

    def __init__(self, body: bytes) -> None:
        self._scalars: dict[str, str] = {}
        self._arrays: dict[str, dict[str, str]] = {}
        for key, value in parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True):
            self._store(key, value)

    def get(self, name: str, default: str = "") -> str:
        return self._scalars.get(name, default)

    def array(self, name: str) -> dict[str, str]:
        """Index -> value in insertion order, as PHP keeps it; a lone scalar is index "0"."""
        if name in self._arrays:
            return dict(self._arrays[name])
        if name in self._scalars:
            return {"0": self._scalars[name]}
        return {}

    def _store(self, key: str, value: str) -> None:
        match = _BRACKET_KEY.match(key)
        if match is None:
            self._scalars[key] = value
            return
        array = self._arrays.setdefault(match["name"], {})
        index = match["index"] or _next_php_index(array)
        array[index] = value


def _next_php_index(array: dict[str, str]) -> str:
    """`name[]` appends at one past the largest integer index so far, as PHP does."""
    integer_indexes = [int(index) for index in array if index.lstrip("-").isdigit()]
    return str(max(integer_indexes, default=-1) + 1)
