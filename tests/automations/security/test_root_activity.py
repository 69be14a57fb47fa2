"""root-activity: the root user's calls and console sign-ins are reported; nothing is changed."""

from __future__ import annotations

from automations.security import root_activity
from tests.automations.security.conftest import Harness, aws, load_event, outcomes, redelivered


def test_a_root_console_sign_in_is_reported(harness: Harness) -> None:
    aws("iam").create_account_alias(AccountAlias="example-prod")

    summary = harness.invoke(root_activity.handler, load_event("root_console_sign_in"))

    items = harness.items(summary)
    assert outcomes(items) == [("notify", "planned"), ("notify", "succeeded")]
    assert items[-1]["resource_id"] == "arn:aws:iam::123456789012:root"
    assert items[-1]["details"]["mfa_used"] == "Yes"
    [note] = harness.notifications()
    assert note["subject"] == ("Caretaker root-activity: root user console sign-in (Success) to account "
                               "123456789012 (example-prod)")
    assert note["body"]["finding"]["source_ip"] == "198.51.100.7"
    assert note["body"]["finding"]["actor"]["type"] == "Root"


def test_a_root_api_call_is_reported_in_either_mode(harness: Harness) -> None:
    for mode in ("audit", "enforce"):
        harness.mode(mode)
        event = load_event("root_api_call")
        event["id"] = f"{event['id'][:-5]}{mode[:5]}"

        harness.invoke(root_activity.handler, event)

        [note] = harness.notifications()
        assert note["subject"] == "Caretaker root-activity: root user called CreateUser in account 123456789012"


def test_a_failed_root_call_is_reported_with_its_error(harness: Harness) -> None:
    event = load_event("root_api_call")
    event["detail"].update(errorCode="AccessDenied", errorMessage="Denied by an SCP")
    event["detail"]["responseElements"] = None

    harness.invoke(root_activity.handler, event)

    [note] = harness.notifications()
    assert "(failed: AccessDenied)" in note["subject"]
    assert note["body"]["finding"]["error_message"] == "Denied by an SCP"


def test_a_second_delivery_of_the_same_event_is_not_reported_twice(harness: Harness) -> None:
    event = load_event("root_console_sign_in")
    harness.invoke(root_activity.handler, event)
    harness.notifications()

    second = harness.invoke(root_activity.handler, redelivered(event))

    assert outcomes(harness.items(second)) == [("evaluate-event", "skipped")]
    assert harness.notifications() == []


def test_mode_off_does_nothing(harness: Harness) -> None:
    harness.mode("off")

    summary = harness.invoke(root_activity.handler, load_event("root_console_sign_in"))

    assert summary["status"] == "off"
    assert harness.notifications() == []
