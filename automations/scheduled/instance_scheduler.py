"""instance-scheduler: start and stop tagged resources on office-hours schedules.

Each run evaluates every schedule at the scheduled event's `time` (reproducible, and right when the
invocation is late), lists the resources tagged `caretaker:schedule=<name>` (scheduler_targets.py),
compares what the schedule wants with what AWS shows now, and acts only on the difference (the calls:
scheduler_actions.py): a resource
started by hand inside a stop period is stopped again, one stopped by hand inside a run period is
started, and an RDS instance AWS restarted after seven days stopped is stopped again. Schedules come
from the operator's `schedules` setting and from `Custom::Schedule` resources (the setting wins on a
shared name). See docs/instance-scheduler.md.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from automations.core.codec import iso
from automations.core.errors import EventError, SettingError, SettingsError
from automations.core.notify import LIST_LIMIT
from automations.core.registry import register
from automations.core.resource_schedule import (
    RUNNING,
    STOPPED,
    Override,
    Schedule,
    ScheduleError,
    desired_state,
    parse_override,
    parse_schedule,
    parse_schedules,
)
from automations.core.runtime import SAVINGS_RESULT_KEY, Run, describe_error, entrypoint
from automations.core.schedule_store import ScheduleStore
from automations.core.selection import NOT_PROTECTED, is_protected
from automations.core.spec import MAX_CONCURRENCY, FunctionSpec, Permission, Rate, Setting
from automations.scheduled.cleanup.notice import HOURS_PER_MONTH
from automations.scheduled.scheduler_actions import Change, Outcomes, act
from automations.scheduled.scheduler_targets import (
    OVERRIDE_TAG,
    SCHEDULE_TAG,
    Target,
    asg_targets,
    ec2_targets,
    rds_targets,
)

NAME = "instance-scheduler"
def _arn(service: str, resource: str) -> str:
    return f"arn:${{AWS::Partition}}:{service}:${{AWS::Region}}:${{AWS::AccountId}}:{resource}"


#: IAM enforces the opt-in and the protect tag too: only resources carrying `caretaker:schedule`, never
#: one tagged `caretaker:protect=true`.
OPTED_IN: Mapping[str, Mapping[str, str]] = {
    "Null": {f"aws:ResourceTag/{SCHEDULE_TAG}": "false"},
    **NOT_PROTECTED,
}

SCHEDULES = Setting(
    "schedules", "str", "{}",
    "Schedules by name, as JSON: {\"office-hours\": {\"timezone\": \"Europe/Berlin\", \"periods\": "
    "[{\"days\": \"mon-fri\", \"start\": \"08:00\", \"stop\": \"18:00\"}]}}; a period without start is "
    "stop-only, without stop start-only. Custom::Schedule resources add more; this setting wins on a name.")

SPEC = register(FunctionSpec(
    name=NAME,
    description="Starts and stops EC2 instances, RDS instances, Aurora clusters and Auto Scaling groups tagged "
                "caretaker:schedule on their schedules.",
    trigger=Rate(15, "minutes"),
    # opt-in by tag, reversible (a start undoes a stop), and a schedule that does not act is no schedule:
    # enforce, like AWS's Instance Scheduler (docs/architecture.md)
    default_mode="enforce",
    timeout=600,
    memory=512,
    permissions=(
        Permission(("ec2:DescribeInstances", "autoscaling:DescribeAutoScalingGroups"),
                   why="survey; these Describe actions have no resource-level scoping"),
        Permission(("rds:DescribeDBInstances",), (_arn("rds", "db:*"),), why="survey"),
        Permission(("rds:DescribeDBClusters",), (_arn("rds", "cluster:*"),), why="survey"),
        Permission(("ec2:StopInstances", "ec2:StartInstances"), (_arn("ec2", "instance/*"),),
                   condition=OPTED_IN, why="the schedule itself; only opted-in, unprotected instances"),
        Permission(("rds:StopDBInstance", "rds:StartDBInstance"), (_arn("rds", "db:*"),),
                   condition=OPTED_IN, why="the schedule itself; only opted-in, unprotected DB instances"),
        Permission(("rds:StopDBCluster", "rds:StartDBCluster"), (_arn("rds", "cluster:*"),),
                   condition=OPTED_IN, why="the schedule itself; only opted-in, unprotected Aurora clusters"),
        Permission(("autoscaling:UpdateAutoScalingGroup",),
                   (_arn("autoscaling", "autoScalingGroup:*:autoScalingGroupName/*"),),
                   condition=OPTED_IN, why="scale opted-in, unprotected groups in to 0 and back"),
    ),
    settings=(
        SCHEDULES,
        Setting("hibernate", "bool", False,
                "Hibernate instead of stopping the EC2 instances that have hibernation configured."),
        MAX_CONCURRENCY,
    ),
))

@dataclass
class Survey:
    """The run's view: schedules, the resources that need a change, and what was left alone."""

    at: datetime
    schedules: dict[str, Schedule]
    changes: list[Change] = field(default_factory=list)
    skipped: dict[tuple[str, str], str] = field(default_factory=dict)  # (kind, id) -> reason
    managed: list[tuple[Target, Schedule]] = field(default_factory=list)


