"""Follow-up steps on the executor: acts that lead to further acts, with one result per subject.

A `Step` is one AWS call on one resource. Steps run in waves: a step may return follow-up steps
(deregister an AMI, then delete its snapshots), which form the next wave. Within a wave, steps of
the same action go to the executor's `ActionPool` in chunks of `CHUNK`: every `planned` record of a
chunk is durable (one BatchWriteItem) before any of its calls is made (DESIGN.md write-ahead), and
the pool holds at most `max_concurrency` + CHUNK calls, so at most two chunks plus the calls in
flight are ever planned but not yet called. Outcomes are buffered by the state log (BatchWriteItem,
25 per call). The pool is given the run's `Budget`: once less than its reserve is left, the wave's
remaining chunks are neither planned nor called (`deferred`, noted on the run).

In dry-run the steps are planned (dry_run=true) and never called; follow-ups are planned as if
the call had succeeded, so an audit run shows the whole sequence.

Every step belongs to a *subject* (e.g. the cleanup candidate). Its result for the caller is one of
`done`, `failed`, `waiting` (acted, but the last step must wait for a later run, e.g. a final
snapshot still pending), `planned` (dry-run) or `deferred` (the time budget ran out first).

Many steps are one delete-like call in which "already gone" counts as done: `single_call_step`
builds those.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

from automations.core.errors import tolerate_gone
from automations.core.executor import CHUNK, Act, ActionPool, Executor, Outcome


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


class Stepping(Protocol):
    """What runs steps: the executor and the run's notes (a `Run`)."""

    notes: list[str]

    @property
    def executor(self) -> Executor: ...


class StepRunner:
    def __init__(self, run: Stepping, max_concurrency: int) -> None:
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
        with ActionPool(self.run, "steps", self.max_concurrency, budget=self.run.executor.budget) as pool:
            for position, chunk in enumerate(chunks):
                if pool.act([self._act(step) for step in chunk], action=chunk[0].action):
                    self._defer([s for c in chunks[position:] for s in c])
                    break

    def _act(self, step: Step) -> Act[Any]:
        return Act(((step.resource_id, step.reason, step.details),), step.call,
                   outcome_details=partial(_outcome_details, step), then=partial(self._settled, step))

    def _defer(self, steps: list[Step]) -> None:
        self.run.notes.append(f"time budget reached: {len(steps)} actions left for the next run")
        log = self.run.executor.log
        if log is not None:
            log.warning("time budget reached; deferring", extra={"deferred": len(steps)})
        with self._lock:
            for step in steps:
                result = self.results.setdefault(step.subject, SubjectResult())
                if result.state in ("planned",):
                    result.state = "deferred"

    # ------------------------------------------------------------------ one outcome (on a worker)

    def _settled(self, step: Step, outcome: Outcome[Any]) -> None:
        """The step's outcome is recorded (the executor: one failing resource never stops the run): its
        subject's result and follow-ups."""
        if outcome.error is not None:
            with self._lock:
                subject = self.results.setdefault(step.subject, SubjectResult())
                if subject.state != "done":
                    subject.state, subject.reason = "failed", outcome.reason
            return
        self._succeeded(step, outcome.result, outcome.details.get(step.resource_id), dry_run=outcome.planned)

    def _succeeded(self, step: Step, result: Any, extra: Mapping[str, Any] | None, *, dry_run: bool) -> None:
        follow = step.then(result) if step.then else Next()
        with self._lock:
            subject = self.results.setdefault(step.subject, SubjectResult())
            if extra:
                subject.details.update(extra)
            self._next_wave.extend(follow.steps)
            if subject.state in ("failed", "done"):
                return
            if dry_run:
                subject.state = "planned"
            elif follow.waiting is not None:
                subject.state, subject.waiting = "waiting", follow.waiting
            elif follow.done or (follow.done is None and not follow.steps):
                subject.state = "done"


def _outcome_details(step: Step, result: Any) -> Mapping[str, Mapping[str, Any]]:
    extra = step.result_details(result) if step.result_details else None
    return {step.resource_id: extra} if extra else {}
