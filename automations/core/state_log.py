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
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError

from automations.core import state_schema as schema
from automations.core.errors import StateLogError, VersionConflict, error_code
from automations.core.item_limits import UPDATE_LIMIT_BYTES, fit_item, resource_key

BATCH_SIZE = 25  # DynamoDB's BatchWriteItem limit
MAX_UNPROCESSED_RETRIES = 8
UNPROCESSED_BACKOFF_S = 0.05
#: What a checkpoint carries to the next invocation (one item; DynamoDB's limit is 400 KB).
MAX_CARRIED_BYTES = 300_000

_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(at: datetime) -> str:
    """ISO 8601 UTC with a Z suffix and millisecond precision."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def new_run_id(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:8]


def _new_action_id(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y%m%dT%H%M%S%f") + "-" + uuid.uuid4().hex[:8]


def serialize(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _SERIALIZER.serialize(_ddb_value(v)) for k, v in item.items() if v is not None}


def deserialize(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _plain(_DESERIALIZER.deserialize(v)) for k, v in item.items()}


def _ddb_value(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, Mapping):
        return {str(k): _ddb_value(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_ddb_value(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return [_ddb_value(v) for v in sorted(value)]
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


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


class StateLog:
    """Writes one run's records. Thread-safe: actions may run concurrently."""

    def __init__(
        self,
        table: str,
        client: Any,
        *,
        automation: str,
        run_id: str,
        ttl_days: int = 90,
        clock: Clock = utcnow,
    ) -> None:
        if not table:
            raise StateLogError("CARETAKER_STATE_TABLE is not set: there is nowhere to record actions, "
                                "so Caretaker will not act")
        self.table = table
        self.client = client
        self.automation = automation
        self.run_id = run_id
        self.ttl_days = ttl_days
        self.clock = clock
        self.counts = RunCounts()
        self.dynamodb_calls = 0
        #: buffered records whose write failed (lost; `finish_run` says so in the summary)
        self.unwritten = 0
        self._buffer: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ low level

    def _call(self, operation: str, **kwargs: Any) -> Any:
        self.dynamodb_calls += 1
        try:
            return getattr(self.client, operation)(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise StateLogError(f"state table {self.table!r} cannot be used ({operation}): {exc}") from exc

    def _expires_at(self, at: datetime) -> int:
        return int((at + timedelta(days=self.ttl_days)).timestamp())

    def _action_item(self, *, action_id: str, phase: int, resource_id: str, action: str, outcome: str,
                     reason: str, dry_run: bool, at: datetime, details: Mapping[str, Any] | None) -> dict[str, Any]:
        stamp = iso(at)
        return {
            schema.PARTITION_KEY: f"RUN#{self.run_id}",
            schema.SORT_KEY: f"ACT#{action_id}#{phase}",
            schema.BY_RESOURCE_PK: resource_key(resource_id),
            schema.BY_RESOURCE_SK: f"{stamp}#{self.run_id}#{phase}",
            schema.TTL_ATTRIBUTE: self._expires_at(at),
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

    # ------------------------------------------------------------------ config

    def mode_override(self) -> dict[str, Any] | None:
        """The run-time mode override for this automation (or for all: `*`), if any.

        One Query per invocation. The specific override wins over the global one.
        """
        response = self._call(
            "query",
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={":pk": {"S": "CONFIG"}, ":prefix": {"S": "MODE#"}},
            ConsistentRead=True,
        )
        found = {item["sk"]: item for item in map(deserialize, response.get("Items", []))}
        return found.get(f"MODE#{self.automation}") or found.get("MODE#*")

    # ------------------------------------------------------------------ runs

    @property
    def _summary_key(self) -> dict[str, str]:
        return {schema.PARTITION_KEY: f"RUN#{self.run_id}", schema.SORT_KEY: "SUMMARY"}

    def start_run(self, **attributes: Any) -> None:
        at = self.clock()
        stamp = iso(at)
        item = {
            **self._summary_key,
            schema.RUNS_BY_DAY_PK: f"RUNS#{stamp[:10]}",
            schema.RUNS_BY_DAY_SK: f"{stamp}#{self.run_id}",
            schema.TTL_ATTRIBUTE: self._expires_at(at),
            "type": "run",
            "automation": self.automation,
            "run_id": self.run_id,
            "status": "running",
            "started_at": stamp,
            "at": stamp,
            **attributes,
        }
        self._put(item)

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
        response = self._call("get_item", TableName=self.table, ConsistentRead=True, Key=serialize(self._summary_key))
        item = response.get("Item")
        return deserialize(item) if item else None

    def _update_summary(self, values: Mapping[str, Any], *, add: Mapping[str, int] | None = None,
                        condition: str | None = None, condition_values: Mapping[str, Any] | None = None,
                        condition_names: Mapping[str, str] | None = None) -> dict[str, Any]:
        values = fit_item({k: v for k, v in values.items() if v is not None}, UPDATE_LIMIT_BYTES)
        names = {f"#a{i}": k for i, k in enumerate(values)}
        expression_values = {f":v{i}": _SERIALIZER.serialize(_ddb_value(v)) for i, v in enumerate(values.values())}
        expression = "SET " + ", ".join(f"#a{i} = :v{i}" for i in range(len(values)))
        if add:
            names.update({f"#n{i}": k for i, k in enumerate(add)})
            expression_values.update({f":n{i}": {"N": str(int(v))} for i, v in enumerate(add.values())})
            expression += " ADD " + ", ".join(f"#n{i} :n{i}" for i in range(len(add)))
        extra: dict[str, Any] = {}
        if condition:
            extra["ConditionExpression"] = condition
            names.update(condition_names or {})
            expression_values.update({k: _SERIALIZER.serialize(_ddb_value(v))
                                      for k, v in (condition_values or {}).items()})
        response = self._call(
            "update_item",
            TableName=self.table,
            Key=serialize(self._summary_key),
            UpdateExpression=expression,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=expression_values,
            ReturnValues="ALL_NEW",
            **extra,
        )
        return deserialize(response.get("Attributes", {}))

    # ------------------------------------------------------------------ continuation (several invocations)

    def claim_run(self, *, holder: str, lease_until: int, request_id: str | None) -> dict[str, Any] | None:
        """Take a continued run for this invocation (conditional write). Returns the summary, or None when
        the run is finished, or held by a live invocation (a duplicate delivery): then do nothing."""
        now = int(self.clock().timestamp())
        try:
            return self._update_summary(
                {"status": "running", "holder": holder, "lease_until": lease_until, "request_id": request_id},
                add={"invocations": 1},
                condition="attribute_exists(pk) AND (#cs = :continued OR (#cs = :running AND #cl < :now))",
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
        base = {schema.TTL_ATTRIBUTE: self._expires_at(at), "type": "continuation", "automation": self.automation,
                "run_id": self.run_id, "phase": phase, "at": iso(at)}
        items = [{
            schema.PARTITION_KEY: f"RUN#{self.run_id}",
            schema.SORT_KEY: f"CONT#{invocation:04d}#{n:04d}",
            **base, "keys": list(remaining[start:start + chunk_size]),
        } for n, start in enumerate(range(0, len(remaining), chunk_size))]
        if carried:
            text = json.dumps(carried, sort_keys=True, default=str)
            size = len(text.encode())
            if size > MAX_CARRIED_BYTES:
                raise StateLogError(f"what the run carries to its next invocation is {size} bytes "
                                    f"(> {MAX_CARRIED_BYTES}): a handler must cap what it carries")
            items.append({schema.PARTITION_KEY: f"RUN#{self.run_id}", schema.SORT_KEY: f"CONT#{invocation:04d}#carried",
                          **base, "carried": text})
        self._batch_write(items)
        summary = self._update_summary(
            {"status": "continued", "checkpoint": dict(progress), "checkpoint_at": iso(at)},
            add=self.counts.as_dict(),
            condition="#ch = :holder", condition_names={"#ch": "holder"}, condition_values={":holder": holder})
        self.counts = RunCounts()  # added to the summary: the next write adds only what follows
        return summary

    def remaining_work(self, invocation: int) -> tuple[list[str], dict[str, Any]]:
        """The remaining-work keys a checkpoint of `invocation` wrote, in order, and what it carried to the
        next invocation (one paginated Query)."""
        self.dynamodb_calls += 1
        try:
            items = _query_all(self.client, TableName=self.table, ConsistentRead=True,
                               KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
                               ExpressionAttributeValues={":pk": {"S": f"RUN#{self.run_id}"},
                                                          ":prefix": {"S": f"CONT#{invocation:04d}#"}})
        except (ClientError, BotoCoreError) as exc:
            raise StateLogError(f"state table {self.table!r} cannot be used (query): {exc}") from exc
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
            self._put(items[0])
        else:
            self._batch_write(items)
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
                self._batch_write(items)
            except StateLogError:
                with self._lock:
                    self.unwritten += len(items)
                raise

    def _put(self, item: Mapping[str, Any]) -> None:
        self._call("put_item", TableName=self.table, Item=serialize(fit_item(item)))

    def _batch_write(self, items: Iterable[dict[str, Any]]) -> None:
        write_batches(self._call, self.table,
                      [{"PutRequest": {"Item": serialize(fit_item(item))}} for item in items])


def write_batches(call: Callable[..., Any], table: str, requests: Sequence[Mapping[str, Any]],
                  what: str = "records") -> None:
    """BatchWriteItem in chunks of 25, retrying unprocessed items with a bounded backoff.

    `call(operation, **kwargs)` makes the DynamoDB call (the caller counts calls and turns AWS errors
    into `StateLogError`); items still unprocessed after the retries raise `StateLogError`.
    """
    for start in range(0, len(requests), BATCH_SIZE):
        chunk = list(requests[start:start + BATCH_SIZE])
        for attempt in range(MAX_UNPROCESSED_RETRIES + 1):
            response = call("batch_write_item", RequestItems={table: chunk})
            chunk = response.get("UnprocessedItems", {}).get(table, [])
            if not chunk:
                break
            time.sleep(UNPROCESSED_BACKOFF_S * (2 ** attempt))
        else:
            raise StateLogError(f"state table {table!r}: {len(chunk)} {what} stayed unprocessed "
                                f"after {MAX_UNPROCESSED_RETRIES} retries")


def conditional_failed(exc: StateLogError) -> bool:
    """Whether a StateLogError comes from a failed ConditionExpression."""
    cause = exc.__cause__
    return isinstance(cause, ClientError) and \
        error_code(cause) == "ConditionalCheckFailedException"


# ---------------------------------------------------------------------- versioned records

#: The counter of a versioned record: 1 after its first write, one more after each write.
VERSION_ATTRIBUTE = "version"


def get_versioned(client: Any, table: str, key: Mapping[str, Any], *,
                  what: str = "record") -> tuple[dict[str, Any] | None, int]:
    """A versioned record (strongly consistent read) and its version; (None, 0) when there is none."""
    try:
        item = client.get_item(TableName=table, Key=serialize(key), ConsistentRead=True).get("Item")
    except (ClientError, BotoCoreError) as exc:
        raise StateLogError(f"state table {table!r} cannot be read ({what}): {exc}") from exc
    if not item:
        return None, 0
    plain = deserialize(item)
    return plain, int(plain[VERSION_ATTRIBUTE])


def put_versioned(client: Any, table: str, key: Mapping[str, Any], attributes: Mapping[str, Any],
                  expected_version: int, *, what: str = "record") -> int:
    """Write the record `key` + `attributes` (one PutItem) if it is still at `expected_version`, as read
    (0: there must be none yet); returns its new version, `expected_version + 1` (set here: a `version`
    in `attributes` is replaced). Another writer got there first: `VersionConflict`, nothing written;
    any other failure: `StateLogError`. `what` names the record in errors."""
    version = expected_version + 1
    item = {**key, **attributes, VERSION_ATTRIBUTE: version}
    _write_versioned(client.put_item, table, what, expected_version, Item=serialize(item))
    return version


def delete_versioned(client: Any, table: str, key: Mapping[str, Any], expected_version: int, *,
                     what: str = "record") -> None:
    """Delete the record `key` if it is still at `expected_version`; errors as `put_versioned`."""
    _write_versioned(client.delete_item, table, what, expected_version, Key=serialize(key))


def _write_versioned(operation: Callable[..., Any], table: str, what: str, expected_version: int,
                     **kwargs: Any) -> None:
    condition: dict[str, Any] = (
        {"ConditionExpression": "attribute_not_exists(#pk)",
         "ExpressionAttributeNames": {"#pk": schema.PARTITION_KEY}} if expected_version == 0 else
        {"ConditionExpression": "#version = :version", "ExpressionAttributeNames": {"#version": VERSION_ATTRIBUTE},
         "ExpressionAttributeValues": {":version": {"N": str(expected_version)}}})
    try:
        operation(TableName=table, **kwargs, **condition)
    except ClientError as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            raise VersionConflict(f"the {what} in state table {table!r} was changed by another writer "
                                  f"since version {expected_version} was read") from exc
        raise StateLogError(f"state table {table!r} cannot be written ({what}): {exc}") from exc
    except BotoCoreError as exc:
        raise StateLogError(f"state table {table!r} cannot be written ({what}): {exc}") from exc


# ---------------------------------------------------------------------- reading


def _query_all(client: Any, **kwargs: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for page in client.get_paginator("query").paginate(**kwargs):
        items.extend(deserialize(i) for i in page.get("Items", []))
    return items


def run_items(client: Any, table: str, run_id: str) -> list[dict[str, Any]]:
    """A run's summary and all its action records, in order."""
    return _query_all(client, TableName=table, KeyConditionExpression="pk = :pk",
                      ExpressionAttributeValues={":pk": {"S": f"RUN#{run_id}"}})


def resource_history(client: Any, table: str, resource_id: str) -> list[dict[str, Any]]:
    """Everything Caretaker recorded about one resource, oldest first."""
    return _query_all(client, TableName=table, IndexName=schema.BY_RESOURCE_INDEX,
                      KeyConditionExpression="gsi2pk = :pk",
                      ExpressionAttributeValues={":pk": {"S": resource_key(resource_id)}})


def runs_since(client: Any, table: str, since: datetime, until: datetime | None = None) -> list[dict[str, Any]]:
    """Run summaries started at or after `since`, oldest first (one Query per day)."""
    until = until or utcnow()
    runs: list[dict[str, Any]] = []
    day = since.astimezone(UTC).date()
    while day <= until.astimezone(UTC).date():
        runs.extend(_query_all(
            client, TableName=table, IndexName=schema.RUNS_BY_DAY_INDEX,
            KeyConditionExpression="gsi1pk = :pk AND gsi1sk >= :since",
            ExpressionAttributeValues={":pk": {"S": f"RUNS#{day.isoformat()}"}, ":since": {"S": iso(since)}},
        ))
        day += timedelta(days=1)
    return runs


def close_abandoned_run(client: Any, table: str, run_id: str, *, reason: str, at: datetime) -> bool:
    """End a run summary that is still `running` although its invocation is over (Lambda's timeout, a crash):
    `failed`, with `reason` as its error. Conditional: a run that finished (or was resumed) meanwhile is left
    alone (returns False). Used by the trigger-health canary."""
    key = {schema.PARTITION_KEY: f"RUN#{run_id}", schema.SORT_KEY: "SUMMARY"}
    try:
        client.update_item(
            TableName=table, Key=serialize(key),
            UpdateExpression="SET #s = :failed, #e = :reason, #ended = :at, #closed = :true",
            ConditionExpression="#s = :running",
            ExpressionAttributeNames={"#s": "status", "#e": "error", "#ended": "ended_at", "#closed": "abandoned"},
            ExpressionAttributeValues={":failed": {"S": "failed"}, ":running": {"S": "running"},
                                       ":reason": {"S": reason}, ":at": {"S": iso(at)}, ":true": {"BOOL": True}})
    except ClientError as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            return False
        raise StateLogError(f"run {run_id} cannot be closed in {table!r}: {exc}") from exc
    except BotoCoreError as exc:
        raise StateLogError(f"run {run_id} cannot be closed in {table!r}: {exc}") from exc
    return True


def set_mode_override(client: Any, table: str, automation: str, mode: str | None, *, by: str,
                      reason: str, clock: Clock = utcnow) -> None:
    """Set (or with mode=None, clear) the run-time mode of one automation or of all (`*`)."""
    key = {schema.PARTITION_KEY: "CONFIG", schema.SORT_KEY: f"MODE#{automation}"}
    try:
        if mode is None:
            client.delete_item(TableName=table, Key=serialize(key))
        else:
            client.put_item(TableName=table, Item=serialize(
                {**key, "type": "config", "mode": mode, "set_by": by, "reason": reason, "at": iso(clock())}))
    except (ClientError, BotoCoreError) as exc:
        raise StateLogError(f"state table {table!r} cannot be written: {exc}") from exc
