"""DynamoDB's limits on state-log items, and how items are kept inside them instead of being lost.

An item is at most 400 KB (names and values counted); an index partition key at most 2,048 bytes. What
goes into an item is often chosen by someone else (a CloudTrail event's user agent or request
parameters, an AWS error message), so `fit_item` cuts the largest fields of an item that would be too
big (`automations.core.truncate`, marker `...[truncated N bytes]`) and lists them in the item's
`truncated` attribute; `resource_key` keeps the `by-resource` key of an overlong resource id inside its
limit. See docs/state-log.md, *Oversized items*.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from automations.core import state_schema as schema
from automations.core.truncate import fit

#: Where items are cut: under DynamoDB's 409,600 bytes, with room for the estimate's error (it counts
#: numbers and containers generously) and for attributes a later UpdateItem adds.
ITEM_LIMIT_BYTES = 380_000
#: What one UpdateItem of a run summary may add (the summary starts at a few KB; an update sets the end,
#: an error, a traceback, a provider's response): several of them stay inside the item limit.
UPDATE_LIMIT_BYTES = 60_000
#: DynamoDB's limit for a (global secondary index) partition key value.
PARTITION_KEY_LIMIT_BYTES = 2048
#: The attribute listing the paths of the fields that were cut, e.g. ["details.user_agent"].
TRUNCATED_ATTRIBUTE = "truncated"
#: Never cut: the keys, the short fields of the action contract, and what a continuation needs whole
#: (remaining-work keys, the carried state, the checkpoint and its holder: cutting them would lose or
#: corrupt work; their writers bound them).
UNCUT_ATTRIBUTES = frozenset({
    schema.PARTITION_KEY, schema.SORT_KEY, schema.TTL_ATTRIBUTE, schema.RUNS_BY_DAY_PK, schema.RUNS_BY_DAY_SK,
    schema.BY_RESOURCE_PK, schema.BY_RESOURCE_SK, "type", "automation", "run_id", "action_id", "action",
    "outcome", "dry_run", "at", "status", "started_at", "ended_at", "keys", "carried", "checkpoint", "holder",
    TRUNCATED_ATTRIBUTE,
})

log = logging.getLogger(__name__)


def value_size(value: Any) -> int:
    """The bytes DynamoDB counts for one attribute value (rounded up: numbers and container overheads)."""
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, bool) or value is None:
        return 1
    if isinstance(value, (int, float, Decimal)):
        return len(str(value)) + 1
    if isinstance(value, (bytes, bytearray)):
        return len(value)
    if isinstance(value, Mapping):
        return 3 + sum(len(str(k).encode()) + value_size(v) + 1 for k, v in value.items() if v is not None)
    if isinstance(value, (list, tuple, set, frozenset)):
        return 3 + sum(value_size(v) + 1 for v in value)
    return len(str(value).encode())


def item_size(item: Mapping[str, Any]) -> int:
    """The bytes DynamoDB counts for an item (attribute names and values), as `value_size` rounds them."""
    return sum(len(name.encode()) + value_size(value) for name, value in item.items() if value is not None)


def fit_item(item: Mapping[str, Any], limit: int = ITEM_LIMIT_BYTES) -> dict[str, Any]:
    """`item`, or when it is larger than `limit`, a copy whose largest fields are cut (each ending in
    `...[truncated N bytes]`) and whose `truncated` attribute lists them. Nothing is dropped whole."""
    fitted = fit(item, item_size, limit - 2_000, keep=UNCUT_ATTRIBUTES)  # room for the `truncated` list
    if not fitted.truncated:
        return fitted.value
    log.warning("state-log item cut to fit DynamoDB's item limit: %s", ", ".join(fitted.truncated),
                extra={"sk": str(item.get(schema.SORT_KEY, "")), "size": item_size(item)})
    return {**fitted.value, TRUNCATED_ATTRIBUTE: fitted.truncated}


def resource_key(resource_id: str) -> str:
    """The `by-resource` partition key of a resource: `RES#<resource_id>`, or for an id too long for
    DynamoDB's key limit, its start and the SHA-256 of the whole id (`resource_history` uses the same)."""
    key = f"RES#{resource_id}"
    if len(key.encode()) <= PARTITION_KEY_LIMIT_BYTES:
        return key
    suffix = f"#sha256:{hashlib.sha256(resource_id.encode()).hexdigest()}"
    return key.encode()[:PARTITION_KEY_LIMIT_BYTES - len(suffix)].decode("utf-8", "ignore") + suffix
