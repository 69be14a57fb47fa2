"""Events AWS services send to EventBridge on their own, as the reactive rules read them.

One typed parser per kind (`parse_health`, `parse_guardduty`, `parse_instance_state`,
`parse_object_created`), each returning a frozen dataclass or raising `BadEventError` naming what is
missing. The envelope is read through powertools' `EventBridgeEvent` (and S3's through
`S3EventBridgeNotificationEvent`), imported when an event is parsed, not when a handler is imported.
Nothing here calls AWS. Unlike CloudTrail records, these events name no principal that caused them
(`actor` is None): there is no own action to recognise (docs/security-rules.md, *Event kinds*).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from automations.core.truncate import clip
from automations.security.envelope import Envelope
from automations.security.errors import BadEventError

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.event_bridge_event import EventBridgeEvent

    from automations.security.findings import Actor

#: How much of a malformed value an error message quotes.
QUOTE_LIMIT_BYTES = 200
#: The highest severity GuardDuty gives (High is 7.0 to 8.9, Critical 9.0 to 10.0).
MAX_SEVERITY = 10.0

def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _required_text(label: str, read: Callable[[], Any]) -> str:
    """A required text field, read through a powertools wrapper (which raises KeyError/TypeError when it is
    missing); `BadEventError` when it is missing, not text, or empty."""
    try:
        value = read()
    except (KeyError, TypeError, AttributeError):
        raise BadEventError(f"{label} is missing") from None
    if value is None:
        raise BadEventError(f"{label} is missing")
    if not isinstance(value, str):
        raise BadEventError(f"{label} is not a string: {_quote(value)}")
    if not value:
        raise BadEventError(f"{label} is empty")
    return value


def _quote(value: Any) -> str:
    return clip(repr(value), QUOTE_LIMIT_BYTES)


@dataclass(frozen=True)
class ServiceEvent(Envelope):
    """An AWS service's own event: the envelope and the resources it names."""

    resources: tuple[str, ...]

    #: what the notification says reported the event ("AWS Health", "GuardDuty", ...)
    REPORTER = "AWS"

    @property
    def actor(self) -> Actor | None:
        """Service events name no principal that caused them."""
        return None

    @property
    def name(self) -> str:
        """What happened, in a few words (the run summary's `event_name`)."""
        return self.detail_type

    def subject(self) -> dict[str, Any]:
        """What the event is about, kind by kind (never the whole event)."""
        return {}

    def summary(self) -> dict[str, Any]:
        """Which event, where and when, and what it is about: what every finding says about the event."""
        event = {k: v for k, v in {"id": self.id, "name": self.name, "source": self.source,
                                   "detail_type": self.detail_type, "time": self.time, "region": self.region,
                                   "account": self.account}.items() if v}
        return {"event": event, **self.subject()}

    def describe(self) -> str:
        """One sentence for the notification."""
        return f"{self.REPORTER} reported {self.name} in {self.region} of account {self.account} at {self.time}"


def _envelope(event: Mapping[str, Any], source: str, detail_types: tuple[str, ...]) -> tuple[EventBridgeEvent,
                                                                                                   dict[str, Any]]:
    """The powertools view of the envelope and the `ServiceEvent` fields, checked against the kind's source."""
    from aws_lambda_powertools.utilities.data_classes.event_bridge_event import EventBridgeEvent

    if not isinstance(event.get("detail"), Mapping):
        raise BadEventError("the event has no detail object")
    envelope = EventBridgeEvent(dict(event))
    fields = {
        "id": _required_text("the event id", lambda: envelope.get_id),
        "source": _text(envelope.get("source")),
        "detail_type": _text(envelope.get("detail-type")),
        "account": _required_text("the event account", lambda: envelope.account),
        "region": _required_text("the event region", lambda: envelope.region),
        "time": _text(envelope.get("time")),
        "resources": tuple(r for r in envelope.get("resources") or () if isinstance(r, str)),
    }
    if fields["source"] != source or fields["detail_type"] not in detail_types:
        raise BadEventError(f"expected a {source} event ({', '.join(detail_types)}), got source "
                            f"{_quote(fields['source'])} detail-type {_quote(fields['detail_type'])}")
    return envelope, fields


# ---------------------------------------------------------------------------------------------- AWS Health


@dataclass(frozen=True)
class HealthEvent(ServiceEvent):
    """An AWS Health event about the account (for example `AWS_RISK_CREDENTIALS_EXPOSED`)."""

    event_arn: str
    service: str
    event_type_code: str
    event_type_category: str
    event_region: str  # the affected region ("global" for account-wide risks); `region` is where it was delivered
    start_time: str
    description: str  # the latest English description ("" when there is none)
    entities: tuple[str, ...]  # affectedEntities[].entityValue: for exposed credentials, the access key ids

    REPORTER = "AWS Health"

    @property
    def name(self) -> str:
        return self.event_type_code

    def subject(self) -> dict[str, Any]:
        return {"health": {k: v for k, v in {
            "event_arn": self.event_arn, "service": self.service, "event_type_code": self.event_type_code,
            "event_type_category": self.event_type_category, "event_region": self.event_region,
            "start_time": self.start_time, "entities": list(self.entities), "description": self.description,
        }.items() if v}}


