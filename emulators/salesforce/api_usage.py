"""The org's daily API request allowance, reported in `Sforce-Limit-Info` on every REST answer."""

from __future__ import annotations

DEFAULT_API_LIMIT = 15_000


class ApiUsage:
    def __init__(self, limit: int = DEFAULT_API_LIMIT) -> None:
        self.limit = limit
        self.used = 0

    def consume(self) -> bool:
        """Count one request; False when the allowance is already spent."""
        if self.used >= self.limit:
            return False
        self.used += 1
        return True

    def header(self) -> str:
        return f"api-usage={self.used}/{self.limit}"
