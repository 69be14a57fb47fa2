"""The loop guard trusts exact role ARNs, not a path: attacks that tried to pass for Caretaker's own roles.

Before: any session issuer whose ARN contained `:role/caretaker/` was "Caretaker's own", so anyone allowed to
create (or assume) a role under that path silenced all eight rules. Now only sessions of the roles whose exact
ARNs are CARETAKER_OWN_ROLE_ARN_PREFIX + a name of CARETAKER_OWN_ROLE_NAMES are own; the harness gives each
reactive function its stack's role names and prefix, as the template does, and every synthetic role a
deterministic unique id in IAM's format (`role_id`), which the events record and the guard does not read.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from automations.core import registry
from automations.security import sg_open_world
from tests.automations.security.conftest import (
    ACCOUNT,
    OWN_ROLE,
    OWN_ROLE_ID,
    Harness,
    from_caretaker,
    load_event,
    outcomes,
    own_role_arn,
    own_role_name,
    role_id,
    stack_role_names,
)
from tests.automations.security.test_patterns import RULE_EVENTS
from tests.automations.security.test_reactive import handler_of
from tests.automations.security.test_sg_open_world import authorize_as_recorded, ingress

IMPOSTOR = f"arn:aws:iam::{ACCOUNT}:role/caretaker/totally-not-caretaker"
WORLD_SSH = {("tcp", 22, 22, "0.0.0.0/0"), ("tcp", 22, 22, "::/0")}


def world_ssh_event(ec2: Any, group: str, issuer: str, issuer_id: str | None = None) -> dict[str, Any]:
    """Port 22 opened to the world in moto, and its CloudTrail event as if a session of the role `issuer` (whose
    unique id is `issuer_id`, by default its `role_id`) had made the call."""
    return from_caretaker(authorize_as_recorded(ec2, group, load_event("authorize_security_group_ingress")),
                          issuer, issuer_id)


def assert_handled_like_any_principal(harness: Harness, ec2: Any, group: str, summary: dict[str, Any],
                                      issuer: str, issuer_id: str | None = None) -> None:
    """Enforce mode: the world-open SSH rules are gone, the revocation is written ahead and done, one notification."""
    assert not ingress(ec2, group) & WORLD_SSH
    items = harness.items(summary)
    assert outcomes(items) == [("revoke-ingress", "planned"), ("revoke-ingress", "succeeded")]
    assert items[0]["details"]["actor"]["session_issuer_arn"] == issuer
    assert items[0]["details"]["actor"]["session_issuer_principal_id"] == (issuer_id or role_id(issuer))
    assert not [i for i in items if i["reason"].startswith("ignored:")]
    assert harness.run_summary(summary)["status"] == "ok"
    [note] = harness.notifications()
    assert note["body"]["finding"]["actor"]["session_issuer_arn"] == issuer
    assert note["body"]["caretaker"]["outcome"] == "succeeded"


def test_a_role_under_the_caretaker_path_not_of_the_deployment_cannot_silence_sg_open_world(
        harness: Harness, ec2: Any, group: str) -> None:
    harness.mode("enforce")

    summary = harness.invoke(sg_open_world.handler, world_ssh_event(ec2, group, IMPOSTOR))

    assert_handled_like_any_principal(harness, ec2, group, summary, IMPOSTOR)


def test_a_real_own_role_is_still_ignored(harness: Harness, ec2: Any, group: str) -> None:
    harness.mode("enforce")
    event = world_ssh_event(ec2, group, OWN_ROLE)
    before = ingress(ec2, group)

    summary = harness.invoke(sg_open_world.handler, event)

    assert ingress(ec2, group) == before  # Caretaker's own change is left alone
    [item] = harness.items(summary)
    assert (item["action"], item["outcome"]) == ("evaluate-event", "skipped")
    assert item["reason"] == f"ignored: caused by Caretaker's own role {OWN_ROLE} (its exact ARN)"
    assert item["details"]["actor"]["session_issuer_principal_id"] == OWN_ROLE_ID
    assert harness.notifications() == []


def test_an_event_with_an_own_roles_exact_arn_is_ignored_whatever_principal_id_it_carries(
        harness: Harness, ec2: Any, group: str) -> None:
    """DESIGN.md's contract is the exact ARN: an event naming the deployed role's ARN as its session issuer is
    Caretaker's own even when its principalId is not that role's id (a record rebuilt from a sample, or a
    role re-created under the same ARN after its stack was deleted: redeploy then, docs/security-model.md)."""
    harness.mode("enforce")
    other_id = role_id(OWN_ROLE, incarnation=1)
    assert other_id != OWN_ROLE_ID
    event = world_ssh_event(ec2, group, OWN_ROLE, other_id)
    before = ingress(ec2, group)

    summary = harness.invoke(sg_open_world.handler, event)

    assert ingress(ec2, group) == before
    [item] = harness.items(summary)
    assert item["reason"] == f"ignored: caused by Caretaker's own role {OWN_ROLE} (its exact ARN)"
    assert harness.notifications() == []


def test_a_role_of_another_caretaker_stack_is_ignored_once_deploy_has_filled_the_list(
        harness: Harness, ec2: Any, group: str) -> None:
    """What `build.py deploy` passes as CaretakerRoleNames: the role names of the stacks deployed before."""
    other = own_role_arn("cleanup-ebs-volumes")
    own_stack = stack_role_names(registry.get("sg-open-world"))
    harness.setting("CARETAKER_OWN_ROLE_NAMES", ",".join([*own_stack, own_role_name("cleanup-ebs-volumes")]))
    event = world_ssh_event(ec2, group, other)
    before = ingress(ec2, group)

    summary = harness.invoke(sg_open_world.handler, event)

    assert ingress(ec2, group) == before
    assert [i["reason"] for i in harness.items(summary)] == [
        f"ignored: caused by Caretaker's own role {other} (its exact ARN)"]


def test_a_role_of_another_caretaker_stack_is_handled_without_the_deploy_tool(
        harness: Harness, ec2: Any, group: str) -> None:
    """Default parameters trust only the stack's own roles: the safe direction (handled, never ignored)."""
    other = own_role_arn("cleanup-ebs-volumes")

    summary = harness.invoke(sg_open_world.handler, world_ssh_event(ec2, group, other))

    assert_handled_like_any_principal(harness, ec2, group, summary, other)


