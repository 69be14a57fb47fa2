"""The realistic mess `make run` makes in the emulated account, and the events that report parts of it.

Volumes to back up, idle resources for every cleanup family, a security group opened to the world and a bucket
made public (with the CloudTrail events that say so, built from the samples in tests/events/), and a custom
resource request from another team's stack.
"""

from __future__ import annotations

import copy
import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SAMPLES = Path(__file__).resolve().parents[2] / "tests" / "events" / "cloudtrail"
ACCOUNT = "123456789012"


@dataclass
class Mess:
    """What was made, for the demo's narration: label -> resource id."""

    resources: dict[str, str] = field(default_factory=dict)
    events: dict[str, dict[str, Any]] = field(default_factory=dict)  # function name -> the event it gets

    def add(self, label: str, resource_id: str) -> str:
        self.resources[label] = resource_id
        return resource_id


def _sample(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((SAMPLES / f"{name}.json").read_text())
    event["id"] = str(uuid.uuid4())  # a new event, not a redelivery of the sample
    return event


def seed_backups(ec2: Any, region: str, mess: Mess) -> str:
    """An instance with two volumes tagged for backup, a tagged loose volume, a protected one and an untagged one.
    Returns the instance id."""
    image = ec2.register_image(Name="demo-base", RootDeviceName="/dev/sda1")["ImageId"]
    instance = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1,
                                 Placement={"AvailabilityZone": f"{region}a"})["Instances"][0]["InstanceId"]
    root = ec2.describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0][
        "BlockDeviceMappings"][0]["Ebs"]["VolumeId"]

    def volume(name: str, tags: dict[str, str]) -> str:
        all_tags = [{"Key": "Name", "Value": name}, *({"Key": k, "Value": v} for k, v in tags.items())]
        return str(ec2.create_volume(AvailabilityZone=f"{region}a", Size=20,
                                     TagSpecifications=[{"ResourceType": "volume", "Tags": all_tags}])["VolumeId"])

    data = volume("app-data", {"caretaker:backup": "daily", "team": "payments"})
    ec2.attach_volume(VolumeId=data, InstanceId=instance, Device="/dev/sdf")
    ec2.create_tags(Resources=[root], Tags=[{"Key": "Name", "Value": "app-root"},
                                            {"Key": "caretaker:backup", "Value": "true"}])
    mess.add("instance app (backed up)", instance)
    mess.add("volume app-root (tagged, attached)", root)
    mess.add("volume app-data (tagged, attached)", data)
    mess.add("volume reports (tagged, loose)", volume("reports", {"caretaker:backup": "true"}))
    mess.add("volume ledger (tagged, protected)", volume("ledger", {"caretaker:backup": "true",
                                                                     "caretaker:protect": "true"}))
    return instance


def seed_idle(ec2: Any, logs: Any, region: str, mess: Mess) -> None:
    """One idle resource for each cleanup family (the demo deploys them with min-age 0 and no grace period)."""
    idle = ec2.create_volume(AvailabilityZone=f"{region}a", Size=100, TagSpecifications=[{
        "ResourceType": "volume", "Tags": [{"Key": "Name", "Value": "old-scratch"}, {"Key": "team", "Value": "data"}]}])
    mess.add("volume old-scratch (unattached, 100 GB)", idle["VolumeId"])
    gone = ec2.create_volume(AvailabilityZone=f"{region}a", Size=50)["VolumeId"]
    orphan = ec2.create_snapshot(VolumeId=gone, Description="left behind by a deleted volume")["SnapshotId"]
    ec2.delete_volume(VolumeId=gone)
    mess.add("snapshot of a deleted volume", orphan)
    image = ec2.register_image(Name="release-2019-03", RootDeviceName="/dev/sda1")["ImageId"]
    mess.add("AMI nobody launches", image)
    mess.add("Elastic IP (unassociated)", ec2.allocate_address(Domain="vpc")["AllocationId"])
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    mess.add("security group nothing uses", ec2.create_security_group(
        GroupName="legacy-batch", Description="no longer used", VpcId=vpc)["GroupId"])
    logs.create_log_group(logGroupName="/app/debug-output")
    mess.add("log group without retention", "/app/debug-output")
    base = ec2.register_image(Name="demo-worker", RootDeviceName="/dev/sda1")["ImageId"]
    stopped = ec2.run_instances(ImageId=base, MinCount=1, MaxCount=1,
                                Placement={"AvailabilityZone": f"{region}a"})["Instances"][0]["InstanceId"]
    ec2.stop_instances(InstanceIds=[stopped])
    mess.add("instance stopped long ago", stopped)


