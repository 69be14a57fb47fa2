"""Shims for two moto 5.2.5 gaps that deploying our templates through change sets runs into.

Applied only while the embedded emulator runs (demo and integration tests); never in Lambda.

1. moto creates the stacks of CREATE change sets without the account's export table, does not
   register their exports, and does not rebuild their outputs after execution (its `create_stack`
   path does all three). Real CloudFormation has no such difference, so `builder.deploy` keeps using
   change sets and the embedded emulator patches moto's in-process backend while it runs.
2. `Ref` to an `AWS::Lambda::LayerVersion` yields moto's Python object instead of the version ARN
   (the model has no `physical_resource_id`), so the exported layer ARN would be an object repr.
3. A Lambda function's `DeadLetterConfig` is dropped: `GetFunctionConfiguration` does not return it (real
   Lambda does), which the trigger-health canary reads (`lambda_dead_letter_config`, also used by its tests).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from moto.awslambda.models import LambdaFunction, LayerVersion
from moto.cloudformation.models import CloudFormationBackend


@contextmanager
def lambda_dead_letter_config() -> Iterator[None]:
    """Keep a function's DeadLetterConfig and return it from GetFunctionConfiguration; undo on exit."""
    original_init, original_config = LambdaFunction.__init__, LambdaFunction.get_configuration

    def init(self: Any, account_id: str, spec: dict[str, Any], *args: Any, **kwargs: Any) -> None:
        original_init(self, account_id, spec, *args, **kwargs)
        self.caretaker_dead_letter_config = spec.get("DeadLetterConfig")

    def get_configuration(self: Any, on_create: bool = False) -> dict[str, Any]:
        config: dict[str, Any] = original_config(self, on_create)
        if getattr(self, "caretaker_dead_letter_config", None):
            config["DeadLetterConfig"] = self.caretaker_dead_letter_config
        return config

    original_from_cfn = vars(LambdaFunction)["create_from_cloudformation_json"]

    def from_cloudformation(cls: Any, resource_name: str, cloudformation_json: dict[str, Any], *args: Any,
                            **kwargs: Any) -> Any:
        function = original_from_cfn.__func__(cls, resource_name, cloudformation_json, *args, **kwargs)
        function.caretaker_dead_letter_config = cloudformation_json.get("Properties", {}).get("DeadLetterConfig")
        return function

    setattr(LambdaFunction, "__init__", init)  # noqa: B010 (setattr: assigning a method is what this does)
    setattr(LambdaFunction, "get_configuration", get_configuration)  # noqa: B010
    setattr(LambdaFunction, "create_from_cloudformation_json", classmethod(from_cloudformation))  # noqa: B010
    try:
        yield
    finally:
        setattr(LambdaFunction, "__init__", original_init)  # noqa: B010
        setattr(LambdaFunction, "get_configuration", original_config)  # noqa: B010
        setattr(LambdaFunction, "create_from_cloudformation_json", original_from_cfn)  # noqa: B010


@contextmanager
def moto_fixes() -> Iterator[None]:
    """Patch moto's in-process models for the gaps above; undo on exit."""
    original_create = CloudFormationBackend.create_change_set
    original_execute = CloudFormationBackend.execute_change_set

    def create_change_set(self: CloudFormationBackend, *args: Any, **kwargs: Any) -> tuple[str, str]:
        change_set_id, stack_id = original_create(self, *args, **kwargs)
        stack = self.stacks[stack_id]
        stack.cross_stack_resources = self.exports
        stack.resource_map.cross_stack_resources = self.exports
        return change_set_id, stack_id

    def execute_change_set(self: CloudFormationBackend, change_set_name: str,
                           stack_name: str | None = None) -> None:
        original_execute(self, change_set_name, stack_name)
        change_set = self.describe_change_set(change_set_name)
        assert change_set is not None
        stack = self.stacks[change_set.stack_id]
        stack._parse_template()
        stack.output_map = stack._create_output_map()
        stack.parameters = change_set.parameters
        for export in stack.exports:
            self.exports[export.name] = export

    CloudFormationBackend.create_change_set = create_change_set  # type: ignore[method-assign]
    CloudFormationBackend.execute_change_set = execute_change_set  # type: ignore[method-assign]
    had_physical_id = "physical_resource_id" in vars(LayerVersion)
    if not had_physical_id:
        LayerVersion.physical_resource_id = property(lambda self: self.arn)  # type: ignore[attr-defined]
    try:
        with lambda_dead_letter_config():
            yield
    finally:
        CloudFormationBackend.create_change_set = original_create  # type: ignore[method-assign]
        CloudFormationBackend.execute_change_set = original_execute  # type: ignore[method-assign]
        if not had_physical_id:
            del LayerVersion.physical_resource_id  # type: ignore[attr-defined]
