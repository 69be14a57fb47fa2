"""ebs-encryption-disabled: EBS encryption by default is switched back on in the event's region."""

from __future__ import annotations

from typing import Any

import pytest

from automations.security import ebs_encryption_disabled
from tests.automations.security.conftest import Harness, aws, from_caretaker, load_event, outcomes, redelivered

EVENT_REGION = "eu-west-1"  # the fixture's awsRegion: the rule acts where the call was made


@pytest.fixture
def ec2() -> Any:
    client = aws("ec2", EVENT_REGION)
    client.disable_ebs_encryption_by_default()
    return client


def enabled(ec2: Any) -> bool:
    return bool(ec2.get_ebs_encryption_by_default()["EbsEncryptionByDefault"])


def test_encryption_by_default_is_enabled_again_in_the_events_region(harness: Harness, ec2: Any) -> None:
    summary = harness.invoke(ebs_encryption_disabled.handler, load_event("disable_ebs_encryption_by_default"))

    assert enabled(ec2)
    items = harness.items(summary)
    assert outcomes(items) == [("enable-ebs-encryption-by-default", "planned"),
                               ("enable-ebs-encryption-by-default", "succeeded")]
    assert items[-1]["resource_id"] == "ebs-encryption-by-default/123456789012/eu-west-1"
    assert harness.notifications()[0]["body"]["finding"]["event"]["region"] == EVENT_REGION


def test_audit_mode_leaves_it_off_but_notifies(harness: Harness, ec2: Any) -> None:
    harness.mode("audit")

    summary = harness.invoke(ebs_encryption_disabled.handler, load_event("disable_ebs_encryption_by_default"))

    assert not enabled(ec2)
    assert [(i["outcome"], i["dry_run"]) for i in harness.items(summary)] == [("planned", True)]
    assert len(harness.notifications()) == 1


def test_when_it_is_on_again_already_only_the_gap_is_reported(harness: Harness, ec2: Any) -> None:
    ec2.enable_ebs_encryption_by_default()

    summary = harness.invoke(ebs_encryption_disabled.handler, load_event("disable_ebs_encryption_by_default"))

    assert outcomes(harness.items(summary)) == [("enable-ebs-encryption-by-default", "skipped")]
    assert len(harness.notifications()) == 1


def test_a_second_delivery_of_the_same_event_does_nothing(harness: Harness, ec2: Any) -> None:
    event = load_event("disable_ebs_encryption_by_default")
    harness.invoke(ebs_encryption_disabled.handler, event)
    ec2.disable_ebs_encryption_by_default()

    second = harness.invoke(ebs_encryption_disabled.handler, redelivered(event))

    assert not enabled(ec2)
    assert outcomes(harness.items(second)) == [("evaluate-event", "skipped")]


def test_an_event_caused_by_a_caretaker_role_does_nothing(harness: Harness, ec2: Any) -> None:
    harness.invoke(ebs_encryption_disabled.handler, from_caretaker(load_event("disable_ebs_encryption_by_default")))

    assert not enabled(ec2)
    assert harness.notifications() == []
