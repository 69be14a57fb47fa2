"""`mode NAME MODE --reason TEXT [--org]`: the run-time mode override, in one state table or in every member's.

Who set it is the caller's ARN (`sts:GetCallerIdentity`, which needs no permission and cannot be
claimed by an environment variable), recorded with the reason (docs/state-log.md, "mode override").
With `--org` the override goes into each member account-region's `caretaker-state` through that
account's `caretaker-operator` role (which may write the mode-override items only); a member that
cannot be written is reported on its line and makes the exit status 1, never stops the others.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import IO, Any

from automations.cli.org_access import ORG_WORKERS, Member, OrgAccess, describe_error
from automations.core.concurrency import ordered_stream
from automations.core.mode_override import set_mode_override
from templates import names


def outcome_text(name: str, mode: str | None, reason: str) -> str:
    """`ebs-snapshots: mode off (incident 4711)`; mode None: the override was cleared."""
    return f"{name}: mode {'override cleared' if mode is None else mode} ({reason})"


def caller_arn(sts: Any) -> str:
    return str(sts.get_caller_identity()["Arn"])


def set_mode(client: Any, sts: Any, table: str, name: str, mode: str | None, *, reason: str,
             out: IO[str] | None = None) -> int:
    """The override in one state table (the caller's account and region)."""
    set_mode_override(client, table, name, mode, by=caller_arn(sts), reason=reason)
    print(outcome_text(name, mode, reason), file=out or sys.stdout)
    return 0


def set_mode_org(access: OrgAccess, name: str, mode: str | None, *, reason: str,
                 accounts: Sequence[str] | None = None, regions: Sequence[str] | None = None,
                 out: IO[str] | None = None, err: IO[str] | None = None, workers: int = ORG_WORKERS) -> int:
    """The override in every member account-region; one line per member on `out`, in (account, region) order.
    Returns 0, or 1 when any member was not changed (also said on `err`)."""
    members = access.members(accounts, regions)
    by = access.caller_arn

    def write(member: Member) -> str | None:
        try:
            client = access.client(member, "dynamodb", names.OPERATOR_ROLE_NAME)
            set_mode_override(client, names.MEMBER_STATE_TABLE, name, mode, by=by, reason=reason)
        except Exception as exc:  # the isolation boundary: one member never stops the others
            return describe_error(exc)
        return None

    failed: list[Member] = []
    for member, error in ordered_stream(write, members, workers):
        if error is None:
            print(f"{member}: {outcome_text(name, mode, reason)}", file=out or sys.stdout)
        else:
            failed.append(member)
            print(f"{member}: failed: {error}", file=out or sys.stdout)
    if failed:
        print(f"error: {len(failed)} of {len(members)} member account-regions not changed: "
              + ", ".join(map(str, failed[:10])) + (" ..." if len(failed) > 10 else ""), file=err or sys.stderr)
        return 1
    return 0
