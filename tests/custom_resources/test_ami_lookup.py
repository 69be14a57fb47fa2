"""Custom::AmiLookup through the real protocol."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import boto3
import pytest
from moto.ec2.models import ec2_backends

from custom_resources import ami_lookup
from custom_resources.response import FAILED_CREATE_PREFIX
from tests.custom_resources.conftest import ACCOUNT, REGION, Cfn
from tests.recording import RecordingClients

LOOKUP = {"Owners": ["self"], "NamePattern": "app-*", "Architecture": "arm64"}


def image(name: str, created: str, architecture: str = "arm64") -> str:
    """Register an image in moto with the given architecture and creation date."""
    image_id = str(boto3.client("ec2", region_name=REGION).register_image(Name=name)["ImageId"])
    ami = ec2_backends[ACCOUNT][REGION].amis[image_id]
    ami.architecture = architecture
    ami.creation_date = datetime.fromisoformat(created + "+00:00")
    return image_id


def test_create_finds_the_newest_matching_image(cfn: Cfn) -> None:
    image("app-1", "2024-01-01T00:00:00")
    newest = image("app-2", "2024-03-01T00:00:00")
    image("app-3-intel", "2024-05-01T00:00:00", architecture="x86_64")
    image("other-9", "2024-06-01T00:00:00")

    found = cfn.create(ami_lookup, LOOKUP)

    assert found["Status"] == "SUCCESS", found["Reason"]
    assert found["PhysicalResourceId"] == newest
    assert found["Data"]["ImageId"] == newest and found["Data"]["Name"] == "app-2"
    assert found["Data"]["CreationDate"].startswith("2024-03-01T00:00:00")


def test_update_keeps_the_id_while_the_image_is_the_same_and_replaces_when_a_newer_one_appears(cfn: Cfn) -> None:
    first = image("app-1", "2024-01-01T00:00:00")
    found = cfn.create(ami_lookup, LOOKUP)

    same = cfn.update(ami_lookup, found["PhysicalResourceId"], {**LOOKUP, "Owners": "self"}, LOOKUP)
    assert same["PhysicalResourceId"] == first

    newer = image("app-2", "2024-02-01T00:00:00")
    replaced = cfn.update(ami_lookup, first, LOOKUP, LOOKUP)
    assert replaced["PhysicalResourceId"] == newer and first in replaced["Reason"]
    cleanup = cfn.delete(ami_lookup, first, LOOKUP)  # CloudFormation deletes the old one: nothing to do
    assert cleanup["Status"] == "SUCCESS" and "nothing to delete" in cleanup["Reason"]


def test_extra_filters_are_applied(cfn: Cfn, hooks: RecordingClients) -> None:
    image("app-1", "2024-01-01T00:00:00")

    cfn.create(ami_lookup, {**LOOKUP, "Filters": [{"Name": "virtualization-type", "Values": ["hvm"]}]})

    sent = hooks.called("ec2", "DescribeImages")[0]
    assert sent["Owners"] == ["self"]
    assert {"Name": "virtualization-type", "Values": ["hvm"]} in sent["Filters"]
    assert {"Name": "state", "Values": ["available"]} in sent["Filters"]


def test_no_match_fails_with_a_clear_reason(cfn: Cfn) -> None:
    image("app-1", "2024-01-01T00:00:00", architecture="x86_64")

    failed = cfn.create(ami_lookup, LOOKUP)

    assert failed["Status"] == "FAILED"
    assert failed["Reason"] == ("no available AMI matches Owners=['self'], NamePattern='app-*', "
                                "Architecture='arm64'")
    assert failed["PhysicalResourceId"].startswith(FAILED_CREATE_PREFIX)


@pytest.mark.parametrize(("properties", "message"), [
    ({"NamePattern": "x"}, "Owners is required"),
    ({**LOOKUP, "Architecture": "sparc"}, "Architecture must be one of 'x86_64', 'arm64', 'i386', "),
    ({**LOOKUP, "Owners": ["someone"]}, "Owners must be a list of 1 to 10 strings, each an account id, self, "
                                        "amazon, aws-marketplace or aws-backup-vault, got ['someone']"),
    ({**LOOKUP, "Filters": [{"Name": "name", "Values": ["x"]}]}, "Filters must not use name"),
    ({**LOOKUP, "Filters": [{"Name": "tag:x"}]}, "Filters must be a list of {Name, Values} objects"),
])
def test_invalid_properties_fail_before_any_aws_call(cfn: Cfn, properties: dict[str, Any], message: str) -> None:
    assert message in cfn.refused(ami_lookup, properties)["Reason"]


def test_an_aws_error_mid_way_fails_and_delete_of_the_failed_create_succeeds(cfn: Cfn, hooks: RecordingClients) -> None:
    hooks.fail("ec2", "DescribeImages", "UnauthorizedOperation", "not allowed", times=1)

    failed = cfn.create(ami_lookup, LOOKUP)
    deleted = cfn.delete(ami_lookup, failed["PhysicalResourceId"], LOOKUP)

    assert failed["Status"] == "FAILED" and "UnauthorizedOperation: not allowed" in failed["Reason"]
    assert deleted["Status"] == "SUCCESS" and deleted["PhysicalResourceId"] == failed["PhysicalResourceId"]
