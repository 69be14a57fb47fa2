"""The two-phase cleanup flow shared by every resource family.

1. The family *surveys* AWS (paginated listings with server-side filters, reference indexes built
   once) and sorts what it found: candidates (qualify now), watched (would qualify but their age
   counts from Caretaker's first sighting, which is too recent), refused (qualify but protected or
   excluded) and ineligible (in use, too young, ...).
2. `decide` compares the survey with the pending records of earlier runs (pure function).
3. The run then: records the refused as `skipped`; drops pending records of resources that no
   longer qualify (`skipped` with the reason, cleanup-after tag removed); announces new candidates
   (tag `caretaker:cleanup-after=<due>` + pending record); acts on the due ones (grace 0: at once);
   writes the pending records (batched); sends one notification (a run that continues over several
   invocations sends it once, at its end, for the whole run).

Audit mode walks the same path: it writes pending records marked dry_run and `planned` records
with dry_run=true, and changes nothing in AWS (no tags either).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from automations.core.concurrency import in_background
from automations.core.continuation import Checkpoint
from automations.core.executor import CHUNK, run_batched
from automations.core.pending import PendingRecord, PendingStore
from automations.core.runtime import Run
from automations.core.steps import Step, StepRunner, SubjectResult
from automations.scheduled.cleanup.model import Candidate, Context, Family, Survey
from automations.scheduled.cleanup.notice import Notice
from automations.scheduled.cleanup.settings import CLEANUP_AFTER_TAG

#: The phases of a run, in order. A run that runs out of time checkpoints between two batches of a
#: phase and continues in a new invocation (automations/core/continuation.py): the continuation
#: surveys again, decides again, and walks only what the checkpoint recorded as remaining.
PHASES = ("refused", "report", "waiting", "drop", "records", "mark", "act")

# ---------------------------------------------------------------------- decision (pure)


@dataclass
class Decision:
    act: list[tuple[Candidate, PendingRecord | None]] = field(default_factory=list)
    mark: list[tuple[Candidate, datetime]] = field(default_factory=list)  # (candidate, first_seen)
    waiting: list[tuple[Candidate, PendingRecord]] = field(default_factory=list)  # pending, not yet due
    drop: list[tuple[PendingRecord, str | None]] = field(default_factory=list)  # (record, reason or unknown)
    sight: list[PendingRecord] = field(default_factory=list)  # seen records to write
    forget: list[str] = field(default_factory=list)  # seen records no longer needed
    refresh: list[PendingRecord] = field(default_factory=list)  # kept records whose TTL must be renewed
    report: list[Candidate] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)  # refused and not pending: logged skipped


def decide(survey: Survey, records: Mapping[str, PendingRecord], *, now: datetime, grace_days: int,
           dry_run: bool, run_id: str, report_only: bool = False,
           stale: Callable[[PendingRecord], bool] = lambda _r: False) -> Decision:
    decision = Decision()
    for resource_id, candidate in survey.candidates.items():
        record = records.get(resource_id)
        if report_only:
            decision.report.append(candidate)
            if record is not None and record.is_pending:
                decision.drop.append((record, "only reported (the automation's action is report)"))
                decision.sight.append(_seen(record.resource_id, record.first_seen, record.reason, dry_run, run_id))
            elif candidate.sighted and record is None:
                decision.sight.append(_seen(resource_id, now, candidate.reason, dry_run, run_id))
            elif record is not None and stale(record):
                decision.refresh.append(record)
            continue
        first_seen = record.first_seen if record else now
        if record is None or not record.is_pending:
            if grace_days == 0:
                decision.act.append((candidate, record))
            else:
                decision.mark.append((candidate, first_seen))
        elif record.dry_run and not dry_run:
            # announced by an audit run only: nothing was tagged, so the grace period starts now
            if grace_days == 0:
                decision.act.append((candidate, record))
            else:
                decision.mark.append((candidate, first_seen))
        elif grace_days == 0 or record.is_due(now):
            decision.act.append((candidate, record))
        else:
            decision.waiting.append((candidate, record))
            if stale(record):
                decision.refresh.append(record)

    for resource_id, reason in survey.watched.items():
        record = records.get(resource_id)
        if record is None:
            decision.sight.append(_seen(resource_id, now, reason, dry_run, run_id))
        elif record.is_pending:
            decision.drop.append((record, reason))
            decision.sight.append(_seen(resource_id, record.first_seen, reason, dry_run, run_id))
        elif stale(record):
            decision.refresh.append(record)

    listed = set(survey.candidates) | set(survey.watched)
    for resource_id, record in records.items():
        if resource_id in listed:
            continue
        if record.is_pending:
            decision.drop.append((record, survey.ineligible.get(resource_id) or survey.refused.get(resource_id)))
        else:
            decision.forget.append(resource_id)
    pending_ids = {r.resource_id for r, _ in decision.drop}
    decision.refused = {k: v for k, v in survey.refused.items() if k not in pending_ids}
    return decision


def _seen(resource_id: str, first_seen: datetime, reason: str, dry_run: bool, run_id: str) -> PendingRecord:
    return PendingRecord(resource_id=resource_id, stage="seen", first_seen=first_seen, reason=reason,
                         dry_run=dry_run, run_id=run_id)


# ---------------------------------------------------------------------- the run


def family_handler(family: type[Family]) -> Callable[[Run, Mapping[str, Any]], dict[str, Any]]:
    """A family's run function, for its module's Lambda handler: `handler = entrypoint(SPEC)(family_handler(X))`
    (the family's docstring is the handler's)."""

    def handler(run: Run, event: Mapping[str, Any]) -> dict[str, Any]:
        return run_cleanup(run, family(run.settings))

    handler.__doc__ = family.__doc__
    return handler


def run_cleanup(run: Run, family: Family) -> dict[str, Any]:
    """Survey, decide, announce, act, notify. Returns the figures for the run's result."""
    settings = run.settings
    grace = int(settings["grace_days"])
    concurrency = int(settings["max_concurrency"])
    now = run.clock()
    store = PendingStore.beside(run.state)
    ctx = Context(run, now, in_background(store.load, name="caretaker-pending"))
    survey = family.survey(ctx)
    records = ctx.records
    report_reason = family.report_only(ctx)
    decision = decide(survey, records, now=now, grace_days=grace, dry_run=run.dry_run, run_id=run.run_id,
                      report_only=report_reason is not None, stale=lambda r: store.needs_refresh(r, now))
    notice = Notice(family.noun, family.action, family.verb, dry_run=run.dry_run, priced=family.priced,
                    prior=run.carried.get("notice", {}), owners=dict(survey.owners))
    candidates = int(run.carried.get("candidates", len(survey.candidates)))  # as the run's first survey found

    try:
        for resource_id, reason in run.items("refused", decision.refused.items(), key=lambda kv: kv[0]):
            run.skip(resource_id, family.action, reason)
            notice.refused[resource_id] = reason
        for candidate in run.items("report", decision.report, key=lambda c: c.resource_id):
            run.skip(candidate.resource_id, family.action, f"{candidate.reason}; {report_reason}",
                     {"estimated_monthly_usd": round(candidate.monthly_cost, 2)})
            notice.reported.append(candidate)
        # pending and not yet due, as the run found them at its start: in a continuation, what an earlier
        # invocation announced is pending too, and is already in the notice as new (hence a phase, done once)
        for waiting in run.batches("waiting", decision.waiting, key=lambda w: w[0].resource_id,
                                   size=max(1, len(decision.waiting))):
            notice.pending.extend((candidate, record.due or now, False) for candidate, record in waiting)
        for drops in run.batches("drop", decision.drop, key=lambda d: d[0].resource_id,
                                 size=max(family.tag_batch, CHUNK) * concurrency):
            _drop(ctx, family, store, drops, notice, concurrency)
        # after the drops: a dropped record may live on as seen
        writes: dict[str, PendingRecord | None] = {r.resource_id: r for r in decision.sight + decision.refresh}
        writes.update((resource_id, None) for resource_id in decision.forget if resource_id not in writes)
        for resource_id, write in run.items("records", writes.items(), key=lambda kv: kv[0]):
            if write is None:
                store.remove(resource_id)
            else:
                store.put(write)
        for marks in run.batches("mark", decision.mark, key=lambda m: m[0].resource_id,
                                 size=max(family.tag_batch, CHUNK) * concurrency):
            _mark(ctx, family, store, marks, grace, notice, concurrency)
        for due in run.batches("act", decision.act, key=lambda a: a[0].resource_id, size=CHUNK * concurrency):
            _act(ctx, family, store, due, notice, concurrency)
    except Checkpoint:
        # the run continues in a new invocation: make this one's records durable, hand it the notice
        store.flush()
        run.carry("notice", notice.carried())
        run.carry("candidates", candidates)
        raise
    # the notification goes out while the last records are written: both are the run's last calls, and
    # neither needs the other's answer (a state log that fails still fails the run: StateLogError)
    sending = in_background(lambda: notice.send(run), name="caretaker-notice")
    try:
        store.flush()
        run.state.flush()
    finally:
        wait([sending])
    sending.result()
    return {"candidates": candidates, **notice.figures()}


