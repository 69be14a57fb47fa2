"""cfn-lint through its Python API: every error and every warning is a finding.

Results are cached by content: the key is the template's text with everything else that decides
the outcome (cfn-lint's version, the regions, the failing rule prefixes), so a template that did
not change since the last build is not linted again, and any change to it, or an upgrade of
cfn-lint, is. Linting dominates the build (about 0.2 s per template, 4 to 5 s for every stack);
rendering and packaging take a fraction of a second. A cache entry holds the findings, so a
template with findings fails every build until it is fixed. The cache lives in `.cache/cfn-lint/`
at the project root; `CARETAKER_LINT_CACHE` names another folder, or turns it off with `off`.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

LINT_REGIONS = ["us-east-1"]
#: Rule-id prefixes that fail the build: E (errors) and W (warnings). I (informational) is not run.
FAILING_PREFIXES = ("E", "W")
CACHE_ENV = "CARETAKER_LINT_CACHE"
DEFAULT_CACHE = Path(__file__).resolve().parent.parent / ".cache" / "cfn-lint"


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


def cache_dir() -> Path | None:
    """Where cached results live, or None when caching is off."""
    configured = os.environ.get(CACHE_ENV)
    if configured is None:
        return DEFAULT_CACHE
    return None if configured.strip().lower() in {"", "off", "0", "false"} else Path(configured)


def cache_key(text: str) -> str:
    inputs = [metadata.version("cfn-lint"), *LINT_REGIONS, *FAILING_PREFIXES, text]
    return hashlib.sha256("\0".join(inputs).encode()).hexdigest()


def lint_cached(text: str, label: str, cache: Path | None) -> list[Finding]:
    """`lint_text`, answered from the cache when this exact text was linted before."""
    if cache is None:
        return lint_text(text, label)
    entry = cache / f"{cache_key(text)}.json"
    try:
        stored = json.loads(entry.read_text())
        return [Finding(template=label, **finding) for finding in stored]
    except (OSError, ValueError, TypeError):
        pass  # missing or unreadable entry: lint again
    findings = lint_text(text, label)
    stored_findings = [{k: v for k, v in asdict(f).items() if k != "template"} for f in findings]
    try:
        cache.mkdir(parents=True, exist_ok=True)
        # written beside the entry and renamed: parallel builds never read half an entry
        with tempfile.NamedTemporaryFile("w", dir=cache, suffix=".tmp", delete=False) as handle:
            json.dump(stored_findings, handle)
        os.replace(handle.name, entry)
    except OSError:
        pass  # a read-only or full disk costs the next build a lint, nothing else
    return findings


def lint_files(paths: list[Path], cache: Path | None = None) -> list[Finding]:
    """Findings of every template; `cache` defaults to `cache_dir()`."""
    where = cache_dir() if cache is None else cache
    findings: list[Finding] = []
    for path in paths:
        findings.extend(lint_cached(path.read_text(), path.name, where))
    return findings
