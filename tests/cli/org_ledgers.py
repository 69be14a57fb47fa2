"""A moto organization whose members keep state tables: the fixture of the `--org` CLI tests.

The hub is moto's default account (the organization's management account). Three member accounts are
created in the organization; in each of two regions each holds a `caretaker-state` table, created and
written through clients of an assumed role in that account (moto lands those calls in the member, so
no MOTO_ACCOUNT_ID). Each member ledger holds, since 24 hours: an `ebs-snapshots` run that snapshotted
one volume (a planned and a succeeded item) and a `cleanup-ebs-volumes` run that found nothing; and a
run three days old that a `--since 24h` report leaves out.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse, HTTPHeaders

from automations.core.state_log import StateLog, new_run_id
from templates import names
from tests.automations.conftest import REGION, create_state_table
from tests.moto_organization import make_organization

HUB_ACCOUNT = "123456789012"
MEMBER_REGIONS = ("eu-west-1", "us-west-2")
#: the role the fixture writes member ledgers through (what a member's own functions would use)
SEED_ROLE = "OrganizationAccountAccessRole"


def member_session(account: str, region: str, role: str = SEED_ROLE) -> boto3.session.Session:
    """A session in `account`/`region` through an assumed role (moto lands its calls in that account)."""
    credentials = boto3.client("sts", region_name=REGION).assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/{role}", RoleSessionName="fixture")["Credentials"]
    return boto3.session.Session(aws_access_key_id=credentials["AccessKeyId"],
                                 aws_secret_access_key=credentials["SecretAccessKey"],
                                 aws_session_token=credentials["SessionToken"], region_name=region)


def member_dynamodb(account: str, region: str) -> Any:
    return member_session(account, region).client("dynamodb")


def volume_of(account: str, region: str) -> str:
    """The volume id the member's snapshot run acted on: tells whose action an item is."""
    return f"vol-{account}-{region}"


@dataclass
class Organization:
    accounts: list[str]
    regions: tuple[str, ...] = MEMBER_REGIONS
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    #: (account, region) -> the run ids written since 24 hours, oldest first
    recent_runs: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    old_runs: dict[tuple[str, str], str] = field(default_factory=dict)
    _ledgers: dict[tuple[str, str], Any] = field(default_factory=dict)

    @property
    def members(self) -> list[tuple[str, str]]:
        return [(a, r) for a in self.accounts for r in self.regions]

    def ledger(self, account: str, region: str) -> Any:
        """A DynamoDB client in the member (through the fixture's role, not the reader's)."""
        if (account, region) not in self._ledgers:
            self._ledgers[(account, region)] = member_dynamodb(account, region)
        return self._ledgers[(account, region)]

    def write_run(self, account: str, region: str, automation: str, at: datetime,
                  act: Callable[[StateLog], None] | None = None, status: str = "ok") -> str:
        def clock() -> datetime:
            return at

        run_id = new_run_id(at)
        log = StateLog(names.MEMBER_STATE_TABLE, self.ledger(account, region), automation=automation,
                       run_id=run_id, clock=clock)
        log.start_run(mode="enforce", mode_source="environment")
        if act is not None:
            act(log)
        log.finish_run(status)
        return run_id


def _snapshot(account: str, region: str) -> Callable[[StateLog], None]:
    def act(log: StateLog) -> None:
        record = log.plan(volume_of(account, region), "create-snapshot", "tagged for backup", dry_run=False)
        log.outcome(record, "succeeded", details={"snapshot_id": f"snap-{account}"})
    return act


def build_organization(accounts: int = 3) -> Organization:
    """The organization, its members' ledgers and the hub stack's `MemberRegions` output."""
    _, _, created = make_organization(accounts)
    organization = Organization(sorted(created))
    for account, region in organization.members:
        create_state_table(names.MEMBER_STATE_TABLE, organization.ledger(account, region))
        old = organization.write_run(account, region, "ebs-snapshots", organization.now - timedelta(days=3),
                                     _snapshot(account, region))
        organization.old_runs[(account, region)] = old
        organization.recent_runs[(account, region)] = [
            organization.write_run(account, region, "ebs-snapshots", organization.now - timedelta(hours=3),
                                   _snapshot(account, region)),
            organization.write_run(account, region, "cleanup-ebs-volumes", organization.now - timedelta(hours=1)),
        ]
    deploy_hub(",".join(MEMBER_REGIONS))
    return organization


def deploy_hub(regions: str) -> None:
    """A stand-in hub stack (wt-org's template is the real one) with the `MemberRegions` output."""
    template = {"Resources": {"Alerts": {"Type": "AWS::SNS::Topic"}},
                "Outputs": {names.HUB_REGIONS_OUTPUT: {"Value": regions}}}
    boto3.client("cloudformation", region_name=REGION).create_stack(
        StackName=names.HUB_STACK_NAME, TemplateBody=json.dumps(template))


@pytest.fixture
def organization(monkeypatch: pytest.MonkeyPatch) -> Organization:
    monkeypatch.setenv("COLUMNS", "250")  # rich folds 12-digit account ids at 80 columns
    return build_organization()


# ---------------------------------------------------------------------- stubbed failures


def deny(operation: str, account: str, code: str = "AccessDenied") -> Callable[..., Any]:
    """A `before-call` hook answering `operation` with `code` when its parameters name `account`
    (AssumeRole's RoleArn), as AWS does when the member's role does not trust the caller."""
    def hook(params: Mapping[str, Any], model: Any, **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        if model.name != operation or account not in json.dumps(params.get("body", params), default=str):
            return None
        response = AWSResponse("https://sts.amazonaws.com", 403, HTTPHeaders(), None)
        return response, {"Error": {"Code": code, "Message": f"not authorized to perform {operation}"},
                          "ResponseMetadata": {"HTTPStatusCode": 403}}
    return hook


def session_denying(operation: str, account: str) -> boto3.session.Session:
    session = boto3.session.Session()
    session.events.register(f"before-call.sts.{operation}", deny(operation, account))
    return session
