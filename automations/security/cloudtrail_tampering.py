"""CloudTrail tampering: StopLogging is undone (StartLogging); DeleteTrail, UpdateTrail and
PutEventSelectors are reported with what the event holds (the request, and the trail after it)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from automations.core.registry import register
from automations.core.runtime import Run
from automations.core.spec import CloudTrail, FunctionSpec, Permission
from automations.security.errors import BadEventError, ResourceGoneError
from automations.security.findings import CloudTrailEvent, tag_dict
from automations.security.reactive import (
    Decision,
    Remediate,
    Report,
    Skip,
    error_code,
    protected,
    rule_handler,
    security_settings,
)

NAME = "cloudtrail-tampering"
ACTION = "start-logging"
_TRAILS = "arn:${AWS::Partition}:cloudtrail:*:${AWS::AccountId}:trail/*"
_GONE = ("TrailNotFoundException", "TrailNotFound")
#: Where each event names its trail (a name or an ARN).
TRAIL_PARAMETER = {"StopLogging": "name", "DeleteTrail": "name", "UpdateTrail": "name",
                   "PutEventSelectors": "trailName"}

SPEC = register(FunctionSpec(
    name=NAME,
    description="Restarts logging on a trail that was stopped; reports deleted or reconfigured trails.",
    handler=__name__ + ".handler",
    trigger=CloudTrail("aws.cloudtrail", "cloudtrail.amazonaws.com", tuple(TRAIL_PARAMETER)),
    default_mode="enforce",  # StartLogging only restores protection; the rest is reported in every mode
    timeout=60,
    memory=256,
    permissions=(
        Permission(("cloudtrail:GetTrail", "cloudtrail:GetTrailStatus", "cloudtrail:ListTags"), (_TRAILS,),
                   why="the trail's current logging state and its protect tag"),
        Permission(("cloudtrail:StartLogging",), (_TRAILS,), why="restart logging on a stopped trail"),
    ),
    settings=security_settings(),
))


def decide(run: Run, event: CloudTrailEvent) -> Decision:
    """Restart a stopped trail; report other changes to trails."""
    parameter = TRAIL_PARAMETER.get(event.name)
    if parameter is None:
        raise BadEventError(f"{event.name} is not one of the events this rule handles")
    trail = event.param_text(parameter)
    if event.name != "StopLogging":
        return report_change(event, trail)
    cloudtrail = run.clients("cloudtrail", event.region)
    trail_arn = _trail_arn(cloudtrail, trail)
    details = {"trail": trail, "trail_arn": trail_arn}
    headline = f"logging on trail {trail_name(trail)} was stopped"
    if _is_logging(cloudtrail, trail):
        return Skip(trail_arn, ACTION, "the trail is logging again already: only the gap is reported",
                    {**details, "before": {"is_logging": False}, "now": {"is_logging": True}}, notify=True,
                    headline=headline)
    guarded = protected(trail_arn, ACTION, _tags(cloudtrail, trail_arn), headline, details)
    if guarded:
        return guarded
    return Remediate(trail_arn, ACTION, headline, f"start logging on trail {trail_name(trail)} again",
                     lambda: cloudtrail.start_logging(Name=trail_arn),
                     {**details, "before": {"is_logging": False}, "after": {"is_logging": True}},
                     result_details=lambda _: {"is_logging": True})


handler = rule_handler(SPEC, decide)


def report_change(event: CloudTrailEvent, trail: str) -> Report:
    """What the event holds: the request, and (UpdateTrail, PutEventSelectors) the trail after it."""
    after = {k: v for k, v in event.response.items() if k != "requestId"}
    requested = {k: v for k, v in event.request.items() if k not in ("name", "trailName")}
    headline = {
        "DeleteTrail": f"trail {trail_name(trail)} was deleted",
        "UpdateTrail": f"trail {trail_name(trail)} was reconfigured",
        "PutEventSelectors": f"the event selectors of trail {trail_name(trail)} were changed",
    }[event.name]
    resource = str(after.get("trailARN") or trail)
    details: dict[str, Any] = {"trail": trail, "requested": requested}
    if after:
        details["after"] = after
    return Report(resource, headline, details)


def trail_name(trail: str) -> str:
    """`arn:...:trail/main` -> `main`; a name stays itself."""
    return trail.rsplit("/", 1)[-1] if trail.startswith("arn:") else trail


def _trail_arn(cloudtrail: Any, trail: str) -> str:
    try:
        arn: str = cloudtrail.get_trail(Name=trail)["Trail"]["TrailARN"]
        return arn
    except ClientError as exc:
        if error_code(exc) in _GONE:
            raise ResourceGoneError(trail, f"trail {trail} no longer exists") from None
        raise


def _tags(cloudtrail: Any, trail_arn: str) -> dict[str, str]:
    tags: dict[str, str] = {}
    for entry in cloudtrail.list_tags(ResourceIdList=[trail_arn]).get("ResourceTagList", []):
        tags.update(tag_dict(entry.get("TagsList")))
    return tags


def _is_logging(cloudtrail: Any, trail: str) -> bool:
    try:
        return bool(cloudtrail.get_trail_status(Name=trail).get("IsLogging"))
    except ClientError as exc:
        if error_code(exc) in _GONE:
            raise ResourceGoneError(trail, f"trail {trail} no longer exists") from None
        raise
