"""`discover()` walks the handler packages' subpackages, so a family module may live in a package, and binds each
spec to the module whose `handler` was built from it."""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from automations.core import registry

FAMILY_SOURCE = '''
from automations.core.registry import register
from automations.core.runtime import entrypoint
from automations.core.spec import FunctionSpec, Permission, Rate

SPEC = register(FunctionSpec(
    name="nested-family", description="a family module inside a subpackage", trigger=Rate(1, "day"),
    permissions=(Permission(("ec2:DescribeVolumes",)),), default_mode="audit"))


@entrypoint(SPEC)
def handler(run, event):
    return {}
'''

#: Registers a spec but builds no handler from it: nothing says where Lambda would call it.
UNBOUND_SOURCE = '''
from automations.core.registry import register
from automations.core.spec import FunctionSpec, Permission, Rate

SPEC = register(FunctionSpec(
    name="handlerless-family", description="declares a function and forgets its handler", trigger=Rate(1, "day"),
    permissions=(Permission(("ec2:DescribeVolumes",)),), default_mode="audit"))


def handler(event, context):
    return {}
'''


@pytest.fixture
def nested_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    root = tmp_path / "caretaker_fixture_pkg"
    (root / "sub").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "sub" / "__init__.py").write_text("")
    (root / "sub" / "family.py").write_text(FAMILY_SOURCE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "HANDLER_PACKAGES", {"caretaker_fixture_pkg": "scheduled"})
    monkeypatch.setattr(registry, "_REGISTRY", {})
    yield root
    for name in [m for m in sys.modules if m.startswith("caretaker_fixture_pkg")]:
        del sys.modules[name]


def test_discover_finds_a_family_module_in_a_subpackage(nested_package: Path) -> None:
    specs = registry.discover()
    assert [s.name for s in specs] == ["nested-family"]
    assert specs[0].handler == "caretaker_fixture_pkg.sub.family.handler"
    assert registry.stack_of(specs[0]) == "scheduled"


def test_discover_fails_loudly_for_a_spec_without_a_handler_built_from_it(nested_package: Path) -> None:
    (nested_package / "sub" / "handlerless.py").write_text(UNBOUND_SOURCE)
    with pytest.raises(LookupError, match="no handler bound for handlerless-family"):
        registry.discover()


@pytest.mark.parametrize("imported_first", [False, True], ids=["found by discover", "imported before discover"])
def test_a_copied_module_that_keeps_the_name_is_declared_twice(nested_package: Path, imported_first: bool) -> None:
    # the same declaration to the letter: equal specs, but only one of the two modules could be deployed
    (nested_package / "sub" / "family_copy.py").write_text(FAMILY_SOURCE)
    if imported_first:  # both registered before either is bound: the copy's spec replaced the first's
        importlib.import_module("caretaker_fixture_pkg.sub.family")
        importlib.import_module("caretaker_fixture_pkg.sub.family_copy")
    with pytest.raises(ValueError, match="function 'nested-family' declared twice"):
        registry.discover()


def test_a_spec_is_bound_to_one_handler_only() -> None:
    (spec,) = [s for s in registry.discover() if s.name == "cleanup-ebs-volumes"]
    spec.bind_handler("automations.scheduled.cleanup_volumes.handler")  # the same path again: nothing changes
    with pytest.raises(ValueError, match=re.escape("bound to automations.scheduled.cleanup_volumes.handler")):
        spec.bind_handler("automations.scheduled.cleanup_snapshots.handler")


def test_every_declared_handler_is_the_object_built_from_its_spec() -> None:
    for spec in registry.discover():
        module, attribute = spec.handler.rsplit(".", 1)
        assert getattr(sys.modules[module], attribute).spec is spec, spec.name


def test_the_cleanup_package_is_walked_and_registers_nothing_itself() -> None:
    specs = registry.discover()
    assert "automations.scheduled.cleanup.flow" in sys.modules
    assert not [s for s in specs if s.module.startswith("automations.scheduled.cleanup.")]
    assert "cleanup-ebs-volumes" in {s.name for s in specs}
