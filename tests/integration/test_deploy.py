"""Deploying the build into a moto server: stacks, function configuration, rules, re-deploy, failures."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from automations.core.registry import get
from builder.deploy import TEMPLATE_BODY_LIMIT, deploy
from builder.errors import DeployError
from templates.functions import makes_changes
from tests.conftest import MOTO_SKIPPED_PROPERTY
from tests.integration.conftest import ARTIFACT_BUCKET, ARTIFACT_PREFIX, REGION, Deployment, deploy_capturing


def manifest(dist: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((dist / "manifest.json").read_text())
    return data


def template_types(dist: Path, stack: dict[str, Any]) -> set[str]:
    template = yaml.safe_load((dist / stack["template"]).read_text())
    return {resource["Type"] for resource in template["Resources"].values()}


def test_every_stack_reaches_create_complete_in_manifest_order(deployment: Deployment, built_dist: Path) -> None:
    cfn = boto3.client("cloudformation", region_name=REGION)
    names = [stack["name"] for stack in manifest(built_dist)["stacks"]]
    for name in names:
        assert cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    completed = [line.split(":")[0] for line in deployment.log if line.endswith(": CREATE_COMPLETE")]
    assert completed == names
    assert set(deployment.outputs) == set(names)


def test_artifacts_are_uploaded_under_the_prefix(deployment: Deployment, built_dist: Path) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=ARTIFACT_BUCKET)["Contents"]}
    for artifact in manifest(built_dist)["artifacts"]:
        assert ARTIFACT_PREFIX + Path(artifact["path"]).name in keys


def test_core_stack_exports_what_function_stacks_import(deployed: dict[str, dict[str, str]]) -> None:
    exports = {e["Name"]: e["Value"] for e in boto3.client("cloudformation", region_name=REGION)
               .list_exports()["Exports"]}
    for name in ("StateTableName", "StateTableArn", "AlertTopicArn", "ChatTopicArn", "DependencyLayerArn",
                 "BytecodeLayerArn"):
        assert exports[f"caretaker-core-{name}"] == deployed["caretaker-core"][name]
    # functions find the chat topic from the alert topic's ARN (automations/core/notify.py, chat_topic_arn)
    assert deployed["caretaker-core"]["ChatTopicArn"] == deployed["caretaker-core"]["AlertTopicArn"] + "-chat"


@pytest.mark.parametrize(("parameter", "output"), [("dependency-layer-arn", "DependencyLayerArn"),
                                                   ("bytecode-layer-arn", "BytecodeLayerArn")])
def test_layer_arns_reach_function_stacks_through_ssm(deployed: dict[str, dict[str, str]], parameter: str,
                                                      output: str) -> None:
    ssm = boto3.client("ssm", region_name=REGION)
    value = ssm.get_parameter(Name=f"/caretaker-core/{parameter}")["Parameter"]["Value"]
    assert value == deployed["caretaker-core"][output]
    assert ":layer:" in value


def test_functions_run_with_the_manifest_environment_and_the_core_table(
        deployed: dict[str, dict[str, str]], built_dist: Path) -> None:
    lambda_ = boto3.client("lambda", region_name=REGION)
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    core = deployed["caretaker-core"]
    functions = manifest(built_dist)["functions"]
    assert functions
    for entry in functions:
        config = lambda_.get_function_configuration(FunctionName=entry["function_name"])
        expected = dict(entry["environment"],
                        CARETAKER_STATE_TABLE=core["StateTableName"],
                        CARETAKER_ALERT_TOPIC_ARN=core["AlertTopicArn"])
        if get(entry["name"]).reads_own_roles:  # only the rules on CloudTrail records read the own roles
            for name in ("CARETAKER_OWN_ROLE_NAMES", "CARETAKER_OWN_ROLE_ARN_PREFIX"):
                expected[name] = config["Environment"]["Variables"][name]
        assert config["Environment"]["Variables"] == expected
        assert config["Handler"] == entry["handler"]
        assert config["Runtime"] == entry["runtime"]
        assert (config["Timeout"], config["MemorySize"]) == (entry["timeout"], entry["memory"])
        table = dynamodb.describe_table(TableName=config["Environment"]["Variables"]["CARETAKER_STATE_TABLE"])
        assert table["Table"]["TableStatus"] == "ACTIVE"


def test_each_reactive_function_trusts_the_exact_arns_of_every_caretaker_role(
        deployed: dict[str, dict[str, str]], built_dist: Path) -> None:
    """The same roles by their exact ARNs (DESIGN.md's contract): the deploy-time prefix plus every role name."""
    from automations.security.findings import own_role_arns

    lambda_ = boto3.client("lambda", region_name=REGION)
    data = manifest(built_dist)
    roles = {lambda_.get_function_configuration(FunctionName=e["function_name"])["Role"] for e in data["functions"]
             if makes_changes(get(e["name"]))}  # read-only functions' roles are not trusted
    assert all("/caretaker/" in arn for arn in roles)
    readers = [e for e in data["functions"] if get(e["name"]).reads_own_roles]
    assert readers and {e["stack"] for e in readers} == {"caretaker-security"}
    for entry in readers:
        env = lambda_.get_function_configuration(FunctionName=entry["function_name"])["Environment"]["Variables"]
        assert own_role_arns(env) == roles, entry["name"]


def test_schedule_rules_use_the_declared_expression(deployed: dict[str, dict[str, str]], built_dist: Path) -> None:
    events = boto3.client("events", region_name=REGION)
    lambda_ = boto3.client("lambda", region_name=REGION)
    scheduled = [f for f in manifest(built_dist)["functions"] if f["trigger"]["type"] == "schedule"]
    assert scheduled
    for entry in scheduled:
        arn = lambda_.get_function(FunctionName=entry["function_name"])["Configuration"]["FunctionArn"]
        rule_names = events.list_rule_names_by_target(TargetArn=arn)["RuleNames"]
        assert len(rule_names) == 1
        rule = events.describe_rule(Name=rule_names[0])
        assert rule["ScheduleExpression"] == entry["trigger"]["expression"]
        assert rule["State"] == "ENABLED"


def test_moto_skipped_resource_types_are_in_the_templates(
        deployment: Deployment, built_dist: Path, request: pytest.FixtureRequest) -> None:
    """moto only warns on types it cannot create; list them and prove the templates do hold them."""
    request.node.user_properties.append((MOTO_SKIPPED_PROPERTY, ",".join(deployment.skipped_types)))
    stacks = manifest(built_dist)["stacks"]
    rendered = set().union(*(template_types(built_dist, stack) for stack in stacks))
    cfn = boto3.client("cloudformation", region_name=REGION)
    with warnings.catch_warnings():  # listing makes moto parse the templates again; already reported
        warnings.simplefilter("ignore")
        created = {r["ResourceType"] for s in stacks
                   for r in cfn.list_stack_resources(StackName=s["name"])["StackResourceSummaries"]}
    for resource_type in deployment.skipped_types:
        assert resource_type in rendered
        assert resource_type not in created


def test_redeploying_an_unchanged_build_changes_nothing(deployment: Deployment, built_dist: Path) -> None:
    log: list[str] = []
    outputs, _ = deploy_capturing(built_dist, log)
    names = [stack["name"] for stack in manifest(built_dist)["stacks"]]
    assert [line for line in log if line.endswith(": no changes")] == [f"{name}: no changes" for name in names]
    assert any("(already there)" in line for line in log)
    assert outputs == deployment.outputs
    cfn = boto3.client("cloudformation", region_name=REGION)
    for name in names:
        assert cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"


def test_a_failing_stack_reports_why(moto_server: str, tmp_path: Path) -> None:
    template = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic",
                                "Properties": {"DisplayName": {"Fn::ImportValue": "no-such-export"}}}},
    }
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "broken.yaml").write_text(json.dumps(template))
    (tmp_path / "manifest.json").write_text(json.dumps({
        "artifacts": [], "functions": [],
        "stacks": [{"name": "caretaker-broken", "template": "templates/broken.yaml", "parameters": {}}],
    }))
    with pytest.raises(DeployError, match=r"caretaker-broken.*no-such-export"):
        deploy(tmp_path, ARTIFACT_BUCKET, region=REGION, create_bucket=True, report=lambda _: None,
               sleep=lambda _: None)


