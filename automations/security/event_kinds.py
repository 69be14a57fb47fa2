"""The kinds of event a reactive rule can take, and the one place an event is parsed by its kind.

A rule's trigger says which kinds of event it receives (`spec.trigger_kinds`); its `decide` takes the typed
event of that kind, and `rule_handler(SPEC, decide, kind=GUARDDUTY)` checks at import that the two agree.
A rule on two kinds (`AnyOf` trigger) takes `either(HEALTH, GUARDDUTY)` and a union in `decide`.
`Kind.parse` turns the raw EventBridge event into the typed one or raises `BadEventError`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from automations.core.spec import EventKind, FunctionSpec, trigger_kinds
from automations.core.truncate import clip
from automations.security.errors import BadEventError
from automations.security.findings import (
    API_CALL,
    CONSOLE_SIGN_IN,
    QUOTE_LIMIT_BYTES,
    Actor,
    CloudTrailEvent,
    parse_event,
)
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
A = TypeVar("A", bound=ParsedEvent)
B = TypeVar("B", bound=ParsedEvent)


@dataclass(frozen=True)
class Kind(Generic[E]):
    """The kinds of event a rule takes (as triggers declare them), the detail-types they arrive with, and the
    typed parser."""

    names: frozenset[EventKind]
    detail_types: frozenset[str]
    parse: Callable[[Mapping[str, Any]], E]

    @property
    def label(self) -> str:
        return " or ".join(sorted(self.names))


def _kind(name: EventKind, detail_types: tuple[str, ...], parse: Callable[[Mapping[str, Any]], E]) -> Kind[E]:
    return Kind(frozenset({name}), frozenset(detail_types), parse)


CLOUDTRAIL: Kind[CloudTrailEvent] = _kind("cloudtrail", (API_CALL, CONSOLE_SIGN_IN), parse_event)
HEALTH: Kind[HealthEvent] = _kind("health", ("AWS Health Event",), parse_health)
GUARDDUTY: Kind[GuardDutyFinding] = _kind("guardduty", ("GuardDuty Finding",), parse_guardduty)
EC2_INSTANCE_STATE: Kind[InstanceStateChange] = _kind(
    "ec2-instance-state", ("EC2 Instance State-change Notification",), parse_instance_state)
S3_OBJECT_CREATED: Kind[ObjectCreated] = _kind("s3-object-created", ("Object Created",), parse_object_created)

#: Every single kind by name; a test checks that every `EventKind` has one.
KINDS: dict[str, Kind[Any]] = {next(iter(k.names)): k for k in (CLOUDTRAIL, HEALTH, GUARDDUTY, EC2_INSTANCE_STATE,
                                                                  S3_OBJECT_CREATED)}


def either(first: Kind[A], second: Kind[B]) -> Kind[A | B]:
    """A rule on two kinds (an `AnyOf` trigger): each event is parsed by the kind its detail-type names."""
    if first.detail_types & second.detail_types:
        raise ValueError(f"{first.label} and {second.label} share a detail-type: events could not be told apart")

    def parse(event: Mapping[str, Any]) -> A | B:
        detail_type = event.get("detail-type")
        if detail_type in first.detail_types:
            return first.parse(event)
        if detail_type in second.detail_types:
            return second.parse(event)
        expected = ", ".join(sorted(first.detail_types | second.detail_types))
        raise BadEventError(f"expected a {first.label} or {second.label} event ({expected}), got detail-type "
                            f"{clip(repr(detail_type), QUOTE_LIMIT_BYTES)}")

    return Kind(first.names | second.names, first.detail_types | second.detail_types, parse)


def checked_kind(spec: FunctionSpec, kind: Kind[E]) -> Kind[E]:
    """`kind`, when it is what `spec`'s trigger delivers; else a `ValueError` (at import)."""
    declared = trigger_kinds(spec.trigger)
    if declared != kind.names:
        delivered = " or ".join(sorted(declared)) or "no"
        raise ValueError(f"{spec.name}: its trigger delivers {delivered} events, but its decide takes "
                         f"{kind.label} events")
    return kind
