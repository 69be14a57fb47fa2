"""Everything one function needs, derived only from its `FunctionSpec`.

Per function: an IAM role with an inline policy (`spec.all_permissions`), a log group, a
dead-letter queue, the Lambda function, its async-invoke configuration, its alarms (`templates.alarms`),
one template parameter per setting, and its trigger (see `templates.triggers`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from troposphere import AWSHelperFn, AWSObject, GetAtt, ImportValue, Join, Output, Parameter, Ref, Sub, Template
from troposphere.awslambda import (
    Code,
    DeadLetterConfig,
    DestinationConfig,
    Environment,
    EventInvokeConfig,
    Function,
    LoggingConfig,
    OnFailure,
)
from troposphere.cloudwatch import Alarm
from troposphere.iam import Policy, Role
from troposphere.logs import LogGroup
from troposphere.sqs import Queue

from automations import bytecode
from automations.core.notify import CHAT_NOTIFICATIONS_ENV
from automations.core.spec import (
    OWN_ROLE_ARN_PREFIX_ENV,
    OWN_ROLE_NAMES_ENV,
    ROLE_PATH,
    FunctionSpec,
    pascal,
)
from templates import names
from templates.alarms import function_alarms
from templates.parameters import setting_parameter
from templates.policies import Binding, assume_role_document, policy_document
from templates.triggers import render_trigger

SERVICE_NAME = "caretaker"
METRICS_NAMESPACE = "Caretaker"
DLQ_RETENTION_SECONDS = 14 * 24 * 3600
MAX_ASYNC_RETRIES = 2


@dataclass(frozen=True)
class CoreValues:
    """Where a function finds Caretaker's shared resources: the core stack's exports in a single account,
    a member's own resources in an organization (`templates.member`)."""

    state_table_name: AWSHelperFn | str
    state_table_arn: AWSHelperFn | str
    alert_topic_arn: AWSHelperFn | str
    alert_key_arn: AWSHelperFn | str
    state_key_arn: AWSHelperFn | str


def core_imports(core_stack: Parameter) -> CoreValues:
    """The single-account stacks' values: `Fn::ImportValue` of the core stack's exports."""
    return CoreValues(
        state_table_name=core_import(core_stack, names.STATE_TABLE_NAME),
        state_table_arn=core_import(core_stack, names.STATE_TABLE_ARN),
        alert_topic_arn=core_import(core_stack, names.ALERT_TOPIC_ARN),
        alert_key_arn=core_import(core_stack, names.ALERT_KEY_ARN),
        state_key_arn=core_import(core_stack, names.STATE_KEY_ARN),
    )


#: (template, spec) -> each setting's template value by setting name; adds the parameters it needs.
SettingValues = Callable[[Template, FunctionSpec], dict[str, AWSHelperFn]]


def setting_parameters(template: Template, spec: FunctionSpec) -> dict[str, AWSHelperFn]:
    """The single-account form: one template parameter per setting (`templates.parameters`)."""
    return {setting.name: Ref(template.add_parameter(setting_parameter(spec, setting)))
            for setting in spec.all_settings}


@dataclass(frozen=True)
class SharedParameters:
    """What every function of a stack shares: where the core resources, code and layers are."""

    core: CoreValues
    #: the bucket the code is read from (a member's is per region: `templates.member`)
    bucket: AWSHelperFn
    prefix: Parameter
    log_retention: Parameter
    layers: tuple[AWSHelperFn, AWSHelperFn]
    settings: SettingValues = field(default=setting_parameters)
    #: the role's fixed name, when it has one (member roles: `templates.member`); None = generated
    role_name: Callable[[FunctionSpec], AWSHelperFn] | None = None


@dataclass(frozen=True)
class EnvVar:
    """One environment variable: its template value and its manifest default (a string)."""

    name: str
    value: AWSHelperFn | str
    default: str


@dataclass(frozen=True)
class FunctionResources:
    """The template objects made for one function (tests and the manifest look them up here)."""

    spec: FunctionSpec
    role: Role
    log_group: LogGroup
    dead_letter_queue: Queue
    function: Function
    invoke_config: EventInvokeConfig
    alarms: list[Alarm]
    trigger: list[AWSObject]
    #: each setting's template value (a parameter's Ref, or a field of a member's settings parameter)
    setting_values: dict[str, AWSHelperFn]
    environment: list[EnvVar]


def core_import(core_stack: Parameter, output: str) -> ImportValue:
    """`Fn::ImportValue: !Sub "${CoreStackName}-<output>"`."""
    return ImportValue(Sub("${" + core_stack.title + "}-" + output))


