"""Reproducible Lambda archives: the code zip, the dependency-layer zip and the bytecode-layer zip.

All are byte-identical for identical inputs (sorted entries, fixed timestamp, permissions and
compression level) and are named `<name>-<sha256[:12]>.zip` after their content.

Bytecode (see builder/bytecode.py), when an interpreter of the runtime's version is found: the
dependency layer carries `__pycache__/*.<cache tag>.pyc` next to its sources (Python uses them as
usual), and the bytecode layer carries our own modules' `.pyc` files under `caretaker-bytecode/`
(read by `automations.bytecode`), so that the code zip stays small.
"""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path, PurePosixPath

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from automations import bytecode as loader
from builder.bytecode import BytecodeChoice, CompileJob, compile_sources
from builder.errors import BuildError

CODE_ARTIFACT = "caretaker-code"
LAYER_ARTIFACT = "caretaker-deps"
BYTECODE_ARTIFACT = "caretaker-bytecode"

#: Top-level packages of the code artifact (paths relative to the project root).
CODE_PACKAGES = loader.PACKAGES
#: Paths inside the code packages that never go to Lambda (operator tooling).
CODE_EXCLUDED = ("automations/cli", "automations/__main__.py")
CODE_SUFFIXES = (".py",)
CODE_FILENAMES = ("py.typed",)

#: Distributions the Lambda Python runtime already provides (never bundled, not followed), with their top-level
#: modules: local invoke lets a handler import exactly these besides the standard library and its artifacts.
RUNTIME_DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "boto3": ("boto3",), "botocore": ("botocore",), "s3transfer": ("s3transfer",), "jmespath": ("jmespath",),
    "urllib3": ("urllib3",), "python-dateutil": ("dateutil",), "six": ("six",),
}
RUNTIME_PROVIDED = frozenset(canonicalize_name(name) for name in RUNTIME_DISTRIBUTIONS)
#: Top-level modules the runtime provides: the distributions' and the runtime interface client's.
RUNTIME_MODULES = frozenset({"awslambdaric", *(m for ms in RUNTIME_DISTRIBUTIONS.values() for m in ms)})
#: dist-info files that differ between installs of the same wheel (installer, hashes, timestamps).
VOLATILE_METADATA = frozenset({"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"})
COMPILED_SUFFIXES = (".so", ".pyd", ".dylib")

ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o644
COMPRESS_LEVEL = 6
HASH_LENGTH = 12

#: Where Lambda puts the code artifact and the layers: the paths recorded in the bytecode.
LAMBDA_TASK_ROOT = "/var/task"
LAMBDA_LAYERS_ROOT = "/opt"
#: The one file of the bytecode layer besides the `.pyc` files (a layer cannot be empty).
BYTECODE_README = f"{loader.LAYER_DIR}/README.txt"

#: The Lambda runtime requirements are evaluated for (python3.13 on arm64 Linux).
LAMBDA_MARKER_ENVIRONMENT = {
    "implementation_name": "cpython",
    "implementation_version": "3.13.0",
    "os_name": "posix",
    "platform_machine": "aarch64",
    "platform_python_implementation": "CPython",
    "platform_release": "",
    "platform_version": "",
    "platform_system": "Linux",
    "python_full_version": "3.13.0",
    "python_version": "3.13",
    "sys_platform": "linux",
}


@dataclass(frozen=True)
class Artifact:
    """A written archive: its file name, where it is, and its full sha256."""

    name: str
    path: Path
    sha256: str


