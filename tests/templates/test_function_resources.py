"""For every registered function: what its declaration promises is what its stack's template holds."""

from __future__ import annotations

from typing import Any

import pytest

from automations.core import registry
from automations.core.spec import ROLE_PATH, Cron, FunctionSpec, Permission, Rate, Rotation, pascal, trigger_manifest
from templates.alarms import ALARM_KINDS
from templates.functions import log_group_name
from templates.parameters import LOG_RETENTION_VALUES, schedule_parameter_name, setting_parameter_name
from templates.stacks import StackDef, function_template, render_all
from tests.templates.helpers import example_spec, resources_of_type

SPECS = registry.discover()


@pytest.fixture(scope="module")
def stacks() -> list[StackDef]:
    return render_all("caretaker-code-000000000000.zip", "caretaker-deps-000000000000.zip",
                      "caretaker-bytecode-000000000000.zip")


def stack_data(stacks: list[StackDef], spec: FunctionSpec) -> dict[str, Any]:
    (stack,) = [s for s in stacks if any(f.spec.name == spec.name for f in s.functions)]
    data: dict[str, Any] = stack.template.to_dict()
    return data


def sub_text(value: Any) -> str:
    """The string of a resource value: literal, `{"Fn::Sub": str}` or `{"Fn::Sub": [str, vars]}`."""
    if isinstance(value, str):
        return value
    sub = value["Fn::Sub"]
    return sub if isinstance(sub, str) else sub[0]


def expected_statement(permission: Permission) -> dict[str, Any]:
    statement: dict[str, Any] = {"actions": list(permission.actions), "resources": list(permission.resources)}
    if permission.condition:
        statement["condition"] = {op: dict(values) for op, values in permission.condition.items()}
    return statement


def rendered_statement(statement: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {"actions": statement["Action"], "resources": [sub_text(r) for r in statement["Resource"]]}
    if "Condition" in statement:
        result["condition"] = statement["Condition"]
    return result


@pytest.fixture(params=SPECS, ids=[s.name for s in SPECS])
def spec(request: pytest.FixtureRequest) -> FunctionSpec:
    result: FunctionSpec = request.param
    return result


def test_registry_is_not_empty() -> None:
    assert SPECS


def test_role_policy_is_exactly_the_declared_permissions(stacks: list[StackDef], spec: FunctionSpec) -> None:
    data = stack_data(stacks, spec)
    role = data["Resources"][f"{pascal(spec.name)}Role"]
    assert role["Type"] == "AWS::IAM::Role"
    (policy,) = role["Properties"]["Policies"]
    statements = policy["PolicyDocument"]["Statement"]
    assert [rendered_statement(s) for s in statements] == [expected_statement(p) for p in spec.all_permissions]
    actions = {a for s in statements for a in s["Action"]}
    assert actions == {a for p in spec.all_permissions for a in p.actions}
    trust = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust == [{"Effect": "Allow", "Principal": {"Service": ["lambda.amazonaws.com"]},
                      "Action": ["sts:AssumeRole"]}]


def test_each_function_has_its_own_role_under_the_caretaker_path(stacks: list[StackDef], spec: FunctionSpec) -> None:
    data = stack_data(stacks, spec)
    function = data["Resources"][spec.logical_id]
    assert function["Properties"]["Role"] == {"Fn::GetAtt": [f"{pascal(spec.name)}Role", "Arn"]}
    assert data["Resources"][f"{pascal(spec.name)}Role"]["Properties"]["Path"] == ROLE_PATH


def test_template_holds_every_derived_resource(stacks: list[StackDef], spec: FunctionSpec) -> None:
    data = stack_data(stacks, spec)
    resources = data["Resources"]
    prefix = pascal(spec.name)
    function = resources[spec.logical_id]
    assert function["Type"] == "AWS::Lambda::Function"
    props = function["Properties"]
    assert (props["FunctionName"], props["Handler"], props["Timeout"], props["MemorySize"]) == (
        spec.function_name, spec.handler, spec.timeout, spec.memory)
    assert props["Runtime"] == "python3.13" and props["Architectures"] == ["arm64"]
    assert props["Layers"] == [{"Ref": "DependencyLayerParameter"}, {"Ref": "BytecodeLayerParameter"}]
    for parameter, ssm in (("DependencyLayerParameter", "dependency-layer-arn"),
                           ("BytecodeLayerParameter", "bytecode-layer-arn")):
        assert data["Parameters"][parameter] == {
            "Type": "AWS::SSM::Parameter::Value<String>", "Default": f"/caretaker-core/{ssm}",
            "Description": data["Parameters"][parameter]["Description"]}
    assert function["DependsOn"] == [f"{prefix}LogGroup"]

    log_group = resources[f"{prefix}LogGroup"]
    assert log_group["Properties"] == {"LogGroupName": log_group_name(spec),
                                       "RetentionInDays": {"Ref": "LogRetentionDays"}}
    assert props["LoggingConfig"] == {"LogGroup": log_group_name(spec)}

    dlq = resources[f"{prefix}DeadLetterQueue"]
    assert dlq["Properties"] == {"KmsMasterKeyId": {"Fn::ImportValue": {"Fn::Sub": "${CoreStackName}-StateKeyArn"}},
                                 "MessageRetentionPeriod": 14 * 24 * 3600}
    dlq_arn = {"Fn::GetAtt": [f"{prefix}DeadLetterQueue", "Arn"]}
    assert props["DeadLetterConfig"] == {"TargetArn": dlq_arn}

    invoke_config = resources[f"{prefix}EventInvokeConfig"]["Properties"]
    assert invoke_config["MaximumRetryAttempts"] == 2
    assert invoke_config["DestinationConfig"] == {"OnFailure": {"Destination": dlq_arn}}

    alarm = resources[f"{prefix}ErrorsAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == ("AWS/Lambda", "Errors", "Sum")
    assert (alarm["Threshold"], alarm["Period"], alarm["TreatMissingData"]) == (0, 300, "notBreaching")
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert alarm["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": spec.logical_id}}]
    assert alarm["AlarmActions"] == [{"Fn::ImportValue": {"Fn::Sub": "${CoreStackName}-AlertTopicArn"}}]


