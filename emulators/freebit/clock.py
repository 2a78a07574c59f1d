"""The emulator's clock: real time plus an offset the control API can advance, so tests can
step over 30-minute locks and gaps without waiting."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta, timezone

JAPAN = timezone(timedelta(hours=9), "JST")


class EmulatorClock:
    def __init__(self) -> None:
        self._offset = timedelta()
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return datetime.now(UTC) + self._offset

    def advance(self, by: timedelta) -> datetime:
        with self._lock:
            self._offset += by
        return self.now()

    def reset(self) -> None:
        with self._lock:
            self._offset = timedelta()


def japan_date(moment: datetime) -> date:
    """Freebit's YYYYMMDD dates are Japanese calendar days."""
    return moment.astimezone(JAPAN).date()
