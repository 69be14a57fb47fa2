"""Office-hours schedules: named periods in an IANA time zone, and the state they want at an instant.

Pure (no AWS): `instance-scheduler` evaluates them, `Custom::Schedule` validates them before storing.
The shape is the same in the operator's `schedules` setting (JSON, lower-case keys) and in the custom
resource (`Name`, `Timezone`, `Periods`)::

    {"office-hours": {"timezone": "Europe/Berlin",
                      "periods": [{"days": "mon-fri", "start": "08:00", "stop": "18:00"}]}}

Semantics of a period on one of its days (local wall-clock time in the schedule's zone):

* full (`start` and `stop`): wants the resource running from start to stop; a schedule with at least one
  full period wants it stopped whenever none of its windows is open (nights, weekends);
* stop-only (no `start`): wants it stopped from its stop time to the end of that day (before that it may
  run, e.g. started by hand: the schedule has no opinion);
* start-only (no `stop`): wants it running from its start time to the end of that day.

When windows of several periods are open at once, the one that opened last decides (a stop-only period
at 20:00 ends a full period that runs to 22:00); at the same minute, stopped wins. Wall-clock times make
DST right: 08:00 in Europe/Berlin is 07:00 UTC in winter and 06:00 UTC in summer; a start time the
spring-forward gap skips opens the window at the first minute after the gap.

Time zones come from `zoneinfo`, which reads the system time-zone database (the Lambda Python runtime
ships it); the `tzdata` package is not bundled.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from automations.core.errors import CaretakerError

State = Literal["running", "stopped"]
RUNNING: State = "running"
STOPPED: State = "stopped"

#: A schedule name: what the `caretaker:schedule` tag names (tag values allow these characters).
NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"
_NAME = re.compile(NAME_PATTERN)
_HHMM = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_PERIODS = 20
_PERIOD_KEYS = frozenset({"days", "start", "stop"})
_SCHEDULE_KEYS = frozenset({"timezone", "periods"})
#: how far ahead `next_running` looks, and its step (the default schedule rate)
LOOKAHEAD = timedelta(days=7)
STEP = timedelta(minutes=15)


class ScheduleError(CaretakerError):
    """A schedule is invalid; each problem names the schedule, the field and the rule."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


@dataclass(frozen=True)
class Period:
    """Days of the week (0 = Monday) and the local start and/or stop time."""

    days: frozenset[int]
    start: time | None
    stop: time | None

    def windows(self, day: int) -> list[tuple[time, time | None, State]]:
        """The (opens, closes, state) windows of this period on weekday `day`; closes None = end of day."""
        if day not in self.days:
            return []
        if self.start is not None:  # full, or start-only (to the end of the day)
            return [(self.start, self.stop, RUNNING)]
        if self.stop is not None:  # stop-only
            return [(self.stop, None, STOPPED)]
        return []  # parse_period refuses a period with neither

    @property
    def full(self) -> bool:
        return self.start is not None and self.stop is not None