def parse_health(event: Mapping[str, Any]) -> HealthEvent:
    """An `AWS Health Event`; `BadEventError` without an event ARN or type code."""
    envelope, fields = _envelope(event, "aws.health", ("AWS Health Event",))
    detail = envelope.detail
    descriptions = [d for d in detail.get("eventDescription") or () if isinstance(d, Mapping)]
    english = [d for d in descriptions if d.get("language") == "en_US"] or descriptions
    entities = detail.get("affectedEntities")
    if entities is not None and not isinstance(entities, list):
        raise BadEventError(f"detail.affectedEntities is not a list: {_quote(entities)}")
    return HealthEvent(
        **fields,
        event_arn=_required_text("detail.eventArn", lambda: detail["eventArn"]),
        service=_text(detail.get("service")),
        event_type_code=_required_text("detail.eventTypeCode", lambda: detail["eventTypeCode"]),
        event_type_category=_text(detail.get("eventTypeCategory")),
        event_region=_text(detail.get("eventRegion")),
        start_time=_text(detail.get("startTime")),
        description=_text(english[0].get("latestDescription")) if english else "",
        entities=tuple(_text(e.get("entityValue")) for e in entities or () if isinstance(e, Mapping)
                       and _text(e.get("entityValue"))),
    )


# ---------------------------------------------------------------------------------------------- GuardDuty


@dataclass(frozen=True)
class AccessKeyDetails:
    """`resource.accessKeyDetails` of a GuardDuty finding: whose credentials the activity used."""

    access_key_id: str
    principal_id: str
    user_name: str
    user_type: str  # "IAMUser", "AssumedRole", "Root", "FederatedUser", ...

    def as_dict(self) -> dict[str, str]:
        return {k: v for k, v in {"access_key_id": self.access_key_id, "principal_id": self.principal_id,
                                  "user_name": self.user_name, "user_type": self.user_type}.items() if v}


@dataclass(frozen=True)
class GuardDutyFinding(ServiceEvent):
    """A GuardDuty finding as EventBridge delivers it (`GuardDuty Finding`)."""

    finding_id: str
    finding_arn: str
    type: str  # "CryptoCurrency:EC2/BitcoinTool.B!DNS"
    severity: float
    title: str
    detector_id: str
    resource_type: str  # "Instance", "AccessKey", ...
    instance_id: str  # resource.instanceDetails.instanceId ("" for other resources)
    access_key: AccessKeyDetails | None  # resource.accessKeyDetails (None when absent)
    action_type: str  # service.action.actionType
    remote_ip: str  # the remote address of the action, where the finding names one
    count: int
    updated_at: str

    REPORTER = "GuardDuty"

    @property
    def name(self) -> str:
        return self.type

    def subject(self) -> dict[str, Any]:
        finding: dict[str, Any] = {k: v for k, v in {
            "id": self.finding_id, "arn": self.finding_arn, "type": self.type, "severity": self.severity,
            "title": self.title, "detector_id": self.detector_id, "resource_type": self.resource_type,
            "instance_id": self.instance_id, "action_type": self.action_type, "remote_ip": self.remote_ip,
            "count": self.count, "updated_at": self.updated_at,
        }.items() if v or k == "severity"}
        if self.access_key is not None:
            finding["access_key"] = self.access_key.as_dict()
        return {"guardduty": finding}

    def describe(self) -> str:
        return (f"GuardDuty reported {self.type} (severity {self.severity:g}) in {self.region} of account "
                f"{self.account} at {self.time}")


