"""Which member stack instances a deploy targets, and which an earlier deploy made that it no longer does.

A re-run with a narrower `--targets` or `--regions` leaves the instances of what was dropped in place: deploy
creates and updates instances, and deleting a member's Caretaker (its state table and keys are retained, its
functions are not) is an operator's decision, not a side effect of a shorter list. Those instances are printed as
no longer targeted, neither deleted nor counted in the deploy's outcome (docs/organizations.md).

An instance is targeted when its region is one of the stack set's regions and, for SERVICE_MANAGED, the OU or root
recorded on it (`OrganizationalUnitId`, the one its request named) or its account is a target, or its account is
under an OU target (OUs nest: a deploy that targets a parent or a child of the recorded OU still targets it); for
SELF_MANAGED, its account is one of `--accounts`. The accounts under the OU targets are read from Organizations once
(walked down the tree), and only when the recorded OU is not a target (moto records none).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, TypeVar

import boto3

from builder.org_config import ACCOUNT_RE, OrgConfig


class Placed(Protocol):
    @property
    def account(self) -> str: ...

    @property
    def region(self) -> str: ...

    @property
    def organizational_unit(self) -> str: ...


P = TypeVar("P", bound=Placed)


def accounts_under(organizations: Any, parent: str) -> set[str]:
    """Every account below an OU or root, nested OUs included."""
    found: set[str] = set()
    parents = [parent]
    while parents:
        current = parents.pop()
        for page in organizations.get_paginator("list_accounts_for_parent").paginate(ParentId=current):
            found |= {str(account["Id"]) for account in page.get("Accounts", [])}
        for page in organizations.get_paginator("list_organizational_units_for_parent").paginate(ParentId=current):
            parents += [str(ou["Id"]) for ou in page.get("OrganizationalUnits", [])]
    return found


class Targeting:
    """This deploy's targets, to tell the instances it targets from those left by an earlier, wider one."""

    def __init__(self, session: boto3.Session, config: OrgConfig) -> None:
        self.session = session
        self.config = config
        self.accounts = set(config.accounts) if config.self_managed else \
            {t for t in config.targets if ACCOUNT_RE.match(t)}
        self.units = set() if config.self_managed else {t for t in config.targets if not ACCOUNT_RE.match(t)}
        self._under_units: set[str] | None = None

    def _accounts_of_units(self) -> set[str]:
        if self._under_units is None:
            organizations = self.session.client("organizations")
            self._under_units = set().union(*(accounts_under(organizations, unit) for unit in sorted(self.units)))
        return self._under_units

    def targets(self, instance: Placed, regions: Sequence[str]) -> bool:
        if instance.region not in regions:
            return False
        if instance.account in self.accounts:
            return True
        if not self.units:  # self-managed, or only accounts named
            return False
        # the recorded OU (the one its request named) decides when it is a target; else its account does,
        # because OUs nest: an OU inside a target, or a target inside the recorded OU (moto records none)
        return instance.organizational_unit in self.units or instance.account in self._accounts_of_units()

    def split(self, instances: Sequence[P], regions: Sequence[str]) -> tuple[list[P], list[P]]:
        """(the targeted instances, those no longer targeted)."""
        targeted: list[P] = []
        dropped: list[P] = []
        for instance in instances:
            (targeted if self.targets(instance, regions) else dropped).append(instance)
        return targeted, dropped
