"""Declarations: the one place a Lambda function is described.

A handler module declares a `FunctionSpec` next to its handler. Declaring does no
I/O: it only builds frozen value objects. Templates, IAM policies, template
parameters and manifest entries are all derived from these objects by
`templates/` and `build.py`; the runtime reads the same objects to parse settings.

This module imports only the standard library so that it can be loaded inside
Lambda without any build-time dependency.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from automations.core import iam_rules
from automations.core.errors import SettingError

SettingKind = Literal["int", "float", "str", "bool", "list"]
Mode = Literal["enforce", "audit", "off"]
MODES: tuple[Mode, ...] = ("enforce", "audit", "off")

_NAME_RE = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
_SETTING_RE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def pascal(name: str) -> str:
    """`ebs-snapshots` / `retention_count` -> `EbsSnapshots` / `RetentionCount`."""
    return "".join(part.capitalize() for part in re.split(r"[-_]", name) if part)


# --------------------------------------------------------------------------- triggers


#: What a reactive rule receives, and so which typed parser reads it (`automations/security/event_kinds.py`):
#: CloudTrail records, and the events AWS services send to EventBridge on their own.
EventKind = Literal["cloudtrail", "health", "guardduty", "ec2-instance-state", "s3-object-created"]


@dataclass(frozen=True)
class Rate:
    """An EventBridge `rate(...)` schedule."""

    value: int
    unit: Literal["minute", "minutes", "hour", "hours", "day", "days"]

    def __post_init__(self) -> None:
        if self.value < 1:
            raise ValueError(f"rate value must be >= 1, got {self.value}")
        singular = self.unit.rstrip("s")
        if (self.value == 1) != (self.unit == singular):
            raise ValueError(f"rate({self.value} {self.unit}): use the singular unit only for 1")

    @property
    def expression(self) -> str:
        return f"rate({self.value} {self.unit})"


@dataclass(frozen=True)
class Cron:
    """An EventBridge `cron(...)` schedule (six fields, UTC)."""

    fields: str

    def __post_init__(self) -> None:
        if len(self.fields.split()) != 6:
            raise ValueError(f"cron needs 6 fields, got {self.fields!r}")

    @property
    def expression(self) -> str:
        return f"cron({self.fields})"


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


# --------------------------------------------------------------------------- permissions

#: Resource placeholders a permission may use. Templates bind each to a value
#: (`Fn::Sub` variables); `${AWS::Partition}`, `${AWS::Region}` and
#: `${AWS::AccountId}` are CloudFormation pseudo parameters.
RESOURCE_VARIABLES = ("StateTableArn", "AlertTopicArn", "AlertKeyArn", "StateKeyArn", "DeadLetterQueueArn",
                      "LogGroupArn", "FunctionArn")


@dataclass(frozen=True)
class Permission:
    """IAM actions and the resources they are scoped to (Fn::Sub strings)."""

    actions: tuple[str, ...]
    resources: tuple[str, ...] = ("*",)
    why: str = ""
    #: an IAM Condition block, e.g. {"StringEquals": {"aws:ResourceTag/caretaker:automation": "x"}}
    condition: Mapping[str, Mapping[str, Any]] | None = None

    def __post_init__(self) -> None:
        if not self.actions:
            raise ValueError("a permission needs at least one action")
        for action in self.actions:
            if not re.match(r"^[a-z0-9-]+:[A-Za-z0-9*]+$", action):
                raise ValueError(f"malformed IAM action {action!r}")
        for resource in self.resources:
            for var in re.findall(r"\$\{([^}]+)\}", resource):
                if not var.startswith("AWS::") and var not in RESOURCE_VARIABLES:
                    raise ValueError(f"unknown resource variable ${{{var}}} in {resource!r}")
        if self.condition is not None and "${" in repr(self.condition):
            raise ValueError("condition values are literal: templates do not substitute ${...} in them")
        problems = iam_rules.refusals(self.actions, self.condition)  # docs/security-model.md section 6
        if problems:
            raise ValueError("; ".join(problems))


#: The IAM path of every role Caretaker creates: it groups them, and an SCP can reserve it for the
#: deployment (docs/security-model.md). It proves nothing about who made a call: anyone allowed to
#: create roles can create one under it.
ROLE_PATH = "/caretaker/"

#: The environment variable that may hold the unique ids (RoleId, `AROA...`) of more roles the rules treat as
#: Caretaker's own (comma-separated). The templates no longer set it: the exact ARNs below say the same, and the
#: two lists together passed Lambda's 4 KB environment at 40 functions. The rules still honour it when set.
OWN_ROLE_IDS_ENV = "CARETAKER_OWN_ROLE_IDS"
#: Beside the ids, the same roles' names and the ARN prefix they share
#: (`arn:<partition>:iam::<account>:role/caretaker/`, deploy-time values): DESIGN.md's contract is the
#: exact ARN, and an event carrying the ARN but not the id (or another id) is recognised by it. Names,
#: not whole ARNs: every role ARN at its longest would not fit Lambda's 4 KB environment.
OWN_ROLE_NAMES_ENV = "CARETAKER_OWN_ROLE_NAMES"
OWN_ROLE_ARN_PREFIX_ENV = "CARETAKER_OWN_ROLE_ARN_PREFIX"

#: What every function may do on Caretaker's own resources. Added to each role.
BASELINE_PERMISSIONS: tuple[Permission, ...] = (
    Permission(
        ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
         "dynamodb:BatchWriteItem", "dynamodb:Query"),
        ("${StateTableArn}", "${StateTableArn}/index/*"),
        why="state log, run-time mode override, idempotency records",
    ),
    Permission(("kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"), ("${StateKeyArn}",),
               condition={"StringLike": {"kms:ViaService": ["dynamodb.*.amazonaws.com", "sqs.*.amazonaws.com"]}},
               why="the state table and the dead-letter queue are encrypted with Caretaker's state key; "
                   "Lambda writes the DLQ with this role; only through DynamoDB and SQS"),
    Permission(("sns:Publish",), ("${AlertTopicArn}", "${AlertTopicArn}-chat"),
               why="notifications: the alert topic, and the chat topic named after it (AWS Chatbot's format)"),
    Permission(("kms:GenerateDataKey", "kms:Decrypt"), ("${AlertKeyArn}",),
               condition={"StringLike": {"kms:ViaService": "sns.*.amazonaws.com"}},
               why="publish to the alert and chat topics, encrypted with their own key; only through SNS"),
    Permission(("sqs:SendMessage",), ("${DeadLetterQueueArn}",), why="dead-letter queue"),
    Permission(("logs:CreateLogStream", "logs:PutLogEvents"), ("${LogGroupArn}",), why="own log group"),
)


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class Setting:
    """A typed, validated setting, delivered as `CARETAKER_<NAME>` from a template parameter."""

    name: str
    kind: SettingKind
    default: Any
    description: str
    allowed: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    #: a regular expression a str value must match in full (also the parameter's AllowedPattern)
    pattern: str | None = None

    def __post_init__(self) -> None:
        if not _SETTING_RE.match(self.name):
            raise ValueError(f"setting names are snake_case, got {self.name!r}")
        # the default must itself be valid: fail at declaration, not in production
        self.parse(self.render(self.default))

    @property
    def env_name(self) -> str:
        return "CARETAKER_" + self.name.upper()

    def render(self, value: Any) -> str:
        """The string form of a value, as it travels in a parameter / env variable."""
        if self.kind == "bool":
            return "true" if value else "false"
        if self.kind == "list":
            return ",".join(str(v) for v in value)
        return str(value)

    def describe_allowed(self) -> str:
        if self.allowed is not None:
            return "one of " + ", ".join(repr(a) for a in self.allowed)
        if self.pattern is not None:
            return f"a string matching {self.pattern}"
        noun = {"int": "an integer", "float": "a number", "bool": "true or false",
                "list": "a comma-separated list", "str": "a string"}[self.kind]
        if self.minimum is not None and self.maximum is not None:
            return f"{noun} from {_num(self.minimum)} to {_num(self.maximum)}"
        if self.minimum is not None:
            return f"{noun} >= {_num(self.minimum)}"
        if self.maximum is not None:
            return f"{noun} <= {_num(self.maximum)}"
        return noun

    def parse(self, raw: str) -> Any:
        """Convert and validate; raise `SettingError` naming setting, value and what is allowed."""
        text = raw.strip()
        value: Any
        try:
            if self.kind == "int":
                if not re.fullmatch(r"[+-]?\d+", text):
                    raise ValueError
                value = int(text)
            elif self.kind == "float":
                value = float(text)
                if value != value:  # NaN
                    raise ValueError
            elif self.kind == "bool":
                if text.lower() not in _TRUE | _FALSE:
                    raise ValueError
                value = text.lower() in _TRUE
            elif self.kind == "list":
                value = tuple(part.strip() for part in text.split(",") if part.strip())
            else:
                value = text
        except ValueError:
            raise SettingError(self.env_name, raw, self.describe_allowed()) from None
        if self.pattern is not None:
            items = value if self.kind == "list" else (value,)
            if any(not re.fullmatch(self.pattern, str(item)) for item in items):
                raise SettingError(self.env_name, raw, self.describe_allowed())
        if self.allowed is not None:
            items = value if self.kind == "list" else (value,)
            if any(str(item) not in self.allowed for item in items):
                raise SettingError(self.env_name, raw, self.describe_allowed())
        if self.kind in ("int", "float") and (
            (self.minimum is not None and value < self.minimum)
            or (self.maximum is not None and value > self.maximum)
        ):
            raise SettingError(self.env_name, raw, self.describe_allowed())
        return value


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


#: The largest share of each AWS API request bucket (per account and region) a function may use;
#: the client-side rate limiter (`automations.core.throttle`) holds every call to it.
API_RATE_SHARE = Setting(
    "api_rate_share", "float", 0.5,
    "Largest share (0.01 to 1) of the account's AWS API request rate, per API and region, that this "
    "function may use; calls wait client-side for the rest, so other workloads sharing the account's "
    "throttling buckets keep working.",
    minimum=0.01, maximum=1)


#: Declared by functions that act on many resources on a bounded pool of threads
#: (`automations.core.executor`, `automations.core.steps`); the rate limiter still holds them to their share.
MAX_CONCURRENCY = Setting(
    "max_concurrency", "int", 16,
    "AWS calls in flight at once when acting; the client-side rate limiter (api_rate_share) keeps the "
    "request rate within the function's share of the account's buckets.",
    minimum=1, maximum=32)


def common_settings(default_mode: Mode) -> tuple[Setting, ...]:
    """Settings every function has."""
    return (
        Setting("mode", "str", default_mode,
                "enforce = act, audit = dry-run (log what would be done), off = do nothing. "
                "A run-time override in the state table wins.",
                allowed=MODES),
        Setting("state_ttl_days", "int", 90,
                "Days action records stay in the state log before DynamoDB TTL removes them.",
                minimum=1, maximum=3650),
        API_RATE_SHARE,
    )


#: Functions declared with `continues=True` checkpoint when less than this is left of the invocation.
CONTINUATION_MARGIN = Setting(
    "continuation_margin_seconds", "int", 120,
    "When less than this many seconds of the invocation are left, a run checkpoints its progress in the "
    "state log and re-invokes the function asynchronously to continue.",
    minimum=30, maximum=600)

#: Added to the role of every function declared with `continues=True`: its own function, nothing else.
CONTINUATION_PERMISSION = Permission(("lambda:InvokeFunction",), ("${FunctionArn}",),
                                     why="continue a long run in a new invocation of this function")


# --------------------------------------------------------------------------- function


@dataclass(frozen=True)
class FunctionSpec:
    """Everything about one Lambda function; everything else is derived from it."""

    name: str
    description: str
    handler: str  # dotted path: "automations.scheduled.ebs_snapshots.handler"
    trigger: Trigger
    permissions: tuple[Permission, ...]
    default_mode: Mode
    settings: tuple[Setting, ...] = ()
    timeout: int = 300
    memory: int = 256
    #: A scheduled run may checkpoint and re-invoke itself to finish (automations/core/continuation.py):
    #: adds the `continuation_margin_seconds` setting and `lambda:InvokeFunction` on its own ARN.
    continues: bool = False

    def __post_init__(self) -> None:
        if not _NAME_RE.match(self.name):
            raise ValueError(f"function names are kebab-case, got {self.name!r}")
        if self.default_mode not in MODES:
            raise ValueError(f"{self.name}: default_mode must be one of {MODES}")
        if not 1 <= self.timeout <= 900:
            raise ValueError(f"{self.name}: timeout must be 1..900 s, got {self.timeout}")
        if not 128 <= self.memory <= 10240:
            raise ValueError(f"{self.name}: memory must be 128..10240 MB, got {self.memory}")
        if not self.permissions:
            raise ValueError(f"{self.name}: declare the IAM permissions the handler needs")
        if self.continues and not isinstance(self.trigger, (Rate, Cron)):
            raise ValueError(f"{self.name}: only scheduled functions can continue a run")
        if self.continues and self.timeout <= 2 * CONTINUATION_MARGIN.default:
            raise ValueError(f"{self.name}: a function that continues needs a timeout above twice the default "
                             f"continuation margin ({2 * CONTINUATION_MARGIN.default} s)")
        names = [s.name for s in self.all_settings]
        duplicates = {n for n in names if names.count(n) > 1}
        if duplicates:
            raise ValueError(f"{self.name}: settings declared twice: {sorted(duplicates)}")

    @property
    def module(self) -> str:
        return self.handler.rsplit(".", 1)[0]

    @property
    def function_name(self) -> str:
        """The deployed Lambda function name."""
        return f"caretaker-{self.name}"

    @property
    def logical_id(self) -> str:
        return pascal(self.name) + "Function"

    @property
    def all_settings(self) -> tuple[Setting, ...]:
        continuation = (CONTINUATION_MARGIN,) if self.continues else ()
        return common_settings(self.default_mode) + continuation + self.settings

    def setting(self, name: str) -> Setting:
        for setting in self.all_settings:
            if setting.name == name:
                return setting
        raise KeyError(f"{self.name} declares no setting {name!r}")

    @property
    def reads_own_role_ids(self) -> bool:
        """Whether the function reads `CARETAKER_OWN_ROLE_IDS`: the reactive rules on CloudTrail records, the only
        events that name the principal who caused them (docs/security-rules.md, *Event kinds*)."""
        return "cloudtrail" in trigger_kinds(self.trigger)

    @property
    def all_permissions(self) -> tuple[Permission, ...]:
        continuation = (CONTINUATION_PERMISSION,) if self.continues else ()
        return BASELINE_PERMISSIONS + continuation + self.permissions

    @property
    def declared_actions(self) -> frozenset[str]:
        return frozenset(a for p in self.permissions for a in p.actions)
