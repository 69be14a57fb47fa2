"""The access-key rotation of one opted-in user, as a state machine that survives interruption.

```
idle --(active key older than max_key_age_days)--> creating --> storing --> grace
grace --(grace_days elapsed)--> deactivating --> deactivated
deactivated --(delete_after_days elapsed)--> deleting --> idle
```

Every phase is saved before the AWS call it announces, and every run starts a user's step by
listing the keys IAM really has, so a run that stopped anywhere is resumed by the next one:
a key that was created but whose secret was never stored is found by listing (it is not among
the keys recorded when the rotation started), deleted (nobody can use it) and created again.
The user always keeps a working key (the old key is deactivated only while the new one is
active and stored) and never holds more than two keys (the extra one is removed first, and
only when it is inactive).
"""

from __future__ import annotations

import json
import re
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from automations.core.codec import iso
from automations.core.errors import error_code
from automations.core.keys import Key, delete_key, describe_secret, last_used, list_keys
from automations.core.notify import LIST_LIMIT
from automations.core.runtime import Run
from automations.core.selection import AUTOMATION_TAG, is_protected
from automations.scheduled.access_key_state import (
    CREATING,
    DEACTIVATED,
    DEACTIVATING,
    DELETING,
    GRACE,
    IDLE,
    STORING,
    RotationState,
    RotationStore,
)

SECRET_PREFIX = "caretaker/access-keys/"
USER_TAG = "caretaker:iam-user"
#: Secret versions are named after the key they hold, so "is key K stored?" is a DescribeSecret away
#: and storing the same key twice is the same request (Secrets Manager's idempotency token).
VERSION_NAMESPACE = uuid.UUID("0b5b0c3e-6f1e-4f59-9a43-3f7f5d1c2a10")
#: A key found during a rotation counts as Caretaker's only if IAM created it after the rotation
#: started (less this much clock skew) and it was never used.
CLOCK_SKEW = timedelta(minutes=5)
#: Phases one run may pass through for one user (a rotation needs at most five in a row).
MAX_STEPS_PER_RUN = 8

CREATE = "create-access-key"
STORE = "store-access-key"
DEACTIVATE = "deactivate-access-key"
DELETE = "delete-access-key"
ROTATE = "rotate-access-key"
EVALUATE = "evaluate-user"

_SECRET_NAME_RE = re.compile(r"^[A-Za-z0-9/_+=.@-]{1,512}$")


def secret_name(user: str) -> str:
    return SECRET_PREFIX + user


def version_id(user: str, key_id: str) -> str:
    """The secret version that holds `key_id` (a UUID, as Secrets Manager wants its tokens)."""
    return str(uuid.uuid5(VERSION_NAMESPACE, f"{user}/{key_id}"))


# ---------------------------------------------------------------------- Secrets Manager writes


def store_key(sm: Any, automation: str, user: str, access_key: Mapping[str, Any],
              secret_exists: bool) -> dict[str, Any]:
    """Store the key as the secret's AWSCURRENT version (the previous one becomes AWSPREVIOUS)."""
    name = secret_name(user)
    token = version_id(user, access_key["AccessKeyId"])
    value = json.dumps({"AccessKeyId": access_key["AccessKeyId"], "SecretAccessKey": access_key["SecretAccessKey"]})
    if not secret_exists:
        try:
            sm.create_secret(Name=name, ClientRequestToken=token, SecretString=value,
                             Description=f"Access key of IAM user {user}, rotated by Caretaker {automation}",
                             Tags=[{"Key": AUTOMATION_TAG, "Value": automation}, {"Key": USER_TAG, "Value": user}])
            return {"secret": name, "version_id": token, "secret_created": True}
        except ClientError as exc:
            if error_code(exc) != "ResourceExistsException":
                raise
    sm.put_secret_value(SecretId=name, ClientRequestToken=token, SecretString=value)
    return {"secret": name, "version_id": token}


# ---------------------------------------------------------------------- what a run found and did


