"""The member templates StackSets deploy into every target account: one per region, one per account.

- `caretaker-member-region` (scope `region`, every target region): the account-region's own state table
  (`names.MEMBER_STATE_TABLE`), its keys, alert topic and layers, every regional function, and the rule that
  forwards Caretaker's alarms to the hub's organization-wide alert bus.
- `caretaker-member-account` (scope `account`, the home region only): the functions that act on account-wide
  things (`member_scope`), and the `caretaker-reader` / `caretaker-operator` roles the hub's CLI assumes.
  It uses the home region's state table, keys, topic and layers (a second `caretaker-state` table cannot
  exist in one account-region), found through SSM parameters the regional template writes under fixed names.

Neither imports anything (`Fn::ImportValue` cannot cross stack sets). Function roles have fixed names with the
region in them (`caretaker-<function>-<region>`): IAM names are global, so the same template in two regions of
one account needs two names, and fixed names let each template trust the other's roles as Caretaker's own.
Settings travel one parameter per function (`templates.member_settings`), which keeps both templates far
under CloudFormation's 200 parameters as functions are added.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from troposphere import AWSHelperFn, GetAtt, Join, Output, Parameter, Ref, Sub, Template, events, iam, kms, ssm

from automations.core import registry
from automations.core.spec import CloudTrail, Cron, EventPattern, FunctionSpec, Rate, Rotation
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
from templates.functions import CoreValues, SharedParameters, add_function, add_own_role_ids
from templates.hub import HUB_ALERT_BUS_NAME
from templates.member_settings import packed_setting_values
from templates.parameters import add_log_retention_parameter
from templates.policies import POLICY_VERSION
from templates.stacks import StackDef, parameter_defaults

Scope = Literal["account", "region"]

REGION_STACK_SET = f"{names.STACK_PREFIX}-member-region"
ACCOUNT_STACK_SET = f"{names.STACK_PREFIX}-member-account"
#: StackSet-created roles have fixed names (the reader and operator, and every function's: see above).
CAPABILITIES = ["CAPABILITY_NAMED_IAM"]

HUB_ACCOUNT_PARAMETER = "HubAccountId"
HUB_REGION_PARAMETER = "HubRegion"
HOME_REGION_PARAMETER = "HomeRegion"
STATE_KEY_ALIAS = f"alias/{names.MEMBER_STATE_TABLE}"
#: SSM parameters the regional member template writes, the account-scoped one reads (same account-region).
MEMBER_SSM_PREFIX = f"/{names.STACK_PREFIX}/member/"
MEMBER_SSM = {
    "MemberStateKeyArn": "state-key-arn",
    "MemberAlertTopicArn": "alert-topic-arn",
    "MemberAlertKeyArn": "alert-key-arn",
    "MemberDependencyLayerArn": "dependency-layer-arn",
    "MemberBytecodeLayerArn": "bytecode-layer-arn",
}
#: The partition key of the run-time mode-override items (`automations.core.state_log.set_mode_override`);
#: the operator role may write no other (tests/organizations checks it against the state log).
MODE_OVERRIDE_PK = "CONFIG"
#: Longest region name we allow for in role names (`ap-southeast-5` is 14): a role name may have 64 characters.
LONGEST_REGION = 16


def member_scope(spec: FunctionSpec) -> Scope:
    """Where a function runs in an organization: once per account (home region) or in every region.

    Account-wide: Secrets Manager rotation functions; rules on IAM's CloudTrail events (IAM is global, its
    events reach EventBridge in us-east-1 only); schedules that declare IAM actions (IAM users and keys are
    account-wide: the same run in three regions would rotate a key three times). Everything else is regional;
    custom resource providers stay regional because the stacks that call them are.
    """
    trigger = spec.trigger
    if isinstance(trigger, Rotation):
        return "account"
    if isinstance(trigger, (CloudTrail, EventPattern)):
        return "account" if trigger.pattern().get("source") == ["aws.iam"] else "region"
    if isinstance(trigger, (Rate, Cron)) and any(a.startswith("iam:") for p in spec.permissions for a in p.actions):
        return "account"
    return "region"


def member_role_name(spec: FunctionSpec, region: str = "${AWS::Region}") -> Sub:
    return Sub(f"{spec.function_name}-{region}")


def _role_name_fits(spec: FunctionSpec) -> None:
    if len(spec.function_name) + 1 + LONGEST_REGION > 64:
        raise ValueError(f"{spec.name}: the member role name {spec.function_name}-<region> could pass IAM's 64 "
                         "characters; shorten the function name")


@dataclass(frozen=True)
class _Common:
    bucket: Parameter
    prefix: Parameter
    log_retention: Parameter
    hub_account: Parameter


def _common_parameters(template: Template) -> _Common:
    bucket = template.add_parameter(Parameter(
        names.ARTIFACT_BUCKET, Type="String", MinLength=3, MaxLength=46,
        AllowedPattern=r"^[a-z0-9][a-z0-9.-]*[a-z0-9]$",
        Description="Base name of the artifact buckets: each region reads its code from <ArtifactBucket>-<region> "
                    "(build.py deploy --organization creates and fills them).",
    ))
    prefix = template.add_parameter(Parameter(
        names.ARTIFACT_PREFIX, Type="String", Default="",
        Description="Key prefix of the artifacts in the artifact buckets (include a trailing slash).",
    ))
    log_retention = add_log_retention_parameter(template)
    hub = template.add_parameter(Parameter(
        HUB_ACCOUNT_PARAMETER, Type="String", AllowedPattern=r"^\d{12}$",
        Description="The account that deploys Caretaker to the organization (its hub); the only one the "
                    "reader and operator roles trust, and the owner of the organization-wide alert bus.",
    ))
    return _Common(bucket=bucket, prefix=prefix, log_retention=log_retention, hub_account=hub)


def _regional_bucket(common: _Common) -> Sub:
    return Sub("${Bucket}-${AWS::Region}", Bucket=Ref(common.bucket))


def _add_functions(template: Template, specs: list[FunctionSpec], shared: SharedParameters, code: str,
                   other_role_names: AWSHelperFn | str) -> StackDef:
    for spec in specs:
        _role_name_fits(spec)
    functions = [add_function(template, spec, shared, code) for spec in specs]
    # other ids are unknown (generated by the other stack set, per account): the names decide (DESIGN.md)
    add_own_role_ids(template, functions, "", other_role_names)
    return StackDef(name="", template=template, parameters={}, functions=functions)


def _role_names(specs: list[FunctionSpec], region: str) -> AWSHelperFn | str:
    if not specs:
        return ""
    return Join(",", [member_role_name(spec, region) for spec in specs])


def _forward_alarms(template: Template, common: _Common, hub_region: Parameter) -> None:
    """Caretaker's alarms in this account-region (errors, throttles, dead letters, failed runs and actions)
    go to the hub's organization-wide bus; the hub's bus policy admits the organization only."""
    bus_arn = Sub("arn:${AWS::Partition}:events:${HubRegion}:${HubAccountId}:event-bus/" + HUB_ALERT_BUS_NAME,
                  HubRegion=Ref(hub_region), HubAccountId=Ref(common.hub_account))
    role = template.add_resource(iam.Role(
        "AlertForwardRole",
        Description="EventBridge puts Caretaker's alarm events on the hub's organization-wide alert bus",
        AssumeRolePolicyDocument={"Version": POLICY_VERSION, "Statement": [{
            "Effect": "Allow", "Principal": {"Service": ["events.amazonaws.com"]}, "Action": ["sts:AssumeRole"],
            "Condition": {"StringEquals": {"aws:SourceAccount": Ref("AWS::AccountId")}}}]},
        Policies=[_policy("put-on-hub-alert-bus",
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


def region_template(specs: list[FunctionSpec], account_specs: list[FunctionSpec], code: str, layer: str,
                    bytecode: str) -> StackDef:
    """`caretaker-member-region`: the account-region's own core resources and its regional functions."""
    template = Template(Description="Caretaker member (every region): state table, keys, alert topic, layers, "
                                    "regional functions: " + ", ".join(s.name for s in specs))
    common = _common_parameters(template)
    hub_region = template.add_parameter(Parameter(
        HUB_REGION_PARAMETER, Type="String", AllowedPattern=r"^[a-z]{2}(-[a-z]+)+-\d$",
        Description="Region of the hub's organization-wide alert bus."))
    template.add_parameter(Parameter(
        HOME_REGION_PARAMETER, Type="String", AllowedPattern=r"^[a-z]{2}(-[a-z]+)+-\d$",
        Description=f"Region of the account-scoped member stack ({ACCOUNT_STACK_SET}), whose roles the "
                    "regional rules trust as Caretaker's own."))
    skey = template.add_resource(state_key())
    template.add_resource(kms.Alias("StateKeyAlias", AliasName=STATE_KEY_ALIAS, TargetKeyId=Ref(skey)))
    table = state_table(skey)
    table.TableName = names.MEMBER_STATE_TABLE
    template.add_resource(table)
    akey = template.add_resource(alert_key())
    topic = template.add_resource(alert_topic(akey))
    bucket = _regional_bucket(common)
    dependency = template.add_resource(layer_version("DependencyLayer", LAYER_NAME, "runtime dependencies", layer,
                                                     bucket, Ref(common.prefix)))
    bytecode_layer = template.add_resource(layer_version(
        "BytecodeLayer", BYTECODE_LAYER_NAME, "bytecode of its own modules", bytecode, bucket, Ref(common.prefix)))
    published = {"MemberStateKeyArn": GetAtt(skey, "Arn"), "MemberAlertTopicArn": Ref(topic),
                 "MemberAlertKeyArn": GetAtt(akey, "Arn"), "MemberDependencyLayerArn": Ref(dependency),
                 "MemberBytecodeLayerArn": Ref(bytecode_layer)}
    for title, value in published.items():
        template.add_resource(ssm.Parameter(
            f"{title}Parameter", Name=MEMBER_SSM_PREFIX + MEMBER_SSM[title], Type="String", Value=value,
            Description=f"Caretaker member: read by {ACCOUNT_STACK_SET} in this region"))
    _forward_alarms(template, common, hub_region)
    core = CoreValues(state_table_name=Ref(table), state_table_arn=GetAtt(table, "Arn"), alert_topic_arn=Ref(topic),
                      alert_key_arn=GetAtt(akey, "Arn"), state_key_arn=GetAtt(skey, "Arn"))
    shared = SharedParameters(core=core, bucket=bucket, prefix=common.prefix, log_retention=common.log_retention,
                              layers=(Ref(dependency), Ref(bytecode_layer)), settings=packed_setting_values,
                              role_name=member_role_name)
    built = _add_functions(template, specs, shared, code, _role_names(account_specs, "${HomeRegion}"))
    template.add_output(Output(names.STATE_TABLE_NAME, Value=Ref(table), Description="This member's state table"))
    return StackDef(name=REGION_STACK_SET, template=template, parameters=parameter_defaults(template),
                    functions=built.functions)


