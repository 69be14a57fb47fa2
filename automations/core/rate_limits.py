"""The AWS API request limits as one table: which token buckets (`Bucket`) an API request draws from
(`RateTable.charges`), with EC2's documented limits built in. The client-side limiter (`throttle.py`)
scales it by the function's share; the throttling simulator of the tests and benchmarks
(`tests/throttling/simulator.py`) plays AWS with it at full size.

No I/O and no botocore import at module scope: this module is imported by every handler.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple


def validate_share(share: float) -> float:
    """A share of an AWS bucket is in (0, 1]."""
    value = float(share)
    if not 0 < value <= 1:
        raise ValueError(f"an API rate share must be > 0 and <= 1, got {share!r}")
    return value


@dataclass(frozen=True)
class Bucket:
    """A token bucket: `capacity` tokens at most (the burst), `refill` tokens added per second."""

    capacity: float
    refill: float

    def __post_init__(self) -> None:
        if self.capacity <= 0 or self.refill <= 0:
            raise ValueError(f"a bucket needs a positive capacity and refill rate, got {self}")

    def share(self, share: float) -> Bucket:
        """This bucket cut to `share` of its size and rate (never below one token of capacity)."""
        share = validate_share(share)
        return Bucket(max(self.capacity * share, 1.0), self.refill * share)

    def scaled(self, capacity: float = 1.0, refill: float = 1.0) -> Bucket:
        return Bucket(self.capacity * capacity, self.refill * refill)

    def minimum_seconds(self, requests: float) -> float:
        """The shortest time in which `requests` single-token requests fit in a full bucket."""
        return max(0.0, requests - self.capacity) / self.refill


class Charge(NamedTuple):
    """What one request takes from one bucket. `key` names the bucket within a service and region."""

    key: str
    category: str
    bucket: Bucket
    tokens: float = 1.0


# ------------------------------------------------------------------------------------------------
# The limits. Source: "Request throttling for the Amazon EC2 API" (Amazon EC2 Developer Guide,
# sections "Request token bucket sizes and refill rates" and "Resource token bucket sizes and refill
# rates"). Requests are throttled per account and region, and each API action is evaluated on its
# own ("limits are applied to individual API actions, not API action categories"): every action has
# its own bucket, sized by its category unless the action is listed with numbers of its own.

EC2_NON_MUTATING = "non-mutating"
EC2_UNFILTERED = "unfiltered-unpaginated"
EC2_MUTATING = "mutating"
EC2_RESOURCE_INTENSIVE = "resource-intensive"
EC2_UNCATEGORIZED = "uncategorized"
EC2_RESOURCE = "resource"

EC2_CATEGORIES: Mapping[str, Bucket] = {
    EC2_NON_MUTATING: Bucket(100, 20),  # Describe*, List*, Search*, Get* not listed elsewhere
    EC2_UNFILTERED: Bucket(50, 10),  # the actions below, called with neither a filter nor pagination
    EC2_MUTATING: Bucket(50, 5),  # every other action
    EC2_RESOURCE_INTENSIVE: Bucket(50, 5),  # the actions below
}

EC2_UNFILTERED_ACTIONS = frozenset({
    "DescribeInstances", "DescribeInstanceStatus", "DescribeNetworkInterfaces", "DescribeSecurityGroups",
    "DescribeSnapshots", "DescribeSpotInstanceRequests", "DescribeVolumes",
})

EC2_RESOURCE_INTENSIVE_ACTIONS = frozenset({
    "AcceptVpcPeeringConnection", "AuthorizeSecurityGroupIngress", "CancelSpotInstanceRequests", "CreateKeyPair",
    "CreateVpcPeeringConnection", "DeleteVpcPeeringConnection", "RejectVpcPeeringConnection",
    "RevokeSecurityGroupIngress", "RequestSpotInstances",
})

#: "Uncategorized actions" with buckets of their own: those of the EBS, AMI, instance and network
#: families Caretaker works on. Any other action falls back to its category's numbers.
EC2_OWN_BUCKETS: Mapping[str, Bucket] = {
    "AssociateIamInstanceProfile": Bucket(100, 5),
    "CopyImage": Bucket(100, 1),
    "CreateLaunchTemplateVersion": Bucket(100, 5),
    "CreateNetworkInterface": Bucket(100, 5),
    "CreateSnapshot": Bucket(100, 5),
    "CreateSnapshots": Bucket(100, 5),
    "CreateTags": Bucket(100, 10),
    "CreateVolume": Bucket(100, 5),
    "DeleteNetworkInterface": Bucket(100, 5),
    "DeleteSnapshot": Bucket(100, 5),
    "DeleteTags": Bucket(100, 10),
    "DeleteVolume": Bucket(100, 5),
    "DeregisterImage": Bucket(100, 5),
    "DescribeSecurityGroupReferences": Bucket(20, 5),
    "DescribeStaleSecurityGroups": Bucket(20, 5),
    "DisableImageBlockPublicAccess": Bucket(1, 0.1),
    "DisableSnapshotBlockPublicAccess": Bucket(1, 0.1),
    "DisassociateIamInstanceProfile": Bucket(100, 5),
    "EnableImageBlockPublicAccess": Bucket(1, 0.1),
    "EnableSnapshotBlockPublicAccess": Bucket(1, 0.1),
    "ModifyImageAttribute": Bucket(100, 5),
    "ModifyInstanceMetadataOptions": Bucket(100, 5),
    "ModifyLaunchTemplate": Bucket(100, 5),
    "ModifyNetworkInterfaceAttribute": Bucket(100, 5),
    "ModifySnapshotAttribute": Bucket(100, 5),
    "RunInstances": Bucket(5, 2),
    "StartInstances": Bucket(5, 2),
    "TerminateInstances": Bucket(100, 5),
}

#: Resource rate limiting: these actions also draw one token per instance they act on.
EC2_RESOURCE_BUCKETS: Mapping[str, tuple[Bucket, str]] = {
    "RunInstances": (Bucket(1000, 2), "MaxCount"),
    "StartInstances": (Bucket(1000, 2), "InstanceIds"),
    "StopInstances": (Bucket(1000, 20), "InstanceIds"),
    "TerminateInstances": (Bucket(1000, 20), "InstanceIds"),
}

_NON_MUTATING_PREFIXES = ("Describe", "List", "Search", "Get")
_PAGINATION_OR_FILTER = ("Filters", "MaxResults", "NextToken")


class RateTable:
    """Which buckets an API request draws from. Immutable; `scaled` and `with_buckets` make new tables.

    The EC2 part holds the documented limits (defaults above). `services` gives other services a
    bucket per action of the given size: AWS documents no such per-call table for them, so the
    production table leaves it empty (those calls are not limited client-side, and retries absorb
    their throttling); tests and benchmarks use it to throttle e.g. DynamoDB.
    (A plain class, not a dataclass: it is built at import time in every handler.)
    """

    def __init__(self, *, ec2: bool = True, ec2_categories: Mapping[str, Bucket] = EC2_CATEGORIES,
                 ec2_own: Mapping[str, Bucket] = EC2_OWN_BUCKETS,
                 ec2_resources: Mapping[str, tuple[Bucket, str]] = EC2_RESOURCE_BUCKETS,
                 ec2_unfiltered: frozenset[str] = EC2_UNFILTERED_ACTIONS,
                 ec2_resource_intensive: frozenset[str] = EC2_RESOURCE_INTENSIVE_ACTIONS,
                 services: Mapping[str, Bucket] | None = None) -> None:
        self.ec2 = ec2
        self.ec2_categories = dict(ec2_categories)
        self.ec2_own = dict(ec2_own)
        self.ec2_resources = dict(ec2_resources)
        self.ec2_unfiltered = ec2_unfiltered
        self.ec2_resource_intensive = ec2_resource_intensive
        self.services = dict(services or {})

    @classmethod
    def empty(cls) -> RateTable:
        """No limits at all (nothing is charged)."""
        return cls(ec2=False)

    def _with(self, **changes: Any) -> RateTable:
        fields = {"ec2": self.ec2, "ec2_categories": self.ec2_categories, "ec2_own": self.ec2_own,
                  "ec2_resources": self.ec2_resources, "ec2_unfiltered": self.ec2_unfiltered,
                  "ec2_resource_intensive": self.ec2_resource_intensive, "services": self.services}
        return RateTable(**{**fields, **changes})

    def covers(self, service: str) -> bool:
        return (service == "ec2" and self.ec2) or service in self.services

    def charges(self, service: str, operation: str, params: Mapping[str, Any]) -> tuple[Charge, ...]:
        """The buckets one request of `operation` with `params` (the caller's API parameters) draws from."""
        if service == "ec2" and self.ec2:
            return self._ec2(operation, params)
        bucket = self.services.get(service)
        return (Charge(operation, service, bucket),) if bucket is not None else ()

    def _ec2(self, operation: str, params: Mapping[str, Any]) -> tuple[Charge, ...]:
        own = self.ec2_own.get(operation)
        if own is not None:
            charges = [Charge(operation, EC2_UNCATEGORIZED, own)]
        elif operation in self.ec2_resource_intensive:
            charges = [Charge(operation, EC2_RESOURCE_INTENSIVE, self.ec2_categories[EC2_RESOURCE_INTENSIVE])]
        elif operation.startswith(_NON_MUTATING_PREFIXES):
            if operation in self.ec2_unfiltered and not any(params.get(k) for k in _PAGINATION_OR_FILTER):
                charges = [Charge(f"{operation}/unfiltered", EC2_UNFILTERED, self.ec2_categories[EC2_UNFILTERED])]
            else:
                charges = [Charge(operation, EC2_NON_MUTATING, self.ec2_categories[EC2_NON_MUTATING])]
        else:
            charges = [Charge(operation, EC2_MUTATING, self.ec2_categories[EC2_MUTATING])]
        resource = self.ec2_resources.get(operation)
        if resource is not None:
            bucket, counted = resource
            value = params.get(counted, 1)
            count = len(value) if isinstance(value, (list, tuple)) else int(value or 1)
            charges.append(Charge(f"{operation}/resources", EC2_RESOURCE, bucket, float(max(count, 1))))
        return tuple(charges)

    def scaled(self, capacity: float = 1.0, refill: float = 1.0) -> RateTable:
        """Every bucket with its capacity and refill rate multiplied (benchmarks compress time with it)."""
        return self._with(
            ec2_categories={k: b.scaled(capacity, refill) for k, b in self.ec2_categories.items()},
            ec2_own={k: b.scaled(capacity, refill) for k, b in self.ec2_own.items()},
            ec2_resources={k: (b.scaled(capacity, refill), p) for k, (b, p) in self.ec2_resources.items()},
            services={k: b.scaled(capacity, refill) for k, b in self.services.items()},
        )

    def with_buckets(self, ec2: Mapping[str, Bucket] | None = None,
                     services: Mapping[str, Bucket] | None = None) -> RateTable:
        """This table with some EC2 actions given buckets of their own, or other services added."""
        return self._with(ec2_own={**self.ec2_own, **(ec2 or {})}, services={**self.services, **(services or {})})


AWS_LIMITS = RateTable()
