"""The state table's key schema, shared by the runtime (`state_log`) and the templates.

See docs/state-log.md for the access patterns these keys serve.
"""

from __future__ import annotations

PARTITION_KEY = "pk"
SORT_KEY = "sk"
TTL_ATTRIBUTE = "expires_at"

#: GSI "by-day": runs by start day. gsi1pk = "RUNS#<yyyy-mm-dd>", gsi1sk = "<started_at>#<run_id>"
RUNS_BY_DAY_INDEX = "by-day"
RUNS_BY_DAY_PK = "gsi1pk"
RUNS_BY_DAY_SK = "gsi1sk"

#: GSI "by-resource": a resource's history. gsi2pk = "RES#<resource_id>", gsi2sk = "<at>#<run_id>"
BY_RESOURCE_INDEX = "by-resource"
BY_RESOURCE_PK = "gsi2pk"
BY_RESOURCE_SK = "gsi2sk"

#: (index name, partition key attribute, sort key attribute); every key attribute is a string.
INDEXES: tuple[tuple[str, str, str], ...] = (
    (RUNS_BY_DAY_INDEX, RUNS_BY_DAY_PK, RUNS_BY_DAY_SK),
    (BY_RESOURCE_INDEX, BY_RESOURCE_PK, BY_RESOURCE_SK),
)

OUTCOMES = ("planned", "succeeded", "failed", "skipped")