@dataclass(frozen=True)
class Schedule:
    name: str
    timezone: str
    periods: tuple[Period, ...]

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def desired(self, at: datetime) -> State | None:
        """The state the schedule wants at `at` (an aware datetime), or None when it has no opinion."""
        local = at.astimezone(self.zone)
        now = local.time().replace(second=0, microsecond=0, tzinfo=None)
        opened: list[tuple[time, int, State]] = []
        for period in self.periods:
            for opens, closes, state in period.windows(local.weekday()):
                if opens <= now and (closes is None or now < closes):
                    opened.append((opens, 1 if state == STOPPED else 0, state))
        if opened:
            return max(opened)[2]  # the window that opened last; at the same minute, stopped
        return STOPPED if any(p.full for p in self.periods) else None

    def next_running(self, at: datetime, horizon: timedelta = LOOKAHEAD) -> datetime | None:
        """The first instant (on a `STEP` grid from `at`) within `horizon` at which the schedule wants the
        resource running, or None."""
        step = at
        while step <= at + horizon:
            if self.desired(step) == RUNNING:
                return step
            step += STEP
        return None

    def stopped_hours_per_week(self, week_of: datetime) -> float:
        """Hours of the week starting at `week_of` in which the schedule wants the resource stopped."""
        steps = int(LOOKAHEAD / STEP)
        stopped = sum(1 for n in range(steps) if self.desired(week_of + n * STEP) == STOPPED)
        return stopped * STEP.total_seconds() / 3600

    def as_config(self) -> dict[str, Any]:
        """The JSON shape (lower-case keys) this schedule was parsed from, normalised."""
        periods = []
        for period in self.periods:
            entry: dict[str, Any] = {"days": ",".join(DAY_NAMES[d] for d in sorted(period.days))}
            if period.start is not None:
                entry["start"] = period.start.strftime("%H:%M")
            if period.stop is not None:
                entry["stop"] = period.stop.strftime("%H:%M")
            periods.append(entry)
        return {"timezone": self.timezone, "periods": periods}


# ---------------------------------------------------------------------- parsing


def parse_days(text: str) -> frozenset[int]:
    """`mon-fri`, `sat,sun`, `mon-wed,fri`, `mon-sun` (a range may wrap: `fri-mon`) -> weekdays (0 = Monday)."""
    days: set[int] = set()
    for part in text.lower().replace(" ", "").split(","):
        first, _, last = part.partition("-")
        if first not in DAY_NAMES or (last and last not in DAY_NAMES):
            raise ValueError
        start, end = DAY_NAMES.index(first), DAY_NAMES.index(last or first)
        span = (end - start) % 7
        days.update((start + n) % 7 for n in range(span + 1))
    return frozenset(days)


def _hhmm(value: Any) -> time | None:
    match = _HHMM.fullmatch(value) if isinstance(value, str) else None
    return time(int(match.group(1)), int(match.group(2))) if match else None


def parse_period(where: str, raw: Any) -> tuple[Period | None, list[str]]:
    """One period; problems are prefixed with `where` (e.g. `schedule 'x': periods[0]`)."""
    if not isinstance(raw, Mapping):
        return None, [f"{where}: must be an object with days and start and/or stop"]
    problems: list[str] = []
    unknown = sorted(set(map(str, raw)) - _PERIOD_KEYS)
    if unknown:
        problems.append(f"{where}: unknown field{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} "
                        f"(allowed: days, start, stop)")
    days: frozenset[int] = frozenset()
    raw_days = raw.get("days")
    try:
        if not isinstance(raw_days, str) or not raw_days.strip():
            raise ValueError
        days = parse_days(raw_days)
    except ValueError:
        problems.append(f"{where}.days: {raw_days!r} is not a list of days "
                        f"(e.g. 'mon-fri', 'sat,sun'; names {', '.join(DAY_NAMES)})")
    times: dict[str, time | None] = {}
    for key in ("start", "stop"):
        value = raw.get(key)
        times[key] = _hhmm(value) if value is not None else None
        if value is not None and times[key] is None:
            problems.append(f"{where}.{key}: {value!r} is not HH:MM (00:00 to 23:59)")
    if "start" not in raw and "stop" not in raw:
        problems.append(f"{where}: needs start, stop or both (without start it is stop-only, without stop "
                        f"start-only)")
    start, stop = times["start"], times["stop"]
    if start is not None and stop is not None and stop <= start:
        problems.append(f"{where}.stop: {raw['stop']!r} is not after start {raw['start']!r} (a period ends on "
                        f"its own day: for a night, use a start-only period and a period from 00:00 next day)")
    if problems:
        return None, problems
    return Period(days, start, stop), []