def _severity(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise BadEventError(f"detail.severity is not a number: {_quote(value)}")
    try:
        severity = float(value)
    except ValueError:
        raise BadEventError(f"detail.severity is not a number: {_quote(value)}") from None
    if math.isnan(severity) or not 0 <= severity <= MAX_SEVERITY:
        raise BadEventError(f"detail.severity is not between 0 and {MAX_SEVERITY:g}: {_quote(value)}")
    return severity


def _remote_ip(action: Mapping[str, Any]) -> str:
    for key in ("networkConnectionAction", "awsApiCallAction", "portProbeAction", "dnsRequestAction"):
        part = _mapping(action.get(key))
        address = _text(_mapping(part.get("remoteIpDetails")).get("ipAddressV4"))
        if address:
            return address
    return ""


def parse_guardduty(event: Mapping[str, Any]) -> GuardDutyFinding:
    """A `GuardDuty Finding`; `BadEventError` without a finding id, type, severity or resource type."""
    envelope, fields = _envelope(event, "aws.guardduty", ("GuardDuty Finding",))
    detail = envelope.detail
    resource = detail.get("resource")
    if not isinstance(resource, Mapping):
        raise BadEventError("detail.resource is missing")
    resource_type = _required_text("detail.resource.resourceType", lambda: resource["resourceType"])
    instance = _mapping(resource.get("instanceDetails"))
    key = resource.get("accessKeyDetails")
    service = _mapping(detail.get("service"))
    action = _mapping(service.get("action"))
    count = service.get("count")
    if "severity" not in detail:
        raise BadEventError("detail.severity is missing")
    return GuardDutyFinding(
        **fields,
        finding_id=_required_text("detail.id", lambda: detail["id"]),
        finding_arn=_text(detail.get("arn")),
        type=_required_text("detail.type", lambda: detail["type"]),
        severity=_severity(detail["severity"]),
        title=_text(detail.get("title")),
        detector_id=_text(service.get("detectorId")),
        resource_type=resource_type,
        instance_id=_text(instance.get("instanceId")),
        access_key=AccessKeyDetails(_text(key.get("accessKeyId")), _text(key.get("principalId")),
                                    _text(key.get("userName")), _text(key.get("userType")))
        if isinstance(key, Mapping) else None,
        action_type=_text(action.get("actionType")),
        remote_ip=_remote_ip(action),
        count=count if isinstance(count, int) and not isinstance(count, bool) else 0,
        updated_at=_text(detail.get("updatedAt")),
    )


# ---------------------------------------------------------------------------------------------- EC2


@dataclass(frozen=True)
class InstanceStateChange(ServiceEvent):
    """`EC2 Instance State-change Notification`: an instance entered a state."""

    instance_id: str
    state: str

    REPORTER = "EC2"

    @property
    def name(self) -> str:
        return f"instance {self.state}"

    def subject(self) -> dict[str, Any]:
        return {"instance": {"instance_id": self.instance_id, "state": self.state}}


def parse_instance_state(event: Mapping[str, Any]) -> InstanceStateChange:
    """An instance state change; `BadEventError` without `instance-id` or `state`."""
    envelope, fields = _envelope(event, "aws.ec2", ("EC2 Instance State-change Notification",))
    detail = envelope.detail
    return InstanceStateChange(
        **fields,
        instance_id=_required_text("detail.instance-id", lambda: detail["instance-id"]),
        state=_required_text("detail.state", lambda: detail["state"]),
    )


# ---------------------------------------------------------------------------------------------- S3


@dataclass(frozen=True)
class ObjectCreated(ServiceEvent):
    """S3 `Object Created`: an object (version) was stored in a bucket with EventBridge notifications on."""

    bucket: str
    key: str  # as S3 delivers it in the event (not URL-decoded)
    size: int | None
    etag: str
    version_id: str  # "" in a bucket without versioning
    sequencer: str
    request_id: str
    requester: str  # the account id of the caller, or an AWS service principal; never a role ARN
    source_ip: str
    reason: str  # "PutObject", "POST Object", "CopyObject", "CompleteMultipartUpload"

    REPORTER = "S3"

    @property
    def name(self) -> str:
        return f"{self.detail_type} ({self.reason})" if self.reason else self.detail_type

    def subject(self) -> dict[str, Any]:
        return {"object": {k: v for k, v in {
            "bucket": self.bucket, "key": self.key, "size": self.size, "etag": self.etag,
            "version_id": self.version_id, "sequencer": self.sequencer, "request_id": self.request_id,
            "requester": self.requester, "source_ip": self.source_ip, "reason": self.reason,
        }.items() if v not in ("", None)}}


def parse_object_created(event: Mapping[str, Any]) -> ObjectCreated:
    """An S3 `Object Created` event; `BadEventError` without a bucket name or object key."""
    from aws_lambda_powertools.utilities.data_classes.s3_event import S3EventBridgeNotificationEvent

    _, fields = _envelope(event, "aws.s3", ("Object Created",))
    detail = S3EventBridgeNotificationEvent(dict(event)).detail
    name = _required_text("detail.bucket.name", lambda: detail.bucket.name)
    obj = detail.get("object")
    if not isinstance(obj, Mapping):
        raise BadEventError("detail.object is missing")
    size = obj.get("size")
    return ObjectCreated(
        **fields,
        bucket=name,
        key=_required_text("detail.object.key", lambda: obj["key"]),
        size=size if isinstance(size, int) and not isinstance(size, bool) else None,
        etag=_text(detail.object.etag),
        version_id=_text(obj.get("version-id")),
        sequencer=_text(obj.get("sequencer")),
        request_id=_text(detail.get("request-id")),
        requester=_text(detail.get("requester")),
        source_ip=_text(detail.source_ip_address),
        reason=_text(detail.reason),
    )