def seed_tables_and_schedules(ec2: Any, dynamodb: Any, region: str, mess: Mess) -> None:
    """A DynamoDB table tagged for backup (dynamodb-backups, then backup-coverage) and a running instance on the
    demo's `nights-off` schedule (instance-scheduler stops it)."""
    table = dynamodb.create_table(
        TableName="orders", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        Tags=[{"Key": "caretaker:backup", "Value": "daily"}, {"Key": "team", "Value": "payments"}],
    )["TableDescription"]
    mess.add("DynamoDB table orders (tagged for backup)", table["TableArn"])
    image = ec2.register_image(Name="demo-dev-box", RootDeviceName="/dev/sda1")["ImageId"]
    instance = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1,
                                 Placement={"AvailabilityZone": f"{region}a"},
                                 TagSpecifications=[{"ResourceType": "instance", "Tags": [
                                     {"Key": "Name", "Value": "dev-box"},
                                     {"Key": "caretaker:schedule", "Value": "nights-off"}]}])["Instances"][0]
    mess.add("instance dev-box (caretaker:schedule=nights-off)", instance["InstanceId"])


def seed_exposures(ec2: Any, s3: Any, region: str, mess: Mess) -> None:
    """A security group opened to the world on port 22 and a bucket made public, and the CloudTrail events."""
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    group = ec2.create_security_group(GroupName="bastion", Description="ssh for the team", VpcId=vpc)["GroupId"]
    permission = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
    rules = ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[permission])["SecurityGroupRules"]
    mess.add("security group bastion: 22/tcp from 0.0.0.0/0", group)
    event = _sample("authorize_security_group_ingress")
    event["detail"]["awsRegion"] = event["region"] = region
    event["detail"]["requestParameters"] = {"groupId": group, "ipPermissions": {"items": [{
        "ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "groups": {},
        "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}, "ipv6Ranges": {}, "prefixListIds": {}}]}}
    event["detail"]["responseElements"] = {"_return": True, "securityGroupRuleSet": {"items": [
        {"groupId": group, "groupOwnerId": ACCOUNT, "isEgress": False, "ipProtocol": "tcp", "fromPort": 22,
         "toPort": 22, "cidrIpv4": "0.0.0.0/0", "securityGroupRuleId": rule["SecurityGroupRuleId"]}
        for rule in rules]}}
    mess.events["sg-open-world"] = event

    bucket = "demo-team-exports"
    s3.create_bucket(Bucket=bucket, **({} if region == "us-east-1" else {
        "CreateBucketConfiguration": {"LocationConstraint": region}}))
    s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls={"Rules": [
        {"ObjectOwnership": "BucketOwnerPreferred"}]})
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
        "BlockPublicAcls": False, "IgnorePublicAcls": False, "BlockPublicPolicy": False,
        "RestrictPublicBuckets": False})
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read")
    mess.add("bucket made public (ACL public-read)", bucket)
    event = _sample("put_bucket_acl")
    event["detail"]["awsRegion"] = event["region"] = region
    event["detail"]["requestParameters"] = copy.deepcopy(event["detail"]["requestParameters"])
    event["detail"]["requestParameters"].update({"bucketName": bucket, "Host": f"{bucket}.s3.{region}.amazonaws.com"})
    mess.events["s3-public-bucket"] = event


def custom_resource_request(service_token: str, response_url: str, request_id: str, region: str) -> dict[str, Any]:
    """What CloudFormation sends a provider when another team's stack creates a `Custom::RandomSecret`."""
    stack_id = f"arn:aws:cloudformation:{region}:{ACCOUNT}:stack/team-payments/{uuid.uuid4()}"
    return {
        "RequestType": "Create", "ServiceToken": service_token, "ResponseURL": response_url,
        "StackId": stack_id, "RequestId": request_id, "LogicalResourceId": "DatabasePassword",
        "ResourceType": "Custom::RandomSecret",
        "ResourceProperties": {"ServiceToken": service_token, "Name": "team-payments/database-password",
                               "Length": "32", "ExcludeCharacters": "\"'@/\\", "RecoveryWindowInDays": "7"},
    }