def zip_bytes(entries: Iterable[tuple[str, bytes]]) -> bytes:
    """A deterministic zip of `(archive path, content)` pairs, sorted by path."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=COMPRESS_LEVEL) as archive:
        for name, content in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=ZIP_TIMESTAMP)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # Unix, so external_attr carries the mode
            info.external_attr = (0o100000 | FILE_MODE) << 16
            archive.writestr(info, content, compresslevel=COMPRESS_LEVEL)
    return buffer.getvalue()


def write_artifact(out_dir: Path, base_name: str, entries: Iterable[tuple[str, bytes]]) -> Artifact:
    """Zip `entries` into `out_dir/<base_name>-<sha256[:12]>.zip`."""
    data = zip_bytes(entries)
    digest = hashlib.sha256(data).hexdigest()
    name = f"{base_name}-{digest[:HASH_LENGTH]}.zip"
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / name
    path.write_bytes(data)
    return Artifact(name=name, path=path, sha256=digest)


# --------------------------------------------------------------------------- code


def code_files(root: Path) -> Iterator[tuple[str, Path]]:
    """`(archive path, file)` for every runtime source file under the code packages."""
    for package in CODE_PACKAGES:
        for path in sorted((root / package).rglob("*")):
            relative = path.relative_to(root).as_posix()
            if not path.is_file() or "__pycache__" in path.parts:
                continue
            if any(relative == excluded or relative.startswith(excluded + "/") for excluded in CODE_EXCLUDED):
                continue
            if path.suffix in CODE_SUFFIXES or path.name in CODE_FILENAMES:
                yield relative, path


# --------------------------------------------------------------------------- layer


def read_pins(requirements: Path) -> list[Requirement]:
    """The `name==version` lines of a requirements file (comments and blank lines ignored)."""
    pins: list[Requirement] = []
    for number, raw in enumerate(requirements.read_text().splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            requirement = Requirement(line)
        except InvalidRequirement as error:
            raise BuildError(f"{requirements.name}:{number}: {error}") from None
        specifiers = list(requirement.specifier)
        if len(specifiers) != 1 or specifiers[0].operator != "==":
            raise BuildError(f"{requirements.name}:{number}: pin an exact version (name==version), got {line!r}")
        pins.append(requirement)
    return pins


def _installed(requirement: Requirement, wanted_by: str) -> metadata.Distribution:
    try:
        dist = metadata.distribution(requirement.name)
    except metadata.PackageNotFoundError:
        raise BuildError(f"{requirement.name} (needed by {wanted_by}) is not installed") from None
    if not requirement.specifier.contains(dist.version, prereleases=True):
        raise BuildError(
            f"installed {requirement.name} {dist.version} does not match {requirement} (needed by {wanted_by})"
        )
    return dist


def _runtime_requirements(dist: metadata.Distribution) -> Iterator[Requirement]:
    environment = {**LAMBDA_MARKER_ENVIRONMENT, "extra": ""}
    for line in dist.requires or ():
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate(environment):
            yield requirement


def layer_distributions(pins: Iterable[Requirement]) -> list[metadata.Distribution]:
    """The pinned distributions and their runtime requirements, less what Lambda provides."""
    found: dict[str, metadata.Distribution] = {}
    queue: list[tuple[Requirement, str]] = [(pin, "requirements-lambda.txt") for pin in pins]
    while queue:
        requirement, wanted_by = queue.pop(0)
        key = canonicalize_name(requirement.name)
        if key in RUNTIME_PROVIDED:
            continue
        dist = _installed(requirement, wanted_by)
        if key in found:
            continue
        found[key] = dist
        queue.extend((child, requirement.name) for child in _runtime_requirements(dist))
    return [found[key] for key in sorted(found)]


def distribution_files(dist: metadata.Distribution) -> Iterator[tuple[str, Path]]:
    """`(path under site-packages, file)` of one installed distribution, without caches and install noise."""
    name = dist.metadata["Name"]
    if dist.files is None:
        raise BuildError(f"{name} {dist.version} has no RECORD: cannot tell which files it installed")
    for file in dist.files:
        posix = PurePosixPath(str(file))
        if posix.parts[0] == ".." or "__pycache__" in posix.parts or posix.suffix == ".pyc":
            continue  # scripts outside site-packages, byte code
        if posix.parent.name.endswith(".dist-info") and posix.name in VOLATILE_METADATA:
            continue
        if posix.suffix in COMPILED_SUFFIXES or re.search(r"\.so(\.\d+)*$", posix.name):
            raise BuildError(
                f"{name} {dist.version} ships a compiled extension ({posix}); the layer must be pure Python"
            )
        located = Path(str(dist.locate_file(file)))
        if located.is_file():
            yield str(posix), located


def layer_files(requirements: Path) -> list[tuple[str, Path]]:
    """`(archive path, file)` of the layer: `python/` + the pinned distributions and their requirements."""
    files: list[tuple[str, Path]] = []
    for dist in layer_distributions(read_pins(requirements)):
        files.extend((f"python/{name}", path) for name, path in distribution_files(dist))
    if not files:
        raise BuildError(f"{requirements.name} yields an empty layer")
    return files


# --------------------------------------------------------------------------- all three, with bytecode


@dataclass(frozen=True)
class Artifacts:
    code: Artifact
    layer: Artifact
    bytecode: Artifact


def pycache_name(archive_path: str, cache_tag: str) -> str:
    """`python/crhelper/utils.py` -> `python/crhelper/__pycache__/utils.cpython-313.pyc`."""
    path = PurePosixPath(archive_path)
    return str(path.parent / "__pycache__" / f"{path.stem}.{cache_tag}.pyc")


def _readme(choice: BytecodeChoice) -> bytes:
    python = choice.python
    if python is None:
        return f"No bytecode in this build: {choice.reason}.\n".encode()
    return (f"Checked-hash bytecode ({python.cache_tag}) of Caretaker's modules, one .pyc per module of the code "
            f"artifact; automations/bytecode.py reads it when {loader.ENV_VAR} points here.\n").encode()


def build_artifacts(root: Path, requirements: Path, out_dir: Path, choice: BytecodeChoice) -> Artifacts:
    """The code zip (`automations/` without the operator CLI, and `custom_resources/`), the dependency
    layer and the bytecode layer, with bytecode from `choice.python` (none when there is none)."""
    python = choice.python
    code = list(code_files(root))
    if not code:
        raise BuildError(f"no source files under {root} for {', '.join(CODE_PACKAGES)}")
    layer = layer_files(requirements)
    own = {f"{LAMBDA_TASK_ROOT}/{name}": name for name, _ in code if name.endswith(".py")}
    theirs = {f"{LAMBDA_LAYERS_ROOT}/{name}": name for name, _ in layer if name.endswith(".py")}
    compiled: dict[str, bytes | None] = {}
    if python is not None:
        sources = dict(code) | dict(layer)
        compiled = compile_sources(python, [CompileJob(sources[name], dfile)
                                            for dfile, name in (own | theirs).items()])
        broken = sorted(name for dfile, name in own.items() if compiled[dfile] is None)
        if broken:
            raise BuildError(f"{broken[0]} does not compile for Python {python.version[0]}.{python.version[1]}")
    tag = python.cache_tag if python is not None else ""
    layer_pycs = [(pycache_name(name, tag), pyc) for dfile, name in theirs.items()
                  if (pyc := compiled.get(dfile)) is not None]
    own_pycs = [(f"{loader.LAYER_DIR}/{loader.bytecode_name(name, tag)}", pyc) for dfile, name in own.items()
                if (pyc := compiled.get(dfile)) is not None]
    return Artifacts(
        code=write_artifact(out_dir, CODE_ARTIFACT, [(name, path.read_bytes()) for name, path in code]),
        layer=write_artifact(out_dir, LAYER_ARTIFACT,
                             [(name, path.read_bytes()) for name, path in layer] + layer_pycs),
        bytecode=write_artifact(out_dir, BYTECODE_ARTIFACT, [(BYTECODE_README, _readme(choice)), *own_pycs]),
    )
