"""The shared cleanup machinery: the two-phase decision, pending records, notices, bounded concurrency,
batched tagging with per-resource fallback, the time budget and retries of throttled calls."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse, HTTPHeaders
from moto.core.botocore_stubber import MockRawResponse

from automations.core.concurrency import BoundedExecutor, bounded_map
from automations.core.notify import LIST_LIMIT
from automations.core.pending import PendingRecord, PendingStore
from automations.core.runtime import Entrypoint
from automations.scheduled.cleanup.flow import decide
from automations.scheduled.cleanup.model import Candidate, Exclusions, Survey
from automations.scheduled.cleanup.notice import Notice
from automations.scheduled.cleanup_volumes import handler
from tests.automations.conftest import REGION
from tests.automations.scheduled.cleanup_harness import Harness, ec2, harness_fixture, tags_of
from tests.declared_calls import Guard
from tests.recording import RecordingClients

NOW = datetime(2026, 11, 27, 3, tzinfo=UTC)


def record(resource_id: str, stage: str = "pending", *, due_in_days: float = 3, dry_run: bool = False,
           first_seen: datetime = NOW - timedelta(days=4)) -> PendingRecord:
    return PendingRecord(resource_id=resource_id, stage=stage, first_seen=first_seen, reason="r", dry_run=dry_run,
                         run_id="old", due=NOW + timedelta(days=due_in_days) if stage == "pending" else None)


def survey(*candidates: str, watched: tuple[str, ...] = (), ineligible: dict[str, str] | None = None,
           refused: dict[str, str] | None = None) -> Survey:
    result = Survey(Exclusions())
    for resource_id in candidates:
        result.consider(Candidate(resource_id, "qualifies"), {})
    for resource_id in watched:
        result.watch(resource_id, {}, "watching")
    result.ineligible.update(ineligible or {})
    result.refused.update(refused or {})
    return result


def test_new_candidates_are_announced_or_acted_on_at_once_with_grace_zero() -> None:
    announced = decide(survey("a"), {}, now=NOW, grace_days=7, dry_run=False, run_id="r")
    assert [(c.resource_id, seen) for c, seen in announced.mark] == [("a", NOW)] and not announced.act
    at_once = decide(survey("a"), {}, now=NOW, grace_days=0, dry_run=False, run_id="r")
    assert [c.resource_id for c, _ in at_once.act] == ["a"] and not at_once.mark


def test_pending_candidates_wait_until_due_then_act() -> None:
    waiting = decide(survey("a"), {"a": record("a", due_in_days=1)}, now=NOW, grace_days=7, dry_run=False,
                     run_id="r")
    assert [c.resource_id for c, _ in waiting.waiting] == ["a"] and not waiting.act
    due = decide(survey("a"), {"a": record("a", due_in_days=-1)}, now=NOW, grace_days=7, dry_run=False, run_id="r")
    assert [c.resource_id for c, _ in due.act] == ["a"]


def test_an_audit_announcement_does_not_count_for_an_enforce_run() -> None:
    seen = NOW - timedelta(days=30)
    decision = decide(survey("a"), {"a": record("a", due_in_days=-20, dry_run=True, first_seen=seen)}, now=NOW,
                      grace_days=7, dry_run=False, run_id="r")
    assert [(c.resource_id, first) for c, first in decision.mark] == [("a", seen)] and not decision.act
    audit = decide(survey("a"), {"a": record("a", due_in_days=-20, dry_run=True)}, now=NOW, grace_days=7,
                   dry_run=True, run_id="r")
    assert [c.resource_id for c, _ in audit.act] == ["a"]  # audit previews the action (planned, dry-run)


def test_pending_resources_that_no_longer_qualify_are_dropped_with_the_reason() -> None:
    records = {"gone": record("gone"), "used": record("used"), "kept": record("kept"), "seen": record("seen", "seen")}
    decision = decide(survey(ineligible={"used": "attached to i-1"}, refused={"kept": "protected"}), records,
                      now=NOW, grace_days=7, dry_run=False, run_id="r")
    assert {r.resource_id: reason for r, reason in decision.drop} == {"gone": None, "used": "attached to i-1",
                                                                      "kept": "protected"}
    assert decision.forget == ["seen"] and decision.refused == {}


def test_watched_resources_keep_their_first_sighting() -> None:
    first = decide(survey(watched=("ip",)), {}, now=NOW, grace_days=7, dry_run=False, run_id="r")
    assert [(r.resource_id, r.stage, r.first_seen) for r in first.sight] == [("ip", "seen", NOW)]
    seen = NOW - timedelta(days=2)
    demoted = decide(survey(watched=("ip",)), {"ip": record("ip", first_seen=seen)}, now=NOW, grace_days=7,
                     dry_run=False, run_id="r")
    assert [r.resource_id for r, _ in demoted.drop] == ["ip"]
    assert [(r.stage, r.first_seen) for r in demoted.sight] == [("seen", seen)]


def test_report_only_never_announces_and_drops_earlier_announcements() -> None:
    decision = decide(survey("i-1", "i-2"), {"i-2": record("i-2")}, now=NOW, grace_days=7, dry_run=False,
                      run_id="r", report_only=True)
    assert [c.resource_id for c in decision.report] == ["i-1", "i-2"]
    assert not decision.mark and not decision.act and [r.resource_id for r, _ in decision.drop] == ["i-2"]


def test_exclusions_match_keys_and_values_case_insensitively() -> None:
    rules = Exclusions.parse(["team=Platform", "keep"])
    assert rules.refusal({"team": "platform "}) == "excluded: tagged team=platform "
    assert rules.refusal({"keep": ""}) == "excluded: tagged keep"
    assert rules.refusal({"team": "web"}) is None
    assert rules.refusal({"caretaker:protect": "True"}) == "protected: tagged caretaker:protect=true"


def test_notice_lists_are_capped_and_an_empty_run_says_nothing() -> None:
    notice = Notice("volumes", "delete-volume", "deleted", dry_run=False)
    assert notice.is_empty()
    notice.acted = [Candidate(f"vol-{n:04d}", "old", 1.0) for n in range(LIST_LIMIT + 20)]
    body = notice.body()
    assert len(body["acted"]) == LIST_LIMIT and body["truncated"] == {"acted": 20}
    assert body["estimated_monthly_saving_usd"]["acted"] == LIST_LIMIT + 20
    assert notice.summary().startswith("deleted volumes: 120 (~$120.00/month)")


# ---------------------------------------------------------------------- pending store


def test_pending_store_batches_and_keeps_the_last_write_per_resource(state_table: str) -> None:
    clients = RecordingClients()
    store = PendingStore(state_table, clients("dynamodb"), automation="demo", run_id="run-1", ttl_days=90,
                         clock=lambda: NOW)
    for n in range(30):
        store.put(record(f"r-{n}"))
    store.remove("r-0")
    store.flush()
    loaded = store.load()
    assert len(loaded) == 29 and "r-0" not in loaded
    assert clients.count("dynamodb") == {"BatchWriteItem": 2, "Query": 1}
    assert loaded["r-1"].run_id == "run-1" and loaded["r-1"].due == NOW + timedelta(days=3)
    assert not store.needs_refresh(loaded["r-1"], NOW)
    assert store.needs_refresh(loaded["r-1"], NOW + timedelta(days=60))


# ---------------------------------------------------------------------- concurrency


def test_bounded_executor_never_exceeds_its_workers_and_keeps_the_first_error() -> None:
    running, peak, lock = [0], [0], threading.Lock()

    def work(_: int) -> int:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.002)
        with lock:
            running[0] -= 1
        return _

    assert bounded_map(work, list(range(40)), 4) == list(range(40))
    assert peak[0] <= 4

    def boom(n: int) -> None:
        if n == 3:
            raise RuntimeError("state log down")

    with pytest.raises(RuntimeError, match="state log down"), BoundedExecutor(2) as pool:
        for n in range(50):
            pool.submit(boom, n)
            time.sleep(0.001)
    assert pool.submitted < 50  # no new work was accepted after the failure


# ---------------------------------------------------------------------- through a handler


h = harness_fixture(handler, final_snapshot="false")


def old_volume(h: Harness) -> str:
    h.clock.advance(days=-30)
    volume_id = str(ec2().create_volume(AvailabilityZone=f"{REGION}a", Size=1)["VolumeId"])
    h.clock.advance(days=30)
    return volume_id


def test_a_failing_batched_tag_call_is_retried_resource_by_resource(h: Harness) -> None:
    volumes = [old_volume(h) for _ in range(3)]
    bad = volumes[1]
    clients = RecordingClients()
    clients.fail("ec2", "CreateTags", when=lambda body: bad in body["Resources"])
    result = h.invoke(clients)
    assert clients.count("ec2")["CreateTags"] == 4  # one batch, then one call each
    assert set(h.pending()) == set(volumes) - {bad}
    tagged = {v["VolumeId"] for v in ec2().describe_volumes()["Volumes"] if "caretaker:cleanup-after" in tags_of(v)}
    assert tagged == set(volumes) - {bad}
    assert h.outcomes(result["run_id"]) >= {(bad, "tag-cleanup-after", "failed")}
    assert h.notification(result["run_id"])["body"]["failed"][bad].startswith("could not tag: AccessDenied")


def test_when_the_time_budget_runs_out_the_rest_waits_for_the_next_run(h: Harness) -> None:
    volumes = [old_volume(h) for _ in range(2)]
    # above the continuation margin (its minimum, 30 s: the batch is handed out), under the steps' 60 s reserve
    h.context.remaining_ms = 45_000
    result = h.invoke(grace_days="0", continuation_margin_seconds="30")
    assert {v["VolumeId"] for v in ec2().describe_volumes()["Volumes"]} == set(volumes)
    assert result["counts"]["planned"] == 0 and result["volumes_deferred"] == 2
    assert "time budget reached" in h.summary(result["run_id"])["notes"][0]
    h.context.remaining_ms = 900_000
    h.invoke(grace_days="0")
    assert ec2().describe_volumes()["Volumes"] == []


def test_throttled_calls_are_retried_not_dropped(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    import botocore.retries.bucket as bucket
    import botocore.retries.standard as standard

    # no real waiting: no backoff delay, and the adaptive mode's client-side rate limiter never blocks
    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount", lambda self, context: 0)
    monkeypatch.setattr(bucket.TokenBucket, "acquire", lambda self, amount=1, block=True: True)
    volume_id = old_volume(h)
    clients = RecordingClients()
    attempts: dict[str, int] = {}

    def throttle_first_two(request: Any, **_: Any) -> AWSResponse | None:
        body = request.body.decode() if isinstance(request.body, bytes) else str(request.body)
        action = next((a for a in ("DescribeVolumes", "DeleteVolume") if f"Action={a}" in body), None)
        if action is None:
            return None
        attempts[action] = attempts.get(action, 0) + 1
        if attempts[action] > 2:
            return None
        return AWSResponse(request.url, 503, HTTPHeaders(), MockRawResponse(
            b"<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>slow down"
            b"</Message></Error></Errors><RequestID>1</RequestID></Response>"))

    # moto handles every request it sees (the throttled DeleteVolume too): the retries then find the
    # volume gone, which counts as done. What matters here: each throttled call was retried, not dropped.
    throttle: Callable[..., Any] = throttle_first_two  # the stubs type handlers `-> None`
    clients.session.events.register_first("before-send", throttle)
    result = h.invoke(clients, grace_days="0")
    assert attempts == {"DescribeVolumes": 3, "DeleteVolume": 3}
    assert volume_id not in {v["VolumeId"] for v in boto3.client("ec2", region_name=REGION).describe_volumes()[
        "Volumes"]}
    assert result["status"] == "ok" and result["volumes_acted"] == 1


@pytest.mark.undeclared_calls
def test_the_permission_safety_net_catches_an_undeclared_call(h: Harness, declared_calls: Guard) -> None:
    real = h.handler.fn

    def also_describing_vpcs(run: Any, event: Any) -> Any:
        run.clients("ec2").describe_vpcs()
        return real(run, event)

    h.handler = Entrypoint(handler.spec, also_describing_vpcs)
    h.invoke()
    assert declared_calls.undeclared() == {handler.spec.name: {"ec2:DescribeVpcs"}}