def test_every_function_gets_every_alarm_kind(stacks: list[StackDef], spec: FunctionSpec) -> None:
    """Errors, Throttles, Duration (80% of the declared timeout), dead letters, and Caretaker's own metrics."""
    resources = stack_data(stacks, spec)["Resources"]
    prefix = pascal(spec.name)
    alarms = {name: r["Properties"] for name, r in resources.items()
              if r["Type"] == "AWS::CloudWatch::Alarm" and name.startswith(prefix)
              and name[len(prefix):-len("Alarm")] in {k.suffix for k in ALARM_KINDS}}
    assert set(alarms) == {f"{prefix}{kind.suffix}Alarm" for kind in ALARM_KINDS}
    topic = {"Fn::ImportValue": {"Fn::Sub": "${CoreStackName}-AlertTopicArn"}}
    for kind in ALARM_KINDS:
        alarm = alarms[f"{prefix}{kind.suffix}Alarm"]
        assert (alarm["Namespace"], alarm["MetricName"]) == (kind.namespace, kind.metric)
        assert alarm["AlarmActions"] == [topic] and alarm["AlarmDescription"].startswith(spec.function_name)
        assert alarm["AlarmName"] == f"{spec.function_name}-{kind.suffix.lower()}"
    assert alarms[f"{prefix}DurationAlarm"]["Threshold"] == spec.timeout * 1000 * 0.8
    assert alarms[f"{prefix}DeadLettersAlarm"]["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": [f"{prefix}DeadLetterQueue", "QueueName"]}}]
    assert alarms[f"{prefix}RunsFailedAlarm"]["Dimensions"] == [{"Name": "automation", "Value": spec.name},
                                                                {"Name": "service", "Value": "caretaker"}]


def test_trigger_and_invoke_permission_match_the_trigger_type(stacks: list[StackDef], spec: FunctionSpec) -> None:
    data = stack_data(stacks, spec)
    rules = {n: r for n, r in resources_of_type(data, "AWS::Events::Rule").items()
             if r["Properties"]["Targets"][0]["Arn"] == {"Fn::GetAtt": [spec.logical_id, "Arn"]}}
    permissions = {n: p for n, p in resources_of_type(data, "AWS::Lambda::Permission").items()
                   if p["Properties"]["FunctionName"] == {"Fn::GetAtt": [spec.logical_id, "Arn"]}}
    kind = trigger_manifest(spec.trigger)["type"]
    if kind in ("schedule", "event"):
        (rule_name,) = rules
        (permission,) = permissions.values()
        assert permission["Properties"]["Principal"] == "events.amazonaws.com"
        assert permission["Properties"]["SourceArn"] == {"Fn::GetAtt": [rule_name, "Arn"]}
    elif kind == "custom_resource":
        assert not rules and not permissions
        assert f"{pascal(spec.name)}ServiceToken" in data["Outputs"]
    else:
        assert isinstance(spec.trigger, Rotation)
        assert not rules
        (permission,) = permissions.values()
        assert permission["Properties"]["Principal"] == "secretsmanager.amazonaws.com"


SCHEDULED = [s for s in SPECS if isinstance(s.trigger, Rate | Cron)]


