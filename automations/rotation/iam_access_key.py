"""Rotation function for a secret that holds an IAM user's access key.

Secret value: JSON `{"AccessKeyId", "SecretAccessKey"}` (other fields are kept), the user named by
`"UserName"` in the JSON or by the secret's tag `caretaker:iam-user`. The user must name the secret
in its own tag `caretaker:rotation-secret`: only someone who may tag IAM users can let a secret
mint that user's keys (otherwise anyone able to create a `caretaker/` secret could).

- createSecret: create a key and stage it as AWSPENDING (making room first: IAM allows two keys);
- setSecret: nothing (IAM made the key in createSecret);
- testSecret: the pending key is active and `sts:GetCallerIdentity` signed with it answers as the user;
- finishSecret: AWSCURRENT moves to the new key; the previous key is deactivated (and deleted by the
  next rotation's createSecret, which needs the room).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from automations.core.codec import iso
from automations.core.errors import error_code
from automations.core.keys import Key, delete_key, last_used, list_keys
from automations.core.runtime import Run, describe_error, entrypoint
from automations.core.selection import NOT_PROTECTED, is_protected, tag_map
from automations.core.spec import Permission, Setting
from automations.rotation.errors import RotationError
from automations.rotation.protocol import CURRENT, STAGE_PENDING, RotationStep, rotate, rotation_spec

NAME = "rotate-iam-access-key"
_USERS = "arn:${AWS::Partition}:iam::${AWS::AccountId}:user/*"
#: The user's tag that names the one secret allowed to rotate its keys.
BINDING_TAG = "caretaker:rotation-secret"
#: IAM's half of the binding: the user names a caretaker/ secret (by name or ARN) and is not protected.
#: Which secret is checked by the code (no request key of iam:CreateAccessKey carries the secret).
_BOUND_USER: Mapping[str, Mapping[str, Any]] = {
    "StringLike": {f"aws:ResourceTag/{BINDING_TAG}": ["caretaker/*", "arn:*:secretsmanager:*:*:secret:caretaker/*"]},
    **NOT_PROTECTED,
}

# enforce (ROTATION_MODE): it acts only on secrets whose owner enabled rotation with this function, for users an IAM
# administrator tagged, and deactivates the old key only after the new one passed testSecret.
SPEC = rotation_spec(
    NAME, "Secrets Manager rotation function for secrets holding an IAM user's access key.", timeout=120,
    permissions=(
        Permission(("iam:GetUser",), (_USERS,), why="the user's tags (binding, protection) and its ARN"),
        Permission(("iam:ListAccessKeys", "iam:GetAccessKeyLastUsed"), (_USERS,), condition=_BOUND_USER,
                   why="its keys and their last use; only users that name a caretaker/ secret"),
        Permission(("iam:CreateAccessKey", "iam:UpdateAccessKey", "iam:DeleteAccessKey"), (_USERS,),
                   condition=_BOUND_USER,
                   why="create the new key; deactivate the previous one; delete an inactive one to make room; "
                       "only users that name a caretaker/ secret in caretaker:rotation-secret and are not "
                       "protected (sts:GetCallerIdentity is signed with the new key and needs no permission)"),
    ),
    settings=(
        Setting("user_tag_key", "str", "caretaker:iam-user",
                "Secret tag that names the IAM user when the secret's JSON has no UserName.",
                pattern=r"[\w.:/=+@ -]{1,128}"),
    ),
)

#: Errors a key answers with while IAM is still propagating it, and the pauses between attempts.
PROPAGATION_ERRORS = ("InvalidClientTokenId", "SignatureDoesNotMatch")
PROPAGATION_DELAYS_S: tuple[float, ...] = (2.0, 4.0, 8.0)
#: Never sleep into the end of the invocation.
RESERVE_MS = 10_000
CLOCK_SKEW = timedelta(minutes=5)
STS_CONFIG = Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=5, read_timeout=10)

CREATE_KEY = "create-access-key"
DEACTIVATE = "deactivate-access-key"
DELETE = "delete-access-key"


@entrypoint(SPEC)
def handler(run: Run, event: Mapping[str, Any]) -> dict[str, Any]:
    """One step of rotating the IAM access key held in a secret."""
    return rotate(run, event, IamAccessKeyFlavour(run))


def _credentials(text: str | None, what: str) -> dict[str, Any]:
    """The secret's JSON object; errors never quote the value."""
    try:
        value = json.loads(text) if text is not None else None
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise RotationError(f"the {what} value is not a JSON object with AccessKeyId and SecretAccessKey")
    return value


