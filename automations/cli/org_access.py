"""The read (and mode-override) path of the CLI into the member accounts of an organization.

Run with the hub account's credentials (management or delegated administrator). Members are
`--accounts`, else the organization's ACTIVE accounts (`organizations:ListAccounts`) other than the
management account, which service-managed stack sets never deploy to; regions are `--regions`,
else the hub stack's `MemberRegions` output. Each member account-region keeps its own state table
(`caretaker-state`).

One boto3 session for the process. For each member account the CLI assumes one role of that
account (`caretaker-reader` to read, `caretaker-operator` to set a mode override; both trust the
hub account only), once per account and role: the credentials are cached and shared by that
account's regions. Clients get Caretaker's bounded adaptive retries, so a member that stays
throttled fails (and is listed) instead of holding the others up for ever.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from automations.core.aws import CLIENT_CONFIG
from automations.core.errors import CaretakerError, error_code, error_message
from templates import names

#: Threads reading members at once: each mostly waits on the network.
ORG_WORKERS = 24
_ACCOUNT = re.compile(r"^\d{12}$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
#: CloudTrail in the member shows the role session as `caretaker-cli-<caller>`.
SESSION_PREFIX = "caretaker-cli-"


class OrgError(CaretakerError):
    """The members could not be listed (no organization access, no hub stack, bad arguments)."""


def _names(text: str, pattern: re.Pattern[str], option: str, what: str) -> list[str]:
    """A comma-separated list of `option` values, each matching `pattern`, duplicates dropped (in order)."""
    values = [v.strip() for v in text.split(",") if v.strip()]
    if not values or any(not pattern.match(v) for v in values):
        raise ValueError(f"{option} takes {what}, comma-separated; got {text!r}")
    return list(dict.fromkeys(values))


def parse_accounts(text: str) -> list[str]:
    """`--accounts 111111111111,222222222222`: twelve-digit account ids (nothing else reaches a role ARN)."""
    return _names(text, _ACCOUNT, "--accounts", "twelve-digit account ids")


def parse_regions(text: str) -> list[str]:
    """`--regions eu-west-1,us-east-1`."""
    return _names(text, _REGION, "--regions", "region names")


@dataclass(frozen=True, order=True)
class Member:
    """One member account-region: where one state table lives."""

    account: str
    region: str

    def __str__(self) -> str:
        return f"{self.account} {self.region}"


def describe_error(exc: BaseException) -> str:
    """`Code: message` for AWS errors (also when wrapped, as `StateLogError` wraps them), the message otherwise
    (one line)."""
    if not isinstance(exc, ClientError) and isinstance(exc.__cause__, ClientError):
        exc = exc.__cause__
    if isinstance(exc, ClientError):
        return f"{error_code(exc)}: {error_message(exc)}".strip().rstrip(":")
    return " ".join(str(exc).split()) or type(exc).__name__


class OrgAccess:
    """Lists the members and hands out clients in them, through one role per account (cached)."""

    def __init__(self, session: boto3.session.Session | None = None) -> None:
        self.session = session or boto3.session.Session()
        self._sts = self.session.client("sts", config=CLIENT_CONFIG)
        self._identity: dict[str, str] | None = None
        self._identity_lock = threading.Lock()
        self._credentials: dict[tuple[str, str], dict[str, str]] = {}
        self._account_locks: dict[tuple[str, str], threading.Lock] = {}
        self._lock = threading.Lock()
        #: boto3 sessions are not thread-safe: clients are built one at a time (they are used concurrently)
        self._client_lock = threading.Lock()
        self.assumed = 0

    # ------------------------------------------------------------------ who we are

    @property
    def caller_arn(self) -> str:
        """The hub caller's ARN (`sts:GetCallerIdentity`): recorded as who set a mode override."""
        return self._caller()["Arn"]

    @property
    def partition(self) -> str:
        return self.caller_arn.split(":")[1]

    def _caller(self) -> dict[str, str]:
        """Read once: every member's first thread asks at the same moment (one call, not one per account)."""
        with self._identity_lock:
            if self._identity is None:
                identity = self._sts.get_caller_identity()
                self._identity = {"Arn": str(identity["Arn"]), "Account": str(identity["Account"])}
            return self._identity

    def role_arn(self, account: str, role: str) -> str:
        return f"arn:{self.partition}:iam::{account}:role/{role}"

    # ------------------------------------------------------------------ members

    def members(self, accounts: Sequence[str] | None, regions: Sequence[str] | None) -> list[Member]:
        """Every member account-region asked for, sorted (account, region)."""
        chosen_regions = list(regions) if regions else self.hub_regions()
        chosen_accounts = list(accounts) if accounts else self.organization_accounts()
        if not chosen_accounts:
            raise OrgError("the organization has no member accounts")
        return sorted(Member(a, r) for a in chosen_accounts for r in chosen_regions)

    def organization_accounts(self) -> list[str]:
        """The organization's ACTIVE accounts but its management account (paginated `ListAccounts`)."""
        client = self.session.client("organizations", config=CLIENT_CONFIG)
        try:
            management = str(client.describe_organization()["Organization"]["MasterAccountId"])
            accounts = [str(account["Id"])
                        for page in client.get_paginator("list_accounts").paginate()
                        for account in page.get("Accounts", [])
                        if account.get("State", account.get("Status")) == "ACTIVE"]
        except (ClientError, BotoCoreError) as exc:
            raise OrgError(f"cannot list the organization's accounts ({describe_error(exc)}): "
                           "pass --accounts, or run with the management or delegated administrator "
                           "account's credentials") from exc
        return sorted(a for a in accounts if a != management)

    def hub_regions(self) -> list[str]:
        """The hub stack's `MemberRegions` output."""
        client = self.session.client("cloudformation", config=CLIENT_CONFIG)
        try:
            stacks = client.describe_stacks(StackName=names.HUB_STACK_NAME)["Stacks"]
        except (ClientError, BotoCoreError) as exc:
            raise OrgError(f"no member regions: pass --regions or deploy {names.HUB_STACK_NAME} "
                           f"({describe_error(exc)})") from exc
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
        value = str(outputs.get(names.HUB_REGIONS_OUTPUT, ""))
        if not value.strip():
            raise OrgError(f"{names.HUB_STACK_NAME} has no {names.HUB_REGIONS_OUTPUT} output: pass --regions")
        return parse_regions(value)

    # ------------------------------------------------------------------ into a member

    def credentials(self, account: str, role: str) -> dict[str, str]:
        """Temporary credentials of `role` in `account` (one `AssumeRole` per account and role)."""
        key = (account, role)
        with self._lock:
            lock = self._account_locks.setdefault(key, threading.Lock())
        with lock:
            cached = self._credentials.get(key)
            if cached is None:
                response = self._sts.assume_role(RoleArn=self.role_arn(account, role),
                                                 RoleSessionName=self.session_name())
                got = response["Credentials"]
                cached = {"aws_access_key_id": got["AccessKeyId"], "aws_secret_access_key": got["SecretAccessKey"],
                          "aws_session_token": got["SessionToken"]}
                with self._lock:
                    self._credentials[key] = cached
                    self.assumed += 1
            return cached

    def session_name(self) -> str:
        """`caretaker-cli-<the caller's name>`, within AssumeRole's 64 characters and alphabet."""
        caller = self.caller_arn.rsplit("/", 1)[-1]
        return (SESSION_PREFIX + re.sub(r"[^\w+=,.@-]", "-", caller))[:64]

    def client(self, member: Member, service: str, role: str) -> Any:
        """A client of `service` in the member's account and region, as `role`."""
        credentials = self.credentials(member.account, role)
        with self._client_lock:
            make: Callable[..., Any] = self.session.client  # any service by name: no per-service overload
            return make(service, region_name=member.region, config=CLIENT_CONFIG, **credentials)

