"""s3-public-bucket: a call that may make a bucket public gets the full Block Public Access back."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from automations.core import ledger
from automations.core.errors import StateLogError
from automations.security import s3_public_bucket
from tests.automations.conftest import REGION
from tests.automations.security.conftest import (
    ACCOUNT,
    Harness,
    aws,
    from_caretaker,
    load_event,
    outcomes,
)
from tests.recording import RecordingClients

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


def test_a_bucket_tagged_public_on_purpose_is_left_alone_and_reported(harness: Harness, s3: Any) -> None:
    s3.put_bucket_tagging(Bucket=BUCKET, Tagging={"TagSet": [{"Key": "caretaker:allow-public", "Value": "true"}]})

    summary = harness.invoke(s3_public_bucket.handler, load_event("delete_bucket_public_access_block"))

    assert block(s3) == {}
    assert outcomes(harness.items(summary)) == [("block-public-access", "skipped")]
    [note] = harness.notifications()
    assert note["body"]["caretaker"]["outcome"] == "skipped"


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
    second = harness.redelivered(s3_public_bucket.handler, load_event("delete_bucket_public_access_block"),
                                 lambda: s3.delete_public_access_block(Bucket=BUCKET))

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


# ---------------------------------------------------------------------- account level: failure paths


def managed(state_table: str) -> None:
    """A lineage item as Custom::S3AccountPublicAccessBlock leaves it (see tests/adversarial for the writer)."""
    aws("dynamodb").put_item(TableName=state_table, Item={
        "pk": {"S": f"CR#s3:account-public-access-block:{ACCOUNT}"}, "sk": {"S": "LINEAGE"},
        "type": {"S": "lineage"}, "version": {"N": "1"},
        "holders": {"L": [{"M": {"physical_id": {"S": "caretaker:s3-account-public-access-block:0123456789ab"},
                                 "stack_id": {"S": "arn:aws:cloudformation:us-east-1:123456789012:stack/b/1"},
                                 "logical_id": {"S": "AccountBlock"}, "restore_exists": {"BOOL": False},
                                 "restore": {"M": {}}, "at": {"S": "2026-11-01T09:00:00.000Z"}}}]}})


def failed_runs(harness: Harness) -> list[dict[str, Any]]:
    since = harness.clock() - timedelta(hours=1)
    return [r for r in ledger.runs_since(harness.dynamodb, harness.table, since) if r["status"] == "failed"]


def account_block() -> dict[str, bool]:
    try:
        config: dict[str, bool] = aws("s3control").get_public_access_block(AccountId=ACCOUNT)[
            "PublicAccessBlockConfiguration"]
        return config
    except aws("s3control").exceptions.NoSuchPublicAccessBlockConfiguration:
        return {}


def test_a_refused_account_restore_is_recorded_failed_and_notified(harness: Harness, state_table: str,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    managed(state_table)
    clients = RecordingClients()
    clients.fail("s3control", "PutPublicAccessBlock", code="AccessDenied")
    monkeypatch.setattr(harness, "clients", clients)

    summary = harness.invoke(s3_public_bucket.handler, load_event("delete_account_public_access_block"))

    assert account_block() == {}
    items = harness.items(summary)
    assert outcomes(items) == [("restore-account-public-access-block", "planned"),
                               ("restore-account-public-access-block", "failed")]
    assert items[-1]["reason"].startswith("AccessDenied")
    [note] = [n for n in harness.notifications() if "caretaker" in n["body"]]
    assert note["body"]["caretaker"]["outcome"] == "failed"


def test_an_unreadable_lineage_stops_the_rule_before_it_acts(harness: Harness, state_table: str,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    managed(state_table)
    clients = RecordingClients()
    clients.fail("dynamodb", "GetItem", code="AccessDeniedException", when=lambda body: "CR#" in str(body.get("Key")))
    monkeypatch.setattr(harness, "clients", clients)

    with pytest.raises(StateLogError):
        harness.invoke(s3_public_bucket.handler, load_event("delete_account_public_access_block"))

    assert account_block() == {}
    [run] = failed_runs(harness)
    assert "holders of s3:account-public-access-block" in run["error"]
    assert [i for i in harness.items(run) if i["outcome"] == "planned"] == []


def test_an_unreadable_account_configuration_fails_the_run(harness: Harness, state_table: str,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    clients = RecordingClients()
    clients.fail("s3control", "GetPublicAccessBlock", code="AccessDenied")
    monkeypatch.setattr(harness, "clients", clients)

    with pytest.raises(ClientError):
        harness.invoke(s3_public_bucket.handler, load_event("put_account_public_access_block"))

    [run] = failed_runs(harness)
    assert "AccessDenied" in run["error"]
    assert harness.items(run) == []


def test_an_account_event_is_decided_without_its_request_parameters(harness: Harness) -> None:
    event = load_event("delete_account_public_access_block")
    event["detail"]["requestParameters"] = None

    summary = harness.invoke(s3_public_bucket.handler, event)

    assert outcomes(harness.items(summary)) == [("notify", "planned"), ("notify", "succeeded")]
    assert harness.items(summary)[-1]["resource_id"] == f"s3:account-public-access-block:{ACCOUNT}"
