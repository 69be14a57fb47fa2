"""Who holds an account-wide setting, and what to put back when each holder goes.

An account-wide setting (the IAM password policy, EBS encryption by default in a region,
the account's S3 block-public-access) can be declared by more than one custom resource over
time: a resource whose logical id was renamed, one that moved to another stack, or two stacks
that both declare it. CloudFormation then creates the new resource before it deletes the old
one, so a naive Delete would undo the settings the new resource has just applied.

The holders form a stack, oldest first, kept in one state-table item per setting
(`pk = "CR#<subject>"`, `sk = "LINEAGE"`, no TTL: it must outlive the stacks). Each holder
records the settings that were in effect just before it applied its own:

* Create (or an Update of a holder that is not on top) pushes the holder on top.
* Delete of the top holder restores what it recorded (the previous holder's settings, or
  the settings from before Caretaker), and the previous holder is on top again.
* Delete of a holder below the top changes nothing in AWS: its record passes to the holder
  above it, so the last one to go still restores the original settings.

The item is a versioned record (`TableStore.put_versioned`): a change is a read-modify-write that
is made again on the new holders when another request wrote first, a bounded number of times.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from automations.core.codec import Clock, iso, utcnow
from automations.core.errors import StateLogError, VersionConflict
from automations.core.store import TableStore, key_of

SORT_KEY = "LINEAGE"
#: Attempts of one change when another request changed the item at the same time.
MAX_ATTEMPTS = 5


@dataclass(frozen=True)
class Holder:
    """One custom resource that applied the setting."""

    physical_id: str
    stack_id: str
    logical_id: str
    #: the settings in effect before this holder applied its own; None = there were none
    restore: Mapping[str, Any] | None
    at: str

    def to_item(self) -> dict[str, Any]:
        return {"physical_id": self.physical_id, "stack_id": self.stack_id, "logical_id": self.logical_id,
                "restore_exists": self.restore is not None, "restore": dict(self.restore or {}), "at": self.at}

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> Holder:
        return cls(physical_id=str(item["physical_id"]), stack_id=str(item["stack_id"]),
                   logical_id=str(item["logical_id"]),
                   restore=dict(item.get("restore") or {}) if item.get("restore_exists") else None,
                   at=str(item["at"]))


class Lineage(TableStore):
    """The holder stack of one account-wide setting, in the state table (`Lineage.beside(state, subject=...)`)."""

    def __init__(self, table: str, client: Any, *, automation: str, run_id: str, ttl_days: int = 90,
                 clock: Clock = utcnow, subject: str) -> None:
        super().__init__(table, client, automation=automation, run_id=run_id, ttl_days=ttl_days, clock=clock)
        self.subject = subject
        self._key = key_of(f"CR#{subject}", SORT_KEY)
        self.what = f"holders of {subject}"  # names the item in errors

    # ------------------------------------------------------------------ reading

    def holders(self) -> list[Holder]:
        """Oldest first; the last one is in effect."""
        return self._load()[0]

    def find(self, physical_id: str) -> tuple[Holder | None, Holder | None]:
        """(the holder with this id or None, the holder on top or None)."""
        holders = self.holders()
        found = next((h for h in holders if h.physical_id == physical_id), None)
        return found, (holders[-1] if holders else None)

    # ------------------------------------------------------------------ changing

    def push(self, holder: Holder) -> None:
        """Put a holder on top; if it is already in the stack, it leaves its old place first."""
        self._change(lambda holders: [*_without(holders, holder.physical_id), holder])

    def remove(self, physical_id: str) -> None:
        """Take a holder out; the one above it (if any) inherits what it was to restore."""
        self._change(lambda holders: _without(holders, physical_id))

    def discard(self, physical_id: str) -> None:
        """Take out a holder that never applied its settings (its Create failed): nothing is inherited."""
        self._change(lambda holders: [h for h in holders if h.physical_id != physical_id])

    # ------------------------------------------------------------------ storage

    def _load(self) -> tuple[list[Holder], int]:
        item, version = self.get_versioned(self._key)
        return [Holder.from_item(h) for h in (item or {}).get("holders", [])], version

    def _change(self, change: Callable[[list[Holder]], list[Holder]]) -> None:
        for _ in range(MAX_ATTEMPTS):
            holders, version = self._load()
            updated = change(holders)
            if updated == holders:
                return
            try:
                self._store(updated, version)
                return
            except VersionConflict:
                continue  # another request changed the holders: apply the change to theirs
        raise StateLogError(f"the holders of {self.subject} kept changing under concurrent requests; "
                            f"gave up after {MAX_ATTEMPTS} attempts")

    def _store(self, holders: list[Holder], version: int) -> None:
        if not holders:
            self.delete_versioned(self._key, version)
            return
        self.put_versioned(self._key, {"type": "lineage", "subject": self.subject,
                                       "holders": [h.to_item() for h in holders], "at": iso(self.clock())}, version)


def _without(holders: list[Holder], physical_id: str) -> list[Holder]:
    """The stack without one holder; the holder above it inherits its `restore`."""
    out: list[Holder] = []
    inherited: Holder | None = None
    for holder in holders:
        if holder.physical_id == physical_id:
            inherited = holder
            continue
        if inherited is not None:
            holder = replace(holder, restore=inherited.restore)
            inherited = None
        out.append(holder)
    return out
