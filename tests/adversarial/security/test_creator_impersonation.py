"""creator-tags: attacks by a developer who wants a resource to look like someone else's, or nobody's.

The tags are a convenience anyone with tag rights can change; the state log (which developers cannot write)
keeps what CloudTrail recorded. Caretaker never overwrites a tag, so a pre-set `caretaker:created-by` stays,
but the mismatch is recorded and notified.
"""

from __future__ import annotations

from typing import Any

from automations.core.selection import CREATED_AT_TAG, CREATED_BY_TAG, PROTECT_TAG
from automations.security import creator_tags
from tests.automations.security.conftest import Harness
from tests.automations.security.test_creator_tags import run_instances_event, tags_of

ATTACKER = "arn:aws:iam::123456789012:role/DeveloperAccess session:alice@example.com"  # the fixture's caller
SCAPEGOAT = "arn:aws:iam::123456789012:user/bob"


def launch(ec2: Any, tags: dict[str, str], count: int = 1) -> list[str]:
    specs = [{"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}] if tags else []
    reservation = ec2.run_instances(ImageId="ami-12345678", MinCount=count, MaxCount=count, TagSpecifications=specs)
    return [i["InstanceId"] for i in reservation["Instances"]]


def test_pre_tagging_another_creator_is_not_overwritten_but_recorded_and_notified(harness: Harness,
                                                                                   ec2: Any) -> None:
    [instance] = launch(ec2, {CREATED_BY_TAG: SCAPEGOAT})

    summary = harness.invoke(creator_tags.handler, run_instances_event([instance]))

    assert tags_of(ec2, instance) == {CREATED_BY_TAG: SCAPEGOAT}  # never overwritten, created-at not added either
    [item] = harness.items(summary)
    assert (item["resource_id"], item["outcome"]) == (instance, "skipped")
    assert item["reason"].startswith(f"kept: already tagged {CREATED_BY_TAG}='{SCAPEGOAT}'")
    assert item["details"]["created_by"] == ATTACKER  # the state log holds CloudTrail's word
    [note] = harness.notifications()
    assert note["body"]["finding"]["created_by"] == ATTACKER
    assert note["body"]["finding"]["actor"]["arn"].endswith("/alice@example.com")
    assert "claims another creator" in note["subject"]


def test_one_pre_tagged_instance_among_many_is_reported_while_the_others_are_tagged(harness: Harness,
                                                                                    ec2: Any) -> None:
    [disguised] = launch(ec2, {CREATED_BY_TAG: SCAPEGOAT})
    honest = launch(ec2, {}, count=2)

    summary = harness.invoke(creator_tags.handler, run_instances_event([*honest, disguised]))

    assert tags_of(ec2, disguised) == {CREATED_BY_TAG: SCAPEGOAT}
    assert all(tags_of(ec2, i)[CREATED_BY_TAG] == ATTACKER for i in honest)
    outcomes = {(i["resource_id"], i["outcome"]) for i in harness.items(summary)}
    assert (disguised, "skipped") in outcomes and {(i, "succeeded") for i in honest} <= outcomes
    [note] = harness.notifications()
    assert disguised in note["summary"]


def test_protecting_a_new_resource_to_dodge_the_tags_does_not_go_unnoticed(harness: Harness, ec2: Any) -> None:
    [instance] = launch(ec2, {PROTECT_TAG: "true"})

    summary = harness.invoke(creator_tags.handler, run_instances_event([instance]))

    assert tags_of(ec2, instance) == {PROTECT_TAG: "true"}  # protect wins: never changed
    assert [i["outcome"] for i in harness.items(summary)] == ["skipped"]
    [note] = harness.notifications()
    assert note["body"]["finding"]["created_by"] == ATTACKER


def test_a_session_name_cannot_hide_the_role_that_made_the_call(harness: Harness, ec2: Any) -> None:
    [instance] = launch(ec2, {})
    event = run_instances_event([instance])
    identity = event["detail"]["userIdentity"]
    identity["arn"] = identity["arn"].replace("alice@example.com", "arn:aws:iam::123456789012:user/bob")

    harness.invoke(creator_tags.handler, event)

    value = tags_of(ec2, instance)[CREATED_BY_TAG]
    assert value.startswith("arn:aws:iam::123456789012:role/DeveloperAccess session:")


def test_the_role_cannot_be_used_to_write_any_other_tag() -> None:
    """The tag statements allow only the two creator keys: not caretaker:protect, not caretaker:automation."""
    for permission in creator_tags.SPEC.permissions:
        if permission.condition and "ForAllValues:StringEquals" in permission.condition:
            assert permission.condition["ForAllValues:StringEquals"]["aws:TagKeys"] == [CREATED_BY_TAG,
                                                                                         CREATED_AT_TAG]
