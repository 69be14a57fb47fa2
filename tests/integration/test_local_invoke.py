"""Local invoke: the snapshot function runs from its built artifact, with the deployed environment,
against the deployed stacks in the emulator, and leaves snapshots in EC2 and records in the state log."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from automations.cli.invoke import InvokeError, invoke
from automations.core.ledger import run_items
from builder.deploy import Outputs

if TYPE_CHECKING:
    from types_boto3_ec2.type_defs import SnapshotTypeDef

REGION = "us-east-1"


def volume(tags: dict[str, str]) -> str:
    spec: list[Any] = [{"ResourceType": "volume", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]
    return str(boto3.client("ec2", region_name=REGION).create_volume(
        AvailabilityZone=f"{REGION}a", Size=4, TagSpecifications=spec)["VolumeId"])


def snapshots_of(volume_id: str) -> list[SnapshotTypeDef]:
    return boto3.client("ec2", region_name=REGION).describe_snapshots(
        OwnerIds=["self"], Filters=[{"Name": "volume-id", "Values": [volume_id]}])["Snapshots"]


def table(deployed: Outputs) -> str:
    return deployed["caretaker-core"]["StateTableName"]


def test_snapshot_function_runs_from_the_artifact_with_the_deployed_environment(
        deployed: Outputs, built_dist: Path) -> None:
    tagged = volume({"caretaker:backup": "true", "Name": "it-tagged"})
    protected = volume({"caretaker:backup": "true", "caretaker:protect": "true"})
    untagged = volume({"Name": "it-untagged"})

    outcome = invoke("ebs-snapshots", dist=built_dist, capture=True)

    assert outcome.ok, outcome.error
    assert outcome.environment_source == "deployed function"
    assert outcome.exit_code == 0
    assert outcome.result["status"] == "ok"
    [snapshot] = snapshots_of(tagged)
    assert {t["Key"]: t["Value"] for t in snapshot["Tags"]}["caretaker:run-id"] == outcome.result["run_id"]
    assert snapshots_of(protected) == [] and snapshots_of(untagged) == []
    items = run_items(boto3.client("dynamodb", region_name=REGION), table(deployed), outcome.result["run_id"])
    by_resource = {(i.get("resource_id"), i.get("outcome")) for i in items}
    assert {(tagged, "planned"), (tagged, "succeeded"), (protected, "skipped")} <= by_resource
    assert any(i["type"] == "run" and i["status"] == "ok" for i in items)


def test_dry_run_invoke_changes_nothing_and_says_what_it_would_do(deployed: Outputs, built_dist: Path) -> None:
    tagged = volume({"caretaker:backup": "true", "Name": "it-dry-run"})
    outcome = invoke("ebs-snapshots", dist=built_dist, dry_run=True, capture=True)
    assert outcome.ok, outcome.error
    assert outcome.result["mode"] == "audit"
    assert snapshots_of(tagged) == []
    items = run_items(boto3.client("dynamodb", region_name=REGION), table(deployed), outcome.result["run_id"])
    planned = [i for i in items if i.get("resource_id") == tagged]
    assert [(i["outcome"], i["dry_run"]) for i in planned] == [("planned", True)]


def test_unknown_function_and_missing_event_are_clear_errors(
        deployed: Outputs, built_dist: Path, tmp_path: Path) -> None:
    with pytest.raises(InvokeError, match="no function named 'nope'"):
        invoke("nope", dist=built_dist)
    manifest = json.loads((built_dist / "manifest.json").read_text())
    manifest["functions"][0]["trigger"] = {"type": "event", "pattern": {"source": ["aws.ec2"]}}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(InvokeError, match="--event"):
        invoke(manifest["functions"][0]["name"], dist=tmp_path)
