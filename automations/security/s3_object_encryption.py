"""s3-object-encryption: an object stored in a bucket tagged `caretaker:require-kms=<key>` without that key is
copied onto itself with SSE-KMS and the key, metadata and tags kept (`object_copy`).

Decided on the object's current state (HeadObject of the exact version the event names), never on the
event alone: the copy's own Object Created event finds the version encrypted with the key already and is
skipped, as is an upload that used the key in the first place. A version that is no longer the current one
(a newer upload came after it) is left alone: copying it would bring back older content. The previous,
unencrypted version stays in a versioned bucket as a noncurrent version (Caretaker never deletes data):
the finding names it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote_plus

from botocore.exceptions import ClientError

from automations.core.errors import error_code
from automations.core.runtime import Run
from automations.core.selection import tag_map
from automations.core.spec import ObjectCreated, Permission, Setting
from automations.security import object_copy, service_events
from automations.security.errors import ResourceGoneError, gone_when_missing
from automations.security.event_kinds import S3_OBJECT_CREATED
from automations.security.findings import arn_account
from automations.security.object_copy import ObjectVersion
from automations.security.reactive import Decision, Remediate, Report, Skip, protected, rule_handler, rule_spec

NAME = "s3-object-encryption"
ACTION = "encrypt-object"
#: The bucket tag naming the KMS key (key ARN, alias name `alias/...` or alias ARN) every object must use.
REQUIRE_KMS_TAG = "caretaker:require-kms"
_OBJECTS = "arn:${AWS::Partition}:s3:::*/*"
_KEYS = "arn:${AWS::Partition}:kms:*:${AWS::AccountId}:key/*"
_GONE = ("NoSuchKey", "NoSuchVersion", "404", "NotFound")
GIB = 1024**3
#: Storage classes whose objects cannot be read without a restore: reported, not copied.
_ARCHIVED = ("GLACIER", "DEEP_ARCHIVE")

PERMISSIONS = (
    Permission(("s3:GetBucketTagging",), ("arn:${AWS::Partition}:s3:::*",),
               why="which key the bucket requires (its caretaker:require-kms tag)"),
    Permission(("s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectTagging", "s3:GetObjectVersionTagging"),
               (_OBJECTS,), why="the object's current encryption, metadata and tags; the copy reads its source"),
    Permission(("s3:PutObject", "s3:PutObjectTagging"), (_OBJECTS,),
               condition={"StringEqualsIfExists": {"s3:x-amz-server-side-encryption": "aws:kms"}},
               why="the copy (CopyObject, or CreateMultipartUpload and UploadPartCopy) with its tags; whatever "
                   "carries an encryption header must ask for SSE-KMS (UploadPartCopy carries none, so IfExists)"),
    Permission(("s3:AbortMultipartUpload",), (_OBJECTS,), why="never leave a half-done multipart copy behind"),
    Permission(("kms:DescribeKey",), (_KEYS,), why="resolve the alias the bucket names to its key ARN"),
    Permission(("kms:GenerateDataKey", "kms:Decrypt"), (_KEYS,),
               condition={"StringLike": {"kms:ViaService": "s3.*.amazonaws.com"}},
               why="encrypt the copy with the key (and read a source under another key of the account); only "
                   "through S3"),
)

SETTINGS = (
    Setting("max_object_size_gb", "int", 50,
            "Objects larger than this (GiB) are reported, not copied: a multipart copy must finish within one "
            "invocation (objects over 5 GiB are copied in parts).", minimum=1, maximum=5000),
)


def resource_of(bucket: str, key: str) -> str:
    return f"arn:aws:s3:::{bucket}/{key}"


def bucket_tags(s3: Any, bucket: str) -> dict[str, str]:
    try:
        return tag_map(s3.get_bucket_tagging(Bucket=bucket).get("TagSet"))
    except ClientError as exc:
        if error_code(exc) == "NoSuchTagSet":
            return {}
        if error_code(exc) == "NoSuchBucket":
            raise ResourceGoneError(f"arn:aws:s3:::{bucket}", f"bucket {bucket} no longer exists") from None
        raise


def required_key(kms: Any, value: str, account: str) -> str:
    """The key ARN the tag names: a key ARN as it is, an alias (name or ARN) resolved with DescribeKey.
    `ValueError` when the key does not exist or cannot be described, or is not a key of `account`: whoever
    can tag a bucket must not get Caretaker to encrypt its objects under a key another account controls."""
    if value.startswith("arn:") and ":key/" in value:
        arn = value
    else:
        try:
            arn = str(kms.describe_key(KeyId=value)["KeyMetadata"]["Arn"])
        except ClientError as exc:
            raise ValueError(f"{REQUIRE_KMS_TAG}={value!r} names no key Caretaker can use: "
                             f"{error_code(exc)}") from None
    if arn_account(arn) != account:
        raise ValueError(f"{REQUIRE_KMS_TAG}={value!r} names a key of account {arn_account(arn) or 'unknown'}, "
                         f"not of this account ({account}): not used")
    return arn


def head(s3: Any, bucket: str, key: str, version_id: str) -> Mapping[str, Any]:
    with gone_when_missing(resource_of(bucket, key),
                           f"s3://{bucket}/{key}{f' version {version_id}' if version_id else ''}", _GONE):
        found: Mapping[str, Any] = s3.head_object(Bucket=bucket, Key=key,
                                                  **({"VersionId": version_id} if version_id else {}))
    return found


def stored_key(s3: Any, bucket: str, key: str, version_id: str) -> tuple[str, Mapping[str, Any]]:
    """The key as S3 stores it, and its HeadObject. S3's notifications URL-encode keys ("a b" arrives as
    "a+b"); the key is tried as the event gives it first (a key may hold a literal "+" or "%"), then decoded."""
    try:
        return key, head(s3, bucket, key, version_id)
    except ResourceGoneError:
        decoded = unquote_plus(key)
        if decoded == key:
            raise
        return decoded, head(s3, bucket, decoded, version_id)


def encryption_of(described: Mapping[str, Any]) -> str:
    sse = described.get("ServerSideEncryption")
    if sse in ("aws:kms", "aws:kms:dsse"):
        return f"{sse} with {described.get('SSEKMSKeyId', 'an unnamed key')}"
    return str(sse or "no server-side encryption")


def decide_object(run: Run, *, region: str, account: str, bucket: str, key: str, version_id: str, etag: str,
                  details: Mapping[str, Any]) -> Decision:
    """Re-encrypt the object version the event names with the key its bucket requires, if it lacks it."""
    s3 = run.clients("s3", region)
    resource = resource_of(bucket, key)
    tags = bucket_tags(s3, bucket)
    wanted = tags.get(REQUIRE_KMS_TAG, "").strip()
    info: dict[str, Any] = {"bucket": bucket, "key": key, "version_id": version_id or None, **details}
    if not wanted:
        return Skip(resource, ACTION, f"the bucket is not tagged {REQUIRE_KMS_TAG}", info)
    try:
        key_arn = required_key(run.clients("kms", region), wanted, account)
    except ValueError as exc:
        return Report(resource, f"s3://{bucket}/{key}: {exc}", {**info, "required": wanted})
    info.update(required=wanted, required_key_arn=key_arn)
    key, described = stored_key(s3, bucket, key, version_id)
    resource = resource_of(bucket, key)
    info["key"] = key
    now = encryption_of(described)
    info["encryption"] = now
    if described.get("ServerSideEncryption") == "aws:kms" and described.get("SSEKMSKeyId") == key_arn:
        return Skip(resource, ACTION, "already encrypted with the required key (the upload used it, or this is "
                    "Caretaker's own copy)", info)
    current = described if not version_id else head(s3, bucket, key, "")
    if (version_id and current.get("VersionId") != version_id) or (etag and not version_id
                                                                   and current.get("ETag", "").strip('"') != etag):
        return Skip(resource, ACTION, "superseded: a newer object was stored under the key since; its own event "
                    "is decided on its own", {**info, "current_version_id": current.get("VersionId")})
    headline = f"s3://{bucket}/{key} is stored with {now}, but the bucket requires {wanted}"
    version: dict[str, Any] = {"VersionId": version_id} if version_id else {}
    object_tags = tag_map(s3.get_object_tagging(Bucket=bucket, Key=key, **version).get("TagSet"))
    guarded = (protected(resource, ACTION, tags, headline, {**info, "protected": "bucket"})
               or protected(resource, ACTION, object_tags, headline, {**info, "protected": "object"}))
    if guarded:
        return guarded
    size = int(described.get("ContentLength", 0))
    if described.get("StorageClass") in _ARCHIVED:
        return Report(resource, f"{headline}; it is archived ({described['StorageClass']}) and cannot be copied "
                      "without a restore", info)
    if size > int(run.settings["max_object_size_gb"]) * GIB:
        return Report(resource, f"{headline}; at {size} bytes it is larger than max_object_size_gb and is not "
                      "copied", info)
    obj = ObjectVersion(bucket, key, str(described.get("VersionId") or version_id or ""),
                        str(described.get("ETag", "")), size, described)
    how = "in parts" if size > object_copy.SINGLE_COPY_LIMIT else "with one CopyObject"
    left = (f"; the unencrypted version {obj.version_id} stays as a noncurrent version" if obj.version_id
            and obj.version_id != "null" else "")
    return Remediate(resource, ACTION, headline,
                     f"copy it onto itself {how} with SSE-KMS and {key_arn}, metadata and tags kept{left}",
                     lambda: object_copy.encrypt_in_place(s3, obj, key_arn, run.remaining_ms), info,
                     result_details=lambda r: r)



SPEC = rule_spec(
    name=NAME,
    description="Copies objects stored without the KMS key their bucket's caretaker:require-kms tag names onto "
                "themselves with SSE-KMS and that key.",
    trigger=ObjectCreated(),
    default_mode="audit",  # it rewrites data
    timeout=900,  # a multipart copy of max_object_size_gb must fit in one invocation
    permissions=PERMISSIONS,
    settings=SETTINGS,
)


def decide(run: Run, event: service_events.ObjectCreated) -> Decision:
    """Copy the object onto itself with the key its bucket requires, if the version the event names lacks it."""
    return decide_object(run, region=event.region, account=event.account, bucket=event.bucket, key=event.key,
                         version_id=event.version_id, etag=event.etag,
                         details={"reason": event.reason, "requester": event.requester})


handler = rule_handler(SPEC, decide, kind=S3_OBJECT_CREATED)
