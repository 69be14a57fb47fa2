"""Attacks that hide a public S3 exposure behind an exception, and the legitimate uses beside them.

* The allow-public tag: anyone who may tag a bucket can add it. A tagged bucket that goes public is
  left public, but recorded and notified: the tag never makes a change invisible.
* The account-level Block Public Access (S3 Control Put/DeletePublicAccessBlock, recorded by CloudTrail
  as Put/DeleteAccountPublicAccessBlock): restored where a Custom::S3AccountPublicAccessBlock holds the
  setting (its lineage in the state table), reported everywhere else.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from automations.core.state_log import StateLog
from automations.security import s3_account_block, s3_public_bucket
from custom_resources.lineage import Holder, Lineage
from custom_resources.s3_account_public_access_block import S3AccountPublicAccessBlock
from tests.automations.conftest import REGION, Clock
from tests.automations.security.conftest import ACCOUNT, Harness, aws, load_event, outcomes
from tests.automations.security.test_s3_public_bucket import BUCKET, block

ALL_ON = dict.fromkeys(s3_public_bucket.FLAGS, True)
ALL_OFF = dict.fromkeys(s3_public_bucket.FLAGS, False)
SETTING = s3_account_block.setting_id(ACCOUNT)
STACK = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/security-baseline/1f2e3d4c-0000-4000-8000-000000000001"


@pytest.fixture
def s3() -> Any:
    client = aws("s3", REGION)
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture
def s3control() -> Any:
    return aws("s3control", REGION)


def account_block(s3control: Any) -> dict[str, bool]:
    try:
        config: dict[str, bool] = s3control.get_public_access_block(AccountId=ACCOUNT)[
            "PublicAccessBlockConfiguration"]
        return config
    except s3control.exceptions.NoSuchPublicAccessBlockConfiguration:
        return {}


def managed_by_caretaker(state_table: str, clock: Clock) -> Holder:
    """What a Create of Custom::S3AccountPublicAccessBlock leaves in the state table: a holder in its lineage,
    written with the custom resource's own lineage code."""
    state = StateLog(state_table, aws("dynamodb"), automation="caretaker-s3-account-public-access-block",
                     run_id="create-request-1", clock=clock)
    holder = Holder(physical_id="caretaker:s3-account-public-access-block:0123456789ab", stack_id=STACK,
                    logical_id="AccountBlock", restore=None, at="2026-11-01T09:00:00.000Z")
    Lineage.beside(state, subject=SETTING).push(holder)
    return holder


# ---------------------------------------------------------------------- the allow-public tag


def test_a_bucket_tagged_public_that_goes_public_is_reported_not_silent(harness: Harness, s3: Any) -> None:
    s3.put_bucket_tagging(Bucket=BUCKET, Tagging={"TagSet": [{"Key": "caretaker:allow-public", "Value": "true"}]})
    s3.put_public_access_block(Bucket=BUCKET, PublicAccessBlockConfiguration=ALL_ON)
    s3.delete_public_access_block(Bucket=BUCKET)  # the call the event records

    summary = harness.invoke(s3_public_bucket.handler, load_event("delete_bucket_public_access_block"))

    assert block(s3) == {}  # left as its owner made it
    [item] = harness.items(summary)
    assert (item["action"], item["outcome"]) == ("block-public-access", "skipped")
    assert "tagged caretaker:allow-public=true" in item["reason"]
    assert item["details"]["allow_tag"] == "caretaker:allow-public=true"
    assert item["details"]["flags_off"] == list(s3_public_bucket.FLAGS)
    assert item["details"]["actor"]["session_issuer_arn"] == "arn:aws:iam::123456789012:role/DeveloperAccess"
    [note] = harness.notifications()
    assert BUCKET in note["subject"]
    assert note["body"]["caretaker"]["outcome"] == "skipped"
    assert "public on purpose" in note["body"]["caretaker"]["reason"]


def test_an_allow_public_tag_on_a_fully_blocked_bucket_says_nothing(harness: Harness, s3: Any) -> None:
    s3.put_bucket_tagging(Bucket=BUCKET, Tagging={"TagSet": [{"Key": "caretaker:allow-public", "Value": "true"}]})
    s3.put_public_access_block(Bucket=BUCKET, PublicAccessBlockConfiguration=ALL_ON)

    summary = harness.invoke(s3_public_bucket.handler, load_event("put_bucket_policy"))

    assert block(s3) == ALL_ON
    assert harness.items(summary)[0]["reason"] == "the bucket already blocks all public access"
    assert harness.notifications() == []


def test_an_allow_public_tagged_bucket_stays_public(harness: Harness, s3: Any) -> None:
    s3.put_bucket_tagging(Bucket=BUCKET, Tagging={"TagSet": [{"Key": "caretaker:allow-public", "Value": "true"}]})
    s3.put_public_access_block(Bucket=BUCKET, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": False,
        "RestrictPublicBuckets": False})

    harness.invoke(s3_public_bucket.handler, load_event("put_bucket_public_access_block"))

    assert block(s3)["RestrictPublicBuckets"] is False
    assert block(s3)["BlockPublicPolicy"] is False


# ---------------------------------------------------------------------- account-level Block Public Access


