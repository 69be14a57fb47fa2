"""Cleanup: CloudWatch log groups that keep their events forever -> set a retention (`retention_days`).

This fixes rather than deletes, but setting a retention makes CloudWatch delete every event older
than it, so the default mode is `audit` like the other cleanups (see docs/cleanup.md). Log groups
carry no tags in DescribeLogGroups, so the tags of the remaining candidates (no retention, older
than `min_age_days`) are read one ListTagsForResource each, on the bounded pool.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from automations.core.concurrency import bounded_map
from automations.core.registry import register
from automations.core.runtime import describe_error, entrypoint
from automations.core.selection import NOT_PROTECTED
from automations.core.spec import Cron, FunctionSpec, Permission, Setting
from automations.scheduled.cleanup.ec2 import age_days
from automations.scheduled.cleanup.flow import family_handler
from automations.scheduled.cleanup.model import Candidate, Context, Family, Survey
from automations.scheduled.cleanup.settings import (
    COMMON,
    LOG_GROUPS,
    ONLY_CLEANUP_TAG,
    grace_days,
    min_age_days,
)

NAME = "cleanup-log-retention"
PAGE_SIZE = 50  # DescribeLogGroups' maximum
#: The values CloudWatch Logs accepts for RetentionInDays.
RETENTION_VALUES = ("1", "3", "5", "7", "14", "30", "60", "90", "120", "150", "180", "365", "400", "545", "731",
                    "1096", "1827", "2192", "2557", "2922", "3288", "3653")

SPEC = register(FunctionSpec(
    name=NAME,
    description="Sets a retention on CloudWatch log groups that keep events forever, after a grace period.",
    trigger=Cron("0 6 ? * MON *"),
    default_mode="audit",  # a retention deletes the events older than it
    timeout=600,
    continues=True,  # large accounts: checkpoint and continue (cleanup.flow phases)
    permissions=(
        Permission(("logs:DescribeLogGroups", "logs:ListTagsForResource"), (LOG_GROUPS,),
                   why="survey and the tags of candidates"),
        Permission(("logs:TagResource", "logs:UntagResource"), (LOG_GROUPS,), condition=ONLY_CLEANUP_TAG,
                   why="announce the pending change with the caretaker:cleanup-after tag, remove it when dropped"),
        Permission(("logs:PutRetentionPolicy",), (LOG_GROUPS,), condition=NOT_PROTECTED,
                   why="the fix itself; never a log group tagged caretaker:protect=true"),
    ),
    settings=(
        Setting("retention_days", "int", 365, "Retention set on log groups that have none (CloudWatch's values).",
                allowed=RETENTION_VALUES),
        min_age_days(7, "log groups"),
        grace_days(),
        *COMMON,
    ),
))


@dataclass(eq=False)
class LogGroups(Family, action="set-log-retention", noun="log groups", verb="set a retention on",
                service="logs", tag_batch=1, priced=False, gone=("ResourceNotFoundException",)):
    """Announce log groups without retention, then (after the grace period) set one."""

    arns: dict[str, str] = field(default_factory=dict)  # log group name -> its ARN (the tagging calls take ARNs)

    def survey(self, ctx: Context) -> Survey:
        logs = self.client(ctx)
        survey = self.new_survey()
        retention = int(self.settings["retention_days"])
        remaining: list[Candidate] = []
        for page in logs.get_paginator("describe_log_groups").paginate(PaginationConfig={"PageSize": PAGE_SIZE}):
            for group in page.get("logGroups", []):
                name = group["logGroupName"]
                self.arns[name] = group.get("logGroupArn") or str(group.get("arn", "")).removesuffix(":*")
                if group.get("retentionInDays"):
                    survey.reject(name, f"retention already set ({group['retentionInDays']} days)")
                    continue
                age = age_days(_from_millis(group.get("creationTime", 0)), ctx.now)
                if young := self.too_young(age):
                    survey.reject(name, young)
                    continue
                stored_gb = round(int(group.get("storedBytes", 0)) / 1024 ** 3, 3)
                remaining.append(Candidate(
                    name, f"keeps events forever; created {age:.0f} days ago; retention {retention} days", 0.0,
                    {"stored_gb": stored_gb, "retention_days": retention}))
        tags = bounded_map(lambda c: self._tags(logs, c.resource_id), remaining, int(self.settings["max_concurrency"]))
        for candidate, found in zip(remaining, tags, strict=True):
            if isinstance(found, str):
                survey.refuse(candidate.resource_id, found)
            else:
                survey.consider(candidate, found)
        return survey

    def _tags(self, logs: Any, name: str) -> dict[str, str] | str:
        try:
            return dict(logs.list_tags_for_resource(resourceArn=self.arns[name]).get("tags", {}))
        except (ClientError, BotoCoreError) as exc:
            return "tags unreadable: " + describe_error(exc)

    def act_call(self, client: Any, candidate: Candidate) -> Any:
        retention = int(self.settings["retention_days"])
        return client.put_retention_policy(logGroupName=candidate.resource_id, retentionInDays=retention)

    def act_details(self, candidate: Candidate) -> Mapping[str, Any]:
        return {"retention_days": int(self.settings["retention_days"])}

    def tag(self, ctx: Context, ids: list[str], tags: Mapping[str, str]) -> None:
        logs = self.client(ctx)
        for name in ids:
            logs.tag_resource(resourceArn=self.arns[name], tags=dict(tags))

    def untag(self, ctx: Context, ids: list[str], keys: list[str]) -> None:
        logs = self.client(ctx)
        for name in ids:
            logs.untag_resource(resourceArn=self.arns[name], tagKeys=keys)


def _from_millis(value: int) -> datetime:
    return datetime.fromtimestamp(int(value) / 1000, UTC)


handler = entrypoint(SPEC)(family_handler(LogGroups))
