"""Cleanup of unused AMIs: the reference index (instances, launch templates, launch configurations, SSM),
sharing, snapshots, two phases, dry-run, failures."""

from __future__ import annotations

from datetime import timedelta

from automations.scheduled.cleanup_images import handler
from tests.automations.conftest import REGION
from tests.automations.scheduled.cleanup_harness import Harness, client, ec2, harness_fixture, tag, tags_of
from tests.recording import RecordingClients

h = harness_fixture(handler)


def old_image(h: Harness, name: str = "golden-image", days: int = 120) -> tuple[str, str]:
    """(image id, its snapshot id), created `days` ago."""
    h.clock.advance(days=-days)
    image_id = str(ec2().register_image(Name=name, RootDeviceName="/dev/sda1")["ImageId"])
    h.clock.advance(days=days)
    return image_id, snapshot_of(image_id)


def snapshot_of(image_id: str) -> str:
    return str(ec2().describe_images(ImageIds=[image_id])["Images"][0]["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"])


def image_ids() -> set[str]:
    return {i["ImageId"] for i in ec2().describe_images(Owners=["self"])["Images"]}


def snapshot_ids() -> set[str]:
    return {s["SnapshotId"] for s in ec2().describe_snapshots(OwnerIds=["self"])["Snapshots"]}


def image_tags(image_id: str) -> dict[str, str]:
    return tags_of(ec2().describe_images(ImageIds=[image_id])["Images"][0])


def launch_template(image_id: str, name: str = "web-template") -> str:
    return str(ec2().create_launch_template(LaunchTemplateName=name, LaunchTemplateData={"ImageId": image_id})[
        "LaunchTemplate"]["LaunchTemplateId"])


def test_two_phases_deregister_and_delete_its_snapshot(h: Harness) -> None:
    image_id, snapshot_id = old_image(h)
    due = (h.clock.now + timedelta(days=7)).date().isoformat()
    first = h.invoke()
    assert image_tags(image_id)["caretaker:cleanup-after"] == due
    body = h.notification(first["run_id"])["body"]
    assert body["pending"][0]["id"] == image_id and body["pending"][0]["estimated_monthly_usd"] == 0.75  # 15 GB

    h.clock.advance(days=8)
    second = h.invoke()
    assert image_id not in image_ids() and snapshot_id not in snapshot_ids()
    assert h.outcomes(second["run_id"]) == {
        (image_id, "deregister-image", "planned"), (image_id, "deregister-image", "succeeded"),
        (snapshot_id, "delete-snapshot", "planned"), (snapshot_id, "delete-snapshot", "succeeded")}
    assert h.pending() == {}
    assert [i["outcome"] for i in h.history(snapshot_id)] == ["planned", "succeeded"]


