"""The kinds of event a reactive rule can take, and the one place an event is parsed by its kind.

A rule's trigger says which kind of event it receives (`spec.event_kind`); its `decide` takes the typed
event of that kind, and `rule_handler(SPEC, decide, kind=GUARDDUTY)` checks at import that the two agree.
`Kind.parse` turns the raw EventBridge event into the typed one or raises `BadEventError`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from automations.core.spec import EventKind, FunctionSpec, event_kind
from automations.security.findings import Actor, CloudTrailEvent, parse_event
from automations.security.service_events import (
    GuardDutyFinding,
    HealthEvent,
    InstanceStateChange,
    ObjectCreated,
    parse_guardduty,
    parse_health,
    parse_instance_state,
    parse_object_created,
)


class ParsedEvent(Protocol):
    """What the reactive path reads from every typed event."""

    @property
    def id(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def account(self) -> str: ...

    @property
    def region(self) -> str: ...

    @property
    def actor(self) -> Actor | None: ...

    def summary(self) -> dict[str, Any]: ...

    def describe(self) -> str: ...


E = TypeVar("E", bound=ParsedEvent)


@dataclass(frozen=True)
class Kind(Generic[E]):
    """One kind of event: its name (as triggers declare it) and its typed parser."""

    name: EventKind
    parse: Callable[[Mapping[str, Any]], E]


CLOUDTRAIL: Kind[CloudTrailEvent] = Kind("cloudtrail", parse_event)
HEALTH: Kind[HealthEvent] = Kind("health", parse_health)
GUARDDUTY: Kind[GuardDutyFinding] = Kind("guardduty", parse_guardduty)
EC2_INSTANCE_STATE: Kind[InstanceStateChange] = Kind("ec2-instance-state", parse_instance_state)
S3_OBJECT_CREATED: Kind[ObjectCreated] = Kind("s3-object-created", parse_object_created)

#: Every kind by name; a test checks that every `EventKind` has one.
KINDS: dict[str, Kind[Any]] = {k.name: k for k in (CLOUDTRAIL, HEALTH, GUARDDUTY, EC2_INSTANCE_STATE,
                                                     S3_OBJECT_CREATED)}


def checked_kind(spec: FunctionSpec, kind: Kind[E]) -> Kind[E]:
    """`kind`, when it is the kind of event `spec`'s trigger delivers; else a `ValueError` (at import)."""
    declared = event_kind(spec.trigger)
    if declared != kind.name:
        raise ValueError(f"{spec.name}: its trigger delivers {declared or 'no'} events, but its decide takes "
                         f"{kind.name} events")
    return kind
