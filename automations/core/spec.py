"""Declarations: the one place a Lambda function is described.

A handler module declares a `FunctionSpec` next to its handler. Declaring does no
I/O: it only builds frozen value objects. Templates, IAM policies, template
parameters and manifest entries are all derived from these objects by
`templates/` and `build.py`; the runtime reads the same objects to parse settings.

The parts of a declaration have modules of their own: `triggers` (what starts the function),
`permissions` (what its role may do), `declared_settings` (its settings and modes). This module holds the
function itself and re-exports their public names, so handler modules import a declaration from one place.

These modules import only the standard library so that they can be loaded inside
Lambda without any build-time dependency.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# The parts of a declaration, re-exported (each module's `__all__`): a handler imports its whole declaration from here.
from automations.core.declared_settings import *  # noqa: F403
from automations.core.declared_settings import CONTINUATION_MARGIN, MODES, Mode, Setting, common_settings
from automations.core.permissions import *  # noqa: F403
from automations.core.permissions import BASELINE_PERMISSIONS, CONTINUATION_PERMISSION, Permission
from automations.core.triggers import *  # noqa: F403
from automations.core.triggers import Cron, Rate, Trigger, trigger_kinds

_NAME_RE = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


def pascal(name: str) -> str:
    """`ebs-snapshots` / `retention_count` -> `EbsSnapshots` / `RetentionCount`."""
    return "".join(part.capitalize() for part in re.split(r"[-_]", name) if part)


@dataclass(frozen=True)
class FunctionSpec:
    """Everything about one Lambda function; everything else is derived from it."""

    name: str
    description: str
    trigger: Trigger
    permissions: tuple[Permission, ...]
    default_mode: Mode
    settings: tuple[Setting, ...] = ()
    timeout: int = 300
    memory: int = 256
    #: A scheduled run may checkpoint and re-invoke itself to finish (automations/core/continuation.py):
    #: adds the `continuation_margin_seconds` setting and `lambda:InvokeFunction` on its own ARN.
    continues: bool = False
    #: Where the Lambda handler is, as a dotted path ("automations.scheduled.ebs_snapshots.handler"). Not declared:
    #: `registry.discover()` binds it to the module whose `handler` was built from this spec (`bind_handler`), so
    #: the manifest's `handler` always names the object Lambda calls. The one field set after construction, and so
    #: left out of equality.
    handler: str = field(default="", kw_only=True, compare=False)

    def __post_init__(self) -> None:
        if not _NAME_RE.match(self.name):
            raise ValueError(f"function names are kebab-case, got {self.name!r}")
        if self.default_mode not in MODES:
            raise ValueError(f"{self.name}: default_mode must be one of {MODES}")
        if not 1 <= self.timeout <= 900:
            raise ValueError(f"{self.name}: timeout must be 1..900 s, got {self.timeout}")
        if not 128 <= self.memory <= 10240:
            raise ValueError(f"{self.name}: memory must be 128..10240 MB, got {self.memory}")
        if not self.permissions:
            raise ValueError(f"{self.name}: declare the IAM permissions the handler needs")
        if self.continues and not isinstance(self.trigger, (Rate, Cron)):
            raise ValueError(f"{self.name}: only scheduled functions can continue a run")
        if self.continues and self.timeout <= 2 * CONTINUATION_MARGIN.default:
            raise ValueError(f"{self.name}: a function that continues needs a timeout above twice the default "
                             f"continuation margin ({2 * CONTINUATION_MARGIN.default} s)")
        names = [s.name for s in self.all_settings]
        duplicates = {n for n in names if names.count(n) > 1}
        if duplicates:
            raise ValueError(f"{self.name}: settings declared twice: {sorted(duplicates)}")

    def bind_handler(self, path: str) -> None:
        """Record the handler's dotted path (`registry.discover()` does). Once: binding a bound spec to another
        path is an error, because two modules would then claim to be its handler."""
        if not re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)+", path):
            raise ValueError(f"{self.name}: a handler is a dotted path <module>.<attribute>, got {path!r}")
        if self.handler and self.handler != path:
            raise ValueError(f"{self.name}: handler bound to {self.handler}, not also to {path}")
        object.__setattr__(self, "handler", path)  # frozen: the late field, see `handler`

    @property
    def module(self) -> str:
        """The module of the handler ("" while unbound)."""
        return self.handler.rsplit(".", 1)[0]

    @property
    def function_name(self) -> str:
        """The deployed Lambda function name."""
        return f"caretaker-{self.name}"

    @property
    def logical_id(self) -> str:
        return pascal(self.name) + "Function"

    @property
    def all_settings(self) -> tuple[Setting, ...]:
        continuation = (CONTINUATION_MARGIN,) if self.continues else ()
        return common_settings(self.default_mode) + continuation + self.settings

    def setting(self, name: str) -> Setting:
        for setting in self.all_settings:
            if setting.name == name:
                return setting
        raise KeyError(f"{self.name} declares no setting {name!r}")

    @property
    def reads_own_roles(self) -> bool:
        """Whether the function reads the own roles' exact ARNs (`CARETAKER_OWN_ROLE_NAMES` and
        `CARETAKER_OWN_ROLE_ARN_PREFIX`): the reactive rules on CloudTrail records, the only
        events that name the principal who caused them (docs/security-rules.md, *Event kinds*)."""
        return "cloudtrail" in trigger_kinds(self.trigger)

    @property
    def all_permissions(self) -> tuple[Permission, ...]:
        continuation = (CONTINUATION_PERMISSION,) if self.continues else ()
        return BASELINE_PERMISSIONS + continuation + self.permissions

    @property
    def declared_actions(self) -> frozenset[str]:
        return frozenset(a for p in self.permissions for a in p.actions)
