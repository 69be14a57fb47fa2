"""Custom::AccountPasswordPolicy: the IAM account password policy.

Every property of UpdateAccountPasswordPolicy; one left out takes AWS's default. Delete puts
back the policy that was in effect before (or deletes the policy if there was none), unless
a newer resource has taken the policy over (see `account_setting`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from automations.core.errors import error_code
from automations.core.spec import Permission
from custom_resources.account_setting import AccountSetting
from custom_resources.properties import Prop, Schema
from custom_resources.provider import Provider, Request, provider_spec

NAME = "account-password-policy"
RESOURCE_TYPE = "Custom::AccountPasswordPolicy"

SPEC = provider_spec(
    NAME, RESOURCE_TYPE, "the IAM account password policy.",
    permissions=(
        Permission(("iam:GetAccountPasswordPolicy", "iam:UpdateAccountPasswordPolicy",
                    "iam:DeleteAccountPasswordPolicy"),
                   why="the password policy is account-wide: these actions have no resource type"),
    ),
)

SCHEMA = Schema((
    Prop("MinimumPasswordLength", "int", "Minimum number of characters.", ranges=((6, 128),)),
    Prop("RequireSymbols", "bool", "Require at least one non-alphanumeric character."),
    Prop("RequireNumbers", "bool", "Require at least one digit."),
    Prop("RequireUppercaseCharacters", "bool", "Require at least one uppercase letter (A-Z)."),
    Prop("RequireLowercaseCharacters", "bool", "Require at least one lowercase letter (a-z)."),
    Prop("AllowUsersToChangePassword", "bool", "Let IAM users change their own password."),
    Prop("MaxPasswordAge", "int", "Days a password stays valid.", ranges=((1, 1095),)),
    Prop("PasswordReusePrevention", "int", "Previous passwords that cannot be reused.", ranges=((1, 24),)),
    Prop("HardExpiry", "bool", "Users cannot set a new password after theirs expired (an administrator must)."),
))
#: GetAccountPasswordPolicy fields that UpdateAccountPasswordPolicy accepts back.
WRITABLE = SCHEMA.names

#: Example properties for the consumer example stack (templates/consumer_example.py).
EXAMPLE_PROPERTIES: dict[str, Any] = {
    "MinimumPasswordLength": "14",
    "RequireSymbols": "true",
    "RequireNumbers": "true",
    "RequireUppercaseCharacters": "true",
    "RequireLowercaseCharacters": "true",
    "AllowUsersToChangePassword": "true",
    "MaxPasswordAge": "90",
    "PasswordReusePrevention": "24",
    "HardExpiry": "false",
}


class AccountPasswordPolicy(AccountSetting):
    resource_type = RESOURCE_TYPE
    schema = SCHEMA
    kind = "account-password-policy"
    what = "the IAM account password policy"

    def subject(self, request: Request) -> str:
        return f"iam:account-password-policy:{request.account}"

    def read(self, request: Request) -> dict[str, Any] | None:
        try:
            policy = request.client("iam").get_account_password_policy()["PasswordPolicy"]
        except ClientError as exc:
            if error_code(exc) == "NoSuchEntity":
                return None
            raise
        return _writable(policy)

    def apply(self, request: Request) -> None:
        request.client("iam").update_account_password_policy(
            **{k: v for k, v in request.props.items() if v is not None})

    def restore(self, request: Request, previous: Mapping[str, Any] | None) -> None:
        iam = request.client("iam")
        if previous is None:
            try:
                iam.delete_account_password_policy()
            except ClientError as exc:
                if error_code(exc) != "NoSuchEntity":
                    raise
            return
        iam.update_account_password_policy(**_writable(previous))


def _writable(policy: Mapping[str, Any]) -> dict[str, Any]:
    """The fields Update accepts; ages and counts of 0 mean "not set" and are left out."""
    out = {k: policy[k] for k in WRITABLE if k in policy}
    for key in ("MaxPasswordAge", "PasswordReusePrevention"):
        if not out.get(key):
            out.pop(key, None)
    return out


handler = Provider(SPEC, AccountPasswordPolicy())
