"""trail_config: what counts as a weaker trail, over basic and advanced event selectors (no AWS)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from automations.core.selection import GUARD_TRAIL_TAG
from automations.security.trail_config import TrailConfig, coverage, update_arguments, weakenings

RECORDED = TrailConfig(name="main", arn="arn:aws:cloudtrail:us-east-1:123456789012:trail/main", region="us-east-1",
                       s3_bucket="logs", s3_key_prefix="org", multi_region=True, global_service_events=True,
                       log_file_validation=True, kms_key_id="arn:aws:kms:us-east-1:123456789012:key/k1",
                       cloudwatch_logs_group_arn="arn:aws:logs:us-east-1:123456789012:log-group:trail:*",
                       cloudwatch_logs_role_arn="arn:aws:iam::123456789012:role/trail-logs",
                       tags={GUARD_TRAIL_TAG: "true"}, logging=True)
MANAGEMENT_ADVANCED = [{"Name": "mgmt", "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]}]


def aspects(current: TrailConfig, recorded: TrailConfig | None = RECORDED) -> list[str]:
    return [w.aspect for w in weakenings(recorded, current)]


@pytest.mark.parametrize(("change", "aspect"), [
    ({"logging": False}, "logging"),
    ({"multi_region": False}, "multi_region"),
    ({"global_service_events": False}, "global_service_events"),
    ({"log_file_validation": False}, "log_file_validation"),
    ({"kms_key_id": ""}, "kms_key_id"),
    ({"kms_key_id": "arn:aws:kms:us-east-1:123456789012:key/attacker"}, "kms_key_id"),
    ({"s3_bucket": "elsewhere"}, "s3_location"),
    ({"s3_key_prefix": ""}, "s3_location"),
    ({"cloudwatch_logs_group_arn": "", "cloudwatch_logs_role_arn": ""}, "cloudwatch_logs"),
    ({"tags": {}}, "guard_tag"),
    ({"event_selectors": ({"ReadWriteType": "WriteOnly", "IncludeManagementEvents": True},)}, "event_selectors"),
])
def test_each_loss_is_a_weakening(change: dict[str, Any], aspect: str) -> None:
    assert aspects(replace(RECORDED, **change)) == [aspect]


@pytest.mark.parametrize("change", [
    {"sns_topic": "deliveries"},
    {"tags": {GUARD_TRAIL_TAG: "true", "team": "sec"}},
    {"event_selectors": ({"ReadWriteType": "All", "IncludeManagementEvents": True,
                          "DataResources": [{"Type": "AWS::S3::Object", "Values": ["arn:aws:s3:::b/"]}]},)},
    {"advanced_event_selectors": tuple(MANAGEMENT_ADVANCED)},  # the same coverage, written another way
])
def test_additions_and_equivalent_rewrites_are_not_weakenings(change: dict[str, Any]) -> None:
    assert aspects(replace(RECORDED, **change)) == []


def test_a_kms_key_where_there_was_none_is_not_a_weakening() -> None:
    assert aspects(replace(RECORDED, kms_key_id="k2"), replace(RECORDED, kms_key_id="")) == []


def test_without_a_record_only_a_stopped_trail_is_weakened() -> None:
    assert aspects(replace(RECORDED, multi_region=False), None) == []
    assert aspects(replace(RECORDED, logging=False), None) == ["logging"]


def test_advanced_selectors_narrowed_to_read_only_lose_write_events() -> None:
    recorded = coverage([], MANAGEMENT_ADVANCED)
    narrowed = coverage([], [{"Name": "mgmt", "FieldSelectors": [
        {"Field": "eventCategory", "Equals": ["Management"]}, {"Field": "readOnly", "Equals": ["true"]}]}])

    assert narrowed.lost(recorded) == ["write management events"]


def test_excluding_an_event_source_loses_full_management_coverage() -> None:
    recorded = coverage([{"ReadWriteType": "All", "IncludeManagementEvents": True}], [])
    excluded = coverage([{"ReadWriteType": "All", "IncludeManagementEvents": True,
                          "ExcludeManagementEventSources": ["kms.amazonaws.com"]}], [])

    assert excluded.lost(recorded) == ["read management events", "write management events"]
    assert recorded.lost(excluded) == []  # removing the exclusion again is not a loss


def test_dropping_an_advanced_data_selector_is_a_loss() -> None:
    data = {"Name": "s3", "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Data"]},
                                              {"Field": "resources.type", "Equals": ["AWS::S3::Object"]}]}

    assert coverage([], MANAGEMENT_ADVANCED).lost(coverage([], [*MANAGEMENT_ADVANCED, data])) != []
    assert coverage([], [data, *MANAGEMENT_ADVANCED]).lost(coverage([], [*MANAGEMENT_ADVANCED, data])) == []


def test_update_puts_back_only_what_was_lost() -> None:
    current = replace(RECORDED, multi_region=False, kms_key_id="", sns_topic="new")

    assert update_arguments(RECORDED, weakenings(RECORDED, current)) == {
        "IsMultiRegionTrail": True, "IncludeGlobalServiceEvents": True, "KmsKeyId": RECORDED.kms_key_id}


def test_a_record_round_trips_and_re_creates_without_aws_reserved_tags() -> None:
    config = replace(RECORDED, tags={GUARD_TRAIL_TAG: "true", "aws:cloudformation:stack-name": "s"})

    assert TrailConfig.from_record(config.as_record()) == config
    assert config.create_arguments()["TagsList"] == [{"Key": GUARD_TRAIL_TAG, "Value": "true"}]
    assert config.selector_arguments() == {"EventSelectors": [{"ReadWriteType": "All",
                                                                "IncludeManagementEvents": True}]}
