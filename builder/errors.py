"""Exceptions of the build and deploy. Each message is one line the CLI prints as the reason."""

from __future__ import annotations


class BuilderError(Exception):
    """Base class of every error the build or deploy raises on purpose."""


class BuildError(BuilderError):
    """The build cannot produce a correct dist/ (bad pin, compiled extension, lint finding...)."""


class LintError(BuildError):
    """cfn-lint reported errors or warnings; `findings` holds one line per finding."""

    def __init__(self, findings: list[str]) -> None:
        self.findings = findings
        super().__init__(f"cfn-lint reported {len(findings)} finding(s); first: {findings[0]}")


class DeployError(BuilderError):
    """A deployment step failed; the message says which stack or artifact, and why."""
