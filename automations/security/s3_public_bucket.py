"""A bucket made public (or able to be): re-apply the full bucket-level Block Public Access configuration.

Re-applying the block neutralises a public ACL (IgnorePublicAcls) and a public policy
(RestrictPublicBuckets) without rewriting either, so nothing the owner wrote is lost.
A bucket carrying the allow tag (setting `allow_public_tag`) is left as it is, but never
silently: anyone who may tag a bucket can add the tag, so the finding is recorded and notified.
The account-level Block Public Access is watched too (`s3_account_block`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import ClientError

from automations.core.errors import error_code
from automations.core.runtime import Run
from automations.core.selection import tag_map
from automations.core.spec import CloudTrail, Permission, Setting
from automations.security.errors import ResourceGoneError
from automations.security.findings import CloudTrailEvent
from automations.security.reactive import Decision, Remediate, Skip, protected, rule_handler, rule_spec
from automations.security.s3_account_block import EVENT_NAMES as ACCOUNT_EVENTS
from automations.security.s3_account_block import decide_account

NAME = "s3-public-bucket"
ACTION = "block-public-access"
FLAGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
FULL_BLOCK: Mapping[str, bool] = {flag: True for flag in FLAGS}
_BUCKETS = "arn:${AWS::Partition}:s3:::*"


def weakening_filter() -> dict[str, Any]:
    """PutBucketPublicAccessBlock only when a flag is false or left out (left out means false);
    the other calls always pass, as their records have no PublicAccessBlockConfiguration."""
    alternatives: list[dict[str, Any]] = []
    for flag in FLAGS:
        for matcher in (False, {"exists": False}):
            alternatives.append({"requestParameters": {"PublicAccessBlockConfiguration": {flag: [matcher]}}})
    return {"$or": alternatives}


SPEC = rule_spec(
    name=NAME,
    description="Re-applies a bucket's full Block Public Access configuration when a call weakened it; restores "
                "or reports the account-level configuration.",
    trigger=CloudTrail("aws.s3", "s3.amazonaws.com",
                       ("PutBucketAcl", "PutBucketPolicy", "DeleteBucketPublicAccessBlock",
                        "PutBucketPublicAccessBlock", *ACCOUNT_EVENTS),
                       detail=weakening_filter()),
    default_mode="enforce",  # re-applying the block only restores protection
    permissions=(
        Permission(("s3:GetBucketTagging", "s3:GetBucketPublicAccessBlock"), (_BUCKETS,),
                   why="allow tag, protect tag and the bucket's current block configuration"),
        Permission(("s3:PutBucketPublicAccessBlock",), (_BUCKETS,), why="re-apply the full block"),
        Permission(("s3:GetAccountPublicAccessBlock", "s3:PutAccountPublicAccessBlock"),
                   why="the account-level configuration (S3 Control Get/PutPublicAccessBlock); these actions "
                       "have no resource type"),
    ),
    settings=(
        Setting("allow_public_tag", "str", "caretaker:allow-public=true",
                "key=value of the tag that marks a bucket as public on purpose: it is left public, and reported.",
                pattern=r"[^=]{1,128}=.{0,256}"),
    ),
)


def decide(run: Run, event: CloudTrailEvent) -> Decision:
    """Re-apply Block Public Access on the bucket unless it is already blocked; a bucket tagged public on
    purpose is reported and left as it is. Account-level events: see `s3_account_block`."""
    if event.name in ACCOUNT_EVENTS:
        return decide_account(run, event)
    bucket = event.param_text("bucketName")
    s3 = run.clients("s3", event.region)
    tags = bucket_tags(s3, bucket)
    before = current_block(s3, bucket)
    off = [flag for flag in FLAGS if not before.get(flag)]
    if not off:
        return Skip(bucket, ACTION, "the bucket already blocks all public access")
    details: dict[str, Any] = {"bucket": bucket, "before": {flag: bool(before.get(flag)) for flag in FLAGS},
                               "after": dict(FULL_BLOCK), "flags_off": off}
    requested = event.request.get("PublicAccessBlockConfiguration")
    if isinstance(requested, Mapping):
        details["requested"] = {flag: requested.get(flag) for flag in FLAGS}
    headline = f"bucket {bucket} may be public after {event.name} (block public access off: {', '.join(off)})"
    allow_key, _, allow_value = str(run.settings["allow_public_tag"]).partition("=")
    if tags.get(allow_key, "").strip().lower() == allow_value.strip().lower():
        return Skip(bucket, ACTION, f"the bucket is tagged {allow_key}={allow_value}: public on purpose",
                    {**details, "allow_tag": f"{allow_key}={allow_value}"}, notify=True, headline=headline)
    guarded = protected(bucket, ACTION, tags, headline, details)
    if guarded:
        return guarded
    return Remediate(bucket, ACTION, headline, "re-apply the full bucket-level Block Public Access configuration",
                     lambda: _block(s3, bucket), details)


handler = rule_handler(SPEC, decide)


def bucket_tags(s3: Any, bucket: str) -> dict[str, str]:
    return dict(_read(bucket, lambda: tag_map(s3.get_bucket_tagging(Bucket=bucket).get("TagSet")), "NoSuchTagSet"))


def current_block(s3: Any, bucket: str) -> Mapping[str, Any]:
    """The bucket's Block Public Access flags; none at all means every flag is off."""
    return _read(bucket, lambda: s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"],
                 "NoSuchPublicAccessBlockConfiguration")


def _read(bucket: str, read: Callable[[], Mapping[str, Any]], none_set: str) -> Mapping[str, Any]:
    """One read of a bucket's configuration: the error `none_set` means empty; a deleted bucket is gone."""
    try:
        return read()
    except ClientError as exc:
        code = error_code(exc)
        if code == none_set:
            return {}
        if code == "NoSuchBucket":
            raise ResourceGoneError(bucket, f"bucket {bucket} no longer exists") from None
        raise


def _block(s3: Any, bucket: str) -> None:
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=dict(FULL_BLOCK))
