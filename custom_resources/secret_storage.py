"""Where RandomSecret and SecureStringParameter keep values: SSM SecureString parameters and
Secrets Manager secrets. Every change goes through `Request.act` (write-ahead) and records
names and ARNs, never values.

Resources are created with the Caretaker tags in the creating call: `caretaker:automation` (the
function), which the IAM policies of these providers require for every later read and change, and
`caretaker:stack-id` (the creating stack's StackId), which binds the resource to that stack
(`STORED_VALUE_OWNER`, checked by the provider before an Update or Delete). The policies allow
creating only with those tags in the request (`aws:RequestTag`) and tagging only what already
carries this function's tag (`aws:ResourceTag`), so a provider can neither adopt a foreign secret
or parameter by tagging it nor rebind one to another stack.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from automations.core.errors import error_code
from automations.core.spec import Permission
from custom_resources.ownership import TaggedOwner
from custom_resources.provider import AUTOMATION_TAG, OWNER_TAG, PROVIDER_TAG_KEYS, ProviderError, Request

#: SSM parameter names: one segment, or a path of segments each after a "/"; not under aws / ssm.
SSM_NAME_PATTERN = r"(?!/?(?i:aws|ssm))(?:[A-Za-z0-9_.-]+|(?:/[A-Za-z0-9_.-]+)+)"
SSM_NAME_LENGTH = (1, 1011)
#: Standard-tier SecureString values (bytes; ASCII values here).
SSM_VALUE_LIMIT = 4096
SECRET_NAME_PATTERN = r"[A-Za-z0-9/_+=.@-]+"
SECRET_NAME_LENGTH = (1, 512)
DEFAULT_SSM_KEY = "alias/aws/ssm"

_PARAMETER_ARN = re.compile(r"arn:(aws[a-z-]*):ssm:([a-z0-9-]+):(\d{12}):parameter/(.+)")
_SECRET_ARN = re.compile(r"arn:(aws[a-z-]*):secretsmanager:([a-z0-9-]+):(\d{12}):secret:.+-[A-Za-z0-9]{6}")

_PARAMETERS = "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/*"
_SECRETS = "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:*"


def _tagged_by(name: str, key: str) -> dict[str, Any]:
    return {f"{key}/{AUTOMATION_TAG}": name}


#: Only the providers' own tag keys may be set.
_ONLY_PROVIDER_TAGS = {"ForAllValues:StringEquals": {"aws:TagKeys": list(PROVIDER_TAG_KEYS)}}


def creation_condition(automation: str) -> dict[str, dict[str, Any]]:
    """Create only with this function's tag and an owning stack in the request, and no other tag keys."""
    return {"StringEquals": _tagged_by(automation, "aws:RequestTag"),
            "Null": {f"aws:RequestTag/{OWNER_TAG}": "false"}, **_ONLY_PROVIDER_TAGS}


def tagging_condition(automation: str) -> dict[str, dict[str, Any]]:
    """Tag only a resource that already carries this function's tag (at creation: the one being created)."""
    return {"StringEquals": {**_tagged_by(automation, "aws:ResourceTag"), **_tagged_by(automation, "aws:RequestTag")},
            **_ONLY_PROVIDER_TAGS}


def owned_condition(automation: str) -> dict[str, dict[str, Any]]:
    return {"StringEquals": _tagged_by(automation, "aws:ResourceTag")}


def parameter_permissions(automation: str, *, read: bool) -> tuple[Permission, ...]:
    """Create tagged parameters; tag, change, read and delete only the ones carrying this function's tag."""
    changes = ("ssm:PutParameter", "ssm:DeleteParameter", "ssm:ListTagsForResource") + (
        ("ssm:GetParameter",) if read else ())
    return (
        Permission(("ssm:PutParameter",), (_PARAMETERS,), condition=creation_condition(automation),
                   why="create a parameter, tagged as this function's and its stack's"),
        Permission(("ssm:AddTagsToResource",), (_PARAMETERS,), condition=tagging_condition(automation),
                   why="tag only this function's parameters (PutParameter with Tags): never adopt a foreign one"),
        Permission(changes, (_PARAMETERS,), condition=owned_condition(automation),
                   why="only parameters this function created"),
    )


def secret_permissions(automation: str) -> tuple[Permission, ...]:
    """Create tagged secrets; tag, change, read and delete only the ones carrying this function's tag."""
    return (
        Permission(("secretsmanager:CreateSecret",), (_SECRETS,), condition=creation_condition(automation),
                   why="create a secret, tagged as this function's and its stack's"),
        Permission(("secretsmanager:TagResource",), (_SECRETS,), condition=tagging_condition(automation),
                   why="tag only this function's secrets (CreateSecret with Tags): never adopt a foreign one"),
        Permission(("secretsmanager:PutSecretValue", "secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret",
                    "secretsmanager:DeleteSecret"),
                   (_SECRETS,), condition=owned_condition(automation),
                   why="only secrets this function created"),
    )


class StoredValueOwner(TaggedOwner):
    """A secret or parameter is bound to the stack in its `caretaker:stack-id` tag."""

    def tags_of(self, request: Request, physical_id: str) -> Mapping[str, str] | None:
        try:
            if is_secret_arn(physical_id):
                tags = request.client("secretsmanager").describe_secret(SecretId=physical_id).get("Tags", [])
            else:
                name = parameter_name(request, physical_id, request.props.get("Name"))
                tags = request.client("ssm").list_tags_for_resource(ResourceType="Parameter",
                                                                    ResourceId=name).get("TagList", [])
        except ClientError as exc:
            if error_code(exc) in ("ResourceNotFoundException", "InvalidResourceId", "ParameterNotFound"):
                return None
            raise
        return {str(t["Key"]): str(t["Value"]) for t in tags}


