"""How `portalctl order list` and the bulk `order retry` show orders and their answers."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from contracts.provisioning import ActivationStatus
from starters.bulk_retry import OrderRetry, RetryOutcome
from starters.order_listing import OrderRow


def print_orders(console: Console, rows: Sequence[OrderRow], *, now: datetime) -> None:
    """Ids and times never wrap (an operator copies them); the message wraps."""
    table = Table(box=None, header_style="bold")
    for name in ("Order", "Account", "status", "failed step", "code"):
        table.add_column(name, no_wrap=True, min_width=18 if name[0].isupper() else None)
    table.add_column("message", ratio=1, min_width=16)
    for name in ("waiting since", "runs", "WHMCS order"):
        table.add_column(name, no_wrap=True)
    for row in rows:
        table.add_row(
            row.order_id,
            row.account_id or "-",
            _status(row),
            row.failed_step or "-",
            row.error_code or "-",
            row.failure_message or "-",
            _waiting_since(row, now),
            "-" if row.runs is None else str(row.runs),
            row.whmcs_order_id or "-",
        )
    console.print(table, soft_wrap=False)


def orders_json(rows: Sequence[OrderRow]) -> str:
    return json.dumps([row.model_dump(mode="json") for row in rows], indent=2)


def _status(row: OrderRow) -> str:
    """A Failed order whose workflow has closed no longer waits for a retry: say so."""
    status = row.activation_status or "-"
    if status == ActivationStatus.FAILED and row.workflow_status != "running":
        return f"{status} (closed)"
    return status


def _waiting_since(row: OrderRow, now: datetime) -> str:
    """How long ago; the time itself is in --json."""
    return "-" if row.waiting_since is None else f"{_age(now - row.waiting_since)} ago"


def _age(elapsed: timedelta) -> str:
    minutes = max(0, int(elapsed.total_seconds() // 60))
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m" if minutes else "<1m"


def retry_progress(console: Console) -> Progress:
    return Progress(
        TextColumn("Retrying failed orders"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[counts]}"),
        TimeRemainingColumn(),
        console=console,
    )


def answer_line(answer: OrderRetry) -> str:
    return f"{answer.order_id}  {answer.outcome.value}: {answer.message}"


def outcome_counts(answers: Sequence[OrderRetry]) -> str:
    counts = Counter(answer.outcome for answer in answers)
    return ", ".join(f"{counts[outcome]} {outcome.value}" for outcome in RetryOutcome)
