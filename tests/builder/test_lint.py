"""cfn-lint: every built template is clean (no errors, no warnings), and findings fail the build."""

from __future__ import annotations

from pathlib import Path

import pytest

from builder.errors import LintError
from builder.lint import lint_files, lint_text
from builder.pipeline import BuildResult


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
    template = """
Parameters:
  Unused:
    Type: String
Resources:
  Topic:
    Type: AWS::SNS::Topic
"""
    findings = lint_text(template, "unused.yaml")
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
