"""The machine's conditions, printed by every benchmark: these machines are shared and noisy."""

from __future__ import annotations

import os


def machine_conditions() -> str:
    load = " ".join(f"{value:.1f}" for value in os.getloadavg())
    return f"{os.cpu_count()} cores, load average {load}"
