"""Where the access-key rotation keeps its per-user state: one item per user in the state table.

A rotation spans days (new key, grace period, deactivation, deletion), so its progress lives
in the state table, not in a run: `pk = ROTATION#access-keys`, `sk = USER#<user name>` (one
Query reads every user's state at the start of a run). Each phase is written *before* the AWS
call that it announces (write-ahead); the next run resumes from the phase it finds and
reconciles it with the keys IAM really has. See docs/credential-rotation.md and docs/state-log.md.

The item is a versioned record (`TableStore.put_versioned`: a write is conditional on the `version`
read), so two runs that overlap cannot both move the same user forward: the loser gets
`StateConflict` and leaves the user alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from datetime import datetime
from typing import Any

from automations.core.codec import iso
from automations.core.errors import VersionConflict
from automations.core.store import TableStore, key_of

PARTITION = "ROTATION#access-keys"
USER_PREFIX = "USER#"
ITEM_TYPE = "rotation-state"

IDLE = "idle"
CREATING = "creating"  # intent to create a key written; the key may or may not exist
STORING = "storing"  # key created (`new_key_id`); its secret is being stored
GRACE = "grace"  # new key stored as AWSCURRENT; old key still active until the grace period ends
DEACTIVATING = "deactivating"  # intent to deactivate the old key written
DEACTIVATED = "deactivated"  # old key inactive since `phase_at`
DELETING = "deleting"  # intent to delete the old key written
PHASES = (IDLE, CREATING, STORING, GRACE, DEACTIVATING, DEACTIVATED, DELETING)

_DATES = ("started_at", "phase_at", "stored_at", "last_rotated_at")


class StateConflict(VersionConflict):
    """Another run changed a user's rotation state since this run read it."""


@dataclass(frozen=True)
class RotationState:
    """One user's rotation: the phase and what the next run needs to resume it."""

    user: str
    phase: str = IDLE
    version: int = 0  # 0 = no item yet
    old_key_id: str | None = None  # the key being replaced
    new_key_id: str | None = None  # the key that replaces it, once created
    keys_before: tuple[str, ...] = ()  # the user's keys when the rotation started (to spot unrecorded keys)
    started_at: datetime | None = None
    phase_at: datetime | None = None  # when the current phase was entered
    stored_at: datetime | None = None  # when the new key was stored (the grace period starts)
    last_rotated_at: datetime | None = None
    current_key_id: str | None = None  # the key the last completed rotation left in use

    def __post_init__(self) -> None:
        if self.phase not in PHASES:
            raise ValueError(f"unknown rotation phase {self.phase!r}")

    def moved(self, phase: str, at: datetime, **changes: Any) -> RotationState:
        """The state in `phase`, entered at `at` (not yet saved)."""
        return replace(self, phase=phase, phase_at=at, **changes)

    def finished(self, at: datetime) -> RotationState:
        """Back to idle after a completed rotation: the new key is the current one."""
        return replace(self, phase=IDLE, phase_at=at, last_rotated_at=at, current_key_id=self.new_key_id,
                       old_key_id=None, new_key_id=None, keys_before=(), started_at=None, stored_at=None)

    def abandoned(self, at: datetime) -> RotationState:
        """Back to idle without finishing (the keys stay as they are)."""
        return replace(self, phase=IDLE, phase_at=at, old_key_id=None, new_key_id=None, keys_before=(),
                       started_at=None, stored_at=None)

    def to_attributes(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in _DATES and value is not None:
                value = iso(value)
            if f.name == "keys_before":
                value = list(value)
            values[f.name] = value
        return values

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> RotationState:
        known = {f.name for f in fields(cls)}
        values: dict[str, Any] = {k: v for k, v in item.items() if k in known}
        for name in _DATES:
            if values.get(name):
                values[name] = datetime.fromisoformat(str(values[name]))
        values["keys_before"] = tuple(values.get("keys_before") or ())
        values["version"] = int(values.get("version") or 0)
        return cls(**values)


class RotationStore(TableStore):
    """Reads and writes the rotation items. The DynamoDB client is injected (the run's)."""

    what = "rotation state"

    def load_all(self) -> dict[str, RotationState]:
        """Every user's state (one consistent, paginated Query)."""
        states = (RotationState.from_item(item) for item in self.query_partition(PARTITION))
        return {state.user: state for state in states}

    def save(self, state: RotationState) -> RotationState:
        """Write `state` if nobody wrote the item since it was read; return it with the next version."""
        attributes = {"type": ITEM_TYPE, "automation": self.automation, "resource_id": state.user,
                      "run_id": self.run_id, "at": iso(self.clock()), **state.to_attributes()}
        try:
            version = self.put_versioned(key_of(PARTITION, USER_PREFIX + state.user), attributes, state.version)
        except VersionConflict as exc:
            raise StateConflict(f"the rotation state of {state.user} was changed by another run") from exc
        return replace(state, version=version)
