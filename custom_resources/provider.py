"""The custom resource protocol every type shares: one `Provider` is one Lambda handler.

A type module declares its `FunctionSpec` and a `ResourceType` (property schema, id format,
create / update / delete) and exposes `handler = Provider(SPEC, TheType())`. For each request
the provider:

1. answers a Delete of an id it did not create (a failed Create's) with SUCCESS, touching nothing;
2. validates the properties before any AWS call (`Schema.validate`); an Update of an id it did
   not create runs as a Create;
3. opens the state log (table from `CARETAKER_STATE_TABLE`, automation = function name,
   run_id = RequestId) and resolves the mode (a run-time override in the state table wins);
4. asks the type's declared `StackBinding` whether the requesting stack may act on what the
   request names (the stack is the request's full `StackId`); a refused Create or Update is
   FAILED, a refused Delete changes nothing and answers SUCCESS, both recorded as `skipped`;
5. runs the type's method, in which every AWS change goes through `Request.act` (write-ahead);
6. records the outcome and hands crhelper the PhysicalResourceId, Data and NoEcho.

crhelper (through `CfnHelper`) sends the one response, including on init failures and timeouts.
"""

from __future__ import annotations

import os
import traceback
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import cached_property, partial
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar

from automations.core.aws import Clients
from automations.core.codec import Clock, iso, utcnow
from automations.core.errors import CaretakerError, StateLogError
from automations.core.ledger import run_items
from automations.core.mode_override import read_mode_override
from automations.core.observability import get_logger, publish_run_metrics
from automations.core.registry import register
from automations.core.runtime import (
    NO_CONTEXT_REMAINING_MS,
    STATE_TABLE_ENV,
    ModeDecision,
    describe_error,
    resolve_mode,
)
from automations.core.settings import Settings, cached_settings
from automations.core.spec import CustomResource, FunctionSpec, Permission
from automations.core.state_log import RunCounts, StateLog
from custom_resources.properties import REDACTED, PropertyError, Schema, redact_text
from custom_resources.response import answer_directly, failed_create_id, log, loggable_response

#: Providers run because a stack asked for them: they act (mode `enforce`) unless an operator says otherwise.
PROVIDER_MODE: Literal["enforce"] = "enforce"
PROVIDER_TIMEOUT_S = 120
PROVIDER_MEMORY_MB = 256


def provider_spec(module: str, name: str, resource_type: str, what: str, permissions: tuple[Permission, ...], *,
                  timeout: int = PROVIDER_TIMEOUT_S, polls: bool = False) -> FunctionSpec:
    """Declare and register the provider of one custom resource type (handler: `<module>.handler`).

    `polls`: a Delete may continue through crhelper polling, so the function also gets the permissions
    for its own schedule rules (`polling_permissions`)."""
    spec = FunctionSpec(
        name=name,
        description=f"CloudFormation provider of {resource_type}: {what}",
        handler=module + ".handler",
        trigger=CustomResource(resource_type),
        default_mode=PROVIDER_MODE,
        timeout=timeout,
        memory=PROVIDER_MEMORY_MB,
        permissions=permissions,
    )
    if polls:
        spec = replace(spec, permissions=(*permissions, *polling_permissions(spec.function_name)))
    return register(spec)


def polling_rule_prefix(function_name: str) -> str:
    """What the names of a function's crhelper polling rules start with."""
    return f"{function_name}-poll-"


def polling_permissions(function_name: str) -> tuple[Permission, ...]:
    """crhelper polling: a schedule rule per long request, on this function's own rules only, and the
    permission for EventBridge to invoke this function."""
    return (
        Permission(("events:PutRule", "events:PutTargets", "events:RemoveTargets", "events:DeleteRule"),
                   (f"arn:${{AWS::Partition}}:events:${{AWS::Region}}:${{AWS::AccountId}}:rule/"
                    f"{polling_rule_prefix(function_name)}*",),
                   why="crhelper polling: this function's own schedule rules (named after the function)"),
        Permission(("lambda:AddPermission",), ("${FunctionArn}",),
                   condition={"StringEquals": {"lambda:Principal": "events.amazonaws.com"}},
                   why="crhelper polling: let the schedule rule invoke this function (EventBridge only)"),
        Permission(("lambda:RemovePermission",), ("${FunctionArn}",),
                   why="crhelper polling: remove that permission when done"),
    )

