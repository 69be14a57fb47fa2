"""The Lambda entry point of every scheduled and reactive handler (`@entrypoint(SPEC)`): the lifecycle
around a `Run` (run.py).

`entrypoint(spec)` turns `fn(run, event) -> dict` into a Lambda handler that
reads settings, resolves the mode (run-time override in the state table wins over
`CARETAKER_MODE`; a dry-run request wins over both), writes the run summary,
and guarantees that every action is written ahead (`planned`) before AWS is called.
A run that checkpoints continues through `checkpointing.py`.
"""

from __future__ import annotations

import traceback
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from automations.core.aws import Clients
from automations.core.checkpointing import continue_run
from automations.core.codec import Clock, utcnow
from automations.core.continuation import Checkpoint, Continuation, Progress, continued_run_id
from automations.core.errors import EventError, SettingsError, StateLogError, describe_error
from automations.core.executor import NO_CONTEXT_REMAINING_MS
from automations.core.lifecycle import ALERT_TOPIC_ENV, DRY_RUN_ENV, STATE_TABLE_ENV, Lifecycle
from automations.core.run import ModeDecision, Run, resolve_mode, try_finish
from automations.core.spec import Cron, FunctionSpec, Rate
from automations.core.state_log import RunCounts, new_run_id

#: The public surface of the run and its entry point (Run and the mode decision live in run.py).
__all__ = ["ALERT_TOPIC_ENV", "DRY_RUN_ENV", "LEASE_SLACK_S", "NO_CONTEXT_REMAINING_MS", "SAVINGS_RESULT_KEY",
           "STATE_TABLE_ENV", "Entrypoint", "LambdaHandler", "ModeDecision", "Run", "RunFunction", "describe_error",
           "entrypoint", "resolve_mode", "run_savings", "status_of", "validate_event"]

RunFunction = Callable[["Run", Mapping[str, Any]], Mapping[str, Any] | None]
LambdaHandler = Callable[[Any, Any], dict[str, Any]]

#: A run's holder keeps it for its timeout plus this; after that a redelivered continuation may take it over.
LEASE_SLACK_S = 60


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
        life = Lifecycle(self.spec, environ=environ, clients=clients, clock=clock)
        env, clients, spec, log = life.environ, life.clients, self.spec, life.log
        continued = continued_run_id(event)
        if continued is not None and not spec.continues:
            raise EventError(f"{spec.name}: got a continuation event, but this function does not continue runs")
        run_id = continued or new_run_id(clock())
        life.begin(run_id)

        try:
            settings = life.settings()
        except SettingsError as exc:
            log.error("invalid settings; not acting", extra={"error": str(exc)})
            self._record_early_failure(life, run_id, str(exc))
            raise
        state = life.state_log(run_id, settings)
        try:
            decision = life.mode(settings, state, dry_run_requested=life.dry_run_requested)
        except StateLogError as exc:
            log.error("state log unreachable; not acting", extra={"error": str(exc)})
            raise
        notifier = life.notifier(context)
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
                return run.result("off", {})
            validate_event(spec, event)
            result = self.fn(run, event) or {}
        except Checkpoint as checkpoint:
            return continue_run(run, checkpoint, holder, context, env, prior)
        except StateLogError as exc:
            error = str(exc)
            log.error("state log failed mid-run; stopped acting", extra={"error": error})
            try_finish(state, "failed", error, accumulate=accumulate)
            raise
        except Exception as exc:
            error = describe_error(exc)
            log.exception("run failed")
            run.alert("failed", error, prior)  # first, so a lost alert is recorded in the summary
            try_finish(state, "failed", error, accumulate=accumulate,
                       traceback=traceback.format_exc(limit=5), notifications_failed=notifier.failures or None)
            raise
        counts = state.counts
        status = status_of(prior.failed + counts.failed, prior.succeeded + counts.succeeded)
        if status != "ok":
            run.alert(status, None, prior)  # before the summary is written, so a lost alert is recorded in it
        savings = run_savings(result)
        try:
            summary = life.finish(state, status, accumulate=accumulate, notes=run.notes or None,
                                  notifications_failed=notifier.failures or None, savings=savings)
        except StateLogError as exc:  # records lost: the summary says so (finish_run ended it as failed)
            log.error("state log failed at the end of the run", extra={"error": str(exc)})
            run.alert("failed", str(exc), prior)
            raise
        log.info("run finished", extra={"status": status, **counts.as_dict(),
                                        "survey_ms": run.continuation.survey_ms})
        return run.result(status, result, summary if accumulate else None)

    @staticmethod
    def _record_early_failure(life: Lifecycle, run_id: str, error: str) -> None:
        if not life.table:
            return
        try:
            state = life.state_log(run_id, None)
            state.start_run(mode="unknown", mode_source="invalid settings")
            state.finish_run("failed", error=error)
        except StateLogError:
            pass


def entrypoint(spec: FunctionSpec) -> Callable[[RunFunction], Entrypoint]:
    """Decorator: `@entrypoint(SPEC) def handler(run, event): ...`."""

    def wrap(fn: RunFunction) -> Entrypoint:
        return Entrypoint(spec, fn)

    return wrap
