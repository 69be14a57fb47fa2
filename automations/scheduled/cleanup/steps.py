"""Carrying out cleanup actions: write-ahead in chunks, AWS calls on a bounded pool, outcomes batched.

A `Step` is one AWS call on one resource. Steps run in waves: a step may return follow-up steps
(deregister an AMI, then delete its snapshots), which form the next wave. Within a wave, steps of
the same action are planned in chunks of `CHUNK` with one BatchWriteItem: every `planned` record
of the chunk is durable before any of its calls is made (DESIGN.md write-ahead). The next chunk
is planned only once this one is handed to the pool, which holds at most `max_concurrency` + CHUNK
calls, so at most two chunks plus the calls in flight are ever planned but not yet called.
Outcomes are buffered by the state log (BatchWriteItem, 25 per call).

In dry-run the steps are planned (dry_run=true) and never called; follow-ups are planned as if
the call had succeeded, so an audit run shows the whole sequence.

Every step belongs to a *subject* (the candidate resource). Its result for the caller is one of
`done`, `failed`, `waiting` (acted, but the last step must wait for a later run, e.g. a final
snapshot still pending), `planned` (dry-run) or `deferred` (the time budget ran out first).

Most steps are one delete-like call in which "already gone" counts as done: `single_call_step`
builds those for every family.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from automations.core.action_pool import CHUNK
from automations.core.concurrency import BoundedExecutor
from automations.core.errors import tolerate_gone
from automations.core.runtime import Run, describe_error
from automations.core.state_log import ActionRecord

#: Stop planning new work when less time than this is left in the invocation.
TIME_RESERVE_MS = 60_000


@dataclass(frozen=True)
class Next:
    """What follows a successful step."""

    steps: Sequence[Step] = ()
    #: True: the subject is done now (follow-ups are extras, e.g. an AMI's snapshots); None: done
    #: when there are no follow-ups.
    done: bool | None = None
    #: Set when the subject must wait for a later run; stored on its pending record.
    waiting: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Step:
    subject: str
    resource_id: str
    action: str
    reason: str
    call: Callable[[], Any]
    details: Mapping[str, Any] | None = None
    #: details for the outcome record, from the call's result
    result_details: Callable[[Any], Mapping[str, Any] | None] | None = None
    #: what follows success; gets the call's result, or None in dry-run
    then: Callable[[Any], Next] | None = None




def _gone_details(result: Mapping[str, Any]) -> Mapping[str, Any] | None:
    return result or None


def single_call_step(resource_id: str, action: str, reason: str, call: Callable[[], Any], gone: Iterable[str], *,
                     details: Mapping[str, Any] | None = None, subject: str | None = None,
                     then: Callable[[Any], Next] | None = None) -> Step:
    """One call on one resource (the subject, unless another is named) whose error codes `gone`
    ("already gone") count as done; the outcome record then carries `already_gone: true`."""
    return Step(resource_id if subject is None else subject, resource_id, action, reason,
                lambda: tolerate_gone(call, gone), details=details, result_details=_gone_details, then=then)


@dataclass
class SubjectResult:
    state: str = "planned"  # done | failed | waiting | planned | deferred
    reason: str = ""
    waiting: Mapping[str, Any] | None = None
    details: dict[str, Any] = field(default_factory=dict)


class StepRunner:
    def __init__(self, run: Run, max_concurrency: int) -> None:
        self.run = run
        self.max_concurrency = max_concurrency
        self.results: dict[str, SubjectResult] = {}
        self._lock = threading.Lock()
        self._next_wave: list[Step] = []

    def execute(self, steps: Sequence[Step]) -> dict[str, SubjectResult]:
        wave = list(steps)
        for step in wave:
            self.results.setdefault(step.subject, SubjectResult())
        while wave:
            self._run_wave(wave)
            with self._lock:
                wave, self._next_wave = self._next_wave, []
        return self.results

    # ------------------------------------------------------------------ one wave

    def _run_wave(self, wave: list[Step]) -> None:
        by_action: dict[str, list[Step]] = {}
        for step in wave:
            by_action.setdefault(step.action, []).append(step)
        chunks = [group[i:i + CHUNK] for group in by_action.values() for i in range(0, len(group), CHUNK)]
        if self.run.dry_run:
            for chunk in chunks:
                self._plan(chunk)
                for step in chunk:
                    self._succeeded(step, None)
            return
        with BoundedExecutor(self.max_concurrency, self.max_concurrency + CHUNK) as pool:
            for position, chunk in enumerate(chunks):
                if self.run.remaining_ms() < TIME_RESERVE_MS:
                    self._defer([s for c in chunks[position:] for s in c])
                    break
                for step, record in zip(chunk, self._plan(chunk), strict=True):
                    pool.submit(self._call, step, record)

    def _plan(self, chunk: list[Step]) -> list[ActionRecord]:
        return self.run.state.plan_many([(s.resource_id, s.reason, s.details) for s in chunk], chunk[0].action,
                                        dry_run=self.run.dry_run)

    def _defer(self, steps: list[Step]) -> None:
        self.run.notes.append(f"time budget reached: {len(steps)} actions left for the next run")
        self.run.log.warning("time budget reached; deferring", extra={"deferred": len(steps)})
        with self._lock:
            for step in steps:
                result = self.results.setdefault(step.subject, SubjectResult())
                if result.state in ("planned",):
                    result.state = "deferred"

    # ------------------------------------------------------------------ one call (on a worker)

    def _call(self, step: Step, record: ActionRecord) -> None:
        """The step's call through `Run.carry_out` (the outcome record, one failing resource never stops
        the run), then its subject's result and follow-ups."""
        failures: list[str] = []
        extras: list[Mapping[str, Any] | None] = []

        def details(result: Any) -> Mapping[str, Mapping[str, Any]]:
            extra = step.result_details(result) if step.result_details else None
            extras.append(extra)
            return {record.resource_id: extra} if extra else {}

        result = self.run.carry_out([record], step.call, outcome_details=details, failed=failures.append)
        if failures:
            with self._lock:
                subject = self.results.setdefault(step.subject, SubjectResult())
                if subject.state != "done":
                    subject.state, subject.reason = "failed", failures[0]
            return
        self._succeeded(step, result, extras[0] if extras else None)

    def _succeeded(self, step: Step, result: Any, extra: Mapping[str, Any] | None = None) -> None:
        follow = step.then(result) if step.then else Next()
        with self._lock:
            subject = self.results.setdefault(step.subject, SubjectResult())
            if extra:
                subject.details.update(extra)
            self._next_wave.extend(follow.steps)
            if subject.state in ("failed", "done"):
                return
            if self.run.dry_run:
                subject.state = "planned"
            elif follow.waiting is not None:
                subject.state, subject.waiting = "waiting", follow.waiting
            elif follow.done or (follow.done is None and not follow.steps):
                subject.state = "done"