def test_deploy_refuses_a_missing_bucket_without_create_bucket(moto_server: str, built_dist: Path) -> None:
    with pytest.raises(DeployError, match="--create-bucket"):
        deploy(built_dist, "caretaker-no-such-bucket", region=REGION, report=lambda _: None)


def test_templates_over_the_body_limit_go_through_s3(moto_server: str, tmp_path: Path) -> None:
    template = {
        "Metadata": {"Padding": "x" * (TEMPLATE_BODY_LIMIT + 1)},
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
    }
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "large.yaml").write_text(json.dumps(template))
    (tmp_path / "manifest.json").write_text(json.dumps({
        "artifacts": [], "functions": [],
        "stacks": [{"name": "caretaker-large", "template": "templates/large.yaml", "parameters": {}}],
    }))
    log: list[str] = []
    deploy(tmp_path, ARTIFACT_BUCKET, prefix="large/", region=REGION, create_bucket=True, report=log.append,
           sleep=lambda _: None)
    cfn = boto3.client("cloudformation", region_name=REGION)
    assert cfn.describe_stacks(StackName="caretaker-large")["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    assert any(line.startswith(f"  s3://{ARTIFACT_BUCKET}/large/templates/caretaker-large-") for line in log)
    assert any("passed as TemplateURL" in line for line in log)
