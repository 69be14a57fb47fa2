"""Owner routing of the cleanup notice: one message per `caretaker:owner`, with its resources only and the
`owner` attribute, plus one for the resources without an owner; a team's filter policy gets only its own."""

from __future__ import annotations

import json
from typing import Any

import boto3

from automations.scheduled.cleanup_volumes import handler
from tests.automations.conftest import REGION
from tests.automations.scheduled.cleanup_harness import Harness, ec2, harness_fixture, tag_specs
from tests.notifications import message_body, published

h = harness_fixture(handler)


def old_volume(h: Harness, owner: str | None = None, days: int = 30) -> str:
    h.clock.advance(days=-days)
    tags = {"caretaker:owner": owner} if owner else None
    volume_id = str(ec2().create_volume(AvailabilityZone=f"{REGION}a", Size=10,
                                        TagSpecifications=tag_specs("volume", tags))["VolumeId"])
    h.clock.advance(days=days)
    return volume_id


def team_queue(h: Harness, owner: str) -> str:
    sqs, sns = boto3.client("sqs", region_name=REGION), boto3.client("sns", region_name=REGION)
    url = sqs.create_queue(QueueName=f"inbox-{owner}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=h.alerts.topic_arn, Protocol="sqs", Endpoint=arn,
                  Attributes={"FilterPolicy": json.dumps({"owner": [owner]})})
    return str(url)


def team_messages(url: str) -> list[dict[str, Any]]:
    got = boto3.client("sqs", region_name=REGION).receive_message(QueueUrl=url, MaxNumberOfMessages=10)
    return [message_body(json.loads(m["Body"])["Message"]) for m in got.get("Messages", [])]


def pending_ids(doc: dict[str, Any]) -> set[str]:
    return {entry["id"] for entry in doc.get("pending", [])}


def test_each_owner_gets_a_message_with_only_its_volumes_and_the_unowned_get_one_without_owner(h: Harness) -> None:
    a1, a2, b, loose = old_volume(h, "team-a"), old_volume(h, "team-a"), old_volume(h, "team-b"), old_volume(h)
    inbox_a = team_queue(h, "team-a")

    result = h.invoke()

    # the state log has the whole run, whoever owns what
    assert {(r, a, o) for r, a, o in h.outcomes(result["run_id"]) if o == "succeeded"} == {
        (v, "tag-cleanup-after", "succeeded") for v in (a1, a2, b, loose)}
    docs = {d["owner"]: d for d in (message_body(m["Message"]) for m in h.messages())}
    assert set(docs) == {"team-a", "team-b", None}
    assert pending_ids(docs["team-a"]) == {a1, a2} and docs["team-a"]["counts"]["pending"] == 2
    assert pending_ids(docs["team-b"]) == {b} and pending_ids(docs[None]) == {loose}
    assert all(d["run_id"] == result["run_id"] and d["outcome"] == "planned" for d in docs.values())
    assert "Resources owned by team-a." in docs["team-a"]["summary"]
    attributes = {m["attributes"].get("owner") for m in published(h.alerts.topic_arn)}
    assert attributes == {"team-a", "team-b", None}
    # a team's filter policy gets its own message, and nothing else
    [mine] = team_messages(inbox_a)
    assert pending_ids(mine) == {a1, a2}
    # the run's figures still cover every volume
    assert result["volumes_pending"] == 4


def test_a_run_without_owner_tags_sends_one_message_as_before(h: Harness) -> None:
    volumes = {old_volume(h), old_volume(h)}

    h.invoke()

    [message] = h.messages()
    doc = message_body(message["Message"])
    assert doc["owner"] is None and pending_ids(doc) == volumes
    assert "owner" not in published(h.alerts.topic_arn)[0]["attributes"]


def test_acting_on_an_owners_volumes_tells_that_owner_what_was_deleted(h: Harness) -> None:
    mine = old_volume(h, "team-a")
    h.invoke()
    h.messages()
    h.clock.advance(days=8)

    h.invoke()

    [doc] = [message_body(m["Message"]) for m in h.messages()]
    assert doc["owner"] == "team-a" and doc["acted"] == [mine] and doc["outcome"] == "succeeded"
    assert mine not in {v["VolumeId"] for v in ec2().describe_volumes()["Volumes"]}


def test_a_run_over_several_invocations_sends_each_owner_one_message_for_the_whole_run(h: Harness) -> None:
    from collections import Counter

    from automations.core.spec import CONTINUATION_MARGIN
    from tests.automations.core.test_continuation_support import DrainingContext, drive
    from tests.recording import RecordingClients

    team_a = [old_volume(h, "team-a") for _ in range(30)]
    team_b = [old_volume(h, "team-b") for _ in range(20)]
    loose = [old_volume(h) for _ in range(10)]

    driven = drive(handler, h.clock, lambda: DrainingContext(
        remaining_ms=int(CONTINUATION_MARGIN.default) * 1000 + 3_000, step_ms=1_000),
        clients=RecordingClients, mode="enforce", grace_days="0", final_snapshot="false", max_concurrency="1")

    assert len(driven.results) >= 2 and driven.results[-1]["status"] == "ok"
    docs = [message_body(m["Message"]) for m in h.messages()]
    ours = [d for d in docs if d["run_id"] == driven.run_id and "status" not in d]
    assert Counter(d["owner"] for d in ours) == {"team-a": 1, "team-b": 1, None: 1}
    by_owner = {d["owner"]: d for d in ours}
    assert sorted(by_owner["team-a"]["acted"]) == sorted(team_a) and by_owner["team-a"]["counts"]["acted"] == 30
    assert sorted(by_owner["team-b"]["acted"]) == sorted(team_b)
    assert sorted(by_owner[None]["acted"]) == sorted(loose)
    assert {v["VolumeId"] for v in ec2().describe_volumes()["Volumes"]} == set()
    assert driven.results[-1]["volumes_acted"] == 60


def test_a_checkpoint_written_before_owner_routing_continues_as_the_part_without_an_owner() -> None:
    from automations.scheduled.cleanup.model import Candidate
    from automations.scheduled.cleanup.notice import Notice

    old = {"counts": {"acted": 2}, "savings": {"acted": 1.5}, "entries": {"acted": ["vol-x", "vol-y"]},
           "first_due": None}
    notice = Notice("volumes", "delete-volume", "deleted", dry_run=False, prior=old,
                    acted=[Candidate("vol-a", "unattached", 1.0)], owners={"vol-a": "team-a"})

    parts = {p.owner: p for p in notice._split()}
    assert set(parts) == {"team-a", ""}
    assert parts[""].body()["acted"] == ["vol-x", "vol-y"] and parts["team-a"].body()["acted"] == ["vol-a"]
    assert notice.counts()["acted"] == 3 and notice.savings()["acted"] == 2.5
    assert set(notice.carried()["parts"]) == {"team-a", ""}
