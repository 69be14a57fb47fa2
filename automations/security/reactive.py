"""The path every security rule shares: parse, ignore Caretaker's own events, decide once, act, record, notify.

A rule module supplies only `decide(run, event) -> Decision`, and gets its Lambda handler from
`rule_handler(SPEC, decide)` (CloudTrail records) or `rule_handler(SPEC, decide, kind=GUARDDUTY)` (another
kind of event, `automations/security/event_kinds.py`): `decide` receives the typed event of that kind.

- `Remediate`: change one resource. In enforce mode the call is made (write-ahead record,
  then outcome); in audit mode only the `planned` record (dry_run true) is written. Both notify.
- `Report`: nothing to change; the notification is the action (recorded as `notify`).
- `Skip`: nothing to do, or not allowed to act (protected, allow-listed); a `skipped` item,
  and a notification only when the skip hides a real exposure (`notify=True`).

`respond` wraps the decision in powertools idempotency keyed on the EventBridge event id,
inside the run (see docs/security-rules.md): a second delivery of an event gets its own
run summary, holding one `skipped` item "duplicate delivery", and changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TypeVar

from automations.core import state_schema as schema
from automations.core.errors import StateLogError
from automations.core.notify import owner_of
from automations.core.registry import register
from automations.core.runtime import Entrypoint, Run, describe_error, entrypoint
from automations.core.selection import PROTECT_TAG, is_protected
from automations.core.spec import EventTrigger, FunctionSpec, Mode, Permission, Setting
from automations.core.truncate import clip
from automations.security.errors import BadEventError, ResourceGoneError
from automations.security.event_kinds import CLOUDTRAIL, Kind, ParsedEvent, checked_kind
from automations.security.findings import caretaker_cause, own_role_arns

#: The action name of items that are about the event as a whole (bad input, own event, duplicate).
EVALUATE = "evaluate-event"
#: Idempotency records: pk = "IDEMPOTENCY#<automation>", sk = "<automation>#<md5 of the event id>".
IDEMPOTENCY_PK_PREFIX = "IDEMPOTENCY#"
#: EventBridge retries delivery for up to 24 hours; keep the record for twice that.
IDEMPOTENCY_EXPIRY_S = 48 * 3600
#: The longest reason and ids a rule's result (the handler's return value, the idempotency record) carries;
#: the state-log items keep the whole reason unless it exceeds DynamoDB's item limit.
REASON_LIMIT_BYTES = 2_000
ID_LIMIT_BYTES = 1_000

IGNORE_PRINCIPALS = Setting(
    "ignore_principal_arns", "list", (),
    "More principals whose events this rule ignores (comma-separated ARNs, * and ? allowed): the operator's "
    "explicit choice. Caretaker's own roles are always ignored, recognised by their exact ARNs "
    "(CARETAKER_OWN_ROLE_ARN_PREFIX + CARETAKER_OWN_ROLE_NAMES), never by path or name pattern.",
    pattern=r"arn:[^\s,]+",
)


def security_settings(*settings: Setting) -> tuple[Setting, ...]:
    """The settings of a security rule: the shared ones, then its own."""
    return (IGNORE_PRINCIPALS, *settings)


#: What a rule gets unless it declares otherwise: one event is one decision and at most a few calls.
RULE_TIMEOUT_S = 60
RULE_MEMORY_MB = 256


def rule_spec(*, name: str, description: str, trigger: EventTrigger, default_mode: Mode,
              permissions: tuple[Permission, ...], settings: tuple[Setting, ...] = (), timeout: int = RULE_TIMEOUT_S,
              memory: int = RULE_MEMORY_MB) -> FunctionSpec:
    """Declare and register a reactive rule: the shared timeout and memory unless it declares its own, and its own
    settings after the shared ones (`security_settings`); its module's `handler = rule_handler(SPEC, decide)` is
    bound by `registry.discover()`."""
    return register(FunctionSpec(name=name, description=description, trigger=trigger, default_mode=default_mode,
                                 permissions=permissions, settings=security_settings(*settings), timeout=timeout,
                                 memory=memory))


@dataclass(frozen=True)
class Remediate:
    resource_id: str
    action: str  # kebab-case verb, e.g. "revoke-ingress"
    headline: str  # what is wrong, one line: "sg-1 allows 22/tcp from 0.0.0.0/0"
    remedy: str  # what Caretaker does: "revoke the 2 offending rules"
    call: Callable[[], Any]
    details: Mapping[str, Any] = field(default_factory=dict)
    result_details: Callable[[Any], Mapping[str, Any]] | None = None
    #: further resources the same call changes (the instances of one RunInstances): each gets its own
    #: `planned` and outcome items, as `resource_id` does
    also: tuple[str, ...] = ()
    #: False: the items are the record and only a failure is notified (routine changes such as creator tags)
    notify: bool = True

    @property
    def resource_ids(self) -> tuple[str, ...]:
        return (self.resource_id, *self.also)


@dataclass(frozen=True)
class Report:
    resource_id: str
    headline: str
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Skip:
    resource_id: str
    action: str
    reason: str
    details: Mapping[str, Any] = field(default_factory=dict)
    notify: bool = False
    headline: str = ""


Decision = Remediate | Report | Skip
E = TypeVar("E", bound=ParsedEvent)
Decide = Callable[[Run, E], Decision]


#: The `caretaker:owner` of the resources whose tags the current decision read (`protected` sees every
#: rule's tags), so that its notification is routed to the owner without a second read. Set per event.
_OWNERS: ContextVar[dict[str, str | None] | None] = ContextVar("caretaker_owners", default=None)


def protected(resource_id: str, action: str, tags: Mapping[str, str], headline: str,
              details: Mapping[str, Any]) -> Skip | None:
    """A notifying `Skip` when the resource is tagged caretaker:protect=true: never changed, always reported.
    Also notes the resource's `caretaker:owner` for the notification (owner routing)."""
    owners = _OWNERS.get()
    if owners is not None:
        owners[resource_id] = owner_of(tags)
    if not is_protected(tags):
        return None
    return Skip(resource_id, action, f"protected: tagged {PROTECT_TAG}=true", details, notify=True, headline=headline)


