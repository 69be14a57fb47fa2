"""Importing the `automations` package imports boto3 first, on a thread of its own (cold start:
see automations/__init__.py), and a failure there fails the import as usual."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
WATCH = """
import sys, threading
sys.path.insert(0, {repo!r})
seen = {{}}
class Watch:
    def find_spec(self, name, path=None, target=None):
        if name in ("boto3", "automations.bytecode"):
            seen.setdefault(name, threading.current_thread().name)
        {fail}
        return None
sys.meta_path.insert(0, Watch())
try:
    import {package}
except ImportError as error:
    print("ImportError", error)
print(sorted(seen.items()))
"""


def run(package: str, fail: str = "") -> str:
    script = WATCH.format(repo=str(REPO), package=package, fail=fail)
    completed = subprocess.run([sys.executable, "-I", "-c", script], capture_output=True, text=True, timeout=60,
                               check=True)
    return completed.stdout


def test_boto3_is_imported_on_its_own_thread_after_the_bytecode_hook() -> None:
    for package in ("automations", "custom_resources"):
        assert run(package).splitlines() == [
            "[('automations.bytecode', 'MainThread'), ('boto3', 'import-boto3')]"]


def test_a_failing_boto3_import_fails_the_package_import_in_the_importing_thread() -> None:
    output = run("automations", fail='if name == "boto3": raise ImportError("no boto3 here")')
    assert output.splitlines()[0] == "ImportError no boto3 here"
