"""Stack names, output names and the runtime/architecture every function shares.

Deploy uses these stack names by default; cross-stack imports are built from them
(`${CoreStackName}-<Output>`), so they are part of the deployment contract.
"""

from __future__ import annotations

STACK_PREFIX = "caretaker"
CORE_STACK_NAME = f"{STACK_PREFIX}-core"

RUNTIME = "python3.13"
ARCHITECTURE = "arm64"

#: Outputs of the core stack, each exported as `${AWS::StackName}-<name>`.
STATE_TABLE_NAME = "StateTableName"
STATE_TABLE_ARN = "StateTableArn"
ALERT_TOPIC_ARN = "AlertTopicArn"
#: The second topic: every notification again, in AWS Chatbot's custom notification format (Slack, Teams).
CHAT_TOPIC_ARN = "ChatTopicArn"
ALERT_KEY_ARN = "AlertKeyArn"
STATE_KEY_ARN = "StateKeyArn"
DEPENDENCY_LAYER_ARN = "DependencyLayerArn"
BYTECODE_LAYER_ARN = "BytecodeLayerArn"
CORE_EXPORTS = (STATE_TABLE_NAME, STATE_TABLE_ARN, ALERT_TOPIC_ARN, CHAT_TOPIC_ARN, ALERT_KEY_ARN, STATE_KEY_ARN,
                DEPENDENCY_LAYER_ARN, BYTECODE_LAYER_ARN)

#: SSM parameters (written by the core stack) that hold the current layer version ARNs. Function stacks
#: read them through `AWS::SSM::Parameter::Value<String>` parameters instead of `Fn::ImportValue`:
#: CloudFormation refuses to change an export another stack imports, and a layer's ARN changes with
#: every new version (every dependency update; for the bytecode layer, every code change).
LAYER_SSM_SUFFIX = "/dependency-layer-arn"
BYTECODE_LAYER_SSM_SUFFIX = "/bytecode-layer-arn"
DEPENDENCY_LAYER_PARAMETER = "DependencyLayerParameter"
BYTECODE_LAYER_PARAMETER = "BytecodeLayerParameter"


def layer_ssm_name(core_stack_name: str = CORE_STACK_NAME, suffix: str = LAYER_SSM_SUFFIX) -> str:
    return f"/{core_stack_name}{suffix}"


#: Template parameters shared by the stacks that hold Lambda code.
ARTIFACT_BUCKET = "ArtifactBucket"
ARTIFACT_PREFIX = "ArtifactPrefix"
CORE_STACK_PARAMETER = "CoreStackName"
LOG_RETENTION_DAYS = "LogRetentionDays"
#: The names of the roles of Caretaker's other stacks, trusted as Caretaker's own by exact ARN (CommaDelimitedList;
#: deploy fills it from the `ROLE_NAMES_OUTPUT` of the stacks deployed before). Role ids are no longer passed: they
#: were redundant with the exact ARNs and did not fit Lambda's 4 KB environment beside them.
CARETAKER_ROLE_NAMES = "CaretakerRoleNames"
#: Output of every function stack: the names of its functions' roles, comma-separated.
ROLE_NAMES_OUTPUT = "RoleNames"
#: Each list of the other stacks' roles a reactive stack takes, and the output of every stack it is made of.
OTHER_STACK_ROLES: dict[str, str] = {CARETAKER_ROLE_NAMES: ROLE_NAMES_OUTPUT}


def function_stack_name(stack_key: str) -> str:
    """`scheduled` -> `caretaker-scheduled` (the key is a value of `registry.HANDLER_PACKAGES`)."""
    return f"{STACK_PREFIX}-{stack_key}"


def service_token_export(resource_type: str) -> str:
    """`Custom::AccountPasswordPolicy` -> `AccountPasswordPolicyServiceToken`: the provider stack exports
    each provider's ServiceToken as `${AWS::StackName}-<this>`; consumers import that name."""
    return resource_type.removeprefix("Custom::") + "ServiceToken"


# Across an organization (docs/organizations.md): the names the hub stack, the member stack sets and the CLI share.
#: The stack deployed in the account that deploys (management or delegated administrator).
HUB_STACK_NAME = f"{STACK_PREFIX}-hub"
#: Hub stack output: the member regions, comma-separated (the CLI's default `--regions` for `--org`).
HUB_REGIONS_OUTPUT = "MemberRegions"
#: The fixed TableName of a member's state table (one per member account-region; table names are regional).
MEMBER_STATE_TABLE = f"{STACK_PREFIX}-state"
#: Account-scoped member role the CLI assumes to read the member's state tables; trusts the hub account only.
READER_ROLE_NAME = f"{STACK_PREFIX}-reader"
#: Account-scoped member role for `mode --org`: writes the run-time mode-override items only; trusts the hub only.
OPERATOR_ROLE_NAME = f"{STACK_PREFIX}-operator"
