"""Retention arithmetic: newest N, maximum age, daily/weekly/monthly generations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from automations.scheduled.retention import Retention, decide

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)  # a Friday


def daily(n: int, hour: int = 3) -> list[tuple[str, datetime]]:
    """One snapshot per day for the last n days, id s0 = today."""
    return [(f"s{d}", (NOW - timedelta(days=d)).replace(hour=hour)) for d in range(n)]


def test_keeps_the_newest_n_and_deletes_the_rest() -> None:
    decision = decide(daily(10), Retention(count=3), NOW)
    assert sorted(decision.keep) == ["s0", "s1", "s2"]
    assert sorted(decision.delete) == [f"s{d}" for d in range(3, 10)]
    assert "beyond the newest 3" in decision.delete["s5"]


def test_max_age_removes_old_snapshots_even_among_the_newest() -> None:
    snapshots = [("fresh", NOW - timedelta(days=1)), ("old", NOW - timedelta(days=40))]
    decision = decide(snapshots, Retention(count=7, max_age_days=35), NOW)
    assert list(decision.keep) == ["fresh"]
    assert decision.delete["old"].startswith("older than 35 days")


def test_max_age_zero_means_no_limit() -> None:
    decision = decide([("ancient", NOW - timedelta(days=5000))], Retention(count=1, max_age_days=0), NOW)
    assert list(decision.keep) == ["ancient"]


def test_daily_generation_keeps_newest_of_each_day() -> None:
    early = daily(5, hour=3)
    late = [(sid + "b", t) for sid, t in daily(5, hour=9)]  # the newer snapshot of each day
    decision = decide(early + late, Retention(count=1, daily=3), NOW)
    assert sorted(decision.keep) == ["s0b", "s1b", "s2b"]
    assert decision.keep["s1b"] == "daily generation"


def test_weekly_and_monthly_generations() -> None:
    snapshots = daily(120)
    decision = decide(snapshots, Retention(count=1, weekly=4, monthly=3), NOW)
    kept_days = sorted(int(sid[1:]) for sid in decision.keep)
    # weekly: newest of this week (today, s0) and of the 3 previous ISO weeks (their Sundays: 5, 12, 19 days ago)
    assert {0, 5, 12, 19} <= set(kept_days)
    # monthly: newest of Nov (s0), Oct (Oct 31 = 27 days ago), Sep (Sep 30 = 58 days ago)
    assert {27, 58} <= set(kept_days)
    assert len(decision.keep) == 6
    assert len(decision.keep) + len(decision.delete) == 120


def test_generations_outlive_max_age() -> None:
    decision = decide(daily(90), Retention(count=2, max_age_days=7, monthly=3), NOW)
    assert "s58" in decision.keep  # Sep 30: the newest snapshot of September
    assert decision.keep["s58"] == "monthly generation"


def test_invalid_policies_are_rejected() -> None:
    with pytest.raises(ValueError):
        Retention(count=0)
    with pytest.raises(ValueError):
        Retention(count=1, weekly=-1)
