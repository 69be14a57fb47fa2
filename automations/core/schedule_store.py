"""Schedules that application teams declare (`Custom::Schedule`), kept in the state table.

One item per schedule name (`pk = SCHEDULES`, `sk = <name>`, no TTL: it lives as long as the stack that
declared it), a versioned record (`state_log.put_versioned`) holding the schedule in its JSON shape
(`timezone`, `periods`) and the stack that owns the name (its full `StackId`, the resource's logical
and physical ids). `Custom::Schedule` writes and deletes them; `instance-scheduler` reads them all with
one Query beside the operator's `schedules` setting (the setting wins on a shared name).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from automations.core import state_schema as schema
from automations.core.errors import StateLogError
from automations.core.state_log import delete_versioned, deserialize, get_versioned, put_versioned

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


def key(name: str) -> dict[str, str]:
    return {schema.PARTITION_KEY: PARTITION, schema.SORT_KEY: name}


def get(client: Any, table: str, name: str) -> StoredSchedule | None:
    item, _ = get_versioned(client, table, key(name), what=f"schedule {name!r}")
    return StoredSchedule.from_item(item) if item is not None else None


def put(client: Any, table: str, name: str, config: Mapping[str, Any], *, stack_id: str, logical_id: str,
        physical_id: str, at: str, expected_version: int) -> int:
    """Store the schedule if the item is still at `expected_version` (0: none yet); `VersionConflict` if not."""
    attributes = {"type": ITEM_TYPE, "config": dict(config), "stack_id": stack_id, "logical_id": logical_id,
                  "physical_id": physical_id, "updated_at": at}
    return put_versioned(client, table, key(name), attributes, expected_version, what=f"schedule {name!r}")


def delete(client: Any, table: str, name: str, expected_version: int) -> None:
    delete_versioned(client, table, key(name), expected_version, what=f"schedule {name!r}")


def read_all(client: Any, table: str) -> list[StoredSchedule]:
    """Every stored schedule (one paginated Query), by name."""
    found: list[StoredSchedule] = []
    try:
        pages = client.get_paginator("query").paginate(
            TableName=table, KeyConditionExpression="#pk = :pk", ExpressionAttributeNames={"#pk": schema.PARTITION_KEY},
            ExpressionAttributeValues={":pk": {"S": PARTITION}}, ConsistentRead=True)
        for page in pages:
            found.extend(StoredSchedule.from_item(deserialize(item)) for item in page.get("Items", []))
    except (ClientError, BotoCoreError) as exc:
        raise StateLogError(f"state table {table!r} cannot be read (schedules): {exc}") from exc
    return sorted(found, key=lambda s: s.name)
