"""Custom::SecureStringParameter: an SSM SecureString parameter with a given value
(CloudFormation's AWS::SSM::Parameter cannot create the SecureString type).

The PhysicalResourceId is the parameter's ARN. A new Name makes a new parameter (a new id;
CloudFormation then deletes the old one); a new Value or KeyId overwrites it in place.
The value is never logged, recorded or returned.
"""

from __future__ import annotations

from typing import Any

from automations.core.spec import Permission
from custom_resources import secret_storage as storage
from custom_resources.properties import KMS_KEY_PATTERN, Prop, Schema
from custom_resources.provider import Provider, Request, ResourceType, Result, provider_spec

NAME = "secure-string-parameter"
RESOURCE_TYPE = "Custom::SecureStringParameter"

SPEC = provider_spec(
    NAME, RESOURCE_TYPE, "SSM SecureString parameters.",
    permissions=(
        *storage.parameter_permissions(NAME, read=False),
        Permission(("kms:Encrypt", "kms:GenerateDataKey"),
                   ("arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:key/*",),
                   condition={"StringLike": {"kms:ViaService": "ssm.*.amazonaws.com"}},
                   why="encrypt with a customer managed KeyId, only through SSM"),
    ),
)

SCHEMA = Schema((
    Prop("Name", "str", "Parameter name (a path starts with /).", required=True, replaces=True,
         length=storage.SSM_NAME_LENGTH, pattern=storage.SSM_NAME_PATTERN,
         pattern_hint="of A-Z a-z 0-9 _ . - (a path starting with /, not under aws or ssm)"),
    Prop("Value", "str", "The value (standard tier: up to 4096 characters).", required=True, secret=True,
         length=(1, storage.SSM_VALUE_LIMIT)),
    Prop("KeyId", "str", "KMS key that encrypts the value; omitted: the AWS managed key aws/ssm.",
         length=(1, 2048), pattern=KMS_KEY_PATTERN,
         pattern_hint="naming a KMS key (key id, key ARN, alias/name or alias ARN)"),
))

EXAMPLE_PROPERTIES: dict[str, Any] = {
    "Name": "/${AWS::StackName}/example/api-key",
    "Value": "${ExampleApiKey}",  # a NoEcho parameter of the example stack
}


class SecureStringParameter(ResourceType):
    resource_type = RESOURCE_TYPE
    schema = SCHEMA
    binding = storage.STORED_VALUE_OWNER

    def owns(self, physical_id: str) -> bool:
        return storage.is_parameter_arn(physical_id)

    def create(self, request: Request) -> Result:
        name = request.props["Name"]
        storage.put_parameter(request, name, request.props["Value"], key_id=request.props["KeyId"], overwrite=False)
        return self._result(request, storage.parameter_arn(request, name))

    def update(self, request: Request) -> Result:
        old_name = (request.old_props or {}).get("Name")
        if not storage.parameter_designated(request, request.physical_id, request.props["Name"], old_name):
            result = self.create(request)  # a new Name: a new parameter (CloudFormation deletes the old one)
            result.note = f"replaced {request.physical_id}"
            return result
        if set(request.changed()) & {"Value", "KeyId"}:
            name = storage.parameter_name(request, request.physical_id, request.props["Name"])
            storage.put_parameter(request, name, request.props["Value"], key_id=request.props["KeyId"],
                                  overwrite=True)
            return self._result(request, request.physical_id, note="overwrote the value")
        return self._result(request, request.physical_id, note="nothing to change")

    def delete(self, request: Request) -> Result:
        name = storage.parameter_name(request, request.physical_id, request.props["Name"])
        return Result(request.physical_id, note=storage.delete_parameter(request, name))

    @staticmethod
    def _result(request: Request, physical_id: str, note: str = "") -> Result:
        return Result(physical_id, data={"Arn": physical_id, "Name": request.props["Name"]}, note=note)


handler = Provider(SPEC, SecureStringParameter())
