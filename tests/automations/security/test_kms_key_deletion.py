"""kms-key-deletion: a scheduled deletion is cancelled and the key enabled again; always notified."""

from __future__ import annotations

from typing import Any

import pytest

from automations.security import kms_key_deletion
from tests.automations.conftest import REGION
from tests.automations.security.conftest import Harness, aws, from_caretaker, load_event, outcomes, redelivered


@pytest.fixture
def kms() -> Any:
    return aws("kms", REGION)


def scheduled(kms: Any, tags: list[dict[str, str]] | None = None) -> tuple[str, dict[str, Any]]:
    key_id = kms.create_key(Description="orders database", Tags=tags or [])["KeyMetadata"]["KeyId"]
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    event = load_event("schedule_key_deletion")
    event["detail"]["requestParameters"]["keyId"] = key_id
    return key_id, event


def state(kms: Any, key_id: str) -> str:
    return str(kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"])


def test_the_deletion_is_cancelled_and_the_key_enabled_again(harness: Harness, kms: Any) -> None:
    key_id, event = scheduled(kms)

    summary = harness.invoke(kms_key_deletion.handler, event)

    assert state(kms, key_id) == "Enabled"
    items = harness.items(summary)
    assert outcomes(items) == [("cancel-key-deletion", "planned"), ("cancel-key-deletion", "succeeded")]
    assert items[-1]["details"]["re_enabled"] is True
    assert items[-1]["details"]["pending_window_in_days"] == 7
    [note] = harness.notifications()
    assert key_id in note["subject"] and note["body"]["caretaker"]["outcome"] == "succeeded"


def test_audit_mode_leaves_the_deletion_pending_but_notifies(harness: Harness, kms: Any) -> None:
    harness.mode("audit")
    key_id, event = scheduled(kms)

    summary = harness.invoke(kms_key_deletion.handler, event)

    assert state(kms, key_id) == "PendingDeletion"
    assert [(i["outcome"], i["dry_run"]) for i in harness.items(summary)] == [("planned", True)]
    assert harness.notifications()[0]["body"]["caretaker"]["outcome"] == "planned"


def test_a_deletion_cancelled_meanwhile_is_still_notified(harness: Harness, kms: Any) -> None:
    key_id, event = scheduled(kms)
    kms.cancel_key_deletion(KeyId=key_id)

    summary = harness.invoke(kms_key_deletion.handler, event)

    assert state(kms, key_id) == "Disabled"  # left as its owner left it
    assert outcomes(harness.items(summary)) == [("cancel-key-deletion", "skipped")]
    assert len(harness.notifications()) == 1


def test_a_protected_key_is_left_pending_and_reported(harness: Harness, kms: Any) -> None:
    key_id, event = scheduled(kms, [{"TagKey": "caretaker:protect", "TagValue": "true"}])

    harness.invoke(kms_key_deletion.handler, event)

    assert state(kms, key_id) == "PendingDeletion"
    assert harness.notifications()[0]["body"]["caretaker"]["outcome"] == "skipped"


def test_a_second_delivery_of_the_same_event_does_nothing(harness: Harness, kms: Any) -> None:
    key_id, event = scheduled(kms)
    harness.invoke(kms_key_deletion.handler, event)
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    harness.notifications()

    second = harness.invoke(kms_key_deletion.handler, redelivered(event))

    assert state(kms, key_id) == "PendingDeletion"
    assert outcomes(harness.items(second)) == [("evaluate-event", "skipped")]
    assert harness.notifications() == []


def test_an_event_caused_by_a_caretaker_role_does_nothing(harness: Harness, kms: Any) -> None:
    key_id, event = scheduled(kms)

    harness.invoke(kms_key_deletion.handler, from_caretaker(event))

    assert state(kms, key_id) == "PendingDeletion"


def test_a_key_that_does_not_exist_is_skipped(harness: Harness) -> None:
    summary = harness.invoke(kms_key_deletion.handler, load_event("schedule_key_deletion"))

    [item] = harness.items(summary)
    assert item["outcome"] == "skipped" and "no longer exists" in item["reason"]
