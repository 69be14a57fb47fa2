"""Versioned records in the state table: optimistic concurrency on a `version` counter."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from automations.core.errors import StateLogError, VersionConflict
from automations.core.state_log import delete_versioned, get_versioned, put_versioned
from tests.automations.aws_hooks import HookedClients

KEY = {"pk": "DEMO#versioned", "sk": "ITEM"}


def raw(table: str) -> dict[str, Any] | None:
    return boto3.client("dynamodb").get_item(
        TableName=table, Key={"pk": {"S": KEY["pk"]}, "sk": {"S": KEY["sk"]}}, ConsistentRead=True).get("Item")


def test_the_first_write_creates_the_record_at_version_1(state_table: str) -> None:
    client = boto3.client("dynamodb")
    assert get_versioned(client, state_table, KEY) == (None, 0)
    assert put_versioned(client, state_table, KEY, {"colour": "red", "sizes": [1, 2]}, 0) == 1
    assert raw(state_table) == {"pk": {"S": "DEMO#versioned"}, "sk": {"S": "ITEM"}, "colour": {"S": "red"},
                                "sizes": {"L": [{"N": "1"}, {"N": "2"}]}, "version": {"N": "1"}}
    assert get_versioned(client, state_table, KEY) == ({**KEY, "colour": "red", "sizes": [1, 2], "version": 1}, 1)


def test_each_write_at_the_current_version_replaces_the_record_and_counts_on(state_table: str) -> None:
    client = boto3.client("dynamodb")
    put_versioned(client, state_table, KEY, {"colour": "red", "shade": "dark"}, 0)
    assert put_versioned(client, state_table, KEY, {"colour": "blue", "version": 99}, 1) == 2
    assert get_versioned(client, state_table, KEY) == ({**KEY, "colour": "blue", "version": 2}, 2)


@pytest.mark.parametrize("stale", [0, 1, 3], ids=["none-expected", "older", "newer"])
def test_a_stale_version_loses_with_a_conflict_and_writes_nothing(state_table: str, stale: int) -> None:
    client = boto3.client("dynamodb")
    put_versioned(client, state_table, KEY, {"colour": "red"}, 0)
    put_versioned(client, state_table, KEY, {"colour": "green"}, 1)
    before = raw(state_table)
    with pytest.raises(VersionConflict, match="changed by another writer") as raised:
        put_versioned(client, state_table, KEY, {"colour": "blue"}, stale, what="demo record")
    assert "demo record" in str(raised.value)
    assert not isinstance(raised.value, StateLogError)  # the table works: callers decide what losing means
    assert raw(state_table) == before


def test_a_version_expected_of_a_record_that_is_gone_is_a_conflict(state_table: str) -> None:
    with pytest.raises(VersionConflict):
        put_versioned(boto3.client("dynamodb"), state_table, KEY, {"colour": "blue"}, 1)
    assert raw(state_table) is None


def test_a_delete_happens_only_at_the_current_version(state_table: str) -> None:
    client = boto3.client("dynamodb")
    put_versioned(client, state_table, KEY, {"colour": "red"}, 0)
    put_versioned(client, state_table, KEY, {"colour": "green"}, 1)
    with pytest.raises(VersionConflict):
        delete_versioned(client, state_table, KEY, 1)
    assert raw(state_table) is not None
    delete_versioned(client, state_table, KEY, 2)
    assert raw(state_table) is None


def test_a_dynamodb_error_is_a_state_log_error_not_a_conflict(state_table: str) -> None:
    clients = HookedClients()
    for operation in ("GetItem", "PutItem", "DeleteItem"):
        clients.fail("dynamodb", operation, code="AccessDeniedException")
    client = clients("dynamodb")
    with pytest.raises(StateLogError, match=r"cannot be read \(demo record\).*AccessDeniedException"):
        get_versioned(client, state_table, KEY, what="demo record")
    for write in (lambda: put_versioned(client, state_table, KEY, {"colour": "red"}, 0, what="demo record"),
                  lambda: delete_versioned(client, state_table, KEY, 1, what="demo record")):
        with pytest.raises(StateLogError, match=r"cannot be written \(demo record\).*AccessDeniedException") as raised:
            write()
        assert not isinstance(raised.value, VersionConflict)
    assert raw(state_table) is None


def test_a_missing_table_is_a_state_log_error() -> None:
    with pytest.raises(StateLogError, match="no-such-table"):
        put_versioned(boto3.client("dynamodb"), "no-such-table", KEY, {"colour": "red"}, 0)
