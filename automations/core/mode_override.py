"""The run-time mode override: `pk = CONFIG`, `sk = MODE#<automation>` (or `MODE#*` for all).

Every entry point reads it once per invocation (`read_mode_override`); the operator CLI sets and clears
it (`set_mode_override`, `python -m automations mode`). The specific override wins over the global one.
See docs/state-log.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from automations.core.codec import Clock, iso, serialize, utcnow
from automations.core.errors import StateLogError
from automations.core.store import TableStore, key_of

if TYPE_CHECKING:
    from types_boto3_dynamodb.client import DynamoDBClient

CONFIG_PARTITION = "CONFIG"
MODE_PREFIX = "MODE#"
ALL = "*"


def read_mode_override(state: TableStore) -> dict[str, Any] | None:
    """The override for `state.automation` (or for all: `*`), if any: one consistent Query."""
    found = {str(item["sk"]): item for item in state.query_partition(CONFIG_PARTITION, sort_prefix=MODE_PREFIX)}
    return found.get(MODE_PREFIX + state.automation) or found.get(MODE_PREFIX + ALL)


def set_mode_override(client: DynamoDBClient, table: str, automation: str, mode: str | None, *, by: str,
                      reason: str, clock: Clock = utcnow) -> None:
    """Set (or with mode=None, clear) the run-time mode of one automation or of all (`*`)."""
    key = key_of(CONFIG_PARTITION, MODE_PREFIX + automation)
    try:
        if mode is None:
            client.delete_item(TableName=table, Key=serialize(key))
        else:
            client.put_item(TableName=table, Item=serialize(
                {**key, "type": "config", "mode": mode, "set_by": by, "reason": reason, "at": iso(clock())}))
    except (ClientError, BotoCoreError) as exc:
        raise StateLogError(f"state table {table!r} cannot be written: {exc}") from exc
