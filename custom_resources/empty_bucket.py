"""Custom::EmptyBucket: on Delete, empties a bucket so that its own deletion in the stack succeeds.

Every object version and delete marker goes, listed page by page (ListObjectVersions) and
deleted up to 1,000 per DeleteObjects call; a key the call reports as not deleted fails the
request, except for S3's transient errors, whose keys are retried on the next pass. An
invocation stops while `context.get_remaining_time_in_millis()` still leaves
`SAFETY_MARGIN_MS` (plus twice its slowest batch); a bucket too large for one invocation is
finished through crhelper polling, under an overall deadline (DeadlineMinutes) after which
the Delete fails with a clear reason instead of polling on.

Only a bucket of the requesting stack is ever checked or emptied: the provider first asks
CloudFormation whether BucketName is an `AWS::S3::Bucket` resource of the request's StackId
(`BUCKET_OF_STACK`); a Create or Update naming any other bucket fails, and a Delete naming one
changes nothing. A bucket tagged `caretaker:protect=true` is never emptied. Create and Update only
check that the bucket can be listed and is not protected. A new BucketName is applied in
place (no replacement): replacing would make CloudFormation delete the old resource, which
would empty a bucket the stack may still use, and a rollback would empty the new one. Only
the Delete of the resource itself empties the bucket it names at that time.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from botocore.exceptions import ClientError

from automations.core.codec import iso
from automations.core.errors import CaretakerError, error_code, error_message
from automations.core.selection import PROTECT_TAG, is_protected, tag_map
from automations.core.spec import Permission
from custom_resources.ownership import ResourceOfStack
from custom_resources.properties import Prop, Schema
from custom_resources.provider import Provider, ProviderError, Request, ResourceType, Result, provider_spec

NAME = "empty-bucket"
RESOURCE_TYPE = "Custom::EmptyBucket"
ID_PREFIX = "caretaker:empty-bucket:"
#: DeleteObjects' limit on keys per call, and the listing page size.
BATCH = 1000
#: Stop starting batches when less than this (plus twice the slowest batch) is left.
SAFETY_MARGIN_MS = 20_000
POLLING_INTERVAL_MINUTES = 1
DEADLINE_KEY = "EmptyBucketDeadline"
#: Per-key DeleteObjects errors worth another pass rather than a failure.
TRANSIENT_ERRORS = frozenset({"InternalError", "SlowDown", "ServiceUnavailable", "RequestTimeout"})

#: Only a bucket CloudFormation lists as a resource of the requesting stack is checked or emptied.
BUCKET_OF_STACK = ResourceOfStack("AWS::S3::Bucket", "BucketName")

# enforce, like every provider: its Delete empties the bucket it names
SPEC = provider_spec(
    NAME, RESOURCE_TYPE, "empties a bucket (all versions) on Delete.", timeout=300, polls=True,
    permissions=(
        Permission(("s3:ListBucketVersions", "s3:GetBucketTagging"), ("arn:${AWS::Partition}:s3:::*",),
                   why="the bucket is named by the consumer stack (and must be one of its resources): any bucket "
                       "of the account (tags: protection)"),
        Permission(("s3:DeleteObject", "s3:DeleteObjectVersion"), ("arn:${AWS::Partition}:s3:::*/*",),
                   why="DeleteObjects is authorised per key as these two actions"),
        *BUCKET_OF_STACK.permissions,
    ),
)

SCHEMA = Schema((
    Prop("BucketName", "str", "The bucket to empty when this resource is deleted.", required=True,
         length=(3, 63), pattern=r"[a-z0-9][a-z0-9.-]*[a-z0-9]",
         pattern_hint="of lowercase letters, digits, dots and hyphens (an S3 bucket name)"),
    Prop("DeadlineMinutes", "int", "Minutes a Delete may take in all, across polls, before it fails "
         "(keep it under the custom resource timeout: 60 minutes unless ServiceTimeout says otherwise).",
         default=50, ranges=((1, 55),)),
))

EXAMPLE_PROPERTIES: dict[str, Any] = {"BucketName": "${ExampleBucket}", "DeadlineMinutes": "30"}


class ObjectsNotDeleted(CaretakerError):
    """DeleteObjects reported keys it did not delete."""


class EmptyBucket(ResourceType):
    resource_type = RESOURCE_TYPE
    schema = SCHEMA
    polls_delete = True
    binding = BUCKET_OF_STACK
    #: a Lambda retry after a crash empties what is left (listing again): nothing is deleted twice
    resumable = True

    def owns(self, physical_id: str) -> bool:
        return physical_id.startswith(ID_PREFIX) and len(physical_id) > len(ID_PREFIX)

    def create(self, request: Request) -> Result:
        self._check_listable(request)
        return Result(ID_PREFIX + uuid.uuid4().hex[:12], data={"BucketName": request.props["BucketName"]})

    def update(self, request: Request) -> Result:
        if "BucketName" in request.changed():
            self._check_listable(request)
        return Result(request.physical_id, data={"BucketName": request.props["BucketName"]})

    def delete(self, request: Request) -> Result:
        deadline = request.now() + timedelta(minutes=int(request.props["DeadlineMinutes"]))
        return self._pass(request, deadline)

    def poll_delete(self, request: Request) -> Result:
        try:
            deadline = datetime.fromisoformat(str(request.poll_data[DEADLINE_KEY]))
        except (KeyError, ValueError):
            raise ProviderError(f"the poll event carries no valid {DEADLINE_KEY}; delete the stack again") from None
        if request.now() >= deadline:
            raise ProviderError(self._too_long(request, 0))
        return self._pass(request, deadline)

    # ------------------------------------------------------------------ pieces

    def _pass(self, request: Request, deadline: datetime) -> Result:
        bucket = request.props["BucketName"]
        self._refuse_protected(request)
        deleted, finished = self._empty(request, bucket)
        if finished:
            return Result(request.physical_id, note=f"emptied bucket {bucket}: deleted {deleted} object versions "
                                                    f"and delete markers in the last pass")
        if request.now() >= deadline:
            raise ProviderError(self._too_long(request, deleted))
        return Result(None, carry={DEADLINE_KEY: iso(deadline)},
                      note=f"deleted {deleted} from bucket {bucket}; continuing")

    @staticmethod
    def _too_long(request: Request, deleted: int) -> str:
        minutes = request.props["DeadlineMinutes"]
        return (f"bucket {request.props['BucketName']} still holds object versions after DeadlineMinutes={minutes} "
                f"minutes ({deleted} deleted in the last pass); empty it another way or raise DeadlineMinutes, "
                f"then delete again")

    def _check_listable(self, request: Request) -> None:
        bucket = request.props["BucketName"]
        try:
            request.client("s3").list_object_versions(Bucket=bucket, MaxKeys=1)
        except ClientError as exc:
            raise ProviderError(f"BucketName {bucket!r} cannot be listed: {error_code(exc)}: "
                                f"{error_message(exc)}") from exc
        self._refuse_protected(request)

    @staticmethod
    def _refuse_protected(request: Request) -> None:
        """A bucket tagged caretaker:protect=true is never emptied (nor accepted on Create/Update)."""
        bucket = request.props["BucketName"]
        try:
            tags = request.client("s3").get_bucket_tagging(Bucket=bucket).get("TagSet", [])
        except ClientError as exc:
            if error_code(exc) in ("NoSuchTagSet", "NoSuchBucket"):
                return
            raise
        if is_protected(tag_map(tags)):
            raise ProviderError(f"bucket {bucket} is tagged {PROTECT_TAG}=true: Caretaker never changes it, "
                                f"so it will not empty it")

    def _empty(self, request: Request, bucket: str) -> tuple[int, bool]:
        """Passes over the bucket within the time left: (versions deleted, bucket now empty).

        A listing continued from a marker whose version was just deleted may end early, and
        keys with transient errors stay behind: another pass starts while time is left and the
        last pass deleted something.
        """
        s3 = request.client("s3")
        clock = _BatchClock(request)
        deleted = 0
        try:
            while True:
                done_in_pass, out_of_time = self._pass_over(request, s3, bucket, clock)
                deleted += done_in_pass
                if out_of_time:
                    return deleted, False
                left = s3.list_object_versions(Bucket=bucket, MaxKeys=1)
                if not (left.get("Versions") or left.get("DeleteMarkers")):
                    return deleted, True
                if done_in_pass == 0 or not clock.time_for_another():
                    return deleted, False
        except ClientError as exc:
            if error_code(exc) == "NoSuchBucket":
                return deleted, True
            raise

    @staticmethod
    def _pass_over(request: Request, s3: Any, bucket: str, clock: _BatchClock) -> tuple[int, bool]:
        """One listing of the bucket, deleting as it goes: (versions deleted, stopped for lack of time)."""
        arn = f"arn:{request.partition}:s3:::{bucket}"
        deleted = 0
        pages = s3.get_paginator("list_object_versions").paginate(Bucket=bucket, PaginationConfig={"PageSize": BATCH})
        for page in pages:
            keys = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                    for v in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]]
            for start in range(0, len(keys), BATCH):
                if not clock.time_for_another():
                    return deleted, True
                batch = keys[start:start + BATCH]
                with clock.batch():
                    left_behind = request.act(arn, "delete-objects", partial(_delete, s3, bucket, batch),
                                              details={"count": len(batch), "first_key": batch[0]["Key"]})
                deleted += len(batch) - left_behind
            if not clock.time_for_another():
                return deleted, True
        return deleted, False


class _BatchClock:
    """Decides from the Lambda's remaining time whether another batch fits (with `SAFETY_MARGIN_MS`
    plus twice the slowest batch so far)."""

    def __init__(self, request: Request) -> None:
        self.request = request
        self.slowest_ms = 0.0

    def time_for_another(self) -> bool:
        return self.request.remaining_ms() >= SAFETY_MARGIN_MS + 2 * self.slowest_ms

    @contextmanager
    def batch(self) -> Iterator[None]:
        began = time.monotonic()
        yield
        self.slowest_ms = max(self.slowest_ms, (time.monotonic() - began) * 1000)


def _delete(s3: Any, bucket: str, batch: list[dict[str, str]]) -> int:
    """One DeleteObjects call; the number of keys left for a later pass (transient errors).
    Any other per-key error raises `ObjectsNotDeleted`."""
    errors = s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True}).get("Errors", [])
    lasting = [e for e in errors if e.get("Code") not in TRANSIENT_ERRORS]
    if lasting:
        shown = "; ".join(f"{e.get('Key')!r} (version {e.get('VersionId')}): {e.get('Code')}: {e.get('Message')}"
                          for e in lasting[:3])
        raise ObjectsNotDeleted(f"{len(lasting)} of {len(batch)} object versions in bucket {bucket} were not "
                                f"deleted: {shown}" + (" ..." if len(lasting) > 3 else ""))
    return len(errors)


handler = Provider(SPEC, EmptyBucket(), polling_interval_minutes=POLLING_INTERVAL_MINUTES)
