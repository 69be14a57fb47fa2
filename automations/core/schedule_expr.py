"""EventBridge schedule expressions evaluated: when did `rate(...)` / `cron(...)` last fire?

The trigger-health canary asks when a scheduled function should last have run. EventBridge's cron has six
fields (minutes, hours, day-of-month, month, day-of-week, year; UTC) with `*`, `?`, lists, ranges, steps,
month and day names, `L` (last day of the month; in day-of-week, `5L` = last Thursday), `W` (nearest
weekday) and `#` (`3#2` = second Tuesday); day-of-week counts 1 = SUN .. 7 = SAT. No library on PyPI
that we could ship in the layer speaks this dialect (croniter's is the five-field Unix one, with 0 = SUN),
so it is evaluated here: a day at a time backwards, then the latest matching minute of that day.

A `rate(...)` has no phase: EventBridge starts counting when the rule is created, so the most it says is
"the last run should be at most one period ago".
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_CRON = re.compile(r"^cron\((.+)\)$")
_MONTHS = {name: i for i, name in enumerate(
    ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), start=1)}
_DAYS = {name: i for i, name in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"), start=1)}
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
#: How far back a cron is searched for its last firing: one that fires less than once in two years is
#: reported as never firing recently (the canary then checks nothing for it).
MAX_LOOKBACK_DAYS = 2 * 366


class ScheduleError(ValueError):
    """An expression this module cannot read, with what is wrong."""


def _numbers(field: str, low: int, high: int, names: dict[str, int] | None = None) -> frozenset[int]:
    """The values a cron field allows: `*`, `a`, `a-b`, `a,b`, `*/n`, `a/n`, `a-b/n` (names allowed)."""

    def value(text: str) -> int:
        upper = text.upper()
        number = names[upper] if names and upper in names else int(text) if text.isdigit() else None
        if number is None or not low <= number <= high:
            raise ScheduleError(f"{text!r} is not a value from {low} to {high}")
        return number

    allowed: set[int] = set()
    for part in field.split(","):
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text.isdigit() and int(step_text) > 0 else None
        if step_text and step is None:
            raise ScheduleError(f"step {step_text!r} in {field!r} is not a positive number")
        if base == "*":
            start, end = low, high
        elif "-" in base:
            first, last = base.split("-", 1)
            start, end = value(first), value(last)
        else:
            start = value(base)
            end = high if step else start
        if start > end:
            raise ScheduleError(f"range {base!r} in {field!r} runs backwards")
        allowed.update(range(start, end + 1, step or 1))
    return frozenset(allowed)


@dataclass(frozen=True)
class CronSchedule:
    minutes: frozenset[int]
    hours: frozenset[int]
    day_of_month: str
    months: frozenset[int]
    day_of_week: str
    years: frozenset[int] | None

    @classmethod
    def parse(cls, fields: str) -> CronSchedule:
        parts = fields.split()
        if len(parts) != 6:
            raise ScheduleError(f"cron needs 6 fields (minutes hours day-of-month month day-of-week year), "
                                f"got {len(parts)}: {fields!r}")
        minute, hour, dom, month, dow, year = parts
        if (dom == "?") == (dow == "?"):
            raise ScheduleError(f"exactly one of day-of-month ({dom!r}) and day-of-week ({dow!r}) must be '?'")
        schedule = cls(_numbers(minute, 0, 59), _numbers(hour, 0, 23), dom, _numbers(month, 1, 12, _MONTHS),
                       dow, None if year == "*" else _numbers(year, 1970, 2199))
        schedule.day_matches(date(2026, 1, 1))  # reads the day fields once, so a bad one fails here
        return schedule

    def day_matches(self, day: date) -> bool:
        if day.month not in self.months or (self.years is not None and day.year not in self.years):
            return False
        if self.day_of_month != "?":
            return _dom_matches(self.day_of_month, day)
        return _dow_matches(self.day_of_week, day)

    def last_fire(self, before: datetime) -> datetime | None:
        """The latest firing at or before `before` (UTC), or None within `MAX_LOOKBACK_DAYS`."""
        before = before.astimezone(UTC).replace(second=0, microsecond=0)
        for back in range(MAX_LOOKBACK_DAYS + 1):
            day = before.date() - timedelta(days=back)
            if not self.day_matches(day):
                continue
            for hour in sorted(self.hours, reverse=True):
                for minute in sorted(self.minutes, reverse=True):
                    at = datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)
                    if at <= before:
                        return at
        return None


def _last_day(day: date) -> int:
    return calendar.monthrange(day.year, day.month)[1]


def _dom_matches(field: str, day: date) -> bool:
    if field == "*":
        return True
    if field == "L":
        return day.day == _last_day(day)
    if field.endswith("W") and field[:-1].isdigit():
        wanted = min(int(field[:-1]), _last_day(day))
        target = day.replace(day=wanted)
        if target.weekday() == 5:  # Saturday: the Friday before, unless that leaves the month
            target = target - timedelta(days=1) if wanted > 1 else target + timedelta(days=2)
        elif target.weekday() == 6:  # Sunday: the Monday after, unless that leaves the month
            target = target + timedelta(days=1) if wanted < _last_day(day) else target - timedelta(days=2)
        return day == target
    return day.day in _numbers(field, 1, 31)


def _dow_matches(field: str, day: date) -> bool:
    weekday = (day.weekday() + 1) % 7 + 1  # Python: Monday = 0; EventBridge: SUN = 1 .. SAT = 7
    if field == "*":
        return True
    if field == "L":  # the last day of the week: Saturday
        return weekday == 7
    if field.endswith("L") and len(field) > 1:
        wanted = _numbers(field[:-1], 1, 7, _DAYS)
        return weekday in wanted and day.day + 7 > _last_day(day)
    if "#" in field:
        name, _, nth = field.partition("#")
        if not nth.isdigit() or not 1 <= int(nth) <= 5:
            raise ScheduleError(f"{field!r}: the week after # must be 1 to 5")
        return weekday in _numbers(name, 1, 7, _DAYS) and (day.day - 1) // 7 + 1 == int(nth)
    return weekday in _numbers(field, 1, 7, _DAYS)


@dataclass(frozen=True)
class Expectation:
    """What a schedule says about the latest run: `due_since` is when the latest firing was (cron), or the
    start of the window in which one must have happened (rate: now minus one period)."""

    due_since: datetime | None
    period: timedelta | None


def expected_last_run(expression: str, now: datetime) -> Expectation:
    """When the latest run should have started, given the schedule and the time now."""
    rate = _RATE.match(expression.strip())
    if rate:
        amount, unit = int(rate.group(1)), rate.group(2).rstrip("s")
        if amount < 1:
            raise ScheduleError(f"{expression!r}: the rate must be at least 1")
        period = timedelta(seconds=amount * _UNIT_SECONDS[unit])
        return Expectation(now - period, period)
    cron = _CRON.match(expression.strip())
    if cron:
        return Expectation(CronSchedule.parse(cron.group(1)).last_fire(now), None)
    raise ScheduleError(f"{expression!r} is neither rate(...) nor cron(...)")
