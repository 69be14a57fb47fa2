"""Acting on many resources: write-ahead in chunks, the AWS calls on a bounded pool of threads.

`ActionPool(run, action, max_concurrency)` does for a whole phase what `Run.act` / `Run.act_many`
do for one call. Each `act(acts)` writes the `planned` records of every target of `acts` (one
BatchWriteItem per 25; durable before any of their calls is made: a `StateLogError` stops it first),
then hands the calls to a `BoundedExecutor` of `max_concurrency` threads. A worker makes its call and
records the outcome (`Run.carry_out`: `succeeded` with its details, or `failed` with the AWS error;
one failing call never stops the others). The pool holds at most `max_concurrency` + `CHUNK` calls,
so the caller plans the next chunk while this one runs, and never further ahead than that.

Every thread uses the run's clients, and so their one client-side rate limiter (`api_rate_share`):
more threads mean more calls in flight, never more requests per second than the share.

Leaving the `with` block:

- normally: waits for every call handed out and re-raises the first error a worker raised;
- on `Checkpoint` (the run continues in a new invocation): waits for every call handed out (their
  keys are not among the checkpoint's remaining work), then lets the checkpoint through;
- on any other error (the state log failing, the process being killed): calls not started yet are
  dropped, and no worker starts a call once anything failed. Their `planned` records stay without
  an outcome, which the state log reads as "unknown: the next run re-evaluates from AWS".

In dry-run, `act` writes the planned records (dry_run=true) and calls nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Generic, TypeVar

from automations.core.concurrency import BoundedExecutor
from automations.core.continuation import Checkpoint
from automations.core.runtime import Run
from automations.core.state_log import ActionRecord
from automations.core.store import BATCH_SIZE

T = TypeVar("T")

#: Work items planned together: one BatchWriteItem of planned records (when each acts on one resource).
CHUNK = BATCH_SIZE


@dataclass(frozen=True)
class Act(Generic[T]):
    """One AWS call and the resources it acts on: (resource id, reason, details) each."""

    targets: Sequence[tuple[str, str, Mapping[str, Any] | None]]
    call: Callable[[], T]
    #: resource id -> details for its outcome record, from the call's result
    outcome_details: Callable[[T], Mapping[str, Mapping[str, Any]]] | None = None

    @classmethod
    def one(cls, resource_id: str, reason: str, call: Callable[[], T], *, details: Mapping[str, Any] | None = None,
            result_details: Callable[[T], Mapping[str, Any]] | None = None) -> Act[T]:
        """A call on one resource (what `Run.act` takes)."""
        outcome = (lambda r: {resource_id: result_details(r)}) if result_details else None
        return cls(((resource_id, reason, details),), call, outcome)


class ActionPool:
    def __init__(self, run: Run, action: str, max_concurrency: int) -> None:
        self.run = run
        self.action = action
        #: results of the calls that succeeded, in the order they finished
        self.results: list[Any] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._pool = None if run.dry_run else BoundedExecutor(max_concurrency, max_concurrency + CHUNK,
                                                              name=f"caretaker-{action}")

    def act(self, acts: Sequence[Act[Any]]) -> None:
        """Plan every target of `acts` at once, then hand their calls to the pool (blocks while it is full)."""
        if not acts:
            return
        if self._pool is not None and self._pool.error is not None:
            raise self._pool.error  # a worker hit the state log failing (or the process dying): plan nothing more
        records = self.run.state.plan_many([t for a in acts for t in a.targets], self.action, dry_run=self.run.dry_run)
        if self._pool is None:
            self.run.log.info("dry-run: would act", extra={"action": self.action,
                                                             "resources": [r.resource_id for r in records]})
            return
        start = 0
        for act in acts:
            mine, start = records[start:start + len(act.targets)], start + len(act.targets)
            self._pool.submit(self._carry_out, act, mine)

    def _carry_out(self, act: Act[Any], records: Sequence[ActionRecord]) -> None:
        if self._stop.is_set():
            return  # the run is stopping: the planned records stay for the next run to re-evaluate
        try:
            result = self.run.carry_out(records, act.call, outcome_details=act.outcome_details)
        except BaseException:
            self._stop.set()
            raise
        if result is not None:
            with self._lock:
                self.results.append(result)

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
