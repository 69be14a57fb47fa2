"""Two-phase pending records in the state log: what an automation found and will act on later.

One item per (automation, resource): `pk = PENDING#<automation>`, `sk = <resource_id>`, so one
Query returns everything an automation is waiting on. A record is in one of two stages:

- `seen`: the resource was sighted in a state that may qualify later; only `first_seen` matters
  (AWS keeps no "unassociated since" date for an Elastic IP, for example, so the age counts from it).
- `pending`: the resource qualifies and was announced; it is acted on from `due` on, if it still
  qualifies then.

`dry_run` says whether the record was written by an audit run (nothing was tagged in AWS).
Writes and deletes are buffered and sent with BatchWriteItem (25 per call); a failure raises
`StateLogError`. See docs/state-log.md.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from automations.core import state_schema as schema
from automations.core.codec import iso, parse_iso, serialize
from automations.core.store import BATCH_SIZE, TableStore, key_of, query_items

if TYPE_CHECKING:
    from types_boto3_dynamodb.client import DynamoDBClient

PREFIX = "PENDING#"
STAGES = ("seen", "pending")


def partition(automation: str) -> str:
    return PREFIX + automation


@dataclass(frozen=True)
class PendingRecord:
    resource_id: str
    stage: str  # "seen" | "pending"
    first_seen: datetime
    reason: str
    dry_run: bool
    run_id: str  # the run that wrote this version of the record
    due: datetime | None = None  # only for stage "pending"
    details: Mapping[str, Any] = field(default_factory=dict)
    written_at: datetime | None = None
    expires_at: int | None = None

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise ValueError(f"pending stage must be one of {STAGES}, got {self.stage!r}")
        if self.stage == "pending" and self.due is None:
            raise ValueError(f"{self.resource_id}: a pending record needs a due date")

    @property
    def is_pending(self) -> bool:
        return self.stage == "pending"

    def is_due(self, now: datetime) -> bool:
        return self.due is not None and self.due <= now

    def with_changes(self, **changes: Any) -> PendingRecord:
        return replace(self, **changes)


class PendingStore(TableStore):
    """Reads and writes one automation's pending records. Thread-safe buffering."""

    what = "pending records"
    requires_table = "pending records cannot be kept"

    def _opened(self) -> None:
        self._buffer: dict[str, dict[str, Any]] = {}  # resource id -> write request (last one wins)
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ reading

    def load(self) -> dict[str, PendingRecord]:
        """Every record of this automation, by resource id (strongly consistent, paginated)."""
        records = (from_item(item) for item in self.query_partition(partition(self.automation)))
        return {record.resource_id: record for record in records}

    # ------------------------------------------------------------------ writing (buffered)

    def put(self, record: PendingRecord) -> PendingRecord:
        """Buffer a write of the record (stamped with this run and a fresh expiry); returns it stamped."""
        now = self.clock()
        stamped = record.with_changes(run_id=self.run_id, written_at=now,
                                      expires_at=self._expires_at(record, now))
        self._buffered(record.resource_id, {"PutRequest": {"Item": serialize(to_item(self.automation, stamped))}})
        return stamped

    def remove(self, resource_id: str) -> None:
        self._buffered(resource_id, {"DeleteRequest": {"Key": serialize(key_of(partition(self.automation),
                                                                                 resource_id))}})

    def needs_refresh(self, record: PendingRecord, now: datetime) -> bool:
        """True when less than half the TTL is left: rewrite it so TTL never drops a live record."""
        if record.expires_at is None:
            return True
        return record.expires_at - now.timestamp() < self.ttl_days * 86400 / 2

    def _expires_at(self, record: PendingRecord, now: datetime) -> int:
        base = max(now, record.due) if record.due else now
        return int((base + timedelta(days=self.ttl_days)).timestamp())

    def _buffered(self, resource_id: str, request: dict[str, Any]) -> None:
        with self._lock:
            self._buffer[resource_id] = request
            ready = len(self._buffer) >= BATCH_SIZE
        if ready:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            requests, self._buffer = list(self._buffer.values()), {}
        self.write_requests(requests)


# ---------------------------------------------------------------------- item mapping


def to_item(automation: str, record: PendingRecord) -> dict[str, Any]:
    return {
        **key_of(partition(automation), record.resource_id),
        schema.TTL_ATTRIBUTE: record.expires_at,
        "type": "pending",
        "automation": automation,
        "resource_id": record.resource_id,
        "stage": record.stage,
        "first_seen": iso(record.first_seen),
        "due": iso(record.due) if record.due else None,
        "reason": record.reason,
        "dry_run": record.dry_run,
        "run_id": record.run_id,
        "at": iso(record.written_at) if record.written_at else None,
        "details": dict(record.details) if record.details else None,
    }


def from_item(item: Mapping[str, Any]) -> PendingRecord:
    return PendingRecord(
        resource_id=str(item[schema.SORT_KEY]),
        stage=str(item.get("stage", "pending")),
        first_seen=parse_iso(str(item["first_seen"])),
        reason=str(item.get("reason", "")),
        dry_run=bool(item.get("dry_run", False)),
        run_id=str(item.get("run_id", "")),
        due=parse_iso(str(item["due"])) if item.get("due") else None,
        details=dict(item.get("details") or {}),
        written_at=parse_iso(str(item["at"])) if item.get("at") else None,
        expires_at=int(item[schema.TTL_ATTRIBUTE]) if item.get(schema.TTL_ATTRIBUTE) is not None else None,
    )


def pending_items(client: DynamoDBClient, table: str, automation: str) -> list[dict[str, Any]]:
    """What an automation is waiting on, as plain items (for reports and tests)."""
    return query_items(client, table, partition(automation))
