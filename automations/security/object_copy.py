"""Copying one S3 object version onto itself with SSE-KMS, metadata and tags kept, whole or not at all.

Up to `SINGLE_COPY_LIMIT` (5 GiB, CopyObject's limit) one CopyObject does it (`MetadataDirective` and
`TaggingDirective` COPY). Larger objects are copied in parts (`CreateMultipartUpload` with the object's
metadata and tags, `UploadPartCopy` per range, `CompleteMultipartUpload`); any failure, or too little
time left in the invocation, aborts the upload, so no half-copied object is ever completed and no
incomplete upload is left behind. Every write is conditional on the destination still being the object
that was read (`IfMatch` with its ETag; the parts with `CopySourceIfMatch`): an object replaced meanwhile
is not overwritten with the older content.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from automations.core.errors import CaretakerError

#: CopyObject copies at most 5 GiB.
SINGLE_COPY_LIMIT = 5 * 1024**3
#: The part size of a multipart copy (raised so that no copy needs more than `MAX_PARTS`).
PART_SIZE = 512 * 1024**2
MAX_PARTS = 10_000
#: Stop starting parts (and abort) when less than this is left of the invocation.
TIME_MARGIN_MS = 30_000
#: The system metadata a multipart upload must be given again (CopyObject keeps it with COPY).
_CARRIED = {"ContentType": "ContentType", "CacheControl": "CacheControl", "ContentDisposition": "ContentDisposition",
            "ContentEncoding": "ContentEncoding", "ContentLanguage": "ContentLanguage",
            "WebsiteRedirectLocation": "WebsiteRedirectLocation"}


class CopyAborted(CaretakerError):
    """A multipart copy was aborted before completion; the object is as it was."""


@dataclass(frozen=True)
class ObjectVersion:
    """The object to rewrite, as HeadObject described it."""

    bucket: str
    key: str
    version_id: str  # "" in a bucket without versioning
    etag: str
    size: int
    head: Mapping[str, Any]

    @property
    def source(self) -> dict[str, str]:
        return {"Bucket": self.bucket, "Key": self.key, **({"VersionId": self.version_id} if self.version_id else {})}

    @property
    def storage_class(self) -> dict[str, str]:
        """Kept as it is (a copy without it would move the object to STANDARD)."""
        storage = self.head.get("StorageClass")
        return {"StorageClass": str(storage)} if storage and storage != "STANDARD" else {}


def encrypt_in_place(s3: Any, obj: ObjectVersion, key_arn: str, remaining_ms: Callable[[], int]) -> dict[str, Any]:
    """Rewrite the object with SSE-KMS under `key_arn`; returns the new version's id and how it was copied."""
    if obj.size <= SINGLE_COPY_LIMIT:
        result = s3.copy_object(Bucket=obj.bucket, Key=obj.key, CopySource=obj.source, MetadataDirective="COPY",
                                TaggingDirective="COPY", ServerSideEncryption="aws:kms", SSEKMSKeyId=key_arn,
                                IfMatch=obj.etag, **obj.storage_class)
        return {"copied": "CopyObject", "new_version_id": result.get("VersionId", ""),
                "previous_version_id": obj.version_id}
    return _copy_in_parts(s3, obj, key_arn, remaining_ms)


def part_size(size: int) -> int:
    return max(PART_SIZE, math.ceil(size / MAX_PARTS))


def _copy_in_parts(s3: Any, obj: ObjectVersion, key_arn: str, remaining_ms: Callable[[], int]) -> dict[str, Any]:
    tag_args = {"VersionId": obj.version_id} if obj.version_id else {}
    tags = s3.get_object_tagging(Bucket=obj.bucket, Key=obj.key, **tag_args).get("TagSet", [])
    carried = {arg: obj.head[field] for field, arg in _CARRIED.items() if obj.head.get(field)}
    if tags:
        carried["Tagging"] = urlencode([(t["Key"], t["Value"]) for t in tags])
    upload = s3.create_multipart_upload(Bucket=obj.bucket, Key=obj.key, ServerSideEncryption="aws:kms",
                                        SSEKMSKeyId=key_arn, Metadata=dict(obj.head.get("Metadata") or {}),
                                        **carried, **obj.storage_class)["UploadId"]
    step = part_size(obj.size)
    parts: list[dict[str, Any]] = []
    try:
        for number, start in enumerate(range(0, obj.size, step), start=1):
            if remaining_ms() < TIME_MARGIN_MS:
                raise CopyAborted(f"too little time left in the invocation after {len(parts)} of "
                                  f"{math.ceil(obj.size / step)} parts")
            end = min(start + step, obj.size) - 1
            copied = s3.upload_part_copy(Bucket=obj.bucket, Key=obj.key, UploadId=upload, PartNumber=number,
                                         CopySource=obj.source, CopySourceRange=f"bytes={start}-{end}",
                                         CopySourceIfMatch=obj.etag)
            parts.append({"ETag": copied["CopyPartResult"]["ETag"], "PartNumber": number})
        result = s3.complete_multipart_upload(Bucket=obj.bucket, Key=obj.key, UploadId=upload,
                                              MultipartUpload={"Parts": parts}, IfMatch=obj.etag)
    except BaseException as exc:
        abort_error = _abort(s3, obj, upload)
        if abort_error:
            raise CopyAborted(f"{exc}; and the multipart upload {upload} could not be aborted: {abort_error}") from exc
        raise
    return {"copied": "UploadPartCopy", "parts": len(parts), "new_version_id": result.get("VersionId", ""),
            "previous_version_id": obj.version_id}


def _abort(s3: Any, obj: ObjectVersion, upload: str) -> str | None:
    """Abort the upload; the error when that fails too (the bucket's lifecycle rule must then clean it up)."""
    try:
        s3.abort_multipart_upload(Bucket=obj.bucket, Key=obj.key, UploadId=upload)
    except Exception as exc:  # reported with the original error
        return f"{type(exc).__name__}: {exc}"
    return None
