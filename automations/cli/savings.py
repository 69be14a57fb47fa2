"""`report savings`: realised and pending estimated savings by family, from the runs in the state log.

A cleanup run's summary carries `savings` (USD a month, as its notification states them): `acted` is
what the run removed (realised), `pending` what is announced and due later, `would_act` what an audit
run would have removed, `reported` what a report-only family found. Realised savings add up over the
runs of the window; pending and would-act are a state, not a flow, so they come from each family's
latest run only (adding them up over runs would count the same volume every day).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import IO, Any

from rich.console import Console
from rich.table import Table

from automations.cli.report import dump_json
from automations.core import ledger, state_log

SAVINGS_SCHEMA = "caretaker.savings/1"


def _amount(run: Mapping[str, Any], key: str) -> float:
    savings = run.get("savings")
    if not isinstance(savings, Mapping):
        return 0.0
    try:
        return float(savings.get(key) or 0.0)
    except (TypeError, ValueError):
        return 0.0


def _priced(runs: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return sorted((r for r in runs if isinstance(r.get("savings"), Mapping)),
                  key=lambda r: str(r.get("started_at", "")))


def by_family(runs: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """automation -> realised (sum), pending / would_act / reported (latest run), runs, latest run."""
    families: dict[str, dict[str, Any]] = {}
    for run in _priced(runs):
        name = str(run.get("automation", "?"))
        family = families.setdefault(name, {"realised_usd": 0.0, "runs": 0})
        family["realised_usd"] = round(family["realised_usd"] + _amount(run, "acted"), 2)
        family["runs"] += 1
        family.update({"pending_usd": round(_amount(run, "pending"), 2),
                       "would_act_usd": round(_amount(run, "would_act"), 2),
                       "reported_usd": round(_amount(run, "reported"), 2),
                       "latest_run": run.get("run_id"), "latest_mode": run.get("mode"),
                       "latest_at": run.get("started_at")})
    return dict(sorted(families.items()))


def realised_by_day(runs: Sequence[Mapping[str, Any]]) -> list[tuple[str, float]]:
    """(day, realised monthly savings so far) for every day with a priced run: the cumulative curve."""
    per_day: dict[str, float] = {}
    for run in _priced(runs):
        day = str(run.get("started_at", ""))[:10]
        per_day[day] = per_day.get(day, 0.0) + _amount(run, "acted")
    total, points = 0.0, []
    for day in sorted(per_day):
        total += per_day[day]
        points.append((day, round(total, 2)))
    return points


def totals(families: Mapping[str, Mapping[str, Any]]) -> dict[str, float]:
    return {key: round(sum(float(f.get(key, 0.0)) for f in families.values()), 2)
            for key in ("realised_usd", "pending_usd", "would_act_usd", "reported_usd")}


def savings_table(families: Mapping[str, Mapping[str, Any]], since: str) -> Table:
    table = Table(title=f"Estimated monthly savings since {since} (USD a month)")
    for column in ("family", "runs", "realised", "pending", "would act (audit)", "reported", "latest run"):
        table.add_column(column, justify="left" if column in ("family", "latest run") else "right")
    for name, family in families.items():
        table.add_row(name, str(family["runs"]), f"{family['realised_usd']:.2f}", f"{family['pending_usd']:.2f}",
                      f"{family['would_act_usd']:.2f}", f"{family['reported_usd']:.2f}",
                      f"{family['latest_run']} ({family['latest_mode']})")
    total = totals(families)
    table.add_row("[bold]total[/]", "", f"{total['realised_usd']:.2f}", f"{total['pending_usd']:.2f}",
                  f"{total['would_act_usd']:.2f}", f"{total['reported_usd']:.2f}", "")
    return table


def report_savings(client: Any, table: str, since: datetime, *, fmt: str = "table", console: Console | None = None,
                   out: IO[str] | None = None, now: datetime | None = None) -> dict[str, dict[str, Any]]:
    """Print the savings by family in `fmt` (`table` or `json`); returns them."""
    if fmt not in ("table", "json"):
        raise ValueError(f"report savings prints table or json, got {fmt!r}")
    runs = ledger.runs_since(client, table, since, now)
    families = by_family(runs)
    if fmt == "json":
        (out or sys.stdout).write(dump_json({
            "schema": SAVINGS_SCHEMA, "table": table, "since": state_log.iso(since), "currency": "USD",
            "period": "month", "families": families, "totals": totals(families),
            "realised_by_day": [list(p) for p in realised_by_day(runs)],
        }))
    else:
        (console or Console(emoji=False)).print(savings_table(families, state_log.iso(since)))
    return families
