"""An account with a VPC, a web instance and GuardDuty findings about it, for the instance-isolation tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.automations.security.conftest import aws, load_sample

CRYPTO = "cryptocurrency_ec2_bitcointool_b_dns"  # severity 8
SSH = "unauthorizedaccess_ec2_sshbruteforce"  # severity 2


@dataclass
class Web:
    """A VPC with a subnet, the groups `web` and `admin`, and an instance in both."""

    vpc: str
    subnet: str
    web_group: str
    admin_group: str
    image: str
    instance: str

    @property
    def ec2(self) -> Any:
        return aws("ec2")

    def launch(self, groups: list[str] | None = None, tags: dict[str, str] | None = None) -> str:
        spec = [{"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in (tags or {}).items()]}]
        return str(self.ec2.run_instances(ImageId=self.image, MinCount=1, MaxCount=1, SubnetId=self.subnet,
                                          SecurityGroupIds=groups or [self.web_group, self.admin_group],
                                          TagSpecifications=spec if tags else [])["Instances"][0]["InstanceId"])

    def finding(self, instance: str | None = None, sample: str = CRYPTO) -> dict[str, Any]:
        event = load_sample("guardduty", sample)
        if instance:  # another finding: another EventBridge event
            event["id"] = f"{event['id'][:24]}{instance[-12:]}"
        details = event["detail"]["resource"]["instanceDetails"]
        details["instanceId"] = instance or self.instance
        details["networkInterfaces"][0].update(vpcId=self.vpc, subnetId=self.subnet)
        return event

    def described(self, instance: str | None = None) -> dict[str, Any]:
        reservations = self.ec2.describe_instances(InstanceIds=[instance or self.instance])["Reservations"]
        found: dict[str, Any] = reservations[0]["Instances"][0]
        return found

    def interfaces(self, instance: str | None = None) -> dict[str, list[str]]:
        return {eni["NetworkInterfaceId"]: [g["GroupId"] for g in eni["Groups"]]
                for eni in self.described(instance)["NetworkInterfaces"]}

    def tags(self, instance: str | None = None) -> dict[str, str]:
        return {t["Key"]: t["Value"] for t in self.described(instance).get("Tags", [])}

    def quarantine_groups(self) -> list[dict[str, Any]]:
        groups = self.ec2.describe_security_groups(Filters=[
            {"Name": "vpc-id", "Values": [self.vpc]}, {"Name": "tag-key", "Values": ["caretaker:quarantine-group"]}])
        return list(groups["SecurityGroups"])

    def forensic_snapshots(self) -> list[dict[str, Any]]:
        found = self.ec2.describe_snapshots(OwnerIds=["self"], Filters=[
            {"Name": "tag-key", "Values": ["caretaker:forensic-finding"]}])
        return list(found["Snapshots"])


def web_account() -> Web:
    ec2 = aws("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
    web = ec2.create_security_group(GroupName="web", Description="web tier", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=web, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    admin = ec2.create_security_group(GroupName="admin", Description="ssh from the office", VpcId=vpc)["GroupId"]
    image = ec2.register_image(Name="web", RootDeviceName="/dev/xvda", BlockDeviceMappings=[
        {"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8}}])["ImageId"]
    account = Web(vpc, subnet, web, admin, image, "")
    account.instance = account.launch()
    return account
