"""Custom::AmiLookup: the newest available AMI matching owners, a name pattern, an architecture
and extra DescribeImages filters.

The PhysicalResourceId is the image id, so `Ref` gives it. An Update that finds another image
answers with its id (CloudFormation replaces the resource; deleting the old one does nothing).
A lookup changes nothing in AWS, so the mode does not apply to it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from automations.core.spec import Permission
from custom_resources.properties import Prop, Schema
from custom_resources.provider import Provider, ProviderError, Request, ResourceType, Result, provider_spec

NAME = "ami-lookup"
RESOURCE_TYPE = "Custom::AmiLookup"
ARCHITECTURES = ("x86_64", "arm64", "i386", "x86_64_mac", "arm64_mac")
#: Filters the dedicated properties set; Filters may not set them again.
OWN_FILTERS = ("name", "architecture", "state")

# enforce, like every provider; it only reads
SPEC = provider_spec(
    NAME, RESOURCE_TYPE, "the newest AMI matching a pattern.",
    permissions=(Permission(("ec2:DescribeImages",), why="DescribeImages has no resource-level scoping"),),
)


def _filters_not_duplicated(values: Mapping[str, Any]) -> str | None:
    clash = sorted({name for name, _ in values["Filters"]} & set(OWN_FILTERS))
    if clash:
        return (f"Filters must not use {', '.join(clash)}: NamePattern and Architecture set them "
                f"(and only available images are considered)")
    return None


SCHEMA = Schema((
    Prop("Owners", "list", "Image owners: account ids, self, amazon, aws-marketplace or aws-backup-vault.",
         required=True, length=(1, 10), pattern=r"self|amazon|aws-marketplace|aws-backup-vault|\d{12}",
         pattern_hint="an account id, self, amazon, aws-marketplace or aws-backup-vault"),
    Prop("NamePattern", "str", "Image name; * and ? are wildcards.", required=True, length=(1, 128)),
    Prop("Architecture", "str", "Image architecture.", default="x86_64", allowed=ARCHITECTURES),
    Prop("Filters", "filters", "More DescribeImages filters ({Name, Values}), e.g. virtualization-type.",
         default=()),
), checks=(_filters_not_duplicated,))

EXAMPLE_PROPERTIES: dict[str, Any] = {
    "Owners": ["amazon"],
    "NamePattern": "al2023-ami-2023.*-kernel-*",
    "Architecture": "arm64",
    "Filters": [{"Name": "virtualization-type", "Values": ["hvm"]}],
}


class AmiLookup(ResourceType):
    resource_type = RESOURCE_TYPE
    schema = SCHEMA
    mutates = False
    binding = None  # it only reads: there is nothing of a stack's to protect

    def owns(self, physical_id: str) -> bool:
        return bool(re.fullmatch(r"ami-[0-9a-f]{8,17}", physical_id))

    def create(self, request: Request) -> Result:
        return self._find(request)

    def update(self, request: Request) -> Result:
        result = self._find(request)
        if result.physical_id != request.physical_id:
            result.note = f"newest match is now {result.physical_id} (was {request.physical_id})"
        return result

    def delete(self, request: Request) -> Result:
        return Result(request.physical_id, note="a lookup creates nothing; nothing to delete")

    @staticmethod
    def _find(request: Request) -> Result:
        props = request.props
        filters = [{"Name": "name", "Values": [props["NamePattern"]]},
                   {"Name": "architecture", "Values": [props["Architecture"]]},
                   {"Name": "state", "Values": ["available"]},
                   *({"Name": name, "Values": list(values)} for name, values in props["Filters"])]
        best: dict[str, Any] | None = None
        pages = request.client("ec2").get_paginator("describe_images").paginate(
            Owners=list(props["Owners"]), Filters=filters)
        for page in pages:
            for image in page.get("Images", []):
                if best is None or _newness(image) > _newness(best):
                    best = image
        if best is None:
            extra = ", ".join(f"{name}={list(values)}" for name, values in props["Filters"])
            raise ProviderError(f"no available AMI matches Owners={list(props['Owners'])}, "
                                f"NamePattern={props['NamePattern']!r}, Architecture={props['Architecture']!r}"
                                + (f", Filters: {extra}" if extra else ""))
        return Result(str(best["ImageId"]), data={"ImageId": best["ImageId"], "Name": best.get("Name", ""),
                                                  "CreationDate": best.get("CreationDate", "")})


def _newness(image: Mapping[str, Any]) -> tuple[str, str]:
    """CreationDate (ISO 8601, sorts as text), then the image id so that ties resolve the same way."""
    return str(image.get("CreationDate", "")), str(image["ImageId"])


handler = Provider(SPEC, AmiLookup())
