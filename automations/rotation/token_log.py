"""One item per rotation (secret + version token) in the state table: which steps finished, and,
for flavours that create something outside the secret (an IAM key), what they created.

`pk = SECRET#<secret ARN>`, `sk = TOKEN#<ClientRequestToken>`: a Query on the partition is the
secret's rotation history. The item is written before the step's AWS call that it announces
(write-ahead), so a step that Secrets Manager retries after a crash finds what the crashed attempt
was about to do. Items expire with `CARETAKER_STATE_TTL_DAYS`. See docs/state-log.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from automations.core import state_schema as schema
from automations.core.errors import StateLogError
from automations.core.state_log import Clock, deserialize, iso, serialize

PARTITION_PREFIX = "SECRET#"
TOKEN_PREFIX = "TOKEN#"
ITEM_TYPE = "secret-rotation"


@dataclass(frozen=True)
class TokenRecord:
    """What the state table knows about one rotation (one version token) of a secret."""

    token: str
    steps: Mapping[str, str]  # step -> when it finished (ISO 8601)
    user: str | None = None
    keys_before: tuple[str, ...] = ()
    new_key_id: str | None = None
    started_at: datetime | None = None

    @property
    def finished(self) -> bool:
        return "finishSecret" in self.steps

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> TokenRecord:
        steps = {k.removesuffix("_at"): str(v) for k, v in item.items()
                 if k.endswith("Secret_at") and isinstance(v, str)}
        started = item.get("started_at")
        return cls(token=str(item.get("token", "")), steps=steps, user=item.get("user"),
                   keys_before=tuple(item.get("keys_before") or ()), new_key_id=item.get("new_key_id"),
                   started_at=datetime.fromisoformat(started) if started else None)


class TokenLog:
    """Reads and writes one secret's rotation items. The DynamoDB client is injected (the run's)."""

    def __init__(self, client: Any, table: str, *, automation: str, run_id: str, secret_arn: str, token: str,
                 clock: Clock, ttl_days: int) -> None:
        self.client = client
        self.table = table
        self.automation = automation
        self.run_id = run_id
        self.secret_arn = secret_arn
        self.token = token
        self.clock = clock
        self.ttl_days = ttl_days

    @property
    def _partition(self) -> str:
        return PARTITION_PREFIX + self.secret_arn

    def get(self) -> TokenRecord | None:
        """This rotation's item, if any (consistent read)."""
        try:
            item = self.client.get_item(TableName=self.table, ConsistentRead=True, Key=serialize(
                {schema.PARTITION_KEY: self._partition, schema.SORT_KEY: TOKEN_PREFIX + self.token})).get("Item")
        except (ClientError, BotoCoreError) as exc:
            raise StateLogError(f"state table {self.table!r} cannot be read (rotation of a secret): {exc}") from exc
        return TokenRecord.from_item(deserialize(item)) if item else None

    def history(self) -> list[TokenRecord]:
        """Every rotation of this secret that the state table still holds."""
        records: list[TokenRecord] = []
        try:
            for page in self.client.get_paginator("query").paginate(
                    TableName=self.table, KeyConditionExpression="pk = :pk", ConsistentRead=True,
                    ExpressionAttributeValues={":pk": {"S": self._partition}}):
                records.extend(TokenRecord.from_item(deserialize(i)) for i in page.get("Items", []))
        except (ClientError, BotoCoreError) as exc:
            raise StateLogError(f"state table {self.table!r} cannot be read (rotation of a secret): {exc}") from exc
        return records

    def update(self, **attributes: Any) -> None:
        """Set attributes on this rotation's item (created when absent); durable on return."""
        now = self.clock()
        values = {
            "type": ITEM_TYPE, "automation": self.automation, "resource_id": self.secret_arn, "token": self.token,
            "run_id": self.run_id, "at": iso(now),
            schema.TTL_ATTRIBUTE: int((now + timedelta(days=self.ttl_days)).timestamp()),
            **{k: v for k, v in attributes.items() if v is not None},
        }
        names = {f"#a{i}": k for i, k in enumerate(values)}
        plain = {f":v{i}": v for i, v in enumerate(values.values())}
        try:
            self.client.update_item(
                TableName=self.table,
                Key=serialize({schema.PARTITION_KEY: self._partition, schema.SORT_KEY: TOKEN_PREFIX + self.token}),
                UpdateExpression="SET " + ", ".join(f"#a{i} = :v{i}" for i in range(len(values))),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=serialize(plain),
            )
        except (ClientError, BotoCoreError) as exc:
            raise StateLogError(f"state table {self.table!r} cannot be written (rotation of a secret): {exc}") from exc

    def step_done(self, step: str) -> None:
        self.update(**{f"{step}_at": iso(self.clock())})