if TYPE_CHECKING:
    from custom_resources.cfn_helper import CfnHelper

T = TypeVar("T")
REQUEST_TYPES = ("Create", "Update", "Delete")
REQUIRED_EVENT_KEYS = ("RequestType", "ResponseURL", "StackId", "RequestId", "LogicalResourceId", "ResourceType")
#: Tag every resource a provider creates carries (the function's name), as the scheduled automations do.
AUTOMATION_TAG = "caretaker:automation"
#: The requesting stack's name, for people reading the tags (a name is not an identity: see OWNER_TAG).
STACK_TAG = "caretaker:stack"
#: The full StackId ARN (name and unique id) of the stack a named resource is bound to.
OWNER_TAG = "caretaker:stack-id"
#: Every tag key a provider puts on what it creates.
PROVIDER_TAG_KEYS = (AUTOMATION_TAG, STACK_TAG, OWNER_TAG)


class ProviderError(CaretakerError):
    """A request cannot be served; the message is the Reason CloudFormation shows."""


def _tally(items: list[dict[str, Any]]) -> dict[str, int]:
    """Counts of a request's action records, by outcome (what its summary must say)."""
    tally = dict.fromkeys(("planned", "succeeded", "failed", "skipped"), 0)
    for item in items:
        if item.get("type") == "action" and item.get("outcome") in tally:
            tally[str(item["outcome"])] += 1
    return tally


class _AlreadyServed(Exception):
    """An earlier invocation served this request; this one answered as it had to, and stops."""




@dataclass
class Result:
    """What a type's method produced."""

    #: the PhysicalResourceId to answer with; None = not finished, continue through polling (Delete only)
    physical_id: str | None
    #: attributes for Fn::GetAtt
    data: dict[str, Any] = field(default_factory=dict)
    #: mask `data` in Fn::GetAtt output and in the console (CloudFormation's NoEcho)
    no_echo: bool = False
    #: a short explanation (e.g. why nothing was changed); recorded and sent as the Reason
    note: str = ""
    #: values the next poll invocation needs (carried in crhelper's poll event)
    carry: dict[str, Any] = field(default_factory=dict)


