"""The member templates StackSets deploy into every target account (docs/organizations.md).

- `caretaker-member-base` (scope `region`, every target region): the account-region's own state table
  (`names.MEMBER_STATE_TABLE`), its keys and alert topic, and the rule that forwards Caretaker's alarms to the
  hub's organization-wide alert bus. It publishes the keys' and topic's ARNs under fixed SSM names.
- `caretaker-member-<family>` (scope `region`): one per handler package with regional functions (scheduled,
  custom-resources, security) and their layers, reading the base through those SSM parameters.
- `caretaker-member-account` (scope `account`, home region only): the functions that act on account-wide
  things (`member_scope`) and the hub's reader and operator roles (`templates.member_roles`).

Why split so: a template holds 500 resources and a function takes about 13 (role, log group, queue, function,
invoke config, six alarms, rule, permission), so one template of every regional function would pass the limit
at about 37; a family's template holds its own functions only, and a family never moves between templates
(a function moving would collide with itself on its fixed names). Settings travel one parameter per function
(`templates.member_settings`), which keeps each far under the 200 parameters.

No template imports anything (`Fn::ImportValue` cannot cross stack sets: moto registers no exports for them
either). Function roles have fixed names with the region in them (`caretaker-<function>-<region>`): IAM names
are global, so the same template in two regions of one account needs two names, and fixed names let each
template trust the others' roles as Caretaker's own.
"""

from __future__ import annotations

from dataclasses import dataclass

from troposphere import AWSHelperFn, GetAtt, Join, Output, Parameter, Ref, Sub, Template, events, iam, kms, ssm

from automations.core import registry
from automations.core.member_scope import Scope, member_scope
from automations.core.spec import FunctionSpec
from templates import names
from templates.core_stack import (
    BYTECODE_LAYER_NAME,
    LAYER_NAME,
    alert_key,
    alert_topic,
    layer_version,
    state_key,
    state_table,
)
from templates.functions import CoreValues, SharedParameters, add_function, add_own_roles
from templates.hub import HUB_ALERT_BUS_NAME
from templates.member_roles import MODE_OVERRIDE_PK, STATE_KEY_ALIAS, operator_role, policy, reader_role
from templates.member_settings import HOME_REGION_PARAMETER, deployment_parameters, packed_setting_values
from templates.parameters import add_artifact_parameters, add_log_retention_parameter
from templates.policies import POLICY_VERSION
from templates.stacks import StackDef, parameter_defaults, specs_by_stack

__all__ = ["ACCOUNT_STACK_SET", "BASE_STACK_SET", "HOME_REGION_PARAMETER", "MODE_OVERRIDE_PK", "STATE_KEY_ALIAS",
           "Scope", "StackSetDef", "member_scope", "render_members"]

BASE_STACK_SET = f"{names.STACK_PREFIX}-member-base"
ACCOUNT_STACK_SET = f"{names.STACK_PREFIX}-member-account"
#: Member roles have fixed names (the reader and operator, and every function's: see above).
CAPABILITIES = ("CAPABILITY_NAMED_IAM",)

#: The member's own alert topic (alarms and per-run notifications of that account-region).
MEMBER_ALERT_TOPIC = f"{names.STACK_PREFIX}-alerts"
HUB_ACCOUNT_PARAMETER = "HubAccountId"
HUB_REGION_PARAMETER = "HubRegion"
REGION_PATTERN = r"^[a-z]{2}(-[a-z]+)+-\d$"
#: SSM parameters the base template writes and the function templates read (same account-region).
MEMBER_SSM_PREFIX = f"/{names.STACK_PREFIX}/member/"
MEMBER_SSM = {
    "MemberStateKeyArn": "state-key-arn",
    "MemberAlertTopicArn": "alert-topic-arn",
    "MemberAlertKeyArn": "alert-key-arn",
}
#: Longest region name allowed for in role names (`ap-southeast-5` is 14): a role name may have 64 characters.
LONGEST_REGION = 16


def family_stack_set(family: str) -> str:
    """`scheduled` -> `caretaker-member-scheduled` (a value of `registry.HANDLER_PACKAGES`)."""
    return f"{names.STACK_PREFIX}-member-{family}"


def member_role_name(spec: FunctionSpec, region: str = "${AWS::Region}") -> Sub:
    if len(spec.function_name) + 1 + LONGEST_REGION > 64:
        raise ValueError(f"{spec.name}: the member role name {spec.function_name}-<region> could pass IAM's 64 "
                         "characters; shorten the function name")
    return Sub(f"{spec.function_name}-{region}")


