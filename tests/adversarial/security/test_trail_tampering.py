"""Attacks on guarded CloudTrail trails (cloudtrail-tampering): deleting, weakening, un-guarding, lookalikes.

A guarded trail carries `caretaker:guard-trail=true` (the security stack's own trail does, from its
template). Each test seeds the record the way it happens in an account (an event about the guarded
trail: CreateTrail, AddTags), then attacks, then checks the trail in moto and the state log.
"""

from __future__ import annotations

from typing import Any

import pytest

from automations.core.selection import GUARD_TRAIL_TAG, PROTECT_TAG
from automations.core.store import TableStore
from automations.security import cloudtrail_tampering
from automations.security.trail_guard import record_key
from tests.automations.conftest import REGION
from tests.automations.security.conftest import ACCOUNT, Harness, aws, load_event, outcomes
from tests.recording import RecordingClients

TRAIL = "management-events"  # the trail the event fixtures name
ARN = f"arn:aws:cloudtrail:{REGION}:{ACCOUNT}:trail/{TRAIL}"
BUCKET = "example-trail-logs"
SELECTORS = [{"ReadWriteType": "All", "IncludeManagementEvents": True, "ExcludeManagementEventSources": [],
              "DataResources": [{"Type": "AWS::S3::Object", "Values": ["arn:aws:s3:::payroll-exports/"]}]}]
RECREATED = [("recreate-trail", "planned"), ("create-trail", "planned"), ("create-trail", "succeeded"),
             ("put-event-selectors", "planned"), ("put-event-selectors", "succeeded"),
             ("start-logging", "planned"), ("start-logging", "succeeded"), ("recreate-trail", "succeeded")]


@pytest.fixture
def cloudtrail() -> Any:
    aws("s3").create_bucket(Bucket=BUCKET)
    aws("s3").create_bucket(Bucket="attacker-sink")
    return aws("cloudtrail")


@pytest.fixture
def key_arn() -> str:
    arn: str = aws("kms").create_key(Description="trail logs")["KeyMetadata"]["Arn"]
    return arn


def create(cloudtrail: Any, *, tags: dict[str, str] | None = None, name: str = TRAIL, **extra: Any) -> None:
    arguments: dict[str, Any] = {"Name": name, "S3BucketName": BUCKET, "S3KeyPrefix": "org",
                                 "IsMultiRegionTrail": True, "IncludeGlobalServiceEvents": True,
                                 "EnableLogFileValidation": True, **extra}
    tags = {GUARD_TRAIL_TAG: "true", "team": "security"} if tags is None else tags
    if tags:
        arguments["TagsList"] = [{"Key": k, "Value": v} for k, v in tags.items()]
    cloudtrail.create_trail(**arguments)
    cloudtrail.put_event_selectors(TrailName=name, EventSelectors=SELECTORS)
    cloudtrail.start_logging(Name=name)


def delete(cloudtrail: Any, name: str = TRAIL) -> None:
    """DeleteTrail as AWS does it: the tags go with the trail (moto keeps them for the ARN)."""
    arn = cloudtrail.get_trail(Name=name)["Trail"]["TrailARN"]
    tags = cloudtrail.list_tags(ResourceIdList=[arn])["ResourceTagList"][0].get("TagsList", [])
    if tags:
        cloudtrail.remove_tags(ResourceId=arn, TagsList=tags)
    cloudtrail.delete_trail(Name=name)


def seed(harness: Harness) -> None:
    """The CreateTrail event of the guarded trail: Caretaker records it on first sight."""
    summary = harness.invoke(cloudtrail_tampering.handler, load_event("create_trail"))
    assert outcomes(harness.items(summary)) == [("record-configuration", "skipped")]
    harness.notifications()