def test_images_in_use_anywhere_are_not_candidates(h: Harness) -> None:
    running, _ = old_image(h, "running-image")
    stopped, _ = old_image(h, "stopped-image")
    old_version, _ = old_image(h, "old-template-version")
    configured, _ = old_image(h, "launch-config-image")
    via_ssm, _ = old_image(h, "ssm-image")
    unused, _ = old_image(h, "unused-image")
    ec2().run_instances(ImageId=running, MinCount=1, MaxCount=1)
    instance_id = ec2().run_instances(ImageId=stopped, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    ec2().stop_instances(InstanceIds=[instance_id])
    template_id = launch_template(old_version)
    ec2().create_launch_template_version(LaunchTemplateId=template_id, LaunchTemplateData={"ImageId": unused[:4]})
    client("autoscaling").create_launch_configuration(LaunchConfigurationName="legacy", ImageId=configured,
                                                      InstanceType="t3.micro")
    client("ssm").put_parameter(Name="/images/web", Value=via_ssm, Type="String")
    ec2().create_launch_template(LaunchTemplateName="ssm-template",
                                 LaunchTemplateData={"ImageId": "resolve:ssm:/images/web"})

    result = h.invoke(grace_days="0")

    assert image_ids() == {running, stopped, old_version, configured, via_ssm}
    assert result["amis_acted"] == 1


def test_public_and_shared_images_are_left_alone(h: Harness) -> None:
    public, _ = old_image(h, "public-image")
    shared, _ = old_image(h, "shared-image")
    ec2().modify_image_attribute(ImageId=public, LaunchPermission={"Add": [{"Group": "all"}]})
    ec2().modify_image_attribute(ImageId=shared, LaunchPermission={"Add": [{"UserId": "210987654321"}]})
    result = h.invoke(grace_days="0")
    assert {public, shared} <= image_ids() and result["candidates"] == 0


def test_image_used_by_a_new_launch_template_during_the_grace_period_is_spared(h: Harness) -> None:
    image_id, _ = old_image(h)
    _, result = h.rerun_after_grace(lambda: launch_template(image_id))
    assert image_id in image_ids() and "caretaker:cleanup-after" not in image_tags(image_id)
    [skipped] = h.skipped(result["run_id"])
    assert skipped["reason"].startswith("spared: used by launch template web-template v1")


def test_young_protected_and_excluded_images_stay(h: Harness) -> None:
    young, _ = old_image(h, "young-image", days=10)
    protected, _ = old_image(h, "protected-image")
    excluded, _ = old_image(h, "excluded-image")
    tag(protected, {"caretaker:protect": "true"})
    tag(excluded, {"release": "LTS"})
    result = h.invoke(grace_days="0", exclude_tags="release=lts")
    assert {young, protected, excluded} <= image_ids()
    assert {i["resource_id"]: i["outcome"] for i in h.actions(result["run_id"])} == {
        protected: "skipped", excluded: "skipped"}


def test_a_snapshot_another_image_uses_is_kept(h: Harness) -> None:
    from moto.backends import get_backend

    image_id, snapshot_id = old_image(h)
    other, _ = old_image(h, "sibling-image", days=1)
    backend = get_backend("ec2")["123456789012"][REGION]
    backend.amis[other].ebs_snapshot = backend.snapshots[snapshot_id]
    result = h.invoke(grace_days="0")
    assert image_id not in image_ids() and snapshot_id in snapshot_ids()
    skipped = [i for i in h.actions(result["run_id"]) if i["outcome"] == "skipped"]
    assert [(i["resource_id"], i["reason"]) for i in skipped] == [(snapshot_id, f"also used by {other}")]


def test_audit_mode_plans_the_whole_sequence_and_changes_nothing(h: Harness) -> None:
    image_id, snapshot_id = old_image(h)
    result = h.invoke(mode="audit", grace_days="0")
    assert image_id in image_ids() and snapshot_id in snapshot_ids()
    assert h.outcomes(result["run_id"]) == {(image_id, "deregister-image", "planned"),
                                            (snapshot_id, "delete-snapshot", "planned")}
    assert all(i["dry_run"] for i in h.actions(result["run_id"]))


def test_unreadable_ssm_reference_means_no_image_is_touched(h: Harness) -> None:
    image_id, _ = old_image(h)
    ec2().create_launch_template(LaunchTemplateName="ssm-template",
                                 LaunchTemplateData={"ImageId": "resolve:ssm:/images/secret"})
    clients = RecordingClients()
    clients.fail("ssm", "GetParameters")
    result = h.invoke(clients, grace_days="0")
    assert image_id in image_ids() and result["candidates"] == 0
    assert "unreadable SSM parameters" in " ".join(h.summary(result["run_id"])["notes"])


def test_access_denied_on_one_image_fails_alone(h: Harness) -> None:
    good, _ = old_image(h, "good-image")
    bad, bad_snapshot = old_image(h, "bad-image")
    clients = RecordingClients()
    clients.fail("ec2", "DeregisterImage", when=lambda body: body.get("ImageId") == bad)
    result = h.invoke(clients, grace_days="0")
    assert image_ids() == {bad} and bad_snapshot in snapshot_ids()
    assert result["status"] == "partial"
    assert good
