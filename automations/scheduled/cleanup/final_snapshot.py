"""Final snapshots before a cleanup deletes data, for the families that take them (`cleanup-ebs-volumes`: one
CreateSnapshot per volume; `cleanup-stopped-instances`: one CreateSnapshots for all of an instance's volumes).

The act step (delete, terminate) follows only once every final snapshot is `completed`: in the same run when
the snapshots complete at once, else in a later run, which finds the snapshot ids on the pending record (under
`key`) and waits while any is still `pending`. A snapshot in any other state (`error`, gone) is taken again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from automations.core.pending import PendingRecord
from automations.core.selection import AUTOMATION_TAG, RUN_ID_TAG
from automations.core.steps import Next, Step
from automations.scheduled.cleanup.ec2 import snapshot_tag_spec


@dataclass(frozen=True)
class FinalSnapshot:
    automation: str  # the function's name: tag and description of the snapshots
    id_tag: str  # the tag that names the resource snapshotted, e.g. caretaker:volume-id
    key: str  # where the snapshot id(s) go: pending record and outcome details
    action: str  # the step's action, e.g. create-final-snapshot
    before: str  # what it comes before, for the reason: "deleting", "terminating"
    many: bool = False  # one call snapshots several volumes: `key` holds a list of ids

    def recorded(self, record: PendingRecord | None) -> list[str]:
        """The final snapshot ids an earlier run recorded on the pending record."""
        if record is None:
            return []
        if self.many:
            return [str(s) for s in record.details.get(self.key, [])]
        snapshot_id = str(record.details.get(self.key, ""))
        return [snapshot_id] if snapshot_id else []

    def ready(self, snapshot_ids: list[str], states: Mapping[str, str], act: Step) -> list[Step] | str | None:
        """With final snapshots taken earlier: the act step once every one is `completed`, why it waits while
        some are `pending`; None when new ones must be taken (none, or one failed or is gone)."""
        found = [states.get(s) for s in snapshot_ids]
        if snapshot_ids and all(state == "completed" for state in found):
            return [self.with_snapshots(act, snapshot_ids)]
        if snapshot_ids and all(state in ("completed", "pending") for state in found):
            if self.many:
                return "final snapshots still pending: " + ", ".join(snapshot_ids)
            return f"final snapshot {snapshot_ids[0]} still pending"
        return None

    def tags(self, run_id: str, resource_id: str, copied: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
        """The snapshots' `TagSpecifications`: `copied` tags of the resource, then Caretaker's."""
        return snapshot_tag_spec({**(copied or {}), AUTOMATION_TAG: self.automation, RUN_ID_TAG: run_id,
                                  self.id_tag: resource_id})

    def description(self, resource_id: str) -> str:
        return f"Caretaker {self.automation}: final snapshot of {resource_id}"

    def step(self, resource_id: str, reason: str, call: Callable[[], Any], act: Step, *,
             details: Mapping[str, Any] | None = None) -> Step:
        """The snapshot call as the first step of `act`'s subject; `act` follows (`after`)."""
        return Step(resource_id, resource_id, self.action, f"before {self.before}: {reason}", call, details=details,
                    result_details=lambda result: {self.key: self._value(self._ids(result))},
                    then=lambda result: self.after(result, act))

    def after(self, result: Mapping[str, Any] | None, act: Step) -> Next:
        """What follows the snapshot call: the act step when the snapshots are complete, else wait for a later run."""
        if result is None:  # dry-run: show the act step that would follow
            return Next(steps=[act])
        snapshots = result.get("Snapshots", []) if self.many else [result]
        ids = [str(s["SnapshotId"]) for s in snapshots]
        if all(s.get("State") == "completed" for s in snapshots):
            return Next(steps=[self.with_snapshots(act, ids)])
        return Next(waiting={self.key: self._value(ids)})

    def with_snapshots(self, act: Step, snapshot_ids: list[str]) -> Step:
        """The act step, its record naming the final snapshots."""
        return replace(act, details={**(act.details or {}), self.key: self._value(snapshot_ids)})

    def _ids(self, result: Mapping[str, Any]) -> list[str]:
        snapshots = result["Snapshots"] if self.many else [result]
        return [str(s["SnapshotId"]) for s in snapshots]

    def _value(self, snapshot_ids: list[str]) -> Any:
        return list(snapshot_ids) if self.many else snapshot_ids[0]
