"""Everything an organization deployment renders: the hub stack and the member stack sets, in order."""

from __future__ import annotations

from dataclasses import dataclass

from templates.hub import hub_template
from templates.member import StackSetDef, render_members
from templates.stacks import StackDef


@dataclass(frozen=True)
class Organization:
    """What `build.py deploy --organization` deploys: the hub stack, then the member stack sets in order."""

    hub: StackDef
    stack_sets: list[StackSetDef]


def render_organization(code: str, layer: str, bytecode: str) -> Organization:
    """Arguments are the artifact file names, as for `templates.stacks.render_all`."""
    return Organization(hub=hub_template(), stack_sets=render_members(code, layer, bytecode))
