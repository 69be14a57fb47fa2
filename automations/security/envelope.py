"""The EventBridge envelope every event a rule receives carries, whatever its kind: a CloudTrail record
(`findings.CloudTrailEvent`) and an AWS service's own event (`service_events.ServiceEvent`) add their detail."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Envelope:
    id: str  # the envelope id: the same for every delivery of one event (idempotency key)
    source: str
    detail_type: str
    account: str
    region: str
    time: str