def test_an_own_role_name_in_another_account_is_not_trusted(harness: Harness, ec2: Any, group: str) -> None:
    elsewhere = OWN_ROLE.replace(f"::{ACCOUNT}:", "::210987654321:")
    event = world_ssh_event(ec2, group, elsewhere)

    summary = harness.invoke(sg_open_world.handler, event)

    assert_handled_like_any_principal(harness, ec2, group, summary, elsewhere)


def test_an_own_role_id_in_a_session_of_another_account_is_not_trusted_here(harness: Harness, ec2: Any,
                                                                             group: str) -> None:
    """The event says the issuer is another account's role under an own name and with an own id (a forged or
    foreign record): the exact ARN names another account, and the role must be of the event's account."""
    elsewhere = OWN_ROLE.replace(f"::{ACCOUNT}:", "::210987654321:")
    event = world_ssh_event(ec2, group, elsewhere, OWN_ROLE_ID)
    assert event["detail"]["recipientAccountId"] == ACCOUNT

    summary = harness.invoke(sg_open_world.handler, event)

    assert_handled_like_any_principal(harness, ec2, group, summary, elsewhere, OWN_ROLE_ID)


def test_a_session_named_after_an_own_role_or_its_id_is_not_trusted(harness: Harness, ec2: Any,
                                                                    group: str) -> None:
    """Session names are the caller's choice: named like Caretaker's role, or like its id, the issuer decides."""
    event = world_ssh_event(ec2, group, IMPOSTOR)
    identity = event["detail"]["userIdentity"]
    own_name = OWN_ROLE.rsplit("/", 1)[-1]
    identity["arn"] = f"arn:aws:sts::{ACCOUNT}:assumed-role/{own_name}/{OWN_ROLE_ID}"
    identity["principalId"] = f"{role_id(IMPOSTOR)}:{OWN_ROLE_ID}"

    summary = harness.invoke(sg_open_world.handler, event)

    assert_handled_like_any_principal(harness, ec2, group, summary, IMPOSTOR)


@pytest.mark.parametrize("listed", [
    f"arn:aws:iam::{ACCOUNT}:role/caretaker/*",  # a path pattern
    "*",  # a name pattern
    "totally-not-*",
    IMPOSTOR,  # an ARN: names only
    role_id(IMPOSTOR),  # the impostor's unique id: ids are not read at all
])
def test_a_pattern_an_arn_or_an_id_in_the_own_role_list_trusts_nothing(harness: Harness, ec2: Any, group: str,
                                                                        listed: str) -> None:
    harness.setting("CARETAKER_OWN_ROLE_NAMES", f"{own_role_name('sg-open-world')},{listed}")

    summary = harness.invoke(sg_open_world.handler, world_ssh_event(ec2, group, IMPOSTOR))

    assert_handled_like_any_principal(harness, ec2, group, summary, IMPOSTOR)


def test_the_operator_may_still_choose_to_ignore_the_path_explicitly(harness: Harness, ec2: Any, group: str) -> None:
    """ignore_principal_arns (wildcards allowed) is the operator's explicit, documented choice."""
    harness.setting("CARETAKER_IGNORE_PRINCIPAL_ARNS", f"arn:aws:iam::{ACCOUNT}:role/caretaker/*")
    event = world_ssh_event(ec2, group, IMPOSTOR)
    before = ingress(ec2, group)

    summary = harness.invoke(sg_open_world.handler, event)

    assert ingress(ec2, group) == before
    [item] = harness.items(summary)
    assert item["reason"] == f"ignored: caused by {IMPOSTOR}, listed in ignore_principal_arns"


@pytest.mark.parametrize("rule", sorted(RULE_EVENTS))
def test_no_rule_ignores_a_role_under_the_caretaker_path_that_is_not_its_own(harness: Harness, rule: str) -> None:
    event = from_caretaker(load_event(RULE_EVENTS[rule][0]), IMPOSTOR)

    summary = harness.invoke(handler_of(rule), copy.deepcopy(event))

    items = harness.items(summary)
    assert items and not [i for i in items if i["reason"].startswith("ignored:")], rule
    assert harness.run_summary(summary)["status"] != "running"


@pytest.mark.parametrize("rule", sorted(RULE_EVENTS))
def test_every_rule_recognises_its_own_stacks_roles_by_their_exact_arn_alone(harness: Harness, rule: str) -> None:
    """Whatever unique id the record carries (here a re-created role's): the exact ARN decides."""
    own = own_role_arn(rule)
    assert registry.stack_of(registry.get(rule)) == "security"
    event = from_caretaker(load_event(RULE_EVENTS[rule][0]), own, role_id(own, incarnation=1))

    summary = harness.invoke(handler_of(rule), event)

    [item] = harness.items(summary)
    assert item["reason"] == f"ignored: caused by Caretaker's own role {own} (its exact ARN)", rule
