"""The declarative property schema and its one validation function."""

from __future__ import annotations

import pytest

from custom_resources.properties import REDACTED, Prop, PropertyError, Schema, redact_text

SCHEMA = Schema((
    Prop("Size", "int", "How many.", default=10, ranges=((1, 100),), generation=True),
    Prop("Window", "int", "Days.", default=0, ranges=((0, 0), (7, 30))),
    Prop("Enabled", "bool", "On or off.", default=True),
    Prop("Name", "str", "A name.", required=True, length=(1, 8), pattern=r"[a-z]+", replaces=True),
    Prop("Colour", "str", "A colour.", allowed=("red", "blue")),
    Prop("Tags", "list", "Labels.", default=(), length=(0, 3)),
    Prop("Filters", "filters", "Filters.", default=()),
    Prop("Password", "str", "A secret.", length=(8, 64), secret=True),
))


def problems(raw: dict[str, object]) -> list[str]:
    with pytest.raises(PropertyError) as caught:
        SCHEMA.validate(raw)
    return caught.value.problems


def test_strings_from_cloudformation_are_converted_and_defaults_filled() -> None:
    values = SCHEMA.validate({"Name": "abc", "Size": "42", "Enabled": "False", "Tags": "a, b",
                              "Filters": [{"Name": "tag:x", "Values": "y"}], "ServiceToken": "arn:x",
                              "ServiceTimeout": "300"})

    assert values == {"Size": 42, "Window": 0, "Enabled": False, "Name": "abc", "Colour": None,
                      "Tags": ("a", "b"), "Filters": (("tag:x", ("y",)),), "Password": None}


def test_every_problem_is_reported_naming_property_value_and_what_is_allowed() -> None:
    found = problems({"Size": "abc", "Window": "3", "Enabled": "yes", "Colour": "green", "Name": "ABC",
                      "Tags": ["a", "b", "c", "d"], "Extra": "1", "Other": "2"})

    assert found == [
        "unknown properties Extra, Other (allowed: Size, Window, Enabled, Name, Colour, Tags, Filters, Password)",
        "Size must be an integer from 1 to 100, got 'abc'",
        "Window must be an integer 0 or from 7 to 30, got 3",
        "Enabled must be true or false, got 'yes'",
        "Name must be a string of 1 to 8 characters matching [a-z]+, got 'ABC'",
        "Colour must be one of 'red', 'blue', got 'green'",
        "Tags must be a list of 0 to 3 strings, got ['a', 'b', 'c', 'd']",
    ]


def test_a_missing_required_property_says_what_it_needs() -> None:
    assert problems({}) == ["Name is required: a string of 1 to 8 characters matching [a-z]+"]


@pytest.mark.parametrize("raw", ["1.5", "", " ", "1e3", True])
def test_integers_must_be_whole_numbers(raw: object) -> None:
    assert problems({"Name": "a", "Size": raw})[0].startswith("Size must be an integer from 1 to 100, got ")


def test_a_secret_value_is_never_repeated() -> None:
    [problem] = problems({"Name": "a", "Password": "short"})

    assert problem == "Password must be a string of 8 to 64 characters, got a secret value of length 5"


def test_redaction_masks_secret_and_undeclared_properties() -> None:
    raw = {"Name": "a", "Password": "hunter22", "Passwrd": "hunter22", "ServiceToken": "arn:x"}

    assert SCHEMA.redact(raw) == {"Name": "a", "Password": REDACTED, "Passwrd": REDACTED, "ServiceToken": "arn:x"}
    assert redact_text("failed for hunter22 and hunter22!", ["hunter22", "a"]) == "failed for *** and ***!"


def test_changes_are_found_by_flag() -> None:
    old = SCHEMA.validate({"Name": "a", "Size": "5"})
    new = SCHEMA.validate({"Name": "b", "Size": "5", "Enabled": "false"})

    assert SCHEMA.changed(old, new) == ("Enabled", "Name")
    assert SCHEMA.changed(old, new, "generation") == ()
    assert SCHEMA.changed(old, new, "replaces") == ("Name",)
    assert SCHEMA.changed(None, new, "generation") == ("Size",)


def test_declarations_are_checked_when_made() -> None:
    with pytest.raises(ValueError, match="default 200 is invalid"):
        Prop("Size", "int", "How many.", default=200, ranges=((1, 100),))
    with pytest.raises(ValueError, match="PascalCase"):
        Prop("size", "int", "How many.")
    with pytest.raises(ValueError, match="not reserved"):
        Schema((Prop("ServiceToken", "str", "No."),))


def test_cross_property_checks_run_after_single_ones() -> None:
    schema = Schema((Prop("Low", "int", "Low.", default=1), Prop("High", "int", "High.", default=2)),
                    checks=(lambda v: None if v["Low"] <= v["High"] else "Low must not exceed High",))

    with pytest.raises(PropertyError, match="Low must not exceed High"):
        schema.validate({"Low": "5"})
