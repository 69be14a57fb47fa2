"""When did an EventBridge schedule last fire? (the trigger-health canary's question)"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from automations.core.schedule_expr import CronSchedule, ScheduleError, expected_last_run


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(("fields", "now", "last"), [
    ("0 3 * * ? *", "2026-12-02T02:59", "2026-12-01T03:00"),        # daily at 03:00, before today's
    ("0 3 * * ? *", "2026-12-02T03:00", "2026-12-02T03:00"),        # at the minute itself
    ("*/15 * * * ? *", "2026-12-02T10:44", "2026-12-02T10:30"),     # steps
    ("0/20 8-10 * * ? *", "2026-12-02T11:30", "2026-12-02T10:40"),  # a/n inside a range of hours
    ("0 18 ? * MON-FRI *", "2026-12-06T12:00", "2026-12-04T18:00"),  # Sunday: last Friday
    ("0 18 ? * 2-6 *", "2026-12-06T12:00", "2026-12-04T18:00"),     # the same with numbers (2 = MON)
    ("0 6 ? * 1 *", "2026-12-02T00:00", "2026-11-29T06:00"),        # 1 = SUN
    ("30 2 1 * ? *", "2026-12-02T00:00", "2026-12-01T02:30"),       # first of the month
    ("0 0 L * ? *", "2026-12-02T00:00", "2026-11-30T00:00"),        # last day of the month
    ("0 0 L * ? *", "2026-03-15T00:00", "2026-02-28T00:00"),
    ("0 12 15W * ? *", "2026-11-20T00:00", "2026-11-16T12:00"),     # the 15th is a Sunday: Monday 16th
    ("0 12 1W * ? *", "2026-08-05T00:00", "2026-08-03T12:00"),      # 1 Aug 2026 is a Saturday: Monday 3rd
    ("0 9 ? * 3#2 *", "2026-12-31T00:00", "2026-12-08T09:00"),      # second Tuesday
    ("0 9 ? * 6L *", "2026-12-31T00:00", "2026-12-25T09:00"),       # last Friday
    ("0 9 ? * L *", "2026-12-02T00:00", "2026-11-28T09:00"),        # L alone: Saturday
    ("0 0 1 JAN,JUL ? *", "2026-12-02T00:00", "2026-07-01T00:00"),  # month names
    ("0 0 1 1 ? 2025", "2026-12-02T00:00", "2025-01-01T00:00"),     # a past year
])
def test_cron_last_fire(fields: str, now: str, last: str) -> None:
    assert CronSchedule.parse(fields).last_fire(at(now)) == at(last)


def test_a_cron_that_never_fired_within_the_lookback_says_so() -> None:
    assert CronSchedule.parse("0 0 1 1 ? 2199").last_fire(at("2026-12-02T00:00")) is None


@pytest.mark.parametrize(("fields", "message"), [
    ("0 3 * * *", "6 fields"),
    ("0 3 * * * *", "must be '?'"),
    ("0 3 ? * ? *", "must be '?'"),
    ("61 3 * * ? *", "from 0 to 59"),
    ("0 3 * * ? 1800", "from 1970"),
    ("0 5-2 * * ? *", "backwards"),
    ("0 3 ? * MON#6 *", "1 to 5"),
    ("0 3 ? * FUNDAY *", "from 1 to 7"),
    ("*/0 3 * * ? *", "positive"),
])
def test_bad_cron_fields_are_named(fields: str, message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        CronSchedule.parse(fields)


def test_a_rate_expects_a_run_within_one_period() -> None:
    now = at("2026-12-02T10:00")
    expected = expected_last_run("rate(6 hours)", now)
    assert expected.due_since == now - timedelta(hours=6) and expected.period == timedelta(hours=6)
    assert expected_last_run("rate(1 day)", now).period == timedelta(days=1)
    assert expected_last_run("rate(5 minutes)", now).period == timedelta(minutes=5)


def test_a_cron_expects_a_run_at_its_last_firing() -> None:
    expected = expected_last_run("cron(0 3 * * ? *)", at("2026-12-02T10:00"))
    assert expected.due_since == at("2026-12-02T03:00") and expected.period is None


@pytest.mark.parametrize("expression", ["every day", "rate(0 days)", "rate(1 week)", "cron(0 3 * *)"])
def test_unreadable_expressions_are_errors(expression: str) -> None:
    with pytest.raises(ScheduleError):
        expected_last_run(expression, at("2026-12-02T10:00"))
