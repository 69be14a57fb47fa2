"""cfn-lint through its Python API: every error and every warning is a finding."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

LINT_REGIONS = ["us-east-1"]
#: Rule-id prefixes that fail the build: E (errors) and W (warnings). I (informational) is not run.
FAILING_PREFIXES = ("E", "W")


@dataclass(frozen=True)
class Finding:
    template: str
    rule: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.template}:{self.line}: {self.rule} {self.message}"


def lint_text(text: str, label: str) -> list[Finding]:
    """Lint one template's text; `label` names it in the findings."""
    from cfnlint.api import lint  # imported here: half a second that `--no-lint` builds never pay

    return [
        Finding(template=label, rule=match.rule.id, line=match.linenumber, message=match.message)
        for match in lint(text, regions=LINT_REGIONS)
        if match.rule.id.startswith(FAILING_PREFIXES)
    ]


def lint_files(paths: list[Path]) -> list[Finding]:
    findings: list[Finding] = []
    for path in paths:
        findings.extend(lint_text(path.read_text(), path.name))
    return findings