def _artifact_parameters(template: Template) -> tuple[Parameter, Parameter]:
    return add_artifact_parameters(
        template, max_length=63 - 1 - LONGEST_REGION,  # the bucket of a region is <ArtifactBucket>-<region>
        bucket_description="Base name of the artifact buckets: each region reads its code from "
                           "<ArtifactBucket>-<region> (build.py deploy --organization creates and fills them).",
        prefix_description="Key prefix of the artifacts in the artifact buckets (include a trailing slash).")


def _hub_account_parameter(template: Template) -> Parameter:
    return template.add_parameter(Parameter(
        HUB_ACCOUNT_PARAMETER, Type="String", AllowedPattern=r"^\d{12}$",
        Description="The account that deploys Caretaker to the organization (its hub): the owner of the "
                    "organization-wide alert bus, the only account the reader and operator roles trust.",
    ))


def _regional_bucket(bucket: Parameter) -> Sub:
    return Sub("${Bucket}-${AWS::Region}", Bucket=Ref(bucket))


def _forward_alarms(template: Template, hub_account: Parameter, hub_region: Parameter) -> None:
    """Caretaker's alarms in this account-region (errors, throttles, dead letters, failed runs and actions)
    go to the hub's organization-wide bus; the hub's bus policy admits the organization only."""
    bus_arn = Sub("arn:${AWS::Partition}:events:${HubRegion}:${HubAccountId}:event-bus/" + HUB_ALERT_BUS_NAME,
                  HubRegion=Ref(hub_region), HubAccountId=Ref(hub_account))
    role = template.add_resource(iam.Role(
        "AlertForwardRole",
        Description="EventBridge puts Caretaker's alarm events on the hub's organization-wide alert bus",
        AssumeRolePolicyDocument={"Version": POLICY_VERSION, "Statement": [{
            "Effect": "Allow", "Principal": {"Service": ["events.amazonaws.com"]}, "Action": ["sts:AssumeRole"],
            "Condition": {"StringEquals": {"aws:SourceAccount": Ref("AWS::AccountId")}}}]},
        Policies=[policy("put-on-hub-alert-bus",
                         [{"Effect": "Allow", "Action": ["events:PutEvents"], "Resource": [bus_arn]}])],
    ))
    template.add_resource(events.Rule(
        "AlertForwardRule",
        Description="Caretaker's alarm state changes to the hub's organization-wide alert bus",
        State="ENABLED",
        EventPattern={"source": ["aws.cloudwatch"], "detail-type": ["CloudWatch Alarm State Change"],
                      "detail": {"alarmName": [{"prefix": f"{names.STACK_PREFIX}-"}]}},
        Targets=[events.Target(Arn=bus_arn, Id="HubAlertBus", RoleArn=GetAtt(role, "Arn"))],
    ))


def base_template() -> StackDef:
    """`caretaker-member-base`: the account-region's state table, keys, alert topic, alarm forwarding."""
    template = Template(Description="Caretaker member base (every region): state table, keys, alert topic, "
                                    "alarm forwarding to the hub")
    hub_account = _hub_account_parameter(template)
    hub_region = template.add_parameter(Parameter(
        HUB_REGION_PARAMETER, Type="String", AllowedPattern=REGION_PATTERN,
        Description="Region of the hub's organization-wide alert bus."))
    skey = template.add_resource(state_key())
    template.add_resource(kms.Alias("StateKeyAlias", AliasName=STATE_KEY_ALIAS, TargetKeyId=Ref(skey)))
    table = state_table(skey)
    table.TableName = names.MEMBER_STATE_TABLE
    template.add_resource(table)
    akey = template.add_resource(alert_key())
    topic = alert_topic(akey)
    topic.TopicName = MEMBER_ALERT_TOPIC  # one per account-region, like the table
    template.add_resource(topic)
    published = {"MemberStateKeyArn": GetAtt(skey, "Arn"), "MemberAlertTopicArn": Ref(topic),
                 "MemberAlertKeyArn": GetAtt(akey, "Arn")}
    for title, value in published.items():
        template.add_resource(ssm.Parameter(
            f"{title}Parameter", Name=MEMBER_SSM_PREFIX + MEMBER_SSM[title], Type="String", Value=value,
            Description="Caretaker member: read by the member function stacks in this region"))
    _forward_alarms(template, hub_account, hub_region)
    template.add_output(Output(names.STATE_TABLE_NAME, Value=Ref(table), Description="This member's state table"))
    return StackDef(name=BASE_STACK_SET, template=template, parameters=parameter_defaults(template))


@dataclass(frozen=True)
class _Placement:
    """One function template: its stack set, scope and functions."""

    name: str
    scope: Scope
    specs: list[FunctionSpec]


