"""Cleanup: security groups attached to no network interface and referenced by nothing -> delete.

"Referenced" = named in another group's rules (a group's rules that name itself do not count),
in a launch template version or an Auto Scaling launch configuration. Every service that puts a
group to use (instances, load balancers, RDS, Lambda in a VPC, endpoints...) does it through a
network interface, so one DescribeNetworkInterfaces listing covers them. A `default` group is never
touched (AWS does not let it be deleted anyway). Security groups carry no creation date: the grace
period is what guarantees a group stayed unused for a while.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from automations.core.registry import register
from automations.core.runtime import entrypoint
from automations.core.selection import NOT_PROTECTED, tag_map
from automations.core.spec import Cron, FunctionSpec, Permission
from automations.scheduled.cleanup.ec2 import Ec2Family
from automations.scheduled.cleanup.flow import family_handler
from automations.scheduled.cleanup.model import Candidate, Context, Survey
from automations.scheduled.cleanup.references import References, add_launch_configurations, add_launch_templates
from automations.scheduled.cleanup.settings import COMMON, EC2_SECURITY_GROUPS, ec2_marking, grace_days

NAME = "cleanup-security-groups"
PAGE_SIZE = 1000

SPEC = register(FunctionSpec(
    name=NAME,
    description="Deletes security groups no network interface, rule or launch template uses, after a grace period.",
    trigger=Cron("30 5 * * ? *"),
    default_mode="audit",  # deletes configuration
    timeout=600,
    continues=True,  # large accounts: checkpoint and continue (cleanup.flow phases)
    permissions=(
        Permission(("ec2:DescribeSecurityGroups", "ec2:DescribeNetworkInterfaces", "ec2:DescribeLaunchTemplates",
                    "ec2:DescribeLaunchTemplateVersions"),
                   why="survey and the reference index; Describe* has no resource-level scoping"),
        Permission(("autoscaling:DescribeLaunchConfigurations",), why="groups launch configurations use"),
        ec2_marking((EC2_SECURITY_GROUPS,)),
        Permission(("ec2:DeleteSecurityGroup",), (EC2_SECURITY_GROUPS,), condition=NOT_PROTECTED,
                   why="the cleanup itself; never a group tagged caretaker:protect=true"),
    ),
    settings=(grace_days(), *COMMON),
))


def _referenced_by_rules(groups: Sequence[Mapping[str, Any]]) -> dict[str, set[str]]:
    """group id -> the other groups whose ingress or egress rules name it."""
    referenced: dict[str, set[str]] = defaultdict(set)
    for group in groups:
        for permission in [*group.get("IpPermissions", []), *group.get("IpPermissionsEgress", [])]:
            for pair in permission.get("UserIdGroupPairs", []):
                target = pair.get("GroupId")
                if target and target != group["GroupId"]:
                    referenced[target].add(group["GroupId"])
    return referenced


class SecurityGroups(Ec2Family, action="delete-security-group", noun="security groups",
                     verb="deleted", gone=("InvalidGroup.NotFound",)):
    """Announce unused security groups, then (after the grace period) delete them."""

    def survey(self, ctx: Context) -> Survey:
        run = ctx.run
        ec2 = self.client(ctx)
        survey = self.new_survey()
        attached: dict[str, int] = defaultdict(int)
        for page in ec2.get_paginator("describe_network_interfaces").paginate(PaginationConfig={"PageSize": PAGE_SIZE}):
            for interface in page.get("NetworkInterfaces", []):
                for group in interface.get("Groups", []):
                    attached[group["GroupId"]] += 1
        refs = References()
        add_launch_templates(refs, ec2, int(self.settings["max_concurrency"]))
        add_launch_configurations(refs, run.clients("autoscaling"))
        groups = [g for page in ec2.get_paginator("describe_security_groups").paginate(
            PaginationConfig={"PageSize": PAGE_SIZE}) for g in page.get("SecurityGroups", [])]
        by_rules = _referenced_by_rules(groups)

        for group in groups:
            group_id, name = group["GroupId"], group.get("GroupName", "")
            if name == "default":
                survey.reject(group_id, "a VPC's default group")
            elif attached.get(group_id):
                survey.reject(group_id, f"attached to {attached[group_id]} network interfaces")
            elif by_rules.get(group_id):
                survey.reject(group_id, "referenced by the rules of " + ", ".join(sorted(by_rules[group_id])[:3]))
            elif users := refs.group_users(group_id, name):
                survey.reject(group_id, "used by " + ", ".join(users[:3]))
            else:
                survey.consider(Candidate(
                    group_id, "attached to no network interface; referenced by no rule, launch template or "
                              "launch configuration", 0.0, {"name": name, "vpc_id": group.get("VpcId", "")}),
                    tag_map(group.get("Tags")))
        return survey

    def act_call(self, client: Any, candidate: Candidate) -> Any:
        return client.delete_security_group(GroupId=candidate.resource_id)


handler = entrypoint(SPEC)(family_handler(SecurityGroups))