# ---------------------------------------------------------------------- the handler


@entrypoint(SPEC)
def handler(run: Run, event: Mapping[str, Any]) -> dict[str, Any]:
    """Evaluate the schedules at the event's time and act on the difference with the actual states."""
    at = evaluation_time(run, event)
    schedules, invalid = load_schedules(run)
    for name, problem in sorted(invalid.items()):
        record = run.state.plan(f"schedule:{name}", "validate-schedule", "the schedule is invalid",
                                dry_run=run.dry_run)
        run.fail(record, problem)
    survey = Survey(at, schedules)
    targets = list_targets(run)
    for target in targets:
        decide(survey, target, invalid)
    for (kind, resource_id), reason in sorted(survey.skipped.items()):
        run.skip(resource_id, f"schedule-{kind}", reason, {"kind": kind})
    outcomes = Outcomes()
    act(run, survey.changes, outcomes)
    return report(run, survey, outcomes, invalid)


def evaluation_time(run: Run, event: Mapping[str, Any]) -> datetime:
    """The scheduled event's `time` (EventBridge: when the schedule fired); the clock for a hand-made event."""
    raw = event.get("time")
    if raw is None:
        run.notes.append("the event carries no time: evaluated at the function's clock")
        return run.clock()
    try:
        at = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        raise EventError(f"{NAME}: the event's time {str(raw)[:40]!r} is not an ISO 8601 instant") from None
    if at.tzinfo is None:
        raise EventError(f"{NAME}: the event's time {str(raw)[:40]!r} has no UTC offset")
    return at.astimezone(UTC)


def load_schedules(run: Run) -> tuple[dict[str, Schedule], dict[str, str]]:
    """(valid schedules by name, problem of each invalid one): the setting's, then the stored ones it
    does not name. Unreadable JSON in the setting fails the run (nothing can be evaluated)."""
    raw = str(run.settings["schedules"])
    try:
        decoded = json.loads(raw or "{}")
        valid, invalid = parse_schedules(decoded)
    except (ValueError, ScheduleError) as exc:
        raise SettingsError([SettingError(SCHEDULES.env_name, raw[:80], f"a JSON object of schedules by name "
                                                                        f"({exc})")]) from None
    for stored in ScheduleStore.beside(run.state).read_all():
        source = f"Custom::Schedule {stored.logical_id} of stack {stored.stack_id}"
        if stored.name in valid or stored.name in invalid:
            run.notes.append(f"schedule {stored.name!r} of {source} is shadowed by the operator's schedules setting")
            continue
        try:
            valid[stored.name] = parse_schedule(stored.name, stored.config)
        except ScheduleError as exc:
            invalid[stored.name] = f"{exc} (stored by {source})"
    return valid, invalid


def list_targets(run: Run) -> list[Target]:
    """Every opted-in resource; a kind that cannot be listed is recorded as failed and the others go on."""
    listings: Sequence[tuple[str, Callable[[], Any]]] = (
        ("ec2", lambda: ec2_targets(run.clients("ec2"))),
        ("rds", lambda: rds_targets(run.clients("rds"))),
        ("autoscaling", lambda: asg_targets(run.clients("autoscaling"))),
    )
    targets: list[Target] = []
    for service, listing in listings:
        try:
            targets.extend(listing())
        except (ClientError, BotoCoreError) as exc:
            record = run.state.plan(f"{service}:*", "survey", f"list the {service} resources tagged {SCHEDULE_TAG}",
                                    dry_run=run.dry_run)
            run.fail(record, f"{service} could not be listed, its resources were not scheduled this run: "
                             f"{describe_error(exc)}")
    return targets


