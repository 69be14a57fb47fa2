"""A name -> FunctionSpec registry, filled by handler modules when they are imported.

`register()` only records the spec. `discover()` imports every module of the
handler packages and of their subpackages (e.g. `automations/scheduled/cleanup/`), so build code
never keeps a second list of functions, and binds each spec to its handler: the module attribute
`handler` built from it (`@entrypoint(SPEC)`, `rule_handler(SPEC, ...)`, `Provider(SPEC, ...)`, each of which
keeps the spec as `.spec`). A declaration never names its own handler path.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

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

#: The module attribute that is a function's Lambda handler (the manifest's `handler` is `<module>.handler`).
HANDLER_ATTRIBUTE = "handler"

_REGISTRY: dict[str, FunctionSpec] = {}


def register(spec: FunctionSpec) -> FunctionSpec:
    """Record a spec; a second, different spec with the same name is an error, and so is an equal one once the
    first is bound to its module (a copied module that keeps the name; re-registering the same object is not)."""
    existing = _REGISTRY.get(spec.name)
    if existing is not None and existing is not spec and (existing != spec or existing.handler):
        _declared_twice(existing)
    if spec.handler and stack_of(spec) is None:
        raise ValueError(f"{spec.handler} is not in a handler package {sorted(HANDLER_PACKAGES)}")
    _REGISTRY[spec.name] = spec
    return spec


def _declared_twice(existing: FunctionSpec) -> None:
    where = existing.handler or "another module"
    raise ValueError(f"function {existing.name!r} declared twice: in {where} and again")


def bind(module: ModuleType) -> None:
    """Bind the spec of the module's `handler` (if it has one and registered it) to `<module>.handler`. A handler
    built from a spec that another spec of the same name replaced in the registry is an error: one of the two
    modules would silently not be deployed."""
    spec = getattr(getattr(module, HANDLER_ATTRIBUTE, None), "spec", None)
    if not isinstance(spec, FunctionSpec):
        return
    registered = _REGISTRY.get(spec.name)
    if registered is spec:
        spec.bind_handler(f"{module.__name__}.{HANDLER_ATTRIBUTE}")
    elif registered is not None:
        _declared_twice(registered)


def _check_bound(specs: list[FunctionSpec]) -> None:
    unbound = sorted(spec.name for spec in specs if not spec.handler)
    if unbound:
        raise LookupError(f"no handler bound for {', '.join(unbound)}: the module that registers a spec must define "
                          f"`{HANDLER_ATTRIBUTE}` built from it (@entrypoint(SPEC), rule_handler(SPEC, ...), "
                          f"Provider(SPEC, ...))")
    outside = sorted(spec.handler for spec in specs if stack_of(spec) is None)
    if outside:
        raise ValueError(f"{', '.join(outside)}: not in a handler package {sorted(HANDLER_PACKAGES)}")


def stack_of(spec: FunctionSpec) -> str | None:
    for package, stack in HANDLER_PACKAGES.items():
        if spec.module.startswith(package + "."):
            return stack
    return None


def discover() -> list[FunctionSpec]:
    """Import every handler module, subpackages included, bind each spec to its handler and return all specs,
    sorted by name. A registered spec that no module's `handler` was built from is an error."""
    for package_name in HANDLER_PACKAGES:
        package = importlib.import_module(package_name)
        for info in pkgutil.walk_packages(package.__path__, package_name + "."):
            bind(importlib.import_module(info.name))
    specs = sorted(_REGISTRY.values(), key=lambda s: s.name)
    _check_bound(specs)
    return specs


def get(name: str) -> FunctionSpec:
    if name not in _REGISTRY or not _REGISTRY[name].handler:
        discover()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"no function named {name!r}; known: {', '.join(sorted(_REGISTRY))}") from None