def steps(items: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(action, outcome) of a run's items, sorted: the test clock stands still, so items written in one
    run share their timestamp and their order in the table is not the order they were written in."""
    return sorted(outcomes(items))


def item(items: list[dict[str, Any]], action: str, outcome: str) -> dict[str, Any]:
    return next(i for i in items if (i["action"], i["outcome"]) == (action, outcome))


def record(harness: Harness, arn: str = ARN) -> tuple[dict[str, Any] | None, int]:
    return TableStore(harness.table, harness.dynamodb, automation="test", run_id="test").get_versioned(record_key(arn))


def tags_of(cloudtrail: Any, arn: str = ARN) -> dict[str, str]:
    entries = cloudtrail.list_tags(ResourceIdList=[arn])["ResourceTagList"][0].get("TagsList", [])
    return {t["Key"]: t["Value"] for t in entries}


def trail(cloudtrail: Any) -> dict[str, Any]:
    described: dict[str, Any] = cloudtrail.get_trail(Name=TRAIL)["Trail"]
    return described


# ---------------------------------------------------------------------- attacks


def test_deleting_a_guarded_trail_re_creates_it_with_its_recorded_configuration(
        harness: Harness, cloudtrail: Any, key_arn: str) -> None:
    topic = aws("sns").create_topic(Name="trail-deliveries")["TopicArn"]
    create(cloudtrail, KmsKeyId=key_arn, SnsTopicName="trail-deliveries",
           CloudWatchLogsLogGroupArn=f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:trail:*",
           CloudWatchLogsRoleArn=f"arn:aws:iam::{ACCOUNT}:role/CloudTrail_CloudWatchLogs_Role")
    seed(harness)
    delete(cloudtrail)

    summary = harness.invoke(cloudtrail_tampering.handler, load_event("delete_trail"))

    now = trail(cloudtrail)
    assert (now["S3BucketName"], now["S3KeyPrefix"], now["KmsKeyId"], now["SnsTopicARN"]) == (
        BUCKET, "org", key_arn, topic)
    assert now["IsMultiRegionTrail"] and now["IncludeGlobalServiceEvents"] and now["LogFileValidationEnabled"]
    assert now["CloudWatchLogsRoleArn"].endswith(":role/CloudTrail_CloudWatchLogs_Role")
    assert cloudtrail.get_event_selectors(TrailName=ARN)["EventSelectors"] == SELECTORS
    assert tags_of(cloudtrail) == {GUARD_TRAIL_TAG: "true", "team": "security"}
    assert cloudtrail.get_trail_status(Name=ARN)["IsLogging"] is True
    items = harness.items(summary)
    assert steps(items) == sorted(RECREATED)
    assert item(items, "recreate-trail", "succeeded")["details"]["steps"] == [
        "create-trail", "put-event-selectors", "start-logging"]
    stored, version = record(harness)
    assert version == 2 and stored is not None and stored["cause"] == "re-created after DeleteTrail"
    [note] = harness.notifications()
    assert note["body"]["caretaker"]["outcome"] == "succeeded"
    assert "guarded trail management-events was deleted" in note["subject"]


def test_turning_off_multi_region_validation_and_kms_on_a_guarded_trail_is_undone(
        harness: Harness, cloudtrail: Any, key_arn: str) -> None:
    create(cloudtrail, KmsKeyId=key_arn)
    seed(harness)
    cloudtrail.update_trail(Name=TRAIL, IsMultiRegionTrail=False, IncludeGlobalServiceEvents=False,
                            EnableLogFileValidation=False, KmsKeyId="")

    summary = harness.invoke(cloudtrail_tampering.handler, load_event("update_trail"))

    now = trail(cloudtrail)
    assert now["IsMultiRegionTrail"] and now["IncludeGlobalServiceEvents"] and now["LogFileValidationEnabled"]
    assert now["KmsKeyId"] == key_arn
    items = harness.items(summary)
    assert steps(items) == sorted([("restore-trail", "planned"), ("update-trail", "planned"),
                                   ("update-trail", "succeeded"), ("restore-trail", "succeeded")])
    weakened = {w["aspect"] for w in item(items, "restore-trail", "planned")["details"]["weakened"]}
    assert weakened == {"multi_region", "global_service_events", "log_file_validation", "kms_key_id"}
    assert record(harness)[1] == 2
    assert harness.notifications()[0]["body"]["caretaker"]["outcome"] == "succeeded"


def test_moving_a_guarded_trail_to_another_bucket_is_undone(harness: Harness, cloudtrail: Any) -> None:
    create(cloudtrail)
    seed(harness)
    cloudtrail.update_trail(Name=TRAIL, S3BucketName="attacker-sink", S3KeyPrefix="")

    summary = harness.invoke(cloudtrail_tampering.handler, load_event("update_trail"))

    assert (trail(cloudtrail)["S3BucketName"], trail(cloudtrail)["S3KeyPrefix"]) == (BUCKET, "org")
    planned = item(harness.items(summary), "restore-trail", "planned")
    assert [w["aspect"] for w in planned["details"]["weakened"]] == ["s3_location"]


def test_event_selectors_that_exclude_management_events_are_put_back(harness: Harness, cloudtrail: Any) -> None:
    create(cloudtrail)
    seed(harness)
    cloudtrail.put_event_selectors(TrailName=TRAIL, EventSelectors=[
        {"ReadWriteType": "ReadOnly", "IncludeManagementEvents": False, "DataResources": []}])

    summary = harness.invoke(cloudtrail_tampering.handler, load_event("put_event_selectors"))

    assert cloudtrail.get_event_selectors(TrailName=ARN)["EventSelectors"] == SELECTORS
    items = harness.items(summary)
    assert steps(items) == sorted([("restore-trail", "planned"), ("put-event-selectors", "planned"),
                                   ("put-event-selectors", "succeeded"), ("restore-trail", "succeeded")])
    [weakening] = item(items, "restore-trail", "planned")["details"]["weakened"]
    assert set(weakening["now"]) == {"read management events", "write management events",
                                     "data events AWS::S3::Object arn:aws:s3:::payroll-exports/ (read)",
                                     "data events AWS::S3::Object arn:aws:s3:::payroll-exports/ (write)"}


def test_narrowing_read_write_type_to_read_only_is_put_back(harness: Harness, cloudtrail: Any) -> None:
    create(cloudtrail)
    seed(harness)
    narrowed = [{**SELECTORS[0], "ReadWriteType": "ReadOnly"}]
    cloudtrail.put_event_selectors(TrailName=TRAIL, EventSelectors=narrowed)

    harness.invoke(cloudtrail_tampering.handler, load_event("put_event_selectors"))

    assert cloudtrail.get_event_selectors(TrailName=ARN)["EventSelectors"] == SELECTORS


def test_stopping_a_guarded_trail_is_undone_and_recorded(harness: Harness, cloudtrail: Any) -> None:
    create(cloudtrail)
    seed(harness)
    cloudtrail.stop_logging(Name=TRAIL)

    summary = harness.invoke(cloudtrail_tampering.handler, load_event("stop_logging"))

    assert cloudtrail.get_trail_status(Name=ARN)["IsLogging"] is True
    assert steps(harness.items(summary)) == sorted([("restore-trail", "planned"), ("start-logging", "planned"),
                                                    ("start-logging", "succeeded"), ("restore-trail", "succeeded")])


def test_removing_the_guard_tag_does_not_unguard_the_trail(harness: Harness, cloudtrail: Any) -> None:
    create(cloudtrail)
    seed(harness)
    cloudtrail.remove_tags(ResourceId=ARN, TagsList=[{"Key": GUARD_TRAIL_TAG, "Value": "true"}])

    summary = harness.invoke(cloudtrail_tampering.handler, load_event("remove_tags"))

    assert tags_of(cloudtrail)[GUARD_TRAIL_TAG] == "true"
    assert steps(harness.items(summary)) == sorted([("restore-trail", "planned"), ("add-tags", "planned"),
                                                    ("add-tags", "succeeded"), ("restore-trail", "succeeded")])
    # and the trail stays guarded: deleting it now re-creates it
    delete(cloudtrail)
    second = harness.invoke(cloudtrail_tampering.handler, load_event("delete_trail"))
    assert steps(harness.items(second)) == sorted(RECREATED)
    assert trail(cloudtrail)["S3BucketName"] == BUCKET


def test_a_lookalike_trail_is_reported_not_recreated(harness: Harness, cloudtrail: Any) -> None:
    # named like a trail Caretaker guards, but without the tag: a name is no proof
    create(cloudtrail, tags={"purpose": "caretaker-security-trail"})
    created = harness.invoke(cloudtrail_tampering.handler, load_event("create_trail"))
    assert outcomes(harness.items(created)) == [("record-configuration", "skipped")]
    delete(cloudtrail)

    summary = harness.invoke(cloudtrail_tampering.handler, load_event("delete_trail"))

    assert cloudtrail.describe_trails()["trailList"] == []
    reported = item(harness.items(summary), "notify", "succeeded")
    assert "cannot be re-created" in reported["reason"]
    assert record(harness) == (None, 0)


def test_a_lookalike_created_in_place_of_a_deleted_guarded_trail_is_put_back(
        harness: Harness, cloudtrail: Any) -> None:
    create(cloudtrail)
    seed(harness)
    delete(cloudtrail)
    # the attacker re-creates a trail of the same name, untagged, writing where Caretaker does not look
    cloudtrail.create_trail(Name=TRAIL, S3BucketName="attacker-sink")

    summary = harness.invoke(cloudtrail_tampering.handler, load_event("delete_trail"))

    now = trail(cloudtrail)
    assert (now["S3BucketName"], now["IsMultiRegionTrail"], now["LogFileValidationEnabled"]) == (BUCKET, True, True)
    assert tags_of(cloudtrail)[GUARD_TRAIL_TAG] == "true"
    assert cloudtrail.get_trail_status(Name=ARN)["IsLogging"] is True
    assert sorted(a for a, o in outcomes(harness.items(summary)) if o == "succeeded") == [
        "add-tags", "put-event-selectors", "restore-trail", "start-logging", "update-trail"]


def test_a_protected_guarded_trail_is_only_reported(harness: Harness, cloudtrail: Any) -> None:
    create(cloudtrail, tags={GUARD_TRAIL_TAG: "true", PROTECT_TAG: "true"})
    seed(harness)
    cloudtrail.update_trail(Name=TRAIL, EnableLogFileValidation=False)

    summary = harness.invoke(cloudtrail_tampering.handler, load_event("update_trail"))

    assert trail(cloudtrail)["LogFileValidationEnabled"] is False
    assert [(i["action"], i["outcome"], i["reason"]) for i in harness.items(summary)] == [
        ("restore-trail", "skipped", f"protected: tagged {PROTECT_TAG}=true")]
    assert harness.notifications()[0]["body"]["caretaker"]["outcome"] == "skipped"
    delete(cloudtrail)
    deleted = harness.invoke(cloudtrail_tampering.handler, load_event("delete_trail"))
    assert cloudtrail.describe_trails()["trailList"] == []
    assert outcomes(harness.items(deleted)) == [("recreate-trail", "skipped")]


def test_a_guarded_trail_deleted_before_any_record_is_reported_with_the_reason(
        harness: Harness, cloudtrail: Any) -> None:
    create(cloudtrail)  # tagged, but no event about it reached Caretaker yet
    delete(cloudtrail)

    summary = harness.invoke(cloudtrail_tampering.handler, load_event("delete_trail"))

    assert cloudtrail.describe_trails()["trailList"] == []
    reported = item(harness.items(summary), "notify", "succeeded")
    assert "cannot be re-created: Caretaker recorded no configuration" in reported["reason"]
    [note] = harness.notifications()
    assert "cannot be re-created" in note["subject"] and note["body"]["finding"]["recreated"] is False


def test_a_weakening_before_any_record_is_reported_and_the_trail_recorded_as_it_is(
        harness: Harness, cloudtrail: Any) -> None:
    create(cloudtrail)
    cloudtrail.update_trail(Name=TRAIL, EnableLogFileValidation=False)

    summary = harness.invoke(cloudtrail_tampering.handler, load_event("update_trail"))

    assert trail(cloudtrail)["LogFileValidationEnabled"] is False
    reported = item(harness.items(summary), "notify", "succeeded")
    assert "cannot tell whether this weakened it" in reported["reason"]
    stored, version = record(harness)
    assert version == 1 and stored is not None and stored["configuration"]["log_file_validation"] is False


def test_an_event_naming_the_trail_does_not_decide_what_is_recorded(harness: Harness, cloudtrail: Any) -> None:
    # the CreateTrail event claims the trail is multi-region with validation; AWS says otherwise
    create(cloudtrail, IsMultiRegionTrail=False, EnableLogFileValidation=False)

    harness.invoke(cloudtrail_tampering.handler, load_event("create_trail"))

    stored, _ = record(harness)
    assert stored is not None
    assert (stored["configuration"]["multi_region"], stored["configuration"]["log_file_validation"]) == (False, False)


def test_audit_mode_records_the_plan_and_leaves_the_weakened_trail(harness: Harness, cloudtrail: Any) -> None:
    create(cloudtrail)
    seed(harness)
    cloudtrail.update_trail(Name=TRAIL, IsMultiRegionTrail=False)
    harness.mode("audit")

    summary = harness.invoke(cloudtrail_tampering.handler, load_event("update_trail"))

    assert trail(cloudtrail)["IsMultiRegionTrail"] is False
    assert [(i["action"], i["outcome"], i["dry_run"]) for i in harness.items(summary)] == [
        ("restore-trail", "planned", True)]
    stored, version = record(harness)
    assert version == 1 and stored is not None and stored["configuration"]["multi_region"] is True


def test_a_step_that_fails_stops_the_re_creation_and_fails_the_action(harness: Harness, cloudtrail: Any) -> None:
    create(cloudtrail)
    seed(harness)
    delete(cloudtrail)
    clients = RecordingClients()
    clients.fail("cloudtrail", "PutEventSelectors", code="AccessDeniedException")
    harness.clients = clients

    summary = harness.invoke(cloudtrail_tampering.handler, load_event("delete_trail"))

    assert trail(cloudtrail)["S3BucketName"] == BUCKET  # created, with CloudTrail's default selectors
    assert cloudtrail.get_trail_status(Name=ARN)["IsLogging"] is False  # the step after the failure not taken
    items = harness.items(summary)
    assert steps(items) == sorted([("recreate-trail", "planned"), ("create-trail", "planned"),
                                   ("create-trail", "succeeded"), ("put-event-selectors", "planned"),
                                   ("put-event-selectors", "failed"), ("recreate-trail", "failed")])
    failed = item(items, "recreate-trail", "failed")["reason"]
    assert "AccessDeniedException" in failed and "not done: start-logging" in failed
    assert record(harness)[1] == 1
    assert harness.run_summary(summary)["status"] == "partial"
    assert harness.notifications()[0]["body"]["caretaker"]["outcome"] == "failed"


def test_tags_of_other_cloudtrail_resources_are_not_watched(harness: Harness) -> None:
    event = load_event("add_tags")
    event["detail"]["requestParameters"]["resourceId"] = (
        f"arn:aws:cloudtrail:{REGION}:{ACCOUNT}:eventdatastore/EXAMPLE-f852-4e8f-8bd1-bcf6cEXAMPLE")

    summary = harness.invoke(cloudtrail_tampering.handler, event)

    [skipped] = harness.items(summary)
    assert skipped["outcome"] == "skipped" and skipped["reason"].startswith("not a trail")
    assert harness.notifications() == []


# ---------------------------------------------------------------------- legitimate use beside them


def test_an_operator_adding_an_sns_topic_is_left_alone_and_recorded(harness: Harness, cloudtrail: Any) -> None:
    create(cloudtrail)
    seed(harness)
    aws("sns").create_topic(Name="trail-deliveries")
    cloudtrail.update_trail(Name=TRAIL, SnsTopicName="trail-deliveries")

    summary = harness.invoke(cloudtrail_tampering.handler, load_event("update_trail"))

    assert trail(cloudtrail)["SnsTopicName"] == "trail-deliveries"
    reported = item(harness.items(summary), "notify", "succeeded")
    assert "not weaker than its recorded configuration" in reported["reason"]
    stored, version = record(harness)
    assert version == 2 and stored is not None and stored["configuration"]["sns_topic"] == "trail-deliveries"


def test_an_operator_guards_an_existing_trail_by_tagging_it(harness: Harness, cloudtrail: Any) -> None:
    create(cloudtrail, tags={})
    cloudtrail.add_tags(ResourceId=ARN, TagsList=[{"Key": GUARD_TRAIL_TAG, "Value": "true"}])

    summary = harness.invoke(cloudtrail_tampering.handler, load_event("add_tags"))

    assert outcomes(harness.items(summary)) == [("record-configuration", "skipped")]
    stored, version = record(harness)
    assert version == 1 and stored is not None and stored["configuration"]["tags"] == {GUARD_TRAIL_TAG: "true"}
    assert harness.notifications() == []


def test_changes_to_trails_nobody_guards_are_reported_as_before(harness: Harness, cloudtrail: Any) -> None:
    create(cloudtrail, tags={})
    cloudtrail.update_trail(Name=TRAIL, IsMultiRegionTrail=False, IncludeGlobalServiceEvents=False)

    summary = harness.invoke(cloudtrail_tampering.handler, load_event("update_trail"))

    assert trail(cloudtrail)["IsMultiRegionTrail"] is False
    assert outcomes(harness.items(summary)) == [("notify", "planned"), ("notify", "succeeded")]
    assert record(harness) == (None, 0)
