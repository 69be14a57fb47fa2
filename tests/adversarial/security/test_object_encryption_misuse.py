"""s3-object-encryption: attacks by someone who may tag a bucket (or write objects) and wants Caretaker to rewrite
data for them: under a key another account controls (objects held hostage), or in a loop.
"""

from __future__ import annotations

from automations.security import s3_object_encryption
from tests.automations.security.conftest import Harness, aws
from tests.automations.security.test_s3_object_encryption import (
    BUCKET,
    KEY,
    object_created,
    put,
    reported_not_copied,
    versions,
)

FOREIGN_KEY = "arn:aws:kms:us-east-1:999999999999:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def test_a_bucket_tagged_with_another_accounts_key_is_reported_and_nothing_is_rewritten(harness: Harness) -> None:
    harness.mode("enforce")
    s3 = aws("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    assert "999999999999" in reported_not_copied(harness, s3, FOREIGN_KEY)["summary"]


def test_events_of_caretakers_own_copies_never_start_another_copy(harness: Harness) -> None:
    harness.mode("enforce")
    s3, kms = aws("s3"), aws("kms")
    key_arn = kms.create_key()["KeyMetadata"]["Arn"]
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_tagging(Bucket=BUCKET, Tagging={"TagSet": [{"Key": "caretaker:require-kms", "Value": key_arn}]})
    stored = put(s3)
    event = object_created(stored["VersionId"], stored["ETag"])

    for n in range(3):  # the original event, then the Object Created event of each copy
        harness.invoke(s3_object_encryption.handler, event)
        head = s3.head_object(Bucket=BUCKET, Key=KEY)
        event = object_created(head["VersionId"], head["ETag"])
        event["id"] = f"copy-event-{n}"

    assert len(versions(s3)) == 2
