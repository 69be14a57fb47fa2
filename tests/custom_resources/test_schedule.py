"""Custom::Schedule through the real protocol: validate, store in the state table, bind the name to its stack."""

from __future__ import annotations

from typing import Any

import boto3

from automations.core.schedule_store import ScheduleStore, StoredSchedule
from custom_resources import schedule
from tests.custom_resources.conftest import REGION, STATE_TABLE, Cfn, actions_of

PROPS = {"Name": "team-a-hours", "Timezone": "Europe/Berlin",
         "Periods": [{"days": "mon-fri", "start": "08:00", "stop": "18:00"}]}


def schedules() -> ScheduleStore:
    return ScheduleStore(STATE_TABLE, boto3.client("dynamodb", region_name=REGION), automation="test", run_id="test")


def stored(name: str = "team-a-hours") -> StoredSchedule | None:
    return schedules().get(name)


def test_create_validates_and_stores_the_schedule_bound_to_the_requesting_stack(cfn: Cfn) -> None:
    created = cfn.create(schedule, PROPS)

    assert created["Status"] == "SUCCESS", created["Reason"]
    assert created["PhysicalResourceId"].startswith("caretaker:schedule:team-a-hours:")
    assert created["Data"] == {"Name": "team-a-hours"}
    item = stored()
    assert item is not None
    assert item.config == {"timezone": "Europe/Berlin",
                           "periods": [{"days": "mon,tue,wed,thu,fri", "start": "08:00", "stop": "18:00"}]}
    assert item.stack_id == cfn.stack_id("consumer") and item.physical_id == created["PhysicalResourceId"]
    (planned, done) = actions_of(cfn.records(created))
    assert (planned["outcome"], done["outcome"], done["action"]) == ("planned", "succeeded", "store-schedule")


def test_an_invalid_schedule_fails_with_the_message_naming_schedule_field_and_rule(cfn: Cfn) -> None:
    bad = {**PROPS, "Periods": [{"days": "mon-fri", "start": "25:00", "stop": "18:00"}]}

    created = cfn.create(schedule, bad)

    assert created["Status"] == "FAILED"
    assert "schedule 'team-a-hours': periods[0].start: '25:00' is not HH:MM" in created["Reason"]
    assert stored() is None


def test_properties_of_the_wrong_shape_fail_before_anything_is_read(cfn: Cfn) -> None:
    created = cfn.create(schedule, {**PROPS, "Periods": "mon-fri 08-18", "Name": "has spaces"})

    assert created["Status"] == "FAILED"
    assert "Periods must be a list of 1 to 20 objects of strings" in created["Reason"]
    assert "Name must be" in created["Reason"]
    assert stored(name="has spaces") is None


def test_update_changes_the_schedule_in_place(cfn: Cfn) -> None:
    created = cfn.create(schedule, PROPS)
    later = {**PROPS, "Periods": [{"days": "mon-fri", "start": "09:00", "stop": "17:00"}]}

    updated = cfn.update(schedule, created["PhysicalResourceId"], later, PROPS)

    assert updated["Status"] == "SUCCESS", updated["Reason"]
    assert updated["PhysicalResourceId"] == created["PhysicalResourceId"]
    item = stored()
    assert item is not None and item.config["periods"][0]["start"] == "09:00" and item.version == 2


def test_a_new_name_is_a_new_resource_and_the_old_names_delete_removes_only_the_old_one(cfn: Cfn) -> None:
    created = cfn.create(schedule, PROPS)
    renamed = cfn.update(schedule, created["PhysicalResourceId"], {**PROPS, "Name": "team-a-late"}, PROPS)
    assert renamed["PhysicalResourceId"].startswith("caretaker:schedule:team-a-late:")

    cleanup = cfn.delete(schedule, created["PhysicalResourceId"], PROPS)

    assert cleanup["Status"] == "SUCCESS", cleanup["Reason"]
    assert stored() is None and stored("team-a-late") is not None


def test_delete_removes_the_schedule(cfn: Cfn) -> None:
    created = cfn.create(schedule, PROPS)

    deleted = cfn.delete(schedule, created["PhysicalResourceId"], PROPS)

    assert deleted["Status"] == "SUCCESS", deleted["Reason"]
    assert stored() is None
    assert [a["action"] for a in actions_of(cfn.records(deleted))] == ["delete-schedule", "delete-schedule"]


def test_a_renamed_logical_id_takes_the_name_over_and_the_old_resources_delete_leaves_it(cfn: Cfn) -> None:
    old = cfn.create(schedule, PROPS, logical_id="Hours")
    new = cfn.create(schedule, PROPS, logical_id="OfficeHours")

    cleanup = cfn.delete(schedule, old["PhysicalResourceId"], PROPS, logical_id="Hours")

    assert cleanup["Status"] == "SUCCESS" and "held by" in cleanup["Reason"]
    item = stored()
    assert item is not None and item.physical_id == new["PhysicalResourceId"] and item.logical_id == "OfficeHours"


def test_delete_of_a_schedule_already_gone_succeeds(cfn: Cfn) -> None:
    created = cfn.create(schedule, PROPS)
    schedules().delete("team-a-hours", 1)

    deleted = cfn.delete(schedule, created["PhysicalResourceId"], PROPS)

    assert deleted["Status"] == "SUCCESS" and "already gone" in deleted["Reason"]


def test_a_name_another_stack_owns_is_refused_and_left_as_it_was(cfn: Cfn) -> None:
    cfn.create(schedule, PROPS, stack="team-a")
    before = stored()

    taken = cfn.create(schedule, {**PROPS, "Periods": [{"days": "mon-sun", "stop": "00:00"}]}, stack="team-b")

    assert taken["Status"] == "FAILED"
    assert f"schedule 'team-a-hours' belongs to stack {cfn.stack_id('team-a')}" in taken["Reason"]
    assert stored() == before


def test_the_state_table_failing_fails_the_request_and_stores_nothing(cfn: Cfn) -> None:
    cfn.hooks.fail("dynamodb", "PutItem", "AccessDeniedException", times=None)

    created = cfn.create(schedule, PROPS)

    assert created["Status"] == "FAILED"
    cfn.hooks.reset()
    assert stored() is None


def test_audit_mode_refuses_to_store(cfn: Cfn, monkeypatch: Any) -> None:
    monkeypatch.setenv("CARETAKER_MODE", "audit")

    created = cfn.create(schedule, PROPS)

    assert created["Status"] == "FAILED" and "audit mode" in created["Reason"]
    assert stored() is None
