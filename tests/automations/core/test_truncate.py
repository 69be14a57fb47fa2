"""Fitting records into DynamoDB's and SNS's limits: the largest fields are cut with a marker, never dropped."""

from __future__ import annotations

import json
from typing import Any

import boto3

from automations.core import item_limits, state_log
from automations.core.ledger import run_items
from automations.core.notify import MESSAGE_LIMIT_BYTES, fit_message
from automations.core.state_log import StateLog
from automations.core.truncate import clip, fit
from tests.automations.conftest import REGION
from tests.notifications import parse_message


def json_size(record: Any) -> int:
    return len(json.dumps(record).encode())


def test_the_largest_string_is_cut_to_a_prefix_and_a_marker_counting_the_cut_bytes() -> None:
    record: dict[str, Any] = {"id": "x", "details": {"agent": "a" * 50_000, "small": "kept"}}

    fitted = fit(record, json_size, 10_000, keep={"id"})

    agent = fitted.value["details"]["agent"]
    assert json_size(fitted.value) <= 10_000
    assert fitted.truncated == ["details.agent"]
    kept, _, marker = agent.partition("...[truncated ")
    assert set(kept) == {"a"} and marker == f"{50_000 - len(kept)} bytes]"
    assert fitted.value["details"]["small"] == "kept" and record["details"]["agent"] == "a" * 50_000


def test_a_record_that_fits_is_returned_as_it_is() -> None:
    record = {"id": "x", "details": {"agent": "a" * 100}}
    assert fit(record, json_size, 10_000).value == record
    assert fit(record, json_size, 10_000).truncated == []


def test_a_long_list_of_small_elements_keeps_its_first_elements_and_ends_in_a_marker() -> None:
    record = {"rules": [f"rule-{i}" for i in range(20_000)]}

    fitted = fit(record, json_size, 5_000)

    rules = fitted.value["rules"]
    assert json_size(fitted.value) <= 5_000 and fitted.truncated == ["rules"]
    assert rules[:3] == ["rule-0", "rule-1", "rule-2"] and rules[-1].startswith("...[truncated ")


def test_a_map_of_many_small_entries_keeps_its_first_entries_and_says_so() -> None:
    record = {"tags": {f"k{i}": str(i) for i in range(20_000)}}

    fitted = fit(record, json_size, 5_000)

    assert json_size(fitted.value) <= 5_000 and fitted.truncated == ["tags"]
    assert fitted.value["tags"]["k0"] == "0" and fitted.value["tags"]["_truncated"].startswith("...[truncated ")


def test_kept_fields_are_never_cut_even_when_nothing_else_is_left() -> None:
    record = {"pk": "p" * 20_000, "other": "o" * 20_000}

    fitted = fit(record, json_size, 5_000, keep={"pk"})

    assert fitted.value["pk"] == "p" * 20_000 and fitted.truncated == ["other"]


def test_cutting_twice_adds_up_in_one_marker_and_respects_utf8() -> None:
    once = clip("é" * 1_000, 500)
    twice = clip(once, 100)

    assert len(once.encode()) <= 500 and len(twice.encode()) <= 100
    kept = twice.partition("...[truncated ")[0]
    assert set(kept) == {"é"}
    assert twice.endswith(f"...[truncated {2_000 - len(kept.encode())} bytes]")


def test_an_item_cut_to_the_limit_is_accepted_by_dynamodb(state_table: str) -> None:
    client = boto3.client("dynamodb", region_name=REGION)
    item = {"pk": "RUN#r", "sk": "ACT#1#2", "type": "action", "details": {"agent": "a" * 600_000,
                                                                          "rules": ["x" * 50] * 2_000}}
    fitted = item_limits.fit_item(item)

    client.put_item(TableName=state_table, Item=state_log.serialize(fitted))

    [stored] = run_items(client, state_table, "r")
    assert stored["truncated"] == fitted["truncated"] and "details.agent" in stored["truncated"]
    assert item_limits.item_size(stored) <= item_limits.ITEM_LIMIT_BYTES


def test_an_item_the_estimate_puts_at_400_000_bytes_is_accepted_by_dynamodb(state_table: str) -> None:
    """The estimate errs on the large side (numbers, containers), so what it lets through DynamoDB accepts."""
    client = boto3.client("dynamodb", region_name=REGION)
    numbers = list(range(10_000))
    base = {"pk": "RUN#s", "sk": "X", "n": numbers, "m": {"a": 1.5, "b": True, "c": None}}
    pad = 400_000 - item_limits.item_size({**base, "s": ""})
    item = {**base, "s": "z" * pad}
    assert item_limits.item_size(item) == 400_000

    client.put_item(TableName=state_table, Item=state_log.serialize(item))


def test_a_resource_id_longer_than_the_index_key_limit_keeps_a_unique_bounded_key() -> None:
    first, second = "r" * 3_000 + "1", "r" * 3_000 + "2"
    assert item_limits.resource_key("vol-1") == "RES#vol-1"
    assert len(item_limits.resource_key(first).encode()) <= item_limits.PARTITION_KEY_LIMIT_BYTES
    assert item_limits.resource_key(first) != item_limits.resource_key(second)
    assert item_limits.resource_key(first).startswith("RES#rrrr")


def test_a_summary_update_with_an_oversized_error_is_cut_and_ends_the_run(state_table: str) -> None:
    client = boto3.client("dynamodb", region_name=REGION)
    state = StateLog(state_table, client, automation="a", run_id="r1")
    state.start_run(mode="enforce")

    summary = state.finish_run("failed", error="E" * 500_000)

    assert summary["status"] == "failed" and summary["truncated"] == ["error"]
    assert summary["error"].startswith("EEEE") and "...[truncated " in summary["error"]


def test_a_message_over_the_sns_limit_is_cut_and_lists_what_was_cut() -> None:
    body = {"automation": "x", "run_id": "r", "finding": {"user_agent": "u" * 400_000, "name": "PutBucketAcl"}}

    text = fit_message("A headline " + "h" * 10_000, body)

    assert len(text.encode()) <= MESSAGE_LIMIT_BYTES  # the whole structure: every protocol's copy
    summary, parsed = parse_message(json.loads(text)["sqs"])
    assert len(summary.encode()) <= 4_000 and summary.startswith("A headline hhh")
    assert parsed["truncated"] == ["finding.user_agent"]
    assert parsed["finding"]["name"] == "PutBucketAcl" and parsed["run_id"] == "r"
