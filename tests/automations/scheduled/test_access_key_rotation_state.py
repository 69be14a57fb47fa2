"""The per-user rotation item: its stored shape, and what a write that lost a race does."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from automations.core.errors import StateLogError
from automations.scheduled.access_key_state import CREATING, RotationState, RotationStore, StateConflict
from tests.recording import RecordingClients

AT = datetime(2026, 11, 27, 3, 0, 0, 123000, tzinfo=UTC)
KEY = {"pk": {"S": "ROTATION#access-keys"}, "sk": {"S": "USER#alice"}}


def store(table: str, clients: RecordingClients | None = None) -> RotationStore:
    return RotationStore(table, (clients or RecordingClients())("dynamodb"), automation="access-key-rotation",
                         run_id="run-1", clock=lambda: AT)


def stored(table: str) -> dict[str, Any] | None:
    return boto3.client("dynamodb").get_item(TableName=table, Key=KEY, ConsistentRead=True).get("Item")


def test_the_item_keeps_its_stored_shape(state_table: str) -> None:
    """Rotations in progress are items of this exact shape (written before the versioned-record helper): a
    run must keep reading and advancing them."""
    first = store(state_table).save(RotationState("alice"))
    assert first.version == 1
    assert stored(state_table) == {
        **KEY, "type": {"S": "rotation-state"}, "automation": {"S": "access-key-rotation"},
        "resource_id": {"S": "alice"}, "run_id": {"S": "run-1"}, "at": {"S": "2026-11-27T03:00:00.123Z"},
        "user": {"S": "alice"}, "phase": {"S": "idle"}, "version": {"N": "1"}, "keys_before": {"L": []}}
    second = store(state_table).save(first.moved(CREATING, AT, old_key_id="AKIAOLD", keys_before=("AKIAOLD",),
                                                 started_at=AT))
    assert second.version == 2
    assert stored(state_table) == {
        **KEY, "type": {"S": "rotation-state"}, "automation": {"S": "access-key-rotation"},
        "resource_id": {"S": "alice"}, "run_id": {"S": "run-1"}, "at": {"S": "2026-11-27T03:00:00.123Z"},
        "user": {"S": "alice"}, "phase": {"S": "creating"}, "version": {"N": "2"},
        "old_key_id": {"S": "AKIAOLD"}, "keys_before": {"L": [{"S": "AKIAOLD"}]},
        "started_at": {"S": "2026-11-27T03:00:00.123Z"}, "phase_at": {"S": "2026-11-27T03:00:00.123Z"}}
    assert store(state_table).load_all() == {"alice": second}


def test_a_stale_state_is_a_conflict_and_writes_nothing(state_table: str) -> None:
    first = store(state_table).save(RotationState("alice"))
    store(state_table).save(first.moved(CREATING, AT))  # another run moved the user on
    before = stored(state_table)
    with pytest.raises(StateConflict, match="the rotation state of alice was changed by another run"):
        store(state_table).save(first.abandoned(AT))
    with pytest.raises(StateConflict):
        store(state_table).save(RotationState("alice"))  # "no item yet", but there is one
    assert stored(state_table) == before


def test_a_table_that_refuses_the_write_is_a_state_log_error_not_a_conflict(state_table: str) -> None:
    clients = RecordingClients()
    clients.fail("dynamodb", "PutItem", code="AccessDeniedException")
    with pytest.raises(StateLogError, match="rotation state") as raised:
        store(state_table, clients).save(RotationState("alice"))
    assert not isinstance(raised.value, StateConflict)
    assert stored(state_table) is None
