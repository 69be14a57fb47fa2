"""The schedule model: parsing and validation, desired state at an instant (DST included), overrides."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from automations.core.resource_schedule import (
    RUNNING,
    STEP,
    STOPPED,
    ScheduleError,
    desired_state,
    parse_days,
    parse_override,
    parse_schedule,
    parse_schedules,
)

OFFICE = [{"days": "mon-fri", "start": "08:00", "stop": "18:00"}]


def schedule(timezone: str, periods: list[dict[str, Any]], name: str = "office-hours") -> Any:
    return parse_schedule(name, {"timezone": timezone, "periods": periods})


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# ---------------------------------------------------------------------- a week in two time zones, DST included

# Europe/Berlin leaves summer time on Sunday 2026-10-25 (CEST, UTC+2 -> CET, UTC+1);
# America/New_York on Sunday 2026-11-01 (EDT, UTC-4 -> EST, UTC-5).
WEEK_CASES = [
    ("Europe/Berlin", "2026-10-23T05:59", STOPPED),  # Fri 07:59 CEST
    ("Europe/Berlin", "2026-10-23T06:00", RUNNING),  # Fri 08:00 CEST
    ("Europe/Berlin", "2026-10-23T15:59", RUNNING),  # Fri 17:59 CEST
    ("Europe/Berlin", "2026-10-23T16:00", STOPPED),  # Fri 18:00 CEST
    ("Europe/Berlin", "2026-10-24T10:00", STOPPED),  # Saturday
    ("Europe/Berlin", "2026-10-25T10:00", STOPPED),  # Sunday, the change
    ("Europe/Berlin", "2026-10-26T06:00", STOPPED),  # Mon 07:00 CET: an hour later in UTC than on Friday
    ("Europe/Berlin", "2026-10-26T07:00", RUNNING),  # Mon 08:00 CET
    ("Europe/Berlin", "2026-10-26T16:59", RUNNING),  # Mon 17:59 CET
    ("Europe/Berlin", "2026-10-26T17:00", STOPPED),  # Mon 18:00 CET
    ("America/New_York", "2026-10-30T11:59", STOPPED),  # Fri 07:59 EDT
    ("America/New_York", "2026-10-30T12:00", RUNNING),  # Fri 08:00 EDT
    ("America/New_York", "2026-10-30T22:00", STOPPED),  # Fri 18:00 EDT
    ("America/New_York", "2026-11-01T15:00", STOPPED),  # Sunday, the change
    ("America/New_York", "2026-11-02T12:00", STOPPED),  # Mon 07:00 EST
    ("America/New_York", "2026-11-02T13:00", RUNNING),  # Mon 08:00 EST
    ("America/New_York", "2026-11-02T23:00", STOPPED),  # Mon 18:00 EST
    ("America/New_York", "2026-11-03T02:00", STOPPED),  # Mon 21:00 EST, but Tuesday in UTC
]


@pytest.mark.parametrize(("zone", "at", "wanted"), WEEK_CASES, ids=[f"{z}-{a}" for z, a, _ in WEEK_CASES])
def test_office_hours_follow_the_local_wall_clock_across_a_dst_change(zone: str, at: str, wanted: str) -> None:
    assert schedule(zone, OFFICE).desired(utc(at)) == wanted


@pytest.mark.parametrize(("zone", "week_of"), [("Europe/Berlin", "2026-10-19T00:00"),
                                               ("America/New_York", "2026-10-26T00:00"),
                                               ("Asia/Kolkata", "2026-10-19T00:00")])
def test_a_week_with_a_dst_change_still_runs_exactly_fifty_office_hours(zone: str, week_of: str) -> None:
    office = schedule(zone, OFFICE)
    start = utc(week_of)  # a Monday 00:00 UTC: the 7 days hold the whole local Mon-Fri in each zone

    running = sum(1 for n in range(int(timedelta(days=7) / STEP)) if office.desired(start + n * STEP) == RUNNING)

    assert running * STEP.total_seconds() / 3600 == 50


def test_a_start_time_the_spring_forward_gap_skips_opens_the_window_right_after_the_gap() -> None:
    night = schedule("Europe/Berlin", [{"days": "sun", "start": "02:30", "stop": "05:00"}])

    assert night.desired(utc("2026-03-29T00:59")) == STOPPED  # 01:59 CET
    assert night.desired(utc("2026-03-29T01:00")) == RUNNING  # 03:00 CEST: 02:30 never happened
    assert night.desired(utc("2026-03-29T03:00")) == STOPPED  # 05:00 CEST


# ---------------------------------------------------------------------- stop-only, start-only, combinations


def test_a_stop_only_period_wants_stopped_from_its_stop_time_to_the_end_of_the_day_and_no_opinion_before() -> None:
    nights_off = schedule("UTC", [{"days": "mon-sun", "stop": "20:00"}], name="nights-off")

    assert nights_off.desired(utc("2026-12-02T19:59")) is None
    assert nights_off.desired(utc("2026-12-02T20:00")) == STOPPED
    assert nights_off.desired(utc("2026-12-02T23:59")) == STOPPED
    assert nights_off.desired(utc("2026-12-03T00:00")) is None
    assert nights_off.desired(utc("2026-12-03T08:00")) is None


def test_a_start_only_period_wants_running_from_its_start_time_to_the_end_of_the_day() -> None:
    mornings = schedule("UTC", [{"days": "mon-fri", "start": "07:00"}], name="mornings")

    assert mornings.desired(utc("2026-12-02T06:59")) is None
    assert mornings.desired(utc("2026-12-02T07:00")) == RUNNING
    assert mornings.desired(utc("2026-12-02T23:59")) == RUNNING
    assert mornings.desired(utc("2026-12-05T12:00")) is None  # Saturday: not one of its days


def test_the_window_that_opened_last_decides_and_at_the_same_minute_stopped_wins() -> None:
    both = schedule("UTC", [{"days": "mon-sun", "start": "08:00", "stop": "22:00"},
                            {"days": "mon-sun", "stop": "20:00"}])
    tie = schedule("UTC", [{"days": "mon-sun", "start": "08:00"}, {"days": "mon-sun", "stop": "08:00"}])

    assert both.desired(utc("2026-12-02T19:00")) == RUNNING
    assert both.desired(utc("2026-12-02T21:00")) == STOPPED
    assert tie.desired(utc("2026-12-02T09:00")) == STOPPED


@pytest.mark.parametrize(("text", "days"), [("mon-fri", {0, 1, 2, 3, 4}), ("sat,sun", {5, 6}),
                                            ("fri-mon", {4, 5, 6, 0}), ("MON-Wed, fri", {0, 1, 2, 4}),
                                            ("mon-sun", set(range(7)))])
def test_days_are_names_ranges_and_lists_and_a_range_may_wrap(text: str, days: set[int]) -> None:
    assert parse_days(text) == frozenset(days)


def test_the_next_running_instant_and_the_stopped_hours_of_a_week() -> None:
    office = schedule("Europe/Berlin", OFFICE)
    friday_evening = utc("2026-12-04T17:00")  # Fri 18:00 CET

    assert office.next_running(friday_evening) == utc("2026-12-07T07:00")  # Mon 08:00 CET
    assert office.stopped_hours_per_week(utc("2026-11-30T00:00")) == 168 - 50


# ---------------------------------------------------------------------- overrides


def test_running_until_a_date_keeps_the_resource_running_through_that_local_day() -> None:
    office = schedule("Europe/Berlin", OFFICE)
    override = parse_override("running-until=2026-12-24")

    assert desired_state(office, utc("2026-12-24T22:00"), override) == RUNNING  # Thu 23:00 CET
    assert desired_state(office, utc("2026-12-24T23:00"), override) == STOPPED  # Fri 00:00 CET: over
    assert desired_state(office, utc("2026-12-24T22:00")) == STOPPED


def test_stopped_until_a_local_time_keeps_it_stopped_inside_office_hours() -> None:
    office = schedule("Europe/Berlin", OFFICE)
    override = parse_override("stopped-until=2026-12-02T12:00")

    assert desired_state(office, utc("2026-12-02T10:59"), override) == STOPPED  # 11:59 CET
    assert desired_state(office, utc("2026-12-02T11:00"), override) == RUNNING  # 12:00 CET


@pytest.mark.parametrize("text", ["running-until=tomorrow", "running=2026-12-24", "running-until=2026-13-01",
                                  "paused-until=2026-12-24", "running-until=2026-12-24T25:00", ""])
def test_an_override_that_is_not_one_is_refused_naming_the_rule(text: str) -> None:
    with pytest.raises(ValueError, match="running-until=<YYYY-MM-DD>"):
        parse_override(text)


# ---------------------------------------------------------------------- invalid schedules

INVALID = [
    ({"timezone": "Europe/Berlin", "periods": [{"days": "mon-fri", "start": "25:00", "stop": "18:00"}]},
     "schedule 'office-hours': periods[0].start: '25:00' is not HH:MM"),
    ({"timezone": "Europe/Berlin", "periods": [{"days": "mon-fri", "start": "8:00"}]},
     "schedule 'office-hours': periods[0].start: '8:00' is not HH:MM"),
    ({"timezone": "Europe/Berlin", "periods": [{"days": "mon-fry", "stop": "18:00"}]},
     "schedule 'office-hours': periods[0].days: 'mon-fry' is not a list of days"),
    ({"timezone": "Mars/Olympus", "periods": OFFICE},
     "schedule 'office-hours': timezone: 'Mars/Olympus' is not an IANA time zone"),
    ({"timezone": "../../etc/passwd", "periods": OFFICE},
     "schedule 'office-hours': timezone: '../../etc/passwd' is not an IANA time zone"),
    ({"timezone": "UTC", "periods": [{"days": "mon", "start": "18:00", "stop": "08:00"}]},
     "schedule 'office-hours': periods[0].stop: '08:00' is not after start '18:00'"),
    ({"timezone": "UTC", "periods": [{"days": "mon"}]},
     "schedule 'office-hours': periods[0]: needs start, stop or both"),
    ({"timezone": "UTC", "periods": []}, "schedule 'office-hours': periods: must be a non-empty list"),
    ({"timezone": "UTC", "periods": [{"days": "mon", "stop": "10:00"}] * 21},
     "schedule 'office-hours': periods: at most 20 periods"),
    ({"timezone": "UTC", "periods": [{"days": "mon", "stop": "10:00", "until": "x"}]},
     "schedule 'office-hours': periods[0]: unknown field until"),
    ({"timezone": "UTC", "periods": OFFICE, "overrides": []}, "schedule 'office-hours': unknown field overrides"),
    ({"periods": OFFICE}, "schedule 'office-hours': timezone: None is not an IANA time zone"),
    ("office", "schedule 'office-hours': must be an object"),
    ({"timezone": "UTC", "periods": ["mon-fri 08-18"]}, "schedule 'office-hours': periods[0]: must be an object"),
]


@pytest.mark.parametrize(("raw", "message"), INVALID, ids=[m.split(": ", 1)[1][:40] for _, m in INVALID])
def test_an_invalid_schedule_is_refused_naming_the_schedule_the_field_and_the_rule(raw: Any, message: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        parse_schedule("office-hours", raw)

    assert message in str(caught.value)


def test_every_problem_of_a_schedule_is_reported_at_once() -> None:
    with pytest.raises(ScheduleError) as caught:
        parse_schedule("x", {"timezone": "Nowhere", "periods": [{"days": "moon", "start": "99:99"}]})

    assert len(caught.value.problems) == 3


def test_a_name_that_cannot_be_a_tag_value_is_refused() -> None:
    with pytest.raises(ScheduleError, match="name 'office hours!' must match"):
        parse_schedule("office hours!", {"timezone": "UTC", "periods": OFFICE})


def test_one_invalid_schedule_in_the_setting_leaves_the_others_valid() -> None:
    valid, invalid = parse_schedules({
        "office-hours": {"timezone": "Europe/Berlin", "periods": OFFICE},
        "nights-off": {"timezone": "UTC", "periods": [{"days": "mon-sun", "stop": "20:00"}]},
        "broken": {"timezone": "UTC", "periods": [{"days": "mon", "stop": "24:00"}]},
    })

    assert sorted(valid) == ["nights-off", "office-hours"]
    assert invalid == {"broken": "schedule 'broken': periods[0].stop: '24:00' is not HH:MM (00:00 to 23:59)"}


def test_the_setting_must_be_an_object_of_schedules() -> None:
    with pytest.raises(ScheduleError, match="must be a JSON object"):
        parse_schedules(["office-hours"])


def test_a_schedule_renders_back_to_the_shape_it_was_parsed_from() -> None:
    office = schedule("Europe/Berlin", [{"days": "mon-fri", "start": "08:00", "stop": "18:00"},
                                        {"days": "sat", "stop": "12:00"}])

    assert office.as_config() == {"timezone": "Europe/Berlin", "periods": [
        {"days": "mon,tue,wed,thu,fri", "start": "08:00", "stop": "18:00"}, {"days": "sat", "stop": "12:00"}]}
    assert parse_schedule("office-hours", office.as_config()) == office