def _member_tables(suffix: str = "") -> Sub:
    return Sub("arn:${AWS::Partition}:dynamodb:*:${AWS::AccountId}:table/" + names.MEMBER_STATE_TABLE + suffix)


def _state_key_via_dynamodb(actions: list[str]) -> dict[str, object]:
    """The member's state keys (every region), only through DynamoDB, only the keys aliased as Caretaker's."""
    return {"Effect": "Allow", "Action": actions,
            "Resource": [Sub("arn:${AWS::Partition}:kms:*:${AWS::AccountId}:key/*")],
            "Condition": {"StringLike": {"kms:ViaService": "dynamodb.*.amazonaws.com"},
                          "ForAnyValue:StringEquals": {"kms:ResourceAliases": [STATE_KEY_ALIAS]}}}


def _hub_trust(common: _Common) -> dict[str, object]:
    return {"Version": POLICY_VERSION, "Statement": [{
        "Effect": "Allow", "Action": ["sts:AssumeRole"],
        "Principal": {"AWS": [Sub("arn:${AWS::Partition}:iam::${Hub}:root", Hub=Ref(common.hub_account))]}}]}


def _policy(name: str, statements: list[dict[str, object]]) -> iam.Policy:
    return iam.Policy(PolicyName=name, PolicyDocument={"Version": POLICY_VERSION, "Statement": statements})


