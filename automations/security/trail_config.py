"""A CloudTrail trail's configuration as Caretaker records it, read from AWS, and what makes one weaker.

`read_trail` reads a trail from AWS (GetTrail, GetTrailStatus, GetEventSelectors, ListTags), never
from an event. `weakenings(recorded, current)` lists what the current configuration lost against
the recorded one: logging, multi-region, global service events, log file validation, the KMS key,
the S3 location, CloudWatch Logs delivery, the organization flag, event coverage, the guard tag.
A change that loses none of these (a new SNS topic, a KMS key where there was none, more selectors)
is not a weakening. Nothing here writes to AWS or to the state log.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from automations.core.selection import GUARD_TRAIL_TAG, is_protected, tag_map
from automations.security.errors import gone_when_missing

GONE = ("TrailNotFoundException", "TrailNotFound")
#: CloudTrail's selectors when none were put: every management event, read and write.
DEFAULT_EVENT_SELECTORS: tuple[dict[str, Any], ...] = (
    {"ReadWriteType": "All", "IncludeManagementEvents": True},
)
_KINDS = {"All": ("read", "write"), "ReadOnly": ("read",), "WriteOnly": ("write",)}




@dataclass(frozen=True)
class TrailConfig:
    """What it takes to re-create a trail as it was: CreateTrail's arguments, its selectors, tags, logging."""

    name: str
    arn: str
    region: str
    s3_bucket: str
    s3_key_prefix: str = ""
    sns_topic: str = ""
    multi_region: bool = False
    global_service_events: bool = True
    log_file_validation: bool = False
    kms_key_id: str = ""
    cloudwatch_logs_group_arn: str = ""
    cloudwatch_logs_role_arn: str = ""
    organization_trail: bool = False
    event_selectors: tuple[Mapping[str, Any], ...] = ()
    advanced_event_selectors: tuple[Mapping[str, Any], ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)
    logging: bool = False

    @property
    def guarded(self) -> bool:
        """Tagged `caretaker:guard-trail=true` (any case)."""
        return self.tags.get(GUARD_TRAIL_TAG, "").strip().lower() == "true"

    @property
    def protected(self) -> bool:
        return is_protected(self.tags)

    def as_record(self) -> dict[str, Any]:
        """The record's `configuration` map (plain JSON types)."""
        return {
            "name": self.name, "arn": self.arn, "region": self.region, "s3_bucket": self.s3_bucket,
            "s3_key_prefix": self.s3_key_prefix, "sns_topic": self.sns_topic, "multi_region": self.multi_region,
            "global_service_events": self.global_service_events, "log_file_validation": self.log_file_validation,
            "kms_key_id": self.kms_key_id, "cloudwatch_logs_group_arn": self.cloudwatch_logs_group_arn,
            "cloudwatch_logs_role_arn": self.cloudwatch_logs_role_arn,
            "organization_trail": self.organization_trail,
            "event_selectors": [dict(s) for s in self.event_selectors],
            "advanced_event_selectors": [dict(s) for s in self.advanced_event_selectors],
            "tags": dict(self.tags), "logging": self.logging,
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> TrailConfig:
        return cls(
            name=str(record["name"]), arn=str(record["arn"]), region=str(record["region"]),
            s3_bucket=str(record["s3_bucket"]), s3_key_prefix=str(record.get("s3_key_prefix") or ""),
            sns_topic=str(record.get("sns_topic") or ""), multi_region=bool(record.get("multi_region")),
            global_service_events=bool(record.get("global_service_events")),
            log_file_validation=bool(record.get("log_file_validation")),
            kms_key_id=str(record.get("kms_key_id") or ""),
            cloudwatch_logs_group_arn=str(record.get("cloudwatch_logs_group_arn") or ""),
            cloudwatch_logs_role_arn=str(record.get("cloudwatch_logs_role_arn") or ""),
            organization_trail=bool(record.get("organization_trail")),
            event_selectors=tuple(record.get("event_selectors") or ()),
            advanced_event_selectors=tuple(record.get("advanced_event_selectors") or ()),
            tags={str(k): str(v) for k, v in (record.get("tags") or {}).items()},
            logging=bool(record.get("logging")),
        )

    # ------------------------------------------------------------------ the calls that restore it

    def location_arguments(self) -> dict[str, Any]:
        return {"S3BucketName": self.s3_bucket, "S3KeyPrefix": self.s3_key_prefix}

    def cloudwatch_arguments(self) -> dict[str, Any]:
        return {"CloudWatchLogsLogGroupArn": self.cloudwatch_logs_group_arn,
                "CloudWatchLogsRoleArn": self.cloudwatch_logs_role_arn}

    def create_arguments(self) -> dict[str, Any]:
        """CreateTrail's arguments, tags included (one call: the trail never exists untagged)."""
        arguments: dict[str, Any] = {
            "Name": self.name, "S3BucketName": self.s3_bucket, "IsMultiRegionTrail": self.multi_region,
            "IncludeGlobalServiceEvents": self.global_service_events,
            "EnableLogFileValidation": self.log_file_validation, "IsOrganizationTrail": self.organization_trail,
        }
        optional = {"S3KeyPrefix": self.s3_key_prefix, "SnsTopicName": self.sns_topic, "KmsKeyId": self.kms_key_id}
        if self.cloudwatch_logs_group_arn:
            optional.update(self.cloudwatch_arguments())
        arguments.update({k: v for k, v in optional.items() if v})
        tags = [{"Key": k, "Value": v} for k, v in sorted(self.tags.items()) if not k.startswith("aws:")]
        if tags:
            arguments["TagsList"] = tags
        return arguments

    def selector_arguments(self) -> dict[str, Any]:
        """PutEventSelectors' arguments: the recorded selectors (CloudTrail's default when none were)."""
        if self.advanced_event_selectors:
            return {"AdvancedEventSelectors": [dict(s) for s in self.advanced_event_selectors]}
        return {"EventSelectors": [dict(s) for s in self.event_selectors or DEFAULT_EVENT_SELECTORS]}


# ---------------------------------------------------------------------- reading from AWS


def read_trail(cloudtrail: Any, trail: str) -> TrailConfig:
    """The trail (name or ARN) as it is now in AWS; `ResourceGoneError` when it does not exist."""
    with gone_when_missing(trail, f"trail {trail}", GONE):
        described = cloudtrail.get_trail(Name=trail)["Trail"]
        arn = str(described["TrailARN"])
        status = cloudtrail.get_trail_status(Name=arn)
        selectors = cloudtrail.get_event_selectors(TrailName=arn)
        tagged = cloudtrail.list_tags(ResourceIdList=[arn]).get("ResourceTagList", [])
    tags: dict[str, str] = {}
    for entry in tagged:
        tags.update(tag_map(entry.get("TagsList")))
    return TrailConfig(
        name=str(described.get("Name") or arn.rsplit("/", 1)[-1]),
        arn=arn,
        region=str(described.get("HomeRegion") or arn.split(":")[3]),
        s3_bucket=str(described.get("S3BucketName") or ""),
        s3_key_prefix=str(described.get("S3KeyPrefix") or ""),
        sns_topic=str(described.get("SnsTopicName") or ""),
        multi_region=bool(described.get("IsMultiRegionTrail")),
        global_service_events=bool(described.get("IncludeGlobalServiceEvents")),
        log_file_validation=bool(described.get("LogFileValidationEnabled")),
        kms_key_id=str(described.get("KmsKeyId") or ""),
        cloudwatch_logs_group_arn=str(described.get("CloudWatchLogsLogGroupArn") or ""),
        cloudwatch_logs_role_arn=str(described.get("CloudWatchLogsRoleArn") or ""),
        organization_trail=bool(described.get("IsOrganizationTrail")),
        event_selectors=tuple(selectors.get("EventSelectors") or ()),
        advanced_event_selectors=tuple(selectors.get("AdvancedEventSelectors") or ()),
        tags=tags,
        logging=bool(status.get("IsLogging")),
    )


# ---------------------------------------------------------------------- what counts as weaker


@dataclass(frozen=True)
class Coverage:
    """Which events a trail's selectors deliver, normalised over basic and advanced selectors.

    `management`: "read"/"write" management events delivered without exception; `partial`: management
    selectors with exclusions or conditions; `data`: data event selectors, one canonical text each.
    """

    management: frozenset[str]
    partial: frozenset[tuple[str, str]]
    data: frozenset[str]

    def lost(self, recorded: Coverage) -> list[str]:
        """What `recorded` delivered that this coverage no longer does."""
        lost = [f"{kind} management events" for kind in sorted(recorded.management - self.management)]
        lost += [f"{kind} management events {what}" for kind, what in sorted(recorded.partial - self.partial)
                 if kind not in self.management]
        lost += [f"data events {what}" for what in sorted(recorded.data - self.data)]
        return lost


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def coverage(event_selectors: Sequence[Mapping[str, Any]],
             advanced_event_selectors: Sequence[Mapping[str, Any]]) -> Coverage:
    management: set[str] = set()
    partial: set[tuple[str, str]] = set()
    data: set[str] = set()
    basic = list(event_selectors) if event_selectors or advanced_event_selectors else list(DEFAULT_EVENT_SELECTORS)
    for selector in basic:
        kinds = _KINDS.get(str(selector.get("ReadWriteType") or "All"), ("read", "write"))
        if selector.get("IncludeManagementEvents", True):
            excluded = sorted(str(s) for s in selector.get("ExcludeManagementEventSources") or ())
            for kind in kinds:
                if excluded:
                    partial.add((kind, "excluding " + ",".join(excluded)))
                else:
                    management.add(kind)
        for resource in selector.get("DataResources") or ():
            for value in resource.get("Values") or ():
                data.update(f"{resource.get('Type')} {value} ({kind})" for kind in kinds)
    for selector in advanced_event_selectors:
        fields = {str(f.get("Field")): {k: v for k, v in f.items() if k != "Field"}
                  for f in selector.get("FieldSelectors") or ()}
        category = fields.pop("eventCategory", {})
        if category == {"Equals": ["Management"]}:
            read_only = fields.pop("readOnly", None)
            kinds = (("read",) if read_only == {"Equals": ["true"]} else ("write",)
                     if read_only == {"Equals": ["false"]} else ("read", "write"))
            for kind in kinds:
                if fields:
                    partial.add((kind, "where " + _canonical(fields)))
                else:
                    management.add(kind)
        else:
            data.add(_canonical({"eventCategory": category, **fields}))
    return Coverage(frozenset(management), frozenset(partial), frozenset(data))


@dataclass(frozen=True)
class Weakening:
    """One thing a trail lost. `fix`: the step that restores it (update-trail, put-event-selectors,
    add-tags, start-logging)."""

    aspect: str
    fix: str
    recorded: Any
    now: Any

    def as_dict(self) -> dict[str, Any]:
        return {"aspect": self.aspect, "fix": self.fix, "recorded": self.recorded, "now": self.now}


def weakenings(recorded: TrailConfig | None, current: TrailConfig) -> list[Weakening]:
    """What `current` lost against `recorded`. A guarded trail that is not logging is always weakened."""
    found: list[Weakening] = []
    if not current.logging:
        found.append(Weakening("logging", "start-logging", True, False))
    if recorded is None:
        return found

    def flag(aspect: str, was: bool, now: bool) -> None:
        if was and not now:
            found.append(Weakening(aspect, "update-trail", True, False))

    flag("multi_region", recorded.multi_region, current.multi_region)
    flag("global_service_events", recorded.global_service_events, current.global_service_events)
    flag("log_file_validation", recorded.log_file_validation, current.log_file_validation)
    flag("organization_trail", recorded.organization_trail, current.organization_trail)
    if recorded.kms_key_id and recorded.kms_key_id != current.kms_key_id:
        found.append(Weakening("kms_key_id", "update-trail", recorded.kms_key_id, current.kms_key_id))
    where = (recorded.s3_bucket, recorded.s3_key_prefix)
    if where != (current.s3_bucket, current.s3_key_prefix):
        found.append(Weakening("s3_location", "update-trail", "/".join(where),
                               "/".join((current.s3_bucket, current.s3_key_prefix))))
    logs = (recorded.cloudwatch_logs_group_arn, recorded.cloudwatch_logs_role_arn)
    if recorded.cloudwatch_logs_group_arn and logs != (current.cloudwatch_logs_group_arn,
                                                        current.cloudwatch_logs_role_arn):
        found.append(Weakening("cloudwatch_logs", "update-trail", list(logs),
                               [current.cloudwatch_logs_group_arn, current.cloudwatch_logs_role_arn]))
    lost = coverage(current.event_selectors, current.advanced_event_selectors).lost(
        coverage(recorded.event_selectors, recorded.advanced_event_selectors))
    if lost:
        found.append(Weakening("event_selectors", "put-event-selectors", "covered", lost))
    if recorded.guarded and not current.guarded:
        found.append(Weakening("guard_tag", "add-tags", recorded.tags.get(GUARD_TRAIL_TAG),
                               current.tags.get(GUARD_TRAIL_TAG)))
    return found


def update_arguments(recorded: TrailConfig, found: Iterable[Weakening]) -> dict[str, Any]:
    """UpdateTrail's arguments that put back only the weakened attributes (the rest stays as it is now)."""
    arguments: dict[str, Any] = {}
    for weakening in found:
        match weakening.aspect:
            case "multi_region":  # CloudTrail requires global service events of a multi-region trail
                arguments.update(IsMultiRegionTrail=True, IncludeGlobalServiceEvents=True)
            case "global_service_events":
                arguments["IncludeGlobalServiceEvents"] = True
            case "log_file_validation":
                arguments["EnableLogFileValidation"] = True
            case "organization_trail":
                arguments["IsOrganizationTrail"] = True
            case "kms_key_id":
                arguments["KmsKeyId"] = recorded.kms_key_id
            case "s3_location":
                arguments.update(recorded.location_arguments())
            case "cloudwatch_logs":
                arguments.update(recorded.cloudwatch_arguments())
    return arguments
