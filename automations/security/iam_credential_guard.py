"""Credentials that a user's tags rule out: a new access key for a console-only user is
deactivated; a new console password (login profile) for a machine-only user is deleted.

Default audit: both take access away.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from automations.core.errors import error_code
from automations.core.runtime import Run
from automations.core.selection import NOT_PROTECTED, tag_map, tag_matches
from automations.core.spec import CloudTrail, Permission, Setting
from automations.security.errors import BadEventError, gone_when_missing
from automations.security.findings import CloudTrailEvent, require
from automations.security.reactive import Decision, Remediate, Skip, protected, rule_handler, rule_spec

NAME = "iam-credential-guard"
DEACTIVATE = "deactivate-access-key"
DELETE_LOGIN = "delete-login-profile"
_USERS = "arn:${AWS::Partition}:iam::${AWS::AccountId}:user/*"
_TAG_KEY = r"[\w.:/=+@ -]{1,128}"

SPEC = rule_spec(
    name=NAME,
    description="Deactivates new access keys of console-only users and deletes new passwords of machine-only "
                "users.",
    trigger=CloudTrail("aws.iam", "iam.amazonaws.com", ("CreateAccessKey", "CreateLoginProfile")),
    default_mode="audit",  # deactivating keys and deleting passwords takes access away
    permissions=(
        Permission(("iam:ListUserTags", "iam:ListAccessKeys", "iam:GetLoginProfile"), (_USERS,),
                   why="the user's tags and its current credentials"),
        Permission(("iam:UpdateAccessKey", "iam:DeleteLoginProfile"), (_USERS,),
                   condition=NOT_PROTECTED,
                   why="deactivate the key / delete the login profile (enforce mode only); never a user tagged "
                       "caretaker:protect=true"),
    ),
    settings=(
        Setting("console_only_tag_key", "str", "caretaker:console-only",
                "Tag key (value true) of users that must not have access keys.", pattern=_TAG_KEY),
        Setting("machine_only_tag_key", "str", "caretaker:machine-only",
                "Tag key (value true) of users that must not have a console password.", pattern=_TAG_KEY),
    ),
)


def decide(run: Run, event: CloudTrailEvent) -> Decision:
    """Invalidate a credential the user's tags rule out."""
    iam = run.clients("iam")
    if event.name == "CreateAccessKey":
        return _access_key(run, iam, event)
    if event.name == "CreateLoginProfile":
        return _login_profile(run, iam, event)
    raise BadEventError(f"{event.name} is not one of the events this rule handles")


handler = rule_handler(SPEC, decide)


def target_user(event: CloudTrailEvent) -> str:
    """The user the credential is for: named in the call, else the caller itself (an IAM user)."""
    access_key = event.response.get("accessKey")
    named = [event.request.get("userName"), access_key.get("userName") if isinstance(access_key, Mapping) else None]
    for value in named:
        if isinstance(value, str) and value:
            return value
    if event.actor.type == "IAMUser" and event.actor.user_name:
        return event.actor.user_name
    raise BadEventError("requestParameters.userName is missing and the caller is not an IAM user")


def user_tags(iam: Any, user: str) -> dict[str, str]:
    with gone_when_missing(f"user/{user}", f"user {user}"):
        return tag_map(iam.list_user_tags(UserName=user).get("Tags"))


def _access_key(run: Run, iam: Any, event: CloudTrailEvent) -> Decision:
    user = target_user(event)
    key_id = require(event.response, "responseElements", "accessKey", "accessKeyId")
    if not isinstance(key_id, str):
        raise BadEventError("responseElements.accessKey.accessKeyId is not a string")
    tag_key = run.settings["console_only_tag_key"]
    tags = user_tags(iam, user)
    if not tag_matches(tags, tag_key, ["true"]):
        return Skip(key_id, DEACTIVATE, f"user {user} is not tagged {tag_key}=true")
    keys = {k["AccessKeyId"]: k.get("Status") for page in iam.get_paginator("list_access_keys").paginate(
        UserName=user) for k in page.get("AccessKeyMetadata", [])}
    details = {"user": user, "access_key_id": key_id, "tag": f"{tag_key}=true"}
    if keys.get(key_id) != "Active":
        state = "deleted" if key_id not in keys else f"already {str(keys[key_id]).lower()}"
        return Skip(key_id, DEACTIVATE, f"the key is {state}", details)
    headline = f"access key {key_id} created for console-only user {user}"
    guarded = protected(key_id, DEACTIVATE, tags, headline, details)
    if guarded:
        return guarded
    return Remediate(key_id, DEACTIVATE, headline, f"deactivate access key {key_id} of user {user}",
                     lambda: iam.update_access_key(UserName=user, AccessKeyId=key_id, Status="Inactive"),
                     details, result_details=lambda _: {"status": "Inactive"})


def _login_profile(run: Run, iam: Any, event: CloudTrailEvent) -> Decision:
    user = target_user(event)
    resource = f"user/{user}"
    tag_key = run.settings["machine_only_tag_key"]
    tags = user_tags(iam, user)
    if not tag_matches(tags, tag_key, ["true"]):
        return Skip(resource, DELETE_LOGIN, f"user {user} is not tagged {tag_key}=true")
    details = {"user": user, "tag": f"{tag_key}=true"}
    try:
        iam.get_login_profile(UserName=user)
    except ClientError as exc:
        if error_code(exc) == "NoSuchEntity":
            return Skip(resource, DELETE_LOGIN, "the user has no login profile any more", details)
        raise
    headline = f"console password (login profile) created for machine-only user {user}"
    guarded = protected(resource, DELETE_LOGIN, tags, headline, details)
    if guarded:
        return guarded
    return Remediate(resource, DELETE_LOGIN, headline, f"delete the login profile of user {user}",
                     lambda: iam.delete_login_profile(UserName=user), details)
