"""Which stack instances a deploy targets (`builder/org_targets.py`), when AWS records the OU a request named: an
instance whose recorded OU is not a target is still targeted when its account is under one (OUs nest)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import boto3
import pytest
from moto import mock_aws

from builder.org_config import OrgConfig
from builder.org_targets import Targeting
from tests.automations.conftest import fake_aws_environment
from tests.moto_organization import HOME, make_organization


@dataclass(frozen=True)
class Instance:
    account: str
    region: str
    organizational_unit: str


@dataclass(frozen=True)
class Tree:
    parent: str  # the OU `workloads`
    child: str  # an OU inside it
    in_child: str  # an account in the child OU
    in_parent: str  # an account directly in the parent


@pytest.fixture
def tree(monkeypatch: pytest.MonkeyPatch) -> Iterator[Tree]:
    fake_aws_environment(monkeypatch, region=HOME)
    with mock_aws():
        _, parent, (in_child, in_parent) = make_organization(accounts=2)
        organizations = boto3.client("organizations", region_name=HOME)
        child = organizations.create_organizational_unit(ParentId=parent, Name="team")["OrganizationalUnit"]["Id"]
        organizations.move_account(AccountId=in_child, SourceParentId=parent, DestinationParentId=child)
        yield Tree(parent, child, in_child, in_parent)


def targeting(*targets: str) -> Targeting:
    return Targeting(boto3.Session(region_name=HOME), OrgConfig(targets=targets, regions=(HOME,)))


def test_an_instance_recorded_under_a_child_ou_is_targeted_by_its_parent(tree: Tree) -> None:
    assert targeting(tree.parent).targets(Instance(tree.in_child, HOME, tree.child), [HOME])


def test_narrowing_to_a_child_ou_keeps_its_accounts_and_drops_the_others(tree: Tree) -> None:
    narrowed = targeting(tree.child)
    recorded_under_parent = [Instance(tree.in_child, HOME, tree.parent), Instance(tree.in_parent, HOME, tree.parent)]
    targeted, dropped = narrowed.split(recorded_under_parent, [HOME])
    assert [i.account for i in targeted] == [tree.in_child]
    assert [i.account for i in dropped] == [tree.in_parent]


def test_an_instance_recorded_under_a_target_needs_no_walk_and_other_regions_are_not_targeted(tree: Tree) -> None:
    direct = targeting(tree.parent)
    assert direct.targets(Instance(tree.in_parent, HOME, tree.parent), [HOME])
    assert direct._under_units is None  # the recorded OU decided: Organizations was not read
    assert not direct.targets(Instance(tree.in_parent, "eu-west-1", tree.parent), [HOME])
