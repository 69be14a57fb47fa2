"""The chat topic: in the core stack unless `ChatNotifications=disabled`, named after the alert topic, encrypted
with the alert key, exported; every function may publish to it (and only to it and the alert topic) and has chat
notifications on."""

from __future__ import annotations

import json
from typing import Any

import pytest

from automations.core.notify import CHAT_NOTIFICATIONS_ENV, CHAT_TOPIC_SUFFIX
from templates.core_stack import core_template
from templates.stacks import StackDef, render_all
from tests.templates.helpers import resources_of_type


@pytest.fixture(scope="module")
def core() -> dict[str, Any]:
    data: dict[str, Any] = core_template("caretaker-deps-abcdef012345.zip",
                                         "caretaker-bytecode-abcdef012345.zip").to_dict()
    return data


@pytest.fixture(scope="module")
def stacks() -> list[StackDef]:
    return render_all("caretaker-code-000000000000.zip", "caretaker-deps-000000000000.zip",
                      "caretaker-bytecode-000000000000.zip")


def test_the_chat_topic_is_named_after_the_alert_topic_and_encrypted_with_its_key(core: dict[str, Any]) -> None:
    props = core["Resources"]["ChatTopic"]["Properties"]
    assert props["TopicName"] == {"Fn::Sub": ["${Name}" + CHAT_TOPIC_SUFFIX,
                                              {"Name": {"Fn::GetAtt": ["AlertTopic", "TopicName"]}}]}
    assert props["KmsMasterKeyId"] == core["Resources"]["AlertTopic"]["Properties"]["KmsMasterKeyId"]
    assert core["Outputs"]["ChatTopicArn"]["Value"] == {"Ref": "ChatTopic"}
    assert core["Outputs"]["ChatTopicArn"]["Export"] == {"Name": {"Fn::Sub": "${AWS::StackName}-ChatTopicArn"}}


def test_every_function_publishes_only_to_the_alert_and_chat_topics_with_chat_on(stacks: list[StackDef]) -> None:
    alert = {"Fn::ImportValue": {"Fn::Sub": "${CoreStackName}-AlertTopicArn"}}
    checked = 0
    for stack in stacks:
        data = stack.template.to_dict()
        for name in resources_of_type(data, "AWS::Lambda::Function"):
            assert data["Resources"][name]["Properties"]["Environment"]["Variables"][CHAT_NOTIFICATIONS_ENV] == "on"
        for name in resources_of_type(data, "AWS::IAM::Role"):
            statements = [s for p in data["Resources"][name]["Properties"]["Policies"]
                          for s in p["PolicyDocument"]["Statement"] if "sns:Publish" in s["Action"]]
            assert [s["Resource"] for s in statements] == [[
                {"Fn::Sub": ["${AlertTopicArn}", {"AlertTopicArn": alert}]},
                {"Fn::Sub": ["${AlertTopicArn}" + CHAT_TOPIC_SUFFIX, {"AlertTopicArn": alert}]}]], name
            checked += 1
    assert checked > 20


def test_the_chat_topic_and_its_export_exist_only_when_chat_notifications_are_enabled(core: dict[str, Any]) -> None:
    parameter = core["Parameters"]["ChatNotifications"]
    assert (parameter["Default"], parameter["AllowedValues"]) == ("enabled", ["enabled", "disabled"])
    assert core["Conditions"]["ChatNotificationsEnabled"] == {"Fn::Equals": [{"Ref": "ChatNotifications"}, "enabled"]}
    assert core["Resources"]["ChatTopic"]["Condition"] == "ChatNotificationsEnabled"
    assert core["Outputs"]["ChatTopicArn"]["Condition"] == "ChatNotificationsEnabled"



def test_no_stack_imports_the_chat_topic_so_switching_it_off_is_an_ordinary_update(stacks: list[StackDef]) -> None:
    """Functions find the topic by name; an imported export could not go away (CloudFormation refuses)."""
    others = [stack for stack in stacks if stack.name != "caretaker-core"]
    assert others
    for stack in others:
        assert "ChatTopicArn" not in json.dumps(stack.template.to_dict()), stack.name