@dataclass
class Request:
    """One request as a type's method sees it: typed properties, clients, state log, clock."""

    #: the request type being served: an Update of a failed Create is served as "Create"
    request_type: str
    event: Mapping[str, Any]
    props: dict[str, Any]
    #: the previous properties on Update (None when they no longer validate: all count as changed)
    old_props: dict[str, Any] | None
    schema: Schema
    state: StateLog
    clients: Clients
    context: Any
    clock: Clock
    automation: str
    #: values that must never be logged, recorded or sent in a Reason
    secrets: list[str] = field(default_factory=list)

    @property
    def physical_id(self) -> str:
        return str(self.event.get("PhysicalResourceId", ""))

    @property
    def stack_id(self) -> str:
        return str(self.event["StackId"])

    @property
    def stack_name(self) -> str:
        parts = self.stack_id.split("/")
        return parts[1] if len(parts) > 1 else self.stack_id

    @property
    def logical_id(self) -> str:
        return str(self.event["LogicalResourceId"])

    @property
    def request_id(self) -> str:
        return str(self.event["RequestId"])

    @property
    def poll_data(self) -> Mapping[str, Any]:
        """What the first invocation carried into the poll events (empty before polling)."""
        data = self.event.get("CrHelperData")
        return data if isinstance(data, Mapping) else {}

    def client(self, service: str) -> Any:
        return self.clients(service)

    def now(self) -> datetime:
        return self.clock()

    def remaining_ms(self) -> int:
        getter = getattr(self.context, "get_remaining_time_in_millis", None)
        return int(getter()) if callable(getter) else NO_CONTEXT_REMAINING_MS

    @cached_property
    def _location(self) -> tuple[str, str, str]:
        """(partition, region, account) of this function, from its ARN (STS as a fallback)."""
        parts = str(getattr(self.context, "invoked_function_arn", "")).split(":")
        if len(parts) >= 5 and parts[0] == "arn" and parts[4]:
            return parts[1], parts[3], parts[4]
        identity = self.client("sts").get_caller_identity()
        return str(identity["Arn"]).split(":")[1], self.clients.region, str(identity["Account"])

    @property
    def partition(self) -> str:
        return self._location[0]

    @property
    def region(self) -> str:
        return self._location[1]

    @property
    def account(self) -> str:
        return self._location[2]

    def changed(self, flag: Literal["generation", "replaces"] | None = None) -> tuple[str, ...]:
        """Properties (with a schema flag, if given) whose values differ from OldResourceProperties."""
        return self.schema.changed(self.old_props, self.props, flag)

    def tags(self) -> list[dict[str, str]]:
        """The tags of a resource this request creates: it is bound to the requesting stack (OWNER_TAG)."""
        return [{"Key": AUTOMATION_TAG, "Value": self.automation}, {"Key": STACK_TAG, "Value": self.stack_name},
                {"Key": OWNER_TAG, "Value": self.stack_id}]

    def keep_secret(self, value: str) -> str:
        self.secrets.append(value)
        return value

    def redact(self, text: str) -> str:
        return redact_text(text, self.secrets)

    def act(self, resource_id: str, action: str, call: Callable[[], T], *, reason: str = "",
            details: Mapping[str, Any] | None = None) -> T:
        """Write ahead (`planned`), call AWS, record the outcome.

        A `StateLogError` from the plan propagates before AWS is called. A failing call is
        recorded as `failed` and raised as a `ProviderError` that names the action.
        """
        record = self.state.plan(resource_id, action, reason or f"{self.request_type} requested by "
                                 f"{self.logical_id} in {self.stack_name}", dry_run=False, details=details)
        try:
            result = call()
        except Exception as exc:
            problem = self.redact(describe_error(exc))
            self.state.outcome(record, "failed", problem)
            raise ProviderError(f"{action} ({resource_id}) failed: {problem}") from exc
        self.state.outcome(record, "succeeded")
        return result


class StackBinding(ABC):
    """How a type binds what it acts on to the stack that asked for it (the request's full StackId).

    Declared once per type (`ResourceType.binding`) and checked by the provider after the
    properties, before any of the type's code runs and so before any value can go into Data.
    """

    #: the IAM permissions `refusal` needs; the type's declaration must include them (a test checks)
    permissions: tuple[Permission, ...] = ()

    @abstractmethod
    def refusal(self, request: Request) -> str | None:
        """None when the requesting stack may act on what the request names; else why it may not
        (the Reason, naming both stacks where one is known). Raise when it cannot be told (the
        request then fails, changing nothing)."""


class AccountWide(StackBinding):
    """A setting of the whole account or region: no stack owns it; the holders' lineage decides
    what a Delete puts back (see `lineage`)."""

    def refusal(self, request: Request) -> str | None:
        return None


ACCOUNT_WIDE = AccountWide()


