"""iam-credential-guard: credentials a user's tags rule out are invalidated (in enforce mode)."""

from __future__ import annotations

from typing import Any

import pytest

from automations.security import iam_credential_guard
from tests.automations.security.conftest import Harness, aws, from_caretaker, load_event, outcomes, redelivered
from tests.lookups import found


@pytest.fixture
def iam() -> Any:
    return aws("iam")


def new_key(iam: Any, user: str, tags: dict[str, str]) -> tuple[str, dict[str, Any]]:
    iam.create_user(UserName=user, Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
    key_id = iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
    event = load_event("create_access_key")
    event["detail"]["requestParameters"]["userName"] = user
    event["detail"]["responseElements"]["accessKey"].update(userName=user, accessKeyId=key_id)
    return key_id, event


def status(iam: Any, user: str, key_id: str) -> str:
    keys = iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
    return str(next(k["Status"] for k in keys if k["AccessKeyId"] == key_id))


def login_profile(iam: Any, user: str, tags: dict[str, str]) -> None:
    iam.create_user(UserName=user, Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
    iam.create_login_profile(UserName=user, Password="Correct-Horse-42!", PasswordResetRequired=True)


def has_login_profile(iam: Any, user: str) -> bool:
    return found(lambda: iam.get_login_profile(UserName=user), iam.exceptions.NoSuchEntityException)


def test_audit_is_the_default_a_key_of_a_console_only_user_is_reported_and_kept(harness: Harness,
                                                                                 iam: Any) -> None:
    key_id, event = new_key(iam, "carol", {"caretaker:console-only": "true"})

    summary = harness.invoke(iam_credential_guard.handler, event)

    assert iam_credential_guard.SPEC.default_mode == "audit"
    assert status(iam, "carol", key_id) == "Active"
    [planned] = harness.items(summary)
    assert (planned["action"], planned["resource_id"], planned["dry_run"]) == ("deactivate-access-key", key_id, True)
    assert harness.notifications()[0]["body"]["caretaker"]["outcome"] == "planned"


def test_enforce_deactivates_a_new_key_of_a_console_only_user(harness: Harness, iam: Any) -> None:
    harness.mode("enforce")
    key_id, event = new_key(iam, "carol", {"caretaker:console-only": "True"})

    summary = harness.invoke(iam_credential_guard.handler, event)

    assert status(iam, "carol", key_id) == "Inactive"
    assert outcomes(harness.items(summary))[-1] == ("deactivate-access-key", "succeeded")


def test_keys_of_untagged_users_are_left_alone(harness: Harness, iam: Any) -> None:
    harness.mode("enforce")
    key_id, event = new_key(iam, "dave", {"team": "data"})

    summary = harness.invoke(iam_credential_guard.handler, event)

    assert status(iam, "dave", key_id) == "Active"
    assert outcomes(harness.items(summary)) == [("deactivate-access-key", "skipped")]
    assert harness.notifications() == []


def test_the_tag_key_is_a_setting(harness: Harness, iam: Any) -> None:
    harness.mode("enforce")
    harness.setting("CARETAKER_CONSOLE_ONLY_TAG_KEY", "access:console-only")
    key_id, event = new_key(iam, "carol", {"access:console-only": "true"})

    harness.invoke(iam_credential_guard.handler, event)

    assert status(iam, "carol", key_id) == "Inactive"


def test_enforce_deletes_a_login_profile_of_a_machine_only_user(harness: Harness, iam: Any) -> None:
    harness.mode("enforce")
    login_profile(iam, "etl-service", {"caretaker:machine-only": "true"})

    summary = harness.invoke(iam_credential_guard.handler, load_event("create_login_profile"))

    assert not has_login_profile(iam, "etl-service")
    assert outcomes(harness.items(summary))[-1] == ("delete-login-profile", "succeeded")
    assert harness.items(summary)[-1]["resource_id"] == "user/etl-service"


def test_a_login_profile_removed_meanwhile_needs_nothing(harness: Harness, iam: Any) -> None:
    harness.mode("enforce")
    login_profile(iam, "etl-service", {"caretaker:machine-only": "true"})
    iam.delete_login_profile(UserName="etl-service")

    summary = harness.invoke(iam_credential_guard.handler, load_event("create_login_profile"))

    assert outcomes(harness.items(summary)) == [("delete-login-profile", "skipped")]


def test_a_protected_user_keeps_the_credential_but_it_is_reported(harness: Harness, iam: Any) -> None:
    harness.mode("enforce")
    login_profile(iam, "etl-service", {"caretaker:machine-only": "true", "caretaker:protect": "true"})

    harness.invoke(iam_credential_guard.handler, load_event("create_login_profile"))

    assert has_login_profile(iam, "etl-service")
    assert harness.notifications()[0]["body"]["caretaker"]["outcome"] == "skipped"


def test_a_second_delivery_of_the_same_event_does_nothing(harness: Harness, iam: Any) -> None:
    harness.mode("enforce")
    key_id, event = new_key(iam, "carol", {"caretaker:console-only": "true"})
    harness.invoke(iam_credential_guard.handler, event)
    iam.update_access_key(UserName="carol", AccessKeyId=key_id, Status="Active")

    second = harness.invoke(iam_credential_guard.handler, redelivered(event))

    assert status(iam, "carol", key_id) == "Active"
    assert outcomes(harness.items(second)) == [("evaluate-event", "skipped")]


def test_an_event_caused_by_a_caretaker_role_does_nothing(harness: Harness, iam: Any) -> None:
    harness.mode("enforce")
    key_id, event = new_key(iam, "carol", {"caretaker:console-only": "true"})

    harness.invoke(iam_credential_guard.handler, from_caretaker(event))

    assert status(iam, "carol", key_id) == "Active"


def test_a_user_that_no_longer_exists_is_skipped(harness: Harness) -> None:
    summary = harness.invoke(iam_credential_guard.handler, load_event("create_login_profile"))

    [item] = harness.items(summary)
    assert item["reason"] == "gone: user etl-service no longer exists"


def test_a_create_access_key_record_without_the_new_key_is_skipped(harness: Harness, iam: Any) -> None:
    event = load_event("create_access_key")
    event["detail"]["responseElements"] = None

    summary = harness.invoke(iam_credential_guard.handler, event)

    [item] = harness.items(summary)
    assert item["reason"] == "bad event: responseElements.accessKey is missing"
