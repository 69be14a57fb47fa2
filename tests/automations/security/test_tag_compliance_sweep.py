"""tag-compliance-sweep: announced instances are stopped after their deadline, re-checked first."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from automations.core.pending import PendingRecord, PendingStore, pending_items
from automations.core.selection import PROTECT_TAG
from automations.security import tag_compliance_sweep
from automations.security.tag_compliance import STOP_AFTER_TAG, deadline_text
from tests.automations.conftest import scheduled_event
from tests.automations.security.conftest import Harness, outcomes
from tests.recording import RecordingClients

CREATOR = "arn:aws:iam::123456789012:role/DeveloperAccess session:alice@example.com"


def launched(ec2: Any, tags: dict[str, str] | None = None) -> str:
    specs = [{"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}] if tags else []
    return str(ec2.run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1,
                                 TagSpecifications=specs)["Instances"][0]["InstanceId"])


def announced(harness: Harness, instance_id: str, *, hours_ago: int = 25, dry_run: bool = False,
              missing: tuple[str, ...] = ("owner", "cost-center")) -> str:
    """The pending record tag-compliance writes when it announces an instance (due 24 hours after)."""
    due = harness.clock.now - timedelta(hours=hours_ago - 24)
    store = PendingStore(harness.table, harness.dynamodb, automation="tag-compliance", run_id="announce-run",
                         clock=harness.clock)
    store.put(PendingRecord(resource_id=instance_id, stage="pending", first_seen=due - timedelta(hours=24),
                            reason="missing required tag(s)", dry_run=dry_run, run_id="announce-run", due=due,
                            details={"region": "us-east-1", "required": ["owner", "cost-center"],
                                     "missing": list(missing), "created_by": CREATOR}))
    store.flush()
    return deadline_text(due)


def state_of(ec2: Any, instance_id: str) -> str:
    return str(ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]["State"]["Name"])


def tags_of(ec2: Any, instance_id: str) -> dict[str, str]:
    found = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [instance_id]}])["Tags"]
    return {t["Key"]: t["Value"] for t in found}


def pending(harness: Harness) -> dict[str, dict[str, Any]]:
    return {i["resource_id"]: i for i in pending_items(harness.dynamodb, harness.table, "tag-compliance")}


@pytest.fixture
def enforce(harness: Harness) -> Harness:
    harness.mode("enforce")
    return harness


def test_an_announced_instance_still_missing_tags_after_its_deadline_is_stopped(enforce: Harness, ec2: Any) -> None:
    instance = launched(ec2)
    deadline = announced(enforce, instance)
    ec2.create_tags(Resources=[instance], Tags=[{"Key": STOP_AFTER_TAG, "Value": deadline}])

    summary = enforce.invoke(tag_compliance_sweep.handler, scheduled_event())

    assert state_of(ec2, instance) in ("stopping", "stopped")
    assert outcomes(enforce.items(summary)) == [("stop-instance", "planned"), ("stop-instance", "succeeded")]
    assert pending(enforce) == {}
    [note] = enforce.notifications()
    assert note["body"]["stopped"] == [{"id": instance, "missing": ["owner", "cost-center"], "created_by": CREATOR}]


def test_an_instance_before_its_deadline_is_left_running(enforce: Harness, ec2: Any) -> None:
    instance = launched(ec2)
    announced(enforce, instance, hours_ago=2)

    summary = enforce.invoke(tag_compliance_sweep.handler, scheduled_event())

    assert state_of(ec2, instance) == "running"
    assert enforce.items(summary) == []
    assert set(pending(enforce)) == {instance}


def test_an_instance_tagged_in_time_is_spared_and_loses_the_deadline_tag(enforce: Harness, ec2: Any) -> None:
    instance = launched(ec2, {"owner": "team-a", "cost-center": "cc-42", STOP_AFTER_TAG: "2026-11-28T10:50:33.000Z"})
    announced(enforce, instance)

    summary = enforce.invoke(tag_compliance_sweep.handler, scheduled_event())

    assert state_of(ec2, instance) == "running"
    assert tags_of(ec2, instance) == {"owner": "team-a", "cost-center": "cc-42"}
    assert ("stop-instance", "skipped") in outcomes(enforce.items(summary))
    assert pending(enforce) == {}


def test_a_blank_required_tag_does_not_count(enforce: Harness, ec2: Any) -> None:
    instance = launched(ec2, {"owner": " ", "cost-center": "cc-42"})
    announced(enforce, instance)

    enforce.invoke(tag_compliance_sweep.handler, scheduled_event())

    assert state_of(ec2, instance) in ("stopping", "stopped")


def test_a_protected_instance_is_never_stopped(enforce: Harness, ec2: Any) -> None:
    instance = launched(ec2, {PROTECT_TAG: "true"})
    announced(enforce, instance)

    summary = enforce.invoke(tag_compliance_sweep.handler, scheduled_event())

    assert state_of(ec2, instance) == "running"
    [item] = enforce.items(summary)
    assert (item["outcome"], item["reason"]) == ("skipped", f"protected: tagged {PROTECT_TAG}=true")


def test_audit_mode_plans_the_stop_and_keeps_the_record(harness: Harness, ec2: Any) -> None:
    instance = launched(ec2, {STOP_AFTER_TAG: "x"})
    announced(harness, instance)

    summary = harness.invoke(tag_compliance_sweep.handler, scheduled_event())

    assert state_of(ec2, instance) == "running"
    assert [(i["action"], i["outcome"], i["dry_run"]) for i in harness.items(summary)] == [
        ("stop-instance", "planned", True)]
    assert set(pending(harness)) == {instance}
    [note] = harness.notifications()
    assert note["body"]["would_stop"][0]["id"] == instance


def test_an_audit_mode_announcement_never_leads_to_a_stop(enforce: Harness, ec2: Any) -> None:
    instance = launched(ec2)
    announced(enforce, instance, dry_run=True)

    summary = enforce.invoke(tag_compliance_sweep.handler, scheduled_event())

    assert state_of(ec2, instance) == "running"
    [item] = enforce.items(summary)
    assert item["outcome"] == "skipped" and "audit-mode" in item["reason"]
    assert pending(enforce) == {}


def test_a_terminated_or_stopped_instance_only_loses_its_record(enforce: Harness, ec2: Any) -> None:
    terminated, stopped = launched(ec2), launched(ec2)
    ec2.terminate_instances(InstanceIds=[terminated])
    ec2.stop_instances(InstanceIds=[stopped])
    announced(enforce, terminated)
    announced(enforce, stopped)

    summary = enforce.invoke(tag_compliance_sweep.handler, scheduled_event())

    reasons = {i["resource_id"]: i["reason"] for i in enforce.items(summary)}
    assert reasons[terminated].startswith("gone:") and reasons[stopped].startswith("already stop")
    assert pending(enforce) == {}


def test_a_refused_stop_is_recorded_failed_and_retried_next_sweep(enforce: Harness, ec2: Any,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    instance = launched(ec2, {STOP_AFTER_TAG: "x"})
    announced(enforce, instance)
    clients = RecordingClients()
    clients.fail("ec2", "StopInstances", "UnauthorizedOperation")
    monkeypatch.setattr(enforce, "clients", clients)

    summary = enforce.invoke(tag_compliance_sweep.handler, scheduled_event())

    assert state_of(ec2, instance) == "running"
    assert outcomes(enforce.items(summary)) == [("stop-instance", "planned"), ("stop-instance", "failed")]
    assert set(pending(enforce)) == {instance}
    assert summary["status"] == "failed"
