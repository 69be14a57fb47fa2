"""s3-public-bucket: a call that may make a bucket public gets the full Block Public Access back."""

from __future__ import annotations

from typing import Any

import pytest

from automations.security import s3_public_bucket
from tests.automations.conftest import REGION
from tests.automations.security.conftest import Harness, aws, from_caretaker, load_event, outcomes, redelivered

BUCKET = "example-data-bucket"
ALL_ON = dict.fromkeys(s3_public_bucket.FLAGS, True)


@pytest.fixture
def s3() -> Any:
    client = aws("s3", REGION)
    client.create_bucket(Bucket=BUCKET)
    return client


def block(s3: Any) -> dict[str, bool]:
    try:
        config: dict[str, bool] = s3.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"]
        return config
    except s3.exceptions.ClientError:
        return {}


@pytest.mark.parametrize("name", ["put_bucket_acl", "put_bucket_policy", "delete_bucket_public_access_block",
                                  "put_bucket_public_access_block"])
def test_the_full_block_is_reapplied_after_a_weakening_call(harness: Harness, s3: Any, name: str) -> None:
    s3.put_public_access_block(Bucket=BUCKET, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": False,
        "RestrictPublicBuckets": False})

    summary = harness.invoke(s3_public_bucket.handler, load_event(name))

    assert block(s3) == ALL_ON
    items = harness.items(summary)
    assert outcomes(items) == [("block-public-access", "planned"), ("block-public-access", "succeeded")]
    assert items[-1]["details"]["before"]["BlockPublicPolicy"] is False
    assert items[-1]["details"]["flags_off"] == ["BlockPublicPolicy", "RestrictPublicBuckets"]
    [note] = harness.notifications()
    assert BUCKET in note["subject"] and note["body"]["caretaker"]["outcome"] == "succeeded"


def test_a_bucket_without_any_block_configuration_gets_one(harness: Harness, s3: Any) -> None:
    harness.invoke(s3_public_bucket.handler, load_event("delete_bucket_public_access_block"))

    assert block(s3) == ALL_ON


def test_a_bucket_tagged_public_on_purpose_is_left_alone(harness: Harness, s3: Any) -> None:
    s3.put_bucket_tagging(Bucket=BUCKET, Tagging={"TagSet": [{"Key": "caretaker:allow-public", "Value": "true"}]})

    summary = harness.invoke(s3_public_bucket.handler, load_event("delete_bucket_public_access_block"))

    assert block(s3) == {}
    assert outcomes(harness.items(summary)) == [("block-public-access", "skipped")]
    assert harness.notifications() == []


def test_the_allow_tag_is_a_setting(harness: Harness, s3: Any) -> None:
    harness.setting("CARETAKER_ALLOW_PUBLIC_TAG", "website=public")
    s3.put_bucket_tagging(Bucket=BUCKET, Tagging={"TagSet": [{"Key": "caretaker:allow-public", "Value": "true"}]})

    harness.invoke(s3_public_bucket.handler, load_event("delete_bucket_public_access_block"))

    assert block(s3) == ALL_ON


def test_a_bucket_already_fully_blocked_needs_nothing(harness: Harness, s3: Any) -> None:
    s3.put_public_access_block(Bucket=BUCKET, PublicAccessBlockConfiguration=ALL_ON)

    summary = harness.invoke(s3_public_bucket.handler, load_event("put_bucket_acl"))

    assert outcomes(harness.items(summary)) == [("block-public-access", "skipped")]
    assert harness.notifications() == []


def test_audit_mode_changes_nothing_but_records_the_plan_and_notifies(harness: Harness, s3: Any) -> None:
    harness.mode("audit")

    summary = harness.invoke(s3_public_bucket.handler, load_event("delete_bucket_public_access_block"))

    assert block(s3) == {}
    [planned] = harness.items(summary)
    assert (planned["outcome"], planned["dry_run"]) == ("planned", True)
    assert harness.notifications()[0]["body"]["caretaker"]["outcome"] == "planned"


def test_a_protected_bucket_is_reported_and_left_alone(harness: Harness, s3: Any) -> None:
    s3.put_bucket_tagging(Bucket=BUCKET, Tagging={"TagSet": [{"Key": "caretaker:protect", "Value": "true"}]})

    harness.invoke(s3_public_bucket.handler, load_event("delete_bucket_public_access_block"))

    assert block(s3) == {}
    assert harness.notifications()[0]["body"]["caretaker"]["outcome"] == "skipped"


def test_a_second_delivery_of_the_same_event_does_nothing(harness: Harness, s3: Any) -> None:
    event = load_event("delete_bucket_public_access_block")
    harness.invoke(s3_public_bucket.handler, event)
    s3.delete_public_access_block(Bucket=BUCKET)
    harness.notifications()

    second = harness.invoke(s3_public_bucket.handler, redelivered(event))

    assert block(s3) == {}
    assert outcomes(harness.items(second)) == [("evaluate-event", "skipped")]
    assert harness.notifications() == []


def test_an_event_caused_by_a_caretaker_role_does_nothing(harness: Harness, s3: Any) -> None:
    summary = harness.invoke(s3_public_bucket.handler, from_caretaker(load_event("delete_bucket_public_access_block")))

    assert block(s3) == {}
    assert outcomes(harness.items(summary)) == [("evaluate-event", "skipped")]


def test_a_bucket_that_no_longer_exists_is_skipped(harness: Harness) -> None:
    summary = harness.invoke(s3_public_bucket.handler, load_event("put_bucket_policy"))

    [item] = harness.items(summary)
    assert item["outcome"] == "skipped" and "no longer exists" in item["reason"]


def test_an_event_without_a_bucket_name_is_skipped(harness: Harness) -> None:
    event = load_event("put_bucket_policy")
    del event["detail"]["requestParameters"]["bucketName"]

    summary = harness.invoke(s3_public_bucket.handler, event)

    [item] = harness.items(summary)
    assert item["reason"] == "bad event: requestParameters.bucketName is missing"
