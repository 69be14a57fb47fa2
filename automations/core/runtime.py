"""The run: what every scheduled handler gets, and the Lambda entry point around it.

`entrypoint(spec)` turns `fn(run, event) -> dict` into a Lambda handler that
reads settings, resolves the mode (run-time override in the state table wins over
`CARETAKER_MODE`; a dry-run request wins over both), writes the run summary,
and guarantees that every action is written ahead (`planned`) before AWS is called.
"""

from __future__ import annotations

import json
import logging
import os
import traceback
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from automations.core.aws import Clients
from automations.core.continuation import (
    CHUNK_KEYS,
    MAX_NO_PROGRESS,
    Checkpoint,
    Continuation,
    Progress,
    continuation_event,
    continued_run_id,
    unqualified_function_arn,
)
from automations.core.errors import EventError, SettingsError, StateLogError
from automations.core.notify import Notifier, Origin, chat_topic_arn
from automations.core.observability import get_logger, publish_run_metrics
from automations.core.settings import Settings, cached_settings
from automations.core.spec import MODES, Cron, FunctionSpec, Rate
from automations.core.state_log import (
    ActionRecord,
    Clock,
    RunCounts,
    StateLog,
    conditional_failed,
    new_run_id,
    utcnow,
)

T = TypeVar("T")
RunFunction = Callable[["Run", Mapping[str, Any]], Mapping[str, Any] | None]
LambdaHandler = Callable[[Any, Any], dict[str, Any]]

#: Set by the operator CLI (`invoke --dry-run`): forces audit whatever the mode says.
DRY_RUN_ENV = "CARETAKER_DRY_RUN"
STATE_TABLE_ENV = "CARETAKER_STATE_TABLE"
ALERT_TOPIC_ENV = "CARETAKER_ALERT_TOPIC_ARN"
NO_CONTEXT_REMAINING_MS = 900_000
#: A run's holder keeps it for its timeout plus this; after that a redelivered continuation may take it over.
LEASE_SLACK_S = 60


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
        #: the function's environment (os.environ unless injected), e.g. for CARETAKER_OWN_ROLE_IDS
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
        getter = getattr(self.context, "get_remaining_time_in_millis", None)
        return int(getter()) if callable(getter) else NO_CONTEXT_REMAINING_MS

    # -------------------------------------------------------------- continuation

    @property
    def invocation(self) -> int:
        """1 for the run's first invocation, 2 for its first continuation, ..."""
        return self.continuation.invocation

    def should_checkpoint(self) -> bool:
        """True when the function continues runs and less than its margin is left of this invocation."""
        return self.continuation.enabled and self.remaining_ms() < self.continuation.margin_ms

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
        records = self.state.plan_many(targets, action, dry_run=self.dry_run)
        if self.dry_run:
            self.log.info("dry-run: would act", extra={"action": action,
                                                         "resources": [r.resource_id for r in records]})
            return None
        return self.carry_out(records, call, outcome_details=outcome_details)

    def carry_out(self, records: Sequence[ActionRecord], call: Callable[[], T], *,
                  outcome_details: Callable[[T], Mapping[str, Mapping[str, Any]]] | None = None) -> T | None:
        """Make the call the `planned` records announce (already written) and record its outcome on each.

        Thread-safe (the state log is). Returns the call's result, or None when it failed (recorded as
        `failed` with the AWS error); a `StateLogError` propagates.
        """
        try:
            result = call()
        except StateLogError:
            raise
        except Exception as exc:  # one failing resource never stops the run
            reason = describe_error(exc)
            self.log.warning("action failed", extra={"action": records[0].action if records else "",
                                                     "error": reason, "resources": [r.resource_id for r in records]})
            for record in records:
                self.state.outcome(record, "failed", reason)
            return None
        per_resource = outcome_details(result) if outcome_details else {}
        for record in records:
            self.state.outcome(record, "succeeded", details=per_resource.get(record.resource_id))
        return result

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


def describe_error(exc: BaseException) -> str:
    """`Code: message` for AWS errors, `Type: message` otherwise."""
    response = getattr(exc, "response", None)
    if isinstance(response, Mapping) and "Error" in response:
        error = response["Error"]
        return f"{error.get('Code', 'Error')}: {error.get('Message', '')}".strip()
    return f"{type(exc).__name__}: {exc}"


def validate_event(spec: FunctionSpec, event: Any) -> Mapping[str, Any]:
    """Reject what cannot be a trigger event for this function; unknown extra fields are fine."""
    if not isinstance(event, Mapping):
        raise EventError(f"{spec.name}: the event must be a JSON object, got {type(event).__name__}")
    if isinstance(spec.trigger, (Rate, Cron)):
        detail_type = event.get("detail-type")
        if detail_type is not None and detail_type != "Scheduled Event":
            raise EventError(f"{spec.name}: expected an EventBridge 'Scheduled Event', got detail-type "
                             f"{detail_type!r}")
    # Event-pattern triggers check their own shape: a malformed CloudTrail event is recorded as a
    # `skipped` item by the rule (automations/security/reactive.py), not raised.
    return event


