"""The main job: build, deploy into an embedded emulator, seed volumes, snapshot once, report.

Everything runs against moto on 127.0.0.1 through the same code a user points at a
real account (`build.py deploy`, `python -m automations invoke`); nothing is left running.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import boto3
from rich.console import Console

from automations.cli.emulator import REGION, moto_emulator, unsupported_resource_types
from automations.cli.invoke import invoke
from automations.cli.report import report

ARTIFACT_BUCKET = "caretaker-artifacts-demo"


def seed_volumes(ec2: Any) -> dict[str, str]:
    """An instance with two tagged volumes, a tagged loose volume, a protected one and an untagged one."""
    image = ec2.register_image(Name="demo-base", RootDeviceName="/dev/sda1")["ImageId"]
    instance = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1,
                                 Placement={"AvailabilityZone": f"{REGION}a"})["Instances"][0]["InstanceId"]
    root = ec2.describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0][
        "BlockDeviceMappings"][0]["Ebs"]["VolumeId"]

    def volume(name: str, tags: dict[str, str]) -> str:
        all_tags = [{"Key": "Name", "Value": name}, *({"Key": k, "Value": v} for k, v in tags.items())]
        return str(ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=20,
                                     TagSpecifications=[{"ResourceType": "volume", "Tags": all_tags}])["VolumeId"])

    data = volume("app-data", {"caretaker:backup": "daily", "team": "payments"})
    ec2.attach_volume(VolumeId=data, InstanceId=instance, Device="/dev/sdf")
    ec2.create_tags(Resources=[root], Tags=[{"Key": "Name", "Value": "app-root"},
                                            {"Key": "caretaker:backup", "Value": "true"}])
    return {
        "instance": instance,
        "app-root (tagged, attached)": root,
        "app-data (tagged, attached)": data,
        "reports (tagged, loose)": volume("reports", {"caretaker:backup": "true"}),
        "ledger (tagged, protected)": volume("ledger", {"caretaker:backup": "true", "caretaker:protect": "true"}),
        "scratch (untagged)": volume("scratch", {}),
    }


def demo(keep_dist: bool = False, console: Console | None = None) -> int:
    from builder.deploy import deploy
    from builder.pipeline import build

    console = console or Console(width=max(Console().width, 150))
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="caretaker-demo-") as tmp:
        dist = Path("dist") if keep_dist else Path(tmp) / "dist"
        console.rule("1. build")
        result = build(dist)
        console.print(f"built {len(result.templates)} templates, {result.code.path.name}, {result.layer.path.name}")

        with moto_emulator() as endpoint:
            console.rule(f"2. deploy into the embedded emulator at {endpoint}")
            with unsupported_resource_types() as skipped:
                outputs = deploy(dist, ARTIFACT_BUCKET, create_bucket=True, region=REGION,
                                 report=lambda line: console.print(f"  {line}"))
            console.print(f"  [dim]the emulator does not implement {', '.join(skipped)}: they are in the "
                          "templates and real CloudFormation creates them[/]")
            table = outputs["caretaker-core"]["StateTableName"]

            console.rule("3. seed volumes")
            ec2 = boto3.client("ec2", region_name=REGION)
            for label, resource_id in seed_volumes(ec2).items():
                console.print(f"  {label:32} {resource_id}")

            console.rule("4. run ebs-snapshots once (local invoke from the built artifact)")
            outcome = invoke("ebs-snapshots", dist=dist, capture=True)
            console.print(f"  environment: {outcome.environment_source}")
            if not outcome.ok:
                console.print(f"[red]invoke failed:[/] {outcome.error}")
                console.print(outcome.output[-4000:])
                return outcome.exit_code
            console.print_json(data=outcome.result)

            console.rule("5. report from the state log")
            report(boto3.client("dynamodb", region_name=REGION), table, run_id=outcome.result["run_id"],
                   console=console)
            snapshots = ec2.describe_snapshots(
                OwnerIds=["self"], Filters=[{"Name": "tag:caretaker:automation", "Values": ["ebs-snapshots"]}])
            console.print(f"snapshots in EC2 made by Caretaker: {len(snapshots['Snapshots'])}")
    console.rule(f"done in {time.monotonic() - started:.1f} s; the emulator is stopped")
    return outcome.exit_code
