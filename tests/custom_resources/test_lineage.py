"""The lineage item of an account-wide setting: its stored shape, and its writes under concurrent requests."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from automations.core.errors import StateLogError
from custom_resources.lineage import MAX_ATTEMPTS, Holder, Lineage
from tests.custom_resources.conftest import STATE_TABLE
from tests.recording import RecordingClients

AT = datetime(2026, 11, 27, 3, 0, 0, 123000, tzinfo=UTC)
KEY = {"pk": {"S": "CR#password-policy"}, "sk": {"S": "LINEAGE"}}


def lineage(clients: RecordingClients | None = None) -> Lineage:
    client = (clients or RecordingClients())("dynamodb")
    return Lineage(STATE_TABLE, client, automation="demo", run_id="run-1", clock=lambda: AT,
                   subject="password-policy")


def holder(physical_id: str, restore: Mapping[str, Any] | None = None) -> Holder:
    return Holder(physical_id, "arn:aws:cloudformation:us-east-1:123456789012:stack/s/1", "Policy", restore,
                  "2026-11-27T02:59:00.000Z")


def stored() -> dict[str, Any] | None:
    return boto3.client("dynamodb").get_item(TableName=STATE_TABLE, Key=KEY, ConsistentRead=True).get("Item")


def test_the_item_keeps_its_stored_shape() -> None:
    """Deployed stacks hold items of this exact shape (written before the versioned-record helper): it must not
    change, or their Delete could not restore."""
    lineage().push(holder("phys-1", {"MinimumPasswordLength": 8}))
    lineage().push(holder("phys-2"))
    first = {"physical_id": {"S": "phys-1"},
             "stack_id": {"S": "arn:aws:cloudformation:us-east-1:123456789012:stack/s/1"},
             "logical_id": {"S": "Policy"}, "restore_exists": {"BOOL": True},
             "restore": {"M": {"MinimumPasswordLength": {"N": "8"}}}, "at": {"S": "2026-11-27T02:59:00.000Z"}}
    second = {**first, "physical_id": {"S": "phys-2"}, "restore_exists": {"BOOL": False}, "restore": {"M": {}}}
    assert stored() == {**KEY, "type": {"S": "lineage"}, "subject": {"S": "password-policy"}, "version": {"N": "2"},
                        "holders": {"L": [{"M": first}, {"M": second}]}, "at": {"S": "2026-11-27T03:00:00.123Z"}}
    lineage().remove("phys-2")
    lineage().remove("phys-1")
    assert stored() is None  # the last holder gone: no item is left


def sneak_in_holder(physical_id: str, times: int) -> Any:
    """A PutItem hook: before each of the first `times` writes, another request pushes a holder first."""
    left = [times]

    def sneak(body: Mapping[str, Any]) -> bool:
        if left[0] > 0:
            left[0] -= 1
            lineage().push(holder(f"{physical_id}-{left[0]}"))
        return False
    return sneak


def test_a_change_that_lost_a_race_is_made_again_on_the_new_holders() -> None:
    lineage().push(holder("phys-1"))
    clients = RecordingClients()
    clients.fail("dynamodb", "PutItem", when=sneak_in_holder("other", times=1))
    lineage(clients).push(holder("phys-2"))
    assert [h.physical_id for h in lineage().holders()] == ["phys-1", "other-0", "phys-2"]
    assert stored()["version"] == {"N": "3"}  # type: ignore[index]
    assert clients.count("dynamodb")["PutItem"] == 2


def test_a_change_that_keeps_losing_gives_up_after_a_bounded_number_of_attempts() -> None:
    lineage().push(holder("phys-1"))
    clients = RecordingClients()
    clients.fail("dynamodb", "PutItem", when=sneak_in_holder("other", times=MAX_ATTEMPTS))
    with pytest.raises(StateLogError, match=f"gave up after {MAX_ATTEMPTS} attempts"):
        lineage(clients).push(holder("phys-2"))
    assert clients.count("dynamodb")["PutItem"] == MAX_ATTEMPTS
    assert "phys-2" not in [h.physical_id for h in lineage().holders()]


def test_a_removal_that_lost_a_race_deletes_nothing_the_other_request_wrote() -> None:
    lineage().push(holder("phys-1"))
    clients = RecordingClients()
    clients.fail("dynamodb", "DeleteItem", when=sneak_in_holder("other", times=1))
    lineage(clients).remove("phys-1")
    assert [h.physical_id for h in lineage().holders()] == ["other-0"]


def test_a_table_that_refuses_the_write_is_a_state_log_error() -> None:
    clients = RecordingClients()
    clients.fail("dynamodb", "PutItem", code="AccessDeniedException")
    with pytest.raises(StateLogError, match="AccessDeniedException"):
        lineage(clients).push(holder("phys-1"))
    assert clients.count("dynamodb")["PutItem"] == 1  # not retried: only a lost race is
    assert stored() is None
