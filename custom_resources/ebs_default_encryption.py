"""Custom::EbsDefaultEncryption: EBS encryption by default, and its KMS key, in the stack's region.

Declarative: without KmsKeyId the default key is reset to the AWS managed key (aws/ebs).
Delete puts back the setting and key in effect before, unless a newer resource has taken
the setting over (see `account_setting`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from automations.core.spec import Permission
from custom_resources.account_setting import AccountSetting
from custom_resources.properties import KMS_KEY_PATTERN, Prop, Schema
from custom_resources.provider import Provider, Request, provider_spec

NAME = "ebs-default-encryption"
RESOURCE_TYPE = "Custom::EbsDefaultEncryption"
AWS_MANAGED_KEY = "alias/aws/ebs"

SPEC = provider_spec(
    NAME, RESOURCE_TYPE, "EBS encryption by default and its KMS key.",
    permissions=(
        Permission(("ec2:GetEbsEncryptionByDefault", "ec2:EnableEbsEncryptionByDefault",
                    "ec2:DisableEbsEncryptionByDefault", "ec2:GetEbsDefaultKmsKeyId",
                    "ec2:ModifyEbsDefaultKmsKeyId", "ec2:ResetEbsDefaultKmsKeyId"),
                   why="regional account settings: these actions have no resource type"),
    ),
)

SCHEMA = Schema((
    Prop("Enabled", "bool", "Encrypt new EBS volumes and snapshot copies by default.", default=True),
    Prop("KmsKeyId", "str", "Default KMS key for EBS encryption (key id, key ARN, alias name or alias ARN); "
         "omitted: the AWS managed key aws/ebs.", length=(1, 2048), pattern=KMS_KEY_PATTERN,
         pattern_hint="naming a KMS key (key id, key ARN, alias/name or alias ARN)"),
))

EXAMPLE_PROPERTIES: dict[str, Any] = {"Enabled": "true"}


class EbsDefaultEncryption(AccountSetting):
    resource_type = RESOURCE_TYPE
    schema = SCHEMA
    kind = "ebs-default-encryption"
    what = "EBS encryption by default"

    def subject(self, request: Request) -> str:
        return f"ec2:ebs-default-encryption:{request.account}:{request.region}"

    def read(self, request: Request) -> dict[str, Any] | None:
        ec2 = request.client("ec2")
        enabled = bool(ec2.get_ebs_encryption_by_default()["EbsEncryptionByDefault"])
        key = str(ec2.get_ebs_default_kms_key_id().get("KmsKeyId") or AWS_MANAGED_KEY)
        return {"Enabled": enabled, "KmsKeyId": key}

    def apply(self, request: Request) -> None:
        self._set(request, bool(request.props["Enabled"]), request.props["KmsKeyId"])

    def restore(self, request: Request, previous: Mapping[str, Any] | None) -> None:
        previous = previous or {"Enabled": False, "KmsKeyId": None}
        self._set(request, bool(previous["Enabled"]), previous.get("KmsKeyId"))

    @staticmethod
    def _set(request: Request, enabled: bool, key: str | None) -> None:
        ec2 = request.client("ec2")
        if key and key != AWS_MANAGED_KEY:
            ec2.modify_ebs_default_kms_key_id(KmsKeyId=key)
        else:
            ec2.reset_ebs_default_kms_key_id()
        if enabled:
            ec2.enable_ebs_encryption_by_default()
        else:
            ec2.disable_ebs_encryption_by_default()


handler = Provider(SPEC, EbsDefaultEncryption())
