"""The DynamoDB state log: runs, actions (write-ahead), run-time configuration.

One table; keys in `state_schema` and docs/state-log.md. The DynamoDB client is
injected. Write-ahead `planned` records are written at once (durable before the
action); outcomes and skips are buffered and written with BatchWriteItem.
Any failure to write raises `StateLogError`: callers must then not act. An item too large for
DynamoDB is written with its largest fields cut (`item_limits.fit_item`), never dropped.
Versioned records (`put_versioned`) are the items that concurrent writers read, change and
write back; a lost race raises `VersionConflict` instead.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from automations.core import state_schema as schema
from automations.core.codec import Clock, deserialize, iso, serialize, utcnow
from automations.core.errors import StateLogError
from automations.core.item_limits import resource_key
from automations.core.store import BATCH_SIZE, TableStore, conditional_failed, key_of

#: What a checkpoint carries to the next invocation (one item; DynamoDB's limit is 400 KB).
MAX_CARRIED_BYTES = 300_000

#: Names other modules import from here (the codec moved to `codec.py`, the base to `store.py`).
__all__ = ["BATCH_SIZE", "MAX_CARRIED_BYTES", "ActionRecord", "Clock", "RunCounts", "StateLog",
           "conditional_failed", "deserialize", "iso", "new_run_id", "serialize", "utcnow"]


def new_run_id(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:8]


def _new_action_id(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y%m%dT%H%M%S%f") + "-" + uuid.uuid4().hex[:8]


@dataclass(frozen=True)
class ActionRecord:
    """A `planned` action, written before the AWS call it announces."""

    action_id: str
    resource_id: str
    action: str
    reason: str
    at: str
    dry_run: bool
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class RunCounts:
    planned: int = 0
    succeeded: int = 0
    failed: int = 0
    skipped: int = 0

    def add(self, outcome: str) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)

    def as_dict(self) -> dict[str, int]:
        return {"planned": self.planned, "succeeded": self.succeeded, "failed": self.failed,
                "skipped": self.skipped}

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> RunCounts:
        """The counts a run summary item holds (0 for those it lacks)."""
        return cls(**{k: int(item.get(k, 0)) for k in cls().as_dict()})

    @classmethod
    def of_records(cls, items: Iterable[Mapping[str, Any]]) -> RunCounts:
        """The counts of a run's action records, by outcome (what its summary must say)."""
        counts = cls()
        for item in items:
            if item.get("type") == "action" and item.get("outcome") in schema.OUTCOMES:
                counts.add(str(item["outcome"]))
        return counts


