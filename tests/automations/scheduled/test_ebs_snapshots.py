"""EBS snapshots: selection, crash-consistent groups, many volumes on the pool, dry-run and failure paths."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from automations.core.errors import SettingsError, StateLogError
from automations.core.mode_override import set_mode_override
from automations.scheduled.ebs_snapshots import handler
from tests.automations.conftest import Alerts, Clock, LambdaContext, scheduled_event
from tests.automations.scheduled.ebs_harness import (
    BACKUP,
    backup_volumes,
    instance_with_volumes,
    items,
    our_snapshots,
    run,
    summary,
    tag,
    tags_of,
    volume,
)
from tests.recording import RecordingClients

# ---------------------------------------------------------------------- selection and creation


def test_snapshots_tagged_volumes_with_their_tags_and_caretaker_tags(
        state_table: str, clock: Clock, lambda_context: LambdaContext) -> None:
    tagged = volume({**BACKUP, "Name": "db-data", "team": "payments"})
    volume({"Name": "scratch"})  # untagged: ignored
    other_value = volume({"caretaker:backup": "never"})  # tag with a value that is not accepted

    result = run(clock, lambda_context)

    snapshots = our_snapshots()
    assert [s["VolumeId"] for s in snapshots] == [tagged]
    tags = tags_of(snapshots[0])
    assert tags["Name"] == "db-data" and tags["team"] == "payments"
    assert tags["caretaker:automation"] == "ebs-snapshots"
    assert tags["caretaker:run-id"] == result["run_id"]
    assert tags["caretaker:volume-id"] == tagged
    assert tags["caretaker:expires-on"] == (clock.now.date().fromordinal(clock.now.date().toordinal() + 35)).isoformat()
    assert result["status"] == "ok" and result["snapshots_created"] == 1
    records = items(state_table, result["run_id"])
    assert [(r["resource_id"], r["outcome"]) for r in records] == [(tagged, "planned"), (tagged, "succeeded")]
    assert records[1]["details"]["snapshot_id"] == snapshots[0]["SnapshotId"]
    assert other_value not in {r["resource_id"] for r in records}


def test_tag_values_match_case_insensitively_and_are_a_setting(
        state_table: str, clock: Clock, lambda_context: LambdaContext) -> None:
    weekly = volume({"caretaker:backup": "Weekly"})
    daily = volume({"caretaker:backup": "DAILY"})
    run(clock, lambda_context, backup_tag_values="weekly")
    assert [s["VolumeId"] for s in our_snapshots()] == [weekly]
    assert daily


def test_protected_volume_is_skipped_and_recorded(
        state_table: str, clock: Clock, lambda_context: LambdaContext) -> None:
    protected = volume({**BACKUP, "caretaker:protect": "true"})
    result = run(clock, lambda_context)
    assert our_snapshots() == []
    [record] = items(state_table, result["run_id"])
    assert (record["resource_id"], record["outcome"]) == (protected, "skipped")
    assert "protect" in record["reason"]


def test_all_volumes_of_an_instance_are_snapshotted_together(
        state_table: str, clock: Clock, lambda_context: LambdaContext) -> None:
    instance_id, root, data = instance_with_volumes(2)
    for vol in [root, *data]:
        tag(vol, BACKUP)
    clients = RecordingClients()
    result = run(clock, lambda_context, clients)
    assert clients.count("ec2")["CreateSnapshots"] == 1
    assert clients.count("ec2")["CreateSnapshot"] == 0
    assert sorted(s["VolumeId"] for s in our_snapshots()) == sorted([root, *data])
    succeeded = [r for r in items(state_table, result["run_id"]) if r["outcome"] == "succeeded"]
    assert all(r["details"]["instance_id"] == instance_id and r["details"]["snapshot_id"] for r in succeeded)


def test_data_volumes_without_the_boot_volume_are_still_one_group(
        state_table: str, clock: Clock, lambda_context: LambdaContext) -> None:
    _, _root, data = instance_with_volumes(2)
    for vol in data:
        tag(vol, {**BACKUP, "Name": f"data-{vol}"})
    clients = RecordingClients()
    run(clock, lambda_context, clients)
    [call] = [body for svc, op, body in clients.calls if op == "CreateSnapshots"]
    assert call["InstanceSpecification"]["ExcludeBootVolume"] is True
    snapshots = our_snapshots()
    assert sorted(s["VolumeId"] for s in snapshots) == sorted(data)
    assert all(tags_of(s)["Name"] == f"data-{s['VolumeId']}" for s in snapshots)  # per-volume tags completed


def test_partly_tagged_instance_is_snapshotted_volume_by_volume(
        state_table: str, clock: Clock, lambda_context: LambdaContext) -> None:
    _, root, data = instance_with_volumes(2)
    tag(root, BACKUP)
    tag(data[0], BACKUP)
    clients = RecordingClients()
    result = run(clock, lambda_context, clients)
    assert clients.count("ec2")["CreateSnapshots"] == 0
    assert sorted(s["VolumeId"] for s in our_snapshots()) == sorted([root, data[0]])
    planned = [r for r in items(state_table, result["run_id"]) if r["outcome"] == "planned"]
    assert all("not crash-consistent" in r["reason"] for r in planned)


# ---------------------------------------------------------------------- many volumes: chunks and the pool


def planned_writes(clients: RecordingClients) -> list[tuple[int, set[str]]]:
    """(position in the call order, resource ids) of each state-log write carrying `planned` records."""
    found = []
    for n, (service, operation, body) in enumerate(clients.calls):
        if service != "dynamodb" or operation not in ("PutItem", "BatchWriteItem"):
            continue
        items = [body["Item"]] if operation == "PutItem" else \
            [r["PutRequest"]["Item"] for rs in body["RequestItems"].values() for r in rs]
        planned = {i["resource_id"]["S"] for i in items if i.get("outcome", {}).get("S") == "planned"}
        if planned:
            found.append((n, planned))
    return found


def test_planned_records_go_in_chunks_of_25_each_before_its_calls(
        state_table: str, clock: Clock, lambda_context: LambdaContext) -> None:
    vols = backup_volumes(30)
    clients = RecordingClients()
    result = run(clock, lambda_context, clients)

    writes = planned_writes(clients)
    assert [ids for _, ids in writes] == [set(vols[:25]), set(vols[25:])]  # two BatchWriteItem, no PutItem
    planned_at = {rid: n for n, ids in writes for rid in ids}
    creates = [(n, body["VolumeId"]) for n, (_, op, body) in enumerate(clients.calls) if op == "CreateSnapshot"]
    assert sorted(v for _, v in creates) == vols
    assert all(planned_at[v] < n for n, v in creates)  # every call after the write that planned it
    assert result["snapshots_created"] == 30
    records = items(state_table, result["run_id"])
    assert sorted(r["resource_id"] for r in records if r["outcome"] == "succeeded") == vols
    assert sorted(s["VolumeId"] for s in our_snapshots()) == vols


def test_one_failing_volume_among_many_fails_alone_on_the_pool(
        state_table: str, clock: Clock, lambda_context: LambdaContext) -> None:
    vols = backup_volumes(30)
    bad = {vols[3], vols[27]}  # one in each chunk
    clients = RecordingClients()
    clients.fail("ec2", "CreateSnapshot", code="AccessDenied", when=lambda body: body.get("VolumeId") in bad)
    result = run(clock, lambda_context, clients)

    assert sorted(s["VolumeId"] for s in our_snapshots()) == sorted(set(vols) - bad)
    assert result["status"] == "partial" and result["snapshots_created"] == 28
    run_summary = summary(state_table, result["run_id"])
    assert (run_summary["planned"], run_summary["succeeded"], run_summary["failed"]) == (30, 28, 2)
    failed = {r["resource_id"]: r["reason"] for r in items(state_table, result["run_id"]) if r["outcome"] == "failed"}
    assert set(failed) == bad and all(reason.startswith("AccessDenied") for reason in failed.values())


@pytest.mark.parametrize("limit", [1, 4])
def test_max_concurrency_bounds_the_calls_in_flight(
        state_table: str, clock: Clock, lambda_context: LambdaContext, limit: int) -> None:
    import threading
    import time

    backup_volumes(12)
    clients = RecordingClients()
    lock = threading.Lock()
    in_flight, peak = [0], [0]

    def started(**_: Any) -> None:
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        time.sleep(0.03)  # long enough that the workers overlap

    def finished(**_: Any) -> None:
        with lock:
            in_flight[0] -= 1

    clients.session.events.register("before-call.ec2.CreateSnapshot", started)
    clients.session.events.register("after-call.ec2.CreateSnapshot", finished)
    result = run(clock, lambda_context, clients, max_concurrency=str(limit))

    assert result["snapshots_created"] == 12
    assert peak[0] == limit if limit == 1 else 1 < peak[0] <= limit


def test_state_log_failing_at_a_chunk_stops_before_its_calls(
        state_table: str, clock: Clock, lambda_context: LambdaContext) -> None:
    vols = backup_volumes(30)
    clients = RecordingClients()
    planned = [0]

    def second_planned_write(body: Any) -> bool:
        if "'planned'" not in str(body):
            return False
        planned[0] += 1
        return planned[0] == 2

    clients.fail("dynamodb", "BatchWriteItem", code="ResourceNotFoundException", when=second_planned_write)
    with pytest.raises(StateLogError):
        run(clock, lambda_context, clients)

    # only volumes of the first chunk (planned) were snapshotted; once the write failed, the calls not
    # started yet were dropped, and the second chunk was never called
    called = {body["VolumeId"] for _, op, body in clients.calls if op == "CreateSnapshot"}
    assert called <= set(vols[:25])
    assert {s["VolumeId"] for s in our_snapshots()} == called
    scan = boto3.client("dynamodb").scan(TableName=state_table)["Items"]
    assert sorted(i["resource_id"]["S"] for i in scan if i.get("outcome", {}).get("S") == "planned") == vols[:25]

# ---------------------------------------------------------------------- modes


def test_dry_run_records_the_plan_and_changes_nothing(
        state_table: str, clock: Clock, lambda_context: LambdaContext) -> None:
    vol = volume(BACKUP)
    run(clock, lambda_context)
    clock.advance(days=40)
    result = run(clock, lambda_context, mode="audit")
    assert len(our_snapshots()) == 1  # no new snapshot, the old one not deleted
    records = items(state_table, result["run_id"])
    assert {(r["action"], r["outcome"], r["dry_run"]) for r in records} == {
        ("create-snapshot", "planned", True), ("delete-snapshot", "planned", True)}
    assert vol in {r["resource_id"] for r in records}
    assert summary(state_table, result["run_id"])["mode"] == "audit"


def test_state_table_override_switches_the_mode_without_a_deploy(
        state_table: str, clock: Clock, lambda_context: LambdaContext) -> None:
    volume(BACKUP)
    set_mode_override(boto3.client("dynamodb"), state_table, "ebs-snapshots", "off", by="oncall", reason="incident")
    result = run(clock, lambda_context)
    assert result["status"] == "off"
    assert our_snapshots() == []
    assert summary(state_table, result["run_id"])["mode_source"] == "override:ebs-snapshots"


# ---------------------------------------------------------------------- failure paths


def test_one_failing_volume_does_not_stop_the_others(
        state_table: str, alerts: Alerts, clock: Clock, lambda_context: LambdaContext) -> None:
    good = [volume(BACKUP) for _ in range(2)]
    bad = volume(BACKUP)
    clients = RecordingClients()
    clients.fail("ec2", "CreateSnapshot", code="AccessDenied", when=lambda body: body.get("VolumeId") == bad)
    result = run(clock, lambda_context, clients)
    assert sorted(s["VolumeId"] for s in our_snapshots()) == sorted(good)
    assert result["status"] == "partial"
    run_summary = summary(state_table, result["run_id"])
    assert (run_summary["status"], run_summary["succeeded"], run_summary["failed"]) == ("partial", 2, 1)
    [failed] = [r for r in items(state_table, result["run_id"]) if r["outcome"] == "failed"]
    assert failed["resource_id"] == bad and failed["reason"].startswith("AccessDenied")
    [message] = alerts.messages()
    assert "partial" in message["Subject"]


def test_unreachable_state_table_means_nothing_is_touched(
        monkeypatch: pytest.MonkeyPatch, clock: Clock, lambda_context: LambdaContext) -> None:
    volume(BACKUP)
    monkeypatch.setenv("CARETAKER_STATE_TABLE", "missing-table")
    clients = RecordingClients()
    with pytest.raises(StateLogError, match="missing-table"):
        run(clock, lambda_context, clients)
    assert our_snapshots() == []
    assert not {"CreateSnapshot", "CreateSnapshots", "DeleteSnapshot"} & set(clients.count("ec2"))


def test_state_log_failing_mid_run_stops_before_the_next_action(
        state_table: str, clock: Clock, lambda_context: LambdaContext) -> None:
    volume(BACKUP)
    run(clock, lambda_context)
    clock.advance(days=40)
    clients = RecordingClients()
    clients.fail("dynamodb", "PutItem", code="ResourceNotFoundException",
                 when=lambda body: "delete-snapshot" in str(body))
    with pytest.raises(StateLogError):
        run(clock, lambda_context, clients)
    assert clients.count("ec2")["DeleteSnapshot"] == 0
    assert len(our_snapshots()) == 2  # the new one was taken; the old one was not deleted


def test_invalid_setting_fails_the_run_with_a_clear_message(
        state_table: str, clock: Clock, lambda_context: LambdaContext) -> None:
    volume(BACKUP)
    with pytest.raises(SettingsError, match="CARETAKER_RETENTION_COUNT must be an integer from 1 to 1000, got '0'"):
        run(clock, lambda_context, retention_count="0")
    assert our_snapshots() == []
    runs = [i for i in boto3.client("dynamodb").scan(TableName=state_table)["Items"] if i["sk"]["S"] == "SUMMARY"]
    assert runs and runs[0]["status"]["S"] == "failed" and "RETENTION_COUNT" in runs[0]["error"]["S"]


def test_scheduled_event_with_extra_fields_is_accepted_and_other_events_rejected(
        state_table: str, clock: Clock, lambda_context: LambdaContext) -> None:
    volume(BACKUP)
    event = {**scheduled_event(), "unexpected": {"nested": True}}
    assert handler.invoke(event, lambda_context, clients=RecordingClients(), clock=clock)["status"] == "ok"
    from automations.core.errors import EventError

    with pytest.raises(EventError, match="Scheduled Event"):
        handler.invoke({"detail-type": "AWS API Call via CloudTrail"}, lambda_context, clients=RecordingClients(),
                       clock=clock)
    with pytest.raises(EventError, match="JSON object"):
        handler.invoke(["not", "an", "object"], lambda_context, clients=RecordingClients(), clock=clock)
