"""Import Caretaker's own modules from the bytecode layer when its `.pyc` matches the source.

Lambda's task root (/var/task) is read-only, so Python compiles every module of ours at every cold
start, and the code artifact cannot carry the `.pyc` files (they would triple its size). The build
ships them in a layer instead: `<layer>/caretaker-bytecode/<module path>.<cache tag>.pyc`, e.g.
`automations/core/spec.cpython-313.pyc`, hash-based (no mtimes), and functions get
`CARETAKER_BYTECODE_DIR=/opt/caretaker-bytecode`. `install_from_environment()` (called by the
`automations` and `custom_resources` packages) puts a path hook in front for our package folders
only; every other module (the runtime's precompiled boto3, the standard library, the dependency
layer with its own `__pycache__`) is found and loaded by Python as usual.

Why hand-written: Python looks for bytecode next to the source, or, with `sys.pycache_prefix`
(PYTHONPYCACHEPREFIX), under one tree for every module at once; the runtime's own boto3 and
standard library would then miss their bytecode and compile. Nothing in the standard library or a
maintained package offers "this folder for these packages"; importlib's documented extension point
(a path hook returning a `FileFinder` with our `SourceFileLoader`) does it in a few lines.

Safety: a `.pyc` is used only if it is hash-based, carries this interpreter's magic number and the
`importlib.util.source_hash` of the source being imported. Anything else (a stale file, another
Python version, no file) compiles the source, exactly as without the layer: never stale bytecode.
"""

from __future__ import annotations

import _imp
import functools
import importlib.machinery
import importlib.util
import marshal
import os
import sys
from collections.abc import Callable
from types import CodeType

#: Environment variable naming the folder that holds the `.pyc` files (the templates set it).
ENV_VAR = "CARETAKER_BYTECODE_DIR"
#: The folder of the bytecode layer; Lambda extracts layers under /opt.
LAYER_DIR = "caretaker-bytecode"
LAMBDA_DIR = "/opt/" + LAYER_DIR
#: Top-level packages whose modules the hook serves (the packages of the code artifact).
PACKAGES = ("automations", "custom_resources")

_HEADER_SIZE = 16  # magic, flags, source hash (8 bytes)
_HASH_BASED = 0b1

_hook: Callable[[str], importlib.machinery.FileFinder] | None = None


def bytecode_name(module_path: str, cache_tag: str) -> str:
    """`automations/core/spec.py` -> `automations/core/spec.cpython-313.pyc` (relative to LAYER_DIR)."""
    return f"{module_path.removesuffix('.py')}.{cache_tag}.pyc"


class BytecodeLayerLoader(importlib.machinery.SourceFileLoader):
    """A source loader that takes the code from the bytecode folder when the `.pyc` matches the source.

    `bytecode` is the `.pyc` path the module's code came from, or None when it was compiled.
    """

    def __init__(self, fullname: str, path: str, *, code_root: str, bytecode_dir: str, cache_tag: str) -> None:
        super().__init__(fullname, path)
        self.code_root = code_root
        self.bytecode_dir = bytecode_dir
        self.cache_tag = cache_tag
        self.bytecode: str | None = None

    def get_code(self, fullname: str) -> CodeType:
        source_path = self.get_filename(fullname)
        source = self.get_data(source_path)
        relative = os.path.relpath(source_path, self.code_root)
        pyc = os.path.join(self.bytecode_dir, bytecode_name(relative, self.cache_tag))
        code = _matching_code(pyc, source)
        if code is None:
            return self.source_to_code(source, source_path)
        # what importlib does with bytecode from __pycache__ (no public API): tracebacks name the source
        _imp._fix_co_filename(code, source_path)  # type: ignore[attr-defined]
        self.bytecode = pyc
        return code


def _matching_code(pyc: str, source: bytes) -> CodeType | None:
    try:
        with open(pyc, "rb") as file:
            data = file.read()
    except OSError:
        return None
    if (len(data) < _HEADER_SIZE or data[:4] != importlib.util.MAGIC_NUMBER
            or not int.from_bytes(data[4:8], "little") & _HASH_BASED
            or data[8:16] != importlib.util.source_hash(source)):
        return None
    code = marshal.loads(memoryview(data)[_HEADER_SIZE:])
    return code if isinstance(code, CodeType) else None


def _package_dirs(code_root: str) -> tuple[str, ...]:
    return tuple(os.path.join(code_root, package) for package in PACKAGES)


def _inside(path: str, directories: tuple[str, ...]) -> bool:
    return any(path == d or path.startswith(d + os.sep) for d in directories)


def install(bytecode_dir: str) -> bool:
    """Serve our packages' modules from `bytecode_dir`; False when already installed or not possible."""
    global _hook
    cache_tag = sys.implementation.cache_tag
    if _hook is not None or cache_tag is None:
        return False
    code_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    directories = _package_dirs(code_root)
    loader = functools.partial(BytecodeLayerLoader, code_root=code_root,
                               bytecode_dir=os.path.abspath(bytecode_dir), cache_tag=cache_tag)

    def hook(path: str) -> importlib.machinery.FileFinder:
        if not _inside(os.path.abspath(path), directories):
            raise ImportError("not a Caretaker package folder")  # the next path hook handles it
        return importlib.machinery.FileFinder(path, (loader, importlib.machinery.SOURCE_SUFFIXES))  # type: ignore[arg-type]

    _hook = hook
    sys.path_hooks.insert(0, hook)
    # finders made before the hook (the folder of this very module) would keep serving our packages
    for path in [p for p in sys.path_importer_cache if _inside(os.path.abspath(p), directories)]:
        del sys.path_importer_cache[path]
    return True


def install_from_environment() -> bool:
    """`install(os.environ[ENV_VAR])` when the variable names an existing folder (in Lambda: the layer)."""
    directory = os.environ.get(ENV_VAR)
    if not directory or not os.path.isdir(directory):
        return False
    return install(directory)
