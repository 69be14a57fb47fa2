"""CloudTrail tampering: StopLogging is undone (StartLogging) on every trail. A *guarded* trail
(tagged `caretaker:guard-trail=true`, as the security stack's own trail is, or recorded while it was)
is also restored to its last recorded configuration when UpdateTrail, PutEventSelectors or RemoveTags
weakens it, and re-created from it when deleted. Changes to other trails are reported with what the
event holds (the request, and the trail after it).

A guarded trail's configuration is recorded (trail_guard) from what AWS says, on every event about
it that finds it not weaker than its record: CreateTrail, StartLogging and AddTags seed the record.
"""

from __future__ import annotations

from typing import Any

from automations.core.runtime import Run
from automations.core.selection import GUARD_TRAIL_TAG, PROTECT_TAG
from automations.core.spec import CloudTrail, Permission
from automations.security import trail_guard
from automations.security.errors import BadEventError, ResourceGoneError
from automations.security.findings import CloudTrailEvent
from automations.security.reactive import Decision, Remediate, Report, Skip, protected, rule_handler, rule_spec
from automations.security.trail_config import TrailConfig, read_trail, weakenings
from automations.security.trail_guard import Recorded

NAME = "cloudtrail-tampering"
ACTION = "start-logging"
RESTORE = "restore-trail"
RECREATE = "recreate-trail"
RECORD = "record-configuration"
_TRAILS = "arn:${AWS::Partition}:cloudtrail:*:${AWS::AccountId}:trail/*"
#: Caretaker acts on trails in its own region only (the function is deployed per region).
_REGION_TRAILS = "arn:${AWS::Partition}:cloudtrail:${AWS::Region}:${AWS::AccountId}:trail/*"
#: Where each event names its trail (a name or an ARN).
TRAIL_PARAMETER = {"StopLogging": "name", "DeleteTrail": "name", "UpdateTrail": "name",
                   "PutEventSelectors": "trailName", "CreateTrail": "name", "StartLogging": "name",
                   "AddTags": "resourceId", "RemoveTags": "resourceId"}
#: Changes reported (as before) on trails that are not guarded.
CHANGES = ("UpdateTrail", "PutEventSelectors")

SPEC = rule_spec(
    name=NAME,
    description="Restarts logging on a stopped trail; restores or re-creates guarded trails from their "
                "recorded configuration; reports changes to other trails.",
    trigger=CloudTrail("aws.cloudtrail", "cloudtrail.amazonaws.com", tuple(TRAIL_PARAMETER)),
    default_mode="enforce",  # it only restores logging and configuration; the rest is reported in every mode
    permissions=(
        Permission(("cloudtrail:GetTrail", "cloudtrail:GetTrailStatus", "cloudtrail:GetEventSelectors",
                    "cloudtrail:ListTags"), (_TRAILS,),
                   why="a trail's configuration, logging state, selectors and guard/protect tags, read from AWS"),
        Permission(("cloudtrail:StartLogging", "cloudtrail:CreateTrail", "cloudtrail:UpdateTrail",
                    "cloudtrail:PutEventSelectors", "cloudtrail:AddTags"), (_REGION_TRAILS,),
                   why="restart logging; restore or re-create a guarded trail (CreateTrail with tags needs AddTags)"),
        Permission(("iam:PassRole",), ("arn:${AWS::Partition}:iam::${AWS::AccountId}:role/*",),
                   why="give a restored trail back the CloudWatch Logs role its recorded configuration names",
                   condition={"StringEquals": {"iam:PassedToService": "cloudtrail.amazonaws.com"}}),
    ),
)


def decide(run: Run, event: CloudTrailEvent) -> Decision:
    """Restart a stopped trail; restore or re-create a guarded trail; report changes to other trails."""
    parameter = TRAIL_PARAMETER.get(event.name)
    if parameter is None:
        raise BadEventError(f"{event.name} is not one of the events this rule handles")
    trail = event.param_text(parameter)
    if event.name in ("AddTags", "RemoveTags") and ":trail/" not in trail:
        return Skip(trail, RECORD, "not a trail: tags of other CloudTrail resources are not watched")
    cloudtrail = run.clients("cloudtrail", event.region)
    if event.name == "DeleteTrail":
        return deleted(run, cloudtrail, event, trail)
    try:
        current = read_trail(cloudtrail, trail)
    except ResourceGoneError:
        if event.name in CHANGES:
            return report_change(event, trail)  # as before: what the event holds
        raise
    recorded = trail_guard.load(run, current.arn)
    if current.guarded or recorded.config is not None:
        return guarded(run, cloudtrail, event, current, recorded)
    if event.name == "StopLogging":
        return stopped(cloudtrail, current)
    if event.name in CHANGES:
        return report_change(event, trail)
    return Skip(current.arn, RECORD, f"not guarded (no {GUARD_TRAIL_TAG}=true tag, no recorded configuration)",
                {"trail": trail, "trail_arn": current.arn})


handler = rule_handler(SPEC, decide)


# ---------------------------------------------------------------------- trails that are not guarded


def stopped(cloudtrail: Any, current: TrailConfig) -> Decision:
    """StopLogging on any trail: start it again, unless it logs again already or is protected."""
    details = {"trail": current.name, "trail_arn": current.arn}
    headline = f"logging on trail {current.name} was stopped"
    if current.logging:
        return Skip(current.arn, ACTION, "the trail is logging again already: only the gap is reported",
                    {**details, "before": {"is_logging": False}, "now": {"is_logging": True}}, notify=True,
                    headline=headline)
    guard = protected(current.arn, ACTION, current.tags, headline, details)
    if guard:
        return guard
    return Remediate(current.arn, ACTION, headline, f"start logging on trail {current.name} again",
                     lambda: cloudtrail.start_logging(Name=current.arn),
                     {**details, "before": {"is_logging": False}, "after": {"is_logging": True}},
                     result_details=lambda _: {"is_logging": True})