class IamAccessKeyFlavour:
    name = NAME

    def __init__(self, run: Run) -> None:
        self.run = run
        self.iam = run.clients("iam")

    # ------------------------------------------------------------------ reads

    def _user_name(self, rotation: RotationStep, value: Mapping[str, Any]) -> str:
        named, tagged = value.get("UserName"), rotation.secret.tags.get(self.run.settings["user_tag_key"])
        if named and tagged and named != tagged:
            rotation.refuse(f"the secret's UserName ({named}) and its tag {self.run.settings['user_tag_key']} "
                            f"({tagged}) name different users")
        user = named or tagged
        if not isinstance(user, str) or not user:
            rotation.refuse(f"the secret names no IAM user (UserName in its JSON, or its tag "
                            f"{self.run.settings['user_tag_key']})")
        return user

    def _allowed_user(self, rotation: RotationStep, user: str) -> Mapping[str, Any]:
        try:
            found: Mapping[str, Any] = self.iam.get_user(UserName=user)["User"]
        except ClientError as exc:
            if error_code(exc) == "NoSuchEntity":
                rotation.refuse(f"IAM user {user} does not exist")
            raise
        tags = tag_map(found.get("Tags"))
        if is_protected(tags):
            rotation.refuse(f"IAM user {user} is protected: tagged caretaker:protect=true")
        if tags.get(BINDING_TAG) not in (rotation.secret.name, rotation.secret.arn):
            rotation.refuse(f"IAM user {user} does not name this secret in its tag {BINDING_TAG}: an IAM "
                            "administrator must tag the user to let this secret rotate its keys")
        return found

    def _keys(self, user: str) -> dict[str, Key]:
        return list_keys(self.iam, user)

    def _never_used(self, key_id: str) -> bool:
        return last_used(self.iam, key_id) is None

    # ------------------------------------------------------------------ changes

    def _delete(self, user: str, key_id: str, reason: str) -> None:
        if self.run.act(key_id, DELETE, reason, lambda: delete_key(self.iam, user, key_id),
                        details={"user": user}) is None and not self.run.dry_run:
            raise RotationError(f"key {key_id} of {user} could not be deleted (see the failed record)")

    # ------------------------------------------------------------------ steps

    def create_secret(self, rotation: RotationStep) -> None:
        if rotation.pending_value() is not None:
            rotation.skip("a key is already staged in this version (a retried createSecret)", STAGE_PENDING)
            return
        current = _credentials(rotation.value(stage=CURRENT), "AWSCURRENT")
        user = self._user_name(rotation, current)
        self._allowed_user(rotation, user)
        current_key = current.get("AccessKeyId")
        keys = self._keys(user)
        earlier = rotation.log.record()  # an earlier attempt at this same rotation, if any
        keys_before = earlier.keys_before if earlier and earlier.user else tuple(sorted(keys))
        started = (earlier.started_at if earlier and earlier.started_at else self.run.clock()) - CLOCK_SKEW

        for key_id, key in list(keys.items()):
            if key_id == current_key or earlier is None or not earlier.user:
                continue
            if key_id == earlier.new_key_id or (key_id not in keys_before and key.created >= started
                                                and self._never_used(key_id)):
                self._delete(user, key_id, "created by an earlier attempt at this rotation whose secret was never "
                                           "staged: nobody can use it")
                del keys[key_id]

        if len(keys) >= 2:
            abandoned = {r.new_key_id for r in rotation.log.history()
                         if r.token != rotation.token and not r.finished and r.new_key_id}
            spare = [k for k in keys.values() if k.key_id != current_key
                     and (not k.active or k.key_id in abandoned)]
            if not spare:
                rotation.refuse(f"IAM user {user} has two active keys ({', '.join(sorted(keys))}): Caretaker does not "
                                "delete an active key it did not create; deactivate the one not in use")
            why = "inactive" if not spare[0].active else "staged by a rotation that never finished"
            self._delete(user, spare[0].key_id, f"makes room for the new key (two keys per user): {why}")

        if not rotation.dry_run and not (earlier and earlier.user):
            rotation.log.write(user=user, keys_before=list(keys_before), started_at=iso(self.run.clock()))
        made = self.run.act(user, CREATE_KEY, f"new key for the rotation of {rotation.secret.name}",
                            lambda: self.iam.create_access_key(UserName=user),
                            details={"user": user, "secret": rotation.secret.name, "version": rotation.token,
                                     "current_key_id": current_key},
                            result_details=lambda r: {"access_key_id": r["AccessKey"]["AccessKeyId"]})
        if made is None:
            if rotation.dry_run:
                return
            raise RotationError(f"createSecret of {rotation.secret.name}: no key could be created for {user}")
        new_id = made["AccessKey"]["AccessKeyId"]
        rotation.log.write(new_key_id=new_id)
        value = json.dumps({**current, "AccessKeyId": new_id, "SecretAccessKey": made["AccessKey"]["SecretAccessKey"]})
        if not rotation.stage_pending(value, f"new key {new_id} of {user}", {"access_key_id": new_id}):
            self._delete(user, new_id, "rollback: the key could not be staged, and its secret exists nowhere else")
            raise RotationError(f"createSecret of {rotation.secret.name}: the new key could not be staged")

    def set_secret(self, rotation: RotationStep) -> None:
        rotation.skip("nothing to set: IAM made the key in createSecret")

    def test_secret(self, rotation: RotationStep) -> None:
        pending = rotation.value_to_test("the pending key works")
        if pending is None:
            return
        value = _credentials(pending, "AWSPENDING")
        user = self._user_name(rotation, value)
        key_id = str(value.get("AccessKeyId", ""))
        problems: list[str] = []
        key = self._keys(user).get(key_id)
        if key is None:
            problems.append(f"key {key_id or '(none)'} is not a key of {user}")
        elif not key.active:
            problems.append(f"key {key_id} is inactive")
        else:
            expected = self.iam.get_user(UserName=user)["User"]["Arn"]
            arn, error = self._caller_identity(key_id, str(value.get("SecretAccessKey", "")))
            if error:
                problems.append(f"sts:GetCallerIdentity signed with the pending key failed: {error}")
            elif arn != expected:
                problems.append(f"the pending key signs as {arn}, not as {expected}")
        rotation.test_result(f"the pending key {key_id} of {user} signs sts:GetCallerIdentity as {user}", problems,
                             {"user": user, "access_key_id": key_id})

    def _caller_identity(self, key_id: str, secret_key: str) -> tuple[str | None, str | None]:
        """(ARN, None) as STS sees the key, or (None, error). Retries while IAM propagates a new key."""
        clients = self.run.clients
        sts = clients.session.client("sts", region_name=clients.region, aws_access_key_id=key_id,
                                     aws_secret_access_key=secret_key, aws_session_token=None, config=STS_CONFIG)
        for delay in (*PROPAGATION_DELAYS_S, None):
            try:
                return str(sts.get_caller_identity()["Arn"]), None
            except ClientError as exc:
                code = error_code(exc)
                if (code not in PROPAGATION_ERRORS or delay is None
                        or self.run.remaining_ms() < delay * 1000 + RESERVE_MS):
                    return None, describe_error(exc)
                time.sleep(delay)
            except BotoCoreError as exc:
                return None, describe_error(exc)
        return None, "no attempt left"  # not reached: the last delay is None

    def finish_secret(self, rotation: RotationStep, previous_version: str | None) -> None:
        """Deactivate the key AWSCURRENT held before (it is AWSPREVIOUS now)."""
        if previous_version is None:
            rotation.skip("no previous version: no key to deactivate", DEACTIVATE)
            return
        previous = _credentials(rotation.value(version=previous_version), "AWSPREVIOUS")
        new_value = rotation.value(version=rotation.token)
        new_key = _credentials(new_value, "new").get("AccessKeyId") if new_value is not None else None
        old_key = previous.get("AccessKeyId")
        if not old_key or old_key == new_key:
            rotation.skip("the previous version holds no other key", DEACTIVATE)
            return
        user = self._user_name(rotation, previous)
        key = self._keys(user).get(old_key)
        if key is None or not key.active:
            rotation.skip(f"previous key {old_key} is already {'gone' if key is None else 'inactive'}", DEACTIVATE)
            return
        found = self.iam.get_user(UserName=user)["User"]
        if is_protected(tag_map(found.get("Tags"))):
            rotation.skip(f"IAM user {user} is protected: previous key {old_key} stays active", DEACTIVATE)
            return
        done = self.run.act(old_key, DEACTIVATE, f"replaced by {new_key or 'the new key'} (now AWSCURRENT)",
                            lambda: self.iam.update_access_key(UserName=user, AccessKeyId=old_key, Status="Inactive"),
                            details={"user": user, "secret": rotation.secret.name, "version": rotation.token})
        if done is None and not rotation.dry_run:
            raise RotationError(f"finishSecret of {rotation.secret.name}: previous key {old_key} could not be "
                                "deactivated; Secrets Manager retries the step")

