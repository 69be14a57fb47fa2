"""AWS service events (EC2 state changes, S3 Object Created) through the reactive path of the CloudTrail rules.

A stand-in until the trigger model for service events (issue #13, wt-signals) is merged: the envelope is
read into a `CloudTrailEvent` whose actor is the AWS service (these events name no principal), so that
`reactive.once` and `reactive.handle` give the same guarantees (idempotency on the event id, write-ahead,
dry-run, one notification, malformed input recorded as skipped).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from automations.core.runtime import Entrypoint, Run, entrypoint
from automations.core.spec import FunctionSpec
from automations.security.errors import BadEventError
from automations.security.findings import Actor, CloudTrailEvent
from automations.security.reactive import EVALUATE, Decide, event_ref, handle, once


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def parse_service_event(event: Mapping[str, Any]) -> CloudTrailEvent:
    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        raise BadEventError("the event has no detail object")
    envelope_id, detail_type, source = _text(event.get("id")), _text(event.get("detail-type")), _text(
        event.get("source"))
    if not envelope_id or not detail_type or not source:
        raise BadEventError("the event lacks id, detail-type or source")
    region = _text(event.get("region"))
    if not region:
        raise BadEventError("the event names no region")
    service = source.removeprefix("aws.") + ".amazonaws.com"
    actor = Actor(type="AWSService", arn="", principal_id="", account_id=_text(event.get("account")),
                  access_key_id="", session_issuer_arn="", user_name="", invoked_by=service)
    return CloudTrailEvent(id=envelope_id, detail_type=detail_type, source=source, account=_text(event.get("account")),
                           region=region, name=detail_type, event_source=service, time=_text(event.get("time")),
                           actor=actor, source_ip=_text(detail.get("source-ip-address")), user_agent="", request={},
                           response={}, cloudtrail_event_id="", error_code="", detail=detail)


def service_rule_handler(spec: FunctionSpec, decide: Decide) -> Entrypoint:
    def handler(run: Run, event: Mapping[str, Any]) -> dict[str, Any]:
        try:
            parsed = parse_service_event(event)
        except BadEventError as exc:
            event_id = _text(event.get("id"))
            run.skip(event_ref(event_id), EVALUATE, f"bad event: {exc}")
            return {"finding": {"event_id": event_id, "outcome": "skipped", "reason": f"bad event: {exc}"}}
        return once(run, parsed, lambda: handle(run, parsed, decide))

    handler.__doc__ = decide.__doc__
    return entrypoint(spec)(handler)
