"""The one executor: every AWS change Caretaker writes ahead goes through this module.

- **Write-ahead act** (`Executor.act`, `Executor.carry_out`): the `planned` records are written (durable)
  before the call; a `StateLogError` from them propagates and nothing is called. The call's outcome is
  recorded on each record: `succeeded` (with details from its result) or `failed` with the error
  (`describe`). One failing call never stops the others: it returns a failed `Outcome` instead of raising.
  `Run.act` / `act_many` / `carry_out` and a custom resource's `Request.act` are thin calls into it.
- **Bounded pool** (`ActionPool`): many acts of one phase, planned `CHUNK` at a time (one BatchWriteItem of
  `planned` records per chunk), their calls on at most `max_concurrency` threads. The pool holds at most
  `max_concurrency` + `CHUNK` calls, so the caller plans the next chunk while this one runs, and never
  further ahead than that. Follow-up steps (`automations/core/steps.py`) run on it too.
- **Batched calls** (`run_batched`): calls that take many resources each (EC2 CreateTags), retried one
  resource at a time when a batch fails.
- **One time budget** (`Budget`): what the invocation has left. No new chunk of acts starts on a pool
  given a budget once less than its reserve (`RESERVE_MS`) is left; a continuing run's checkpoint comes
  at its continuation margin, between batches (`Run.batches`), before the executor's reserve with the
  default margin (`CONTINUATION_MARGIN`, 120 s, above `RESERVE_MS`). docs/continuation.md, *Time budget*.

Every thread uses the run's clients, and so their one client-side rate limiter (`api_rate_share`): more
threads mean more calls in flight, never more requests per second than the share.

Leaving an `ActionPool`'s `with` block:

- normally: waits for every call handed out and re-raises the first error a worker raised;
- on `Checkpoint` (the run continues in a new invocation): waits for every call handed out (their keys
  are not among the checkpoint's remaining work), then lets the checkpoint through;
- on any other error (the state log failing, the process being killed): calls not started yet are
  dropped, and no worker starts a call once anything failed. Their `planned` records stay without an
  outcome, which the state log reads as "unknown: the next run re-evaluates from AWS".

In dry-run the records are written (dry_run=true) and nothing is called.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Generic, Protocol, TypeVar

from botocore.exceptions import ClientError

from automations.core.concurrency import BoundedExecutor
from automations.core.continuation import Checkpoint
from automations.core.errors import StateLogError, describe_error
from automations.core.state_log import ActionRecord, StateLog
from automations.core.store import BATCH_SIZE

T = TypeVar("T")

#: Work items planned together: one BatchWriteItem of planned records (when each acts on one resource).
CHUNK = BATCH_SIZE
#: No new chunk of acts starts on a budgeted pool with less than this left of the invocation.
RESERVE_MS = 60_000
#: What `remaining_ms` reports without a Lambda context (local runs, tests): Lambda's longest timeout.
NO_CONTEXT_REMAINING_MS = 900_000

#: A resource an act is on: (resource id, reason, details for its records).
Target = tuple[str, str, Mapping[str, Any] | None]


def remaining_ms(context: Any) -> int:
    """Milliseconds left of the invocation the Lambda `context` belongs to."""
    getter = getattr(context, "get_remaining_time_in_millis", None)
    return int(getter()) if callable(getter) else NO_CONTEXT_REMAINING_MS


@dataclass(frozen=True)
class Budget:
    """The time an invocation has left, and the reserve within which no new act starts."""

    remaining: Callable[[], int]
    reserve_ms: int = RESERVE_MS

    @classmethod
    def of(cls, context: Any, reserve_ms: int = RESERVE_MS) -> Budget:
        return cls(lambda: remaining_ms(context), reserve_ms)

    def remaining_ms(self) -> int:
        return self.remaining()

    def below(self, ms: int) -> bool:
        """Less than `ms` is left (a continuing run checks its margin this way)."""
        return self.remaining() < ms

    def exhausted(self) -> bool:
        """Less than the reserve is left: start nothing new."""
        return self.below(self.reserve_ms)


@dataclass(frozen=True)
class Outcome(Generic[T]):
    """What became of one act."""

    result: T | None = None
    #: the error the call raised (its records say `failed` with `reason`); None when it succeeded
    error: BaseException | None = None
    reason: str = ""
    #: resource id -> details added to its outcome record (from the call's result)
    details: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: dry-run: planned, not called
    planned: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None and not self.planned


@dataclass(frozen=True)
class Act(Generic[T]):
    """One AWS call and the resources it acts on: (resource id, reason, details) each."""

    targets: Sequence[Target]
    call: Callable[[], T]
    #: resource id -> details for its outcome record, from the call's result
    outcome_details: Callable[[T], Mapping[str, Mapping[str, Any]]] | None = None
    #: told the act's outcome once it is recorded (on the worker's thread; in dry-run, once planned)
    then: Callable[[Outcome[T]], None] | None = None

    @classmethod
    def one(cls, resource_id: str, reason: str, call: Callable[[], T], *, details: Mapping[str, Any] | None = None,
            result_details: Callable[[T], Mapping[str, Any]] | None = None) -> Act[T]:
        """A call on one resource (what `Run.act` takes)."""
        outcome = (lambda r: {resource_id: result_details(r)}) if result_details else None
        return cls(((resource_id, reason, details),), call, outcome)


class Executor:
    """Write-ahead acts on one state log, in one mode. Holds no state of its own: cheap to make."""

    def __init__(self, state: StateLog, *, dry_run: bool, budget: Budget | None = None,
                 log: logging.Logger | logging.LoggerAdapter[Any] | None = None,
                 describe: Callable[[BaseException], str] = describe_error,
                 stop_on: tuple[type[BaseException], ...] = (StateLogError,)) -> None:
        self.state = state
        self.dry_run = dry_run
        self.budget = budget or Budget(lambda: NO_CONTEXT_REMAINING_MS)
        #: where failures and dry-run acts are logged (None: not logged)
        self.log = log
        #: how a failure is recorded (a provider redacts its secrets here)
        self.describe = describe
        #: errors of a call that stop everything instead of failing the act
        self.stop_on = stop_on

    def plan(self, targets: Sequence[Target], action: str) -> list[ActionRecord]:
        """The `planned` records, durable on return; a `StateLogError` propagates (then nothing is acted on)."""
        return self.state.plan_many(targets, action, dry_run=self.dry_run)

    def act(self, targets: Sequence[Target], action: str, call: Callable[[], T], *,
            outcome_details: Callable[[T], Mapping[str, Mapping[str, Any]]] | None = None) -> Outcome[T]:
        """Write ahead, call (unless dry-run), record the outcome."""
        records = self.plan(targets, action)
        if self.dry_run:
            self.would_act(action, records)
            return Outcome(planned=True)
        return self.carry_out(records, call, outcome_details=outcome_details)

    def would_act(self, action: str, records: Sequence[ActionRecord]) -> None:
        if self.log is not None:
            self.log.info("dry-run: would act", extra={"action": action, "resources": [r.resource_id for r in records]})

    def carry_out(self, records: Sequence[ActionRecord], call: Callable[[], T], *,
                  outcome_details: Callable[[T], Mapping[str, Mapping[str, Any]]] | None = None) -> Outcome[T]:
        """Make the call the `planned` records announce (already written) and record its outcome on each.
        Thread-safe (the state log is)."""
        try:
            result = call()
        except self.stop_on:
            raise
        except Exception as exc:  # one failing resource never stops the run
            reason = self.describe(exc)
            if self.log is not None:
                self.log.warning("action failed", extra={"action": records[0].action if records else "",
                                                         "error": reason,
                                                         "resources": [r.resource_id for r in records]})
            for record in records:
                self.state.outcome(record, "failed", reason)
            return Outcome(error=exc, reason=reason)
        details = outcome_details(result) if outcome_details else {}
        for record in records:
            self.state.outcome(record, "succeeded", details=details.get(record.resource_id))
        return Outcome(result=result, details=details)


class Acting(Protocol):
    """What acts on resources: a scheduled `Run`, a custom resource `Request`."""

    @property
    def executor(self) -> Executor: ...


class ActionPool:
    """Acts on a bounded pool of threads (module docstring). `results`: the results of the calls that
    succeeded (and returned something), in the order they finished."""

    def __init__(self, run: Acting, action: str, max_concurrency: int, *, budget: Budget | None = None) -> None:
        self.executor = run.executor
        self.action = action
        #: when given, `act` starts nothing once it is exhausted
        self.budget = budget
        self.results: list[Any] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._pool = None if self.executor.dry_run else BoundedExecutor(max_concurrency, max_concurrency + CHUNK,
                                                                        name=f"caretaker-{action}")

    def act(self, acts: Sequence[Act[Any]], *, action: str | None = None) -> list[Act[Any]]:
        """Plan every target of `acts` at once, then hand their calls to the pool (blocks while it is full).

        Returns the acts not started because the budget is exhausted (nothing of them is planned)."""
        if not acts:
            return []
        action = action or self.action
        if self._pool is not None and self._pool.error is not None:
            raise self._pool.error  # a worker hit the state log failing (or the process dying): plan nothing more
        if self._pool is not None and self.budget is not None and self.budget.exhausted():
            return list(acts)
        records = self.executor.plan([t for a in acts for t in a.targets], action)
        start = 0
        if self._pool is None:
            self.executor.would_act(action, records)
            for act in acts:
                if act.then is not None:
                    act.then(Outcome(planned=True))
            return []
        for act in acts:
            mine, start = records[start:start + len(act.targets)], start + len(act.targets)
            self._pool.submit(self._carry_out, act, mine)
        return []

    def _carry_out(self, act: Act[Any], records: Sequence[ActionRecord]) -> None:
        if self._stop.is_set():
            return  # the run is stopping: the planned records stay for the next run to re-evaluate
        try:
            outcome = self.executor.carry_out(records, act.call, outcome_details=act.outcome_details)
            if act.then is not None:
                act.then(outcome)
        except BaseException:
            self._stop.set()
            raise
        if outcome.ok and outcome.result is not None:
            with self._lock:
                self.results.append(outcome.result)

    def __enter__(self) -> ActionPool:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._pool is None:
            return
        if exc is None or isinstance(exc, Checkpoint):
            self._pool.close()  # every call handed out is made and recorded; re-raises a worker's error
            return
        self._stop.set()
        self._pool.__exit__(exc_type, exc, tb)  # drops the calls not started, waits for those running


# ---------------------------------------------------------------------- batch calls (tagging)


def run_batched(run: Acting, ids: Sequence[str], action: str, reason: Callable[[str], str],
                call: Callable[[list[str]], Any], *, batch: int, max_concurrency: int,
                details: Callable[[str], Mapping[str, Any] | None] = lambda _id: None) -> dict[str, str]:
    """AWS calls that take up to `batch` resources each (EC2 CreateTags: 1000; CloudWatch Logs: 1).

    Resources are planned in groups (write-ahead, one BatchWriteItem per 25) and each group's calls
    run on one worker of the bounded pool. When a batched call fails (`ClientError`), each of its
    resources is retried alone so that one bad resource (gone, access denied) fails alone. Returns
    resource id -> `succeeded` | `failed: <reason>` | `planned` (dry-run).
    """
    executor = run.executor
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
                return {resources[0]: "failed: " + executor.describe(exc)}
        return {resource_id: one_call([resource_id])[resource_id] for resource_id in resources}

    def one_group(group: list[str]) -> None:
        records = {r.resource_id: r for r in executor.plan([(i, reason(i), details(i)) for i in group], action)}
        if executor.dry_run:
            with lock:
                outcome.update(dict.fromkeys(group, "planned"))
            return
        results: dict[str, str] = {}
        for start in range(0, len(group), batch):
            results.update(one_call(group[start:start + batch]))
        for resource_id, result in results.items():
            if result == "succeeded":
                executor.state.outcome(records[resource_id], "succeeded")
            else:
                executor.state.outcome(records[resource_id], "failed", result.removeprefix("failed: "))
        with lock:
            outcome.update(results)

    if not groups:
        return outcome
    with BoundedExecutor(max(1, min(max_concurrency, len(groups)))) as pool:
        for group in groups:
            pool.submit(one_group, group)
    return outcome
