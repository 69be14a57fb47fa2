"""s3-object-encryption: objects stored without the key their bucket requires are copied onto themselves with it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from automations.core.selection import PROTECT_TAG
from automations.security import object_copy, s3_object_encryption
from tests.automations.security.conftest import Harness, aws, outcomes, redelivered
from tests.recording import RecordingClients

EVENTS = Path(__file__).resolve().parents[2] / "events" / "s3"
BUCKET = "team-reports-2026"
KEY = "exports/2026-11-27/orders.csv"
ALIAS = "alias/team-reports"
ACTION = "encrypt-object"


def object_created(version_id: str, etag: str = "", key: str = KEY, size: int = 5) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / "object_created.json").read_text())
    event["detail"]["bucket"]["name"] = BUCKET
    event["resources"] = [f"arn:aws:s3:::{BUCKET}"]
    event["detail"]["object"].update({"key": key, "size": size, "etag": etag.strip('"')})
    if version_id:
        event["detail"]["object"]["version-id"] = version_id
    else:
        event["detail"]["object"].pop("version-id")
    return event


@pytest.fixture
def s3() -> Any:
    return aws("s3")


@pytest.fixture
def key_arn() -> str:
    kms = aws("kms")
    arn = str(kms.create_key(Description="team reports")["KeyMetadata"]["Arn"])
    kms.create_alias(AliasName=ALIAS, TargetKeyId=arn)
    return arn


@pytest.fixture
def bucket(s3: Any, key_arn: str) -> str:
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_tagging(Bucket=BUCKET, Tagging={"TagSet": [{"Key": "caretaker:require-kms", "Value": ALIAS}]})
    return BUCKET


@pytest.fixture
def enforce(harness: Harness) -> Harness:
    harness.mode("enforce")
    return harness


def put(s3: Any, body: bytes = b"id,total\n1,42\n", key: str = KEY, **extra: Any) -> dict[str, Any]:
    response: dict[str, Any] = s3.put_object(Bucket=BUCKET, Key=key, Body=body, ContentType="text/csv",
                                             Metadata={"team": "payments"}, Tagging="owner=team-a", **extra)
    return response


def versions(s3: Any, key: str = KEY) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = s3.list_object_versions(Bucket=BUCKET, Prefix=key).get("Versions", [])
    return listed


def test_an_object_stored_without_the_key_is_copied_onto_itself_with_it(enforce: Harness, s3: Any, bucket: str,
                                                                        key_arn: str) -> None:
    stored = put(s3)

    summary = enforce.invoke(s3_object_encryption.handler, object_created(stored["VersionId"], stored["ETag"]))

    now = s3.head_object(Bucket=BUCKET, Key=KEY)
    assert (now["ServerSideEncryption"], now["SSEKMSKeyId"]) == ("aws:kms", key_arn)
    assert (now["ContentType"], now["Metadata"]) == ("text/csv", {"team": "payments"})
    assert s3.get_object_tagging(Bucket=BUCKET, Key=KEY)["TagSet"] == [{"Key": "owner", "Value": "team-a"}]
    assert s3.get_object(Bucket=BUCKET, Key=KEY)["Body"].read() == b"id,total\n1,42\n"
    assert len(versions(s3)) == 2  # the unencrypted version stays, noncurrent
    items = enforce.items(summary)
    assert outcomes(items) == [(ACTION, "planned"), (ACTION, "succeeded")]
    assert items[-1]["resource_id"] == f"arn:aws:s3:::{BUCKET}/{KEY}"
    assert items[-1]["details"]["previous_version_id"] == stored["VersionId"]
    assert items[-1]["details"]["new_version_id"] == now["VersionId"]
    [note] = enforce.notifications()
    assert note["body"]["caretaker"]["outcome"] == "succeeded"


def test_the_copys_own_event_is_recognised_and_not_acted_on_again(enforce: Harness, s3: Any, bucket: str) -> None:
    stored = put(s3)
    enforce.invoke(s3_object_encryption.handler, object_created(stored["VersionId"], stored["ETag"]))
    enforce.notifications()
    copy = s3.head_object(Bucket=BUCKET, Key=KEY)
    own = object_created(copy["VersionId"], copy["ETag"])
    own["id"] = "27793124-05d4-b198-2fde-7ededc63b104"
    own["detail"]["reason"] = "CopyObject"

    summary = enforce.invoke(s3_object_encryption.handler, own)

    assert len(versions(s3)) == 2
    [item] = enforce.items(summary)
    assert (item["outcome"], item["reason"]) == ("skipped", "already encrypted with the required key (the upload "
                                                 "used it, or this is Caretaker's own copy)")
    assert enforce.notifications() == []


def test_an_upload_that_used_the_key_is_left_alone(enforce: Harness, s3: Any, bucket: str, key_arn: str) -> None:
    stored = put(s3, ServerSideEncryption="aws:kms", SSEKMSKeyId=key_arn)

    summary = enforce.invoke(s3_object_encryption.handler, object_created(stored["VersionId"], stored["ETag"]))

    assert len(versions(s3)) == 1
    assert outcomes(enforce.items(summary)) == [(ACTION, "skipped")]


def test_an_object_under_another_key_is_copied_to_the_required_one(enforce: Harness, s3: Any, bucket: str,
                                                                   key_arn: str) -> None:
    other = aws("kms").create_key(Description="someone else's")["KeyMetadata"]["Arn"]
    stored = put(s3, ServerSideEncryption="aws:kms", SSEKMSKeyId=other)

    enforce.invoke(s3_object_encryption.handler, object_created(stored["VersionId"], stored["ETag"]))

    assert s3.head_object(Bucket=BUCKET, Key=KEY)["SSEKMSKeyId"] == key_arn


def test_a_bucket_without_the_tag_is_ignored(enforce: Harness, s3: Any, bucket: str) -> None:
    s3.delete_bucket_tagging(Bucket=BUCKET)
    stored = put(s3)

    summary = enforce.invoke(s3_object_encryption.handler, object_created(stored["VersionId"], stored["ETag"]))

    assert len(versions(s3)) == 1
    [item] = enforce.items(summary)
    assert (item["outcome"], item["reason"]) == ("skipped", "the bucket is not tagged caretaker:require-kms")
    assert enforce.notifications() == []


@pytest.mark.parametrize("where", ["object", "bucket"])
def test_a_protected_object_or_bucket_is_not_rewritten_and_the_skip_is_notified(enforce: Harness, s3: Any,
                                                                                bucket: str, where: str) -> None:
    stored = put(s3)
    if where == "object":
        s3.put_object_tagging(Bucket=BUCKET, Key=KEY, VersionId=stored["VersionId"],
                              Tagging={"TagSet": [{"Key": PROTECT_TAG, "Value": "true"}]})
    else:
        s3.put_bucket_tagging(Bucket=BUCKET, Tagging={"TagSet": [{"Key": "caretaker:require-kms", "Value": ALIAS},
                                                                 {"Key": PROTECT_TAG, "Value": "true"}]})

    summary = enforce.invoke(s3_object_encryption.handler, object_created(stored["VersionId"], stored["ETag"]))

    assert len(versions(s3)) == 1
    [item] = enforce.items(summary)
    assert (item["outcome"], item["reason"]) == ("skipped", f"protected: tagged {PROTECT_TAG}=true")
    assert item["details"]["protected"] == where
    assert len(enforce.notifications()) == 1


def test_audit_mode_by_default_plans_the_copy_and_changes_nothing(harness: Harness, s3: Any, bucket: str) -> None:
    stored = put(s3)

    summary = harness.invoke(s3_object_encryption.handler, object_created(stored["VersionId"], stored["ETag"]))

    assert len(versions(s3)) == 1 and "SSEKMSKeyId" not in s3.head_object(Bucket=BUCKET, Key=KEY)
    assert [(i["outcome"], i["dry_run"]) for i in harness.items(summary)] == [("planned", True)]
    assert harness.run_summary(summary)["mode"] == "audit"


def test_a_second_delivery_of_the_same_event_copies_nothing(enforce: Harness, s3: Any, bucket: str) -> None:
    stored = put(s3)
    event = object_created(stored["VersionId"], stored["ETag"])
    enforce.invoke(s3_object_encryption.handler, event)

    second = enforce.invoke(s3_object_encryption.handler, redelivered(event))

    assert len(versions(s3)) == 2
    assert outcomes(enforce.items(second)) == [("evaluate-event", "skipped")]


def test_a_version_superseded_by_a_newer_upload_is_not_copied_back_on_top(enforce: Harness, s3: Any,
                                                                         bucket: str) -> None:
    first = put(s3, body=b"old")
    put(s3, body=b"new")

    summary = enforce.invoke(s3_object_encryption.handler, object_created(first["VersionId"], first["ETag"]))

    assert s3.get_object(Bucket=BUCKET, Key=KEY)["Body"].read() == b"new"
    [item] = enforce.items(summary)
    assert item["outcome"] == "skipped" and item["reason"].startswith("superseded")


def test_in_a_bucket_without_versioning_a_replaced_object_is_recognised_by_its_etag(enforce: Harness, s3: Any,
                                                                                     key_arn: str) -> None:
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_tagging(Bucket=BUCKET, Tagging={"TagSet": [{"Key": "caretaker:require-kms", "Value": key_arn}]})
    first = put(s3, body=b"old")
    put(s3, body=b"new")

    summary = enforce.invoke(s3_object_encryption.handler, object_created("", first["ETag"]))

    assert s3.get_object(Bucket=BUCKET, Key=KEY)["Body"].read() == b"new"
    assert enforce.items(summary)[0]["reason"].startswith("superseded")

    current = s3.head_object(Bucket=BUCKET, Key=KEY)
    again = object_created("", current["ETag"])
    again["id"] = "37793124-05d4-b198-2fde-7ededc63b105"
    enforce.invoke(s3_object_encryption.handler, again)
    assert s3.head_object(Bucket=BUCKET, Key=KEY)["SSEKMSKeyId"] == key_arn


def test_an_object_deleted_before_the_event_arrives_is_skipped_as_gone(enforce: Harness, s3: Any,
                                                                       bucket: str) -> None:
    stored = put(s3)
    s3.delete_object(Bucket=BUCKET, Key=KEY, VersionId=stored["VersionId"])

    summary = enforce.invoke(s3_object_encryption.handler, object_created(stored["VersionId"], stored["ETag"]))

    [item] = enforce.items(summary)
    assert item["outcome"] == "skipped" and item["reason"].startswith("gone:")


def test_an_event_without_an_object_key_is_a_bad_event(enforce: Harness, s3: Any, bucket: str) -> None:
    event = object_created("v1")
    del event["detail"]["object"]["key"]

    summary = enforce.invoke(s3_object_encryption.handler, event)

    [item] = enforce.items(summary)
    assert (item["action"], item["outcome"]) == ("evaluate-event", "skipped")
    assert item["reason"].startswith("bad event:")
    assert summary["status"] == "ok"


def reported_not_copied(harness: Harness, s3: Any, required_key: str) -> dict[str, Any]:
    """The bucket requires `required_key` (its `caretaker:require-kms` tag); a new object is reported, not copied:
    the notification."""
    s3.put_bucket_tagging(Bucket=BUCKET, Tagging={"TagSet": [{"Key": "caretaker:require-kms",
                                                              "Value": required_key}]})
    stored = put(s3)

    summary = harness.invoke(s3_object_encryption.handler, object_created(stored["VersionId"], stored["ETag"]))

    assert len(versions(s3)) == 1
    assert outcomes(harness.items(summary)) == [("notify", "planned"), ("notify", "succeeded")]
    [note] = harness.notifications()
    return note


def test_a_tag_naming_a_key_that_does_not_exist_is_reported(enforce: Harness, s3: Any, bucket: str) -> None:
    assert "alias/nobody" in reported_not_copied(enforce, s3, "alias/nobody")["summary"]


def test_a_refused_copy_is_recorded_failed_and_notified(enforce: Harness, s3: Any, bucket: str,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    stored = put(s3)
    clients = RecordingClients()
    clients.fail("s3", "CopyObject", "AccessDenied")
    monkeypatch.setattr(enforce, "clients", clients)

    summary = enforce.invoke(s3_object_encryption.handler, object_created(stored["VersionId"], stored["ETag"]))

    assert len(versions(s3)) == 1
    assert outcomes(enforce.items(summary)) == [(ACTION, "planned"), (ACTION, "failed")]
    [note] = [n for n in enforce.notifications() if "caretaker" in n["body"]]
    assert note["body"]["caretaker"]["outcome"] == "failed"


# ---------------------------------------------------------------------- objects too large for one CopyObject

MIB = 1024 * 1024


@pytest.fixture
def small_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    """CopyObject's 5 GiB limit and the part size, scaled down so a 12 MiB object takes three parts."""
    monkeypatch.setattr(object_copy, "SINGLE_COPY_LIMIT", 6 * MIB)
    monkeypatch.setattr(object_copy, "PART_SIZE", 5 * MIB)


