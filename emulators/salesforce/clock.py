"""The org's clock: real time plus an offset the control API can advance.

Advancing it lets tests expire the 72-hour Platform Event retention without waiting.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class OrgClock:
    def __init__(self) -> None:
        self._offset = timedelta()

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset

    def advance(self, by: timedelta) -> None:
        self._offset += by

    def reset(self) -> None:
        self._offset = timedelta()
