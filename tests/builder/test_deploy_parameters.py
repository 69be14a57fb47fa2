"""Deploy's parameter handling (no AWS needed): overrides, checks, what each stack receives."""

from __future__ import annotations

from typing import Any

import pytest

from builder.deploy import Target, check_overrides, parse_parameter_overrides, stack_parameters
from builder.errors import DeployError

MANIFEST: dict[str, Any] = {"stacks": [
    {"name": "caretaker-core", "parameters": {"ArtifactBucket": None, "ArtifactPrefix": ""}},
    {"name": "caretaker-scheduled", "parameters": {"ArtifactBucket": None, "ArtifactPrefix": "",
                                                   "CoreStackName": "caretaker-core", "EbsSnapshotsMode": "enforce"}},
]}


def test_overrides_parse_per_stack() -> None:
    assert parse_parameter_overrides(["caretaker-scheduled.EbsSnapshotsMode=audit", "caretaker-core.X=a=b"]) == {
        "caretaker-scheduled": {"EbsSnapshotsMode": "audit"}, "caretaker-core": {"X": "a=b"}}


@pytest.mark.parametrize("item", ["Key=Value", "stack.Key", ".Key=1", "stack.=1"])
def test_malformed_overrides_are_refused(item: str) -> None:
    with pytest.raises(DeployError, match=r"Stack\.Key=Value"):
        parse_parameter_overrides([item])


def test_overrides_must_name_a_stack_and_parameter_of_the_manifest() -> None:
    check_overrides(MANIFEST, {"caretaker-scheduled": {"EbsSnapshotsMode": "audit"}})
    with pytest.raises(DeployError, match="stacks are caretaker-core, caretaker-scheduled"):
        check_overrides(MANIFEST, {"caretaker-nope": {"X": "1"}})
    with pytest.raises(DeployError, match="has no parameter Nope"):
        check_overrides(MANIFEST, {"caretaker-core": {"Nope": "1"}})


def test_stacks_receive_the_artifact_location_and_their_overrides_only() -> None:
    target = Target(bucket="bkt", prefix="p/", parameters={"caretaker-scheduled": {"EbsSnapshotsMode": "audit"}})
    assert stack_parameters(MANIFEST["stacks"][0], target) == {"ArtifactBucket": "bkt", "ArtifactPrefix": "p/"}
    assert stack_parameters(MANIFEST["stacks"][1], target) == {
        "ArtifactBucket": "bkt", "ArtifactPrefix": "p/", "EbsSnapshotsMode": "audit"}
