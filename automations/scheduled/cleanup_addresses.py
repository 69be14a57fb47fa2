"""Cleanup: Elastic IPs not associated for `min_unassociated_days` -> release.

AWS records no "unassociated since" date, so the age counts from Caretaker's first sighting of the
address unassociated (a `seen` record in the state log); an association in between forgets it.
The schedule is daily, so the age is exact to within a day (and pending addresses are listed in one
notification a day, not four).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from automations.core.registry import register
from automations.core.runtime import entrypoint
from automations.core.selection import NOT_PROTECTED, tag_map
from automations.core.spec import FunctionSpec, Permission, Rate, Setting
from automations.scheduled.cleanup.ec2 import Ec2Family, age_days
from automations.scheduled.cleanup.flow import family_handler
from automations.scheduled.cleanup.model import Candidate, Context, Survey
from automations.scheduled.cleanup.notice import monthly_from_hourly
from automations.scheduled.cleanup.settings import (
    COMMON,
    EC2_ADDRESSES,
    IDLE_ADDRESS_PRICE,
    ec2_marking,
    grace_days,
)

NAME = "cleanup-elastic-ips"

SPEC = register(FunctionSpec(
    name=NAME,
    description="Releases Elastic IPs left unassociated, after a grace period.",
    trigger=Rate(1, "day"),
    default_mode="audit",  # an address, once released, may never come back
    continues=True,  # shares cleanup.flow's phases; few addresses per account, but the flow is one
    permissions=(
        Permission(("ec2:DescribeAddresses",), why="survey; Describe* has no resource-level scoping"),
        ec2_marking((EC2_ADDRESSES,)),
        Permission(("ec2:ReleaseAddress",), (EC2_ADDRESSES,), condition=NOT_PROTECTED,
                   why="the cleanup itself; never an address tagged caretaker:protect=true"),
    ),
    settings=(
        Setting("min_unassociated_days", "int", 7,
                "Days an address must have been seen unassociated (counted from Caretaker's first sighting).",
                minimum=0, maximum=365),
        grace_days(),
        IDLE_ADDRESS_PRICE,
        *COMMON,
    ),
))


def _associated(address: Mapping[str, Any]) -> str | None:
    for key, label in (("InstanceId", "instance"), ("NetworkInterfaceId", "network interface"),
                       ("AssociationId", "association")):
        if address.get(key):
            return f"associated with {label} {address[key]}"
    return None


class Addresses(Ec2Family, action="release-address", noun="addresses", verb="released",
                gone=("InvalidAllocationID.NotFound",), vanished="released"):
    """Watch unassociated addresses, announce the long-idle ones, then (after the grace period) release them."""

    def survey(self, ctx: Context) -> Survey:
        ec2 = self.client(ctx)
        survey = self.new_survey()
        min_days = int(self.settings["min_unassociated_days"])
        cost = monthly_from_hourly(float(self.settings["idle_address_price_per_hour"]))
        # DescribeAddresses is not paginated: one call returns every address of the region.
        for address in ec2.describe_addresses(Filters=[{"Name": "domain", "Values": ["vpc"]}]).get("Addresses", []):
            allocation_id = address.get("AllocationId")
            if not allocation_id:
                continue
            associated = _associated(address)
            if associated:
                survey.reject(allocation_id, associated)
                continue
            if address.get("ServiceManaged"):
                survey.reject(allocation_id, f"managed by {address['ServiceManaged']}")
                continue
            tags = tag_map(address.get("Tags"))
            first_seen = ctx.first_seen(allocation_id)
            since = first_seen.date().isoformat()
            idle = age_days(first_seen, ctx.now)
            if idle < min_days:
                survey.watch(allocation_id, tags, f"unassociated, first seen {since}")
                continue
            survey.consider(Candidate(
                allocation_id, f"unassociated since at least {since} ({idle:.0f} days)", cost,
                {"public_ip": address.get("PublicIp", "")}, sighted=True), tags)
        return survey

    def act_call(self, client: Any, candidate: Candidate) -> Any:
        return client.release_address(AllocationId=candidate.resource_id)


handler = entrypoint(SPEC)(family_handler(Addresses))
