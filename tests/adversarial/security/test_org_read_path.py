"""Attacks on the organization read path (`report --org`, `mode --org`).

A developer in one member account can write that member's own ledger (its functions' role, or a
careless grant); the hub operator runs the CLI. What must hold:
- the CLI never writes through `caretaker-reader`: a report is read-only in every member, and `mode --org`
  writes through `caretaker-operator` alone;
- a member's ledger cannot claim another account's runs (account and region come from where it was read);
- text in one member's ledger cannot break the report for the others;
- nothing but a twelve-digit account id reaches a role ARN.
"""

from __future__ import annotations

import io
import json
from collections import defaultdict
from datetime import timedelta
from typing import Any

import boto3
import pytest
from rich.console import Console

from automations.cli import main as cli
from automations.cli.mode import set_mode_org
from automations.cli.org_access import OrgAccess
from automations.cli.report_org import report_org
from automations.core.state_log import StateLog, new_run_id
from templates import names
from tests.cli.org_ledgers import Organization, organization

__all__ = ["organization"]

READS = {"Query", "GetItem", "BatchGetItem", "Scan", "DescribeTable"}


class CallsByRole:
    """Every DynamoDB request a session's clients send, by the member role whose credentials signed it."""

    def __init__(self, session: boto3.session.Session) -> None:
        self.role_of_key: dict[str, str] = {}
        self.calls: dict[str, list[str]] = defaultdict(list)
        session.events.register("after-call.sts.AssumeRole", self._assumed)
        session.events.register_first("before-send.dynamodb", self._sent)

    def _assumed(self, parsed: dict[str, Any], **_: Any) -> None:
        if "Credentials" in parsed:
            role = parsed["AssumedRoleUser"]["Arn"].split("/")[1]
            self.role_of_key[parsed["Credentials"]["AccessKeyId"]] = role

    def _sent(self, request: Any, **_: Any) -> None:
        authorization = request.headers["Authorization"]
        authorization = authorization.decode() if isinstance(authorization, bytes) else authorization
        key = authorization.split("Credential=")[1].split("/")[0]
        target = request.headers["X-Amz-Target"]
        target = target.decode() if isinstance(target, bytes) else target
        self.calls[self.role_of_key.get(key, "hub")].append(target.split(".")[-1])


def test_report_org_reads_through_the_reader_role_only_and_mode_org_writes_through_the_operator_only(
        organization: Organization) -> None:
    report_session, mode_session = boto3.session.Session(), boto3.session.Session()
    report_calls, mode_calls = CallsByRole(report_session), CallsByRole(mode_session)

    assert report_org(OrgAccess(report_session), since=organization.now - timedelta(hours=24), fmt="json",
                      out=io.StringIO()) == 0
    assert set_mode_org(OrgAccess(mode_session), "ebs-snapshots", "off", reason="r", out=io.StringIO()) == 0

    assert set(report_calls.calls) == {names.READER_ROLE_NAME}
    assert set(report_calls.calls[names.READER_ROLE_NAME]) <= READS
    assert set(mode_calls.calls) == {names.OPERATOR_ROLE_NAME}
    assert mode_calls.calls[names.OPERATOR_ROLE_NAME] == ["PutItem"] * len(organization.members)
    assert set(mode_calls.role_of_key.values()) == {names.OPERATOR_ROLE_NAME}  # the reader was never assumed


def _forge(organization: Organization, member: tuple[str, str], automation: str, **attributes: Any) -> str:
    """A run written into a member's own ledger by someone with write access to it there."""
    at = organization.now - timedelta(minutes=30)
    run_id = new_run_id(at)
    log = StateLog(names.MEMBER_STATE_TABLE, organization.ledger(*member), automation=automation,
                   run_id=run_id, clock=lambda: at)
    log.start_run(mode="enforce", **attributes)
    record = log.plan("vol-forged", "[bold red]delete[/]", "[/] closes nothing [/]", dry_run=False)
    log.outcome(record, "succeeded", reason="[/]")
    log.finish_run("ok", account=attributes.get("account"), region=attributes.get("region"))
    return run_id


def test_a_members_ledger_cannot_claim_another_accounts_runs(organization: Organization,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    victim, attacker = organization.members[0], organization.members[-1]
    forged = _forge(organization, attacker, "ebs-snapshots", account=victim[0], region=victim[1])

    code = cli.main(["report", "--org", "--format", "json"])
    document = json.loads(capsys.readouterr().out)

    assert code == 0
    assert {(r["account"], r["region"]) for r in document["runs"] if r["run_id"] == forged} == {attacker}
    assert {(a["account"], a["region"]) for a in document["actions"] if a["run_id"] == forged} == {attacker}
    lines = {(m["account"], m["region"]): m["runs"] for m in document["members"]}
    assert lines[victim] == 2 and lines[attacker] == 3


def test_markup_in_one_members_ledger_does_not_break_the_report_of_the_others(organization: Organization) -> None:
    attacker = organization.members[1]
    _forge(organization, attacker, "[/][link=https://evil.example]ebs-snapshots[/link]")
    screen = io.StringIO()

    code = report_org(OrgAccess(), since=organization.now - timedelta(hours=24), fmt="table",
                      console=Console(file=screen, width=250, emoji=False))

    assert code == 0
    assert all(f"Runs in {a} {r}" in screen.getvalue() for a, r in organization.members)
    assert "[/] closes nothing [/]" in screen.getvalue() and "[bold red]delete[/]" in screen.getvalue()


@pytest.mark.parametrize("accounts", ["111111111111:role/Admin#", "arn:aws:iam::111111111111:root", "*"])
def test_nothing_but_an_account_id_reaches_a_role_arn(organization: Organization, capsys: pytest.CaptureFixture[str],
                                                     accounts: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assumed: list[str] = []
    real = OrgAccess.credentials

    def counted(self: OrgAccess, *a: Any) -> Any:
        assumed.append(str(a))
        return real(self, *a)

    monkeypatch.setattr(OrgAccess, "credentials", counted)

    code = cli.main(["mode", "*", "off", "--org", "--reason", "r", "--accounts", accounts])

    assert code == 1 and assumed == [] and "twelve-digit account ids" in capsys.readouterr().err