def event_ref(event_id: str) -> str:
    """The resource id of items about an event as a whole."""
    return f"event/{event_id or 'unknown'}"


def rule_handler(spec: FunctionSpec, decide: Decide[E], kind: Kind[E] | None = None) -> Entrypoint:
    """The Lambda handler of a rule: every event goes through `respond` with the rule's `decide`
    (whose docstring it takes). `kind` (CloudTrail records unless given) must be what the trigger delivers."""
    chosen: Kind[Any] = CLOUDTRAIL if kind is None else kind
    checked = checked_kind(spec, chosen)

    def handler(run: Run, event: Mapping[str, Any]) -> dict[str, Any]:
        return respond(run, event, decide, checked)

    handler.__doc__ = decide.__doc__
    return entrypoint(spec)(handler)


def respond(run: Run, event: Mapping[str, Any], decide: Decide[E], kind: Kind[E]) -> dict[str, Any]:
    """Handle one event of `kind` with a rule's `decide`; returns `{"finding": {...}}` for the summary.
    The one dispatch point: `kind.parse` reads the event; Caretaker's own events are ignored where the event
    names the principal that caused it (CloudTrail records)."""
    try:
        parsed = kind.parse(event)
    except BadEventError as exc:
        event_id = str(event.get("id") or "")
        detail = event.get("detail")
        name = str(detail.get("eventName") or "") if isinstance(detail, Mapping) else ""
        name = name or str(event.get("detail-type") or "")
        run.skip(event_ref(event_id), EVALUATE, f"bad event: {exc}")
        return _result(run, event_id, name, event_ref(event_id), EVALUATE, "skipped", f"bad event: {exc}")
    actor = parsed.actor
    own = actor and caretaker_cause(actor, own_role_arns(run.environ), run.settings["ignore_principal_arns"],
                                    account=parsed.account)
    if own:
        run.skip(event_ref(parsed.id), EVALUATE, f"ignored: {own}", parsed.summary())
        return _result(run, parsed.id, parsed.name, event_ref(parsed.id), EVALUATE, "skipped", f"ignored: {own}")
    return once(run, parsed, lambda: handle(run, parsed, decide))


