"""`build.py deploy --organization` end to end on moto: an OU of three accounts, two regions, the real CLI."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from automations.core import registry
from automations.core.aws import Clients
from automations.core.ledger import run_items
from automations.core.mode_override import set_mode_override
from automations.scheduled.ebs_snapshots import handler as ebs_snapshots
from builder import org_deploy
from templates import names
from templates.hub import HUB_ALERT_BUS_NAME
from templates.member import ACCOUNT_STACK_SET, BASE_STACK_SET, MODE_OVERRIDE_PK, family_stack_set, member_scope
from templates.member_settings import settings_parameter_name, unpack
from tests.automations.conftest import Clock, LambdaContext, scheduled_event
from tests.organizations.conftest import BUCKET, HOME, HUB_ACCOUNT, REGIONS, Org, function_environment, member_session

if TYPE_CHECKING:
    from types_boto3_ec2.type_defs import SnapshotTypeDef

SPECS = registry.discover()
SCHEDULED = family_stack_set("scheduled")
REGIONAL_STACK_SETS = [BASE_STACK_SET, SCHEDULED, family_stack_set("custom-resources"), family_stack_set("security")]
INSTANCES = 3 * 2 * len(REGIONAL_STACK_SETS) + 3
REGIONAL = sorted(s.function_name for s in SPECS if member_scope(s) == "region")
ACCOUNT_WIDE = sorted(s.function_name for s in SPECS if member_scope(s) == "account")


def outcome_lines(stdout: str, stack_set: str) -> dict[tuple[str, str], str]:
    found = re.findall(rf"^(\d{{12}}) ([a-z0-9-]+) {stack_set}: (\S+)", stdout, re.MULTILINE)
    return {(account, region): status for account, region, status in found}


def functions(account: str, region: str) -> list[str]:
    client = member_session(account, region).client("lambda", region_name=region)
    return sorted(f["FunctionName"] for page in client.get_paginator("list_functions").paginate()
                  for f in page["Functions"])


def test_first_deploy_succeeds_with_one_line_per_member_account_region(org: Org) -> None:
    status, stdout, stderr = org.runs[0]
    assert status == 0, stderr
    for stack_set in REGIONAL_STACK_SETS:
        assert outcome_lines(stdout, stack_set) == {(a, r): "SUCCEEDED" for a in org.members for r in REGIONS}
    assert outcome_lines(stdout, ACCOUNT_STACK_SET) == {(a, HOME): "SUCCEEDED" for a in org.members}
    assert f"organization deploy: {INSTANCES} member stack instances succeeded" in stdout


def test_stack_sets_are_service_managed_with_deploys_values(org: Org) -> None:
    cfn = boto3.client("cloudformation", region_name=HOME)
    for name in (*REGIONAL_STACK_SETS, ACCOUNT_STACK_SET):
        stack_set = cfn.describe_stack_set(StackSetName=name)["StackSet"]
        assert stack_set["PermissionModel"] == "SERVICE_MANAGED"
        parameters = {p["ParameterKey"]: p["ParameterValue"] for p in stack_set["Parameters"]}
        assert parameters.get("HubAccountId", HUB_ACCOUNT) == HUB_ACCOUNT
        assert parameters.get(names.ARTIFACT_BUCKET, BUCKET) == BUCKET


def test_every_member_account_region_has_its_own_state_table_and_the_regional_functions(org: Org) -> None:
    for account in org.members:
        for region in REGIONS:
            session = member_session(account, region)
            assert session.client("dynamodb", region_name=region).list_tables()["TableNames"] == [
                names.MEMBER_STATE_TABLE]
            deployed = functions(account, region)
            assert set(REGIONAL) <= set(deployed)
            env = function_environment(session, "caretaker-ebs-snapshots", region)
            assert env["CARETAKER_STATE_TABLE"] == names.MEMBER_STATE_TABLE
            assert env["CARETAKER_MODE"] == "enforce"  # a field of the one settings parameter


def test_account_wide_functions_and_the_hub_roles_exist_once_per_account_in_the_home_region(org: Org) -> None:
    for account in org.members:
        assert set(ACCOUNT_WIDE) <= set(functions(account, HOME))
        assert not set(ACCOUNT_WIDE) & set(functions(account, "eu-west-1"))
        iam = member_session(account).client("iam")
        roles = {r["RoleName"]: r for r in iam.list_roles()["Roles"]}
        assert {names.READER_ROLE_NAME, names.OPERATOR_ROLE_NAME} <= set(roles)
        trust: Any = roles[names.READER_ROLE_NAME]["AssumeRolePolicyDocument"]  # the stubs' type lacks Principal
        assert trust["Statement"][0]["Principal"]["AWS"] == [f"arn:aws:iam::{HUB_ACCOUNT}:root"]
        # one role per function and region: the same template in two regions needs two names
        assert {f"caretaker-ebs-snapshots-{region}" for region in REGIONS} <= set(roles)


def test_hub_lists_the_member_regions_and_each_region_has_an_organization_readable_bucket(org: Org) -> None:
    cfn = boto3.client("cloudformation", region_name=HOME)
    outputs = {o["OutputKey"]: o["OutputValue"]
               for o in cfn.describe_stacks(StackName=names.HUB_STACK_NAME)["Stacks"][0]["Outputs"]}
    assert outputs[names.HUB_REGIONS_OUTPUT] == ",".join(REGIONS)
    organization_id = boto3.client("organizations").describe_organization()["Organization"]["Id"]
    for region in REGIONS:
        s3 = boto3.client("s3", region_name=region)
        bucket = org_deploy.regional_bucket(BUCKET, region)
        assert s3.get_bucket_location(Bucket=bucket)["LocationConstraint"] in (region, None)
        policy = s3.get_bucket_policy(Bucket=bucket)["Policy"]
        assert organization_id in policy and "aws:PrincipalOrgID" in policy
        keys = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}
        assert any(k.startswith("caretaker-code-") for k in keys)


def test_a_snapshot_run_in_one_member_acts_in_that_member_only(org: Org, tmp_path: Path) -> None:
    acting, other = org.members[0], org.members[1]
    volumes = {}
    for account in (acting, other):
        ec2 = member_session(account).client("ec2", region_name=HOME)
        volumes[account] = ec2.create_volume(
            AvailabilityZone=f"{HOME}a", Size=1,
            TagSpecifications=[{"ResourceType": "volume", "Tags": [{"Key": "caretaker:backup", "Value": "true"}]}],
        )["VolumeId"]
    session = member_session(acting)
    env = function_environment(session, "caretaker-ebs-snapshots", HOME)
    result = ebs_snapshots.invoke(scheduled_event(HOME), LambdaContext(), environ=env, clients=Clients(session),
                                  clock=Clock(datetime.now(UTC)))

    def snapshots(account: str) -> list[SnapshotTypeDef]:
        return member_session(account).client("ec2", region_name=HOME).describe_snapshots(OwnerIds=["self"])[
            "Snapshots"]

    assert [s["VolumeId"] for s in snapshots(acting)] == [volumes[acting]]
    assert snapshots(other) == []
    records = run_items(session.client("dynamodb"), names.MEMBER_STATE_TABLE, result["run_id"])
    assert {(r["resource_id"], r["outcome"]) for r in records if r["type"] == "action"} >= {
        (volumes[acting], "succeeded")}
    other_table = member_session(other).client("dynamodb")
    assert other_table.scan(TableName=names.MEMBER_STATE_TABLE)["Items"] == []


def test_the_operator_role_key_is_where_the_mode_override_lives(org: Org) -> None:
    client = member_session(org.members[2]).client("dynamodb")
    set_mode_override(client, names.MEMBER_STATE_TABLE, "ebs-snapshots", "audit", by="test", reason="check")
    items = client.scan(TableName=names.MEMBER_STATE_TABLE)["Items"]
    assert {item["pk"]["S"] for item in items} == {MODE_OVERRIDE_PK}


class RecordingSession(boto3.Session):
    """deploy's session, recording the StackSets requests it makes (moto applies some of them to nothing)."""

    requests: list[tuple[str, dict[str, Any]]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.events.register("provide-client-params.cloudformation.*", self._record)

    @staticmethod
    def _record(params: dict[str, Any], model: Any, **_: Any) -> None:
        RecordingSession.requests.append((model.name, dict(params)))


def test_a_second_deploy_updates_in_place_and_applies_per_ou_overrides(
        org: Org, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "caretaker.toml"
    config.write_text(f'[overrides."{org.ou}"]\nmode = "audit"\nCleanupAmisGraceDays = 21\n')
    cfn = boto3.client("cloudformation", region_name=HOME)
    instances_before = len(cfn.list_stack_instances(StackSetName=SCHEDULED)["Summaries"])
    RecordingSession.requests = []
    monkeypatch.setattr(org_deploy.boto3, "Session", RecordingSession)

    status, stdout, stderr = org.deploy("--config", str(config))

    assert status == 0, stderr
    assert f"{names.HUB_STACK_NAME}: no changes" in stdout
    assert f"{SCHEDULED}: updating the stack set" in stdout
    instances = cfn.list_stack_instances(StackSetName=SCHEDULED)["Summaries"]
    assert len(instances) == instances_before == len(org.members) * len(REGIONS)  # no second copy
    calls = [(name, params) for name, params in RecordingSession.requests
             if params.get("StackSetName") == SCHEDULED]
    assert "CreateStackSet" not in [name for name, _ in calls]
    assert [name for name, _ in calls if name.startswith(("Create", "Update"))] == [
        "UpdateStackSet", "CreateStackInstances", "UpdateStackInstances"]
    stack_set_update = next(params for name, params in calls if name == "UpdateStackSet")
    assert stack_set_update["Capabilities"] == ["CAPABILITY_NAMED_IAM"]
    assert stack_set_update["AutoDeployment"] == {"Enabled": True, "RetainStacksOnAccountRemoval": False}
    update = next(params for name, params in calls if name == "UpdateStackInstances")
    assert update["DeploymentTargets"] == {"OrganizationalUnitIds": [org.ou]}
    assert update["OperationPreferences"]["MaxConcurrentPercentage"] == 25
    overrides = {p["ParameterKey"]: p["ParameterValue"] for p in update["ParameterOverrides"]}
    spec = registry.get("cleanup-amis")
    fields = unpack(spec, overrides[settings_parameter_name(spec)])
    assert fields["mode"] == "audit" and fields["grace_days"] == "21"
    ebs = unpack(registry.get("ebs-snapshots"), overrides[settings_parameter_name(registry.get("ebs-snapshots"))])
    assert ebs["mode"] == "audit"  # `mode` sets every function's
    # the full set (moto replaces the stack set's parameters with the overrides; AWS would keep the rest)
    assert set(overrides) == {p["ParameterKey"] for p in
                              cfn.describe_stack_set(StackSetName=SCHEDULED)["StackSet"]["Parameters"]}
    assert overrides[names.ARTIFACT_BUCKET] == BUCKET


def test_a_failed_instance_exits_non_zero_with_a_one_line_reason(org: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    """moto never fails an instance; StackSets reports one as below, which deploy must turn into its exit."""
    victim = org.members[1]

    class FailingSession(boto3.Session):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.listing = ""
            self.events.register("provide-client-params.cloudformation.ListStackInstances", self._listing)
            self.events.register("after-call.cloudformation.ListStackInstances", self._fail_one)

        def _listing(self, params: dict[str, Any], **_: Any) -> None:
            self.listing = params["StackSetName"]

        def _fail_one(self, parsed: dict[str, Any], **_: Any) -> None:
            for summary in parsed.get("Summaries", []):
                if (self.listing, summary["Account"], summary["Region"]) == (BASE_STACK_SET, victim, "eu-west-1"):
                    summary["Status"] = "OUTDATED"
                    summary["StatusReason"] = "ResourceLogicalId:StateTable, caretaker-state already exists"
                    summary["StackInstanceStatus"] = {"DetailedStatus": "FAILED"}

    monkeypatch.setattr(org_deploy.boto3, "Session", FailingSession)
    status, stdout, stderr = org.deploy()

    assert status == 1
    lines = stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0] == (f"build.py: 1 of {INSTANCES} member stack instances failed; first: {victim} eu-west-1 "
                        f"{BASE_STACK_SET}: FAILED (ResourceLogicalId:StateTable, caretaker-state already exists)")
    assert outcome_lines(stdout, BASE_STACK_SET)[(victim, "eu-west-1")] == "FAILED"
    assert outcome_lines(stdout, BASE_STACK_SET)[(org.members[0], "eu-west-1")] == "SUCCEEDED"


def test_a_members_caretaker_alarm_reaches_the_hubs_bus_and_other_alarms_do_not(org: Org) -> None:
    sqs = boto3.client("sqs", region_name=HOME)
    queue = sqs.create_queue(QueueName="org-alert-watch")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    hub_events = boto3.client("events", region_name=HOME)
    # moto cannot deliver to the hub rule's SNS target (NotImplementedError): watch the bus with a queue instead
    for rule in hub_events.list_rules(EventBusName=HUB_ALERT_BUS_NAME)["Rules"]:
        hub_events.remove_targets(Rule=rule["Name"], EventBusName=HUB_ALERT_BUS_NAME, Ids=["AlertTopic"])
    hub_events.put_rule(Name="watch", EventBusName=HUB_ALERT_BUS_NAME, EventPattern='{"source": ["aws.cloudwatch"]}')
    hub_events.put_targets(Rule="watch", EventBusName=HUB_ALERT_BUS_NAME, Targets=[{"Id": "q", "Arn": queue_arn}])

    member_events = member_session(org.members[0], "eu-west-1").client("events", region_name="eu-west-1")
    # moto's schedule rules match every event and it cannot invoke their Lambda targets (NotImplementedError)
    for rule in member_events.list_rules()["Rules"]:
        if "ScheduleExpression" in rule:
            member_events.remove_targets(Rule=rule["Name"], Ids=["Function"])
    for alarm in ("caretaker-ebs-snapshots-errors", "payments-latency"):
        member_events.put_events(Entries=[{
            "Source": "aws.cloudwatch", "DetailType": "CloudWatch Alarm State Change",
            "Detail": json.dumps({"alarmName": alarm, "state": {"value": "ALARM"}})}])

    received = [json.loads(m["Body"]) for m in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get(
        "Messages", [])]
    assert [event["detail"]["alarmName"] for event in received] == ["caretaker-ebs-snapshots-errors"]


def test_report_and_mode_reach_every_member_of_the_real_deployment_and_name_the_unreachable(
        org: Org, capsys: pytest.CaptureFixture[str]) -> None:
    """The issue's flow after the real deploy: a run in one member, `report --org` and `mode --org` through the
    deployed reader and operator roles, and a target that has no Caretaker listed without hiding the others."""
    from automations.cli.main import main as cli

    acting = org.members[0]
    session = member_session(acting)
    env = function_environment(session, "caretaker-ebs-snapshots", HOME)
    run = ebs_snapshots.invoke(scheduled_event(HOME), LambdaContext(), environ=env, clients=Clients(session),
                               clock=Clock(datetime.now(UTC)))
    capsys.readouterr()

    assert cli(["report", "--org", "--format", "json", "--since", "24h"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert {(m["account"], m["region"]) for m in document["members"]} == {(a, r) for a in org.members for r in REGIONS}
    assert document["unreachable"] == []
    ours = [r for r in document["runs"] if r["run_id"] == run["run_id"]]
    assert [(r["account"], r["region"], r["automation"]) for r in ours] == [(acting, HOME, "ebs-snapshots")]

    stranger = "999999999999"  # an account without Caretaker: no table, no roles
    assert cli(["report", "--org", "--format", "json", "--accounts", f"{acting},{stranger}",
                "--regions", HOME]) == 1
    document = json.loads(capsys.readouterr().out)
    assert [u["account"] for u in document["unreachable"]] == [stranger]
    assert [m["account"] for m in document["members"] if not m["error"]] == [acting]

    assert cli(["mode", "ebs-snapshots", "audit", "--org", "--reason", "change freeze"]) == 0
    for account in org.members:
        for region in REGIONS:
            item = member_session(account, region).client("dynamodb", region_name=region).get_item(
                TableName=names.MEMBER_STATE_TABLE,
                Key={"pk": {"S": MODE_OVERRIDE_PK}, "sk": {"S": "MODE#ebs-snapshots"}})
            assert item["Item"]["mode"]["S"] == "audit" and item["Item"]["reason"]["S"] == "change freeze", (
                account, region)
    assert cli(["mode", "ebs-snapshots", "clear", "--org", "--reason", "freeze over"]) == 0


def test_a_narrower_deploy_lists_the_instances_it_no_longer_targets_and_keeps_them(org: Org) -> None:
    """One account and one region of the three accounts and two regions deployed before: the other instances are
    printed as no longer targeted, neither deleted nor counted (nor failing the deploy). Last in the module: the
    organization keeps every instance for the tests before it anyway."""
    kept, dropped_region = org.members[0], "eu-west-1"
    cfn = boto3.client("cloudformation", region_name=HOME)
    before = {(i["Account"], i["Region"]) for i in cfn.list_stack_instances(StackSetName=SCHEDULED)["Summaries"]}

    status, stdout, stderr = org.deploy("--targets", kept, "--regions", HOME)

    assert status == 0, stderr
    assert outcome_lines(stdout, SCHEDULED) == {(kept, HOME): "SUCCEEDED"}
    stale = set(re.findall(rf"^no longer targeted: (\d{{12}}) ([a-z0-9-]+) {SCHEDULED} \(SUCCEEDED\): kept, not "
                           rf"deleted \(aws cloudformation delete-stack-instances --stack-set-name {SCHEDULED} ",
                           stdout, re.MULTILINE))
    assert stale == before - {(kept, HOME)}
    assert (kept, dropped_region) in stale and (org.members[1], HOME) in stale
    after = {(i["Account"], i["Region"]) for i in cfn.list_stack_instances(StackSetName=SCHEDULED)["Summaries"]}
    assert after == before
    # the account-scoped stack set lives in the home region: only the accounts no longer targeted are listed
    assert set(re.findall(rf"^no longer targeted: (\d{{12}}) {HOME} {ACCOUNT_STACK_SET} ", stdout, re.MULTILINE)) \
        == set(org.members[1:])
    assert f"organization deploy: {len(REGIONAL_STACK_SETS) + 1} member stack instances succeeded" in stdout