@pytest.mark.parametrize("spec", SCHEDULED, ids=[s.name for s in SCHEDULED])
def test_schedule_parameter_defaults_to_the_declared_expression(stacks: list[StackDef], spec: FunctionSpec) -> None:
    assert isinstance(spec.trigger, Rate | Cron)
    data = stack_data(stacks, spec)
    name = schedule_parameter_name(spec)
    assert data["Parameters"][name]["Default"] == spec.trigger.expression
    (rule,) = [r for r in resources_of_type(data, "AWS::Events::Rule").values()
               if r["Properties"]["Targets"][0]["Arn"] == {"Fn::GetAtt": [spec.logical_id, "Arn"]}]
    assert rule["Properties"]["ScheduleExpression"] == {"Ref": name}


def test_every_setting_has_a_parameter_and_an_env_var(stacks: list[StackDef], spec: FunctionSpec) -> None:
    data = stack_data(stacks, spec)
    env = data["Resources"][spec.logical_id]["Properties"]["Environment"]["Variables"]
    for setting in spec.all_settings:
        name = setting_parameter_name(spec, setting)
        parameter = data["Parameters"][name]
        assert parameter["Default"] == setting.render(setting.default)
        assert parameter["Description"].endswith(setting.description)
        assert env[setting.env_name] == {"Ref": name}
        if setting.kind in ("int", "float"):
            assert parameter["Type"] == "Number"
            if setting.minimum is not None:
                assert parameter["MinValue"] == setting.minimum
            if setting.maximum is not None:
                assert parameter["MaxValue"] == setting.maximum
        else:
            assert parameter["Type"] == "String"
        if setting.kind == "str" and setting.allowed is not None:
            assert parameter["AllowedValues"] == list(setting.allowed)
        if setting.kind == "str" and setting.pattern is not None:
            assert parameter["AllowedPattern"] == setting.pattern


def test_environment_points_at_the_core_stack(stacks: list[StackDef], spec: FunctionSpec) -> None:
    env = stack_data(stacks, spec)["Resources"][spec.logical_id]["Properties"]["Environment"]["Variables"]
    assert env["CARETAKER_STATE_TABLE"] == {"Fn::ImportValue": {"Fn::Sub": "${CoreStackName}-StateTableName"}}
    assert env["CARETAKER_ALERT_TOPIC_ARN"] == {"Fn::ImportValue": {"Fn::Sub": "${CoreStackName}-AlertTopicArn"}}
    assert env["CARETAKER_FUNCTION"] == spec.name
    assert env["POWERTOOLS_SERVICE_NAME"] == "caretaker"
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == "Caretaker"
    assert env["CARETAKER_BYTECODE_DIR"] == "/opt/caretaker-bytecode"  # where Lambda extracts the bytecode layer


def test_shared_parameters_of_function_stacks(stacks: list[StackDef]) -> None:
    for stack in stacks[1:]:
        parameters = stack.template.to_dict()["Parameters"]
        assert parameters["CoreStackName"]["Default"] == "caretaker-core"
        assert parameters["ArtifactPrefix"]["Default"] == ""
        assert "Default" not in parameters["ArtifactBucket"]
        assert parameters["LogRetentionDays"]["Default"] == "30"
        assert parameters["LogRetentionDays"]["AllowedValues"] == [str(v) for v in LOG_RETENTION_VALUES]


def test_setting_kinds_map_to_parameter_types() -> None:
    """bool -> String true/false, list -> String, float -> Number with bounds, str -> AllowedValues."""
    data = function_template("scheduled", [example_spec("rate")], "code.zip").template.to_dict()["Parameters"]
    assert data["ExampleRateStrict"] == {"Type": "String", "AllowedValues": ["true", "false"], "Default": "true",
                                         "Description": data["ExampleRateStrict"]["Description"]}
    assert data["ExampleRateDryNames"]["Type"] == "String"
    assert data["ExampleRateDryNames"]["Default"] == "a,b"
    assert (data["ExampleRateRatio"]["Type"], data["ExampleRateRatio"]["MinValue"],
            data["ExampleRateRatio"]["MaxValue"], data["ExampleRateRatio"]["Default"]) == ("Number", 0, 1, "0.5")
    assert data["ExampleRateColour"]["AllowedValues"] == ["red", "blue"]
    assert data["ExampleRateMode"]["AllowedValues"] == ["enforce", "audit", "off"]


def test_function_arn_variable_is_built_from_the_name_not_getatt() -> None:
    """GetAtt on the function inside its own role's policy would be a dependency cycle."""
    data = function_template("scheduled", [example_spec("rate")], "code.zip").template.to_dict()
    statements = data["Resources"]["ExampleRateRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    (own,) = [s for s in statements if s["Action"] == ["lambda:GetFunction"]]
    text, variables = own["Resource"][0]["Fn::Sub"]
    assert text == "${FunctionArn}"
    assert "caretaker-example-rate" in variables["FunctionArn"]["Fn::Join"][1]
