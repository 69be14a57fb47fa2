"""Every rule's generated EventBridge pattern matches its events and rejects lookalikes.

Matching is done by LocalStack's EventBridge rule engine (a real implementation of the
pattern language: prefix, suffix, exists, $or, fields nested in objects), not by a matcher
written for these tests.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from automations.core import registry
from automations.core.spec import CloudTrail, FunctionSpec, trigger_kinds, trigger_manifest
from tests.automations.security.conftest import EVENTS, load_event, matches

#: rule -> the fixtures its pattern must match
RULE_EVENTS: dict[str, tuple[str, ...]] = {
    "sg-open-world": ("authorize_security_group_ingress", "authorize_security_group_ingress_all_traffic_ipv6",
                      "modify_security_group_rules"),
    "s3-public-bucket": ("put_bucket_acl", "put_bucket_policy", "delete_bucket_public_access_block",
                         "put_bucket_public_access_block", "put_account_public_access_block",
                         "delete_account_public_access_block"),
    "cloudtrail-tampering": ("stop_logging", "start_logging", "delete_trail", "update_trail", "put_event_selectors",
                             "create_trail", "add_tags", "remove_tags"),
    "ebs-encryption-disabled": ("disable_ebs_encryption_by_default",),
    "iam-admin-grant": ("attach_role_policy", "attach_group_policy", "put_user_policy", "add_user_to_group"),
    "iam-policy-version": ("create_policy_version", "set_default_policy_version"),
    "iam-trust-policy": ("update_assume_role_policy",),
    "root-activity": ("root_console_sign_in", "root_api_call"),
    "kms-key-deletion": ("schedule_key_deletion",),
    "iam-credential-guard": ("create_access_key", "create_login_profile"),
    "creator-tags": ("run_instances", "create_volume", "create_snapshot", "create_snapshots", "create_security_group",
                     "create_image", "create_launch_template", "allocate_address", "create_nat_gateway",
                     "create_bucket", "create_function", "create_db_instance", "create_table",
                     "create_load_balancer"),
}
CLOUDTRAIL_DETAIL_TYPES = {"AWS API Call via CloudTrail", "AWS Console Sign In via CloudTrail"}
#: rules with an `EventPattern` of their own (tested in their own test module), not a `CloudTrail` trigger
OWN_PATTERNS = ("root-activity", "creator-tags")
#: rule -> an event name of the same service that it must not react to
OTHER_NAME = {"sg-open-world": "RevokeSecurityGroupIngress", "s3-public-bucket": "GetBucketAcl",
              "cloudtrail-tampering": "DescribeTrails", "ebs-encryption-disabled": "EnableEbsEncryptionByDefault",
              "iam-admin-grant": "DetachRolePolicy", "kms-key-deletion": "CancelKeyDeletion",
              "iam-credential-guard": "DeleteAccessKey", "iam-policy-version": "DeletePolicyVersion",
              "iam-trust-policy": "GetRole"}
ALL_FIXTURES = sorted(p.stem for p in EVENTS.glob("*.json"))
CASES = [(rule, name) for rule, names in RULE_EVENTS.items() for name in names]


def security_specs() -> dict[str, FunctionSpec]:
    """The rules on CloudTrail records (the rules on AWS service events are checked in test_event_kinds.py and
    their own tests)."""
    return {s.name: s for s in registry.discover()
            if registry.stack_of(s) == "security" and trigger_kinds(s.trigger) == {"cloudtrail"}}


def pattern_of(rule: str) -> dict[str, Any]:
    return dict(trigger_manifest(security_specs()[rule].trigger)["pattern"])


def changed(event: dict[str, Any], change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    copied = copy.deepcopy(event)
    change(copied)
    return copied


def test_every_security_rule_is_covered_here() -> None:
    assert set(security_specs()) == set(RULE_EVENTS)
    assert {n for names in RULE_EVENTS.values() for n in names} == set(ALL_FIXTURES)


@pytest.mark.parametrize("rule", sorted(RULE_EVENTS))
def test_the_pattern_matches_only_its_own_events_among_all_fixtures(rule: str) -> None:
    pattern = pattern_of(rule)
    matched = {name for name in ALL_FIXTURES if matches(pattern, load_event(name))}
    assert matched == set(RULE_EVENTS[rule])


@pytest.mark.parametrize(("rule", "name"), [c for c in CASES if c[0] not in OWN_PATTERNS])
def test_cloudtrail_patterns_are_generated_from_the_declaration(rule: str, name: str) -> None:
    trigger = security_specs()[rule].trigger
    assert isinstance(trigger, CloudTrail)
    event = load_event(name)
    assert pattern_of(rule) == trigger.pattern()
    assert event["source"] == trigger.source and event["detail"]["eventSource"] == trigger.event_source
    assert event["detail"]["eventName"] in trigger.names


@pytest.mark.parametrize(("rule", "name"), [c for c in CASES if c[0] not in OWN_PATTERNS])
def test_failed_calls_other_sources_and_other_names_are_rejected(rule: str, name: str) -> None:
    pattern, event = pattern_of(rule), load_event(name)
    assert matches(pattern, event)

    def failed(e: dict[str, Any]) -> None:
        e["detail"].update(errorCode="AccessDenied", errorMessage="User is not authorized to perform this action")

    def other_source(e: dict[str, Any]) -> None:
        e["source"] = "custom.lookalike"

    def other_event_source(e: dict[str, Any]) -> None:
        e["detail"]["eventSource"] = "config.amazonaws.com"

    def other_name(e: dict[str, Any]) -> None:
        e["detail"]["eventName"] = OTHER_NAME[rule]

    def service_event(e: dict[str, Any]) -> None:
        e["detail-type"] = "AWS Service Event via CloudTrail"

    for lookalike in (failed, other_source, other_event_source, other_name, service_event):
        assert not matches(pattern, changed(event, lookalike)), lookalike.__name__


@pytest.mark.parametrize("name", ["put_bucket_public_access_block", "put_account_public_access_block"])
def test_a_public_access_block_with_every_flag_on_is_rejected(name: str) -> None:
    pattern, event = pattern_of("s3-public-bucket"), load_event(name)
    config = event["detail"]["requestParameters"]["PublicAccessBlockConfiguration"]

    config.update(BlockPublicPolicy=True, RestrictPublicBuckets=True)
    assert not matches(pattern, event)
    del config["IgnorePublicAcls"]  # a flag left out of the request is false
    assert matches(pattern, event)


@pytest.mark.parametrize("policy", ["arn:aws:iam::aws:policy/ReadOnlyAccess",
                                    "arn:aws:iam::123456789012:policy/deployer-everything",
                                    "arn:aws-us-gov:iam::aws:policy/AdministratorAccess"])
def test_every_attachment_passes_whatever_the_policy_is_called(policy: str) -> None:
    # customer-managed policies are judged by their document, so the pattern cannot filter on the name
    event = load_event("attach_role_policy")
    event["detail"]["requestParameters"]["policyArn"] = policy
    assert matches(pattern_of("iam-admin-grant"), event)


@pytest.mark.parametrize("set_as_default", [False, "false", None])
def test_a_policy_version_not_made_the_default_is_rejected(set_as_default: Any) -> None:
    event = load_event("create_policy_version")
    if set_as_default is None:
        del event["detail"]["requestParameters"]["setAsDefault"]
    else:
        event["detail"]["requestParameters"]["setAsDefault"] = set_as_default
    assert not matches(pattern_of("iam-policy-version"), event)


def test_set_as_default_recorded_as_text_still_matches() -> None:
    event = load_event("create_policy_version")
    event["detail"]["requestParameters"]["setAsDefault"] = "true"
    assert matches(pattern_of("iam-policy-version"), event)


@pytest.mark.parametrize("name", RULE_EVENTS["root-activity"])
def test_root_pattern_matches_root_only_and_even_failed_calls(name: str) -> None:
    pattern, event = pattern_of("root-activity"), load_event(name)
    assert matches(pattern, event)

    def failed(e: dict[str, Any]) -> None:
        e["detail"]["errorCode"] = "AccessDenied"

    def iam_user(e: dict[str, Any]) -> None:
        e["detail"]["userIdentity"] = {"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/bob"}

    def other_detail_type(e: dict[str, Any]) -> None:
        e["detail-type"] = "AWS Service Event via CloudTrail"

    def custom_source(e: dict[str, Any]) -> None:
        e["source"] = "custom.lookalike"

    assert matches(pattern, changed(event, failed))
    for lookalike in (iam_user, other_detail_type, custom_source):
        assert not matches(pattern, changed(event, lookalike)), lookalike.__name__
