"""The one persistence base (`TableStore`): every store is built alike, wraps DynamoDB's errors the same
way, pages through a partition, and updates items with one expression builder."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from automations.core.errors import StateLogError
from automations.core.pending import PendingRecord, PendingStore
from automations.core.state_log import StateLog
from automations.core.store import TableStore, key_of, update_expression
from automations.rotation.token_log import TokenLog
from automations.scheduled.access_key_state import RotationState, RotationStore
from custom_resources.lineage import Holder, Lineage
from tests.recording import RecordingClients

AT = datetime(2026, 12, 2, 5, 0, tzinfo=UTC)

#: (store, one read, one write) for each of the five stores
USES: dict[str, tuple[type[TableStore], dict[str, Any], Callable[[Any], Any], Callable[[Any], Any]]] = {
    "state-log": (StateLog, {}, lambda s: s.summary(), lambda s: s.start_run(mode="audit")),
    "pending": (PendingStore, {}, lambda s: s.load(),
                lambda s: (s.put(PendingRecord("vol-1", "seen", AT, "idle", False, "run-1")), s.flush())),
    "rotation": (RotationStore, {}, lambda s: s.load_all(), lambda s: s.save(RotationState("alice"))),
    "token": (TokenLog, {"secret_arn": "arn:aws:secretsmanager:us-east-1:1:secret:s", "token": "t-1"},
              lambda s: s.history(), lambda s: s.step_done("createSecret")),
    "lineage": (Lineage, {"subject": "password-policy"}, lambda s: s.holders(),
                lambda s: s.push(Holder("p-1", "stack", "Policy", None, "2026-12-02T05:00:00.000Z"))),
}


def build(kind: str, table: str, client: Any) -> TableStore:
    cls, extra, _, _ = USES[kind]
    return cls(table, client, automation="demo", run_id="run-1", ttl_days=30, clock=lambda: AT, **extra)


@pytest.mark.parametrize("kind", sorted(USES))
def test_every_store_reads_and_writes_through_the_base(state_table: str, kind: str) -> None:
    store = build(kind, state_table, boto3.client("dynamodb"))
    _, _, read, write = USES[kind]
    write(store)
    read(store)
    assert store.dynamodb_calls >= 2
    items = boto3.client("dynamodb").scan(TableName=state_table)["Items"]
    assert items, "the write reached the table"


@pytest.mark.parametrize("kind", sorted(USES))
@pytest.mark.parametrize("operation", ["read", "write"])
def test_every_store_turns_access_denied_into_a_state_log_error(state_table: str, kind: str,
                                                               operation: str) -> None:
    clients = RecordingClients()
    for name in ("GetItem", "Query", "PutItem", "UpdateItem", "BatchWriteItem", "DeleteItem"):
        clients.fail("dynamodb", name, code="AccessDeniedException")
    store = build(kind, state_table, clients("dynamodb"))
    _, _, read, write = USES[kind]
    with pytest.raises(StateLogError, match=rf"state table '{state_table}' cannot be used .*AccessDeniedException"):
        (read if operation == "read" else write)(store)
    assert boto3.client("dynamodb").scan(TableName=state_table)["Items"] == []


def test_a_partition_larger_than_one_page_is_read_whole(state_table: str) -> None:
    clients = RecordingClients()
    store = PendingStore(state_table, clients("dynamodb"), automation="demo", run_id="run-1", clock=lambda: AT)
    details = {"padding": "x" * 100_000}  # ~100 KB each: 15 of them span more than one 1 MB query page
    for n in range(15):
        store.put(PendingRecord(f"vol-{n:03d}", "seen", AT, "idle", False, "run-1", details=details))
    store.flush()
    assert sorted(store.load()) == [f"vol-{n:03d}" for n in range(15)]
    assert clients.count("dynamodb")["Query"] >= 2


def test_an_update_sets_values_adds_counters_and_leaves_out_none(state_table: str) -> None:
    store = TableStore(state_table, boto3.client("dynamodb"), automation="demo", run_id="run-1")
    key = key_of("DEMO#update", "ITEM")
    store.update_item(key, {"colour": "red", "gone": None}, add={"count": 2})
    written = store.update_item(key, {"colour": "blue"}, add={"count": 3})
    assert written == {**key, "colour": "blue", "count": 5}
    assert update_expression({"a": 1}, {"n": 1})["UpdateExpression"] == "SET #a0 = :v0 ADD #n0 :n0"


def test_a_store_that_needs_the_table_refuses_without_one() -> None:
    with pytest.raises(StateLogError, match="CARETAKER_STATE_TABLE is not set"):
        PendingStore("", boto3.client("dynamodb"), automation="demo", run_id="run-1")
