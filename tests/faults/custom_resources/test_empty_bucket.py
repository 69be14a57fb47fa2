"""Custom::EmptyBucket's Delete under faults: one truthful answer (SUCCESS only when the bucket is empty,
FAILED with a Reason naming what is left otherwise), every DeleteObjects after its `planned` record, and a
summary whose counts are its records. SNS: the provider publishes nothing, so that fault does not apply.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from custom_resources import empty_bucket
from tests.custom_resources.conftest import Cfn, actions_of, summary_of
from tests.custom_resources.test_empty_bucket import BUCKET, make_bucket, versions
from tests.faults.faults import FaultClients, Killed, VirtualTime, counts_of, summary_counts

OBJECTS = 10  # 20 versions: one DeleteObjects batch


def delete(cfn: Cfn, clients: FaultClients, event: dict[str, Any] | None = None) -> dict[str, Any]:
    event = event or delete_event(cfn)
    empty_bucket.handler.invoke(event, cfn.context(empty_bucket), clients=clients, clock=cfn.clock)
    return event


def delete_event(cfn: Cfn) -> dict[str, Any]:
    return cfn.event(empty_bucket, "Delete", {"BucketName": BUCKET}, physical_id="caretaker:empty-bucket:0123456789ab")


def unplanned_deletes(clients: FaultClients) -> list[str]:
    """DeleteObjects calls without a `delete-objects` planned record for their first key accepted before them."""
    planned = [(seq, item) for seq, item in clients.planned_writes() if item["action"] == "delete-objects"]
    return [c.params["Delete"]["Objects"][0]["Key"] for c in clients.calls if c.operation == "DeleteObjects"
            if not any(seq < c.seq and item["details"]["first_key"] == c.params["Delete"]["Objects"][0]["Key"]
                       for seq, item in planned)]


def assert_truthful(cfn: Cfn, event: dict[str, Any]) -> dict[str, Any]:
    body = cfn.answer(event)  # exactly one
    assert (body["Status"] == "SUCCESS") == (versions() == 0), body
    if body["Status"] == "FAILED":
        assert body["Reason"]
    records = cfn.records(event)
    summary = summary_of(records)
    assert summary_counts(summary) == counts_of(records)
    assert summary["outcome"] == ("succeeded" if body["Status"] == "SUCCESS" else "failed")
    return body


def deny_keys(clients: FaultClients, keys: set[str]) -> None:
    """S3 answers DeleteObjects with a per-key AccessDenied for `keys` (and deletes the others)."""
    held: dict[int, list[dict[str, str]]] = {}

    def before(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        objects = params["Delete"]["Objects"]
        held[id(context)] = [o for o in objects if o["Key"] in keys]
        params["Delete"] = {**params["Delete"], "Objects": [o for o in objects if o["Key"] not in keys]}

    def after(parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        parsed.setdefault("Errors", []).extend(
            {**o, "Code": "AccessDenied", "Message": "Access Denied (injected)"} for o in held.pop(id(context), []))

    clients.session.events.register("before-parameter-build.s3.DeleteObjects", before)
    clients.session.events.register("after-call.s3.DeleteObjects", after)


def test_access_denied_on_a_fraction_of_the_objects(cfn: Cfn) -> None:
    make_bucket(cfn, objects=OBJECTS)
    denied = set(random.Random(5).sample([f"data/{i:05d}" for i in range(OBJECTS)], 3))
    clients = FaultClients()
    deny_keys(clients, denied)

    event = delete(cfn, clients)

    body = assert_truthful(cfn, event)
    assert body["Status"] == "FAILED" and "6 of 20 object versions" in body["Reason"]
    assert "AccessDenied" in body["Reason"] and any(key in body["Reason"] for key in denied)
    assert versions() == 6 and unplanned_deletes(clients) == []
    assert [a["outcome"] for a in actions_of(cfn.records(event))] == ["planned", "failed"]

    again = delete(cfn, FaultClients())  # permissions fixed, the stack deleted again: a new request
    assert assert_truthful(cfn, again)["Status"] == "SUCCESS"


def test_a_throttling_storm(cfn: Cfn, retry_time: VirtualTime) -> None:
    make_bucket(cfn, objects=OBJECTS)
    clients = FaultClients(seed=3)
    storm = clients.storm(fraction=1.0, max_throttled_attempts=3, services=("s3", "dynamodb"))

    event = delete(cfn, clients)

    assert assert_truthful(cfn, event)["Status"] == "SUCCESS"
    assert storm.throttled >= 5 and retry_time.sleeps > 0
    assert [c.operation for c in clients.changes() if c.succeeded] == ["DeleteObjects"]
    assert unplanned_deletes(clients) == []


@pytest.mark.parametrize("writes", [0, 1, 2, 3])
def test_the_state_table_failing(cfn: Cfn, writes: int) -> None:
    make_bucket(cfn, objects=OBJECTS)
    clients = FaultClients()
    clients.state_table_fails_after(writes)

    event = delete(cfn, clients)

    body = cfn.answer(event)
    assert unplanned_deletes(clients) == []
    assert (body["Status"] == "SUCCESS") == (versions() == 0)
    if body["Status"] == "FAILED":
        assert "state log" in body["Reason"]
    else:  # emptied after its record; only the outcome could not be recorded, and the Reason says so
        assert "state log could not record" in body["Reason"]


def test_killed_mid_way_and_retried_by_lambda_finishes_the_bucket(cfn: Cfn) -> None:
    make_bucket(cfn, objects=700)  # 1,400 versions: two DeleteObjects batches
    killed = FaultClients()
    killed.kill_at("s3", "DeleteObjects", 2)
    event = delete_event(cfn)

    with pytest.raises(Killed):
        delete(cfn, killed, event)
    assert cfn.responses(event) == [] and versions() == 400 and unplanned_deletes(killed) == []

    retry = FaultClients()  # the same event again
    delete(cfn, retry, event)

    assert assert_truthful(cfn, event)["Status"] == "SUCCESS"
    assert unplanned_deletes(retry) == []
    deleted = [len(c.params["Delete"]["Objects"]) for run in (killed, retry) for c in run.calls
               if c.operation == "DeleteObjects" and c.succeeded]
    assert sum(deleted) == 1_400  # nothing deleted twice
    outcomes = sorted(a["outcome"] for a in actions_of(cfn.records(event)))
    # the killed run's outcomes were still buffered: its two batches stay `planned` (outcome unknown)
    assert outcomes == ["planned", "planned", "planned", "succeeded"]
