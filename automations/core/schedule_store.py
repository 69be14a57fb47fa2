"""Schedules that application teams declare (`Custom::Schedule`), kept in the state table.

One item per schedule name (`pk = SCHEDULES`, `sk = <name>`, no TTL: it lives as long as the stack that
declared it), a versioned record holding the schedule in its JSON shape (`timezone`, `periods`) and the
stack that owns the name (its full `StackId`, the resource's logical and physical ids). `Custom::Schedule`
writes and deletes them; `instance-scheduler` reads them all with one Query beside the operator's
`schedules` setting (the setting wins on a shared name). Built like every store:
`ScheduleStore.beside(state)`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from automations.core import state_schema as schema
from automations.core.store import TableStore, key_of

PARTITION = "SCHEDULES"
ITEM_TYPE = "schedule"


@dataclass(frozen=True)
class StoredSchedule:
    name: str
    #: the schedule as declared, in the setting's JSON shape: {"timezone": ..., "periods": [...]}
    config: Mapping[str, Any]
    stack_id: str
    logical_id: str
    physical_id: str
    version: int

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> StoredSchedule:
        return cls(name=str(item[schema.SORT_KEY]), config=dict(item.get("config") or {}),
                   stack_id=str(item.get("stack_id", "")), logical_id=str(item.get("logical_id", "")),
                   physical_id=str(item.get("physical_id", "")), version=int(item.get("version", 0)))


class ScheduleStore(TableStore):
    what = "schedules"

    def get(self, name: str) -> StoredSchedule | None:
        item, _ = self.get_versioned(key_of(PARTITION, name), what=f"schedule {name!r}")
        return StoredSchedule.from_item(item) if item is not None else None

    def put(self, name: str, config: Mapping[str, Any], *, stack_id: str, logical_id: str, physical_id: str,
            at: str, expected_version: int) -> int:
        """Store the schedule if the item is still at `expected_version` (0: none yet); `VersionConflict` if not."""
        attributes = {"type": ITEM_TYPE, "config": dict(config), "stack_id": stack_id, "logical_id": logical_id,
                      "physical_id": physical_id, "updated_at": at}
        return self.put_versioned(key_of(PARTITION, name), attributes, expected_version, what=f"schedule {name!r}")

    def delete(self, name: str, expected_version: int) -> None:
        self.delete_versioned(key_of(PARTITION, name), expected_version, what=f"schedule {name!r}")

    def read_all(self) -> list[StoredSchedule]:
        """Every stored schedule (one paginated Query), by name."""
        return sorted((StoredSchedule.from_item(item) for item in self.query_partition(PARTITION)),
                      key=lambda s: s.name)