def decide(survey: Survey, target: Target, invalid: Mapping[str, str]) -> None:
    """Add the change the target needs to `survey`, or why it is left alone (nothing when it is as wanted)."""
    name = target.schedule
    key = (target.kind, target.resource_id)
    if is_protected(target.tags):
        survey.skipped[key] = "protected: tagged caretaker:protect=true"
        return
    if target.excluded:
        survey.skipped[key] = target.excluded
        return
    if name in invalid:
        survey.skipped[key] = f"its schedule {name!r} is invalid: {invalid[name]}"
        return
    schedule = survey.schedules.get(name)
    if schedule is None:
        known = ", ".join(sorted(survey.schedules)) or "none"
        survey.skipped[key] = f"{SCHEDULE_TAG}={name} names an unknown schedule (known: {known[:300]})"
        return
    override: Override | None = None
    if OVERRIDE_TAG in target.tags:
        try:
            override = parse_override(target.tags[OVERRIDE_TAG])
        except ValueError as exc:
            survey.skipped[key] = f"{OVERRIDE_TAG} is invalid, so the resource is left as it is: {exc}"
            return
    survey.managed.append((target, schedule))
    wanted = desired_state(schedule, survey.at, override)
    if wanted is None or target.actual is None or wanted == target.actual:
        return  # no opinion now, AWS is changing it (the next run looks again), or as wanted
    local = survey.at.astimezone(schedule.zone)
    why = (f"{OVERRIDE_TAG}={target.tags[OVERRIDE_TAG]}" if override is not None and override.active(
        survey.at, schedule.zone) else f"schedule {name!r}")
    survey.changes.append(Change(target, wanted, schedule,
                                 f"{why} wants it {wanted} at {local:%a %Y-%m-%d %H:%M} {schedule.timezone}; "
                                 f"it is {target.status}"))


# ---------------------------------------------------------------------- the notification


def report(run: Run, survey: Survey, outcomes: Outcomes, invalid: Mapping[str, str]) -> dict[str, Any]:
    """One notification when the run changed (or would have changed) something or something failed, with
    the savings estimate: hours stopped (until the schedule next wants the resource running) x the
    on-demand price, and the monthly figure of every managed resource's schedule."""
    saving, unpriced = 0.0, 0
    next_start: dict[str, float] = {}
    for change in outcomes.done:
        if change.wanted != STOPPED:
            continue
        if change.target.hourly is None:
            unpriced += 1
            continue
        name = change.schedule.name
        if name not in next_start:
            resumes = change.schedule.next_running(survey.at)
            next_start[name] = ((resumes - survey.at).total_seconds() / 3600 if resumes is not None
                                else LOOKAHEAD_HOURS)
        saving += next_start[name] * change.target.hourly
    weekly: dict[str, float] = {}
    monthly = 0.0
    for target, schedule in survey.managed:
        if target.hourly is None:
            continue
        if schedule.name not in weekly:
            weekly[schedule.name] = schedule.stopped_hours_per_week(survey.at)
        monthly += weekly[schedule.name] * target.hourly * HOURS_PER_MONTH / HOURS_PER_WEEK
    verb = "would " if run.dry_run else ""
    stopped = sorted(c.target.resource_id for c in outcomes.done if c.wanted == STOPPED)
    started = sorted(c.target.resource_id for c in outcomes.done if c.wanted == RUNNING)
    failed = dict(sorted(outcomes.failed.items()))
    savings = {("would_act" if run.dry_run else "reported"): round(monthly, 2)}
    figures = {"evaluated_at": iso(survey.at), "resources_scheduled": len(survey.managed),
               "stopped": len(stopped), "started": len(started), "failed": len(failed),
               "skipped": len(survey.skipped), "estimated_saving_usd": round(saving, 2),
               SAVINGS_RESULT_KEY: savings}
    if stopped or started or failed or invalid:
        stop, start = ("would_stop", "would_start") if run.dry_run else ("stopped", "started")
        body: dict[str, Any] = {
            "evaluated_at": iso(survey.at),
            "counts": {stop: len(stopped), start: len(started), "failed": len(failed), "skipped": len(survey.skipped)},
            stop: stopped[:LIST_LIMIT], start: started[:LIST_LIMIT],
            "failed": dict(list(failed.items())[:LIST_LIMIT]),
            "skipped": {i: r for (_, i), r in sorted(survey.skipped.items())[:LIST_LIMIT]},
            "invalid_schedules": dict(sorted(invalid.items())),
            "estimated_saving_usd": round(saving, 2),
            "estimated_monthly_saving_usd": savings,
            "unpriced": unpriced,
        }
        parts = [f"{verb}stop {len(stopped)}" if stopped else "", f"{verb}start {len(started)}" if started else "",
                 f"{len(failed)} failed" if failed else "", f"{len(invalid)} invalid schedules" if invalid else ""]
        shown = ", ".join(p for p in parts if p)
        run.notify(f"Caretaker {NAME}: {shown}"[:100],
                   f"{NAME} ({run.mode}) at {iso(survey.at)}: {shown}; estimated saving "
                   f"~${saving:,.2f} until the schedules start them again. To keep a resource as it is, tag it "
                   f"caretaker:protect=true.",
                   {k: v for k, v in body.items() if v or k == "counts"})
    return figures


HOURS_PER_WEEK = 168
LOOKAHEAD_HOURS = 168.0
