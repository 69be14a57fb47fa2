"""What the EC2 cleanup families share: batched tagging, batched look-ups by id."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any

from automations.scheduled.cleanup.model import Context, Family

#: Values per filter in one Describe* call (EC2 accepts up to 200).
FILTER_VALUES = 200
#: Resource ids per CreateTags / DeleteTags call (EC2 accepts up to 1000).
TAG_BATCH = 1000
#: Results per Describe* page (DescribeSnapshots' and DescribeImages' maximum).
PAGE_SIZE = 1000


def chunks(values: Iterable[str], size: int = FILTER_VALUES) -> Iterator[list[str]]:
    items = sorted(set(values))
    for start in range(0, len(items), size):
        yield items[start:start + size]


def by_filter(ec2: Any, operation: str, key: str, name: str, values: Iterable[str], **kwargs: Any) -> list[Any]:
    """Describe resources by id through a filter (absent ids are simply not returned, unlike `...Ids=`),
    200 ids per call, paginated."""
    found: list[Any] = []
    for chunk in chunks(values):
        for page in ec2.get_paginator(operation).paginate(Filters=[{"Name": name, "Values": chunk}], **kwargs):
            found.extend(page.get(key, []))
    return found


def snapshot_states(ec2: Any, snapshot_ids: Iterable[str]) -> dict[str, str]:
    """snapshot id -> state (`pending`, `completed`, `error`, ...); absent ids are missing."""
    ids = [s for s in snapshot_ids if s]
    if not ids:
        return {}
    return {s["SnapshotId"]: s.get("State", "") for s in by_filter(
        ec2, "describe_snapshots", "Snapshots", "snapshot-id", ids, OwnerIds=["self"])}


def snapshot_tag_spec(tags: Mapping[str, str]) -> list[dict[str, Any]]:
    """CreateSnapshot(s)' / CopySnapshot's `TagSpecifications`: the tags, sorted, on the new snapshots."""
    return [{"ResourceType": "snapshot", "Tags": [{"Key": k, "Value": v} for k, v in sorted(tags.items())]}]


def age_days(created: datetime, now: datetime) -> float:
    return (now - created).total_seconds() / 86400


def parse_time(value: Any) -> datetime:
    """botocore returns datetimes for most timestamps, ISO strings for a few (AMI CreationDate)."""
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


class Ec2Family(Family, service="ec2", tag_batch=TAG_BATCH):
    """A family whose resources take EC2 tags: CreateTags / DeleteTags on up to 1000 ids per call."""

    def tag(self, ctx: Context, ids: list[str], tags: Mapping[str, str]) -> None:
        self.client(ctx).create_tags(Resources=ids, Tags=[{"Key": k, "Value": v} for k, v in tags.items()])

    def untag(self, ctx: Context, ids: list[str], keys: list[str]) -> None:
        self.client(ctx).delete_tags(Resources=ids, Tags=[{"Key": k} for k in keys])


def snapshots_used_by_images(ec2: Any) -> dict[str, str]:
    """snapshot id -> the account's AMI that uses it, deprecated and disabled AMIs included (built once per
    run: EC2 refuses to delete such a snapshot, and nothing should try)."""
    used: dict[str, str] = {}
    pages = ec2.get_paginator("describe_images").paginate(
        Owners=["self"], IncludeDeprecated=True, IncludeDisabled=True, PaginationConfig={"PageSize": PAGE_SIZE})
    for page in pages:
        for image in page.get("Images", []):
            for mapping in image.get("BlockDeviceMappings", []):
                snapshot_id = mapping.get("Ebs", {}).get("SnapshotId")
                if snapshot_id:
                    used[snapshot_id] = image["ImageId"]
    return used
