"""Every API request as it arrived, so tests can assert on the exact wire format."""

from __future__ import annotations

import threading
from collections import deque

from emulators.freebit.records import RecordedRequest

MAX_KEPT_REQUESTS = 10_000


class RequestLog:
    def __init__(self) -> None:
        self._requests: deque[RecordedRequest] = deque(maxlen=MAX_KEPT_REQUESTS)
        self._lock = threading.Lock()

    def add(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def requests(self, operation: str | None = None) -> list[RecordedRequest]:
        """Oldest first; the oldest are dropped beyond MAX_KEPT_REQUESTS."""
        with self._lock:
            return [r.model_copy() for r in self._requests if operation in (None, r.operation)]

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()