def reader_role(common: _Common) -> iam.Role:
    """`caretaker-reader`: reads this member's state tables (all regions), nothing else; trusts the hub only."""
    tables = [_member_tables(), _member_tables("/index/*")]
    return iam.Role(
        "ReaderRole", RoleName=names.READER_ROLE_NAME,
        Description="Caretaker hub reads this account's state tables (report --org); read-only",
        AssumeRolePolicyDocument=_hub_trust(common),
        Policies=[_policy(names.READER_ROLE_NAME, [
            {"Effect": "Allow", "Resource": tables,
             "Action": ["dynamodb:Query", "dynamodb:GetItem", "dynamodb:Scan", "dynamodb:DescribeTable"]},
            _state_key_via_dynamodb(["kms:Decrypt"]),
        ])],
    )


def operator_role(common: _Common) -> iam.Role:
    """`caretaker-operator`: writes only the run-time mode-override items (`mode --org`); trusts the hub only."""
    return iam.Role(
        "OperatorRole", RoleName=names.OPERATOR_ROLE_NAME,
        Description="Caretaker hub sets run-time mode overrides in this account's state tables (mode --org)",
        AssumeRolePolicyDocument=_hub_trust(common),
        Policies=[_policy(names.OPERATOR_ROLE_NAME, [
            {"Effect": "Allow", "Resource": [_member_tables()],
             "Action": ["dynamodb:PutItem", "dynamodb:UpdateItem"],
             "Condition": {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": [MODE_OVERRIDE_PK]}}},
            _state_key_via_dynamodb(["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"]),
        ])],
    )


def account_template(specs: list[FunctionSpec], region_specs: list[FunctionSpec], code: str) -> StackDef:
    """`caretaker-member-account`: account-wide functions and the hub's reader and operator roles."""
    template = Template(Description="Caretaker member (home region, once per account): reader and operator roles, "
                                    "account-wide functions: " + ", ".join(s.name for s in specs))
    common = _common_parameters(template)
    found: dict[str, Parameter] = {}
    for title, suffix in MEMBER_SSM.items():
        found[title] = template.add_parameter(Parameter(
            title, Type="AWS::SSM::Parameter::Value<String>", Default=MEMBER_SSM_PREFIX + suffix,
            Description=f"SSM parameter written by {REGION_STACK_SET} in this region"))
    template.add_resource(reader_role(common))
    template.add_resource(operator_role(common))
    core = CoreValues(
        state_table_name=names.MEMBER_STATE_TABLE,
        state_table_arn=Sub("arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/"
                            + names.MEMBER_STATE_TABLE),
        alert_topic_arn=Ref(found["MemberAlertTopicArn"]), alert_key_arn=Ref(found["MemberAlertKeyArn"]),
        state_key_arn=Ref(found["MemberStateKeyArn"]))
    shared = SharedParameters(core=core, bucket=_regional_bucket(common), prefix=common.prefix,
                              log_retention=common.log_retention,
                              layers=(Ref(found["MemberDependencyLayerArn"]), Ref(found["MemberBytecodeLayerArn"])),
                              settings=packed_setting_values, role_name=member_role_name)
    built = _add_functions(template, specs, shared, code, _role_names(region_specs, "${AWS::Region}"))
    return StackDef(name=ACCOUNT_STACK_SET, template=template, parameters=parameter_defaults(template),
                    functions=built.functions)


@dataclass(frozen=True)
class StackSetDef:
    stack: StackDef
    scope: Scope
    capabilities: tuple[str, ...] = tuple(CAPABILITIES)


def render_members(code: str, layer: str, bytecode: str) -> list[StackSetDef]:
    """Both member templates, in deployment order (the regional one first: the account one reads its SSM)."""
    declared = registry.discover()
    regional = [s for s in declared if member_scope(s) == "region"]
    account = [s for s in declared if member_scope(s) == "account"]
    return [StackSetDef(region_template(regional, account, code, layer, bytecode), "region"),
            StackSetDef(account_template(account, regional, code), "account")]