@dataclass
class Report:
    """Findings for the notification, steps done, and counts for the run's result.

    A run that continues over several invocations carries its report from one to the next
    (`carried` / `restore`), so that it sends one notification, at its end, for the whole run.
    The lists keep their first `LIST_LIMIT` entries (an SNS message holds 256 KB); the totals
    count them all.
    """

    findings: list[dict[str, Any]] = field(default_factory=list)
    done: list[dict[str, Any]] = field(default_factory=list)
    tally: Counter[str] = field(default_factory=Counter)
    findings_total: int = 0
    done_total: int = 0

    def find(self, user: str, kind: str, reason: str, **details: Any) -> None:
        self.findings_total += 1
        if len(self.findings) < LIST_LIMIT:
            self.findings.append({"user": user, "finding": kind, "reason": reason, **details})

    def did(self, user: str | None, action: str, resource_id: str | None) -> None:
        self.done_total += 1
        if len(self.done) < LIST_LIMIT:
            self.done.append({"user": user, "action": action, "resource_id": resource_id})

    def carried(self) -> dict[str, Any]:
        return {"findings": self.findings, "done": self.done, "tally": dict(self.tally),
                "findings_total": self.findings_total, "done_total": self.done_total}

    @classmethod
    def restore(cls, carried: Mapping[str, Any] | None) -> Report:
        """The report of the earlier invocations of this run (an empty one for a new run)."""
        if not carried:
            return cls()
        return cls(list(carried.get("findings", [])), list(carried.get("done", [])),
                   Counter({str(k): int(v) for k, v in carried.get("tally", {}).items()}),
                   int(carried.get("findings_total", 0)), int(carried.get("done_total", 0)))

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"findings": self.findings, "done": self.done, "counts": dict(self.tally)}
        truncated = {name: total - len(shown) for name, total, shown in (
            ("findings", self.findings_total, self.findings), ("done", self.done_total, self.done))
            if total > len(shown)}
        if truncated:
            body["truncated"] = truncated
        return body


def record_failure(run: Run, resource_id: str, action: str, reason: str,
                   details: Mapping[str, Any] | None = None) -> None:
    """A `failed` item for something that went wrong outside `Run.act` (e.g. a read)."""
    record = run.state.plan(resource_id, action, reason, dry_run=run.dry_run, details=details)
    run.fail(record, reason)


@dataclass(frozen=True)
class Periods:
    max_key_age_days: int
    grace_days: int
    delete_after_days: int


# ---------------------------------------------------------------------- the machine

Step = Callable[[RotationState, dict[str, Key]], tuple[RotationState, bool]]