def report_change(event: CloudTrailEvent, trail: str, note: str = "", **extra: Any) -> Report:
    """What the event holds: the request, and (UpdateTrail, PutEventSelectors) the trail after it."""
    after = {k: v for k, v in event.response.items() if k != "requestId"}
    requested = {k: v for k, v in event.request.items() if k not in ("name", "trailName")}
    headline = {
        "DeleteTrail": f"trail {trail_name(trail)} was deleted",
        "UpdateTrail": f"trail {trail_name(trail)} was reconfigured",
        "PutEventSelectors": f"the event selectors of trail {trail_name(trail)} were changed",
        "RemoveTags": f"tags were removed from trail {trail_name(trail)}",
    }.get(event.name, f"{event.name} on trail {trail_name(trail)}")
    resource = str(after.get("trailARN") or trail)
    details: dict[str, Any] = {"trail": trail, "requested": requested, **extra}
    if after:
        details["after"] = after
    return Report(resource, f"{headline}{note}", details)


def trail_name(trail: str) -> str:
    """`arn:...:trail/main` -> `main`; a name stays itself."""
    return trail.rsplit("/", 1)[-1] if trail.startswith("arn:") else trail


# ---------------------------------------------------------------------- guarded trails


def guarded(run: Run, cloudtrail: Any, event: CloudTrailEvent, current: TrailConfig, recorded: Recorded) -> Decision:
    """Restore what a guarded trail lost against its record; record it when it lost nothing."""
    found = weakenings(recorded.config, current)
    details: dict[str, Any] = {"trail": current.name, "trail_arn": current.arn,
                               "guard": {"tagged": current.guarded, "recorded": recorded.summary()}}
    if found:
        details["weakened"] = [w.as_dict() for w in found]
        headline = (f"guarded trail {current.name} was weakened ({event.name}): "
                    + ", ".join(w.aspect for w in found))
        if current.protected:
            return Skip(current.arn, RESTORE, f"protected: tagged {PROTECT_TAG}=true", details, notify=True,
                        headline=headline)
        steps = trail_guard.restore_steps(cloudtrail, recorded.config, found, current.arn)
        note = "" if recorded.config else "; no configuration was recorded before, so only logging is restored"
        return Remediate(current.arn, RESTORE, headline,
                         f"restore trail {current.name} to its recorded configuration "
                         f"({', '.join(action for action, _, _ in steps)}){note}",
                         lambda: trail_guard.carry_out(run, cloudtrail, current.arn, steps, recorded,
                                                       f"restored after {event.name}"),
                         details, result_details=lambda result: dict(result))
    version = trail_guard.save(run, current, recorded, f"seen after {event.name}")
    details["guard"]["recorded_now"] = version
    if event.name == "StopLogging":  # logging again already: the gap is reported
        return Skip(current.arn, ACTION, "the trail is logging again already: only the gap is reported",
                    details, notify=True, headline=f"logging on guarded trail {current.name} was stopped")
    if recorded.config is None and event.name in (*CHANGES, "RemoveTags"):
        return report_change(event, current.arn, "; no configuration of it was recorded before, so Caretaker "
                                                 "cannot tell whether this weakened it: it is recorded as it is now",
                             guard=details["guard"])
    if event.name in CHANGES:
        return report_change(event, current.arn, "; not weaker than its recorded configuration: kept, and "
                                                 "recorded as it is now", guard=details["guard"])
    if event.name == "AddTags" and current.protected:
        return Skip(current.arn, RECORD, f"guarded trail {current.name} is now tagged {PROTECT_TAG}=true: "
                                         "Caretaker will no longer restore or re-create it", details, notify=True)
    return Skip(current.arn, RECORD, f"guarded trail recorded as it is now (after {event.name})", details)


def deleted(run: Run, cloudtrail: Any, event: CloudTrailEvent, trail: str) -> Decision:
    """DeleteTrail: re-create a trail Caretaker recorded as guarded; report any other."""
    arn = trail if trail.startswith("arn:") else \
        f"arn:{event.partition}:cloudtrail:{event.region}:{event.account}:trail/{trail}"
    recorded = trail_guard.load(run, arn)
    try:
        current = read_trail(cloudtrail, arn)
    except ResourceGoneError:
        current = None
    if current is not None:  # a trail of that ARN exists again: judge it as it is now
        if current.guarded or recorded.config is not None:
            return guarded(run, cloudtrail, event, current, recorded)
        return report_change(event, arn, "; a trail of that name exists again")
    config = recorded.config
    if config is None:
        return report_change(event, arn, f" and cannot be re-created: Caretaker recorded no configuration of "
                                         f"it (only trails tagged {GUARD_TRAIL_TAG}=true are recorded)",
                             recreated=False)
    headline = f"guarded trail {config.name} was deleted"
    details = {"trail": config.name, "trail_arn": arn, "guard": {"recorded": recorded.summary()},
               "recorded_configuration": config.as_record()}
    if config.protected:
        return Skip(arn, RECREATE, f"protected: recorded with {PROTECT_TAG}=true", details, notify=True,
                    headline=headline)
    region_client = run.clients("cloudtrail", config.region)
    steps = trail_guard.recreate_steps(region_client, config)
    return Remediate(arn, RECREATE, headline,
                     f"re-create trail {config.name} from its configuration recorded at {recorded.at} "
                     f"({', '.join(action for action, _, _ in steps)})",
                     lambda: trail_guard.carry_out(run, region_client, arn, steps, recorded,
                                                   "re-created after DeleteTrail"),
                     details, result_details=lambda result: dict(result))