#: The binding of RandomSecret and SecureStringParameter.
STORED_VALUE_OWNER = StoredValueOwner()


# --------------------------------------------------------------------------- SSM parameters


def parameter_arn(request: Request, name: str) -> str:
    return f"arn:{request.partition}:ssm:{request.region}:{request.account}:parameter/{name.lstrip('/')}"


def is_parameter_arn(physical_id: str) -> bool:
    return bool(_PARAMETER_ARN.fullmatch(physical_id))


def parameter_name(request: Request, physical_id: str, declared: str | None) -> str:
    """The name of the parameter an ARN designates. An ARN drops a leading "/", so "/a" and "a"
    share one; the declared Name settles that when it matches."""
    if declared and parameter_arn(request, declared) == physical_id:
        return declared
    match = _PARAMETER_ARN.fullmatch(physical_id)
    rest = match.group(4) if match else physical_id
    return "/" + rest if "/" in rest else rest


def parameter_designated(request: Request, physical_id: str, name: str, old_name: str | None) -> bool:
    """True when the id is the parameter called `name` (so changing to `name` needs no new parameter).

    Decided from the id, not from OldResourceProperties: in a rollback CloudFormation sends the
    old properties to the old id, and that must not create a second parameter. A rename between
    "a" and "/a" (one ARN for both) is refused: the id cannot tell them apart.
    """
    if old_name is not None and old_name != name and old_name.lstrip("/") == name.lstrip("/"):
        raise ProviderError(f"Name cannot change from {old_name!r} to {name!r}: both have the ARN "
                            f"{parameter_arn(request, name)}; choose another name")
    return parameter_arn(request, name) == physical_id


def put_parameter(request: Request, name: str, value: str, *, key_id: str | None, overwrite: bool) -> None:
    """Create (tagged) or overwrite a SecureString parameter."""
    arn = parameter_arn(request, name)
    args: dict[str, Any] = {"Name": name, "Value": value, "Type": "SecureString"}
    if overwrite:
        args.update(Overwrite=True, KeyId=key_id or DEFAULT_SSM_KEY)
    else:
        args["Tags"] = request.tags()
        if key_id:
            args["KeyId"] = key_id
    request.act(arn, "overwrite-parameter" if overwrite else "create-parameter",
                lambda: request.client("ssm").put_parameter(**args),
                details={"name": name, "key_id": key_id or DEFAULT_SSM_KEY})


def read_parameter(request: Request, name: str) -> str:
    response = request.client("ssm").get_parameter(Name=name, WithDecryption=True)
    return request.keep_secret(str(response["Parameter"]["Value"]))


def delete_parameter(request: Request, name: str) -> str:
    """Delete a parameter; a note saying what happened ("already gone" counts as done)."""
    def call() -> str:
        try:
            request.client("ssm").delete_parameter(Name=name)
        except ClientError as exc:
            if error_code(exc) == "ParameterNotFound":
                return f"parameter {name} was already gone"
            raise
        return f"deleted parameter {name}"

    return request.act(parameter_arn(request, name), "delete-parameter", call, details={"name": name})


# --------------------------------------------------------------------------- Secrets Manager


def is_secret_arn(physical_id: str) -> bool:
    return bool(_SECRET_ARN.fullmatch(physical_id))


def secret_designated(physical_id: str, name: str) -> bool:
    """True when the id is the ARN of the secret called `name` (its 6-character suffix aside)."""
    match = _SECRET_ARN.fullmatch(physical_id)
    return bool(match) and bool(re.fullmatch(r".*:secret:" + re.escape(name) + r"-[A-Za-z0-9]{6}", physical_id))


def create_secret(request: Request, name: str, value: str) -> str:
    """Create a tagged secret; its ARN."""
    named = f"arn:{request.partition}:secretsmanager:{request.region}:{request.account}:secret:{name}"
    response = request.act(named, "create-secret",
                           lambda: request.client("secretsmanager").create_secret(
                               Name=name, SecretString=value, Tags=request.tags()),
                           details={"name": name})
    return str(response["ARN"])


def put_secret_value(request: Request, arn: str, value: str) -> None:
    request.act(arn, "put-secret-value",
                lambda: request.client("secretsmanager").put_secret_value(SecretId=arn, SecretString=value))


def read_secret(request: Request, arn: str) -> str:
    response = request.client("secretsmanager").get_secret_value(SecretId=arn)
    return request.keep_secret(str(response["SecretString"]))


def delete_secret(request: Request, arn: str, recovery_days: int) -> str:
    """Delete a secret (0 days: at once, without recovery); a note saying what happened."""
    args: dict[str, Any] = ({"ForceDeleteWithoutRecovery": True} if recovery_days == 0
                            else {"RecoveryWindowInDays": recovery_days})

    def call() -> str:
        client = request.client("secretsmanager")
        try:
            deleted_on = client.describe_secret(SecretId=arn).get("DeletedDate")
            if deleted_on is not None:
                return f"secret {arn} was already scheduled for deletion ({deleted_on})"
            client.delete_secret(SecretId=arn, **args)
        except ClientError as exc:
            if error_code(exc) == "ResourceNotFoundException":
                return f"secret {arn} was already gone"
            raise
        return (f"deleted secret {arn} without recovery" if recovery_days == 0
                else f"scheduled secret {arn} for deletion in {recovery_days} days")

    return request.act(arn, "delete-secret", call, details={"recovery_window_days": recovery_days})