#: The key of a handler's result that holds its estimated monthly savings (USD, by kind: acted, pending, ...),
#: kept on the run summary as `savings` for `report savings`.
SAVINGS_RESULT_KEY = "estimated_monthly_saving_usd"


def run_savings(result: Mapping[str, Any]) -> dict[str, float] | None:
    """The numeric entries of the result's savings mapping, or None when the handler estimates none."""
    savings = result.get(SAVINGS_RESULT_KEY) if isinstance(result, Mapping) else None
    if not isinstance(savings, Mapping):
        return None
    return {str(k): float(v) for k, v in savings.items() if isinstance(v, int | float) and not isinstance(v, bool)}


def status_of(failed: int, succeeded: int) -> str:
    if failed == 0:
        return "ok"
    return "partial" if succeeded else "failed"


class Entrypoint:
    """The Lambda handler built from a spec and a run function. `invoke` allows injection."""

    def __init__(self, spec: FunctionSpec, fn: RunFunction) -> None:
        self.spec = spec
        self.fn = fn
        self.__name__ = getattr(fn, "__name__", "handler")
        self.__doc__ = fn.__doc__

    def __call__(self, event: Any, context: Any) -> dict[str, Any]:
        return self.invoke(event, context)

    def invoke(self, event: Any, context: Any, *, environ: Mapping[str, str] | None = None,
               clients: Clients | None = None, clock: Clock = utcnow) -> dict[str, Any]:
        started = clock()
        env = os.environ if environ is None else environ
        clients = clients or Clients()
        spec = self.spec
        log = get_logger()
        continued = continued_run_id(event)
        if continued is not None and not spec.continues:
            raise EventError(f"{spec.name}: got a continuation event, but this function does not continue runs")
        run_id = continued or new_run_id(clock())
        log.append_keys(automation=spec.name, run_id=run_id)
        log.set_correlation_id(run_id)

        table = env.get(STATE_TABLE_ENV, "")
        try:
            settings = cached_settings(spec, env)
            ttl_days = int(settings["state_ttl_days"])
            clients.limiter.share = float(settings["api_rate_share"])
        except SettingsError as exc:
            log.error("invalid settings; not acting", extra={"error": str(exc)})
            self._record_early_failure(table, clients, run_id, clock, str(exc))
            raise
        state = StateLog(table, clients("dynamodb"), automation=spec.name, run_id=run_id,
                         ttl_days=ttl_days, clock=clock)
        try:
            override = state.mode_override()
        except StateLogError as exc:
            log.error("state log unreachable; not acting", extra={"error": str(exc)})
            raise
        decision = resolve_mode(settings, override, env.get(DRY_RUN_ENV, "").lower() in ("1", "true", "yes"))
        if override is not None:
            log.info("mode override in effect", extra={"mode": decision.mode, "override": dict(override)})
        topic = env.get(ALERT_TOPIC_ENV, "")
        notifier = Notifier(topic, clients("sns"), chat_topic_arn=chat_topic_arn(topic, env),
                            origin=Origin.of(context, env, topic))
        request_id = getattr(context, "aws_request_id", None)
        holder = uuid.uuid4().hex  # this invocation, as the holder of a run that may continue
        lease_until = int(clock().timestamp()) + spec.timeout + LEASE_SLACK_S
        margin_ms = int(settings["continuation_margin_seconds"]) * 1000 if spec.continues else 0
        prior = RunCounts()
        if continued is not None:
            claimed = state.claim_run(holder=holder, lease_until=lease_until, request_id=request_id)
            if claimed is None:
                log.info("continuation ignored: the run is finished or another invocation holds it")
                return {"automation": spec.name, "run_id": run_id, "status": "ignored",
                        "reason": "run already finished or held by another invocation"}
            progress = Progress.from_item(claimed.get("checkpoint"))
            remaining, carried = state.remaining_work(progress.invocation) if progress.phase else ([], {})
            prior = RunCounts.from_item(claimed)
            # a run keeps the mode it started with; an override that switches it off stops it
            if decision.mode != "off":
                decision = ModeDecision(str(claimed.get("mode", decision.mode)),
                                        str(claimed.get("mode_source", decision.source)))
            continuation = Continuation(enabled=True, margin_ms=margin_ms, resumed=progress, remaining=remaining)
            run = Run(spec=spec, settings=settings, state=state, clients=clients, mode=decision,
                      notifier=notifier, clock=clock, context=context, continuation=continuation, carried=carried,
                      started=started, environ=env)
            log.info("run continued", extra={"invocation": run.invocation, "phase": progress.phase,
                                             "remaining": len(remaining)})
        else:
            run = Run(spec=spec, settings=settings, state=state, clients=clients, mode=decision,
                      notifier=notifier, clock=clock, context=context, started=started, environ=env,
                      continuation=Continuation(enabled=spec.continues, margin_ms=margin_ms))
            holding = {"invocations": 1, "holder": holder, "lease_until": lease_until} if spec.continues else {}
            state.start_run(mode=decision.mode, mode_source=decision.source, dry_run=run.dry_run,
                            request_id=request_id,
                            settings={k: settings.spec.setting(k).render(v) for k, v in settings.items()},
                            **holding)
            log.info("run started", extra={"mode": decision.mode, "mode_source": decision.source})

        accumulate = spec.continues
        result: Mapping[str, Any] = {}
        error: str | None = None
        try:
            if decision.mode == "off":
                state.finish_run("off", reason=f"mode is off ({decision.source})", accumulate=accumulate)
                return self._summary(run, "off", {})
            validate_event(spec, event)
            result = self.fn(run, event) or {}
        except Checkpoint as checkpoint:
            return self._continue(run, checkpoint, holder, context, env, prior)
        except StateLogError as exc:
            error = str(exc)
            log.error("state log failed mid-run; stopped acting", extra={"error": error})
            self._try_finish(state, "failed", error, accumulate=accumulate)
            raise
        except Exception as exc:
            error = describe_error(exc)
            log.exception("run failed")
            self._alert(run, "failed", error, prior)  # first, so a lost alert is recorded in the summary
            self._try_finish(state, "failed", error, accumulate=accumulate,
                             traceback=traceback.format_exc(limit=5), notifications_failed=notifier.failures or None)
            raise
        counts = state.counts
        status = status_of(prior.failed + counts.failed, prior.succeeded + counts.succeeded)
        if status != "ok":
            self._alert(run, status, None, prior)  # before the summary is written, so a lost alert is recorded in it
        savings = run_savings(result)
        try:
            summary = state.finish_run(status, accumulate=accumulate, notes=run.notes or None,
                                       notifications_failed=notifier.failures or None, savings=savings)
        except StateLogError as exc:  # records lost: the summary says so (finish_run ended it as failed)
            log.error("state log failed at the end of the run", extra={"error": str(exc)})
            self._alert(run, "failed", str(exc), prior)
            raise
        publish_run_metrics(spec.name, counts.as_dict(), status, savings)
        log.info("run finished", extra={"status": status, **counts.as_dict(),
                                        "survey_ms": run.continuation.survey_ms})
        return self._summary(run, status, result, summary if accumulate else None)

    def _continue(self, run: Run, checkpoint: Checkpoint, holder: str, context: Any,
                  env: Mapping[str, str], prior: RunCounts) -> dict[str, Any]:
        """Persist the progress, then re-invoke this function asynchronously with only the run id."""
        log, state = run.log, run.state
        progress = run.continuation.progress(checkpoint)
        if progress.no_progress >= MAX_NO_PROGRESS:
            return self._fail_without_progress(run, checkpoint, progress, prior)
        counts = state.counts.as_dict()
        try:
            summary = state.checkpoint_run(holder=holder, progress=progress.as_item(), phase=checkpoint.phase,
                                           remaining=checkpoint.remaining, chunk_size=CHUNK_KEYS,
                                           invocation=progress.invocation, carried=run.carrying())
        except StateLogError as exc:
            error = (f"the state log could not be written at a checkpoint, so the run stopped and was not "
                     f"continued ({len(checkpoint.remaining)} items of phase {checkpoint.phase!r} not done): {exc}")
            log.error("checkpoint failed; run stopped, not continued", extra={"error": error})
            if not conditional_failed(exc):
                self._try_finish(state, "failed", error, accumulate=True)
            self._alert(run, "failed", error)
            raise StateLogError(error) from exc
        publish_run_metrics(self.spec.name, counts, "continued")
        target = unqualified_function_arn(context, env, self.spec.function_name)
        payload = continuation_event(run.run_id)
        result = self._summary(run, "continued", {"invocation": progress.invocation, "phase": checkpoint.phase,
                                                  "remaining": len(checkpoint.remaining),
                                                  "survey_ms": progress.survey_ms,
                                                  "no_progress": progress.no_progress}, summary)
        try:
            run.clients("lambda").invoke(FunctionName=target, InvocationType="Event",
                                         Payload=json.dumps(payload).encode())
        except Exception as exc:  # the progress is saved: an operator can re-drive with the same event
            error = (f"could not invoke {target} to continue the run: {describe_error(exc)}; "
                     f"invoke it with {json.dumps(payload)} to resume")
            log.error("continuation not started", extra={"error": error})
            try:
                state.finish_run("continued", accumulate=True, error=error)  # counts already added: adds 0
            except StateLogError:
                log.error("could not record the failed continuation in the state log")
            self._alert(run, "stalled", error, RunCounts.from_item(summary))
            return {**result, "error": error}
        log.info("run continues in a new invocation", extra={"invocation": progress.invocation,
                                                             "phase": checkpoint.phase,
                                                             "remaining": len(checkpoint.remaining),
                                                             "survey_ms": progress.survey_ms,
                                                             "no_progress": progress.no_progress})
        return result

    def _fail_without_progress(self, run: Run, checkpoint: Checkpoint, progress: Progress,
                               prior: RunCounts) -> dict[str, Any]:
        """End a run whose invocations checkpointed before their first item `MAX_NO_PROGRESS` times in a
        row: continuing it again would repeat the same survey without acting on anything. The summary's
        `checkpoint` stays the last one written (its keys are still the work left)."""
        log, state, cont = run.log, run.state, run.continuation
        survey_s = (progress.survey_ms or 0) / 1000
        left_s = (cont.survey_left_ms or 0) / 1000
        error = (f"the survey before the first item takes longer than the time left above the margin: it took "
                 f"{survey_s:.1f} s and left {left_s:.1f} s, under continuation_margin_seconds "
                 f"({cont.margin_ms // 1000} s), in {progress.no_progress} invocations in a row without "
                 f"acting on anything ({len(checkpoint.remaining)} items of phase {checkpoint.phase!r} not "
                 f"done); raise the function timeout or lower continuation_margin_seconds")
        log.error("run failed: no progress", extra={"error": error, "invocation": progress.invocation,
                                                    "survey_ms": progress.survey_ms,
                                                    "no_progress": progress.no_progress})
        self._alert(run, "failed", error, prior)  # first, so a lost alert is recorded in the summary
        summary: dict[str, Any] | None = None
        try:
            summary = state.finish_run("failed", accumulate=True, error=error, no_progress=progress.no_progress,
                                       survey_ms=progress.survey_ms,
                                       notifications_failed=run.notifier.failures or None)
        except StateLogError:
            log.error("could not record the run's failure in the state log")
        publish_run_metrics(self.spec.name, state.counts.as_dict(), "failed")
        return self._summary(run, "failed", {"invocation": progress.invocation, "error": error,
                                             "survey_ms": progress.survey_ms, "no_progress": progress.no_progress},
                             summary)

    def _summary(self, run: Run, status: str, result: Mapping[str, Any],
                 totals: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The handler's return value. `totals`: the summary item of a run that may span invocations."""
        if totals is not None:
            counts = RunCounts.from_item(totals).as_dict()
            return {"automation": self.spec.name, "run_id": run.run_id, "mode": run.mode, "status": status,
                    "counts": counts, "invocations": int(totals.get("invocations", 1)),
                    "invocation": run.invocation, **result}
        return {"automation": self.spec.name, "run_id": run.run_id, "mode": run.mode, "status": status,
                "counts": run.state.counts.as_dict(), **result}

    def _alert(self, run: Run, status: str, error: str | None, prior: RunCounts | None = None) -> None:
        """`prior`: the counts earlier invocations of a continued run added to its summary (run-wide alert)."""
        counts = run.state.counts.as_dict()
        if prior is not None:
            counts = {k: v + getattr(prior, k) for k, v in counts.items()}
        run.notify(f"Caretaker {self.spec.name}: run {status}",
                   f"Run {run.run_id} of {self.spec.name} ended {status}: {counts['succeeded']} succeeded, "
                   f"{counts['failed']} failed, {counts['skipped']} skipped.",
                   {"status": status, "counts": counts, "error": error},
                   outcome="partial" if status == "partial" else "failed",
                   severity="medium" if status == "partial" else "high")

    @staticmethod
    def _try_finish(state: StateLog, status: str, error: str, **extra: Any) -> None:
        try:
            state.finish_run(status, error=error, **extra)
        except StateLogError:
            logging.getLogger(__name__).error("could not record the run's failure in the state log")

    def _record_early_failure(self, table: str, clients: Clients, run_id: str, clock: Clock, error: str) -> None:
        if not table:
            return
        try:
            state = StateLog(table, clients("dynamodb"), automation=self.spec.name, run_id=run_id, clock=clock)
            state.start_run(mode="unknown", mode_source="invalid settings")
            state.finish_run("failed", error=error)
        except StateLogError:
            pass


def entrypoint(spec: FunctionSpec) -> Callable[[RunFunction], Entrypoint]:
    """Decorator: `@entrypoint(SPEC) def handler(run, event): ...`."""

    def wrap(fn: RunFunction) -> Entrypoint:
        return Entrypoint(spec, fn)

    return wrap