def log_group_name(spec: FunctionSpec) -> str:
    return f"/aws/lambda/{spec.function_name}"


def function_arn(spec: FunctionSpec) -> Join:
    """The function's ARN built from its fixed name: binding GetAtt would make role and function a cycle."""
    return Join("", ["arn:", Ref("AWS::Partition"), ":lambda:", Ref("AWS::Region"), ":",
                     Ref("AWS::AccountId"), ":function:", spec.function_name])


def policy_bindings(spec: FunctionSpec, shared: SharedParameters, log_group: LogGroup,
                    dead_letter_queue: Queue) -> dict[str, Binding]:
    """Values of the `spec.RESOURCE_VARIABLES` placeholders for this function."""
    return {
        "StateTableArn": shared.core.state_table_arn,
        "AlertTopicArn": shared.core.alert_topic_arn,
        "AlertKeyArn": shared.core.alert_key_arn,
        "StateKeyArn": shared.core.state_key_arn,
        "DeadLetterQueueArn": GetAtt(dead_letter_queue, "Arn"),
        "LogGroupArn": GetAtt(log_group, "Arn"),
        "FunctionArn": function_arn(spec),
    }


def environment(spec: FunctionSpec, shared: SharedParameters,
                setting_values: dict[str, AWSHelperFn]) -> list[EnvVar]:
    """The function's environment. The state table and topic defaults are resolved at invoke time."""
    env = [
        EnvVar("CARETAKER_FUNCTION", spec.name, spec.name),
        EnvVar(bytecode.ENV_VAR, bytecode.LAMBDA_DIR, bytecode.LAMBDA_DIR),  # where the bytecode layer lands
        EnvVar("CARETAKER_STATE_TABLE", shared.core.state_table_name, ""),
        EnvVar("CARETAKER_ALERT_TOPIC_ARN", shared.core.alert_topic_arn, ""),
        EnvVar(CHAT_NOTIFICATIONS_ENV, "on", "on"),  # the chat topic, named after the alert topic
        EnvVar("POWERTOOLS_SERVICE_NAME", SERVICE_NAME, SERVICE_NAME),
        EnvVar("POWERTOOLS_METRICS_NAMESPACE", METRICS_NAMESPACE, METRICS_NAMESPACE),
    ]
    for setting in spec.all_settings:
        env.append(EnvVar(setting.env_name, setting_values[setting.name], setting.render(setting.default)))
    return env


def _role(spec: FunctionSpec, bindings: dict[str, Binding], name: AWSHelperFn | None) -> Role:
    extra: dict[str, object] = {} if name is None else {"RoleName": name}
    return Role(
        f"{pascal(spec.name)}Role",
        **extra,
        Description=f"Execution role of {spec.function_name}",
        Path=ROLE_PATH,  # groups them (an SCP can reserve it); rules trust exact ARNs, see add_own_roles
        AssumeRolePolicyDocument=assume_role_document("lambda.amazonaws.com"),
        Policies=[Policy(PolicyName=spec.function_name,
                         PolicyDocument=policy_document(spec.all_permissions, bindings))],
    )


