"""Attacks on Custom::Schedule from another stack (docs/security-model.md, section 2; docs/instance-scheduler.md).

A team's stack owns its schedule's name. Another stack author (anyone may invoke the provider) tries to
take the name over, change it, or delete it, so that the victim's instances stop when they should run
(or run when they should not). Each attack is answered once, changes nothing in the state table, and is
recorded as a refusal naming both stacks; beside each, the owner's own request works.
"""

from __future__ import annotations

import boto3

from automations.core.schedule_store import ScheduleStore, StoredSchedule
from custom_resources import schedule
from tests.custom_resources.conftest import REGION, STATE_TABLE, Cfn, actions_of, summary_of

VICTIM, ATTACKER = "victim-app", "attacker-app"
HOURS = {"Name": "victim-hours", "Timezone": "UTC", "Periods": [{"days": "mon-fri", "start": "08:00", "stop": "18:00"}]}
ALWAYS_OFF = {**HOURS, "Periods": [{"days": "mon-sun", "stop": "00:00"}]}


def schedules() -> ScheduleStore:
    return ScheduleStore(STATE_TABLE, boto3.client("dynamodb", region_name=REGION), automation="test", run_id="test")


def stored() -> StoredSchedule | None:
    return schedules().get("victim-hours")


def refused(cfn: Cfn, answer: dict[str, str]) -> str:
    records = cfn.records(answer)
    (refusal,) = actions_of(records)
    assert refusal["outcome"] == "skipped" and refusal["action"].startswith("refuse-")
    assert summary_of(records)["outcome"] == "skipped"
    assert cfn.stack_id(VICTIM) in refusal["reason"] and cfn.stack_id(ATTACKER) in refusal["reason"]
    return str(refusal["reason"])


def test_another_stack_cannot_declare_a_schedule_under_a_name_a_stack_owns(cfn: Cfn) -> None:
    cfn.create(schedule, HOURS, stack=VICTIM)
    before = stored()

    answer = cfn.create(schedule, ALWAYS_OFF, stack=ATTACKER)

    assert answer["Status"] == "FAILED"
    refused(cfn, answer)
    assert stored() == before


def test_another_stack_cannot_rewrite_a_schedule_by_sending_an_update_with_its_id(cfn: Cfn) -> None:
    victim = cfn.create(schedule, HOURS, stack=VICTIM)
    before = stored()

    answer = cfn.update(schedule, victim["PhysicalResourceId"], ALWAYS_OFF, HOURS, stack=ATTACKER)

    assert answer["Status"] == "FAILED"
    refused(cfn, answer)
    assert stored() == before


def test_another_stack_cannot_take_a_name_over_by_renaming_its_own_schedule(cfn: Cfn) -> None:
    cfn.create(schedule, HOURS, stack=VICTIM)
    mine = cfn.create(schedule, {**ALWAYS_OFF, "Name": "attacker-hours"}, stack=ATTACKER)
    before = stored()

    answer = cfn.update(schedule, mine["PhysicalResourceId"], ALWAYS_OFF, {**ALWAYS_OFF, "Name": "attacker-hours"},
                        stack=ATTACKER)

    assert answer["Status"] == "FAILED"
    assert stored() == before


def test_another_stack_cannot_delete_a_schedule_and_cloudformation_still_gets_its_answer(cfn: Cfn) -> None:
    victim = cfn.create(schedule, HOURS, stack=VICTIM)

    answer = cfn.delete(schedule, victim["PhysicalResourceId"], HOURS, stack=ATTACKER)

    assert answer["Status"] == "SUCCESS"  # CloudFormation forgets the resource; the schedule stays
    assert "refused" in refused(cfn, answer)
    assert stored() is not None


def test_the_owner_still_updates_and_deletes_its_schedule(cfn: Cfn) -> None:
    victim = cfn.create(schedule, HOURS, stack=VICTIM)

    updated = cfn.update(schedule, victim["PhysicalResourceId"], ALWAYS_OFF, HOURS, stack=VICTIM)
    deleted = cfn.delete(schedule, victim["PhysicalResourceId"], ALWAYS_OFF, stack=VICTIM)

    assert (updated["Status"], deleted["Status"]) == ("SUCCESS", "SUCCESS")
    assert stored() is None


def test_a_time_zone_that_walks_the_file_system_is_refused(cfn: Cfn) -> None:
    answer = cfn.create(schedule, {**HOURS, "Timezone": "../../../../etc/passwd"}, stack=ATTACKER)

    assert answer["Status"] == "FAILED" and "is not an IANA time zone" in answer["Reason"]
    assert stored() is None
