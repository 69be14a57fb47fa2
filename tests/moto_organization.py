"""An organization in moto: the management account, the OU `workloads` and its member accounts.

Shared by the organization tests and the organization benchmark (`bench/org_rollout.py`); it needs only boto3, so a
benchmark that talks to moto's server can build the same organization without importing pytest or moto.
"""

from __future__ import annotations

import boto3

HOME = "us-east-1"


def make_organization(accounts: int = 3) -> tuple[str, str, list[str]]:
    """An organization with a root, the OU `workloads` and `accounts` member accounts in it: (root, OU, ids)."""
    organizations = boto3.client("organizations", region_name=HOME)
    organizations.create_organization(FeatureSet="ALL")
    root = organizations.list_roots()["Roots"][0]["Id"]
    ou = organizations.create_organizational_unit(ParentId=root, Name="workloads")["OrganizationalUnit"]["Id"]
    members = []
    for n in range(accounts):
        account = organizations.create_account(AccountName=f"member{n}", Email=f"member{n}@example.com")[
            "CreateAccountStatus"]["AccountId"]
        organizations.move_account(AccountId=account, SourceParentId=root, DestinationParentId=ou)
        members.append(account)
    return root, ou, members