# ---------------------------------------------------------------------- idempotency


def once(run: Run, event: ParsedEvent, work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run `work` at most once per event id (powertools idempotency on the state table)."""
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyPersistenceLayerError,
    )

    ran = False

    def process(*, event: Mapping[str, Any]) -> dict[str, Any]:
        nonlocal ran
        ran = True
        return work()

    config = IdempotencyConfig(event_key_jmespath="id", raise_on_no_idempotency_key=True,
                               expires_after_seconds=IDEMPOTENCY_EXPIRY_S)
    if callable(getattr(run.context, "get_remaining_time_in_millis", None)):
        # an in-progress record then expires with the invocation, so a retry after a timeout proceeds
        config.register_lambda_context(run.context)
    guarded = idempotent_function(process, data_keyword_argument="event", persistence_store=persistence_layer(run),
                                  config=config, key_prefix=run.spec.name)
    try:
        result = guarded(event={"id": event.id})
    except IdempotencyAlreadyInProgressError:
        reason = f"event {event.id} is being handled by another invocation right now"
        run.skip(event_ref(event.id), EVALUATE, reason, event.summary())
        return _result(run, event.id, event.name, event_ref(event.id), EVALUATE, "skipped", reason)
    except IdempotencyPersistenceLayerError as exc:
        raise StateLogError(f"idempotency record of event {event.id} cannot be used: {exc}") from exc
    if ran:
        return dict(result)
    previous = dict((result or {}).get("finding") or {})
    reason = (f"duplicate delivery of event {event.id}: already handled by run "
              f"{previous.get('run_id', 'unknown')}")
    resource = str(previous.get("resource_id") or event_ref(event.id))
    run.skip(resource, EVALUATE, reason, event.summary())
    return {"finding": {**previous, "duplicate": True, "outcome_now": "skipped", "reason_now": reason}}


def persistence_layer(run: Run) -> Any:
    """The powertools DynamoDB layer on the state table, built per invocation on the run's client."""
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    return DynamoDBPersistenceLayer(
        table_name=run.state.table,
        key_attr=schema.PARTITION_KEY,
        sort_key_attr=schema.SORT_KEY,
        static_pk_value=IDEMPOTENCY_PK_PREFIX + run.spec.name,
        expiry_attr=schema.TTL_ATTRIBUTE,
        boto3_client=run.clients("dynamodb"),
    )


# ---------------------------------------------------------------------- decisions


def handle(run: Run, event: E, decide: Decide[E]) -> dict[str, Any]:
    """Decide on the resource's current state, then carry the decision out."""
    token = _OWNERS.set({})
    try:
        return _handle(run, event, decide)
    finally:
        _OWNERS.reset(token)


def _handle(run: Run, event: E, decide: Decide[E]) -> dict[str, Any]:
    try:
        decision = decide(run, event)
    except BadEventError as exc:
        reason = f"bad event: {exc}"
        run.skip(event_ref(event.id), EVALUATE, reason, event.summary())
        return _result(run, event.id, event.name, event_ref(event.id), EVALUATE, "skipped", reason)
    except ResourceGoneError as exc:
        reason = f"gone: {exc}"
        run.skip(exc.resource_id, EVALUATE, reason, event.summary())
        return _result(run, event.id, event.name, exc.resource_id, EVALUATE, "skipped", reason)
    if isinstance(decision, Remediate):
        return _remediate(run, event, decision)
    if isinstance(decision, Report):
        return _report(run, event, decision)
    return _skip(run, event, decision)


def _remediate(run: Run, event: ParsedEvent, decision: Remediate) -> dict[str, Any]:
    errors: list[str] = []

    def call() -> Any:
        try:
            return decision.call()
        except Exception as exc:
            errors.append(describe_error(exc))
            raise

    details = {**event.summary(), "what": decision.headline, **decision.details}
    reason = f"{decision.headline}; {decision.remedy}"
    shape = decision.result_details
    run.act_many([(resource, reason, details) for resource in decision.resource_ids], decision.action, call,
                 outcome_details=(lambda r: {resource: shape(r) for resource in decision.resource_ids})
                 if shape else None)
    if run.dry_run:
        outcome, said = "planned", f"Not changed ({run.mode} mode): Caretaker would {decision.remedy}."
    elif errors:
        outcome, said = "failed", f"Caretaker tried to {decision.remedy} and failed: {errors[0]}."
    else:
        outcome, said = "succeeded", f"Caretaker did {decision.remedy}."
    if decision.notify or errors:
        _notify(run, event, decision.resource_id, decision.headline, said, decision.details,
                {"action": decision.action, "outcome": outcome, "dry_run": run.dry_run, "remedy": decision.remedy,
                 "error": errors[0] if errors else None}, outcome=outcome)
    return _result(run, event.id, event.name, decision.resource_id, decision.action, outcome, reason)


def _report(run: Run, event: ParsedEvent, decision: Report) -> dict[str, Any]:
    """Notify-only: the notification is the action, written ahead and recorded like any other."""
    details = {**event.summary(), "what": decision.headline, **decision.details}
    record = run.state.plan(decision.resource_id, "notify", decision.headline, dry_run=False, details=details)
    sent = _notify(run, event, decision.resource_id, decision.headline, "Caretaker reports it; nothing to undo.",
                   decision.details, {"action": "notify", "outcome": "reported"}, outcome="nothing-to-do")
    outcome = "succeeded" if sent else "failed"
    run.state.outcome(record, outcome, None if sent else "the notification could not be published")
    return _result(run, event.id, event.name, decision.resource_id, "notify", outcome, decision.headline)


def _skip(run: Run, event: ParsedEvent, decision: Skip) -> dict[str, Any]:
    details = {**event.summary(), **({"what": decision.headline} if decision.headline else {}), **decision.details}
    run.skip(decision.resource_id, decision.action, decision.reason, details)
    if decision.notify:
        _notify(run, event, decision.resource_id, decision.headline or decision.reason,
                f"Not changed: {decision.reason}.", decision.details,
                {"action": decision.action, "outcome": "skipped", "reason": decision.reason}, outcome="nothing-to-do")
    return _result(run, event.id, event.name, decision.resource_id, decision.action, "skipped", decision.reason)


#: A finding's severity by what Caretaker did about it: an exposure it removed was still an exposure
#: (medium); one left in place, by audit mode, protection or a report-only rule, is high; one it failed
#: to remove, critical.
FINDING_SEVERITY = {"succeeded": "medium", "planned": "high", "nothing-to-do": "high", "failed": "critical"}


def _notify(run: Run, event: ParsedEvent, resource_id: str, headline: str, said: str,
            details: Mapping[str, Any], caretaker: Mapping[str, Any], *, outcome: str) -> bool:
    summary = f"{headline}. {event.describe()}. {said}"
    owners = _OWNERS.get() or {}
    # the resource's own tags; else those of the one resource the decision read (a user's, for its key)
    owner = owners[resource_id] if resource_id in owners else (
        next(iter(owners.values())) if len(owners) == 1 else None)
    return run.notify(f"Caretaker {run.spec.name}: {headline}", summary, {
        "finding": {**event.summary(), "resource": resource_id, "what": headline, **details},
        "caretaker": {k: v for k, v in caretaker.items() if v is not None},
    }, outcome=outcome, severity=FINDING_SEVERITY[outcome], owner=owner, resources=[resource_id])


def _result(run: Run, event_id: str, event_name: str, resource_id: str, action: str, outcome: str,
            reason: str) -> dict[str, Any]:
    """What the run summary says about the event (and what a duplicate delivery reads back, from the
    idempotency record: one DynamoDB item, so the caller-chosen parts are clipped)."""
    return {"finding": {"event_id": clip(event_id, ID_LIMIT_BYTES), "event_name": clip(event_name, ID_LIMIT_BYTES),
                        "resource_id": clip(resource_id, ID_LIMIT_BYTES), "action": action, "outcome": outcome,
                        "reason": clip(reason, REASON_LIMIT_BYTES), "run_id": run.run_id}}
