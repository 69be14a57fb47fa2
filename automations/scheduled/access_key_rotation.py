"""IAM access keys on a schedule: rotate them for opted-in users, report (and deactivate) the rest.

Opted-in users (tag `caretaker:rotate=true`; the role's IAM policy requires the same tag for
CreateAccessKey and DeleteAccessKey) get a new key when their active key is older than `max_key_age_days`; the key is
stored in the secret `caretaker/access-keys/<user>`, the old key is deactivated after
`grace_days` and deleted `delete_after_days` later (the machine is in `access_key_steps`).

Other users: active keys older than `max_key_age_days` are reported; active keys unused for
`max_unused_days` are reported and, in enforce mode, deactivated. Default mode: audit, since
deactivating and deleting keys takes access away. See docs/credential-rotation.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from automations.core.codec import iso
from automations.core.continuation import Checkpoint
from automations.core.errors import StateLogError
from automations.core.keys import Key, last_used, list_keys
from automations.core.notify import outcome_of
from automations.core.registry import register
from automations.core.runtime import Run, describe_error, entrypoint
from automations.core.selection import NOT_PROTECTED, is_protected, tag_map, tag_matches
from automations.core.spec import FunctionSpec, Permission, Rate, Setting
from automations.scheduled.access_key_state import IDLE, RotationState, RotationStore, StateConflict
from automations.scheduled.access_key_steps import (
    EVALUATE,
    ROTATE,
    SECRET_PREFIX,
    Periods,
    Report,
    Rotator,
    record_failure,
)

NAME = "access-key-rotation"
_USERS = "arn:${AWS::Partition}:iam::${AWS::AccountId}:user/*"
_SECRETS = "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:" + SECRET_PREFIX + "*"
#: The tag (value true, any case) that opts a user in to rotation. Fixed, not a setting: the IAM policy
#: names it (a condition key cannot come from a template parameter), and a caretaker:* key is one that
#: operators reserve for IAM administrators (docs/security-model.md section 6).
ROTATE_TAG = "caretaker:rotate"

SPEC = register(FunctionSpec(
    name=NAME,
    description="Rotates the access keys of opted-in IAM users through Secrets Manager; reports old and unused "
                "keys of the others and deactivates unused ones.",
    trigger=Rate(1, "day"),
    default_mode="audit",  # deactivating and deleting keys takes access away
    timeout=900,
    memory=256,
    continues=True,  # many users: checkpoint between users and continue in a new invocation
    permissions=(
        Permission(("iam:ListUsers",), why="selection; ListUsers has no resource-level scoping"),
        Permission(("iam:ListUserTags", "iam:ListAccessKeys", "iam:GetAccessKeyLastUsed"), (_USERS,),
                   why="opt-in tags, the keys and when they were last used"),
        Permission(("iam:CreateAccessKey", "iam:DeleteAccessKey"), (_USERS,),
                   condition={"StringEqualsIgnoreCase": {f"aws:ResourceTag/{ROTATE_TAG}": "true"}, **NOT_PROTECTED},
                   why=f"rotation: new key, delete the old one; only users tagged {ROTATE_TAG}=true and not "
                       "caretaker:protect=true"),
        Permission(("iam:UpdateAccessKey",), (_USERS,), condition=NOT_PROTECTED,
                   why="deactivate the replaced key (opted-in users) and unused keys of the others (enforce mode "
                       "only); never a user tagged caretaker:protect=true"),
        Permission(("secretsmanager:DescribeSecret", "secretsmanager:CreateSecret", "secretsmanager:PutSecretValue",
                    "secretsmanager:TagResource"), (_SECRETS,),
                   why="store each new key in caretaker/access-keys/<user> (TagResource: tags given to CreateSecret); "
                       "DescribeSecret tells which keys are stored without reading any value"),
    ),
    settings=(
        Setting("max_key_age_days", "int", 90,
                "Active keys older than this are rotated (opted-in users) or reported (the others).",
                minimum=1, maximum=3650),
        Setting("max_unused_days", "int", 90,
                "Active keys of users not opted in that were not used for this long (or never, since created) are "
                "reported, and deactivated in enforce mode.", minimum=1, maximum=3650),
        Setting("grace_days", "int", 7,
                "Days the old key stays active after its replacement is stored.", minimum=1, maximum=365),
        Setting("delete_after_days", "int", 7,
                "Days a replaced key stays inactive before it is deleted.", minimum=1, maximum=365),
    ),
))

REPORT_OLD = "report-old-access-key"
DEACTIVATE_UNUSED = "deactivate-unused-access-key"
#: The run's one phase: every user, by name (a checkpoint falls between two users, never inside one).
USERS = "users"


@entrypoint(SPEC)
def handler(run: Run, event: Mapping[str, Any]) -> dict[str, Any]:
    """Advance every opted-in user's rotation; report and (enforce) deactivate the others' unused keys.

    Users are walked by name; when the invocation runs short of time the run checkpoints between two
    users and continues in a new invocation (docs/continuation.md), which reads the rotation states
    and lists the users again and goes on with those left. The report travels with the run, so one
    notification covers all its invocations."""
    settings = run.settings
    iam = run.clients("iam")
    store = RotationStore.beside(run.state)
    states = store.load_all()
    report = Report.restore(run.carried.get("report"))
    rotator = Rotator(run, store, Periods(settings["max_key_age_days"], settings["grace_days"],
                                          settings["delete_after_days"]), report, NAME)
    users = [u for page in iam.get_paginator("list_users").paginate() for u in page.get("Users", [])]
    try:
        for user in run.items(USERS, users, key=lambda u: str(u["UserName"])):
            name = user["UserName"]
            report.tally["users"] += 1
            try:
                _evaluate(run, rotator, store, report, user, states.get(name))
            except StateLogError:
                raise
            except StateConflict as exc:
                run.skip(name, ROTATE, str(exc), {"user": name})
            except (ClientError, BotoCoreError) as exc:  # one failing user never stops the run
                reason = describe_error(exc)
                record_failure(run, name, EVALUATE, reason, {"user": name})
                report.find(name, "evaluation-failed", reason)
    except Checkpoint:
        run.carry("report", report.carried())  # the next invocation goes on with it; one notification per run
        raise
    _notify(run, report)
    return {"users": report.tally["users"], **dict(sorted(report.tally.items())), "findings": report.findings_total}


def opted_in(tags: Mapping[str, str]) -> bool:
    """Tagged caretaker:rotate=true (any case): the same test as the IAM condition on the role's policy."""
    return tag_matches(tags, ROTATE_TAG, ("true",))


