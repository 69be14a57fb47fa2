"""The one persistence base of the state table (a template method, as powertools' idempotency
`BasePersistenceLayer`): `TableStore` owns the DynamoDB client, the error wrapping (every failure is a
`StateLogError`, a lost race a `VersionConflict`), paginated queries, batched writes, conditional
updates (one UpdateExpression builder), versioned records and the codec (`codec.py`).

A store (`StateLog`, `PendingStore`, `RotationStore`, `TokenLog`, `Lineage`) supplies only its key layout
and its item mapping. Every store is built the same way: `Store(table, client, *, automation, run_id,
ttl_days=, clock=, ...)`, or `Store.beside(state, ...)` on the table, client, run and clock of a run's
state log. Keys come from `state_schema`; see docs/state-log.md.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Self, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from automations.core import state_schema as schema
from automations.core.codec import Clock, attribute_value, deserialize, serialize, utcnow
from automations.core.errors import StateLogError, VersionConflict, error_code
from automations.core.item_limits import UPDATE_LIMIT_BYTES, fit_item

if TYPE_CHECKING:
    from types_boto3_dynamodb.client import DynamoDBClient
    from types_boto3_dynamodb.type_defs import BatchWriteItemOutputTypeDef

    from automations.core.state_log import StateLog

BATCH_SIZE = 25  # DynamoDB's BatchWriteItem limit
MAX_UNPROCESSED_RETRIES = 8
UNPROCESSED_BACKOFF_S = 0.05
#: The counter of a versioned record: 1 after its first write, one more after each write.
VERSION_ATTRIBUTE = "version"
CONDITION_FAILED = "ConditionalCheckFailedException"

R = TypeVar("R")


def key_of(partition: str, sort: str) -> dict[str, str]:
    return {schema.PARTITION_KEY: partition, schema.SORT_KEY: sort}


def key_condition(*, index: str | None = None, sort_prefix: bool = False, sort_from: bool = False) -> str:
    """The KeyConditionExpression on a partition (`:pk`), optionally a sort key prefix or lower bound (`:sk`)."""
    pk, sk = next(((p, s) for name, p, s in schema.INDEXES if name == index),
                  (schema.PARTITION_KEY, schema.SORT_KEY))
    if sort_prefix:
        return f"{pk} = :pk AND begins_with({sk}, :sk)"
    if sort_from:
        return f"{pk} = :pk AND {sk} >= :sk"
    return f"{pk} = :pk"


def update_expression(values: Mapping[str, Any], add: Mapping[str, int] | None = None) -> dict[str, Any]:
    """`SET` every attribute of `values` and `ADD` every counter of `add`: the UpdateExpression with its
    names and values (serialized), ready for `update_item`."""
    names = {f"#a{i}": k for i, k in enumerate(values)}
    expression_values = {f":v{i}": attribute_value(v) for i, v in enumerate(values.values())}
    expression = "SET " + ", ".join(f"#a{i} = :v{i}" for i in range(len(values)))
    if add:
        names.update({f"#n{i}": k for i, k in enumerate(add)})
        expression_values.update({f":n{i}": {"N": str(int(v))} for i, v in enumerate(add.values())})
        expression += " ADD " + ", ".join(f"#n{i} :n{i}" for i in range(len(add)))
    return {"UpdateExpression": expression, "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": expression_values}


def query_items(client: DynamoDBClient, table: str, partition: str, *, index: str | None = None,
                sort_prefix: str | None = None, sort_from: str | None = None,
                consistent: bool = False) -> list[dict[str, Any]]:
    """Every item of one partition (of the table or of an index), deserialized, through the paginator."""
    values = {":pk": {"S": partition}}
    bound = sort_prefix if sort_prefix is not None else sort_from
    if bound is not None:
        values[":sk"] = {"S": bound}
    kwargs: dict[str, Any] = {"TableName": table, "ExpressionAttributeValues": values,
                              "KeyConditionExpression": key_condition(index=index, sort_prefix=sort_prefix is not None,
                                                                      sort_from=sort_from is not None)}
    if index is not None:
        kwargs["IndexName"] = index
    if consistent:
        kwargs["ConsistentRead"] = True
    items: list[dict[str, Any]] = []
    for page in client.get_paginator("query").paginate(**kwargs):
        items.extend(deserialize(i) for i in page.get("Items", []))
    return items


def conditional_failed(exc: BaseException) -> bool:
    """Whether an error (or the AWS error behind a StateLogError) is a failed ConditionExpression."""
    cause = exc if isinstance(exc, ClientError) else exc.__cause__
    return isinstance(cause, ClientError) and error_code(cause) == CONDITION_FAILED


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


class TableStore:
    """The base of every state-table store. Subclasses set `what` and supply keys and item mapping."""

    #: names the items in error messages, e.g. "pending records"
    what = "records"
    #: why the store cannot work without a table (None: it does not check, its caller did)
    requires_table: str | None = None

    def __init__(self, table: str, client: DynamoDBClient, *, automation: str, run_id: str, ttl_days: int = 90,
                 clock: Clock = utcnow) -> None:
        if not table and self.requires_table:
            raise StateLogError(f"CARETAKER_STATE_TABLE is not set: {self.requires_table}")
        self.table = table
        self.client = client
        self.automation = automation
        self.run_id = run_id
        self.ttl_days = ttl_days
        self.clock = clock
        self.dynamodb_calls = 0
        self._calls_lock = threading.Lock()
        self._opened()

    def _opened(self) -> None:
        """Hook: a store's own state (write buffers, counts), set up once the base is."""

    @classmethod
    def beside(cls, state: StateLog, **extra: Any) -> Self:
        """This store on the table, client, run, TTL and clock of a run's state log."""
        return cls(state.table, state.client, automation=state.automation, run_id=state.run_id,
                   ttl_days=state.ttl_days, clock=state.clock, **extra)

    # ------------------------------------------------------------------ calls

    def _call(self, operation: str, call: Callable[[], R]) -> R:
        """One DynamoDB call (`call`, a typed client method call), counted; an AWS failure is a `StateLogError`
        naming the table and `operation`."""
        with self._calls_lock:
            self.dynamodb_calls += 1
        try:
            return call()
        except (ClientError, BotoCoreError) as exc:
            raise StateLogError(f"state table {self.table!r} cannot be used ({operation}, {self.what}): "
                                f"{exc}") from exc

    def expires_at(self, at: datetime) -> int:
        return int((at + timedelta(days=self.ttl_days)).timestamp())

    # ------------------------------------------------------------------ reading

    def get_item(self, key: Mapping[str, Any]) -> dict[str, Any] | None:
        """One item (consistent read), or None."""
        item = self._call("get_item", lambda: self.client.get_item(TableName=self.table, Key=serialize(key),
                                                                   ConsistentRead=True)).get("Item")
        return deserialize(item) if item else None

    def query_partition(self, partition: str, *, sort_prefix: str | None = None) -> list[dict[str, Any]]:
        """Every item of one partition of the table (consistent, paginated), in sort key order."""
        with self._calls_lock:
            self.dynamodb_calls += 1
        try:
            return query_items(self.client, self.table, partition, sort_prefix=sort_prefix, consistent=True)
        except (ClientError, BotoCoreError) as exc:
            raise StateLogError(f"state table {self.table!r} cannot be used (query, {self.what}): {exc}") from exc

    # ------------------------------------------------------------------ writing

    def put_item(self, item: Mapping[str, Any]) -> None:
        self._call("put_item", lambda: self.client.put_item(TableName=self.table, Item=serialize(fit_item(item))))

    def write_requests(self, requests: Sequence[Mapping[str, Any]]) -> None:
        """Put and delete requests (already serialized), 25 per BatchWriteItem, unprocessed ones retried."""
        write_batches(self._batch_write, self.table, requests, what=self.what)

    def _batch_write(self, operation: str, **kwargs: Any) -> BatchWriteItemOutputTypeDef:
        """`write_batches`' call: `operation` is always `batch_write_item`."""
        return self._call(operation, lambda: self.client.batch_write_item(**kwargs))

    def put_items(self, items: Sequence[Mapping[str, Any]]) -> None:
        self.write_requests([{"PutRequest": {"Item": serialize(fit_item(item))}} for item in items])

    def update_item(self, key: Mapping[str, Any], values: Mapping[str, Any], *, add: Mapping[str, int] | None = None,
               condition: str | None = None, condition_names: Mapping[str, str] | None = None,
               condition_values: Mapping[str, Any] | None = None, fit: bool = False) -> dict[str, Any]:
        """SET `values` (None values left out) and ADD `add` on one item, created when absent, if `condition`
        holds; returns the item as written. `fit`: cut the largest values to DynamoDB's item limit."""
        values = {k: v for k, v in values.items() if v is not None}
        if fit:
            values = fit_item(values, UPDATE_LIMIT_BYTES)
        request = update_expression(values, add)
        if condition:
            request["ConditionExpression"] = condition
            request["ExpressionAttributeNames"].update(condition_names or {})
            request["ExpressionAttributeValues"].update(
                {k: attribute_value(v) for k, v in (condition_values or {}).items()})
        response = self._call("update_item", lambda: self.client.update_item(
            TableName=self.table, Key=serialize(key), ReturnValues="ALL_NEW", **request))
        return deserialize(response.get("Attributes", {}))

    # ------------------------------------------------------------------ versioned records

    def get_versioned(self, key: Mapping[str, Any], *, what: str | None = None) -> tuple[dict[str, Any] | None, int]:
        """A versioned record (strongly consistent read) and its version; (None, 0) when there is none.
        `what` names the record in errors (default: the store's `what`)."""
        item = self._named(what).get_item(key)
        return (item, int(item[VERSION_ATTRIBUTE])) if item else (None, 0)

    def put_versioned(self, key: Mapping[str, Any], attributes: Mapping[str, Any], expected_version: int, *,
                      what: str | None = None) -> int:
        """Write the record `key` + `attributes` (one PutItem) if it is still at `expected_version`, as read
        (0: there must be none yet); returns its new version, `expected_version + 1` (set here: a `version`
        in `attributes` is replaced). Another writer got there first: `VersionConflict`, nothing written."""
        version = expected_version + 1
        item = serialize({**key, **attributes, VERSION_ATTRIBUTE: version})
        store = self._named(what)
        store._write_versioned("put_item", expected_version,
                               lambda condition: store.client.put_item(TableName=store.table, Item=item, **condition))
        return version

    def delete_versioned(self, key: Mapping[str, Any], expected_version: int, *, what: str | None = None) -> None:
        """Delete the record `key` if it is still at `expected_version`; errors as `put_versioned`."""
        store = self._named(what)
        store._write_versioned("delete_item", expected_version, lambda condition: store.client.delete_item(
            TableName=store.table, Key=serialize(key), **condition))

    def _named(self, what: str | None) -> TableStore:
        """This store, or a view of it whose errors name the record `what`."""
        if what is None or what == self.what:
            return self
        view = TableStore(self.table, self.client, automation=self.automation, run_id=self.run_id,
                          ttl_days=self.ttl_days, clock=self.clock)
        view.what = what
        return view

    def _write_versioned(self, operation: str, expected_version: int,
                         write: Callable[[dict[str, Any]], object]) -> None:
        """`write(condition)`: the PutItem or DeleteItem `operation`, with the version condition's arguments."""
        condition: dict[str, Any] = (
            {"ConditionExpression": "attribute_not_exists(#pk)",
             "ExpressionAttributeNames": {"#pk": schema.PARTITION_KEY}} if expected_version == 0 else
            {"ConditionExpression": "#version = :version",
             "ExpressionAttributeNames": {"#version": VERSION_ATTRIBUTE},
             "ExpressionAttributeValues": {":version": {"N": str(expected_version)}}})
        try:
            self._call(operation, lambda: write(condition))
        except StateLogError as exc:
            if conditional_failed(exc):
                raise VersionConflict(f"the {self.what} in state table {self.table!r} was changed by another "
                                      f"writer since version {expected_version} was read") from exc.__cause__
            raise
