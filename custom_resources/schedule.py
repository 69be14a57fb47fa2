"""Custom::Schedule: an application team's office-hours schedule, for `instance-scheduler`.

Properties `Name`, `Timezone` and `Periods` have the shape of the operator's `schedules` setting
(automations/core/resource_schedule.py). Create and Update validate the schedule (an invalid one is
FAILED with the message naming the schedule, the field and the rule) and store it in the state table
(automations/core/schedule_store.py: one item per name, holding the owning stack's full StackId);
Delete removes it. Resources then opt in with `caretaker:schedule=<Name>`.

A name belongs to the stack that stored it first (`ScheduleOwner`): a Create or Update naming a
schedule another stack owns is refused, and a Delete from another stack changes nothing. A name the
operator's `schedules` setting also declares is stored, but the setting wins at evaluation
(instance-scheduler records the shadowed schedule as skipped): the provider cannot read another
function's settings, and the operator's word is the one that counts.

Physical ids are `caretaker:schedule:<name>:<12 hex>`: a new resource with the same name in the same
stack (a renamed logical id) takes the name over, and the old resource's Delete then leaves it alone.
"""

from __future__ import annotations

import re
import uuid
from typing import Any, ClassVar

from automations.core.codec import iso
from automations.core.resource_schedule import MAX_PERIODS, NAME_PATTERN, ScheduleError, parse_schedule
from automations.core.schedule_store import PARTITION, ScheduleStore
from automations.core.spec import Permission
from custom_resources.properties import Prop, Schema
from custom_resources.provider import (
    Provider,
    ProviderError,
    Request,
    ResourceType,
    Result,
    StackBinding,
    provider_spec,
)

NAME = "schedule"
RESOURCE_TYPE = "Custom::Schedule"
ID_PREFIX = "caretaker:schedule:"
_ID = re.compile(re.escape(ID_PREFIX) + f"({NAME_PATTERN}):[0-9a-f]{{12}}")

SPEC = provider_spec(
    NAME, RESOURCE_TYPE, "office-hours schedules that instance-scheduler applies.",
    permissions=(
        Permission(("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem"), ("${StateTableArn}",),
                   condition={"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": [PARTITION]}},
                   why="the schedule items (pk SCHEDULES) are all it changes; the baseline covers its run records"),
    ),
)

#: The example consumer stack's schedule (templates/consumer_example.py): a name per stack, office hours in Berlin.
EXAMPLE_PROPERTIES: dict[str, Any] = {
    "Name": "${AWS::StackName}-office-hours",
    "Timezone": "Europe/Berlin",
    "Periods": [{"days": "mon-fri", "start": "08:00", "stop": "18:00"}],
}


def name_of(physical_id: str) -> str | None:
    match = _ID.fullmatch(physical_id)
    return match.group(1) if match else None


class ScheduleOwner(StackBinding):
    """A schedule name belongs to the stack whose StackId its stored item carries."""

    def refusal(self, request: Request) -> str | None:
        name = name_of(request.physical_id) if request.request_type == "Delete" else str(request.props["Name"])
        if name is None:
            return None
        stored = ScheduleStore.beside(request.state).get(name)
        if stored is None or stored.stack_id == request.stack_id:
            return None
        return (f"schedule {name!r} belongs to stack {stored.stack_id} ({stored.logical_id}), not to the "
                f"requesting stack {request.stack_id}")


class Schedule(ResourceType):
    resource_type = RESOURCE_TYPE
    schema = Schema((
        Prop("Name", "str", "The schedule's name, as resources name it in their caretaker:schedule tag.",
             required=True, replaces=True, pattern=NAME_PATTERN,
             pattern_hint="of 1 to 64 characters A-Z a-z 0-9 _ . - (starting with a letter or digit)"),
        Prop("Timezone", "str", "IANA time zone of the periods' times, e.g. Europe/Berlin.", required=True,
             length=(1, 64)),
        Prop("Periods", "objects", "Periods: days (e.g. mon-fri), start and/or stop (HH:MM); without start "
                                   "stop-only, without stop start-only.", required=True, length=(1, MAX_PERIODS)),
    ))
    binding: ClassVar[StackBinding | None] = ScheduleOwner()
    resumable = True  # works from the stored item as it is now

    def owns(self, physical_id: str) -> bool:
        return name_of(physical_id) is not None

    def create(self, request: Request) -> Result:
        name = str(request.props["Name"])
        return self._store(request, name, f"{ID_PREFIX}{name}:{uuid.uuid4().hex[:12]}")

    def update(self, request: Request) -> Result:
        name = str(request.props["Name"])
        if name_of(request.physical_id) != name:
            return self.create(request)  # a new name is a new resource; CloudFormation deletes the old one
        return self._store(request, name, request.physical_id)

    def delete(self, request: Request) -> Result:
        name = name_of(request.physical_id) or ""
        schedules = ScheduleStore.beside(request.state)
        stored = schedules.get(name)
        if stored is None:
            return Result(request.physical_id, note=f"schedule {name!r} was already gone")
        if stored.physical_id != request.physical_id:
            return Result(request.physical_id, note=f"schedule {name!r} is held by {stored.physical_id} "
                                                    f"({stored.logical_id}) now; it was left as it is")
        request.act(f"schedule:{name}", "delete-schedule",
                    lambda: schedules.delete(name, stored.version),
                    reason=f"{request.logical_id} in {request.stack_name} deleted")
        return Result(request.physical_id, note=f"schedule {name!r} removed")

    @staticmethod
    def _store(request: Request, name: str, physical_id: str) -> Result:
        try:
            schedule = parse_schedule(name, {"timezone": request.props["Timezone"],
                                             "periods": [dict(p) for p in request.props["Periods"]]})
        except ScheduleError as exc:
            raise ProviderError(f"invalid schedule: {exc}") from exc
        schedules = ScheduleStore.beside(request.state)
        stored = schedules.get(name)
        config = schedule.as_config()
        request.act(f"schedule:{name}", "store-schedule",
                    lambda: schedules.put(name, config, stack_id=request.stack_id,
                                      logical_id=request.logical_id, physical_id=physical_id,
                                      at=iso(request.now()), expected_version=stored.version if stored else 0),
                    reason=f"{request.request_type} of {request.logical_id} in {request.stack_name}",
                    details={"physical_id": physical_id, "schedule": config})
        return Result(physical_id, data={"Name": name})


handler = Provider(SPEC, Schedule())