# ---------------------------------------------------------------------- batch calls (tagging)


def run_batched(run: Run, ids: Sequence[str], action: str, reason: Callable[[str], str],
                call: Callable[[list[str]], Any], *, batch: int, max_concurrency: int,
                details: Callable[[str], Mapping[str, Any] | None] = lambda _id: None) -> dict[str, str]:
    """AWS calls that take up to `batch` resources each (EC2 CreateTags: 1000; CloudWatch Logs: 1).

    Resources are planned in groups (write-ahead, one BatchWriteItem per 25) and each group's calls
    run on one worker of the bounded pool. When a batched call fails, each of its resources is retried
    alone so that one bad resource (gone, access denied) fails alone. Returns resource id ->
    `succeeded` | `failed: <reason>` | `planned` (dry-run).
    """
    outcome: dict[str, str] = {}
    lock = threading.Lock()
    size = max(batch, CHUNK)
    groups = [list(ids[i:i + size]) for i in range(0, len(ids), size)]

    def one_call(resources: list[str]) -> dict[str, str]:
        try:
            call(resources)
            return dict.fromkeys(resources, "succeeded")
        except ClientError as exc:
            if len(resources) == 1:
                return {resources[0]: "failed: " + describe_error(exc)}
        return {resource_id: one_call([resource_id])[resource_id] for resource_id in resources}

    def one_group(group: list[str]) -> None:
        records = {r.resource_id: r for r in run.state.plan_many([(i, reason(i), details(i)) for i in group], action,
                                                                 dry_run=run.dry_run)}
        if run.dry_run:
            with lock:
                outcome.update(dict.fromkeys(group, "planned"))
            return
        results: dict[str, str] = {}
        for start in range(0, len(group), batch):
            results.update(one_call(group[start:start + batch]))
        for resource_id, result in results.items():
            if result == "succeeded":
                run.state.outcome(records[resource_id], "succeeded")
            else:
                run.fail(records[resource_id], result.removeprefix("failed: "))
        with lock:
            outcome.update(results)

    if not groups:
        return outcome
    with BoundedExecutor(max(1, min(max_concurrency, len(groups)))) as pool:
        for group in groups:
            pool.submit(one_group, group)
    return outcome