def add_function(template: Template, spec: FunctionSpec, shared: SharedParameters,
                 code_artifact_name: str) -> FunctionResources:
    """Add one function and everything derived from it to `template`."""
    prefix = pascal(spec.name)
    setting_values = shared.settings(template, spec)
    log_group = template.add_resource(LogGroup(
        f"{prefix}LogGroup", LogGroupName=log_group_name(spec), RetentionInDays=Ref(shared.log_retention),
    ))
    # Failed events can carry secret-bearing properties: encrypted with Caretaker's state key, which the
    # role may use through SQS (spec.BASELINE_PERMISSIONS); Lambda writes the queue with the role.
    dead_letter_queue = template.add_resource(Queue(
        f"{prefix}DeadLetterQueue", KmsMasterKeyId=shared.core.state_key_arn,
        MessageRetentionPeriod=DLQ_RETENTION_SECONDS,
    ))
    role_name = None if shared.role_name is None else shared.role_name(spec)
    role = template.add_resource(_role(spec, policy_bindings(spec, shared, log_group, dead_letter_queue), role_name))
    env = environment(spec, shared, setting_values)
    function = template.add_resource(Function(
        spec.logical_id,
        FunctionName=spec.function_name,
        Description=spec.description[:256],
        Runtime=names.RUNTIME,
        Architectures=[names.ARCHITECTURE],
        Handler=spec.handler,
        Timeout=spec.timeout,
        MemorySize=spec.memory,
        Role=GetAtt(role, "Arn"),
        Code=Code(S3Bucket=shared.bucket, S3Key=Join("", [Ref(shared.prefix), code_artifact_name])),
        Layers=list(shared.layers),
        Environment=Environment(Variables={var.name: var.value for var in env}),
        DeadLetterConfig=DeadLetterConfig(TargetArn=GetAtt(dead_letter_queue, "Arn")),
        # The name, not Ref: DependsOn orders creation, and a Ref next to it would be redundant (W3005).
        LoggingConfig=LoggingConfig(LogGroup=log_group_name(spec)),
        DependsOn=[log_group],
    ))
    invoke_config = template.add_resource(EventInvokeConfig(
        f"{prefix}EventInvokeConfig",
        FunctionName=Ref(function),
        Qualifier="$LATEST",
        MaximumRetryAttempts=MAX_ASYNC_RETRIES,
        DestinationConfig=DestinationConfig(OnFailure=OnFailure(Destination=GetAtt(dead_letter_queue, "Arn"))),
    ))
    alarms = [template.add_resource(alarm) for alarm in function_alarms(
        spec, function, dead_letter_queue, shared.core.alert_topic_arn)]
    trigger = render_trigger(template, spec, function)
    template.add_output(Output(f"{prefix}FunctionArn", Description=f"ARN of {spec.function_name}",
                               Value=GetAtt(function, "Arn")))
    return FunctionResources(
        spec=spec, role=role, log_group=log_group, dead_letter_queue=dead_letter_queue, function=function,
        invoke_config=invoke_config, alarms=alarms, trigger=trigger,
        setting_values=setting_values, environment=env,
    )


#: Declared actions whose name starts with one of these only read (Describe*, List*, Get*).
READ_ACTION_PREFIXES = ("Describe", "List", "Get")


def makes_changes(spec: FunctionSpec) -> bool:
    """Whether the function declares an action that is not a read (its baseline writes go to Caretaker's own state
    table, topic and logs only). A read-only function cannot cause an event a reactive rule reacts to, so its role
    is not among the roles the rules trust as their own: trusting it would only widen what they ignore (and take
    87 bytes of every reactive rule's 4 KB environment)."""
    return any(not action.partition(":")[2].startswith(READ_ACTION_PREFIXES)
               for permission in spec.permissions for action in permission.actions)


def add_own_roles(template: Template, functions: list[FunctionResources],
                     other_names: AWSHelperFn | str | None) -> None:
    """Give every function of the stack that reads it (`spec.reads_own_roles`) the exact ARNs of Caretaker's
    own roles, compactly: `CARETAKER_OWN_ROLE_ARN_PREFIX` (this account's `/caretaker/` role path) and
    `CARETAKER_OWN_ROLE_NAMES`, the names of this stack's roles and `other_names` (the `CaretakerRoleNames`
    parameter joined, which the stack has when one of its functions reads them; a member passes its fixed
    names); output this stack's as `RoleNames`.

    Added after all functions exist: each function then depends on every role of its stack (roles depend on no
    function, so there is no cycle). The manifest default is "" (known only at deploy). The roles' unique ids are
    not passed (nor read): the exact ARNs are the contract, and with 40 functions the two lists passed Lambda's
    4 KB environment (tests/templates/test_own_roles.py). Only the roles of
    functions that make changes (`makes_changes`) are trusted and output.
    """
    readers = [resources for resources in functions if resources.spec.reads_own_roles]
    functions = [resources for resources in functions if makes_changes(resources.spec)]
    if readers:
        if other_names is None:
            raise ValueError("a stack whose functions read the own roles needs the CaretakerRoleNames parameter")
        role_names = Join(",", [*(Ref(r.role) for r in functions), other_names])
        prefix = Sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:role" + ROLE_PATH)
        for resources in readers:
            for name, variable in ((OWN_ROLE_NAMES_ENV, role_names), (OWN_ROLE_ARN_PREFIX_ENV, prefix)):
                resources.function.Environment.Variables[name] = variable
                resources.environment.append(EnvVar(name, variable, ""))
    template.add_output(Output(names.ROLE_NAMES_OUTPUT, Value=Join(",", [Ref(r.role) for r in functions]),
                               Description="Names of this stack's function roles (for CaretakerRoleNames of "
                                           "Caretaker's other stacks)"))