class ResourceType(ABC):
    """One `Custom::` type: its properties, its ids and what Create / Update / Delete do."""

    resource_type: ClassVar[str]
    schema: ClassVar[Schema]
    #: how requests are bound to stacks: required for every type that changes AWS (`mutates`);
    #: None only for types that change nothing (lookups)
    binding: ClassVar[StackBinding | None]
    #: False for types that change nothing in AWS (lookups): the mode does not apply to them
    mutates: ClassVar[bool] = True
    #: True when a Delete may continue through crhelper polling (`poll_delete`)
    polls_delete: ClassVar[bool] = False
    #: True when a request may simply be served again after an attempt that stopped before answering (the
    #: type works from what AWS shows now, so nothing is done twice); else the retry answers FAILED
    resumable: ClassVar[bool] = False

    @abstractmethod
    def owns(self, physical_id: str) -> bool:
        """True when the id has the form this type gives its resources (a failed Create's id has not)."""

    @abstractmethod
    def create(self, request: Request) -> Result: ...

    @abstractmethod
    def update(self, request: Request) -> Result: ...

    @abstractmethod
    def delete(self, request: Request) -> Result: ...

    def poll_delete(self, request: Request) -> Result:
        raise ProviderError(f"{self.resource_type} does not continue a Delete through polling")


@dataclass
class _Invocation:
    """What one Lambda invocation injects: clients, environment, clock, and its parsed settings."""

    clients: Clients
    environ: Mapping[str, str]
    clock: Clock
    settings: Settings | None = None


