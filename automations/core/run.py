"""The run: what every scheduled handler gets (`Run`: settings, mode, clients, the state log, continuation,
write-ahead actions), and how its mode is decided (`resolve_mode`). The entry point around it is
`runtime.py`; what happens when a run checkpoints is `checkpointing.py`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from automations.core.aws import Clients
from automations.core.codec import Clock
from automations.core.continuation import Checkpoint, Continuation
from automations.core.errors import StateLogError
from automations.core.executor import Budget, Executor
from automations.core.notify import Notifier
from automations.core.observability import get_logger
from automations.core.settings import Settings
from automations.core.spec import MODES, FunctionSpec
from automations.core.state_log import ActionRecord, RunCounts, StateLog

T = TypeVar("T")


@dataclass(frozen=True)
class ModeDecision:
    mode: str
    source: str  # "environment", "override:<automation>", "dry-run request"
    override: Mapping[str, Any] | None = None


def resolve_mode(settings: Settings, override: Mapping[str, Any] | None, dry_run_requested: bool) -> ModeDecision:
    """Precedence: dry-run request (can only lower) > state-table override > environment."""
    decision = ModeDecision(str(settings["mode"]), "environment")
    if override is not None:
        value = str(override.get("mode", ""))
        if value in MODES:
            decision = ModeDecision(value, f"override:{override.get('sk', '')[5:]}", override)
        else:
            get_logger().warning("ignoring invalid mode override", extra={"override": dict(override)})
    if dry_run_requested and decision.mode == "enforce":
        decision = ModeDecision("audit", "dry-run request", override)
    return decision


class Run:
    """One execution of an automation: settings, mode, clients, state log and counts."""

    def __init__(self, *, spec: FunctionSpec, settings: Settings, state: StateLog, clients: Clients,
                 mode: ModeDecision, notifier: Notifier, clock: Clock, context: Any,
                 continuation: Continuation | None = None, carried: Mapping[str, Any] | None = None,
                 started: datetime | None = None, environ: Mapping[str, str] | None = None) -> None:
        self.spec = spec
        #: the function's environment (os.environ unless injected), e.g. for the own-role names and ARN prefix
        self.environ: Mapping[str, str] = os.environ if environ is None else environ
        self.settings = settings
        self.state = state
        self.clients = clients
        self.mode = mode.mode
        self.mode_source = mode.source
        self.notifier = notifier
        self.clock = clock
        #: when this invocation started (its survey time runs from here to its first item)
        self.started = started or clock()
        self.context = context
        self.log = get_logger()
        self.notes: list[str] = []
        self.continuation = continuation or Continuation(enabled=False, margin_ms=0)
        #: what the earlier invocations of this run carried to this one (`carry`); empty in the first
        self.carried: Mapping[str, Any] = dict(carried or {})
        self._carry: dict[str, Any] = {}

    @property
    def run_id(self) -> str:
        return self.state.run_id

    @property
    def dry_run(self) -> bool:
        return self.mode != "enforce"

    def remaining_ms(self) -> int:
        return self.budget.remaining_ms()

    # -------------------------------------------------------------- continuation

    @property
    def invocation(self) -> int:
        """1 for the run's first invocation, 2 for its first continuation, ..."""
        return self.continuation.invocation

    def should_checkpoint(self) -> bool:
        """True when the function continues runs and less than its margin is left of this invocation."""
        return self.continuation.enabled and self.budget.below(self.continuation.margin_ms)

    def _before_handout(self) -> bool:
        """`should_checkpoint()` before an item or batch; at the invocation's first one, also logs the
        survey (the time from the invocation's start to it) and what it left of the invocation."""
        cont = self.continuation
        if not cont.enabled:
            return False
        remaining = self.remaining_ms()
        if cont.survey_ms is None:
            elapsed = int((self.clock() - self.started).total_seconds() * 1000)
            cont.surveyed(elapsed, remaining)
            self.log.info("survey done: first item reached",
                          extra={"invocation": cont.invocation, "survey_ms": cont.survey_ms,
                                 "remaining_ms": remaining, "margin_ms": cont.margin_ms,
                                 "checkpoint_now": remaining < cont.margin_ms})
        return remaining < cont.margin_ms

    def phase_done(self, phase: str) -> bool:
        """An earlier invocation of this run finished `phase`: skip it (and its preparation)."""
        return self.continuation.phase_done(phase)

    def resuming(self, phase: str) -> bool:
        """An earlier invocation of this run stopped inside `phase`."""
        return self.continuation.resuming(phase)

    def carry(self, name: str, value: Any) -> None:
        """Hand `value` (JSON-serialisable, small: a checkpoint writes it as one item) to the next invocation
        of this run, which reads it as `run.carried[name]`. Call it when `Checkpoint` passes through the
        handler (e.g. a notification's tallies, so that the run sends one, at its end)."""
        self._carry[name] = value

    def carrying(self) -> dict[str, Any]:
        return dict(self._carry)

    def items(self, phase: str, items: Iterable[T], key: Callable[[T], str]) -> Iterator[T]:
        """Walk one phase's work, sorted by `key`, one item at a time (see `batches`)."""
        for batch in self.batches(phase, items, key, size=1):
            yield batch[0]

    def batches(self, phase: str, items: Iterable[T], key: Callable[[T], str], *, size: int) -> Iterator[list[T]]:
        """Walk one phase's work in batches of `size`, sorted by `key` (unique per item, stable across runs).

        Before each batch (the invocation's first one included: its survey may have used up the time),
        when the run should checkpoint, raises `Checkpoint` with the keys not yet handed out; a
        continuation then yields only those, from the fresh `items` it is given (what no longer appears
        there no longer qualifies). A phase finished in an earlier invocation yields nothing. An
        invocation that checkpoints before its first batch made no progress; the entry point ends a run
        that makes none `MAX_NO_PROGRESS` times in a row.
        """
        cont = self.continuation
        if cont.phase_done(phase):
            return
        work = cont.select(phase, [(key(item), item) for item in items])
        cursor: str | None = None
        for start in range(0, len(work), max(1, size)):
            if self._before_handout():
                raise Checkpoint(phase, [k for k, _ in work[start:]], cursor)
            batch = work[start:start + size]
            cont.progressed += len(batch)
            cursor = batch[-1][0]
            yield [item for _, item in batch]
        cont.finish_phase(phase)

    # -------------------------------------------------------------- actions

    @property
    def budget(self) -> Budget:
        """The time this invocation has left (the executor's reserve, the continuation margin)."""
        return Budget.of(self.context)

    @property
    def executor(self) -> Executor:
        """The one executor (automations/core/executor.py) on this run's state log, in its mode."""
        return Executor(self.state, dry_run=self.dry_run, budget=self.budget, log=self.log)

    def act(self, resource_id: str, action: str, reason: str, call: Callable[[], T], *,
            details: Mapping[str, Any] | None = None,
            result_details: Callable[[T], Mapping[str, Any]] | None = None) -> T | None:
        """Write ahead, call AWS, record the outcome. Returns the call's result, or None when
        nothing was done (dry-run) or the call failed (recorded as `failed`).

        `result_details(result)` adds details (e.g. the new snapshot id) to the outcome record.
        """
        return self.act_many(
            [(resource_id, reason, details)], action, call,
            outcome_details=(lambda r: {resource_id: result_details(r)}) if result_details else None)

    def act_many(self, targets: Sequence[tuple[str, str, Mapping[str, Any] | None]], action: str,
                 call: Callable[[], T], *,
                 outcome_details: Callable[[T], Mapping[str, Mapping[str, Any]]] | None = None) -> T | None:
        """One AWS call that acts on several resources (e.g. CreateSnapshots for an instance).

        `outcome_details(result)` may map resource ids to details for their outcome records.
        A `StateLogError` propagates: nothing is called when the plan cannot be written.
        """
        return self.executor.act(targets, action, call, outcome_details=outcome_details).result

    def carry_out(self, records: Sequence[ActionRecord], call: Callable[[], T], *,
                  outcome_details: Callable[[T], Mapping[str, Mapping[str, Any]]] | None = None) -> T | None:
        """Make the call the `planned` records announce (already written) and record its outcome on each
        (`Executor.carry_out`). Returns the call's result, or None when it failed (recorded as `failed`
        with the AWS error); a `StateLogError` propagates."""
        return self.executor.carry_out(records, call, outcome_details=outcome_details).result

    def fail(self, record: ActionRecord, reason: str) -> None:
        self.state.outcome(record, "failed", reason)

    def skip(self, resource_id: str, action: str, reason: str, details: Mapping[str, Any] | None = None) -> None:
        self.log.info("skipped", extra={"resource_id": resource_id, "action": action, "reason": reason})
        self.state.skip(resource_id, action, reason, details, dry_run=self.dry_run)

    def notify(self, subject: str, summary: str, body: Mapping[str, Any], *, outcome: str = "nothing-to-do",
               severity: str | None = None, owner: str | None = None, resources: Sequence[str] = ()) -> bool:
        """Publish one notification (automations/core/notify.py): `outcome` and `severity` as docs/operations.md
        defines them (severity defaults from the outcome); `owner`: the `caretaker:owner` of the resources
        it is about (all of them: one message per owner); `resources`: their ids, for chat."""
        return self.notifier.publish(subject, summary, {"automation": self.spec.name, "run_id": self.run_id,
                                                        "mode": self.mode, **body},
                                     outcome=outcome, severity=severity, owner=owner, resources=resources)

    # -------------------------------------------------------------- the end of an invocation

    def result(self, status: str, result: Mapping[str, Any], totals: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The handler's return value. `totals`: the summary item of a run that may span invocations."""
        if totals is not None:
            counts = RunCounts.from_item(totals).as_dict()
            return {"automation": self.spec.name, "run_id": self.run_id, "mode": self.mode, "status": status,
                    "counts": counts, "invocations": int(totals.get("invocations", 1)),
                    "invocation": self.invocation, **result}
        return {"automation": self.spec.name, "run_id": self.run_id, "mode": self.mode, "status": status,
                "counts": self.state.counts.as_dict(), **result}

    def alert(self, status: str, error: str | None, prior: RunCounts | None = None) -> None:
        """The run's alert. `prior`: the counts earlier invocations of a continued run added to its summary
        (run-wide alert)."""
        counts = self.state.counts.as_dict()
        if prior is not None:
            counts = {k: v + getattr(prior, k) for k, v in counts.items()}
        self.notify(f"Caretaker {self.spec.name}: run {status}",
                    f"Run {self.run_id} of {self.spec.name} ended {status}: {counts['succeeded']} succeeded, "
                    f"{counts['failed']} failed, {counts['skipped']} skipped.",
                    {"status": status, "counts": counts, "error": error},
                    outcome="partial" if status == "partial" else "failed",
                    severity="medium" if status == "partial" else "high")


def try_finish(state: StateLog, status: str, error: str, **extra: Any) -> None:
    """End the run summary as `status` with `error`; a state log that cannot record it is only logged."""
    try:
        state.finish_run(status, error=error, **extra)
    except StateLogError:
        logging.getLogger(__name__).error("could not record the run's failure in the state log")
