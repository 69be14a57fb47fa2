"""The run: what every scheduled handler gets, and the Lambda entry point around it.

`entrypoint(spec)` turns `fn(run, event) -> dict` into a Lambda handler that
reads settings, resolves the mode (run-time override in the state table wins over
`CARETAKER_MODE`; a dry-run request wins over both), writes the run summary,
and guarantees that every action is written ahead (`planned`) before AWS is called.
"""

from __future__ import annotations

import logging
import os
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from automations.core.aws import Clients
from automations.core.errors import EventError, SettingsError, StateLogError
from automations.core.notify import Notifier
from automations.core.observability import get_logger, publish_run_metrics
from automations.core.settings import Settings, cached_settings
from automations.core.spec import MODES, Cron, FunctionSpec, Rate
from automations.core.state_log import ActionRecord, Clock, StateLog, new_run_id, utcnow

T = TypeVar("T")
RunFunction = Callable[["Run", Mapping[str, Any]], Mapping[str, Any] | None]
LambdaHandler = Callable[[Any, Any], dict[str, Any]]

#: Set by the operator CLI (`invoke --dry-run`): forces audit whatever the mode says.
DRY_RUN_ENV = "CARETAKER_DRY_RUN"
STATE_TABLE_ENV = "CARETAKER_STATE_TABLE"
ALERT_TOPIC_ENV = "CARETAKER_ALERT_TOPIC_ARN"
NO_CONTEXT_REMAINING_MS = 900_000


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
                 mode: ModeDecision, notifier: Notifier, clock: Clock, context: Any) -> None:
        self.spec = spec
        self.settings = settings
        self.state = state
        self.clients = clients
        self.mode = mode.mode
        self.mode_source = mode.source
        self.notifier = notifier
        self.clock = clock
        self.context = context
        self.log = get_logger()
        self.notes: list[str] = []

    @property
    def run_id(self) -> str:
        return self.state.run_id

    @property
    def dry_run(self) -> bool:
        return self.mode != "enforce"

    def remaining_ms(self) -> int:
        getter = getattr(self.context, "get_remaining_time_in_millis", None)
        return int(getter()) if callable(getter) else NO_CONTEXT_REMAINING_MS

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
        try:
            result = call()
        except StateLogError:
            raise
        except Exception as exc:  # one failing resource never stops the run
            reason = describe_error(exc)
            self.log.warning("action failed", extra={"action": action, "error": reason,
                                                     "resources": [r.resource_id for r in records]})
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

    def notify(self, subject: str, summary: str, body: Mapping[str, Any]) -> bool:
        return self.notifier.publish(subject, summary, {"automation": self.spec.name, "run_id": self.run_id,
                                                        "mode": self.mode, **body})


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
        env = os.environ if environ is None else environ
        clients = clients or Clients()
        spec = self.spec
        log = get_logger()
        run_id = new_run_id(clock())
        log.append_keys(automation=spec.name, run_id=run_id)
        log.set_correlation_id(run_id)

        table = env.get(STATE_TABLE_ENV, "")
        try:
            settings = cached_settings(spec, env)
            ttl_days = int(settings["state_ttl_days"])
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
        notifier = Notifier(env.get(ALERT_TOPIC_ENV, ""), clients("sns"))
        run = Run(spec=spec, settings=settings, state=state, clients=clients, mode=decision,
                  notifier=notifier, clock=clock, context=context)
        state.start_run(mode=decision.mode, mode_source=decision.source, dry_run=run.dry_run,
                        request_id=getattr(context, "aws_request_id", None),
                        settings={k: settings.spec.setting(k).render(v) for k, v in settings.items()})
        log.info("run started", extra={"mode": decision.mode, "mode_source": decision.source})

        result: Mapping[str, Any] = {}
        error: str | None = None
        try:
            if decision.mode == "off":
                state.finish_run("off", reason=f"mode is off ({decision.source})")
                return self._summary(run, "off", {})
            validate_event(spec, event)
            result = self.fn(run, event) or {}
        except StateLogError as exc:
            error = str(exc)
            log.error("state log failed mid-run; stopped acting", extra={"error": error})
            self._try_finish(state, "failed", error)
            raise
        except Exception as exc:
            error = describe_error(exc)
            log.exception("run failed")
            self._try_finish(state, "failed", error, traceback=traceback.format_exc(limit=5))
            self._alert(run, "failed", error)
            raise
        counts = state.counts
        status = status_of(counts.failed, counts.succeeded)
        state.finish_run(status, notes=run.notes or None,
                         notifications_failed=notifier.failures or None)
        publish_run_metrics(spec.name, counts.as_dict(), status)
        if status != "ok":
            self._alert(run, status, None)
        log.info("run finished", extra={"status": status, **counts.as_dict()})
        return self._summary(run, status, result)

    def _summary(self, run: Run, status: str, result: Mapping[str, Any]) -> dict[str, Any]:
        return {"automation": self.spec.name, "run_id": run.run_id, "mode": run.mode, "status": status,
                "counts": run.state.counts.as_dict(), **result}

    def _alert(self, run: Run, status: str, error: str | None) -> None:
        counts = run.state.counts.as_dict()
        run.notify(f"Caretaker {self.spec.name}: run {status}",
                   f"Run {run.run_id} of {self.spec.name} ended {status}: {counts['succeeded']} succeeded, "
                   f"{counts['failed']} failed, {counts['skipped']} skipped.",
                   {"status": status, "counts": counts, "error": error})

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
