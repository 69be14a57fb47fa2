"""How `instance-scheduler` acts on the changes a run decided: what each change is called, the calls (EC2 in
batches, RDS and Auto Scaling one resource at a time on the action pool), and what the run changed or failed to,
for its notification. Every call is written ahead (`planned` first) like any other action."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from automations.core.codec import iso
from automations.core.executor import Act, ActionPool
from automations.core.resource_schedule import RUNNING, STOPPED, Schedule, State
from automations.core.runtime import Run, describe_error
from automations.scheduled.scheduler_targets import (
    ASG,
    EC2,
    RDS_CLUSTER,
    RDS_INSTANCE,
    GroupRecords,
    Target,
    rds_call,
    scale_in,
    scale_out,
)

#: Instances per StopInstances / StartInstances call (the API takes more; a smaller batch keeps one
#: refused instance from costing more than a few single retries).
EC2_BATCH = 50


#: action names, by kind and wanted state
ACTIONS: Mapping[tuple[str, State], str] = {
    (EC2, STOPPED): "stop-instance", (EC2, RUNNING): "start-instance",
    (RDS_INSTANCE, STOPPED): "stop-db-instance", (RDS_INSTANCE, RUNNING): "start-db-instance",
    (RDS_CLUSTER, STOPPED): "stop-db-cluster", (RDS_CLUSTER, RUNNING): "start-db-cluster",
    (ASG, STOPPED): "scale-in-group", (ASG, RUNNING): "scale-out-group",
}
HIBERNATE_ACTION = "hibernate-instance"


@dataclass
class Change:
    target: Target
    wanted: State
    schedule: Schedule
    reason: str

    @property
    def action(self) -> str:
        return ACTIONS[(self.target.kind, self.wanted)]


@dataclass
class Outcomes:
    """What the run changed (or, in audit, would have), and what failed; filled from the action threads."""

    done: list[Change] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def tracked(self, change: Change, call: Callable[[], Any]) -> Callable[[], Any]:
        """`call`, noting its outcome for the notification (the state log records it as well)."""

        def tracked_call() -> Any:
            try:
                result = call()
            except Exception as exc:
                with self._lock:
                    self.failed[change.target.resource_id] = describe_error(exc)
                raise
            if not (isinstance(result, Mapping) and ("already" in result or "gone" in result)):
                with self._lock:
                    self.done.append(change)
            return result

        return tracked_call


def act(run: Run, changes: Sequence[Change], outcomes: Outcomes) -> None:
    """EC2 in batches (stop, hibernate, start), then RDS and Auto Scaling one resource at a time."""
    ec2_changes = sorted((c for c in changes if c.target.kind == EC2), key=lambda c: c.target.resource_id)
    hibernate = bool(run.settings["hibernate"])
    stops = [c for c in ec2_changes if c.wanted == STOPPED]
    sleepers = [c for c in stops if hibernate and c.target.hibernates]
    _ec2_batches(run, [c for c in stops if c not in sleepers], "stop-instance", outcomes)
    _ec2_batches(run, sleepers, HIBERNATE_ACTION, outcomes)
    _ec2_batches(run, [c for c in ec2_changes if c.wanted == RUNNING], "start-instance", outcomes)
    _one_by_one(run, [c for c in changes if c.target.kind != EC2], outcomes)


def _ec2_batches(run: Run, changes: list[Change], action: str, outcomes: Outcomes) -> None:
    """StopInstances / StartInstances for up to `EC2_BATCH` instances at once (planned together first); a
    refused batch is retried one instance at a time, so only the refused instance fails."""
    ec2 = run.clients("ec2")

    def call(ids: list[str]) -> Any:
        if action == "start-instance":
            return ec2.start_instances(InstanceIds=ids)
        return ec2.stop_instances(InstanceIds=ids, Hibernate=action == HIBERNATE_ACTION)

    for start in range(0, len(changes), EC2_BATCH):
        batch = changes[start:start + EC2_BATCH]
        records = run.state.plan_many([(c.target.resource_id, c.reason, {"schedule": c.schedule.name})
                                       for c in batch], action, dry_run=run.dry_run)
        if run.dry_run:
            outcomes.done.extend(batch)
            continue
        try:
            call([c.target.resource_id for c in batch])
        except (ClientError, BotoCoreError) as exc:
            run.log.info("batch refused; acting one instance at a time",
                         extra={"action": action, "instances": len(batch), "error": describe_error(exc)})
            for change, record in zip(batch, records, strict=True):
                run.carry_out([record], outcomes.tracked(change, partial(call, [change.target.resource_id])))
            continue
        for record in records:
            run.state.outcome(record, "succeeded")
        outcomes.done.extend(batch)


def _one_by_one(run: Run, changes: list[Change], outcomes: Outcomes) -> None:
    """RDS and Auto Scaling calls take one resource each: on the action pool's threads, by action."""
    rds = run.clients("rds")
    autoscaling = run.clients("autoscaling")
    records = GroupRecords.beside(run.state)
    at = iso(run.clock())
    by_action: dict[str, list[Act[Any]]] = {}
    for change in sorted(changes, key=lambda c: c.target.resource_id):
        target = change.target
        call: Callable[[], Any]
        if target.kind == ASG and change.wanted == STOPPED:
            call = partial(scale_in, autoscaling, records, target.resource_id, at, run.run_id)
        elif target.kind == ASG:
            call = partial(scale_out, autoscaling, records, target.resource_id)
        else:
            call = rds_call(rds, target, change.wanted)
        by_action.setdefault(change.action, []).append(Act.one(
            target.resource_id, change.reason, outcomes.tracked(change, call),
            details={"schedule": change.schedule.name}, result_details=_details))
        if run.dry_run:
            outcomes.done.append(change)
    for action, acts in sorted(by_action.items()):
        with ActionPool(run, action, int(run.settings["max_concurrency"])) as pool:
            pool.act(acts)


def _details(result: Any) -> Mapping[str, Any]:
    """What an Auto Scaling call reports (recorded sizes, `already`); RDS and EC2 answers are not kept."""
    if isinstance(result, Mapping) and {"recorded", "restored", "already", "gone"} & set(result):
        return {k: v for k, v in result.items() if k in ("recorded", "restored", "already", "gone")}
    return {}
