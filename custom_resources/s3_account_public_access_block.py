"""Custom::S3AccountPublicAccessBlock: the account-level S3 block-public-access settings.

Each of the four settings defaults to true. Delete puts back the configuration in effect
before (or deletes the configuration if there was none), unless a newer resource has taken
the setting over (see `account_setting`).
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

NAME = "s3-account-public-access-block"
RESOURCE_TYPE = "Custom::S3AccountPublicAccessBlock"
NOT_FOUND = "NoSuchPublicAccessBlockConfiguration"

SPEC = provider_spec(
    NAME, RESOURCE_TYPE, "the account's S3 block-public-access settings.",
    permissions=(
        Permission(("s3:GetAccountPublicAccessBlock", "s3:PutAccountPublicAccessBlock"),
                   why="account-level settings (DeletePublicAccessBlock is authorised as "
                       "s3:PutAccountPublicAccessBlock); these actions have no resource type"),
    ),
)

SCHEMA = Schema((
    Prop("BlockPublicAcls", "bool", "Reject requests that add public ACLs.", default=True),
    Prop("IgnorePublicAcls", "bool", "Ignore public ACLs on buckets and objects.", default=True),
    Prop("BlockPublicPolicy", "bool", "Reject bucket policies that grant public access.", default=True),
    Prop("RestrictPublicBuckets", "bool", "Restrict access to buckets with public policies to AWS services "
         "and authorised users of the account.", default=True),
))

EXAMPLE_PROPERTIES: dict[str, Any] = {name: "true" for name in SCHEMA.names}


class S3AccountPublicAccessBlock(AccountSetting):
    resource_type = RESOURCE_TYPE
    schema = SCHEMA
    kind = "s3-account-public-access-block"
    what = "the account's S3 block-public-access configuration"

    def subject(self, request: Request) -> str:
        return f"s3:account-public-access-block:{request.account}"

    def read(self, request: Request) -> dict[str, Any] | None:
        try:
            response = request.client("s3control").get_public_access_block(AccountId=request.account)
        except ClientError as exc:
            if error_code(exc) == NOT_FOUND:
                return None
            raise
        config = response["PublicAccessBlockConfiguration"]
        return {name: bool(config.get(name, False)) for name in SCHEMA.names}

    def apply(self, request: Request) -> None:
        self._put(request, request.props)

    def restore(self, request: Request, previous: Mapping[str, Any] | None) -> None:
        if previous is not None:
            self._put(request, previous)
            return
        try:
            request.client("s3control").delete_public_access_block(AccountId=request.account)
        except ClientError as exc:
            if error_code(exc) != NOT_FOUND:
                raise

    @staticmethod
    def _put(request: Request, settings: Mapping[str, Any]) -> None:
        request.client("s3control").put_public_access_block(
            AccountId=request.account,
            PublicAccessBlockConfiguration={name: bool(settings[name]) for name in SCHEMA.names})


handler = Provider(SPEC, S3AccountPublicAccessBlock())
