"""creator-tags: the resources a create call made are tagged with who made them and when, never over a tag."""

from __future__ import annotations

import copy
import io
import zipfile
from typing import Any

import pytest

from automations.core.selection import CREATED_AT_TAG, CREATED_BY_TAG, PROTECT_TAG
from automations.security import creator_tags
from automations.security.create_calls import CREATE_CALLS, pattern
from automations.security.findings import Actor
from tests.automations.security.conftest import (
    Harness,
    aws,
    from_caretaker,
    load_event,
    matches,
    outcomes,
    redelivered,
)
from tests.recording import RecordingClients

DEVELOPER = "arn:aws:iam::123456789012:role/DeveloperAccess session:alice@example.com"
EVENT_TIME = "2026-11-27T10:50:33Z"  # the fixtures' eventTime
ACTION = "tag-creator"


def tags_of(ec2: Any, resource_id: str) -> dict[str, str]:
    found = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [resource_id]}])["Tags"]
    return {t["Key"]: t["Value"] for t in found}


def launched(ec2: Any, count: int = 2, tags: dict[str, str] | None = None) -> list[str]:
    extra: dict[str, Any] = {}
    if tags:
        extra["TagSpecifications"] = [{"ResourceType": "instance",
                                       "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]
    reservation = ec2.run_instances(ImageId="ami-12345678", MinCount=count, MaxCount=count, **extra)
    return [i["InstanceId"] for i in reservation["Instances"]]


def run_instances_event(instance_ids: list[str]) -> dict[str, Any]:
    event = load_event("run_instances")
    template = event["detail"]["responseElements"]["instancesSet"]["items"][0]
    event["detail"]["responseElements"]["instancesSet"]["items"] = [
        {**copy.deepcopy(template), "instanceId": i} for i in instance_ids]
    return event


# ---------------------------------------------------------------------- RunInstances


def test_every_instance_of_one_run_instances_call_is_tagged_with_its_creator(harness: Harness, ec2: Any) -> None:
    instances = launched(ec2, count=3)

    summary = harness.invoke(creator_tags.handler, run_instances_event(instances))

    for instance in instances:
        assert tags_of(ec2, instance) == {CREATED_BY_TAG: DEVELOPER, CREATED_AT_TAG: EVENT_TIME}
    items = harness.items(summary)
    assert sorted((i["resource_id"], i["outcome"]) for i in items) == sorted(
        [(i, "planned") for i in instances] + [(i, "succeeded") for i in instances])
    assert {i["details"]["created_by"] for i in items if i["outcome"] == "planned"} == {DEVELOPER}
    assert harness.notifications() == []  # routine: the state log is the record


def test_tags_the_resource_already_has_are_kept_and_only_the_missing_key_is_added(harness: Harness,
                                                                                 ec2: Any) -> None:
    [instance] = launched(ec2, count=1, tags={CREATED_AT_TAG: "2026-01-01T00:00:00Z", "owner": "team-a"})

    harness.invoke(creator_tags.handler, run_instances_event([instance]))

    assert tags_of(ec2, instance) == {CREATED_BY_TAG: DEVELOPER, CREATED_AT_TAG: "2026-01-01T00:00:00Z",
                                      "owner": "team-a"}


def test_a_resource_already_tagged_with_the_same_creator_is_left_alone(harness: Harness, ec2: Any) -> None:
    [instance] = launched(ec2, count=1, tags={CREATED_BY_TAG: DEVELOPER})

    summary = harness.invoke(creator_tags.handler, run_instances_event([instance]))

    assert tags_of(ec2, instance) == {CREATED_BY_TAG: DEVELOPER}
    [item] = harness.items(summary)
    assert (item["action"], item["outcome"]) == (ACTION, "skipped")
    assert item["reason"].startswith("already tagged")
    assert harness.notifications() == []


def test_a_protected_instance_is_not_tagged_and_the_skip_is_notified(harness: Harness, ec2: Any) -> None:
    [instance] = launched(ec2, count=1, tags={PROTECT_TAG: "true"})

    summary = harness.invoke(creator_tags.handler, run_instances_event([instance]))

    assert tags_of(ec2, instance) == {PROTECT_TAG: "true"}
    assert [(i["outcome"], i["reason"]) for i in harness.items(summary)] == [
        ("skipped", f"protected: tagged {PROTECT_TAG}=true")]
    [note] = harness.notifications()
    assert note["body"]["caretaker"]["outcome"] == "skipped"


def test_audit_mode_plans_every_tag_and_changes_nothing(harness: Harness, ec2: Any) -> None:
    harness.mode("audit")
    instances = launched(ec2, count=2)

    summary = harness.invoke(creator_tags.handler, run_instances_event(instances))

    assert all(tags_of(ec2, i) == {} for i in instances)
    assert sorted((i["resource_id"], i["outcome"], i["dry_run"]) for i in harness.items(summary)) == sorted(
        (i, "planned", True) for i in instances)


def test_a_second_delivery_of_the_same_event_does_nothing(harness: Harness, ec2: Any) -> None:
    [instance] = launched(ec2, count=1)
    event = run_instances_event([instance])
    harness.invoke(creator_tags.handler, event)
    ec2.delete_tags(Resources=[instance], Tags=[{"Key": CREATED_BY_TAG}])

    second = harness.invoke(creator_tags.handler, redelivered(event))

    assert CREATED_BY_TAG not in tags_of(ec2, instance)
    assert outcomes(harness.items(second)) == [("evaluate-event", "skipped")]


def test_an_event_caused_by_a_caretaker_role_does_nothing(harness: Harness, ec2: Any) -> None:
    [instance] = launched(ec2, count=1)

    summary = harness.invoke(creator_tags.handler, from_caretaker(run_instances_event([instance])))

    assert tags_of(ec2, instance) == {}
    assert outcomes(harness.items(summary)) == [("evaluate-event", "skipped")]


def test_a_run_instances_record_without_instances_is_a_bad_event(harness: Harness, ec2: Any) -> None:
    event = run_instances_event([])

    summary = harness.invoke(creator_tags.handler, event)

    [item] = harness.items(summary)
    assert (item["action"], item["outcome"]) == ("evaluate-event", "skipped")
    assert item["reason"] == ("bad event: RunInstances: no instance id at "
                              "responseElements.instancesSet.items[].instanceId")
    assert summary["status"] == "ok"


def test_an_instance_terminated_and_gone_is_skipped_while_the_others_are_tagged(harness: Harness, ec2: Any) -> None:
    [instance] = launched(ec2, count=1)
    gone = "i-0000000000000dead"

    summary = harness.invoke(creator_tags.handler, run_instances_event([gone, instance]))

    assert tags_of(ec2, instance)[CREATED_BY_TAG] == DEVELOPER
    by_resource = {(i["resource_id"], i["outcome"]) for i in harness.items(summary)}
    assert by_resource == {(gone, "skipped"), (instance, "planned"), (instance, "succeeded")}


def test_a_volume_deleted_before_the_event_arrives_is_skipped_as_gone(harness: Harness, ec2: Any) -> None:
    volume = ec2.create_volume(Size=8, AvailabilityZone="us-east-1a")["VolumeId"]
    ec2.delete_volume(VolumeId=volume)
    event = load_event("create_volume")
    event["detail"]["responseElements"]["volumeId"] = volume

    summary = harness.invoke(creator_tags.handler, event)

    [item] = harness.items(summary)
    assert (item["resource_id"], item["outcome"], item["reason"]) == (volume, "skipped", f"gone: volume {volume} "
                                                                      "no longer exists")


def test_a_refused_tag_call_is_recorded_failed_and_notified(harness: Harness, ec2: Any,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    instances = launched(ec2, count=2)
    clients = RecordingClients()  # its own session: the injected fault stays in this test
    clients.fail("ec2", "CreateTags", "UnauthorizedOperation")
    monkeypatch.setattr(harness, "clients", clients)

    summary = harness.invoke(creator_tags.handler, run_instances_event(instances))

    assert all(tags_of(ec2, i) == {} for i in instances)
    failed = [i for i in harness.items(summary) if i["outcome"] == "failed"]
    assert sorted(i["resource_id"] for i in failed) == sorted(instances)
    assert all(i["reason"].startswith("UnauthorizedOperation") for i in failed)
    [note] = [n for n in harness.notifications() if "caretaker" in n["body"]]  # beside the run's failure alert
    assert note["body"]["caretaker"]["outcome"] == "failed"


def test_another_services_call_of_a_declared_name_is_ignored(harness: Harness) -> None:
    event = load_event("create_table")
    event["detail"]["eventSource"] = "dax.amazonaws.com"  # DAX has a CreateTable-like lookalike shape

    summary = harness.invoke(creator_tags.handler, event)

    [item] = harness.items(summary)
    assert (item["outcome"], item["reason"]) == ("skipped", "not a declared create call: CreateTable from "
                                                 "dax.amazonaws.com")


# ---------------------------------------------------------------------- the other create calls


def test_a_new_volume_snapshot_group_image_template_address_and_nat_gateway_are_tagged(harness: Harness,
                                                                                       ec2: Any) -> None:
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    volume = ec2.create_volume(Size=8, AvailabilityZone="us-east-1a")["VolumeId"]
    snapshot = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
    group = ec2.create_security_group(GroupName="batch", Description="batch", VpcId=vpc)["GroupId"]
    [instance] = launched(ec2, count=1)
    image = ec2.create_image(InstanceId=instance, Name="web")["ImageId"]
    template = ec2.create_launch_template(LaunchTemplateName="web", LaunchTemplateData={})["LaunchTemplate"][
        "LaunchTemplateId"]
    allocation = ec2.allocate_address(Domain="vpc")["AllocationId"]
    nat = ec2.create_nat_gateway(SubnetId=subnet, AllocationId=allocation)["NatGateway"]["NatGatewayId"]
    cases = [("create_volume", ("volumeId",), volume), ("create_snapshot", ("snapshotId",), snapshot),
             ("create_security_group", ("groupId",), group), ("create_image", ("imageId",), image),
             ("create_launch_template", ("CreateLaunchTemplateResponse", "launchTemplate", "launchTemplateId"),
              template),
             ("allocate_address", ("allocationId",), allocation),
             ("create_nat_gateway", ("CreateNatGatewayResponse", "natGateway", "natGatewayId"), nat)]

    for fixture, path, resource in cases:
        event = load_event(fixture)
        holder = event["detail"]["responseElements"]
        for step in path[:-1]:
            holder = holder[step]
        holder[path[-1]] = resource
        harness.invoke(creator_tags.handler, event)

        assert tags_of(ec2, resource) == {CREATED_BY_TAG: DEVELOPER, CREATED_AT_TAG: EVENT_TIME}, fixture


def test_every_snapshot_of_create_snapshots_is_tagged(harness: Harness, ec2: Any) -> None:
    volumes = [ec2.create_volume(Size=8, AvailabilityZone="us-east-1a")["VolumeId"] for _ in range(2)]
    snapshots = [ec2.create_snapshot(VolumeId=v)["SnapshotId"] for v in volumes]
    event = load_event("create_snapshots")
    items = event["detail"]["responseElements"]["CreateSnapshotsResponse"]["snapshotSet"]["items"]
    for item, snapshot in zip(items, snapshots, strict=True):
        item["snapshotId"] = snapshot

    summary = harness.invoke(creator_tags.handler, event)

    assert all(tags_of(ec2, s)[CREATED_BY_TAG] == DEVELOPER for s in snapshots)
    assert {i["resource_id"] for i in harness.items(summary) if i["outcome"] == "succeeded"} == set(snapshots)


def test_a_new_bucket_keeps_its_tags_and_gets_the_creator_tags(harness: Harness) -> None:
    s3 = aws("s3")
    s3.create_bucket(Bucket="team-reports-2026")
    s3.put_bucket_tagging(Bucket="team-reports-2026", Tagging={"TagSet": [{"Key": "owner", "Value": "team-a"}]})

    harness.invoke(creator_tags.handler, load_event("create_bucket"))

    tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket="team-reports-2026")["TagSet"]}
    assert tags == {"owner": "team-a", CREATED_BY_TAG: DEVELOPER, CREATED_AT_TAG: EVENT_TIME}


def test_a_bucket_deleted_before_the_event_is_skipped_as_gone(harness: Harness) -> None:
    summary = harness.invoke(creator_tags.handler, load_event("create_bucket"))

    [item] = harness.items(summary)
    assert (item["resource_id"], item["outcome"]) == ("team-reports-2026", "skipped")
    assert item["reason"].startswith("gone:")


def test_a_new_function_table_db_instance_and_load_balancer_are_tagged(harness: Harness, ec2: Any) -> None:
    iam = aws("iam")
    role = iam.create_role(RoleName="report-builder", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return {}\n")
    lam = aws("lambda")
    function = lam.create_function(FunctionName="report-builder", Runtime="python3.13", Role=role,
                                   Handler="app.handler", Code={"ZipFile": code.getvalue()})["FunctionArn"]
    dynamodb = aws("dynamodb")
    table = dynamodb.create_table(TableName="sessions", BillingMode="PAY_PER_REQUEST",
                                  AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                                  KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                                  )["TableDescription"]["TableArn"]
    rds = aws("rds")
    database = rds.create_db_instance(DBInstanceIdentifier="orders", DBInstanceClass="db.t3.micro", Engine="postgres",
                                      AllocatedStorage=20, MasterUsername="app",
                                      MasterUserPassword="not-a-secret-1")["DBInstance"]["DBInstanceArn"]
    vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.1.{n}.0/24", AvailabilityZone=zone)["Subnet"]["SubnetId"]
               for n, zone in ((1, "us-east-1a"), (2, "us-east-1b"))]
    elbv2 = aws("elbv2")
    balancer = elbv2.create_load_balancer(Name="web", Subnets=subnets)["LoadBalancers"][0]["LoadBalancerArn"]

    events = {"create_function": ("functionArn", function), "create_db_instance": ("dBInstanceArn", database)}
    for fixture, (field, arn) in events.items():
        event = load_event(fixture)
        event["detail"]["responseElements"][field] = arn
        harness.invoke(creator_tags.handler, event)
    event = load_event("create_table")
    event["detail"]["responseElements"]["tableDescription"]["tableArn"] = table
    harness.invoke(creator_tags.handler, event)
    event = load_event("create_load_balancer")
    event["detail"]["responseElements"]["loadBalancers"][0]["loadBalancerArn"] = balancer
    harness.invoke(creator_tags.handler, event)

    wanted = {CREATED_BY_TAG: DEVELOPER, CREATED_AT_TAG: EVENT_TIME}
    assert lam.list_tags(Resource=function)["Tags"] == wanted
    assert {t["Key"]: t["Value"] for t in dynamodb.list_tags_of_resource(ResourceArn=table)["Tags"]} == wanted
    assert {t["Key"]: t["Value"] for t in rds.list_tags_for_resource(ResourceName=database)["TagList"]} == wanted
    [described] = elbv2.describe_tags(ResourceArns=[balancer])["TagDescriptions"]
    assert {t["Key"]: t["Value"] for t in described["Tags"]} == wanted


# ---------------------------------------------------------------------- who, and the trigger


@pytest.mark.parametrize(("identity", "expected"), [
    ({"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/bob"}, "arn:aws:iam::123456789012:user/bob"),
    ({"type": "Root", "arn": "arn:aws:iam::123456789012:root"}, "arn:aws:iam::123456789012:root"),
    ({"type": "AWSService", "invokedBy": "autoscaling.amazonaws.com"}, "autoscaling.amazonaws.com"),
    ({"type": "AssumedRole", "arn": "arn:aws:sts::123456789012:assumed-role/Dev/a,b(c)",
      "sessionContext": {"sessionIssuer": {"arn": "arn:aws:iam::123456789012:role/team/Dev"}}},
     "arn:aws:iam::123456789012:role/team/Dev session:a_b_c_"),
])
def test_the_creator_is_the_principal_or_the_role_with_its_session_name(identity: dict[str, Any],
                                                                        expected: str) -> None:
    assert creator_tags.created_by(Actor.from_identity(identity)) == expected


def test_a_creator_longer_than_a_tag_value_is_cut_to_the_limit() -> None:
    actor = Actor.from_identity({"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/" + "u" * 300})

    assert len(creator_tags.created_by(actor)) == creator_tags.TAG_VALUE_LIMIT


@pytest.mark.parametrize("call", CREATE_CALLS, ids=lambda c: c.name)
def test_the_pattern_matches_each_declared_call_only_from_its_own_service(call: Any) -> None:
    fixture = {"CreateFunction20150331": "create_function", "CreateDBInstance": "create_db_instance"}.get(
        call.name) or "".join("_" + ch.lower() if ch.isupper() else ch for ch in call.name).lstrip("_")
    event = load_event(fixture)

    assert matches(pattern(), event)
    for lookalike in ({"errorCode": "AccessDenied"}, {"eventSource": "config.amazonaws.com"}):
        changed = copy.deepcopy(event)
        changed["detail"].update(lookalike)
        assert not matches(pattern(), changed)


def test_the_tag_statements_may_add_only_the_creator_keys_and_never_over_an_existing_creator() -> None:
    tagging = [p for p in creator_tags.SPEC.permissions
               if any(a.split(":")[1] in ("CreateTags", "TagResource", "AddTagsToResource", "AddTags")
                      for a in p.actions)]
    assert len(tagging) == 5
    for permission in tagging:
        condition = permission.condition or {}
        assert condition["ForAllValues:StringEquals"] == {"aws:TagKeys": [CREATED_BY_TAG, CREATED_AT_TAG]}
        assert condition["Null"] == {"aws:TagKeys": "false", f"aws:ResourceTag/{CREATED_BY_TAG}": "true"}
        assert condition["StringNotEqualsIgnoreCase"] == {f"aws:ResourceTag/{PROTECT_TAG}": "true"}
