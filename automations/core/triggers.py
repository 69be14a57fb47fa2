"""Triggers: what starts a declared function (schedules, EventBridge patterns, AWS service events, custom
resources, rotation), and the manifest form of each (DESIGN.md). Declaring does no I/O; standard library only."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

__all__ = [
    "AnyOf", "CloudTrail", "Cron", "CustomResource", "EventKind", "EventPattern", "EventTrigger", "GuardDuty",
    "Health", "InstanceStateChange", "ObjectCreated", "Rate", "Rotation", "Schedule", "ServiceEvent", "Trigger",
    "trigger_kinds", "trigger_manifest",
]

#: What a reactive rule receives, and so which typed parser reads it (`automations/security/event_kinds.py`):
#: CloudTrail records, and the events AWS services send to EventBridge on their own.
EventKind = Literal["cloudtrail", "health", "guardduty", "ec2-instance-state", "s3-object-created"]


class _Schedule:
    """What `Rate` and `Cron` share: EventBridge's `<keyword>(<arguments>)` form, checked when declared."""

    keyword: ClassVar[str]

    def arguments(self) -> str:
        raise NotImplementedError

    def problem(self) -> str | None:
        """Why the declared schedule is not one EventBridge accepts, or None."""
        raise NotImplementedError

    def __post_init__(self) -> None:
        problem = self.problem()
        if problem:
            raise ValueError(f"{self.expression}: {problem}")

    @property
    def expression(self) -> str:
        return f"{self.keyword}({self.arguments()})"


@dataclass(frozen=True)
class Rate(_Schedule):
    """An EventBridge `rate(...)` schedule."""

    value: int
    unit: Literal["minute", "minutes", "hour", "hours", "day", "days"]
    keyword: ClassVar[str] = "rate"

    def arguments(self) -> str:
        return f"{self.value} {self.unit}"

    def problem(self) -> str | None:
        if self.value < 1:
            return f"rate value must be >= 1, got {self.value}"
        if (self.value == 1) != (self.unit == self.unit.rstrip("s")):
            return "use the singular unit only for 1"
        return None


@dataclass(frozen=True)
class Cron(_Schedule):
    """An EventBridge `cron(...)` schedule (six fields, UTC)."""

    fields: str
    keyword: ClassVar[str] = "cron"

    def arguments(self) -> str:
        return self.fields

    def problem(self) -> str | None:
        return None if len(self.fields.split()) == 6 else f"cron needs 6 fields, got {self.fields!r}"


@dataclass(frozen=True)
class CloudTrail:
    """Management events recorded by CloudTrail and delivered through EventBridge.

    The pattern filters on source, event source and event name, and drops calls that
    failed (`errorCode` present): a failed call changed nothing.
    """

    source: str  # e.g. "aws.ec2"
    event_source: str  # e.g. "ec2.amazonaws.com"
    names: tuple[str, ...]
    detail: Mapping[str, Any] = field(default_factory=dict)  # extra content filters on `detail`

    def pattern(self) -> dict[str, Any]:
        detail: dict[str, Any] = {
            "eventSource": [self.event_source],
            "eventName": sorted(self.names),
            "errorCode": [{"exists": False}],
        }
        detail.update(self.detail)
        return {
            "source": [self.source],
            "detail-type": ["AWS API Call via CloudTrail"],
            "detail": detail,
        }


@dataclass(frozen=True)
class EventPattern:
    """Any other EventBridge pattern (for example console sign-in events); `kind` says what its events are."""

    value: Mapping[str, Any]
    kind: EventKind = "cloudtrail"

    def pattern(self) -> dict[str, Any]:
        return dict(self.value)


def _service_pattern(source: str, detail_types: tuple[str, ...], detail: Mapping[str, Any]) -> dict[str, Any]:
    """The pattern of an AWS service's own event: its exact `aws.*` source (EventBridge refuses `PutEvents` with
    an `aws.` source, so nobody in the account can send one), its detail-type, and the declared filters."""
    pattern: dict[str, Any] = {"source": [source], "detail-type": list(detail_types)}
    if detail:
        pattern["detail"] = dict(detail)
    return pattern


@dataclass(frozen=True)
class Health:
    """AWS Health events of the account (`aws.health`, `AWS Health Event`) with the declared event type codes."""

    event_type_codes: tuple[str, ...]
    services: tuple[str, ...] = ()  # e.g. "RISK"; empty: any service
    kind: ClassVar[EventKind] = "health"

    def __post_init__(self) -> None:
        if not self.event_type_codes:
            raise ValueError("a Health trigger names at least one event type code")

    def pattern(self) -> dict[str, Any]:
        detail: dict[str, Any] = {"eventTypeCode": sorted(self.event_type_codes)}
        if self.services:
            detail["service"] = sorted(self.services)
        return _service_pattern("aws.health", ("AWS Health Event",), detail)


