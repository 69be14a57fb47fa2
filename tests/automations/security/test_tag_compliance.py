"""tag-compliance: an instance that starts without the required tags is announced (tag + pending record)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from automations.core.selection import CREATED_BY_TAG, PROTECT_TAG
from automations.security import tag_compliance, tag_compliance_sweep
from automations.security.tag_compliance import STOP_AFTER_TAG, deadline_text
from tests.automations.conftest import scheduled_event
from tests.automations.security.conftest import Harness, outcomes, redelivered
from tests.automations.security.test_tag_compliance_sweep import launched, pending, state_of, tags_of
from tests.recording import RecordingClients

EVENTS = Path(__file__).resolve().parents[2] / "events" / "ec2"
CREATOR = "arn:aws:iam::123456789012:role/DeveloperAccess session:alice@example.com"
ACTION = "tag-stop-after"


def running(instance_id: str, event_id: str = "7bf73129-1428-4cd3-a780-95db273d1602") -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / "instance_state_change_running.json").read_text())
    event["id"] = event_id
    event["detail"]["instance-id"] = instance_id
    event["resources"] = [f"arn:aws:ec2:us-east-1:123456789012:instance/{instance_id}"]
    return event


@pytest.fixture
def enforce(harness: Harness) -> Harness:
    harness.mode("enforce")
    return harness


def test_an_instance_started_without_the_required_tags_is_announced(enforce: Harness, ec2: Any) -> None:
    instance = launched(ec2, {"owner": "team-a", CREATED_BY_TAG: CREATOR})
    due = deadline_text(enforce.clock.now + timedelta(seconds=1, hours=24))

    summary = enforce.invoke(tag_compliance.handler, running(instance))

    assert tags_of(ec2, instance)[STOP_AFTER_TAG] == due
    record = pending(enforce)[instance]
    assert (record["stage"], record["due"], record["dry_run"]) == ("pending", due, False)
    assert record["details"]["missing"] == ["cost-center"] and record["details"]["created_by"] == CREATOR
    assert outcomes(enforce.items(summary)) == [(ACTION, "planned"), (ACTION, "succeeded")]
    [note] = enforce.notifications()
    assert CREATOR in note["subject"] + note["summary"]
    assert note["body"]["finding"]["missing"] == ["cost-center"]


def test_an_instance_with_every_required_tag_is_left_alone(enforce: Harness, ec2: Any) -> None:
    instance = launched(ec2, {"owner": "team-a", "cost-center": "cc-42"})

    summary = enforce.invoke(tag_compliance.handler, running(instance))

    assert STOP_AFTER_TAG not in tags_of(ec2, instance)
    assert outcomes(enforce.items(summary)) == [(ACTION, "skipped")]
    assert pending(enforce) == {} and enforce.notifications() == []


def test_the_required_tags_are_a_setting(enforce: Harness, ec2: Any) -> None:
    enforce.setting("CARETAKER_REQUIRED_TAGS", "project")
    instance = launched(ec2, {"owner": "team-a", "cost-center": "cc-42"})

    enforce.invoke(tag_compliance.handler, running(instance))

    assert pending(enforce)[instance]["details"]["missing"] == ["project"]


def test_a_protected_instance_is_reported_not_tagged(enforce: Harness, ec2: Any) -> None:
    instance = launched(ec2, {PROTECT_TAG: "true"})

    summary = enforce.invoke(tag_compliance.handler, running(instance))

    assert STOP_AFTER_TAG not in tags_of(ec2, instance) and pending(enforce) == {}
    assert [i["reason"] for i in enforce.items(summary)] == [f"protected: tagged {PROTECT_TAG}=true"]
    assert len(enforce.notifications()) == 1


def test_audit_mode_by_default_records_the_announcement_but_tags_nothing(harness: Harness, ec2: Any) -> None:
    instance = launched(ec2)

    summary = harness.invoke(tag_compliance.handler, running(instance))

    assert STOP_AFTER_TAG not in tags_of(ec2, instance)
    assert pending(harness)[instance]["dry_run"] is True
    assert [(i["outcome"], i["dry_run"]) for i in harness.items(summary)] == [("planned", True)]
    assert len(harness.notifications()) == 1


def test_a_second_delivery_of_the_same_event_does_nothing(enforce: Harness, ec2: Any) -> None:
    instance = launched(ec2)
    event = running(instance)
    enforce.invoke(tag_compliance.handler, event)

    second = enforce.invoke(tag_compliance.handler, redelivered(event))

    assert outcomes(enforce.items(second)) == [("evaluate-event", "skipped")]


def test_an_instance_stopped_again_before_the_event_arrived_is_skipped(enforce: Harness, ec2: Any) -> None:
    instance = launched(ec2)
    ec2.stop_instances(InstanceIds=[instance])

    summary = enforce.invoke(tag_compliance.handler, running(instance))

    [item] = enforce.items(summary)
    assert item["reason"].startswith("no longer running") and pending(enforce) == {}


def test_a_terminated_and_gone_instance_is_skipped_as_gone(enforce: Harness) -> None:
    summary = enforce.invoke(tag_compliance.handler, running("i-0000000000000dead"))

    [item] = enforce.items(summary)
    assert item["reason"].startswith("gone:")


def test_an_event_without_an_instance_id_is_a_bad_event(enforce: Harness) -> None:
    event = running("i-0a1b2c3d4e5f60001")
    del event["detail"]["instance-id"]

    summary = enforce.invoke(tag_compliance.handler, event)

    [item] = enforce.items(summary)
    assert (item["action"], item["outcome"]) == ("evaluate-event", "skipped")
    assert item["reason"].startswith("bad event:") and summary["status"] == "ok"


def test_a_refused_tag_call_is_recorded_failed_and_the_deadline_still_holds(enforce: Harness, ec2: Any,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    instance = launched(ec2)
    clients = RecordingClients()
    clients.fail("ec2", "CreateTags", "UnauthorizedOperation")
    monkeypatch.setattr(enforce, "clients", clients)

    summary = enforce.invoke(tag_compliance.handler, running(instance))

    assert outcomes(enforce.items(summary)) == [(ACTION, "planned"), (ACTION, "failed")]
    assert pending(enforce)[instance]["dry_run"] is False  # the sweep puts the tag back before it stops


def test_announced_then_stopped_after_the_grace_period_unless_fixed(enforce: Harness, ec2: Any) -> None:
    lagging, fixed = launched(ec2), launched(ec2)
    enforce.invoke(tag_compliance.handler, running(lagging))
    enforce.invoke(tag_compliance.handler, running(fixed, "8bf73129-1428-4cd3-a780-95db273d1603"))
    ec2.create_tags(Resources=[fixed], Tags=[{"Key": "owner", "Value": "team-b"},
                                             {"Key": "cost-center", "Value": "cc-7"}])

    enforce.clock.advance(hours=23)
    early = enforce.invoke(tag_compliance_sweep.handler, scheduled_event())
    assert early["stopped"] == 0 and state_of(ec2, lagging) == "running"

    enforce.clock.advance(hours=2)
    enforce.invoke(tag_compliance_sweep.handler, scheduled_event())

    assert state_of(ec2, lagging) in ("stopping", "stopped")
    assert state_of(ec2, fixed) == "running" and STOP_AFTER_TAG not in tags_of(ec2, fixed)
    assert pending(enforce) == {}


def test_the_pattern_takes_running_state_changes_only() -> None:
    from automations.core.spec import trigger_manifest
    from tests.automations.security.conftest import matches

    pattern = trigger_manifest(tag_compliance.SPEC.trigger)["pattern"]
    event = running("i-0a1b2c3d4e5f60001")
    assert matches(pattern, event)
    for change in ({"state": "stopped"}, {"state": "pending"}):
        assert not matches(pattern, {**event, "detail": {**event["detail"], **change}})
    assert not matches(pattern, {**event, "source": "custom.lookalike"})
    assert not matches(pattern, {**event, "detail-type": "EC2 Spot Instance Interruption Warning"})
