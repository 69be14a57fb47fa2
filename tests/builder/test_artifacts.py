"""Artifacts: reproducible, named by content, holding exactly the runtime code and the pinned layer."""

from __future__ import annotations

import sys
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

from builder.artifacts import (
    FILE_MODE,
    ZIP_TIMESTAMP,
    layer_distributions,
    layer_files,
    read_pins,
    zip_bytes,
)
from builder.errors import BuildError
from builder.pipeline import BuildResult, build


def names(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as archive:
        return archive.namelist()


def test_two_builds_are_byte_identical(build_result: BuildResult, tmp_path: Path) -> None:
    again = build(tmp_path / "again", lint=False, bytecode_python=sys.executable)
    assert build_result.bytecode_choice.python is not None  # the layers carry bytecode: it is reproducible too
    for first, second in ((build_result.code, again.code), (build_result.layer, again.layer),
                          (build_result.bytecode, again.bytecode)):
        assert second.name == first.name
        assert second.path.read_bytes() == first.path.read_bytes()
    assert (again.dist / "manifest.json").read_text() == (build_result.dist / "manifest.json").read_text()
    for template, rebuilt in zip(build_result.templates, again.templates, strict=True):
        assert template.read_text() == rebuilt.read_text()


def test_artifacts_are_named_by_content(build_result: BuildResult) -> None:
    import hashlib

    for artifact in (build_result.code, build_result.layer, build_result.bytecode):
        digest = hashlib.sha256(artifact.path.read_bytes()).hexdigest()
        assert artifact.sha256 == digest
        assert artifact.name.endswith(f"-{digest[:12]}.zip")


def test_entries_are_sorted_with_fixed_time_and_mode(build_result: BuildResult) -> None:
    for artifact in (build_result.code, build_result.layer, build_result.bytecode):
        with zipfile.ZipFile(artifact.path) as archive:
            infos = archive.infolist()
        assert [i.filename for i in infos] == sorted(i.filename for i in infos)
        assert {i.date_time for i in infos} == {ZIP_TIMESTAMP}
        assert {(i.external_attr >> 16) & 0o777 for i in infos} == {FILE_MODE}


def test_code_zip_holds_runtime_packages_only(build_result: BuildResult) -> None:
    entries = names(build_result.code.path)
    assert "automations/core/spec.py" in entries
    assert "automations/py.typed" in entries
    assert "custom_resources/__init__.py" in entries
    assert not [e for e in entries if e.startswith("automations/cli/") or e == "automations/__main__.py"]
    assert not [e for e in entries if "__pycache__" in e or e.endswith(".pyc")]
    assert not [e for e in entries if e.split("/")[0] not in ("automations", "custom_resources")]
    assert not [e for e in entries if "troposphere" in e or e.startswith(("templates/", "builder/"))]


def test_layer_holds_the_pins_and_not_the_runtime_sdk(build_result: BuildResult) -> None:
    entries = names(build_result.layer.path)
    tops = {e.split("/")[1] for e in entries}
    assert all(e.startswith("python/") for e in entries)
    assert {"crhelper", "aws_lambda_powertools"} <= tops
    assert not tops & {"boto3", "botocore", "s3transfer", "jmespath", "urllib3", "dateutil", "six"}
    assert not [e for e in entries if e.endswith((".so", "/RECORD", "/INSTALLER"))]
    tag = build_result.bytecode_choice.manifest()["cache_tag"]
    pycs = [e for e in entries if e.endswith(".pyc")]
    assert pycs and all(e.split("/")[-2] == "__pycache__" and e.endswith(f".{tag}.pyc") for e in pycs)


def test_zip_is_independent_of_entry_order() -> None:
    assert zip_bytes([("b", b"2"), ("a", b"1")]) == zip_bytes([("a", b"1"), ("b", b"2")])


def test_a_pin_that_differs_from_the_installed_version_fails(tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("crhelper==0.0.1\n")
    with pytest.raises(BuildError, match=r"installed crhelper .* does not match crhelper==0.0.1"):
        layer_files(requirements)


def test_an_unpinned_requirement_fails(tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("# comment\ncrhelper>=2\n")
    with pytest.raises(BuildError, match="pin an exact version"):
        read_pins(requirements)


def test_a_compiled_extension_fails(tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(f"pydantic-core=={metadata.version('pydantic-core')}\n")
    with pytest.raises(BuildError, match="compiled extension"):
        layer_files(requirements)


def test_runtime_provided_distributions_are_neither_bundled_nor_followed(tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(f"boto3=={metadata.version('boto3')}\ncrhelper=={metadata.version('crhelper')}\n")
    found = [d.metadata["Name"] for d in layer_distributions(read_pins(requirements))]
    assert found == ["crhelper"]


def test_runtime_requirements_of_pins_are_followed(tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(f"aws-lambda-powertools=={metadata.version('aws-lambda-powertools')}\n")
    found = {d.metadata["Name"].lower().replace("_", "-") for d in layer_distributions(read_pins(requirements))}
    assert found == {"aws-lambda-powertools", "typing-extensions"}  # jmespath comes with the runtime
