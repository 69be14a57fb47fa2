"""The cleanup flow over several invocations: announce (mark) and act phases continue, each resource once."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from automations.core.spec import CONTINUATION_MARGIN
from automations.scheduled.cleanup_volumes import handler
from tests.automations.conftest import REGION
from tests.automations.core.test_continuation_support import DrainingContext, drive
from tests.automations.scheduled.cleanup_harness import Harness, ec2, harness_fixture
from tests.notifications import message_body
from tests.recording import RecordingClients

VOLUMES = 80


h = harness_fixture(handler)


def old_volumes(h: Harness, count: int, tags: dict[str, str] | None = None) -> list[str]:
    h.clock.advance(days=-30)
    spec = [{"ResourceType": "volume", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}] if tags else []
    ids = [str(ec2().create_volume(AvailabilityZone=f"{REGION}a", Size=1, TagSpecifications=spec)["VolumeId"])
           for _ in range(count)]
    h.clock.advance(days=30)
    return ids


def notifications(h: Harness, run_id: str) -> list[dict[str, Any]]:
    """The bodies of the run's cleanup notifications (SNS -> SQS inbox), run alerts left out."""
    bodies = [message_body(m["Message"]) for m in h.messages()]
    return [b for b in bodies if b.get("run_id") == run_id and "status" not in b]


def drain() -> DrainingContext:
    # 3 reads above the margin per invocation; the act phase reads per batch and per chunk of steps
    return DrainingContext(remaining_ms=int(CONTINUATION_MARGIN.default) * 1000 + 3_000, step_ms=1_000)


def test_grace_zero_deletes_every_volume_once_over_several_invocations(h: Harness) -> None:
    volumes = old_volumes(h, VOLUMES)
    protected = old_volumes(h, 3, {"caretaker:protect": "true"})
    driven = drive(handler, h.clock, drain, clients=RecordingClients, mode="enforce", grace_days="0",
                   final_snapshot="false", max_concurrency="1")
    run_id = driven.run_id

    assert len(driven.results) >= 3  # 80 volumes in batches of 25
    assert driven.results[-1]["status"] == "ok"
    assert driven.invokes.payloads() == [{"caretaker": {"continue_run": run_id}}] * (len(driven.results) - 1)
    left = {v["VolumeId"] for v in ec2().describe_volumes()["Volumes"]}
    assert left == set(protected)
    per = Counter((i["resource_id"], i["action"], i["outcome"]) for i in h.actions(run_id))
    assert {k: v for k, v in per.items() if v != 1} == {}
    assert {(v, "delete-volume", o) for v in volumes for o in ("planned", "succeeded")} | \
           {(v, "delete-volume", "skipped") for v in protected} == set(per)
    summary = h.summary(run_id)
    assert (summary["status"], summary["planned"], summary["succeeded"], summary["skipped"]) == (
        "ok", VOLUMES, VOLUMES, 3)
    assert summary["invocations"] == len(driven.results)

    # one notification, at the end of the run, with the run's counts (not one per invocation)
    (body,) = notifications(h, run_id)
    assert (body["counts"]["acted"], body["counts"]["refused"]) == (VOLUMES, 3)
    assert sorted(body["acted"]) == sorted(volumes) and set(body["refused"]) == set(protected)
    assert driven.results[-1]["volumes_acted"] == VOLUMES and driven.results[-1]["candidates"] == VOLUMES


def test_announcing_continues_too_and_tags_each_volume_once(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    volumes = old_volumes(h, 60)
    from automations.scheduled.cleanup import ec2 as cleanup_ec2

    monkeypatch.setattr(cleanup_ec2.Ec2Family, "tag_batch", 10)  # batches of 25 (CHUNK x 1 worker)
    driven = drive(handler, h.clock, lambda: DrainingContext(
        remaining_ms=int(CONTINUATION_MARGIN.default) * 1000 + 1_500, step_ms=1_000),
        clients=RecordingClients, mode="enforce", grace_days="7", max_concurrency="1")
    run_id = driven.run_id
    assert len(driven.results) >= 2
    per = Counter((i["resource_id"], i["action"], i["outcome"]) for i in h.actions(run_id))
    assert {k: v for k, v in per.items() if v != 1} == {}
    assert {(v, "tag-cleanup-after", o) for v in volumes for o in ("planned", "succeeded")} == set(per)
    assert set(h.pending()) == set(volumes)
    assert {v["VolumeId"] for v in ec2().describe_volumes()["Volumes"]} == set(volumes)  # nothing deleted

    (body,) = notifications(h, run_id)
    assert (body["counts"]["pending"], body["counts"]["pending_new"]) == (60, 60)


def test_one_notification_counts_what_was_pending_before_the_run_once(
        h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    from automations.scheduled.cleanup import ec2 as cleanup_ec2

    monkeypatch.setattr(cleanup_ec2.Ec2Family, "tag_batch", 10)  # batches of 25 (CHUNK x 1 worker)
    earlier = old_volumes(h, 10)
    first = h.invoke(grace_days="7", max_concurrency="1")  # all the time it needs: announces the 10
    assert first["status"] == "ok" and set(h.pending()) == set(earlier)
    h.messages()
    h.clock.advance(days=1)
    later = old_volumes(h, 40)
    driven = drive(handler, h.clock, lambda: DrainingContext(
        remaining_ms=int(CONTINUATION_MARGIN.default) * 1000 + 1_500, step_ms=1_000),
        clients=RecordingClients, mode="enforce", grace_days="7", max_concurrency="1")
    assert len(driven.results) >= 3  # one batch of 25 announced per invocation (after the first)
    assert set(h.pending()) == set(earlier + later)
    # the 10 are pending from before (counted once), the 40 were announced by this run, in several invocations;
    # a later invocation finds those 40 pending too, and must not count them again
    (body,) = notifications(h, driven.run_id)
    assert (body["counts"]["pending"], body["counts"]["pending_new"]) == (50, 40)
    assert {p["id"] for p in body["pending"] if not p["new"]} == set(earlier)
    assert {p["id"] for p in body["pending"] if p["new"]} == set(later)
