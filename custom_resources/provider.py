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

import traceback
from collections.abc import Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

from automations.core.aws import Clients
from automations.core.codec import Clock, utcnow
from automations.core.errors import CaretakerError, StateLogError
from automations.core.lifecycle import Lifecycle
from automations.core.observability import get_logger
from automations.core.runtime import (
    ModeDecision,
    describe_error,
)
from automations.core.settings import Settings
from automations.core.spec import CustomResource, FunctionSpec
from automations.core.state_log import StateLog
from custom_resources.declaration import (
    PROVIDER_MEMORY_MB,
    PROVIDER_MODE,
    PROVIDER_TIMEOUT_S,
    polling_permissions,
    polling_rule_prefix,
    provider_spec,
)
from custom_resources.properties import REDACTED, PropertyError, redact_text
from custom_resources.resource_type import (
    ACCOUNT_WIDE,
    AUTOMATION_TAG,
    OWNER_TAG,
    PROVIDER_TAG_KEYS,
    REQUEST_TYPES,
    STACK_TAG,
    AccountWide,
    ProviderError,
    Request,
    ResourceType,
    Result,
    StackBinding,
)
from custom_resources.response import answer_directly, failed_create_id, log
from custom_resources.retries import record_response, served_before

#: The provider framework's public surface: the type's side is resource_type.py, the declaration declaration.py.
__all__ = ["ACCOUNT_WIDE", "AUTOMATION_TAG", "OWNER_TAG", "PROVIDER_MEMORY_MB", "PROVIDER_MODE", "PROVIDER_TAG_KEYS",
           "PROVIDER_TIMEOUT_S", "STACK_TAG", "AccountWide", "Provider", "ProviderError", "Request", "ResourceType",
           "Result", "StackBinding", "polling_permissions", "polling_rule_prefix", "provider_spec"]

if TYPE_CHECKING:
    from custom_resources.cfn_helper import CfnHelper

REQUIRED_EVENT_KEYS = ("RequestType", "ResponseURL", "StackId", "RequestId", "LogicalResourceId", "ResourceType")
class _AlreadyServed(Exception):
    """An earlier invocation served this request; this one answered as it had to, and stops."""



class _Invocation(Lifecycle):
    """One invocation's lifecycle (what it injects: clients, environment, clock) and its parsed settings."""

    settings_loaded: Settings | None = None


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
        self._invocation = _Invocation(self.spec, environ=environ, clients=clients, clock=clock)
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
            invocation.settings_loaded = invocation.settings()
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
            state = invocation.state_log(str(event["RequestId"]), invocation.settings_loaded)
            if served_before(helper, state, event, resumable=self.resource.resumable):
                helper.silent = True  # crhelper's own answer (and the poll's) must not follow
                raise _AlreadyServed
            if invocation.settings_loaded is None:  # parsed before crhelper dispatches; a failure answers earlier
                raise ProviderError("internal error: settings were not loaded")
            mode = invocation.mode(invocation.settings_loaded, state)
            if not poll:
                state.start_run(**self._summary(event, mode=mode.mode, mode_source=mode.source,
                                                dry_run=mode.mode != "enforce", served_as=served_as,
                                                request_id=getattr(context, "aws_request_id", None)))
        except StateLogError as exc:
            raise ProviderError(f"the state log cannot be used, so nothing was changed: {exc}") from exc
        helper.on_response = partial(record_response, state)
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

    def _summary(self, event: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
        return {"resource_type": self.resource.resource_type, "request_type": event["RequestType"],
                "stack_id": event["StackId"], "logical_id": event["LogicalResourceId"],
                "old_physical_id": event.get("PhysicalResourceId"), **extra}

    def _finish(self, state: StateLog, event: Mapping[str, Any], status: str, reason: str,
                physical_id: str | None, outcome: str | None = None) -> str:
        """Record the outcome and publish the run metrics (the ActionsFailed / RunsFailed alarms read them),
        these also when the state log cannot record it; returns a note for the Reason in that case."""
        invocation = self._invocation
        if invocation is None:
            raise ProviderError("internal error: no invocation in progress")
        old = event.get("PhysicalResourceId")
        try:
            invocation.finish(state, status, outcome=outcome or ("succeeded" if status == "ok" else "failed"),
                              reason=reason or None, physical_id=physical_id,
                              replaced=bool(old and physical_id and old != physical_id))
        except StateLogError as exc:
            get_logger().error("could not record the outcome in the state log", extra={"error": str(exc)})
            invocation.metrics(state, status)
            return f" (the state log could not record this outcome: {exc})"
        return ""

    def _nothing_to_delete(self, helper: CfnHelper, invocation: _Invocation, event: Mapping[str, Any],
                           physical_id: str) -> str:
        note = (f"nothing to delete: {physical_id!r} is not an id {self.resource.resource_type} gives its "
                f"resources (CloudFormation sends the id of a failed Create), so nothing was changed")
        try:
            state = invocation.state_log(str(event["RequestId"]), invocation.settings_loaded)
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
