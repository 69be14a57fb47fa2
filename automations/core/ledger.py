"""What the state table tells after the fact: a run's records, a resource's history, the runs of a period,
and closing a run summary its invocation abandoned. Used by the operator CLI (`report`), the
trigger-health canary and the tests; the writers are the stores (`store.py`). See docs/state-log.md.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from automations.core import state_schema as schema
from automations.core.codec import iso, serialize, utcnow
from automations.core.errors import StateLogError
from automations.core.item_limits import resource_key
from automations.core.store import conditional_failed, key_of, query_items

if TYPE_CHECKING:
    from types_boto3_dynamodb.client import DynamoDBClient


def run_items(client: DynamoDBClient, table: str, run_id: str) -> list[dict[str, Any]]:
    """A run's summary and all its action records, in order."""
    return query_items(client, table, f"RUN#{run_id}")


def resource_history(client: DynamoDBClient, table: str, resource_id: str) -> list[dict[str, Any]]:
    """Everything Caretaker recorded about one resource, oldest first."""
    return query_items(client, table, resource_key(resource_id), index=schema.BY_RESOURCE_INDEX)


def runs_since(client: DynamoDBClient, table: str, since: datetime,
               until: datetime | None = None) -> list[dict[str, Any]]:
    """Run summaries started at or after `since`, oldest first (one Query per day)."""
    until = until or utcnow()
    runs: list[dict[str, Any]] = []
    day = since.astimezone(UTC).date()
    while day <= until.astimezone(UTC).date():
        runs.extend(query_items(client, table, f"RUNS#{day.isoformat()}", index=schema.RUNS_BY_DAY_INDEX,
                                sort_from=iso(since)))
        day += timedelta(days=1)
    return runs


def close_abandoned_run(client: DynamoDBClient, table: str, run_id: str, *, reason: str, at: datetime) -> bool:
    """End a run summary that is still `running` although its invocation is over (Lambda's timeout, a crash):
    `failed`, with `reason` as its error. Conditional: a run that finished (or was resumed) meanwhile is left
    alone (returns False). Used by the trigger-health canary."""
    try:
        client.update_item(
            TableName=table, Key=serialize(key_of(f"RUN#{run_id}", "SUMMARY")),
            UpdateExpression="SET #s = :failed, #e = :reason, #ended = :at, #closed = :true",
            ConditionExpression="#s = :running",
            ExpressionAttributeNames={"#s": "status", "#e": "error", "#ended": "ended_at", "#closed": "abandoned"},
            ExpressionAttributeValues={":failed": {"S": "failed"}, ":running": {"S": "running"},
                                       ":reason": {"S": reason}, ":at": {"S": iso(at)}, ":true": {"BOOL": True}})
    except ClientError as exc:
        if conditional_failed(exc):
            return False
        raise StateLogError(f"run {run_id} cannot be closed in {table!r}: {exc}") from exc
    except BotoCoreError as exc:
        raise StateLogError(f"run {run_id} cannot be closed in {table!r}: {exc}") from exc
    return True
