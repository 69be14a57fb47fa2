"""A name -> FunctionSpec registry, filled by handler modules when they are imported.

`register()` only records the spec. `discover()` imports every module of the
handler packages and of their subpackages (e.g. `automations/scheduled/cleanup/`), so build code
never keeps a second list of functions.
"""

from __future__ import annotations

import importlib
import pkgutil

from automations.core.spec import FunctionSpec

#: Packages that hold handler modules, and the stack each package's functions deploy into, in deployment
#: order (after the core stack): the security rules come last, because they trust the roles of the
#: stacks deployed before them (`CaretakerRoleNames`, filled by `build.py deploy`).
HANDLER_PACKAGES: dict[str, str] = {
    "automations.scheduled": "scheduled",
    "automations.rotation": "rotation",
    "custom_resources": "custom-resources",
    "automations.security": "security",
}

_REGISTRY: dict[str, FunctionSpec] = {}


def register(spec: FunctionSpec) -> FunctionSpec:
    """Record a spec; a second spec with the same name from another module is an error."""
    existing = _REGISTRY.get(spec.name)
    if existing is not None and existing.handler != spec.handler:
        raise ValueError(f"function {spec.name!r} declared twice: {existing.handler} and {spec.handler}")
    if stack_of(spec) is None:
        raise ValueError(f"{spec.handler} is not in a handler package {sorted(HANDLER_PACKAGES)}")
    _REGISTRY[spec.name] = spec
    return spec


def stack_of(spec: FunctionSpec) -> str | None:
    for package, stack in HANDLER_PACKAGES.items():
        if spec.module.startswith(package + "."):
            return stack
    return None


def discover() -> list[FunctionSpec]:
    """Import every handler module, subpackages included, and return all specs, sorted by name."""
    for package_name in HANDLER_PACKAGES:
        package = importlib.import_module(package_name)
        for info in pkgutil.walk_packages(package.__path__, package_name + "."):
            importlib.import_module(info.name)
    return sorted(_REGISTRY.values(), key=lambda s: s.name)


def get(name: str) -> FunctionSpec:
    if name not in _REGISTRY:
        discover()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"no function named {name!r}; known: {', '.join(sorted(_REGISTRY))}") from None