class Provider:
    """The Lambda handler of one custom resource type."""

    def __init__(self, spec: FunctionSpec, resource: ResourceType, *, polling_interval_minutes: int = 2) -> None:
        if not isinstance(spec.trigger, CustomResource) or spec.trigger.resource_type != resource.resource_type:
            raise ValueError(f"{spec.name}: the trigger must be CustomResource({resource.resource_type!r})")
        if getattr(resource, "binding", None) is None and resource.mutates:
            raise ValueError(f"{spec.name}: a type that changes AWS must declare its `binding` (a StackBinding, "
                             f"or ACCOUNT_WIDE for a setting of the whole account)")
        self.spec = spec
        self.resource = resource
        self.polling_interval_minutes = polling_interval_minutes
        self.__name__ = "handler"
        self._cached: CfnHelper | None = None
        self._active: CfnHelper | None = None
        self._invocation: _Invocation | None = None

    def __call__(self, event: Any, context: Any) -> None:
        self.invoke(event, context)

    def reset(self) -> None:
        """Forget this container's crhelper object, as a new Lambda container would."""
        self._cached = None

    # ------------------------------------------------------------------ entry point

    def invoke(self, event: Any, context: Any, *, clients: Clients | None = None,
               environ: Mapping[str, str] | None = None, clock: Clock = utcnow) -> None:
        """Serve one event; `clients`, `environ` and `clock` may be injected (tests, local runs)."""
        missing = [k for k in REQUIRED_EVENT_KEYS if not isinstance(event, Mapping) or not event.get(k)]
        if missing:
            if isinstance(event, Mapping) and event.get("ResponseURL"):
                answer_directly(event, f"malformed request: missing {', '.join(missing)}", context)
            else:
                log().error("not a CloudFormation custom resource request; there is nowhere to answer",
                            extra={"missing": missing})
            return
        self._invocation = _Invocation(clients or Clients(), os.environ if environ is None else environ, clock)
        helper = self._helper_for(event, context)
        if helper is None:
            return
        self._active = helper
        helper.begin(event, context)
        try:
            helper(event, context)
        finally:
            if not helper.responses and not helper.polling_pending:
                helper.answer_failure("the provider stopped without answering; see its log")

    def _helper_for(self, event: Mapping[str, Any], context: Any) -> CfnHelper | None:
        """The container's helper; on an init failure, a fresh one that reports it (never cached)."""
        invocation = self._invocation
        if invocation is None:
            raise ProviderError("internal error: no invocation in progress")
        try:
            invocation.settings = cached_settings(self.spec, invocation.environ)
            helper = self._cached or self._new_helper()
        except Exception as exc:
            reason = f"the provider could not initialise: {describe_error(exc)}"
            log().error("initialisation failed", extra={"error": reason})
            try:
                helper = self._new_helper()
            except Exception:
                answer_directly(event, reason, context)
                return None
            helper.init_failure(ProviderError(reason))
            return helper
        if helper.init_error is None:
            self._cached = helper
        return helper

    def _new_helper(self) -> CfnHelper:
        # imported here, not at module scope: a missing or broken crhelper is then an init failure
        # this provider answers (`answer_directly`), not an import error CloudFormation never hears of
        from custom_resources.cfn_helper import CfnHelper

        helper = CfnHelper(polling_interval=self.polling_interval_minutes,
                           rule_prefix=polling_rule_prefix(self.spec.function_name))
        helper.create(self._serve_event)
        helper.update(self._serve_event)
        helper.delete(self._serve_event)
        if self.resource.polls_delete:
            helper.poll_delete(self._serve_poll)
        return helper

    # ------------------------------------------------------------------ retries of one request

    @staticmethod
    def _record_response(state: StateLog, body: Mapping[str, Any], delivered: bool) -> None:
        """Keep the response on the request's summary before it is sent, and mark it once delivered."""
        try:
            if delivered:
                state.annotate(response_delivered=True)
            else:
                state.annotate(response=loggable_response(body), response_at=iso(state.clock()),
                               response_data_withheld=bool(body.get("NoEcho") and body.get("Data")) or None)
        except StateLogError as exc:
            get_logger().error("could not record the response in the state log", extra={"error": str(exc)})

    def _served_before(self, helper: CfnHelper, state: StateLog, event: Mapping[str, Any]) -> bool:
        """Handle a request an earlier invocation already worked on (Lambda retries an asynchronous
        invocation that failed or was killed, and may deliver one twice). True when this invocation is done.

        Answered before: the recorded answer is repeated if it may not have been delivered, else nothing is
        sent; nothing is acted on again. Started but never answered (the process died): nothing is acted on
        again; the answer is FAILED and names the actions whose outcome is unknown.
        """
        log = get_logger()
        try:
            prior = state.summary()
        except StateLogError as exc:
            log.warning("cannot tell whether this request was served before", extra={"error": str(exc)})
            return False
        if prior is None:
            return False
        helper.on_response = partial(self._record_response, state)
        poll = "CrHelperPoll" in event
        response = prior.get("response")
        if isinstance(response, Mapping):
            if prior.get("response_delivered"):
                log.info("this request was answered before: not acting, not answering again")
            elif prior.get("response_data_withheld"):
                log.error("an earlier attempt answered with secret attributes the state log does not keep, and "
                          "its delivery is unknown: not answering again (CloudFormation times the request out "
                          "if it never got that answer)")
            else:
                log.warning("an earlier attempt recorded its answer but may not have delivered it: repeating it")
                helper.repeat(response)
            return True
        if poll:
            return False  # a poll continues the request the first invocation started
        if self.resource.resumable:
            # its actions work from what AWS shows now: serve the request again, counting what was recorded
            try:
                state.counts = RunCounts(**_tally(run_items(state.client, state.table, str(event["RequestId"]))))
            except Exception as exc:
                log.error("could not read the earlier attempt's records", extra={"error": describe_error(exc)})
            else:
                log.warning("an earlier attempt of this request stopped before answering: serving it again")
                return False
        self._answer_abandoned(helper, state, event, prior)
        return True

    @staticmethod
    def _answer_abandoned(helper: CfnHelper, state: StateLog, event: Mapping[str, Any],
                          prior: Mapping[str, Any]) -> None:
        request_id = str(event["RequestId"])
        try:
            items = run_items(state.client, state.table, request_id)
        except Exception as exc:
            items = []
            get_logger().error("could not read the earlier attempt's records", extra={"error": describe_error(exc)})
        actions = [i for i in items if i.get("type") == "action"]
        closed = {i["action_id"] for i in actions if i.get("outcome") != "planned"}
        unknown = sorted(f"{i['action']} {i['resource_id']}" for i in actions
                         if i.get("outcome") == "planned" and i["action_id"] not in closed)
        reason = ("an earlier attempt of this request stopped before answering (Lambda retried it); it is not "
                  "repeated, so nothing was changed again. ")
        reason += (f"Its outcome is unknown for: {'; '.join(unknown)}. " if unknown
                   else "It had not started any change. ")
        reason += f"See the state log, run_id {request_id}; then retry the stack operation."
        get_logger().error("earlier attempt of this request never answered", extra={"unknown": unknown})
        if prior.get("physical_id"):
            helper.PhysicalResourceId = str(prior["physical_id"])
        tally = _tally(items)
        try:
            state.annotate(status="failed", outcome="failed", reason=reason, ended_at=iso(state.clock()),
                           retried=True, **tally)
        except StateLogError as exc:
            get_logger().error("could not record the outcome in the state log", extra={"error": str(exc)})
        helper.answer_failure(reason)

    # ------------------------------------------------------------------ dispatch

    def _serve_event(self, event: Any, context: Any) -> str | None:
        return self._handle(event, context, poll=False)

    def _serve_poll(self, event: Any, context: Any) -> str | None:
        return self._handle(event, context, poll=True)

    def _handle(self, event: Mapping[str, Any], context: Any, *, poll: bool) -> str | None:
        helper, invocation = self._active, self._invocation
        if helper is None or invocation is None:
            raise ProviderError("internal error: no invocation in progress")
        log = get_logger()
        log.append_keys(automation=self.spec.name, run_id=event["RequestId"])
        log.info("custom resource request", extra={"request": self.loggable_request(event)})
        secrets: list[str] = []
        helper.redact = lambda text: redact_text(text, secrets)
        try:
            return self._serve(helper, invocation, event, context, poll, secrets)
        except _AlreadyServed:
            raise  # crhelper ends the request (and removes a poll's schedule); its answer is silenced
        except Exception as exc:
            reason = redact_text(str(exc) if isinstance(exc, CaretakerError) else describe_error(exc), secrets)
            extra: dict[str, Any] = {"error": reason}
            if not isinstance(exc, (ProviderError, PropertyError)):
                extra["traceback"] = redact_text(traceback.format_exc(limit=8), secrets)
            log.error("request failed", extra=extra)
            if event["RequestType"] == "Create":
                helper.PhysicalResourceId = failed_create_id(event["RequestId"])
            raise ProviderError(reason) from None

    def _serve(self, helper: CfnHelper, invocation: _Invocation, event: Mapping[str, Any], context: Any,
               poll: bool, secrets: list[str]) -> str | None:
        request_type = str(event["RequestType"])
        if request_type not in REQUEST_TYPES:
            raise ProviderError(f"unknown RequestType {request_type!r}")
        schema = self.resource.schema
        physical_id = str(event.get("PhysicalResourceId", ""))

        # 1. a Delete of an id this provider did not create (a failed Create's) succeeds whatever its properties
        if request_type == "Delete" and not poll and not self.resource.owns(physical_id):
            return self._nothing_to_delete(helper, invocation, event, physical_id)

        # 2. properties, before any AWS call
        props = schema.validate(event.get("ResourceProperties"), ignore_unknown=request_type == "Delete")
        old_props: dict[str, Any] | None = None
        if request_type == "Update":
            try:
                old_props = schema.validate(event.get("OldResourceProperties"), ignore_unknown=True)
            except PropertyError:
                old_props = None
        for values in (props, old_props or {}):
            secrets.extend(str(values[n]) for n in schema.names_where("secret") if values.get(n))

        # 3. an Update of an id this provider did not create makes the resource
        served_as = "Create" if request_type == "Update" and not self.resource.owns(physical_id) else request_type

        # 4. state log (a Lambda retry of a request served before ends here) and mode
        try:
            state = self._state_log(invocation, event)
            if self._served_before(helper, state, event):
                helper.silent = True  # crhelper's own answer (and the poll's) must not follow
                raise _AlreadyServed
            if invocation.settings is None:  # parsed before crhelper dispatches; a failure answers earlier
                raise ProviderError("internal error: settings were not loaded")
            mode = resolve_mode(invocation.settings, read_mode_override(state), False)
            if not poll:
                state.start_run(**self._summary(event, mode=mode.mode, mode_source=mode.source,
                                                dry_run=mode.mode != "enforce", served_as=served_as,
                                                request_id=getattr(context, "aws_request_id", None)))
        except StateLogError as exc:
            raise ProviderError(f"the state log cannot be used, so nothing was changed: {exc}") from exc
        helper.on_response = partial(self._record_response, state)
        request = Request(request_type=served_as, event=event, props=props, old_props=old_props, schema=schema,
                          state=state, clients=invocation.clients, context=context, clock=invocation.clock,
                          automation=self.spec.name, secrets=secrets)

        # 5. the requesting stack may act on what the request names (checked once, here, for every type)
        binding = self.resource.binding
        try:
            refusal = binding.refusal(request) if binding is not None else None
        except Exception as exc:
            reason = redact_text(str(exc) if isinstance(exc, CaretakerError) else describe_error(exc), secrets)
            reason = f"cannot tell whether stack {request.stack_id} owns what this request names, so nothing was " \
                     f"changed: {reason}"
            raise ProviderError(reason + self._finish(state, event, "failed", reason, None)) from exc
        if refusal is not None:
            return self._refuse(helper, request, refusal)

        # 6. the type's method
        try:
            if self.resource.mutates and mode.mode != "enforce":
                result = self._not_enforcing(request, mode)
            elif served_as == "Create":
                result = self.resource.create(request)
            elif served_as == "Update":
                result = self.resource.update(request)
            else:
                result = self.resource.poll_delete(request) if poll else self.resource.delete(request)
        except StateLogError as exc:
            reason = f"the state log could not record the next change, so it was not made: {exc}"
            raise ProviderError(reason + self._finish(state, event, "failed", reason, None)) from exc
        except Exception as exc:
            reason = redact_text(str(exc) if isinstance(exc, CaretakerError) else describe_error(exc), secrets)
            if not isinstance(exc, CaretakerError):
                get_logger().error("unexpected error", extra={
                    "error": reason, "traceback": redact_text(traceback.format_exc(limit=8), secrets)})
            raise ProviderError(reason + self._finish(state, event, "failed", reason, None)) from exc

        # 7. pending (polling) or done
        if result.physical_id is None:
            if request_type != "Delete" or not self.resource.polls_delete:
                raise ProviderError(f"internal error: {request_type} cannot continue through polling")
            helper.wants_polling = True
            helper.Data.update(result.carry)
            try:
                state.flush()
            except StateLogError as exc:
                get_logger().error("could not record this pass in the state log", extra={"error": str(exc)})
            get_logger().info("not finished; continuing through polling", extra={"note": result.note})
            return None if poll else physical_id
        helper.Data = dict(result.data)
        helper.NoEcho = result.no_echo
        helper.Reason = redact_text(result.note + self._finish(state, event, "ok", result.note, result.physical_id),
                                    secrets)
        return result.physical_id

    # ------------------------------------------------------------------ pieces

    def _state_log(self, invocation: _Invocation, event: Mapping[str, Any]) -> StateLog:
        ttl_days = int(invocation.settings["state_ttl_days"]) if invocation.settings is not None else 90
        return StateLog(invocation.environ.get(STATE_TABLE_ENV, ""), invocation.clients("dynamodb"),
                        automation=self.spec.name, run_id=str(event["RequestId"]), ttl_days=ttl_days,
                        clock=invocation.clock)

    def _summary(self, event: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
        return {"resource_type": self.resource.resource_type, "request_type": event["RequestType"],
                "stack_id": event["StackId"], "logical_id": event["LogicalResourceId"],
                "old_physical_id": event.get("PhysicalResourceId"), **extra}

    @staticmethod
    def _finish(state: StateLog, event: Mapping[str, Any], status: str, reason: str,
                physical_id: str | None, outcome: str | None = None) -> str:
        """Record the outcome; returns a note for the Reason when the state log could not record it."""
        old = event.get("PhysicalResourceId")
        try:
            state.finish_run(status, outcome=outcome or ("succeeded" if status == "ok" else "failed"),
                             reason=reason or None, physical_id=physical_id,
                             replaced=bool(old and physical_id and old != physical_id))
        except StateLogError as exc:
            get_logger().error("could not record the outcome in the state log", extra={"error": str(exc)})
            return f" (the state log could not record this outcome: {exc})"
        finally:  # the same EMF metrics as every run: the ActionsFailed / RunsFailed alarms read them
            publish_run_metrics(state.automation, state.counts.as_dict(), status)
        return ""

    def _nothing_to_delete(self, helper: CfnHelper, invocation: _Invocation, event: Mapping[str, Any],
                           physical_id: str) -> str:
        note = (f"nothing to delete: {physical_id!r} is not an id {self.resource.resource_type} gives its "
                f"resources (CloudFormation sends the id of a failed Create), so nothing was changed")
        try:
            state = self._state_log(invocation, event)
            state.start_run(**self._summary(event, mode="n/a", dry_run=False))
            state.finish_run("ok", outcome="skipped", reason=note, physical_id=physical_id)
        except StateLogError as exc:
            note += f" (not recorded in the state log: {exc})"
        get_logger().info("delete of an id this provider did not create", extra={"physical_id": physical_id})
        helper.Reason = note
        return physical_id

    def _refuse(self, helper: CfnHelper, request: Request, refusal: str) -> str:
        """The requesting stack does not own what the request names: nothing is read or changed.

        A Create or Update fails with the refusal as its Reason. A Delete answers SUCCESS (CloudFormation
        must be able to finish; it forgets the resource) and leaves the resource as it is.
        """
        action = f"refuse-{request.request_type.lower()}"
        target = request.physical_id or f"{request.stack_name}/{request.logical_id}"
        get_logger().warning("request refused: not the owning stack", extra={"refusal": refusal,
                                                                             "stack_id": request.stack_id})
        note = (f"refused: {refusal}; nothing was changed, and CloudFormation forgets the resource"
                if request.request_type == "Delete" else f"refused: {refusal}; nothing was changed")
        try:
            request.state.skip(target, action, note, details={"requesting_stack_id": request.stack_id})
        except StateLogError as exc:
            get_logger().error("could not record the refusal", extra={"error": str(exc)})
        if request.request_type != "Delete":
            raise ProviderError(note + self._finish(request.state, request.event, "failed", note, None,
                                                    outcome="skipped"))
        helper.Reason = redact_text(note + self._finish(request.state, request.event, "ok", note,
                                                        request.physical_id, outcome="skipped"), request.secrets)
        return request.physical_id

    def _not_enforcing(self, request: Request, mode: ModeDecision) -> Result:
        what = f"{self.spec.function_name} is in {mode.mode} mode ({mode.source})"
        action = request.request_type.lower()
        request.state.skip(request.physical_id or f"{request.stack_name}/{request.logical_id}", action,
                           f"{what}: not acting", dry_run=True)
        if request.request_type == "Delete":
            return Result(request.physical_id, note=f"{what}: nothing was changed; CloudFormation forgets the "
                                                    f"resource")
        raise ProviderError(f"{what}: it changes nothing in this mode, so it cannot {action} the resource; "
                            f"nothing was changed (set CARETAKER_MODE=enforce or clear the override)")

    def loggable_request(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """The request without secrets: secret and undeclared property values and the pre-signed URL masked."""
        schema = self.resource.schema
        url = str(event.get("ResponseURL", ""))
        return {
            **{k: event.get(k) for k in ("RequestType", "RequestId", "StackId", "LogicalResourceId",
                                         "ResourceType", "PhysicalResourceId") if k in event},
            "ResourceProperties": schema.redact(event.get("ResourceProperties")),
            "OldResourceProperties": schema.redact(event.get("OldResourceProperties")),
            "ResponseURL": url.split("?", 1)[0] + ("?" + REDACTED if "?" in url else ""),
            "Poll": "CrHelperPoll" in event,
        }