def test_account_block_deleted_is_restored_where_caretaker_manages_it(harness: Harness, s3control: Any,
                                                                      state_table: str, clock: Clock) -> None:
    holder = managed_by_caretaker(state_table, clock)

    summary = harness.invoke(s3_public_bucket.handler, load_event("delete_account_public_access_block"))

    assert account_block(s3control) == ALL_ON
    items = harness.items(summary)
    assert outcomes(items) == [("restore-account-public-access-block", "planned"),
                               ("restore-account-public-access-block", "succeeded")]
    planned, done = items
    assert planned["resource_id"] == done["resource_id"] == SETTING
    assert planned["dry_run"] is False
    assert done["details"]["before"] == ALL_OFF
    assert done["details"]["after"] == ALL_ON
    assert done["details"]["managed_by"] == {"physical_id": holder.physical_id, "stack_id": STACK,
                                             "logical_id": "AccountBlock"}
    assert done["details"]["actor"]["arn"].endswith("assumed-role/DeveloperAccess/alice@example.com")
    [note] = harness.notifications()
    assert note["body"]["caretaker"] == {
        "action": "restore-account-public-access-block", "outcome": "succeeded", "dry_run": False,
        "remedy": "restore the full account-level Block Public Access (held by AccountBlock)"}


def test_account_block_weakened_by_put_is_restored_where_caretaker_manages_it(
        harness: Harness, s3control: Any, state_table: str, clock: Clock) -> None:
    managed_by_caretaker(state_table, clock)
    weakened = {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": False,
                "RestrictPublicBuckets": False}
    s3control.put_public_access_block(AccountId=ACCOUNT, PublicAccessBlockConfiguration=weakened)

    summary = harness.invoke(s3_public_bucket.handler, load_event("put_account_public_access_block"))

    assert account_block(s3control) == ALL_ON
    done = harness.items(summary)[-1]
    assert done["outcome"] == "succeeded"
    assert done["details"]["flags_off"] == ["BlockPublicPolicy", "RestrictPublicBuckets"]
    assert done["details"]["requested"] == weakened


def test_account_block_deleted_is_reported_where_caretaker_does_not_manage_it(harness: Harness,
                                                                             s3control: Any) -> None:
    summary = harness.invoke(s3_public_bucket.handler, load_event("delete_account_public_access_block"))

    assert account_block(s3control) == {}  # not Caretaker's setting: nothing changed
    items = harness.items(summary)
    assert outcomes(items) == [("notify", "planned"), ("notify", "succeeded")]
    assert items[-1]["resource_id"] == SETTING
    assert "does not manage" in items[-1]["reason"]
    assert items[-1]["details"]["before"] == ALL_OFF
    [note] = harness.notifications()
    assert note["body"]["caretaker"] == {"action": "notify", "outcome": "reported"}
    assert note["body"]["finding"]["resource"] == SETTING


def test_the_lineage_key_is_the_custom_resources_own(state_table: str, clock: Clock) -> None:
    """The rule reads the lineage item the custom resource writes: same subject, same key."""
    request: Any = SimpleNamespace(account=ACCOUNT)  # the one attribute `subject` reads
    subject = S3AccountPublicAccessBlock().subject(request)

    assert subject == SETTING


# ---------------------------------------------------------------------- legitimate uses, account level


def test_an_account_block_turned_fully_on_by_its_owner_is_left_alone(harness: Harness, s3control: Any) -> None:
    s3control.put_public_access_block(AccountId=ACCOUNT, PublicAccessBlockConfiguration=ALL_ON)
    event = load_event("put_account_public_access_block")
    event["detail"]["requestParameters"]["PublicAccessBlockConfiguration"].update(ALL_ON)

    summary = harness.invoke(s3_public_bucket.handler, event)

    assert account_block(s3control) == ALL_ON
    assert outcomes(harness.items(summary)) == [("restore-account-public-access-block", "skipped")]
    assert harness.notifications() == []


def test_an_account_block_deleted_and_put_back_already_reports_the_gap(harness: Harness, s3control: Any,
                                                                      state_table: str, clock: Clock) -> None:
    managed_by_caretaker(state_table, clock)
    s3control.put_public_access_block(AccountId=ACCOUNT, PublicAccessBlockConfiguration=ALL_ON)

    summary = harness.invoke(s3_public_bucket.handler, load_event("delete_account_public_access_block"))

    assert account_block(s3control) == ALL_ON
    [item] = harness.items(summary)
    assert item["outcome"] == "skipped" and "only the gap is reported" in item["reason"]
    [note] = harness.notifications()
    assert note["body"]["caretaker"]["outcome"] == "skipped"


def test_the_managed_account_block_is_only_planned_in_audit_mode(harness: Harness, s3control: Any,
                                                               state_table: str, clock: Clock) -> None:
    harness.mode("audit")
    managed_by_caretaker(state_table, clock)

    summary = harness.invoke(s3_public_bucket.handler, load_event("delete_account_public_access_block"))

    assert account_block(s3control) == {}
    [planned] = harness.items(summary)
    assert (planned["outcome"], planned["dry_run"]) == ("planned", True)
    assert harness.notifications()[0]["body"]["caretaker"]["outcome"] == "planned"
