"""Retention arithmetic for snapshots: newest N, maximum age, and daily/weekly/monthly generations.

Pure functions over (id, creation time) pairs, so the rules are tested without AWS.
A snapshot is kept when any rule keeps it:
- it is among the newest `count` and (when `max_age_days` > 0) not older than `max_age_days`;
- it is the newest snapshot of one of the last `daily` calendar days (today included);
- it is the newest snapshot of one of the last `weekly` ISO weeks (this week included);
- it is the newest snapshot of one of the last `monthly` calendar months (this month included).
Every other snapshot is due for deletion, with the reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Retention:
    count: int
    max_age_days: int = 0
    daily: int = 0
    weekly: int = 0
    monthly: int = 0

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError("retention count must be at least 1")
        if min(self.max_age_days, self.daily, self.weekly, self.monthly) < 0:
            raise ValueError("retention windows cannot be negative")


@dataclass(frozen=True)
class Decision:
    keep: dict[str, str]  # id -> why it is kept
    delete: dict[str, str]  # id -> why it goes


def _week_index(at: datetime) -> int:
    monday = at.date() - timedelta(days=at.weekday())
    return monday.toordinal() // 7


def _month_index(at: datetime) -> int:
    return at.year * 12 + at.month - 1


def decide(snapshots: Iterable[tuple[str, datetime]], policy: Retention, now: datetime) -> Decision:
    ordered = sorted(snapshots, key=lambda s: (s[1], s[0]), reverse=True)  # newest first
    keep: dict[str, str] = {}
    max_age = timedelta(days=policy.max_age_days)

    for snapshot_id, created in ordered[: policy.count]:
        if policy.max_age_days == 0 or now - created <= max_age:
            keep.setdefault(snapshot_id, f"among the newest {policy.count}")

    generations = (
        ("daily", policy.daily, lambda t: t.date().toordinal(), now.date().toordinal()),
        ("weekly", policy.weekly, _week_index, _week_index(now)),
        ("monthly", policy.monthly, _month_index, _month_index(now)),
    )
    for label, window, bucket_of, current in generations:
        if window == 0:
            continue
        seen: set[int] = set()
        for snapshot_id, created in ordered:
            bucket = bucket_of(created)
            if current - bucket >= window or bucket in seen:
                continue
            seen.add(bucket)
            keep.setdefault(snapshot_id, f"{label} generation")

    delete: dict[str, str] = {}
    for snapshot_id, created in ordered:
        if snapshot_id in keep:
            continue
        age_days = (now - created).total_seconds() / 86400
        if policy.max_age_days and now - created > max_age:
            delete[snapshot_id] = f"older than {policy.max_age_days} days ({age_days:.1f} days)"
        else:
            delete[snapshot_id] = f"beyond the newest {policy.count} and no generation keeps it"
    return Decision(keep, delete)
