"""Bytecode for the layers: which interpreter compiles it, and compiling many sources in one go.

The `.pyc` files must come from the runtime's Python version (python3.13): Python ignores bytecode
of another version. The interpreter is, first found wins: the build's `bytecode_python` argument
(used as given, whatever its version: the cold-start bench compiles for the interpreter it times),
`CARETAKER_BYTECODE_PYTHON` (must be the runtime's version), the build's own interpreter when it is
that version, `python3.X` on PATH. When none is found the build still succeeds, without bytecode,
and says so (CI machines may only have the oldest supported Python).

Compiling uses `py_compile` with checked-hash invalidation: the `.pyc` header carries the source's
hash, not its mtime, so the archives stay reproducible, and Python ignores (and recompiles) a `.pyc`
whose hash does not match the source next to it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from builder.errors import BuildError
from templates import names

ENV_VAR = "CARETAKER_BYTECODE_PYTHON"
PROBE_TIMEOUT_SECONDS = 30
COMPILE_TIMEOUT_SECONDS = 300

PROBE = "import sys; print(sys.implementation.cache_tag, *sys.version_info[:2])"

#: Runs in the chosen interpreter: compile `[source, dfile, cfile]` jobs (JSON on stdin), report failures.
COMPILE = """
import json, py_compile, sys
failed = []
for source, dfile, cfile in json.load(sys.stdin):
    try:
        py_compile.compile(source, cfile=cfile, dfile=dfile, doraise=True,
                           invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH)
    except py_compile.PyCompileError as error:
        failed.append([dfile, error.msg.strip().splitlines()[-1]])
json.dump({"cache_tag": sys.implementation.cache_tag, "failed": failed}, sys.stdout)
"""


@dataclass(frozen=True)
class BytecodePython:
    """The interpreter that compiles the layers' bytecode, and why it was chosen."""

    executable: str
    version: tuple[int, int]
    cache_tag: str
    chosen_by: str


@dataclass(frozen=True)
class BytecodeChoice:
    """The outcome of the search: an interpreter, or None and the reason."""

    python: BytecodePython | None
    reason: str = ""

    def manifest(self) -> dict[str, object]:
        """The manifest's `bytecode` entry (no paths: it must not depend on the machine)."""
        if self.python is None:
            return {"compiled": False, "cache_tag": None, "reason": self.reason}
        return {"compiled": True, "cache_tag": self.python.cache_tag,
                "python": "{}.{}".format(*self.python.version)}

    def describe(self) -> str:
        """One line for the build's output."""
        if self.python is None:
            return f"no bytecode: {self.reason}"
        note = "" if self.python.version == runtime_version() else f", not the runtime's {names.RUNTIME}"
        return f"bytecode {self.python.cache_tag} ({self.python.chosen_by}{note})"


def runtime_version(runtime: str | None = None) -> tuple[int, int]:
    """`python3.13` -> (3, 13)."""
    found = re.fullmatch(r"python(\d+)\.(\d+)", runtime or names.RUNTIME)
    if found is None:
        raise BuildError(f"cannot tell the Python version of runtime {runtime or names.RUNTIME!r}")
    return int(found[1]), int(found[2])


def probe(executable: str, chosen_by: str) -> BytecodePython | None:
    """Ask `executable` for its version and cache tag; None if it does not run."""
    try:
        completed = subprocess.run([executable, "-I", "-c", PROBE], capture_output=True, text=True,
                                   timeout=PROBE_TIMEOUT_SECONDS, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    fields = completed.stdout.split()
    if completed.returncode != 0 or len(fields) != 3 or fields[0] == "None":
        return None
    return BytecodePython(executable, (int(fields[1]), int(fields[2])), fields[0], chosen_by)


def choose_python(explicit: str | None = None, *, runtime: str | None = None,
                  environ: Mapping[str, str] | None = None) -> BytecodeChoice:
    """The interpreter for the runtime's bytecode (see the module docstring for the order)."""
    environ = os.environ if environ is None else environ
    wanted = runtime_version(runtime)
    if explicit is not None:
        python = probe(explicit, "as asked")
        if python is None:
            raise BuildError(f"bytecode interpreter {explicit} does not run")
        return BytecodeChoice(python)
    if environ.get(ENV_VAR):
        python = probe(environ[ENV_VAR], ENV_VAR)
        if python is None or python.version != wanted:
            found = "does not run" if python is None else "is Python {}.{}".format(*python.version)
            raise BuildError(f"{ENV_VAR}={environ[ENV_VAR]} {found}; the runtime is {runtime or names.RUNTIME}")
        return BytecodeChoice(python)
    if sys.version_info[:2] == wanted and sys.implementation.cache_tag:
        return BytecodeChoice(BytecodePython(sys.executable, wanted, sys.implementation.cache_tag, "build interpreter"))
    command = "python{}.{}".format(*wanted)
    on_path = shutil.which(command, path=environ.get("PATH"))
    if on_path is not None:
        python = probe(on_path, "PATH")
        if python is not None and python.version == wanted:
            return BytecodeChoice(python)
    return BytecodeChoice(None, f"no Python {wanted[0]}.{wanted[1]} found: the build runs "
                                f"{sys.version_info[0]}.{sys.version_info[1]}, {command} on PATH is missing "
                                f"or does not run, {ENV_VAR} is not set")


@dataclass(frozen=True)
class CompileJob:
    """One source to compile: `dfile` is the path recorded in the bytecode (where it runs in Lambda)."""

    source: Path
    dfile: str


def compile_sources(python: BytecodePython, jobs: Sequence[CompileJob]) -> dict[str, bytes | None]:
    """dfile -> checked-hash `.pyc` bytes (None when that source does not compile), in one subprocess."""
    with tempfile.TemporaryDirectory(prefix="caretaker-pyc-") as tmp:
        listed = [[str(job.source), job.dfile, os.path.join(tmp, f"{index}.pyc")] for index, job in enumerate(jobs)]
        try:
            completed = subprocess.run([python.executable, "-I", "-c", COMPILE], input=json.dumps(listed),
                                       capture_output=True, text=True, timeout=COMPILE_TIMEOUT_SECONDS, check=False)
        except (OSError, subprocess.TimeoutExpired) as error:
            raise BuildError(f"compiling bytecode with {python.executable} failed: {error}") from None
        if completed.returncode != 0:
            last = (completed.stderr.strip().splitlines() or ["no output"])[-1]
            raise BuildError(f"compiling bytecode with {python.executable} failed: {last}")
        failed = {dfile for dfile, _reason in json.loads(completed.stdout)["failed"]}
        return {dfile: None if dfile in failed else Path(cfile).read_bytes() for _source, dfile, cfile in listed}