def _drop(ctx: Context, family: Family, store: PendingStore, drops: list[tuple[PendingRecord, str | None]],
          notice: Notice, concurrency: int) -> None:
    """Pending resources that no longer qualify: log why, forget them, remove their tag."""
    if not drops:
        return
    run = ctx.run
    unknown = [record.resource_id for record, reason in drops if reason is None]
    explained = family.explain(ctx, unknown) if unknown else {}
    untag: list[str] = []
    for record, reason in drops:
        exists = True
        if reason is None:
            reason, exists = explained.get(record.resource_id, ("no longer qualifies", True))
        since = record.first_seen.date().isoformat()
        run.skip(record.resource_id, family.action, f"spared: {reason} (pending since {since})",
                 {"due": record.due.date().isoformat() if record.due else None})
        notice.dropped[record.resource_id] = reason
        store.remove(record.resource_id)
        if exists and not record.dry_run:
            untag.append(record.resource_id)
    if untag:
        run_batched(run, untag, "remove-cleanup-tag", lambda _i: "no longer pending",
                    lambda ids: family.untag(ctx, ids, [CLEANUP_AFTER_TAG]), batch=family.tag_batch,
                    max_concurrency=concurrency)


def _mark(ctx: Context, family: Family, store: PendingStore, marks: list[tuple[Candidate, datetime]], grace: int,
          notice: Notice, concurrency: int) -> None:
    """Announce new candidates: tag them with the due date and record them as pending."""
    if not marks:
        return
    run = ctx.run
    due = ctx.now + timedelta(days=grace)
    due_text = due.date().isoformat()
    by_id = {c.resource_id: (c, first_seen) for c, first_seen in marks}
    outcome = run_batched(
        run, sorted(by_id), "tag-cleanup-after",
        lambda i: f"{by_id[i][0].reason}; {family.action} after {due_text}",
        lambda ids: family.tag(ctx, ids, {CLEANUP_AFTER_TAG: due_text}), batch=family.tag_batch,
        max_concurrency=concurrency, details=lambda i: {"due": due_text})
    for resource_id, result in outcome.items():
        candidate, first_seen = by_id[resource_id]
        if result.startswith("failed"):
            notice.failed[resource_id] = "could not tag: " + result.removeprefix("failed: ")
            continue  # not announced: try again next run
        store.put(PendingRecord(resource_id=resource_id, stage="pending", first_seen=first_seen,
                                reason=candidate.reason, dry_run=run.dry_run, run_id=run.run_id, due=due,
                                details={"estimated_monthly_usd": round(candidate.monthly_cost, 2),
                                         **candidate.details}))
        notice.pending.append((candidate, due, True))


