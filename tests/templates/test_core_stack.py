"""The core stack: state table, alert topic, dependency and bytecode layers and their exports."""

from __future__ import annotations

from typing import Any

import pytest

from automations.core import state_schema
from templates.core_stack import core_template


@pytest.fixture(scope="module")
def core() -> dict[str, Any]:
    data: dict[str, Any] = core_template("caretaker-deps-abcdef012345.zip",
                                         "caretaker-bytecode-abcdef012345.zip").to_dict()
    return data


def test_state_table_is_on_demand_recoverable_encrypted_and_expiring(core: dict[str, Any]) -> None:
    table = core["Resources"]["StateTable"]
    props = table["Properties"]
    assert table["Type"] == "AWS::DynamoDB::Table"
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"] == {"SSEEnabled": True, "SSEType": "KMS",
                                         "KMSMasterKeyId": {"Fn::GetAtt": ["StateKey", "Arn"]}}
    assert props["TimeToLiveSpecification"] == {"AttributeName": state_schema.TTL_ATTRIBUTE, "Enabled": True}
    assert props["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"},
                                  {"AttributeName": "sk", "KeyType": "RANGE"}]


def test_state_table_indexes_follow_state_schema(core: dict[str, Any]) -> None:
    props = core["Resources"]["StateTable"]["Properties"]
    indexes = {i["IndexName"]: i for i in props["GlobalSecondaryIndexes"]}
    assert set(indexes) == {name for name, _, _ in state_schema.INDEXES}
    for name, pk, sk in state_schema.INDEXES:
        assert indexes[name]["KeySchema"] == [{"AttributeName": pk, "KeyType": "HASH"},
                                              {"AttributeName": sk, "KeyType": "RANGE"}]
        assert indexes[name]["Projection"] == {"ProjectionType": "ALL"}
    declared = {a["AttributeName"]: a["AttributeType"] for a in props["AttributeDefinitions"]}
    keys = {"pk", "sk"} | {a for _, pk, sk in state_schema.INDEXES for a in (pk, sk)}
    assert declared == dict.fromkeys(keys, "S")


def test_alert_topic_is_encrypted_with_a_key_alarms_may_use(core: dict[str, Any]) -> None:
    assert core["Resources"]["AlertTopic"]["Properties"]["KmsMasterKeyId"] == {"Ref": "AlertKey"}
    key = core["Resources"]["AlertKey"]["Properties"]
    assert key["EnableKeyRotation"] is True
    services = [s["Principal"].get("Service") for s in key["KeyPolicy"]["Statement"]]
    assert "cloudwatch.amazonaws.com" in services
    assert "AlertKeyArn" in core["Outputs"]


def test_state_key_rotates_outlives_the_stack_with_the_table_and_is_exported(core: dict[str, Any]) -> None:
    key = core["Resources"]["StateKey"]
    assert key["Type"] == "AWS::KMS::Key"
    assert key["Properties"]["EnableKeyRotation"] is True
    # a retained table whose key was deleted with the stack could never be read again
    assert (key["DeletionPolicy"], key["UpdateReplacePolicy"]) == ("Retain", "Retain")
    assert core["Resources"]["StateTable"]["DeletionPolicy"] == "Retain"
    (statement,) = key["Properties"]["KeyPolicy"]["Statement"]
    assert statement["Principal"] == {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}}
    assert core["Outputs"]["StateKeyArn"]["Value"] == {"Fn::GetAtt": ["StateKey", "Arn"]}


#: layer resource -> its artifact and the SSM parameter that publishes its ARN
LAYERS = {"DependencyLayer": ("caretaker-deps-abcdef012345.zip", "dependency-layer-arn"),
          "BytecodeLayer": ("caretaker-bytecode-abcdef012345.zip", "bytecode-layer-arn")}


@pytest.mark.parametrize("layer", LAYERS)
def test_layer_comes_from_the_artifact_bucket_for_arm64(core: dict[str, Any], layer: str) -> None:
    artifact, _ = LAYERS[layer]
    props = core["Resources"][layer]["Properties"]
    assert props["Content"] == {"S3Bucket": {"Ref": "ArtifactBucket"},
                                "S3Key": {"Fn::Join": ["", [{"Ref": "ArtifactPrefix"}, artifact]]}}
    assert props["CompatibleRuntimes"] == ["python3.13"]
    assert props["CompatibleArchitectures"] == ["arm64"]


@pytest.mark.parametrize("layer", LAYERS)
def test_layer_arn_is_published_in_ssm_for_function_stacks(core: dict[str, Any], layer: str) -> None:
    """Function stacks read it at deploy time: an imported export could never change (new layer versions)."""
    _, ssm = LAYERS[layer]
    parameter = core["Resources"][f"{layer}ArnParameter"]
    assert parameter["Type"] == "AWS::SSM::Parameter"
    assert parameter["Properties"]["Name"] == {"Fn::Sub": "/${AWS::StackName}/" + ssm}
    assert parameter["Properties"]["Value"] == {"Ref": layer}


def test_exports_are_named_after_the_stack(core: dict[str, Any]) -> None:
    outputs = core["Outputs"]
    assert set(outputs) == {"StateTableName", "StateTableArn", "AlertTopicArn", "ChatTopicArn", "AlertKeyArn",
                            "StateKeyArn", "DependencyLayerArn", "BytecodeLayerArn"}
    for name, output in outputs.items():
        assert output["Export"] == {"Name": {"Fn::Sub": "${AWS::StackName}-" + name}}


def test_parameters_are_the_artifact_location(core: dict[str, Any]) -> None:
    assert set(core["Parameters"]) == {"ArtifactBucket", "ArtifactPrefix", "ChatNotifications"}
    assert core["Parameters"]["ArtifactPrefix"]["Default"] == ""
