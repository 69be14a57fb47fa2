"""A GuardDuty finding on an EC2 instance at or above a severity: isolate the instance, keep the evidence.

Every network interface of the instance gets the quarantine group of its VPC instead of its groups (no
ingress, no egress; `automations/security/quarantine.py`), every attached volume a forensic snapshot
tagged with the finding id, the instance the isolation tags; an instance of an Auto Scaling group is
detached (or set to standby) so the group neither replaces nor terminates it. The previous groups are in
the action's `planned` record, written before anything changes: `python -m automations restore-isolation
INSTANCE_ID` puts them back. Default `audit`: it takes access away.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from fnmatch import fnmatchcase
from typing import Any

from automations.core import iam_rules
from automations.core.runtime import Run
from automations.core.selection import NOT_PROTECTED, PROTECT_TAG, tag_map
from automations.core.spec import GuardDuty, Permission, Setting
from automations.security import quarantine
from automations.security.errors import BadEventError, ResourceGoneError, gone_when_missing
from automations.security.event_kinds import GUARDDUTY
from automations.security.reactive import Decision, Remediate, Skip, protected, rule_handler, rule_spec
from automations.security.service_events import GuardDutyFinding
from automations.security.steps import Step, run_steps

NAME = "instance-isolation"
ACTION = "isolate-instance"
_EC2 = "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}"
_SNAPSHOTS = "arn:${AWS::Partition}:ec2:${AWS::Region}::snapshot/*"
_GROUPS_ARN = ("arn:${AWS::Partition}:autoscaling:${AWS::Region}:${AWS::AccountId}:autoScalingGroup:*:"
               "autoScalingGroupName/*")
_QUARANTINE_GROUP = {"StringLike": {f"aws:ResourceTag/{quarantine.QUARANTINE_TAG}": "vpc-*"}}
_GONE = ("InvalidInstanceID.NotFound", "InvalidInstanceID.Malformed")
_FINDING_TYPE = r"[A-Za-z0-9:/.!*?_-]+"
#: Lifecycle states in which the group no longer replaces or terminates the instance (or already does).
_OUT_OF_SERVICE = ("Standby", "EnteringStandby", "Detaching", "Detached", "Terminating", "Terminated")

SPEC = rule_spec(
    name=NAME,
    description="Isolates an EC2 instance that GuardDuty reports at or above a severity: quarantine security "
                "group, forensic snapshots, out of its Auto Scaling group; records the previous groups.",
    trigger=GuardDuty("Instance"),
    default_mode="audit",  # it takes the instance's network access away
    timeout=120,
    permissions=(
        Permission(("ec2:DescribeInstances", "ec2:DescribeSecurityGroups"),
                   why="the instance, its interfaces and volumes, the VPC's quarantine group; no resource scoping"),
        Permission(("autoscaling:DescribeAutoScalingInstances",), why="its Auto Scaling group; no resource scoping"),
        Permission(("ec2:CreateSecurityGroup",), (f"{_EC2}:vpc/*",), why="the quarantine group, in the VPC"),
        Permission(("ec2:CreateSecurityGroup",), (f"{_EC2}:security-group/*",),
                   condition={"StringLike": {f"aws:RequestTag/{quarantine.QUARANTINE_TAG}": "vpc-*"}},
                   why="only a group tagged as a quarantine group as it is created"),
        Permission(("ec2:CreateTags",), (f"{_EC2}:security-group/*",),
                   condition={"StringEquals": {"ec2:CreateAction": "CreateSecurityGroup"}},
                   why="tag the quarantine group while creating it"),
        Permission(("ec2:RevokeSecurityGroupEgress",), (f"{_EC2}:security-group/*",), condition=_QUARANTINE_GROUP,
                   why="remove the egress rule EC2 gives every new group, from quarantine groups only"),
        Permission(("ec2:ModifyNetworkInterfaceAttribute",), (f"{_EC2}:network-interface/*",),
                   why="replace the interface's groups (the group side is the next statement)"),
        Permission(("ec2:ModifyNetworkInterfaceAttribute",), (f"{_EC2}:security-group/*",),
                   condition=_QUARANTINE_GROUP, why="the groups set on an interface can only be quarantine groups"),
        Permission(("ec2:CreateSnapshots",), (f"{_EC2}:instance/*", f"{_EC2}:volume/*", _SNAPSHOTS),
                   condition=NOT_PROTECTED, why="crash-consistent forensic snapshots of every attached volume"),
        Permission(("ec2:CreateTags",), (_SNAPSHOTS,),
                   condition={"StringEquals": {"ec2:CreateAction": "CreateSnapshots"}},
                   why="tag the forensic snapshots while creating them"),
        Permission(("ec2:CreateTags",), (f"{_EC2}:instance/*",),
                   condition={**iam_rules.only_tag_keys(quarantine.ISOLATED_TAG, quarantine.ISOLATED_AT_TAG),
                              **NOT_PROTECTED},
                   why="mark the instance isolated: these two tags only, never on a protected instance"),
        Permission(("autoscaling:DetachInstances", "autoscaling:EnterStandby"), (_GROUPS_ARN,),
                   why="take the instance out of its Auto Scaling group so it is not replaced and terminated"),
    ),
    settings=(
        Setting("min_severity", "float", 7.0,
                "Isolate only findings of at least this GuardDuty severity (0 to 10; 7 = High).",
                minimum=0, maximum=10),
        Setting("finding_types", "list", (),
                "Isolate only these finding types (comma-separated, * and ? allowed, e.g. CryptoCurrency:EC2/*); "
                "empty: every type at or above min_severity.", pattern=_FINDING_TYPE),
        Setting("ignore_finding_types", "list", (),
                "Never isolate for these finding types (* and ? allowed); wins over finding_types.",
                pattern=_FINDING_TYPE),
        Setting("auto_scaling_action", "str", "detach",
                "What to do with an instance of an Auto Scaling group: detach (the group launches a replacement "
                "and forgets the instance) or standby (it stays in the group, out of service).",
                allowed=("detach", "standby")),
        Setting("quarantine_group_name", "str", "caretaker-quarantine",
                "Name prefix of the quarantine security group created in each VPC (the VPC id is appended).",
                pattern=r"[A-Za-z0-9 ._\-:/()#,@\[\]+=&;{}!$*]{1,200}"),
    ),
)


def decide(run: Run, event: GuardDutyFinding) -> Decision:
    """Isolate the instance of a severe enough finding; record what it had, so it can be restored."""
    if not event.instance_id:
        raise BadEventError("the finding names no instance (detail.resource.instanceDetails.instanceId)")
    instance_id = event.instance_id
    details: dict[str, Any] = {"finding_id": event.finding_id, "finding_type": event.type,
                               "severity": event.severity}
    headline = f"GuardDuty {event.type} (severity {event.severity:g}) on {instance_id}"
    skip = _filtered(run, event)
    if skip:
        return Skip(instance_id, ACTION, skip, details)
    ec2 = run.clients("ec2", event.region)
    instance = _instance(ec2, instance_id)
    vpc_id = str(instance.get("VpcId") or "")
    interfaces = quarantine.interfaces_of(instance)
    volumes = [str(m["Ebs"]["VolumeId"]) for m in instance.get("BlockDeviceMappings", []) if m.get("Ebs")]
    group = _auto_scaling_group(run, event.region, instance_id)
    groups = quarantine.find_group(ec2, vpc_id) if vpc_id else quarantine.QuarantineGroups(None, ())
    details.update({"vpc_id": vpc_id, "before": {"interfaces": interfaces, "auto_scaling_group": group or None},
                    "volumes": volumes, "quarantine_group": groups.trusted,
                    "refused_quarantine_groups": list(groups.refused) or None})
    details = {k: v for k, v in details.items() if v is not None}
    guarded = protected(instance_id, ACTION, tag_map(instance.get("Tags")), headline, details)
    if guarded:
        return guarded
    if not vpc_id or not interfaces:
        return Skip(instance_id, ACTION, "the instance has no network interface in a VPC to isolate", details,
                    notify=True, headline=headline)
    if groups.trusted and all(g == [groups.trusted] for g in interfaces.values()):
        return Skip(instance_id, ACTION, f"already isolated in {groups.trusted}", details)
    steps = _steps(run, ec2, event, instance_id, vpc_id, interfaces, volumes, group, groups.trusted)
    remedy = (f"isolate {instance_id}: {', '.join(action for action, _, _ in steps)}"
              f"{'' if groups.trusted else ' (a new quarantine group in ' + vpc_id + ')'}")
    return Remediate(instance_id, ACTION, headline, remedy,
                     lambda: {"steps": run_steps(run, instance_id, steps, keep_going=True)}, details,
                     result_details=lambda result: result)


handler = rule_handler(SPEC, decide, kind=GUARDDUTY)


def _filtered(run: Run, event: GuardDutyFinding) -> str | None:
    """Why the finding is not for this rule (severity, allow and deny lists), or None."""
    minimum = float(run.settings["min_severity"])
    if event.severity < minimum:
        return f"severity {event.severity:g} is below min_severity {minimum:g}"
    ignored = [p for p in run.settings["ignore_finding_types"] if fnmatchcase(event.type, p)]
    if ignored:
        return f"finding type {event.type} is in ignore_finding_types ({ignored[0]})"
    allowed = run.settings["finding_types"]
    if allowed and not any(fnmatchcase(event.type, p) for p in allowed):
        return f"finding type {event.type} is not in finding_types"
    return None


def _instance(ec2: Any, instance_id: str) -> Mapping[str, Any]:
    with gone_when_missing(instance_id, f"instance {instance_id}", _GONE):
        reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    instances = [i for r in reservations for i in r.get("Instances", [])]
    if not instances or instances[0].get("State", {}).get("Name") in ("shutting-down", "terminated"):
        raise ResourceGoneError(instance_id, f"instance {instance_id} is terminated or terminating")
    instance: Mapping[str, Any] = instances[0]
    return instance


def _auto_scaling_group(run: Run, region: str, instance_id: str) -> str:
    """The Auto Scaling group the instance is in service (or pending) in; "" when none."""
    found = run.clients("autoscaling", region).describe_auto_scaling_instances(InstanceIds=[instance_id])
    for member in found.get("AutoScalingInstances", []):
        if str(member.get("LifecycleState", "")) not in _OUT_OF_SERVICE:
            return str(member.get("AutoScalingGroupName", ""))
    return ""


def _steps(run: Run, ec2: Any, event: GuardDutyFinding, instance_id: str, vpc_id: str,
           interfaces: Mapping[str, list[str]], volumes: list[str], group: str, trusted: str | None) -> list[Step]:
    """The isolation, in order: the quarantine group (when the VPC has none), every interface, the forensic
    snapshots, the tags, the Auto Scaling group. Each step is tried even when one before it failed."""
    holder: dict[str, str] = {"group": trusted} if trusted else {}

    def create() -> dict[str, str]:
        holder["group"] = quarantine.create_group(ec2, vpc_id, str(run.settings["quarantine_group_name"]), NAME)
        return {"quarantine_group": holder["group"]}

    def replace(interface: str) -> Callable[[], None]:
        def call() -> None:
            if "group" not in holder:
                raise RuntimeError("no quarantine group to isolate in (its creation failed)")
            quarantine.replace_groups(ec2, interface, [holder["group"]])
        return call

    steps: list[Step] = [] if trusted else [
        ("create-quarantine-group", f"create the quarantine group of {vpc_id} (no ingress, no egress)", create)]
    steps += [("replace-security-groups", f"replace the groups of {eni} ({', '.join(old) or 'none'}) with the "
               "quarantine group", replace(eni)) for eni, old in sorted(interfaces.items())]
    if volumes:
        steps.append(("snapshot-volumes", f"forensic snapshots of {', '.join(volumes)}",
                      lambda: _snapshot(ec2, event, instance_id)))
    at = run.clock().strftime("%Y-%m-%dT%H:%M:%SZ")
    steps.append(("tag-instance", f"tag {instance_id} {quarantine.ISOLATED_TAG}={event.finding_id}",
                  lambda: ec2.create_tags(Resources=[instance_id], Tags=[
                      {"Key": quarantine.ISOLATED_TAG, "Value": event.finding_id},
                      {"Key": quarantine.ISOLATED_AT_TAG, "Value": at}])))
    if group:
        steps.append(_auto_scaling_step(run, event.region, instance_id, group))
    return steps


def _snapshot(ec2: Any, event: GuardDutyFinding, instance_id: str) -> dict[str, Any]:
    tags = [{"Key": quarantine.FORENSIC_FINDING_TAG, "Value": event.finding_id},
            {"Key": quarantine.FORENSIC_INSTANCE_TAG, "Value": instance_id},
            {"Key": "caretaker:automation", "Value": NAME},
            {"Key": PROTECT_TAG, "Value": "true"}]  # evidence: no cleanup or retention may delete it
    result = ec2.create_snapshots(InstanceSpecification={"InstanceId": instance_id, "ExcludeBootVolume": False},
                                  Description=f"Caretaker forensic snapshot: GuardDuty {event.finding_id}",
                                  TagSpecifications=[{"ResourceType": "snapshot", "Tags": tags}])
    return {"snapshots": [s.get("SnapshotId") for s in result.get("Snapshots", [])]}


def _auto_scaling_step(run: Run, region: str, instance_id: str, group: str) -> Step:
    autoscaling = run.clients("autoscaling", region)
    if run.settings["auto_scaling_action"] == "standby":
        return ("enter-standby", f"set {instance_id} to standby in {group}",
                lambda: autoscaling.enter_standby(InstanceIds=[instance_id], AutoScalingGroupName=group,
                                                  ShouldDecrementDesiredCapacity=False))
    return ("detach-from-auto-scaling-group", f"detach {instance_id} from {group} (the group launches a replacement)",
            lambda: autoscaling.detach_instances(InstanceIds=[instance_id], AutoScalingGroupName=group,
                                                 ShouldDecrementDesiredCapacity=False))
