"""cloudtrail-tampering: a stopped trail logs again; deleted or reconfigured trails are reported."""

from __future__ import annotations

from typing import Any

import pytest

from automations.security import cloudtrail_tampering
from tests.automations.conftest import REGION
from tests.automations.security.conftest import Harness, aws, from_caretaker, load_event, outcomes

TRAIL = "management-events"


@pytest.fixture
def cloudtrail() -> Any:
    aws("s3", REGION).create_bucket(Bucket="example-trail-logs")
    client = aws("cloudtrail", REGION)
    client.create_trail(Name=TRAIL, S3BucketName="example-trail-logs", IsMultiRegionTrail=True)
    return client


def logging(cloudtrail: Any) -> bool:
    return bool(cloudtrail.get_trail_status(Name=TRAIL)["IsLogging"])


def test_a_stopped_trail_logs_again(harness: Harness, cloudtrail: Any) -> None:
    summary = harness.invoke(cloudtrail_tampering.handler, load_event("stop_logging"))

    assert logging(cloudtrail)
    items = harness.items(summary)
    assert outcomes(items) == [("start-logging", "planned"), ("start-logging", "succeeded")]
    assert items[-1]["resource_id"].endswith(f":trail/{TRAIL}")
    [note] = harness.notifications()
    assert note["body"]["caretaker"]["outcome"] == "succeeded"
    assert note["body"]["finding"]["actor"]["arn"] == "arn:aws:iam::123456789012:user/bob"


def test_a_trail_logging_again_already_is_only_reported(harness: Harness, cloudtrail: Any) -> None:
    cloudtrail.start_logging(Name=TRAIL)

    summary = harness.invoke(cloudtrail_tampering.handler, load_event("stop_logging"))

    assert outcomes(harness.items(summary)) == [("start-logging", "skipped")]
    assert "gap" in harness.notifications()[0]["summary"]


def test_audit_mode_leaves_the_trail_stopped_but_notifies(harness: Harness, cloudtrail: Any) -> None:
    harness.mode("audit")

    summary = harness.invoke(cloudtrail_tampering.handler, load_event("stop_logging"))

    assert not logging(cloudtrail)
    assert [(i["outcome"], i["dry_run"]) for i in harness.items(summary)] == [("planned", True)]
    assert harness.notifications()[0]["body"]["caretaker"]["outcome"] == "planned"


def test_a_protected_trail_is_not_restarted(harness: Harness, cloudtrail: Any) -> None:
    arn = cloudtrail.get_trail(Name=TRAIL)["Trail"]["TrailARN"]
    cloudtrail.add_tags(ResourceId=arn, TagsList=[{"Key": "caretaker:protect", "Value": "true"}])

    harness.invoke(cloudtrail_tampering.handler, load_event("stop_logging"))

    assert not logging(cloudtrail)
    assert harness.notifications()[0]["body"]["caretaker"]["outcome"] == "skipped"


@pytest.mark.parametrize(("name", "headline", "after"), [
    ("delete_trail", "was deleted", False),
    ("update_trail", "was reconfigured", True),
    ("put_event_selectors", "event selectors", True),
])
def test_other_trail_changes_are_reported_with_what_the_event_holds(harness: Harness, name: str, headline: str,
                                                                    after: bool) -> None:
    summary = harness.invoke(cloudtrail_tampering.handler, load_event(name))

    items = harness.items(summary)
    assert outcomes(items) == [("notify", "planned"), ("notify", "succeeded")]
    [note] = harness.notifications()
    assert headline in note["subject"]
    finding = note["body"]["finding"]
    assert ("after" in finding) is after
    if name == "update_trail":
        assert finding["requested"] == {"isMultiRegionTrail": False, "includeGlobalServiceEvents": False}
        assert finding["after"]["isMultiRegionTrail"] is False
        assert items[-1]["details"]["after"]["trailARN"].endswith(f"trail/{TRAIL}")


def test_a_second_delivery_of_the_same_event_does_nothing(harness: Harness, cloudtrail: Any) -> None:
    second = harness.redelivered(cloudtrail_tampering.handler, load_event("stop_logging"),
                                 lambda: cloudtrail.stop_logging(Name=TRAIL))

    assert not logging(cloudtrail)
    assert outcomes(harness.items(second)) == [("evaluate-event", "skipped")]
    assert harness.notifications() == []


def test_an_event_caused_by_a_caretaker_role_does_nothing(harness: Harness, cloudtrail: Any) -> None:
    summary = harness.invoke(cloudtrail_tampering.handler, from_caretaker(load_event("stop_logging")))

    assert not logging(cloudtrail)
    assert outcomes(harness.items(summary)) == [("evaluate-event", "skipped")]
    assert harness.notifications() == []


def test_a_trail_that_no_longer_exists_is_skipped(harness: Harness) -> None:
    summary = harness.invoke(cloudtrail_tampering.handler, load_event("stop_logging"))

    [item] = harness.items(summary)
    assert item["outcome"] == "skipped" and "no longer exists" in item["reason"]
