"""cfn-lint: every built template is clean (no errors, no warnings), and findings fail the build."""

from __future__ import annotations

from pathlib import Path

import pytest

from builder.errors import LintError
from builder.lint import lint_files, lint_text
from builder.pipeline import BuildResult

#: an unused parameter: warning W2001
WARNING_TEMPLATE = """
Parameters:
  Unused:
    Type: String
Resources:
  Topic:
    Type: AWS::SNS::Topic
"""


def test_every_built_template_passes_cfn_lint_without_errors_or_warnings(build_result: BuildResult) -> None:
    assert build_result.templates
    examples = [build_result.dist / path for path in build_result.manifest["examples"]]
    assert [str(finding) for finding in lint_files(build_result.templates + examples)] == []


def test_the_custom_resource_consumer_example_is_built_beside_the_stacks(build_result: BuildResult) -> None:
    from templates.consumer_example import custom_resource_specs

    if not custom_resource_specs():
        pytest.skip("no custom resource provider registered")
    assert build_result.manifest["examples"] == ["examples/custom-resources-consumer.yaml"]
    example = (build_result.dist / "examples" / "custom-resources-consumer.yaml").read_text()
    assert "Fn::ImportValue" in example
    assert all(stack["template"].startswith("templates/") for stack in build_result.manifest["stacks"])


def test_a_warning_is_a_finding() -> None:
    findings = lint_text(WARNING_TEMPLATE, "unused.yaml")
    assert [f.rule for f in findings] == ["W2001"]
    assert str(findings[0]).startswith("unused.yaml:")


def test_an_error_is_a_finding() -> None:
    findings = lint_text("Resources:\n  Topic:\n    Type: AWS::SNS::Topicc\n", "typo.yaml")
    assert findings and findings[0].rule.startswith("E")


def test_lint_findings_fail_the_build(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from builder import lint, pipeline

    monkeypatch.setattr(lint, "lint_files", lambda paths: [lint.Finding("x.yaml", "W0000", 1, "bad")])
    with pytest.raises(LintError, match="W0000"):
        pipeline.build(tmp_path)
    assert not (tmp_path / "manifest.json").exists()



def _counting_lint(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    from builder import lint

    calls: list[str] = []
    real = lint.lint_text

    def counting(text: str, label: str) -> list[lint.Finding]:
        calls.append(label)
        return real(text, label)

    monkeypatch.setattr(lint, "lint_text", counting)
    return calls


def test_an_unchanged_template_is_answered_from_the_lint_cache_with_its_findings(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls = _counting_lint(monkeypatch)
    template = tmp_path / "stack.yaml"
    template.write_text(WARNING_TEMPLATE)
    cache = tmp_path / "cache"

    first = lint_files([template], cache)
    renamed = tmp_path / "renamed.yaml"
    renamed.write_text(WARNING_TEMPLATE)
    second = lint_files([renamed], cache)

    assert calls == ["stack.yaml"]
    assert [f.rule for f in first] == [f.rule for f in second] == ["W2001"]
    assert second[0].template == "renamed.yaml"


def test_a_changed_template_is_linted_again(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls = _counting_lint(monkeypatch)
    template = tmp_path / "stack.yaml"
    template.write_text(WARNING_TEMPLATE)
    cache = tmp_path / "cache"
    lint_files([template], cache)

    template.write_text("Resources:\n  Topic:\n    Type: AWS::SNS::Topic\n")

    assert lint_files([template], cache) == []
    assert calls == ["stack.yaml", "stack.yaml"]


def test_a_corrupt_cache_entry_is_linted_again(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from builder.lint import cache_key

    calls = _counting_lint(monkeypatch)
    template = tmp_path / "stack.yaml"
    template.write_text(WARNING_TEMPLATE)
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / f"{cache_key(WARNING_TEMPLATE)}.json").write_text("{not json")

    assert [f.rule for f in lint_files([template], cache)] == ["W2001"]
    assert calls == ["stack.yaml"]


def test_the_lint_cache_can_be_turned_off_or_moved(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from builder.lint import CACHE_ENV, DEFAULT_CACHE, cache_dir

    monkeypatch.delenv(CACHE_ENV, raising=False)
    assert cache_dir() == DEFAULT_CACHE
    monkeypatch.setenv(CACHE_ENV, "off")
    assert cache_dir() is None
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    assert cache_dir() == tmp_path