def _other_role_names(placement: _Placement, placements: list[_Placement]) -> AWSHelperFn | str:
    """The fixed names of every other Caretaker function role of this account (`add_own_roles`)."""
    others = []
    for other in placements:
        if other is placement:
            continue
        # regional roles of this region; the account-scoped ones live in the home region
        region = "${HomeRegion}" if other.scope == "account" and placement.scope == "region" else "${AWS::Region}"
        others += [member_role_name(spec, region) for spec in other.specs]
    return Join(",", others) if others else ""


def function_template(placement: _Placement, placements: list[_Placement], code: str, layer: str,
                      bytecode: str) -> StackDef:
    """The functions of one placement and their layers, reading the base of their account-region through SSM.

    The layers are the template's own, not found through SSM like the keys and topic: a layer ARN read from a
    parameter a developer may overwrite would run their code with Caretaker's roles."""
    what = "account-wide functions and the hub's reader and operator roles" if placement.scope == "account" \
        else "regional functions"
    template = Template(Description=f"Caretaker member ({placement.scope} scope): {what}: "
                                    + ", ".join(s.name for s in placement.specs))
    bucket, prefix = _artifact_parameters(template)
    log_retention = add_log_retention_parameter(template)
    found = {title: template.add_parameter(Parameter(
        title, Type="AWS::SSM::Parameter::Value<String>", Default=MEMBER_SSM_PREFIX + suffix,
        Description=f"SSM parameter written by {BASE_STACK_SET} in this region"))
        for title, suffix in MEMBER_SSM.items()}
    reads_home = placement.scope == "region" and any(s.reads_own_roles for s in placement.specs) \
        and any(p.scope == "account" for p in placements)
    checks_home = any(HOME_REGION_PARAMETER in deployment_parameters(s) for s in placement.specs)
    if reads_home or checks_home:
        why = "whose roles the rules here trust as Caretaker's own" if reads_home else \
            "whose functions trigger-health expects there only"
        template.add_parameter(Parameter(
            HOME_REGION_PARAMETER, Type="String", AllowedPattern=REGION_PATTERN,
            Description=f"Region of {ACCOUNT_STACK_SET}, {why}."))
    if placement.scope == "account":
        hub_account = _hub_account_parameter(template)
        template.add_resource(reader_role(hub_account))
        template.add_resource(operator_role(hub_account))
    core = CoreValues(
        state_table_name=names.MEMBER_STATE_TABLE,
        state_table_arn=Sub("arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/"
                            + names.MEMBER_STATE_TABLE),
        alert_topic_arn=Ref(found["MemberAlertTopicArn"]), alert_key_arn=Ref(found["MemberAlertKeyArn"]),
        state_key_arn=Ref(found["MemberStateKeyArn"]))
    code_bucket = _regional_bucket(bucket)
    dependency = template.add_resource(layer_version("DependencyLayer", LAYER_NAME, "runtime dependencies", layer,
                                                     code_bucket, Ref(prefix)))
    bytecode_layer = template.add_resource(layer_version(
        "BytecodeLayer", BYTECODE_LAYER_NAME, "bytecode of its own modules", bytecode, code_bucket, Ref(prefix)))
    shared = SharedParameters(core=core, bucket=code_bucket, prefix=prefix, log_retention=log_retention,
                              layers=(Ref(dependency), Ref(bytecode_layer)), settings=packed_setting_values,
                              role_name=member_role_name)
    functions = [add_function(template, spec, shared, code) for spec in placement.specs]
    # the other templates' roles have fixed names: those names decide (DESIGN.md: exact ARNs)
    add_own_roles(template, functions, _other_role_names(placement, placements))
    return StackDef(name=placement.name, template=template, parameters=parameter_defaults(template),
                    functions=functions)


@dataclass(frozen=True)
class StackSetDef:
    stack: StackDef
    scope: Scope
    capabilities: tuple[str, ...] = CAPABILITIES


def render_members(code: str, layer: str, bytecode: str) -> list[StackSetDef]:
    """Every member template in deployment order: the base first (the others read its SSM parameters), then
    one per family of regional functions, then the account-scoped one."""
    declared = registry.discover()
    regional = specs_by_stack([s for s in declared if member_scope(s) == "region"])
    placements = [_Placement(family_stack_set(family), "region", specs) for family, specs in regional.items()]
    placements.append(_Placement(ACCOUNT_STACK_SET, "account", [s for s in declared if member_scope(s) == "account"]))
    placements = [p for p in placements if p.specs]
    return [StackSetDef(base_template(), "region"),
            *(StackSetDef(function_template(p, placements, code, layer, bytecode), p.scope) for p in placements)]
