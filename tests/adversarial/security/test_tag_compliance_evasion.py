"""tag-compliance: attacks by an instance owner who wants to keep an untagged instance running past its deadline,
or to use the sweep's role against instances that were never announced.

The deadline lives in the state log (the pending record), which developers cannot write; the
`caretaker:stop-after` tag only tells the owner.
"""

from __future__ import annotations

from typing import Any

from automations.core.selection import PROTECT_TAG
from automations.security import tag_compliance_sweep
from automations.security.tag_compliance import STOP_AFTER_TAG
from tests.automations.conftest import scheduled_event
from tests.automations.security.conftest import Harness, outcomes
from tests.automations.security.test_tag_compliance_sweep import announced, launched, state_of, tags_of


def test_removing_the_deadline_tag_does_not_save_the_instance(harness: Harness, ec2: Any) -> None:
    harness.mode("enforce")
    instance = launched(ec2)  # announced, then the owner deleted caretaker:stop-after
    deadline = announced(harness, instance)

    summary = harness.invoke(tag_compliance_sweep.handler, scheduled_event())

    assert state_of(ec2, instance) in ("stopping", "stopped")
    assert tags_of(ec2, instance)[STOP_AFTER_TAG] == deadline  # put back, so the IAM condition holds
    # items written within one millisecond have no order between them: compare as a set
    assert sorted(outcomes(harness.items(summary))) == [("stop-instance", "planned"), ("stop-instance", "succeeded"),
                                                        ("tag-stop-after", "planned"),
                                                        ("tag-stop-after", "succeeded")]


def test_moving_the_deadline_tag_into_the_future_does_not_postpone_the_stop(harness: Harness, ec2: Any) -> None:
    harness.mode("enforce")
    instance = launched(ec2, {STOP_AFTER_TAG: "2099-01-01T00:00:00.000Z"})
    announced(harness, instance)

    harness.invoke(tag_compliance_sweep.handler, scheduled_event())

    assert state_of(ec2, instance) in ("stopping", "stopped")


def test_an_instance_never_announced_is_never_stopped_whatever_its_tags(harness: Harness, ec2: Any) -> None:
    harness.mode("enforce")
    victim = launched(ec2, {STOP_AFTER_TAG: "2000-01-01T00:00:00.000Z"})  # another team's instance, tagged by hand

    summary = harness.invoke(tag_compliance_sweep.handler, scheduled_event())

    assert state_of(ec2, victim) == "running"
    assert harness.items(summary) == []


def test_the_sweep_role_may_stop_only_announced_unprotected_instances() -> None:
    [stop] = [p for p in tag_compliance_sweep.SPEC.permissions if "ec2:StopInstances" in p.actions]
    assert stop.condition == {"StringNotEqualsIgnoreCase": {f"aws:ResourceTag/{PROTECT_TAG}": "true"},
                              "Null": {f"aws:ResourceTag/{STOP_AFTER_TAG}": "false"}}
    assert stop.resources == ("arn:${AWS::Partition}:ec2:*:${AWS::AccountId}:instance/*",)


def test_stopping_and_starting_again_does_not_reset_the_deadline(harness: Harness, ec2: Any) -> None:
    from automations.security import tag_compliance
    from tests.automations.security.test_tag_compliance import running
    from tests.automations.security.test_tag_compliance_sweep import pending

    harness.mode("enforce")
    instance = launched(ec2)
    harness.invoke(tag_compliance.handler, running(instance))
    first_due = pending(harness)[instance]["due"]
    harness.clock.advance(hours=20)
    ec2.stop_instances(InstanceIds=[instance])
    ec2.start_instances(InstanceIds=[instance])

    harness.invoke(tag_compliance.handler, running(instance, "9bf73129-1428-4cd3-a780-95db273d1609"))

    assert pending(harness)[instance]["due"] == first_due
    assert tags_of(ec2, instance)[STOP_AFTER_TAG] == first_due
    harness.clock.advance(hours=5)
    harness.invoke(tag_compliance_sweep.handler, scheduled_event())
    assert state_of(ec2, instance) in ("stopping", "stopped")
