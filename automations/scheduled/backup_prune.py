"""The prune phase every backup family runs: retention (`retention.decide`) per source resource over the
backups this automation made, then the deletions, written ahead in chunks on a bounded pool.

A family lists its own backups as `Candidate`s (id, the resource it backs up, when it was made, and a reason
to leave it alone when there is one: protected, used by an AMI, managed by AWS Backup ...) and passes the
call that deletes one. Candidates with a reason are recorded `skipped`; candidates still being made
(`ready=False`) are neither deleted nor counted. One work item per candidate, by id: a continued run lists
again, so a backup deleted before the checkpoint is gone and the others are decided afresh.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from automations.core.executor import CHUNK, Act, ActionPool
from automations.core.runtime import Run
from automations.scheduled.retention import Retention, decide


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

    `delete(backup_id)` makes the AWS call (treating "already gone" as done); `source_label` names the source
    in the reason ("volume", "instance", "table").
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
    with ActionPool(run, action, int(run.settings["max_concurrency"])) as pool:
        for batch in run.batches(phase, work, key=lambda w: w[0], size=CHUNK):
            acts: list[Act[Any]] = []
            for backup_id, source, why in batch:
                if not source:
                    run.skip(backup_id, action, why)
                    continue
                acts.append(Act.one(backup_id, f"{why} ({source_label} {source})",
                                    _bind(delete, backup_id), details={f"{source_label}_id": source}))
            pool.act(acts)
    return len(pool.results)


def _bind(delete: Callable[[str], Any], backup_id: str) -> Callable[[], Any]:
    return lambda: delete(backup_id)