def parse_schedule(name: str, raw: Any) -> Schedule:
    """Validate one schedule (`{"timezone": ..., "periods": [...]}`); `ScheduleError` lists every problem."""
    where = f"schedule {name!r}"
    problems: list[str] = []
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        problems.append(f"{where}: name {name!r} must match {NAME_PATTERN} (it is a tag value)")
    if not isinstance(raw, Mapping):
        raise ScheduleError([*problems, f"{where}: must be an object with timezone and periods"])
    unknown = sorted(set(map(str, raw)) - _SCHEDULE_KEYS)
    if unknown:
        problems.append(f"{where}: unknown field{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} "
                        f"(allowed: timezone, periods)")
    timezone = raw.get("timezone")
    if not isinstance(timezone, str) or not valid_zone(timezone):
        problems.append(f"{where}: timezone: {timezone!r} is not an IANA time zone (e.g. 'Europe/Berlin', 'UTC')")
    raw_periods = raw.get("periods")
    periods: list[Period] = []
    if not isinstance(raw_periods, list) or not raw_periods:
        problems.append(f"{where}: periods: must be a non-empty list of periods")
    elif len(raw_periods) > MAX_PERIODS:
        problems.append(f"{where}: periods: at most {MAX_PERIODS} periods, got {len(raw_periods)}")
    else:
        for index, raw_period in enumerate(raw_periods):
            period, found = parse_period(f"{where}: periods[{index}]", raw_period)
            problems.extend(found)
            if period is not None:
                periods.append(period)
    if problems:
        raise ScheduleError(problems)
    return Schedule(name, str(timezone), tuple(periods))


def valid_zone(name: str) -> bool:
    if not name or name.startswith("/") or ".." in name:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, IsADirectoryError):
        return False
    return True


def parse_schedules(raw: Any) -> tuple[dict[str, Schedule], dict[str, str]]:
    """The operator's `schedules` setting (a JSON object, already decoded): (valid schedules by name,
    problem of each invalid one by name). One invalid schedule does not invalidate the others."""
    if not isinstance(raw, Mapping):
        raise ScheduleError([f"schedules: must be a JSON object of name -> schedule, got {type(raw).__name__}"])
    valid: dict[str, Schedule] = {}
    invalid: dict[str, str] = {}
    for name, body in raw.items():
        try:
            valid[str(name)] = parse_schedule(str(name), body)
        except ScheduleError as exc:
            invalid[str(name)] = str(exc)
    return valid, invalid


# ---------------------------------------------------------------------- one-off overrides

#: `caretaker:schedule-override=running-until=2026-12-24` (or `stopped-until=`; a date, or a local
#: date and time `2026-12-24T18:00`, in the schedule's zone; a date lasts to the end of that day).
_OVERRIDE = re.compile(r"(running|stopped)-until=(\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2})?)")


@dataclass(frozen=True)
class Override:
    state: State
    until: str  # as written: a date or a local date-time

    def ends(self, zone: ZoneInfo) -> datetime:
        """The aware instant the override ends at."""
        if "T" in self.until:
            return datetime.fromisoformat(self.until).replace(tzinfo=zone)
        day = date.fromisoformat(self.until)
        return datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)

    def active(self, at: datetime, zone: ZoneInfo) -> bool:
        return at < self.ends(zone)


def parse_override(text: str) -> Override:
    """The value of the override tag; `ValueError` naming the rule when it is not one."""
    match = _OVERRIDE.fullmatch(text.strip())
    if match:
        try:
            override = Override(RUNNING if match.group(1) == "running" else STOPPED, match.group(2))
            override.ends(ZoneInfo("UTC"))
            return override
        except ValueError:
            pass
    raise ValueError(f"{text!r} is not running-until=<YYYY-MM-DD> or stopped-until=<YYYY-MM-DD> "
                     f"(optionally with THH:MM, local time in the schedule's zone)")


def desired_state(schedule: Schedule, at: datetime, override: Override | None = None) -> State | None:
    """What the schedule wants at `at`, an override that has not ended yet winning."""
    if override is not None and override.active(at, schedule.zone):
        return override.state
    return schedule.desired(at)
