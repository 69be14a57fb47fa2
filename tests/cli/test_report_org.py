"""`report --org`: every member account-region's runs and actions, read through its caretaker-reader role.

The organization (tests/cli/org_ledgers.py): three member accounts in an OU, each with a state table in
two regions holding two runs of the last 24 hours (one with a snapshot action) and one older run.
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
from automations.cli.org_access import OrgAccess
from automations.cli.report_org import ORG_JSON_SCHEMA, report_org
from templates import names
from tests.cli.org_ledgers import HUB_ACCOUNT, MEMBER_REGIONS, Organization, organization, session_denying, volume_of

__all__ = ["organization"]


def _main(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _json_report(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any], str]:
    code, out, err = _main(capsys, "report", "--org", "--format", "json", *argv)
    return code, json.loads(out), err  # the whole of stdout is one JSON document


def test_json_lists_every_members_runs_and_actions_with_its_account_and_region(
        organization: Organization, capsys: pytest.CaptureFixture[str]) -> None:
    code, document, err = _json_report(capsys)

    assert code == 0 and "error" not in err
    assert document["schema"] == ORG_JSON_SCHEMA and document["error"] is None and document["unreachable"] == []
    runs: dict[tuple[str, str], list[str]] = defaultdict(list)
    for run in document["runs"]:
        runs[(run["account"], run["region"])].append(run["run_id"])
    assert runs == organization.recent_runs  # the 3-day-old runs left out
    succeeded = [a for a in document["actions"] if a["outcome"] == "succeeded"]
    assert sorted((a["account"], a["region"], a["resource_id"]) for a in succeeded) == \
        sorted((a, r, volume_of(a, r)) for a, r in organization.members)
    assert all(a["run_id"] in organization.recent_runs[(a["account"], a["region"])] for a in document["actions"])
    assert [(m["account"], m["region"], m["runs"], m["counts"]["succeeded"], m["error"])
            for m in document["members"]] == [(a, r, 2, 1, None) for a, r in organization.members]
    assert document["totals"] == {"members": 6, "unreachable": 0, "runs": 12, "actions": 12, "failed_runs": 0,
                                  "counts": {"planned": 6, "succeeded": 6, "failed": 0, "skipped": 0}}


def test_default_members_are_the_organizations_active_accounts_but_the_management_account_in_the_hub_regions(
        organization: Organization, capsys: pytest.CaptureFixture[str]) -> None:
    _, document, _ = _json_report(capsys)

    assert document["query"]["accounts"] == organization.accounts and HUB_ACCOUNT not in organization.accounts
    assert document["query"]["regions"] == sorted(MEMBER_REGIONS)


def test_accounts_and_regions_narrow_the_members_read(organization: Organization,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    first, second, third = organization.accounts

    code, document, _ = _json_report(capsys, "--accounts", f"{third},{first}", "--regions", "us-west-2")

    assert code == 0
    assert [(m["account"], m["region"]) for m in document["members"]] == [(first, "us-west-2"), (third, "us-west-2")]
    assert {(r["account"], r["region"]) for r in document["runs"]} == {(first, "us-west-2"), (third, "us-west-2")}
    assert second not in json.dumps(document["runs"]) + json.dumps(document["actions"])


def test_table_shows_each_members_runs_and_one_line_per_member(organization: Organization,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _main(capsys, "report", "--org", "--since", "24h")

    assert code == 0 and err == ""
    for account, region in organization.members:
        assert f"Runs in {account} {region}" in out and f"Actions in {account} {region}" in out
        assert volume_of(account, region) in out
    assert "Runs since" in out and "6 member account-regions" in out


def test_a_member_without_a_state_table_is_listed_exits_non_zero_and_hides_no_other(
        organization: Organization, capsys: pytest.CaptureFixture[str]) -> None:
    gone = organization.members[2]
    organization.ledger(*gone).delete_table(TableName=names.MEMBER_STATE_TABLE)

    code, document, err = _json_report(capsys)

    assert code == 1
    assert [(u["account"], u["region"]) for u in document["unreachable"]] == [gone]
    assert "ResourceNotFoundException" in document["unreachable"][0]["error"]
    assert document["error"] == "1 of 6 member account-regions unreachable"
    assert {(r["account"], r["region"]) for r in document["runs"]} == set(organization.members) - {gone}
    assert err.startswith("error: 1 of 6 member account-regions unreachable: " + " ".join(gone))
    assert err.count("\n") == 1


def test_a_member_whose_reader_role_refuses_the_hub_is_listed_and_the_others_are_shown(
        organization: Organization) -> None:
    denied = organization.accounts[1]
    out, err, console_out = io.StringIO(), io.StringIO(), io.StringIO()
    access = OrgAccess(session_denying("AssumeRole", denied))

    code = report_org(access, since=organization.now - timedelta(hours=24), fmt="table", err=err,
                      console=Console(file=console_out, width=250, emoji=False), out=out)

    assert code == 1
    lines = [line for line in console_out.getvalue().splitlines() if "unreachable: AccessDenied" in line]
    assert sorted(line.split()[1] for line in lines) == [denied, denied]
    assert "2 of 6 member account-regions unreachable" in console_out.getvalue()
    for account, region in organization.members:
        assert (f"Runs in {account} {region}" in console_out.getvalue()) == (account != denied)
    assert err.getvalue().startswith(f"error: 2 of 6 member account-regions unreachable: {denied} ")


def test_the_reader_credentials_are_assumed_once_per_account(organization: Organization) -> None:
    access = OrgAccess()

    assert report_org(access, since=organization.now - timedelta(hours=24), fmt="json", out=io.StringIO()) == 0

    assert access.assumed == len(organization.accounts)


def test_ended_runs_that_recorded_no_action_cost_no_query_of_their_actions(organization: Organization) -> None:
    session = boto3.session.Session()
    queried: list[str] = []
    session.events.register("before-call.dynamodb.Query",
                            lambda params, **_: queried.append(params["body"].decode()))
    account, region = organization.members[0]

    report_org(OrgAccess(session), since=organization.now - timedelta(hours=24), accounts=[account],
               regions=[region], fmt="json", out=io.StringIO())

    snapshot_run, cleanup_run = organization.recent_runs[(account, region)]
    assert sum(snapshot_run in q for q in queried) == 1 and not any(cleanup_run in q for q in queried)


@pytest.mark.parametrize("argv, message", [
    (["--accounts", "111111111111"], "--accounts and --regions go with --org"),
    (["--org", "--accounts", "12,abc"], "twelve-digit account ids"),
    (["--org", "--regions", "eu-west-1;drop"], "region names"),
    (["--org", "--table", "other"], "no --table"),
    (["--org", "--run", "r1"], "report --org takes --since"),
    (["--org", "--format", "html"], "table or json"),
])
def test_arguments_that_do_not_fit_org_are_refused_in_one_line(organization: Organization,
                                                                capsys: pytest.CaptureFixture[str],
                                                                argv: list[str], message: str) -> None:
    code, out, err = _main(capsys, "report", *argv)

    assert code == 1 and out == "" and message in err and err.count("\n") == 1


def test_without_a_hub_stack_regions_must_be_given(organization: Organization,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    boto3.client("cloudformation").delete_stack(StackName=names.HUB_STACK_NAME)

    code, out, err = _main(capsys, "report", "--org", "--format", "json")

    assert code == 1 and out == ""
    assert err.startswith(f"error: no member regions: pass --regions or deploy {names.HUB_STACK_NAME}")


def test_single_account_json_is_one_document_on_stdout_when_the_table_is_missing(
        capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _main(capsys, "report", "--format", "json", "--table", "no-such-table")

    assert code == 1 and out == "" and err.startswith("error: ") and "ResourceNotFoundException" in err


def test_members_still_throttled_after_the_clients_retries_are_listed_and_the_others_shown(
        organization: Organization, monkeypatch: pytest.MonkeyPatch) -> None:
    from automations.core.aws import MAX_ATTEMPTS
    from tests.faults.faults import moto_skips_throttled_attempts, throttling_response, virtual_retry_time

    virtual_retry_time(monkeypatch)  # botocore's backoff advances a virtual clock: the retries cost no real time
    moto_skips_throttled_attempts(monkeypatch)
    attempts: list[str] = []

    def throttle_us_west_2(request: Any, **_: Any) -> Any:
        if "us-west-2" not in request.url:
            return None
        attempts.append(request.url)
        request.caretaker_throttled = True
        return throttling_response(request.url, "dynamodb")

    session = boto3.session.Session()
    session.events.register_first("before-send.dynamodb", throttle_us_west_2)
    out = io.StringIO()

    code = report_org(OrgAccess(session), since=organization.now - timedelta(hours=24), fmt="json", out=out,
                      err=io.StringIO())

    document = json.loads(out.getvalue())
    assert code == 1
    assert sorted((u["account"], u["region"]) for u in document["unreachable"]) == \
        [(a, "us-west-2") for a in organization.accounts]
    assert all(u["error"].startswith("ProvisionedThroughputExceededException") for u in document["unreachable"])
    assert len(attempts) == len(organization.accounts) * (MAX_ATTEMPTS + 1)  # bounded retries, then listed
    assert {(r["account"], r["region"]) for r in document["runs"]} == {(a, "eu-west-1") for a in organization.accounts}
