"""Oversized input: a caller-chosen field as large as DynamoDB's item limit (400 KB) or SNS's message limit
(256 KB) must not stop a rule, lose its records or its notification, or leave a run summary `running`.

Before: a 500 KB user agent made the `planned` PutItem fail (ValidationException: item size exceeded), so
the world-open port stayed open and nobody was told; a buffered record that could not be written left the
run summary `running`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from automations.core import ledger
from automations.core.errors import StateLogError
from automations.core.runtime import Entrypoint, Run
from automations.core.spec import CloudTrail, FunctionSpec, Permission
from automations.security import kms_key_deletion, reactive, sg_open_world
from tests.automations.security.conftest import Harness, load_event, outcomes
from tests.automations.security.test_sg_open_world import authorize_as_recorded, ingress

HUGE = 500_000
WORLD_SSH = {("tcp", 22, 22, "0.0.0.0/0"), ("tcp", 22, 22, "::/0")}


def world_ssh(ec2: Any, group: str) -> dict[str, Any]:
    return authorize_as_recorded(ec2, group, load_event("authorize_security_group_ingress"))


def cut_bytes(text: str) -> int:
    """N of the marker `...[truncated N bytes]` that ends `text`."""
    _kept, sep, tail = text.rpartition("...[truncated ")
    assert sep and tail.endswith(" bytes]"), text[-80:]
    return int(tail.removesuffix(" bytes]"))


def test_a_500_kb_user_agent_cannot_stop_the_revocation_its_record_or_its_notification(
        harness: Harness, ec2: Any, group: str) -> None:
    event = world_ssh(ec2, group)
    event["detail"]["userAgent"] = "aws-cli/2.17.20 " + "A" * HUGE

    summary = harness.invoke(sg_open_world.handler, event)

    assert not ingress(ec2, group) & WORLD_SSH  # revoked
    items = harness.items(summary)
    assert outcomes(items) == [("revoke-ingress", "planned"), ("revoke-ingress", "succeeded")]
    for item in items:
        agent = item["details"]["user_agent"]
        assert agent.startswith("aws-cli/2.17.20 AAAA")
        kept = agent.partition("...[truncated ")[0]
        assert len(kept) + cut_bytes(agent) == len(event["detail"]["userAgent"])  # kept + counted = original
        assert item["truncated"] == ["details.user_agent"]
        assert item["details"]["rules"] and item["resource_id"] == group  # the rest of the record is whole
    run = harness.run_summary(summary)
    assert (run["status"], run["planned"], run["succeeded"]) == ("ok", 1, 1)
    [note] = harness.notifications()
    assert note["body"]["caretaker"]["outcome"] == "succeeded"
    assert note["body"]["truncated"] == ["finding.user_agent"]
    assert cut_bytes(note["body"]["finding"]["user_agent"]) > 0
    assert {r["rule"] for r in note["body"]["finding"]["rules"]} >= {"22/tcp from 0.0.0.0/0"}


def test_an_ordinary_event_is_recorded_and_notified_uncut(harness: Harness, ec2: Any, group: str) -> None:
    event = world_ssh(ec2, group)

    summary = harness.invoke(sg_open_world.handler, event)

    for item in harness.items(summary):
        assert "truncated" not in item
        assert item["details"]["user_agent"] == event["detail"]["userAgent"]
    [note] = harness.notifications()
    assert "truncated" not in note["body"]
    assert note["body"]["finding"]["user_agent"] == event["detail"]["userAgent"]


def test_a_500_kb_malformed_request_value_leaves_a_complete_record_and_a_small_result(
        harness: Harness) -> None:
    event = load_event("schedule_key_deletion")
    event["detail"]["requestParameters"]["keyId"] = {"padding": "B" * HUGE}

    summary = harness.invoke(kms_key_deletion.handler, event)

    [item] = harness.items(summary)
    assert item["outcome"] == "skipped" and item["reason"].startswith("bad event: requestParameters.keyId")
    assert cut_bytes(item["reason"]) > 0  # the message quotes only the start of the value
    assert len(summary["finding"]["reason"]) <= reactive.REASON_LIMIT_BYTES
    assert harness.run_summary(summary)["status"] == "ok"
    assert harness.notifications() == []


def test_a_resource_id_too_long_for_the_index_key_still_gets_its_record_and_history(harness: Harness) -> None:
    event = load_event("authorize_security_group_ingress")
    long_id = "sg-" + "0" * 3_000  # gone (never created): a `skipped` record on that resource
    event["detail"]["requestParameters"]["groupId"] = long_id
    event["detail"]["responseElements"] = None

    summary = harness.invoke(sg_open_world.handler, event)

    [item] = harness.items(summary)
    assert item["resource_id"] == long_id and item["outcome"] == "skipped"
    assert harness.run_summary(summary)["status"] == "ok"
    history = ledger.resource_history(harness.dynamodb, harness.table, long_id)
    assert [h["action_id"] for h in history] == [item["action_id"]]


# ---------------------------------------------------------------- the run summary always ends

SPEC = FunctionSpec(name="oversized-probe", description="test", handler="automations.security.oversized.handler",
                    trigger=CloudTrail("aws.kms", "kms.amazonaws.com", ("ScheduleKeyDeletion",)),
                    permissions=(Permission(("kms:DescribeKey",)),), default_mode="enforce",
                    settings=reactive.security_settings())


def probe(fn: Any) -> Entrypoint:
    def handler(run: Run, event: Mapping[str, Any]) -> dict[str, Any]:
        fn(run)
        return {}

    return Entrypoint(SPEC, handler)


def test_a_handler_that_raises_after_an_oversized_record_leaves_the_record_and_a_finished_summary(
        harness: Harness) -> None:
    def fn(run: Run) -> None:
        run.skip("key/1", "inspect", "looked at it", {"blob": "C" * HUGE})
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        harness.invoke(probe(fn), load_event("schedule_key_deletion"))

    [run] = [i for i in harness.dynamodb.scan(TableName=harness.table)["Items"]
             if i.get("type", {}).get("S") == "run"]
    summary = harness.run_summary({"run_id": run["run_id"]["S"]})
    assert summary["status"] == "failed" and "RuntimeError: boom" in summary["error"]
    [item] = harness.items(summary)
    assert item["truncated"] == ["details.blob"] and cut_bytes(item["details"]["blob"]) > 0
    [alert] = harness.notifications()
    assert alert["body"]["status"] == "failed"


def test_a_record_that_cannot_be_written_at_all_still_leaves_a_finished_summary(harness: Harness) -> None:
    """An attribute that is never cut (here the action name) beyond the item limit: the write fails."""
    def fn(run: Run) -> None:
        run.skip("key/1", "x" * HUGE, "unwritable")

    with pytest.raises(StateLogError, match=r"Item size"):
        harness.invoke(probe(fn), load_event("schedule_key_deletion"))

    [run] = [i for i in harness.dynamodb.scan(TableName=harness.table)["Items"]
             if i.get("type", {}).get("S") == "run"]
    summary = harness.run_summary({"run_id": run["run_id"]["S"]})
    assert summary["status"] == "failed"
    assert summary["unwritten"] == 1 and "1 outcome records could not be written" in summary["error"]
    assert summary["skipped"] == 1
    assert harness.items(summary) == []
    [alert] = harness.notifications()
    assert alert["body"]["status"] == "failed"
