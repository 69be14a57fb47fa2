"""Which stack owns what a custom resource request names: the bindings types declare.

Two kinds, both compared with the request's full `StackId` ARN (stack name and unique id: a stack
deleted and re-created under the same name is another stack):

* `TaggedOwner`: a named resource the provider created (a secret, a parameter) carries the
  creating stack's id in the tag `caretaker:stack-id`, set in the same call that creates it. An
  Update or Delete from any other stack is refused. The providers' IAM policies let them tag only
  at creation or what already carries their own tag, so they cannot put the tag onto a foreign
  resource (`secret_storage`).
* `ResourceOfStack`: a resource the request names but the provider did not create (the bucket of
  `Custom::EmptyBucket`) must be a resource of the requesting stack, as CloudFormation itself
  reports (`DescribeStackResources`, then `ListStackResources` for stacks beyond its first 100).

The provider (`Provider._serve`) runs the check; see `StackBinding`.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from automations.core.errors import error_code
from automations.core.spec import Permission
from custom_resources.provider import AUTOMATION_TAG, OWNER_TAG, Request, StackBinding

#: Every stack of this account and region (a request may come from any of them).
STACKS = "arn:${AWS::Partition}:cloudformation:${AWS::Region}:${AWS::AccountId}:stack/*"
#: DescribeStackResources returns at most this many resources; ListStackResources pages beyond.
DESCRIBE_LIMIT = 100
#: Errors that mean "this role may not read the resource": its IAM policy allows only resources it tagged.
DENIED = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"})


class TaggedOwner(StackBinding):
    """A resource this provider created, bound to its creating stack by the `caretaker:stack-id` tag."""

    @abstractmethod
    def tags_of(self, request: Request, physical_id: str) -> Mapping[str, str] | None:
        """The resource's tags; None when it no longer exists."""

    def refusal(self, request: Request) -> str | None:
        if request.request_type == "Create":
            return None  # a new resource, created with the requesting stack's tag
        physical_id = request.physical_id
        try:
            tags = self.tags_of(request, physical_id)
        except ClientError as exc:
            if error_code(exc) not in DENIED:
                raise
            return (f"{physical_id} is not a resource of this provider (it may read only resources it created and "
                    f"tagged; {error_code(exc)}), so it is bound to no stack, and the requesting stack "
                    f"{request.stack_id} does not own it")
        if tags is None:
            return None  # gone: there is nothing left to read, change or delete
        made_by = tags.get(AUTOMATION_TAG)
        if made_by != request.automation:
            return (f"{physical_id} was not created by {request.automation} ({AUTOMATION_TAG}="
                    f"{made_by or 'none'}), so the requesting stack {request.stack_id} does not own it through it")
        owner = tags.get(OWNER_TAG)
        if owner == request.stack_id:
            return None
        if not owner:
            return (f"{physical_id} carries no {OWNER_TAG} tag, so it is bound to no stack, and the requesting stack "
                    f"{request.stack_id} does not own it (a resource created before stack binding: tag it "
                    f"{OWNER_TAG}=<its stack's StackId>)")
        return f"{physical_id} belongs to stack {owner}, not to the requesting stack {request.stack_id}"


class ResourceOfStack(StackBinding):
    """The resource a property names must be one of the requesting stack's own resources."""

    permissions = (
        Permission(("cloudformation:DescribeStackResources", "cloudformation:ListStackResources"), (STACKS,),
                   why="is the named resource one of the requesting stack's? (a request may come from any stack)"),
    )

    def __init__(self, resource_type: str, prop: str) -> None:
        #: the CloudFormation type the resource must have in the stack, e.g. AWS::S3::Bucket
        self.resource_type = resource_type
        #: the property that names it (its physical id)
        self.prop = prop

    def refusal(self, request: Request) -> str | None:
        physical_id = str(request.props[self.prop])
        if in_stack(request, self.resource_type, physical_id):
            return None
        return (f"{self.prop} {physical_id!r} is not a resource ({self.resource_type}) of the requesting stack "
                f"{request.stack_id}; {request.event.get('ResourceType', 'this type')} acts only on its own "
                f"stack's resources")


def in_stack(request: Request, resource_type: str, physical_id: str) -> bool:
    """Whether CloudFormation lists `physical_id` as a resource of type `resource_type` of the requesting
    stack (a resource of another type with the same physical id does not count)."""
    cloudformation = request.client("cloudformation")
    try:
        described = cloudformation.describe_stack_resources(StackName=request.stack_id).get("StackResources", [])
    except ClientError as exc:
        if error_code(exc) == "ValidationError":  # "Stack with id ... does not exist": it holds nothing
            return False
        raise
    if _holds(described, resource_type, physical_id):
        return True
    if len(described) < DESCRIBE_LIMIT:
        return False
    pages = cloudformation.get_paginator("list_stack_resources").paginate(StackName=request.stack_id)
    return any(_holds(page.get("StackResourceSummaries", []), resource_type, physical_id) for page in pages)


def _holds(resources: list[Mapping[str, Any]], resource_type: str, physical_id: str) -> bool:
    return any(r.get("ResourceType") == resource_type and r.get("PhysicalResourceId") == physical_id
               for r in resources)
