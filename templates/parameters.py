"""Template parameters: the shared ones (artifacts, core stack, log retention) and one per setting."""

from __future__ import annotations

from troposphere import Parameter, Template

from automations.core.spec import FunctionSpec, Schedule, Setting, pascal
from templates import names

#: The values CloudWatch Logs accepts for a log group's RetentionInDays.
LOG_RETENTION_VALUES = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731,
                        1096, 1827, 2192, 2557, 2922, 3288, 3653)
DEFAULT_LOG_RETENTION_DAYS = 30


def add_artifact_parameters(
        template: Template, *, max_length: int = 63,
        bucket_description: str = "S3 bucket holding the build artifacts (dist/artifacts/*.zip).",
        prefix_description: str = "Key prefix of the artifacts in ArtifactBucket (include a trailing slash).",
) -> tuple[Parameter, Parameter]:
    """`ArtifactBucket` and `ArtifactPrefix`: every artifact's S3 key is the prefix + its file name."""
    bucket = template.add_parameter(Parameter(
        names.ARTIFACT_BUCKET, Type="String", MinLength=3, MaxLength=max_length,
        AllowedPattern=r"^[a-z0-9][a-z0-9.-]*[a-z0-9]$", Description=bucket_description,
    ))
    prefix = template.add_parameter(Parameter(
        names.ARTIFACT_PREFIX, Type="String", Default="", Description=prefix_description,
    ))
    return bucket, prefix


def add_core_stack_parameter(template: Template) -> Parameter:
    return template.add_parameter(Parameter(
        names.CORE_STACK_PARAMETER, Type="String", Default=names.CORE_STACK_NAME,
        AllowedPattern=r"^[A-Za-z][A-Za-z0-9-]*$", MaxLength=128,
        Description="Name of the deployed core stack whose exports (state table, alert topic, layer) "
                    "this stack imports.",
    ))


def _layer_parameter(template: Template, title: str, ssm_suffix: str, layer: str) -> Parameter:
    return template.add_parameter(Parameter(
        title, Type="AWS::SSM::Parameter::Value<String>", Default=names.layer_ssm_name(suffix=ssm_suffix),
        Description=f"SSM parameter holding the {layer} layer version ARN, written by the core stack "
                    f"(/<CoreStackName>{ssm_suffix}).",
    ))


def add_layer_parameters(template: Template) -> tuple[Parameter, Parameter]:
    """The dependency and bytecode layer version ARNs, read from the SSM parameters the core stack
    writes (see `names`)."""
    return (_layer_parameter(template, names.DEPENDENCY_LAYER_PARAMETER, names.LAYER_SSM_SUFFIX, "dependency"),
            _layer_parameter(template, names.BYTECODE_LAYER_PARAMETER, names.BYTECODE_LAYER_SSM_SUFFIX, "bytecode"))


def add_log_retention_parameter(template: Template) -> Parameter:
    return template.add_parameter(Parameter(
        names.LOG_RETENTION_DAYS, Type="Number", Default=str(DEFAULT_LOG_RETENTION_DAYS),
        AllowedValues=[str(v) for v in LOG_RETENTION_VALUES],
        Description="Days CloudWatch Logs keeps each function's logs.",
    ))


def add_other_stack_role_parameter(template: Template) -> Parameter:
    """`CaretakerRoleNames`: the role names of Caretaker's other stacks (`names.OTHER_STACK_ROLES`), which this
    stack's reactive functions trust as their own (with this account's /caretaker/ role ARN prefix: the exact
    ARNs)."""
    return template.add_parameter(Parameter(
        names.CARETAKER_ROLE_NAMES, Type="CommaDelimitedList", Default="",
        Description=f"Names of the roles of Caretaker's other stacks in this account (their {names.ROLE_NAMES_OUTPUT} "
                    "outputs; build.py deploy fills it). Events these roles cause are Caretaker's own and ignored "
                    "by the security rules. Empty: only this stack's own roles are trusted.",
    ))


def schedule_parameter_name(spec: FunctionSpec) -> str:
    return f"{pascal(spec.name)}Schedule"


def add_schedule_parameter(template: Template, spec: FunctionSpec, schedule: Schedule) -> Parameter:
    return template.add_parameter(Parameter(
        schedule_parameter_name(spec), Type="String", Default=schedule.expression,
        AllowedPattern=r"^(rate|cron)\(.+\)$",
        Description=f"EventBridge schedule of {spec.function_name} (rate(...) or cron(...), UTC).",
    ))


def setting_parameter_name(spec: FunctionSpec, setting: Setting) -> str:
    """`ebs-snapshots` + `retention_count` -> `EbsSnapshotsRetentionCount`."""
    return pascal(spec.name) + pascal(setting.name)


def setting_parameter(spec: FunctionSpec, setting: Setting) -> Parameter:
    """The parameter that carries one setting; its constraints mirror the setting's validation."""
    props: dict[str, object] = {
        "Default": setting.render(setting.default),
        "Description": f"{spec.function_name}: {setting.description}"[:4000],
    }
    if setting.kind in ("int", "float"):
        props["Type"] = "Number"
        if setting.minimum is not None:
            props["MinValue"] = _number(setting.minimum)
        if setting.maximum is not None:
            props["MaxValue"] = _number(setting.maximum)
    elif setting.kind == "bool":
        props["Type"] = "String"
        props["AllowedValues"] = ["true", "false"]
    elif setting.kind == "list":
        props["Type"] = "String"  # comma-separated; the runtime validates each item
    else:
        props["Type"] = "String"
        if setting.allowed is not None:
            props["AllowedValues"] = list(setting.allowed)
        if setting.pattern is not None:
            props["AllowedPattern"] = setting.pattern
    return Parameter(setting_parameter_name(spec, setting), **props)


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value