def _evaluate(run: Run, rotator: Rotator, store: RotationStore, report: Report, user: Mapping[str, Any],
              state: RotationState | None) -> None:
    name = user["UserName"]
    iam = rotator.iam
    tags = tag_map(t for page in iam.get_paginator("list_user_tags").paginate(UserName=name)
                   for t in page.get("Tags", []))
    if opted_in(tags):
        report.tally["users_opted_in"] += 1
        if is_protected(tags):
            run.skip(name, ROTATE, "protected: tagged caretaker:protect=true", {"user": name})
            return
        rotator.advance(state or RotationState(name))
        return
    if state is not None and state.phase != IDLE:
        reason = (f"no longer opted in: the rotation stops in phase {state.phase} and the keys stay as they are "
                  f"(old {state.old_key_id}, new {state.new_key_id})")
        run.skip(name, ROTATE, reason, {"user": name})
        report.find(name, "rotation-abandoned", reason)
        if not run.dry_run:
            store.save(state.abandoned(run.clock()))
    _report_keys(run, iam, report, name, list_keys(iam, name), is_protected(tags))


def _report_keys(run: Run, iam: Any, report: Report, user: str, keys: Mapping[str, Key], protected: bool) -> None:
    """Users not opted in: old keys are reported; unused keys are reported and (enforce) deactivated."""
    now = run.clock()
    max_age, max_unused = run.settings["max_key_age_days"], run.settings["max_unused_days"]
    for key in keys.values():
        if not key.active:
            continue
        details: dict[str, Any] = {"user": user, "created": iso(key.created)}
        age = now - key.created
        if age > timedelta(days=max_age):
            reason = f"active for {age.days} days (> {max_age}); {user} is not opted in to rotation"
            run.skip(key.key_id, REPORT_OLD, reason, details)
            report.find(user, "old-key", reason, keys=[key.key_id])
            report.tally["old_keys"] += 1
        used = last_used(iam, key.key_id)
        idle_since: datetime = used or key.created
        if now - idle_since <= timedelta(days=max_unused):
            continue
        reason = (f"not used for {(now - idle_since).days} days (> {max_unused}): last used "
                  f"{iso(used) if used else 'never'}")
        report.tally["unused_keys"] += 1
        details["last_used"] = iso(used) if used else None
        if protected:
            run.skip(key.key_id, DEACTIVATE_UNUSED, "protected: tagged caretaker:protect=true; " + reason, details)
            report.find(user, "unused-key", reason, keys=[key.key_id], outcome="skipped (protected)")
            continue
        done = run.act(key.key_id, DEACTIVATE_UNUSED, reason,
                       lambda k=key.key_id: iam.update_access_key(  # type: ignore[misc]
                           UserName=user, AccessKeyId=k, Status="Inactive"),
                       details=details)
        outcome = "planned (audit)" if run.dry_run else ("deactivated" if done is not None else "failed")
        if done is not None:
            report.tally["keys_deactivated"] += 1
        report.find(user, "unused-key", reason, keys=[key.key_id], outcome=outcome)


def _notify(run: Run, report: Report) -> None:
    """One notification per run (all its invocations), when anything was found or done."""
    if not report.findings_total and not report.done_total:
        return
    counts = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in sorted(report.tally.items()))
    run.notify(f"Caretaker {NAME}: {report.findings_total} finding(s)",
               f"Access keys, run {run.run_id} ({run.mode}): {counts or 'nothing done'}.", report.body(),
               outcome=outcome_of(succeeded=report.done_total, failed=run.state.counts.failed,
                                  planned=report.findings_total if run.dry_run else 0))