def test_a_large_object_is_copied_in_parts_with_its_metadata_and_tags(enforce: Harness, s3: Any, bucket: str,
                                                                      key_arn: str, small_limits: None) -> None:
    body = bytes(range(256)) * (12 * MIB // 256)
    stored = put(s3, body=body)

    summary = enforce.invoke(s3_object_encryption.handler,
                             object_created(stored["VersionId"], stored["ETag"], size=len(body)))

    now = s3.head_object(Bucket=BUCKET, Key=KEY)
    assert (now["ServerSideEncryption"], now["SSEKMSKeyId"]) == ("aws:kms", key_arn)
    assert (now["ContentType"], now["Metadata"]) == ("text/csv", {"team": "payments"})
    assert s3.get_object_tagging(Bucket=BUCKET, Key=KEY)["TagSet"] == [{"Key": "owner", "Value": "team-a"}]
    assert s3.get_object(Bucket=BUCKET, Key=KEY)["Body"].read() == body
    assert enforce.items(summary)[-1]["details"]["parts"] == 3


def test_a_failing_part_aborts_the_upload_and_leaves_the_object_as_it_was(enforce: Harness, s3: Any, bucket: str,
                                                                         small_limits: None,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    body = b"x" * (12 * MIB)
    stored = put(s3, body=body)
    clients = RecordingClients()
    clients.fail("s3", "UploadPartCopy", "InternalError", when=lambda call: call.get("PartNumber") == 2)
    monkeypatch.setattr(enforce, "clients", clients)

    summary = enforce.invoke(s3_object_encryption.handler,
                             object_created(stored["VersionId"], stored["ETag"], size=len(body)))

    assert len(versions(s3)) == 1
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
    assert outcomes(enforce.items(summary)) == [(ACTION, "planned"), (ACTION, "failed")]


def test_too_little_time_left_aborts_the_upload_before_the_next_part(enforce: Harness, s3: Any, bucket: str,
                                                                    small_limits: None) -> None:
    body = b"y" * (12 * MIB)
    stored = put(s3, body=body)
    enforce.context.remaining_ms = object_copy.TIME_MARGIN_MS - 1

    summary = enforce.invoke(s3_object_encryption.handler,
                             object_created(stored["VersionId"], stored["ETag"], size=len(body)))

    assert len(versions(s3)) == 1
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
    assert "too little time left" in enforce.items(summary)[-1]["reason"]


def test_an_object_above_the_size_setting_is_reported_not_copied(enforce: Harness, s3: Any, bucket: str,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    stored = put(s3, body=b"z" * (2 * MIB))
    enforce.setting("CARETAKER_MAX_OBJECT_SIZE_GB", "1")
    monkeypatch.setattr(s3_object_encryption, "GIB", MIB)

    summary = enforce.invoke(s3_object_encryption.handler, object_created(stored["VersionId"], stored["ETag"]))

    assert len(versions(s3)) == 1
    assert outcomes(enforce.items(summary)) == [("notify", "planned"), ("notify", "succeeded")]


def test_the_pattern_takes_object_created_events_of_s3_only() -> None:
    from automations.core.spec import trigger_manifest
    from tests.automations.security.conftest import matches

    pattern = trigger_manifest(s3_object_encryption.SPEC.trigger)["pattern"]
    event = object_created("v1")
    assert matches(pattern, event)
    assert not matches(pattern, {**event, "detail-type": "Object Deleted"})
    assert not matches(pattern, {**event, "source": "custom.lookalike"})


def test_a_url_encoded_key_in_the_event_finds_the_object_it_names(enforce: Harness, s3: Any, bucket: str,
                                                                  key_arn: str) -> None:
    stored = put(s3, key="exports/orders 2026 (final).csv")

    summary = enforce.invoke(s3_object_encryption.handler, object_created(
        stored["VersionId"], stored["ETag"], key="exports/orders+2026+%28final%29.csv"))

    assert s3.head_object(Bucket=BUCKET, Key="exports/orders 2026 (final).csv")["SSEKMSKeyId"] == key_arn
    assert enforce.items(summary)[-1]["resource_id"] == f"arn:aws:s3:::{BUCKET}/exports/orders 2026 (final).csv"
