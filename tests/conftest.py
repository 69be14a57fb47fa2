"""Session-wide fixtures and reporting shared by every test directory.

`built_dist`: one build per session (per xdist worker), without lint (one test lints), with bytecode
compiled by this interpreter (so that tests that import from the built layers use it, whichever
Python runs them; tests/builder/test_bytecode.py covers the choice of the runtime's interpreter).
Tests never read or write the project's lint cache (`.cache/cfn-lint`): every session lints afresh.
`declared_calls` (autouse): the undeclared-call guard on every in-process invocation of every function
(tests/declared_calls.py); `@pytest.mark.undeclared_calls` opts a test out of its final check.
The terminal summary lists the resource types moto's CloudFormation skipped during deploy
(see tests/integration): CREATE_COMPLETE proves nothing about those.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from builder.pipeline import BuildResult, build
from tests.declared_calls import MARKER, Guard

#: user_properties key under which integration tests report moto's skipped resource types.
MOTO_SKIPPED_PROPERTY = "moto_skipped_resource_types"


@pytest.fixture(scope="session", autouse=True)
def _private_lint_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    from builder.lint import CACHE_ENV

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(CACHE_ENV, str(tmp_path_factory.mktemp("lint-cache")))
        yield


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{MARKER}: the test makes AWS calls its function does not declare, on "
                                       "purpose; the undeclared-call guard records them but does not fail it")


@pytest.fixture(autouse=True)
def declared_calls(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Guard]:
    """Every in-process invocation of every Entrypoint and Provider is watched: after the test, every AWS call
    a function made must be granted by its declaration (unless the test is marked `undeclared_calls`)."""
    guard = Guard()
    guard.install(monkeypatch)
    yield guard
    if request.node.get_closest_marker(MARKER) is None:
        guard.check()


@pytest.fixture(autouse=True)
def _new_execution_environment() -> Iterator[None]:
    """Each test runs in a new execution environment: no AWS client built by an earlier test is reused
    (automations.core.aws keeps one session and its clients per process, as Lambda's environment would)."""
    from automations.core.aws import reset_shared_clients

    reset_shared_clients()
    yield
    reset_shared_clients()


@pytest.fixture(scope="session")
def build_result(tmp_path_factory: pytest.TempPathFactory) -> BuildResult:
    """The result of one full build (no lint) into a per-session temporary directory."""
    return build(tmp_path_factory.mktemp("dist"), lint=False, bytecode_python=sys.executable)


@pytest.fixture(scope="session")
def built_dist(build_result: BuildResult) -> Path:
    """Path of a dist/ built once per session: artifacts/, templates/, manifest.json."""
    return build_result.dist


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    skipped: set[str] = set()
    for reports in terminalreporter.stats.values():
        for report in reports:
            for key, value in getattr(report, "user_properties", ()):
                if key == MOTO_SKIPPED_PROPERTY and value:
                    skipped.update(str(value).split(","))
    if skipped:
        terminalreporter.write_sep("-", "moto CloudFormation")
        terminalreporter.write_line("moto skipped these resource types: " + ", ".join(sorted(skipped)))