class StateLog(TableStore):
    """Writes one run's records. Thread-safe: actions may run concurrently."""

    what = "run records"
    requires_table = "there is nowhere to record actions, so Caretaker will not act"

    def _opened(self) -> None:
        self.counts = RunCounts()
        #: buffered records whose write failed (lost; `finish_run` says so in the summary)
        self.unwritten = 0
        self._buffer: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ items

    def _action_item(self, *, action_id: str, phase: int, resource_id: str, action: str, outcome: str,
                     reason: str, dry_run: bool, at: datetime, details: Mapping[str, Any] | None) -> dict[str, Any]:
        stamp = iso(at)
        return {
            schema.PARTITION_KEY: f"RUN#{self.run_id}",
            schema.SORT_KEY: f"ACT#{action_id}#{phase}",
            schema.BY_RESOURCE_PK: resource_key(resource_id),
            schema.BY_RESOURCE_SK: f"{stamp}#{self.run_id}#{phase}",
            schema.TTL_ATTRIBUTE: self.expires_at(at),
            "type": "action",
            "automation": self.automation,
            "run_id": self.run_id,
            "action_id": action_id,
            "resource_id": resource_id,
            "action": action,
            "outcome": outcome,
            "dry_run": dry_run,
            "reason": reason,
            "at": stamp,
            "details": dict(details) if details else None,
        }

    # ------------------------------------------------------------------ runs

    @property
    def _summary_key(self) -> dict[str, str]:
        return key_of(f"RUN#{self.run_id}", "SUMMARY")

    def start_run(self, **attributes: Any) -> None:
        at = self.clock()
        stamp = iso(at)
        item = {
            **self._summary_key,
            schema.RUNS_BY_DAY_PK: f"RUNS#{stamp[:10]}",
            schema.RUNS_BY_DAY_SK: f"{stamp}#{self.run_id}",
            schema.TTL_ATTRIBUTE: self.expires_at(at),
            "type": "run",
            "automation": self.automation,
            "run_id": self.run_id,
            "status": "running",
            "started_at": stamp,
            "at": stamp,
            **attributes,
        }
        self.put_item(item)

    def finish_run(self, status: str, *, accumulate: bool = False, **attributes: Any) -> dict[str, Any]:
        """Record the run's end. `accumulate`: this invocation's counts are *added* to the summary's (a run
        that continued over several invocations); returns the summary as written.

        The summary is ended even when the buffered records cannot be written: it is then `failed`, says
        how many records were lost and why (`unwritten`, `error`), and the write's `StateLogError` is
        raised after it."""
        lost: StateLogError | None = None
        try:
            self.flush()
        except StateLogError as exc:
            lost = exc
        values = {"status": status, "ended_at": iso(self.clock()), **attributes}
        if lost is not None:
            problem = f"{self.unwritten} outcome records could not be written: {lost}"
            values.update(status="failed", unwritten=self.unwritten,
                          error="; ".join(str(e) for e in (attributes.get("error"), problem) if e))
        if not accumulate:
            values.update(self.counts.as_dict())
        summary = self._update_summary(values, add=self.counts.as_dict() if accumulate else None)
        if lost is not None:
            raise lost
        return summary

    def annotate(self, **attributes: Any) -> None:
        """Set attributes on the run summary now (not buffered), e.g. the response a provider sends."""
        self._update_summary(attributes)

    def summary(self) -> dict[str, Any] | None:
        """The run summary as stored (consistent read), or None when the run was never started."""
        return self.get_item(self._summary_key)

    def _update_summary(self, values: Mapping[str, Any], *, add: Mapping[str, int] | None = None,
                        condition: str | None = None, condition_values: Mapping[str, Any] | None = None,
                        condition_names: Mapping[str, str] | None = None) -> dict[str, Any]:
        return self.update_item(self._summary_key, values, add=add, condition=condition,
                                condition_names=condition_names,
                           condition_values=condition_values, fit=True)

    # ------------------------------------------------------------------ continuation (several invocations)

    def claim_run(self, *, holder: str, lease_until: int, request_id: str | None) -> dict[str, Any] | None:
        """Take a continued run for this invocation (conditional write). Returns the summary, or None when
        the run is finished, or held by a live invocation (a duplicate delivery): then do nothing."""
        now = int(self.clock().timestamp())
        try:
            return self._update_summary(
                {"status": "running", "holder": holder, "lease_until": lease_until, "request_id": request_id},
                add={"invocations": 1},
                condition=(f"attribute_exists({schema.PARTITION_KEY}) AND "
                           "(#cs = :continued OR (#cs = :running AND #cl < :now))"),
                condition_names={"#cs": "status", "#cl": "lease_until"},
                condition_values={":continued": "continued", ":running": "running", ":now": now})
        except StateLogError as exc:
            if conditional_failed(exc):
                return None
            raise

    def checkpoint_run(self, *, holder: str, progress: Mapping[str, Any], phase: str,
                       remaining: Sequence[str], chunk_size: int, invocation: int,
                       carried: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Persist the remaining work (chunked items), what the handler carries to the next invocation
        (one item, JSON) and the progress; add this invocation's counts and mark the run `continued`.
        Conditional on this invocation still holding the run."""
        self.flush()
        at = self.clock()
        base = {schema.TTL_ATTRIBUTE: self.expires_at(at), "type": "continuation", "automation": self.automation,
                "run_id": self.run_id, "phase": phase, "at": iso(at)}
        items = [{
            **key_of(f"RUN#{self.run_id}", f"CONT#{invocation:04d}#{n:04d}"),
            **base, "keys": list(remaining[start:start + chunk_size]),
        } for n, start in enumerate(range(0, len(remaining), chunk_size))]
        if carried:
            text = json.dumps(carried, sort_keys=True, default=str)
            size = len(text.encode())
            if size > MAX_CARRIED_BYTES:
                raise StateLogError(f"what the run carries to its next invocation is {size} bytes "
                                    f"(> {MAX_CARRIED_BYTES}): a handler must cap what it carries")
            items.append({**key_of(f"RUN#{self.run_id}", f"CONT#{invocation:04d}#carried"), **base, "carried": text})
        self.put_items(items)
        summary = self._update_summary(
            {"status": "continued", "checkpoint": dict(progress), "checkpoint_at": iso(at)},
            add=self.counts.as_dict(),
            condition="#ch = :holder", condition_names={"#ch": "holder"}, condition_values={":holder": holder})
        self.counts = RunCounts()  # added to the summary: the next write adds only what follows
        return summary

    def remaining_work(self, invocation: int) -> tuple[list[str], dict[str, Any]]:
        """The remaining-work keys a checkpoint of `invocation` wrote, in order, and what it carried to the
        next invocation (one paginated Query)."""
        items = self.query_partition(f"RUN#{self.run_id}", sort_prefix=f"CONT#{invocation:04d}#")
        keys = [str(key) for item in items for key in item.get("keys", [])]
        carried: dict[str, Any] = next((json.loads(str(item["carried"])) for item in items if "carried" in item), {})
        return keys, carried

    # ------------------------------------------------------------------ actions

    def plan(self, resource_id: str, action: str, reason: str, *, dry_run: bool,
             details: Mapping[str, Any] | None = None) -> ActionRecord:
        """Write a `planned` record now (durable before the action)."""
        return self.plan_many([(resource_id, reason, details)], action, dry_run=dry_run)[0]

    def plan_many(self, targets: Sequence[tuple[str, str, Mapping[str, Any] | None]], action: str, *,
                  dry_run: bool) -> list[ActionRecord]:
        """Write `planned` records for several resources acted on by one call; durable on return."""
        at = self.clock()
        records = [ActionRecord(_new_action_id(at), rid, action, reason, iso(at), dry_run, details or {})
                   for rid, reason, details in targets]
        items = [self._action_item(action_id=r.action_id, phase=1, resource_id=r.resource_id, action=action,
                                   outcome="planned", reason=r.reason, dry_run=dry_run, at=at,
                                   details=r.details) for r in records]
        if len(items) == 1:
            self.put_item(items[0])
        else:
            self.put_items(items)
        with self._lock:
            for _ in records:
                self.counts.add("planned")
        return records

    def outcome(self, record: ActionRecord, outcome: str, reason: str | None = None,
                details: Mapping[str, Any] | None = None) -> None:
        """Record what happened to a planned action (buffered)."""
        if outcome not in ("succeeded", "failed", "skipped"):
            raise ValueError(f"not an outcome: {outcome!r}")
        merged = {**record.details, **(details or {})}
        item = self._action_item(action_id=record.action_id, phase=2, resource_id=record.resource_id,
                                 action=record.action, outcome=outcome, reason=reason or record.reason,
                                 dry_run=record.dry_run, at=self.clock(), details=merged)
        self._buffered(item, outcome)

    def skip(self, resource_id: str, action: str, reason: str, details: Mapping[str, Any] | None = None,
             *, dry_run: bool = False) -> None:
        """Record a resource that was considered and deliberately left alone (buffered)."""
        at = self.clock()
        item = self._action_item(action_id=_new_action_id(at), phase=2, resource_id=resource_id, action=action,
                                 outcome="skipped", reason=reason, dry_run=dry_run, at=at, details=details)
        self._buffered(item, "skipped")

    def _buffered(self, item: dict[str, Any], outcome: str) -> None:
        with self._lock:
            self.counts.add(outcome)
            self._buffer.append(item)
            ready = len(self._buffer) >= BATCH_SIZE
        if ready:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            items, self._buffer = self._buffer, []
        if items:
            try:
                self.put_items(items)
            except StateLogError:
                with self._lock:
                    self.unwritten += len(items)
                raise
