"""A cleanup run overlaps the calls that do not need each other's answers: the pending records are read while
the family surveys AWS, and the notification goes out while the last records are written. What each overlap
must not change: a read that fails still fails the run before anything is acted on, and a state log that fails
at the end still fails the run.

Each test makes one call wait for the other to start (an event, with a generous timeout as a guard): if the
two ran one after the other, the wait would time out and the test would fail, whatever the machine's speed."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from automations.core.errors import StateLogError
from automations.scheduled.cleanup_volumes import handler
from tests.automations.conftest import REGION
from tests.automations.scheduled.cleanup_harness import Harness, ec2, harness_fixture
from tests.recording import RecordingClients

h = harness_fixture(handler, grace_days="0", min_age_days="0", final_snapshot="false")

#: how long one call waits for the other to start before the test gives up on the overlap
GUARD_S = 10


def volume() -> str:
    return str(ec2().create_volume(AvailabilityZone=f"{REGION}a", Size=1)["VolumeId"])


def existing_volumes() -> set[str]:
    return {v["VolumeId"] for v in ec2().describe_volumes()["Volumes"]}


def is_pending_read(params: dict[str, Any]) -> bool:
    return "PENDING#" in str(params.get("ExpressionAttributeValues"))


def is_outcome_write(params: dict[str, Any]) -> bool:
    return "succeeded" in str(params)  # the deletion's outcome, written by the run's last flush


Which = Callable[[dict[str, Any]], bool]


def waits_for(clients: RecordingClients, call: tuple[str, str, Which], other: tuple[str, str]) -> list[bool]:
    """Make each `call` (service, operation, which of its calls) wait, up to GUARD_S, for the run to start a call
    of `other` (service, operation); the list returned says, per call held, whether `other` started meanwhile."""
    started = threading.Event()
    overlapped: list[bool] = []

    def mark(**_: Any) -> None:
        started.set()

    def hold(params: dict[str, Any]) -> None:
        if call[2](params):
            overlapped.append(started.wait(GUARD_S))
        return None  # moto answers

    clients.session.events.register(f"before-call.{other[0]}.{other[1]}", mark)
    clients.answer(call[0], call[1], hold)
    return overlapped


@pytest.mark.parametrize(("held", "meanwhile"), [
    (("dynamodb", "Query", is_pending_read), ("ec2", "DescribeVolumes")),
    (("dynamodb", "BatchWriteItem", is_outcome_write), ("sns", "Publish")),
], ids=["the pending records are read while the family surveys",
        "the notification goes out while the last records are written"])
def test_calls_that_do_not_need_each_others_answer_run_side_by_side(
        h: Harness, held: tuple[str, str, Which], meanwhile: tuple[str, str]) -> None:
    volume_id = volume()
    clients = RecordingClients()
    overlapped = waits_for(clients, held, meanwhile)
    result = h.invoke(clients)
    assert overlapped == [True]
    assert result["status"] == "ok" and result["volumes_acted"] == 1
    assert volume_id not in existing_volumes()
    assert (volume_id, "delete-volume", "succeeded") in h.outcomes(result["run_id"])
    assert h.notification(result["run_id"])["body"]["acted"] == [volume_id]


def test_a_pending_read_that_fails_fails_the_run_before_anything_is_acted_on(h: Harness) -> None:
    volume_id = volume()
    clients = RecordingClients()
    clients.fail("dynamodb", "Query", "ProvisionedThroughputExceededException", when=is_pending_read)
    with pytest.raises(StateLogError, match="pending records"):
        h.invoke(clients)
    assert volume_id in existing_volumes()
    assert clients.count("ec2")["DeleteVolume"] == 0 and clients.count("dynamodb")["BatchWriteItem"] == 0
    (run_id,) = run_ids(clients)
    summary = h.summary(run_id)
    assert summary["status"] == "failed" and "pending records" in summary["error"]
    assert h.actions(run_id) == []


def run_ids(clients: RecordingClients) -> list[str]:
    """The runs the handler started (from its run-start writes)."""
    return sorted({params["Item"]["run_id"]["S"] for params in clients.called("dynamodb", "PutItem")
                   if "run_id" in params["Item"]})


def test_a_state_log_that_fails_at_the_end_fails_the_run_and_the_notification_still_says_what_was_done(
        h: Harness) -> None:
    volume_id = volume()
    clients = RecordingClients()
    clients.fail("dynamodb", "BatchWriteItem", "InternalServerError", status=500, when=is_outcome_write)
    with pytest.raises(StateLogError, match="batch_write_item"):
        h.invoke(clients)
    assert volume_id not in existing_volumes()  # the deletion happened before the state log failed
    (run_id,) = run_ids(clients)
    assert h.summary(run_id)["status"] == "failed"
    assert h.notification(run_id)["body"]["acted"] == [volume_id]
