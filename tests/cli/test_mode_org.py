"""`mode NAME MODE --org --reason TEXT`: the run-time override in every member ledger, through caretaker-operator.

The organization is tests/cli/org_ledgers.py's. After the override, a member's own function (ebs-snapshots
invoked in-process with that member's clients) resolves its mode from it.
"""

from __future__ import annotations

import io
from typing import Any

import boto3
import pytest

from automations.cli import main as cli
from automations.cli.mode import set_mode_org
from automations.cli.org_access import OrgAccess
from automations.core.aws import Clients
from automations.core.codec import deserialize, serialize
from automations.scheduled.ebs_snapshots import handler
from templates import names
from tests.automations.conftest import LambdaContext, create_state_table, lambda_context, scheduled_event
from tests.cli.org_ledgers import Organization, member_session, organization, session_denying

__all__ = ["lambda_context", "organization"]

CALLER_ARN = "arn:aws:sts::123456789012:user/moto"  # moto's identity for the hub's credentials


def _override(organization: Organization, account: str, region: str, automation: str) -> dict[str, Any] | None:
    item = organization.ledger(account, region).get_item(
        TableName=names.MEMBER_STATE_TABLE, ConsistentRead=True,
        Key=serialize({"pk": "CONFIG", "sk": f"MODE#{automation}"})).get("Item")
    return deserialize(item) if item else None


def _main(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_the_override_goes_into_every_member_with_who_and_why_one_line_each(
        organization: Organization, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _main(capsys, "mode", "ebs-snapshots", "off", "--org", "--reason", "incident 4711")

    assert code == 0 and err == ""
    assert out.splitlines() == [f"{a} {r}: ebs-snapshots: mode off (incident 4711)" for a, r in organization.members]
    for account, region in organization.members:
        override = _override(organization, account, region, "ebs-snapshots")
        assert override is not None
        assert (override["mode"], override["reason"], override["set_by"]) == ("off", "incident 4711", CALLER_ARN)


def test_a_members_function_then_runs_in_the_overridden_mode(organization: Organization,
                                                             capsys: pytest.CaptureFixture[str],
                                                             lambda_context: LambdaContext) -> None:
    target, other = organization.members[0], organization.members[-1]
    assert _main(capsys, "mode", "ebs-snapshots", "off", "--org", "--reason", "freeze",
                 "--accounts", target[0], "--regions", target[1])[0] == 0
    environ = {"CARETAKER_STATE_TABLE": names.MEMBER_STATE_TABLE, "CARETAKER_MODE": "enforce"}

    results = {member: handler.invoke(scheduled_event(member[1]), lambda_context, environ=environ,
                                      clients=Clients(member_session(*member)))
               for member in (target, other)}

    assert results[target]["status"] == "off" and results[other]["status"] != "off"
    summary = deserialize(organization.ledger(*target).get_item(
        TableName=names.MEMBER_STATE_TABLE, ConsistentRead=True,
        Key=serialize({"pk": f"RUN#{results[target]['run_id']}", "sk": "SUMMARY"}))["Item"])
    assert (summary["mode"], summary["mode_source"]) == ("off", "override:ebs-snapshots")
    assert _override(organization, *other, "ebs-snapshots") is None


def test_clear_removes_the_override_from_every_member(organization: Organization,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    _main(capsys, "mode", "*", "audit", "--org", "--reason", "drill")

    code, out, _ = _main(capsys, "mode", "*", "clear", "--org", "--reason", "drill over")

    assert code == 0 and out.count(": *: mode override cleared (drill over)") == len(organization.members)
    assert all(_override(organization, a, r, "*") is None for a, r in organization.members)


def test_a_member_that_cannot_be_written_is_reported_on_its_line_and_the_others_are_changed(
        organization: Organization, capsys: pytest.CaptureFixture[str]) -> None:
    gone = organization.members[1]
    organization.ledger(*gone).delete_table(TableName=names.MEMBER_STATE_TABLE)

    code, out, err = _main(capsys, "mode", "ebs-snapshots", "audit", "--org", "--reason", "r")

    assert code == 1
    lines = dict(line.split(": ", 1) for line in out.splitlines())
    assert lines.pop(" ".join(gone)).startswith("failed: ResourceNotFoundException")
    assert sorted(lines) == sorted(f"{a} {r}" for a, r in organization.members if (a, r) != gone)
    assert err == f"error: 1 of 6 member account-regions not changed: {' '.join(gone)}\n"
    written = [m for m in organization.members if m != gone]
    assert [(_override(organization, *m, "ebs-snapshots") or {}).get("mode") for m in written] == ["audit"] * 5


def test_an_account_whose_operator_role_refuses_the_hub_is_not_changed_and_the_others_are(
        organization: Organization) -> None:
    denied = organization.accounts[0]
    out, err = io.StringIO(), io.StringIO()

    code = set_mode_org(OrgAccess(session_denying("AssumeRole", denied)), "ebs-snapshots", "audit",
                        reason="r", out=out, err=err)

    assert code == 1
    failed = [line for line in out.getvalue().splitlines() if "failed: AccessDenied" in line]
    assert sorted(line.split()[0] for line in failed) == [denied, denied]
    for account, region in organization.members:
        assert (_override(organization, account, region, "ebs-snapshots") is None) == (account == denied)


def test_the_single_account_mode_records_the_callers_arn_too(capsys: pytest.CaptureFixture[str],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    table = create_state_table("local-state")
    monkeypatch.setenv("USER", "someone-else")  # an environment variable does not say who you are

    code, out, _ = _main(capsys, "mode", "cleanup-ebs-volumes", "audit", "--reason", "r", "--table", table)

    assert code == 0 and out == "cleanup-ebs-volumes: mode audit (r)\n"
    item = boto3.client("dynamodb").get_item(TableName=table, Key=serialize(
        {"pk": "CONFIG", "sk": "MODE#cleanup-ebs-volumes"}))["Item"]
    assert deserialize(item)["set_by"] == CALLER_ARN
