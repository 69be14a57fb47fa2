"""Cleanup of idle Elastic IPs: age from Caretaker's first sighting, two phases, re-association, dry-run."""

from __future__ import annotations

from datetime import timedelta

import pytest

from automations.core.errors import SettingsError
from automations.scheduled.cleanup_addresses import handler
from tests.automations.scheduled.cleanup_harness import Harness, ec2, harness_fixture, tag_specs, tags_of
from tests.recording import RecordingClients

h = harness_fixture(handler)


def address(tags: dict[str, str] | None = None) -> str:
    return str(ec2().allocate_address(Domain="vpc", TagSpecifications=tag_specs("elastic-ip", tags))["AllocationId"])


def allocation_ids() -> set[str]:
    return {a["AllocationId"] for a in ec2().describe_addresses()["Addresses"]}


def address_tags(allocation_id: str) -> dict[str, str]:
    return tags_of(ec2().describe_addresses(AllocationIds=[allocation_id])["Addresses"][0])


def instance() -> str:
    image_id = ec2().register_image(Name="base-image", RootDeviceName="/dev/sda1")["ImageId"]
    return str(ec2().run_instances(ImageId=image_id, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"])


def test_age_counts_from_the_first_sighting_then_two_phases(h: Harness) -> None:
    allocation_id = address({"Name": "old-endpoint"})
    first = h.invoke()
    record = h.pending()[allocation_id]
    assert (record["stage"], record["first_seen"][:10]) == ("seen", h.clock.now.date().isoformat())
    assert "caretaker:cleanup-after" not in address_tags(allocation_id)
    assert h.actions(first["run_id"]) == []

    h.clock.advance(days=3)
    h.invoke()
    assert h.pending()[allocation_id]["stage"] == "seen"  # still too recent (min_unassociated_days 7)

    h.clock.advance(days=5)
    announce = h.invoke()
    due = (h.clock.now + timedelta(days=7)).date().isoformat()
    record = h.pending()[allocation_id]
    assert (record["stage"], record["due"][:10]) == ("pending", due)
    assert record["first_seen"] == h.pending()[allocation_id]["first_seen"]
    assert address_tags(allocation_id)["caretaker:cleanup-after"] == due
    body = h.notification(announce["run_id"])["body"]
    assert body["pending"][0]["estimated_monthly_usd"] == 3.65  # 730 h x $0.005

    h.clock.advance(days=7)
    release = h.invoke()
    assert allocation_id not in allocation_ids()
    assert h.outcomes(release["run_id"]) == {(allocation_id, "release-address", "planned"),
                                             (allocation_id, "release-address", "succeeded")}
    assert h.pending() == {}


def test_association_in_between_forgets_the_first_sighting(h: Harness) -> None:
    allocation_id = address()
    h.invoke()
    association = ec2().associate_address(AllocationId=allocation_id, InstanceId=instance())["AssociationId"]
    h.clock.advance(days=1)
    h.invoke()
    assert h.pending() == {}
    ec2().disassociate_address(AssociationId=association)
    h.clock.advance(days=1)
    h.invoke()
    assert h.pending()[allocation_id]["first_seen"][:10] == h.clock.now.date().isoformat()


def test_address_reassociated_during_the_grace_period_is_spared(h: Harness) -> None:
    allocation_id = address()
    h.invoke(min_unassociated_days="0")
    assert h.pending()[allocation_id]["stage"] == "pending"
    instance_id = instance()
    ec2().associate_address(AllocationId=allocation_id, InstanceId=instance_id)
    h.clock.advance(days=8)
    result = h.invoke(min_unassociated_days="0")
    assert allocation_id in allocation_ids()
    [skipped] = [i for i in h.actions(result["run_id"]) if i["outcome"] == "skipped"]
    assert skipped["reason"].startswith("spared: associated") and instance_id in skipped["reason"]
    assert "caretaker:cleanup-after" not in address_tags(allocation_id)
    assert h.pending() == {}


def test_protected_excluded_and_associated_addresses_stay(h: Harness) -> None:
    protected = address({"caretaker:protect": "true"})
    excluded = address({"dns": "public"})
    associated = address()
    ec2().associate_address(AllocationId=associated, InstanceId=instance())
    result = h.invoke(min_unassociated_days="0", grace_days="0", exclude_tags="dns")
    assert {protected, excluded, associated} <= allocation_ids()
    assert {i["resource_id"]: i["outcome"] for i in h.actions(result["run_id"])} == {
        protected: "skipped", excluded: "skipped"}


def test_audit_mode_keeps_the_sighting_but_changes_nothing(h: Harness) -> None:
    allocation_id = address()
    h.invoke(mode="audit", min_unassociated_days="0")
    h.clock.advance(days=8)
    result = h.invoke(mode="audit", min_unassociated_days="0")
    assert allocation_id in allocation_ids() and "caretaker:cleanup-after" not in address_tags(allocation_id)
    assert h.outcomes(result["run_id"]) == {(allocation_id, "release-address", "planned")}


def test_access_denied_on_one_address_and_bad_settings(h: Harness) -> None:
    good, bad = address(), address()
    clients = RecordingClients()
    clients.fail("ec2", "ReleaseAddress", when=lambda body: body.get("AllocationId") == bad)
    result = h.invoke(clients, min_unassociated_days="0", grace_days="0")
    assert allocation_ids() == {bad} and result["status"] == "partial" and good
    with pytest.raises(SettingsError, match="CARETAKER_MIN_UNASSOCIATED_DAYS must be an integer from 0 to 365"):
        h.invoke(min_unassociated_days="400")
    with pytest.raises(SettingsError, match="CARETAKER_IDLE_ADDRESS_PRICE_PER_HOUR must be a number from 0 to 1"):
        h.invoke(idle_address_price_per_hour="cheap")