@dataclass(frozen=True)
class GuardDuty:
    """GuardDuty findings (`aws.guardduty`, `GuardDuty Finding`) on one kind of resource.

    `finding_types` are exact finding types (`UnauthorizedAccess:EC2/SSHBruteForce`) or, ending in `/` or `:`,
    prefixes (`CryptoCurrency:EC2/`); empty: every type on that resource. Severity and per-deployment allow and deny
    lists are settings, read by the handler: a pattern is fixed at deploy time.
    """

    resource_type: str  # detail.resource.resourceType: "Instance", "AccessKey", "S3Bucket", ...
    finding_types: tuple[str, ...] = ()
    kind: ClassVar[EventKind] = "guardduty"

    def pattern(self) -> dict[str, Any]:
        detail: dict[str, Any] = {"resource": {"resourceType": [self.resource_type]}}
        if self.finding_types:
            detail["type"] = [({"prefix": t} if t.endswith(("/", ":")) else t) for t in sorted(self.finding_types)]
        return _service_pattern("aws.guardduty", ("GuardDuty Finding",), detail)


@dataclass(frozen=True)
class InstanceStateChange:
    """EC2 instance state changes (`aws.ec2`, `EC2 Instance State-change Notification`) into the declared states."""

    states: tuple[str, ...]  # "pending", "running", "stopping", "stopped", "shutting-down", "terminated"
    kind: ClassVar[EventKind] = "ec2-instance-state"

    def __post_init__(self) -> None:
        unknown = set(self.states) - {"pending", "running", "stopping", "stopped", "shutting-down", "terminated"}
        if not self.states or unknown:
            raise ValueError(f"instance states must be EC2's, got {self.states!r}")

    def pattern(self) -> dict[str, Any]:
        return _service_pattern("aws.ec2", ("EC2 Instance State-change Notification",),
                                {"state": sorted(self.states)})


@dataclass(frozen=True)
class ObjectCreated:
    """S3 `Object Created` events (`aws.s3`). S3 sends them only for buckets whose EventBridge notifications are on
    (`PutBucketNotificationConfiguration` with `EventBridgeConfiguration`; docs/security-rules.md, *Event kinds*).

    `reasons` narrows to the S3 calls that created the object (`PutObject`, `POST Object`, `CopyObject`,
    `CompleteMultipartUpload`); `detail` adds more filters (for example on `bucket.name`).
    """

    reasons: tuple[str, ...] = ()
    detail: Mapping[str, Any] = field(default_factory=dict)
    kind: ClassVar[EventKind] = "s3-object-created"

    def pattern(self) -> dict[str, Any]:
        detail: dict[str, Any] = dict(self.detail)
        if self.reasons:
            detail["reason"] = sorted(self.reasons)
        return _service_pattern("aws.s3", ("Object Created",), detail)


ServiceEvent = Health | GuardDuty | InstanceStateChange | ObjectCreated


@dataclass(frozen=True)
class AnyOf:
    """One rule on several AWS service events (an exposed key is reported by AWS Health and by GuardDuty):
    the `$or` of their patterns, each branch with its own source and detail-type."""

    triggers: tuple[ServiceEvent, ...]

    def __post_init__(self) -> None:
        if len(self.triggers) < 2:
            raise ValueError("AnyOf needs at least two triggers; declare a single one directly")

    def pattern(self) -> dict[str, Any]:
        branches = [t.pattern() for t in self.triggers]
        return {"source": sorted({b["source"][0] for b in branches}), "$or": branches}


@dataclass(frozen=True)
class CustomResource:
    """A CloudFormation custom resource provider (`Custom::Name`)."""

    resource_type: str

    def __post_init__(self) -> None:
        if not re.match(r"^Custom::[A-Za-z0-9]+$", self.resource_type):
            raise ValueError(f"custom resource type must look like Custom::Name, got {self.resource_type!r}")


@dataclass(frozen=True)
class Rotation:
    """A Secrets Manager rotation function."""


Schedule = Rate | Cron
#: Every trigger that is an EventBridge rule on an event pattern.
EventTrigger = CloudTrail | EventPattern | ServiceEvent | AnyOf
Trigger = Rate | Cron | EventTrigger | CustomResource | Rotation


def trigger_kinds(trigger: Trigger) -> frozenset[EventKind]:
    """The kinds of event a trigger delivers (none for schedules, custom resources, rotation). A CloudTrail
    trigger delivers CloudTrail records, and so does an `EventPattern` unless it says otherwise."""
    match trigger:
        case CloudTrail():
            return frozenset({"cloudtrail"})
        case EventPattern():
            return frozenset({trigger.kind})
        case Health() | GuardDuty() | InstanceStateChange() | ObjectCreated():
            return frozenset({trigger.kind})
        case AnyOf():
            return frozenset(t.kind for t in trigger.triggers)
    return frozenset()


def trigger_manifest(trigger: Trigger) -> dict[str, Any]:
    """The manifest form of a trigger (see DESIGN.md)."""
    match trigger:
        case Rate() | Cron():
            return {"type": "schedule", "expression": trigger.expression}
        case CloudTrail() | EventPattern() | Health() | GuardDuty() | InstanceStateChange() | ObjectCreated() | AnyOf():
            return {"type": "event", "pattern": trigger.pattern()}
        case CustomResource():
            return {"type": "custom_resource", "resource_type": trigger.resource_type}
        case Rotation():
            return {"type": "rotation"}
    raise TypeError(f"unknown trigger {trigger!r}")