class Rotator:
    """Moves opted-in users through their rotation; one instance per run."""

    def __init__(self, run: Run, store: RotationStore, periods: Periods, report: Report, automation: str) -> None:
        self.run = run
        self.store = store
        self.periods = periods
        self.report = report
        self.automation = automation
        self.iam = run.clients("iam")
        self.sm = run.clients("secretsmanager")
        self.steps: dict[str, Step] = {
            IDLE: self._idle,
            CREATING: self._create,
            STORING: self._create,
            GRACE: self._grace,
            DEACTIVATING: self._deactivate,
            DEACTIVATED: self._delete_old,
            DELETING: self._delete_old,
        }

    @property
    def now(self) -> datetime:
        return self.run.clock()

    def advance(self, state: RotationState) -> RotationState:
        """Take every step that is due for this user; return where it stopped."""
        for _ in range(MAX_STEPS_PER_RUN):
            keys = list_keys(self.iam, state.user)
            state, go_on = self.steps[state.phase](state, keys)
            if not go_on:
                break
        return state

    # ------------------------------------------------------------------ helpers

    def _save(self, state: RotationState) -> RotationState:
        """Write the state ahead of the call it announces; audit runs only plan, so they write nothing."""
        return state if self.run.dry_run else self.store.save(state)

    def _act(self, resource_id: str, action: str, reason: str, call: Callable[[], Any],
             details: Mapping[str, Any]) -> Any:
        """`Run.act`; None when the call failed or (audit) was only planned."""
        result = self.run.act(resource_id, action, reason, call, details=details)
        if result is not None:
            self.report.did(details.get("user"), action, resource_id)
        return result

    def _delete(self, user: str, key_id: str, reason: str) -> bool:
        """Delete a key; True when it is gone or, in audit mode, when its deletion was planned."""
        result = self._act(key_id, DELETE, reason, lambda: delete_key(self.iam, user, key_id),
                           {"user": user})
        if result is not None:
            self.report.tally["keys_deleted"] += 1
        return result is not None or self.run.dry_run

    def _block(self, state: RotationState, reason: str, keys: list[str]) -> tuple[RotationState, bool]:
        self.run.skip(state.user, ROTATE, reason, {"user": state.user, "phase": state.phase, "keys": keys})
        self.report.find(state.user, "rotation-blocked", reason, keys=keys, phase=state.phase)
        self.report.tally["blocked"] += 1
        return state, False

    # ------------------------------------------------------------------ phases

    def _idle(self, state: RotationState, keys: dict[str, Key]) -> tuple[RotationState, bool]:
        active = [k for k in keys.values() if k.active]
        if not active:
            self.run.skip(state.user, ROTATE, "no active access key to rotate", {"user": state.user})
            return state, False
        if len(active) > 1:
            return self._block(state, "two active access keys: Caretaker rotates a user that has one; deactivate "
                                      "the one no longer in use", [k.key_id for k in active])
        key = active[0]
        age = self.now - key.created
        if age <= timedelta(days=self.periods.max_key_age_days):
            return state, False
        name = secret_name(state.user)
        if not _SECRET_NAME_RE.match(name):
            return self._block(state, f"the user name cannot name a secret ({name!r}): rename the user or rotate "
                                      "its key by hand", [key.key_id])
        secret = describe_secret(self.sm, name)
        if secret.rotation_enabled:
            self.run.skip(state.user, ROTATE, f"secret {name} has Secrets Manager rotation enabled: its rotation "
                                              "function rotates this user's key", {"user": state.user})
            return state, False
        if secret.exists and (secret.tags.get(AUTOMATION_TAG) != self.automation or is_protected(secret.tags)):
            return self._block(state, f"secret {name} exists and is protected or was not made by {self.automation}: "
                                      "Caretaker does not overwrite it", [key.key_id])
        self.report.tally["rotations_started"] += 1
        return self._save(state.moved(CREATING, self.now, old_key_id=key.key_id, new_key_id=None,
                                      keys_before=tuple(sorted(keys)), started_at=self.now)), True

    def _create(self, state: RotationState, keys: dict[str, Key]) -> tuple[RotationState, bool]:
        """Create the new key and store it; first reconcile what an interrupted run may have left."""
        user, name, now = state.user, secret_name(state.user), self.now
        secret = describe_secret(self.sm, name)
        candidates = [k for k in keys.values() if k.key_id == state.new_key_id or k.key_id not in state.keys_before]
        for key in candidates:
            if version_id(user, key.key_id) in secret.versions:
                self.run.skip(user, STORE, f"key {key.key_id} was created and stored by an interrupted run: the "
                                           "grace period starts now", {"user": user, "access_key_id": key.key_id})
                return self._save(state.moved(GRACE, now, new_key_id=key.key_id, stored_at=now)), True
        for key in candidates:
            started = state.started_at or now
            ours = key.key_id == state.new_key_id or (
                key.created >= started - CLOCK_SKEW and last_used(self.iam, key.key_id) is None)
            if not ours:
                return self._block(state, f"key {key.key_id} appeared during the rotation and was not created by "
                                          "it (it is older or was used): left alone", [key.key_id])
            if not self._delete(user, key.key_id, "created by an interrupted rotation whose secret was never "
                                                  "stored: nobody can use it"):
                return state, False
            del keys[key.key_id]

        old = keys.get(state.old_key_id or "")
        if old is None or not old.active:
            how = "gone" if old is None else "inactive"
            self.run.skip(user, ROTATE, f"key {state.old_key_id} that was being replaced is {how}: the rotation "
                                        "starts over from the keys the user has", {"user": user})
            return self._save(state.abandoned(now)), True
        for extra in [k for k in keys.values() if k.key_id != old.key_id]:
            if extra.active:
                return self._block(state, f"a second active key ({extra.key_id}): Caretaker does not delete an "
                                          "active key it did not create", [old.key_id, extra.key_id])
            if not self._delete(user, extra.key_id, "extra inactive key, removed to make room for the new key "
                                                    "(IAM allows two keys per user)"):
                return state, False

        age_days = (now - old.created).days
        created = self.run.act(
            user, CREATE, f"active key {old.key_id} is {age_days} days old (> {self.periods.max_key_age_days})",
            lambda: self.iam.create_access_key(UserName=user),
            details={"user": user, "old_key_id": old.key_id, "secret": name},
            result_details=lambda r: {"access_key_id": r["AccessKey"]["AccessKeyId"]})
        if created is None:  # failed, or planned only (audit)
            return state, False
        access_key = created["AccessKey"]
        new_id = access_key["AccessKeyId"]
        self.report.tally["keys_created"] += 1
        self.report.did(user, CREATE, new_id)
        state = self._save(state.moved(STORING, now, new_key_id=new_id))
        stored = self._act(user, STORE, f"new key {new_id} becomes AWSCURRENT of {name}",
                           lambda: store_key(self.sm, self.automation, user, access_key, secret.exists),
                           {"user": user, "access_key_id": new_id, "secret": name})
        if stored is None:
            # The secret access key exists only in this process: a key whose secret is lost is useless.
            if self._delete(user, new_id, "rollback: its secret could not be stored"):
                return self._save(state.moved(CREATING, now, new_key_id=None)), False
            return state, False
        return self._save(state.moved(GRACE, now, stored_at=now)), False  # the grace period starts now

    def _grace(self, state: RotationState, keys: dict[str, Key]) -> tuple[RotationState, bool]:
        due = (state.stored_at or state.phase_at or self.now) + timedelta(days=self.periods.grace_days)
        if self.now < due:
            self.run.skip(state.old_key_id or state.user, DEACTIVATE,
                          f"grace period: the old key stays active until {iso(due)}",
                          {"user": state.user, "new_key_id": state.new_key_id})
            return state, False
        return self._deactivate(state, keys)

    def _deactivate(self, state: RotationState, keys: dict[str, Key]) -> tuple[RotationState, bool]:
        user, now = state.user, self.now
        old, new = keys.get(state.old_key_id or ""), keys.get(state.new_key_id or "")
        if old is None:
            return self._finish(state, f"old key {state.old_key_id} is already gone")
        if new is None or not new.active:
            reason = (f"new key {state.new_key_id} is {'gone' if new is None else 'inactive'}: the old key "
                      f"{old.key_id} stays active so that {user} keeps a working key")
            record_failure(self.run, old.key_id, DEACTIVATE, reason, {"user": user})
            self.report.find(user, "rotation-failed", reason, keys=sorted(keys))
            return state, False
        if not old.active:  # deactivated by someone else: nothing left to do for this phase
            return self._save(state.moved(DEACTIVATED, now)), True
        used = last_used(self.iam, old.key_id)
        details: dict[str, Any] = {"user": user, "new_key_id": new.key_id,
                                   "old_key_last_used": iso(used) if used else None}
        if used is not None and state.stored_at is not None and used > state.stored_at:
            self.report.find(user, "old-key-still-used", f"old key {old.key_id} was used at {iso(used)}, after "
                             "its replacement was stored: its consumer may not have switched", keys=[old.key_id])
        if state.phase != DEACTIVATING:
            state = self._save(state.moved(DEACTIVATING, now))
        done = self._act(old.key_id, DEACTIVATE, f"grace period of {self.periods.grace_days} days is over; "
                                                 f"replaced by {new.key_id}",
                         lambda: self.iam.update_access_key(UserName=user, AccessKeyId=old.key_id, Status="Inactive"),
                         details)
        if done is None:
            return state, False
        self.report.tally["keys_deactivated"] += 1
        return self._save(state.moved(DEACTIVATED, now)), False  # the deletion period starts now

    def _delete_old(self, state: RotationState, keys: dict[str, Key]) -> tuple[RotationState, bool]:
        old = keys.get(state.old_key_id or "")
        if old is None:
            return self._finish(state, f"old key {state.old_key_id} is already gone")
        if old.active:
            return self._block(state, f"old key {old.key_id} is active again (it was reactivated after Caretaker "
                                      "deactivated it): not deleting it; deactivate it to let the rotation finish",
                               [old.key_id])
        due = (state.phase_at or self.now) + timedelta(days=self.periods.delete_after_days)
        if state.phase == DEACTIVATED and self.now < due:
            self.run.skip(old.key_id, DELETE, f"inactive; deleted after {iso(due)}", {"user": state.user})
            return state, False
        if state.phase != DELETING:
            state = self._save(state.moved(DELETING, self.now))
        if not self._delete(state.user, old.key_id, f"inactive for {self.periods.delete_after_days} days after "
                                                    f"being replaced by {state.new_key_id}") or self.run.dry_run:
            return state, False
        return self._finish(state, "old key deleted")

    def _finish(self, state: RotationState, how: str) -> tuple[RotationState, bool]:
        self.run.log.info("rotation complete", extra={"user": state.user, "how": how,
                                                      "new_key_id": state.new_key_id, "old_key_id": state.old_key_id})
        self.report.did(state.user, "rotation-complete", state.new_key_id)
        self.report.tally["rotations_completed"] += 1
        return self._save(state.finished(self.now)), False
