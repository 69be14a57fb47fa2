"""Who uses an AMI or a security group: indexes built once per run from batched listings.

- instances (every state but terminated): one paginated DescribeInstances;
- launch templates: DescribeLaunchTemplates, then every version of each template (an Auto Scaling
  group may pin an old version), one paginated call per template;
- Auto Scaling launch configurations: one paginated DescribeLaunchConfigurations.

A launch template may name its AMI through an SSM parameter (`resolve:ssm:<name>`); those are
resolved with GetParameters (10 names per call). A name that cannot be read (access denied, throttled
beyond the retries) is reported, and the AMI family then acts on nothing: it cannot know which AMI
that template launches. A name that does not exist launches nothing and is ignored.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from automations.core.concurrency import bounded_map

SSM_PREFIX = "resolve:ssm:"
LIVE_STATES = ["pending", "running", "shutting-down", "stopping", "stopped"]
SSM_NAMES_PER_CALL = 10


@dataclass
class References:
    """id (or security group name) -> who refers to it, e.g. `launch template web v3`."""

    images: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    groups: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    group_names: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    ssm_images: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    unresolved: dict[str, str] = field(default_factory=dict)  # SSM parameter -> why

    def image_users(self, image_id: str) -> list[str]:
        return sorted(self.images.get(image_id, ()))

    def group_users(self, group_id: str, name: str) -> list[str]:
        return sorted(self.groups.get(group_id, set()) | self.group_names.get(name, set()))


def _add_groups(refs: References, who: str, values: Iterable[str]) -> None:
    for value in values:
        if value.startswith("sg-"):
            refs.groups[value].add(who)
        else:
            refs.group_names[value].add(who)


def _add_image(refs: References, who: str, image_id: str | None) -> None:
    if not image_id:
        return
    if image_id.startswith(SSM_PREFIX):
        refs.ssm_images[image_id.removeprefix(SSM_PREFIX)].add(who)
    else:
        refs.images[image_id].add(who)


def add_instances(refs: References, ec2: Any) -> None:
    pages = ec2.get_paginator("describe_instances").paginate(
        Filters=[{"Name": "instance-state-name", "Values": LIVE_STATES}], PaginationConfig={"PageSize": 1000})
    for page in pages:
        for reservation in page.get("Reservations", []):
            for instance in reservation.get("Instances", []):
                who = f"instance {instance['InstanceId']}"
                _add_image(refs, who, instance.get("ImageId"))


def add_launch_templates(refs: References, ec2: Any, max_concurrency: int) -> None:
    templates: list[tuple[str, str]] = []
    for page in ec2.get_paginator("describe_launch_templates").paginate(PaginationConfig={"PageSize": 200}):
        templates.extend((t["LaunchTemplateId"], t.get("LaunchTemplateName", t["LaunchTemplateId"]))
                         for t in page.get("LaunchTemplates", []))

    def versions(template: tuple[str, str]) -> list[dict[str, Any]]:
        pages = ec2.get_paginator("describe_launch_template_versions").paginate(
            LaunchTemplateId=template[0], PaginationConfig={"PageSize": 200})
        return [v for page in pages for v in page.get("LaunchTemplateVersions", [])]

    for (_, name), found in zip(templates, bounded_map(versions, templates, max_concurrency), strict=True):
        for version in found:
            who = f"launch template {name} v{version.get('VersionNumber')}"
            data = version.get("LaunchTemplateData", {})
            _add_image(refs, who, data.get("ImageId"))
            _add_groups(refs, who, data.get("SecurityGroupIds", []))
            _add_groups(refs, who, data.get("SecurityGroups", []))
            for interface in data.get("NetworkInterfaces", []):
                _add_groups(refs, who, interface.get("Groups", []))


def add_launch_configurations(refs: References, autoscaling: Any) -> None:
    pages = autoscaling.get_paginator("describe_launch_configurations").paginate(PaginationConfig={"PageSize": 100})
    for page in pages:
        for config in page.get("LaunchConfigurations", []):
            who = f"launch configuration {config['LaunchConfigurationName']}"
            _add_image(refs, who, config.get("ImageId"))
            _add_groups(refs, who, config.get("SecurityGroups", []))


def resolve_ssm_images(refs: References, ssm: Any) -> None:
    """Turn `resolve:ssm:` references into AMI ids; what cannot be resolved goes to `unresolved`."""
    names = sorted(refs.ssm_images)
    for start in range(0, len(names), SSM_NAMES_PER_CALL):
        chunk = names[start:start + SSM_NAMES_PER_CALL]
        try:
            response = ssm.get_parameters(Names=chunk)
        except (ClientError, BotoCoreError) as exc:  # the reference stays unknown
            refs.unresolved.update(dict.fromkeys(chunk, str(exc)))
            continue
        for parameter in response.get("Parameters", []):
            users = refs.ssm_images.get(parameter["Name"], set())
            for who in users:
                refs.images[str(parameter.get("Value", ""))].add(f"{who} (via SSM {parameter['Name']})")
        # A parameter that does not exist launches nothing: not a reference (InvalidParameters).
