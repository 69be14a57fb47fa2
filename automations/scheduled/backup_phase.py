"""The phases every backup family runs, written once: take backups, copy them, prune them by retention.

Each phase is the same loop (`act_phase`): the phase's work items in sorted batches of `CHUNK`
(`Run.batches`, so a run that runs out of time checkpoints between two batches and continues), every item
turned into one `Act` (or skipped, or left out), the batch's `planned` records written in one BatchWriteItem,
then its calls on a bounded pool (`ActionPool`, `max_concurrency` threads). A family supplies only what is its
own: its work items, how one becomes a call, and for pruning its backups as `Candidate`s and the delete call.

Pruning (`prune_phase`): a family lists its own backups as `Candidate`s (id, the resource it backs up, when it was
made, and a reason to leave it alone when there is one: protected, used by an AMI, managed by AWS Backup ...).
Candidates with a reason are recorded `skipped`; candidates still being made (`ready=False`) are neither deleted
nor counted; the others go through `retention.decide` per source resource. One work item per candidate, by id: a
continued run lists again, so a backup deleted before the checkpoint is gone and the others are decided afresh.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar

from automations.core.executor import CHUNK, Act, ActionPool
from automations.core.runtime import Run
from automations.core.selection import AUTOMATION_TAG, RUN_ID_TAG
from automations.scheduled.backup_settings import EXPIRES_TAG, expires_on
from automations.scheduled.retention import Retention, decide

T = TypeVar("T")


def act_phase(run: Run, phase: str, action: str, items: Iterable[T], key: Callable[[T], str],
              act: Callable[[T], Act[Any] | None]) -> list[Any]:
    """Walk the phase's items (sorted by `key`, in batches of `CHUNK`); `act(item)` returns the item's call, or
    None when the item needs none (it records a `skipped` itself when one is due). Returns the results of the
    calls that succeeded."""
    with ActionPool(run, action, int(run.settings["max_concurrency"])) as pool:
        for batch in run.batches(phase, items, key=key, size=CHUNK):
            pool.act([a for a in map(act, batch) if a is not None])
    return pool.results


def backup_tags(run: Run, now: datetime, automation: str) -> dict[str, str]:
    """The tags every backup this automation makes carries: its name, the run, the day it expires."""
    return {AUTOMATION_TAG: automation, RUN_ID_TAG: run.run_id, EXPIRES_TAG: expires_on(run.settings, now)}


def interval_start(settings: Mapping[str, Any], now: datetime) -> datetime | None:
    """Backups made at or after this instant make a new one unnecessary (`min_snapshot_interval_hours`);
    None when the interval is 0 (always back up)."""
    hours = int(settings["min_snapshot_interval_hours"])
    return now - timedelta(hours=hours) if hours else None


def too_recent(verb: str, at: datetime, label: str) -> str:
    """The `skipped` reason of a resource backed up within the interval."""
    return f"{verb} at {at:%Y-%m-%d %H:%M} UTC ({label}): within min_snapshot_interval_hours"


# ---------------------------------------------------------------------- pruning


@dataclass(frozen=True)
class Candidate:
    """One backup this automation made, as the prune phase sees it."""

    backup_id: str
    source: str  # the resource it backs up: retention counts per source
    created: datetime
    skip: str = ""  # why it is left alone ("" = retention decides)
    ready: bool = True  # False while it is still being made: neither deleted nor counted


def prune_phase(run: Run, phase: str, action: str, candidates: Iterable[Candidate], policy: Retention,
                now: datetime, delete: Callable[[str], Any], *, source_label: str = "source") -> int:
    """Delete the candidates retention does not keep; returns how many deletions succeeded.

    `delete(backup_id)` makes the AWS call (treating "already gone" as done, e.g. through `core.errors.delete_or_gone`);
    `source_label` names the source in the reason ("volume", "database", "table").
    """
    if run.phase_done(phase):
        return 0
    work: list[tuple[str, str, str]] = []  # (backup id, source or "" to skip, why)
    groups: dict[str, list[tuple[str, datetime]]] = defaultdict(list)
    for candidate in candidates:
        if candidate.skip:
            work.append((candidate.backup_id, "", candidate.skip))
        elif candidate.ready:
            groups[candidate.source or "unknown"].append((candidate.backup_id, candidate.created))
    for source, backups in sorted(groups.items()):
        decision = decide(backups, policy, now)
        work.extend((backup_id, source, why) for backup_id, why in decision.delete.items())

    def one(item: tuple[str, str, str]) -> Act[Any] | None:
        backup_id, source, why = item
        if not source:
            run.skip(backup_id, action, why)
            return None
        return Act.one(backup_id, f"{why} ({source_label} {source})", partial(delete, backup_id),
                       details={f"{source_label}_id": source})

    return len(act_phase(run, phase, action, work, lambda w: w[0], one))
