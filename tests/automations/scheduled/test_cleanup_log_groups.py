"""Log groups without retention get one: two phases, tags read per candidate, audit by default."""

from __future__ import annotations

from datetime import timedelta

import pytest

from automations.core.errors import SettingsError
from automations.scheduled.cleanup_log_groups import SPEC, handler
from tests.automations.scheduled.cleanup_harness import Harness, client, harness_fixture
from tests.recording import RecordingClients

h = harness_fixture(handler)


def log_group(h: Harness, name: str, tags: dict[str, str] | None = None, days: int = 30,
              retention: int | None = None) -> str:
    h.clock.advance(days=-days)
    client("logs").create_log_group(logGroupName=name, **({"tags": tags} if tags else {}))
    if retention:
        client("logs").put_retention_policy(logGroupName=name, retentionInDays=retention)
    h.clock.advance(days=days)
    return name


def retention(name: str) -> int | None:
    group = client("logs").describe_log_groups(logGroupNamePrefix=name)["logGroups"][0]
    return group.get("retentionInDays")


def group_tags(name: str) -> dict[str, str]:
    arn = client("logs").describe_log_groups(logGroupNamePrefix=name)["logGroups"][0]["logGroupArn"]
    return dict(client("logs").list_tags_for_resource(resourceArn=arn)["tags"])


def test_default_mode_is_audit() -> None:
    assert SPEC.default_mode == "audit" and SPEC.setting("retention_days").default == 365


def test_two_phases_set_the_retention(h: Harness) -> None:
    forever = log_group(h, "/app/forever", {"team": "web"})
    kept = log_group(h, "/app/kept", retention=30)
    first = h.invoke()
    due = (h.clock.now + timedelta(days=7)).date().isoformat()
    assert group_tags(forever) == {"team": "web", "caretaker:cleanup-after": due}
    assert set(h.pending()) == {forever}
    body = h.notification(first["run_id"])["body"]
    assert body["pending"][0]["id"] == forever and "estimated_monthly_saving_usd" not in body

    h.clock.advance(days=8)
    second = h.invoke(retention_days="90")
    assert retention(forever) == 90 and retention(kept) == 30
    assert h.outcomes(second["run_id"]) == {(forever, "set-log-retention", "planned"),
                                            (forever, "set-log-retention", "succeeded")}


def test_retention_set_by_the_owner_during_the_grace_period_spares_it(h: Harness) -> None:
    name = log_group(h, "/app/owner-fixes-it")
    _, result = h.rerun_after_grace(lambda: client("logs").put_retention_policy(logGroupName=name,
                                                                                retentionInDays=14))
    assert retention(name) == 14 and "caretaker:cleanup-after" not in group_tags(name)
    [skipped] = h.skipped(result["run_id"])
    assert skipped["reason"].startswith("spared: retention already set (14 days)")


def test_young_protected_excluded_and_unreadable_tags(h: Harness) -> None:
    young = log_group(h, "/app/young", days=2)
    protected = log_group(h, "/app/protected", {"caretaker:protect": "true"})
    excluded = log_group(h, "/app/excluded", {"compliance": "forever"})
    unreadable = log_group(h, "/app/unreadable")
    clients = RecordingClients()
    clients.fail("logs", "ListTagsForResource", when=lambda body: body["resourceArn"].endswith(unreadable))
    result = h.invoke(clients, grace_days="0", exclude_tags="compliance")
    assert all(retention(n) is None for n in (young, protected, excluded, unreadable))
    reasons = {i["resource_id"]: i["reason"] for i in h.actions(result["run_id"])}
    assert reasons[protected].startswith("protected") and reasons[excluded] == "excluded: tagged compliance"
    assert reasons[unreadable].startswith("tags unreadable: AccessDenied")
    assert young not in reasons


def test_audit_changes_nothing(h: Harness) -> None:
    name = log_group(h, "/app/audited")
    result = h.invoke(mode="audit", grace_days="0")
    assert retention(name) is None and "caretaker:cleanup-after" not in group_tags(name)
    assert h.outcomes(result["run_id"]) == {(name, "set-log-retention", "planned")}


def test_invalid_retention_names_the_allowed_values(h: Harness) -> None:
    with pytest.raises(SettingsError, match=r"CARETAKER_RETENTION_DAYS must be one of '1', '3'.*got '42'"):
        h.invoke(retention_days="42")
