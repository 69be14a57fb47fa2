"""Versioned records in the state table: optimistic concurrency on a `version` counter."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from automations.core.errors import StateLogError, VersionConflict
from automations.core.store import TableStore
from tests.recording import RecordingClients

KEY = {"pk": "DEMO#versioned", "sk": "ITEM"}


class DemoStore(TableStore):
    what = "demo record"


def store(client: Any, table: str) -> DemoStore:
    return DemoStore(table, client, automation="demo", run_id="run-1")


def raw(table: str) -> dict[str, Any] | None:
    return boto3.client("dynamodb").get_item(
        TableName=table, Key={"pk": {"S": KEY["pk"]}, "sk": {"S": KEY["sk"]}}, ConsistentRead=True).get("Item")


def test_the_first_write_creates_the_record_at_version_1(state_table: str) -> None:
    client = boto3.client("dynamodb")
    assert store(client, state_table).get_versioned(KEY) == (None, 0)
    assert store(client, state_table).put_versioned(KEY, {"colour": "red", "sizes": [1, 2]}, 0) == 1
    assert raw(state_table) == {"pk": {"S": "DEMO#versioned"}, "sk": {"S": "ITEM"}, "colour": {"S": "red"},
                                "sizes": {"L": [{"N": "1"}, {"N": "2"}]}, "version": {"N": "1"}}
    assert store(client, state_table).get_versioned(KEY) == ({**KEY, "colour": "red", "sizes": [1, 2], "version": 1}, 1)


def test_each_write_at_the_current_version_replaces_the_record_and_counts_on(state_table: str) -> None:
    client = boto3.client("dynamodb")
    store(client, state_table).put_versioned(KEY, {"colour": "red", "shade": "dark"}, 0)
    assert store(client, state_table).put_versioned(KEY, {"colour": "blue", "version": 99}, 1) == 2
    assert store(client, state_table).get_versioned(KEY) == ({**KEY, "colour": "blue", "version": 2}, 2)


@pytest.mark.parametrize("stale", [0, 1, 3], ids=["none-expected", "older", "newer"])
def test_a_stale_version_loses_with_a_conflict_and_writes_nothing(state_table: str, stale: int) -> None:
    client = boto3.client("dynamodb")
    store(client, state_table).put_versioned(KEY, {"colour": "red"}, 0)
    store(client, state_table).put_versioned(KEY, {"colour": "green"}, 1)
    before = raw(state_table)
    with pytest.raises(VersionConflict, match="changed by another writer") as raised:
        store(client, state_table).put_versioned(KEY, {"colour": "blue"}, stale)
    assert "demo record" in str(raised.value)
    assert not isinstance(raised.value, StateLogError)  # the table works: callers decide what losing means
    assert raw(state_table) == before


def test_a_version_expected_of_a_record_that_is_gone_is_a_conflict(state_table: str) -> None:
    with pytest.raises(VersionConflict):
        store(boto3.client("dynamodb"), state_table).put_versioned(KEY, {"colour": "blue"}, 1)
    assert raw(state_table) is None


def test_a_delete_happens_only_at_the_current_version(state_table: str) -> None:
    client = boto3.client("dynamodb")
    store(client, state_table).put_versioned(KEY, {"colour": "red"}, 0)
    store(client, state_table).put_versioned(KEY, {"colour": "green"}, 1)
    with pytest.raises(VersionConflict):
        store(client, state_table).delete_versioned(KEY, 1)
    assert raw(state_table) is not None
    store(client, state_table).delete_versioned(KEY, 2)
    assert raw(state_table) is None


def test_a_dynamodb_error_is_a_state_log_error_not_a_conflict(state_table: str) -> None:
    clients = RecordingClients()
    for operation in ("GetItem", "PutItem", "DeleteItem"):
        clients.fail("dynamodb", operation, code="AccessDeniedException")
    client = clients("dynamodb")
    with pytest.raises(StateLogError, match=r"cannot be used \(get_item, demo record\).*AccessDeniedException"):
        store(client, state_table).get_versioned(KEY)
    for write in (lambda: store(client, state_table).put_versioned(KEY, {"colour": "red"}, 0),
                  lambda: store(client, state_table).delete_versioned(KEY, 1)):
        with pytest.raises(StateLogError,
                           match=r"cannot be used \((put|delete)_item, demo record\).*AccessDeniedException") as raised:
            write()
        assert not isinstance(raised.value, VersionConflict)
    assert raw(state_table) is None


def test_a_missing_table_is_a_state_log_error() -> None:
    with pytest.raises(StateLogError, match="no-such-table"):
        store(boto3.client("dynamodb"), "no-such-table").put_versioned(KEY, {"colour": "red"}, 0)
