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
from datetime import datetime
from typing import Any

from automations.core import state_schema as schema
from automations.core.codec import Clock, iso, utcnow
from automations.core.store import TableStore, key_of

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


class TokenLog(TableStore):
    """Reads and writes one secret's rotation items. The DynamoDB client is injected (the run's)."""

    what = "rotation of a secret"

    def __init__(self, table: str, client: Any, *, automation: str, run_id: str, ttl_days: int = 90,
                 clock: Clock = utcnow, secret_arn: str, token: str) -> None:
        super().__init__(table, client, automation=automation, run_id=run_id, ttl_days=ttl_days, clock=clock)
        self.secret_arn = secret_arn
        self.token = token

    @property
    def _partition(self) -> str:
        return PARTITION_PREFIX + self.secret_arn

    @property
    def _key(self) -> dict[str, str]:
        return key_of(self._partition, TOKEN_PREFIX + self.token)

    def record(self) -> TokenRecord | None:
        """This rotation's item, if any (consistent read)."""
        item = self.get_item(self._key)
        return TokenRecord.from_item(item) if item else None

    def history(self) -> list[TokenRecord]:
        """Every rotation of this secret that the state table still holds."""
        return [TokenRecord.from_item(item) for item in self.query_partition(self._partition)]

    def write(self, **attributes: Any) -> None:
        """Set attributes on this rotation's item (created when absent); durable on return."""
        now = self.clock()
        self.update_item(self._key, {
            "type": ITEM_TYPE, "automation": self.automation, "resource_id": self.secret_arn, "token": self.token,
            "run_id": self.run_id, "at": iso(now), schema.TTL_ATTRIBUTE: self.expires_at(now), **attributes})

    def step_done(self, step: str) -> None:
        self.write(**{f"{step}_at": iso(self.clock())})
