"""`report`: what Caretaker did, to what, when and why, from the state log, as readable tables."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from rich.console import Console
from rich.table import Table

from automations.core import state_log

OUTCOME_STYLE = {"succeeded": "green", "failed": "bold red", "skipped": "yellow", "planned": "cyan"}
STATUS_STYLE = {"ok": "green", "partial": "yellow", "failed": "bold red", "running": "cyan", "off": "dim"}
_DURATION = re.compile(r"^(\d+)([mhdw])$")


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """`30m`, `24h`, `7d`, `2w` or an ISO 8601 timestamp."""
    now = now or datetime.now(UTC)
    match = _DURATION.match(text.strip())
    if match:
        amount, unit = int(match.group(1)), match.group(2)
        return now - timedelta(**{{"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[unit]: amount})
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"--since must look like 30m, 24h, 7d, 2w or an ISO timestamp, got {text!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def runs_table(runs: Iterable[Mapping[str, Any]]) -> Table:
    table = Table(title="Runs", show_lines=False)
    for column in ("started", "automation", "run id", "mode", "status", "ok", "failed", "skipped", "planned"):
        table.add_column(column, justify="right" if column in ("ok", "failed", "skipped", "planned") else "left")
    for run in runs:
        status = str(run.get("status", "?"))
        table.add_row(str(run.get("started_at", ""))[:19].replace("T", " "), str(run.get("automation", "")),
                      str(run.get("run_id", "")), str(run.get("mode", "")),
                      f"[{STATUS_STYLE.get(status, '')}]{status}[/]",
                      *(str(run.get(k, 0)) for k in ("succeeded", "failed", "skipped", "planned")))
    return table


def actions_table(actions: Iterable[Mapping[str, Any]], title: str) -> Table:
    table = Table(title=title, show_lines=False)
    for column in ("at", "automation", "resource", "action", "outcome", "dry-run", "reason"):
        table.add_column(column, overflow="fold")
    for item in actions:
        outcome = str(item.get("outcome", ""))
        details = item.get("details") or {}
        reason = str(item.get("reason", ""))
        if isinstance(details, Mapping) and details:
            reason += "  " + ", ".join(f"{k}={v}" for k, v in sorted(details.items()))
        table.add_row(str(item.get("at", ""))[:19].replace("T", " "), str(item.get("automation", "")),
                      str(item.get("resource_id", "")), str(item.get("action", "")),
                      f"[{OUTCOME_STYLE.get(outcome, '')}]{outcome}[/]", "yes" if item.get("dry_run") else "",
                      reason)
    return table


def report(client: Any, table: str, *, run_id: str | None = None, since: datetime | None = None,
           resource_id: str | None = None, console: Console | None = None) -> int:
    """Print runs (and their actions) or one resource's history. Returns the number of rows shown."""
    console = console or Console()
    if resource_id:
        history = state_log.resource_history(client, table, resource_id)
        console.print(actions_table(history, f"History of {resource_id}"))
        return len(history)
    if run_id:
        items = state_log.run_items(client, table, run_id)
        runs = [i for i in items if i.get("type") == "run"]
        actions = [i for i in items if i.get("type") == "action"]
        if not runs:
            console.print(f"[red]no run {run_id} in {table}[/]")
            return 0
        console.print(runs_table(runs))
        console.print(actions_table(actions, f"Actions of run {run_id}"))
        return len(items)
    runs = state_log.runs_since(client, table, since or datetime.now(UTC) - timedelta(hours=24))
    console.print(runs_table(runs))
    shown = len(runs)
    for run in runs:
        actions = [i for i in state_log.run_items(client, table, str(run["run_id"])) if i.get("type") == "action"]
        if actions:
            console.print(actions_table(actions, f"Actions of {run['automation']} run {run['run_id']}"))
            shown += len(actions)
    return shown