def _act(ctx: Context, family: Family, store: PendingStore, due: list[tuple[Candidate, PendingRecord | None]],
         notice: Notice, concurrency: int) -> None:
    if not due:
        return
    run = ctx.run
    family.prepare(ctx, [candidate for candidate, _ in due])
    steps: list[Step] = []
    waiting: list[tuple[Candidate, PendingRecord | None, str]] = []
    for candidate, record in due:
        planned = family.steps(ctx, candidate, record)
        if isinstance(planned, str):
            waiting.append((candidate, record, planned))
        else:
            steps.extend(planned)
    results = StepRunner(run, concurrency).execute(steps)
    by_id = {c.resource_id: (c, r) for c, r in due}
    for resource_id, result in sorted(results.items()):
        if resource_id not in by_id:
            continue
        candidate, record = by_id[resource_id]
        _settle(ctx, store, candidate, record, result, notice)
    for candidate, record, why in waiting:
        notice.waiting[candidate.resource_id] = why
        if record is not None and store.needs_refresh(record, ctx.now):
            store.put(record)


def _settle(ctx: Context, store: PendingStore, candidate: Candidate, record: PendingRecord | None,
            result: SubjectResult, notice: Notice) -> None:
    if result.state == "done":
        notice.acted.append(candidate)
        if record is not None:
            store.remove(candidate.resource_id)
    elif result.state == "failed":
        notice.failed[candidate.resource_id] = result.reason
        if result.details:  # an earlier step was done (e.g. the final snapshot): the next run must know
            _remember(ctx, store, candidate, record, result.details)
    elif result.state == "waiting":
        notice.waiting[candidate.resource_id] = ", ".join(f"{k}={v}" for k, v in (result.waiting or {}).items())
        _remember(ctx, store, candidate, record, result.waiting or {})
    elif result.state == "planned":
        notice.would_act.append(candidate)
    else:
        notice.deferred.append(candidate.resource_id)


def _remember(ctx: Context, store: PendingStore, candidate: Candidate, record: PendingRecord | None,
              details: Mapping[str, Any]) -> None:
    """Keep (or start) the candidate's pending record, due now, with what this run did to it."""
    run = ctx.run
    base = record or PendingRecord(resource_id=candidate.resource_id, stage="pending", first_seen=ctx.now,
                                   reason=candidate.reason, dry_run=run.dry_run, run_id=run.run_id, due=ctx.now)
    store.put(base.with_changes(stage="pending", due=base.due or ctx.now, details={**base.details, **details}))
