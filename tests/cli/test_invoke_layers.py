"""Local invoke finds what Lambda puts under /opt in the extracted layers (e.g. the bytecode folder)."""

from __future__ import annotations

from pathlib import Path

from automations import bytecode
from automations.cli.invoke import opt_path


def test_a_path_under_opt_maps_to_the_extracted_layer_that_holds_it(tmp_path: Path) -> None:
    deps, code = tmp_path / "deps", tmp_path / "bytecode"
    (deps / "python").mkdir(parents=True)
    (code / bytecode.LAYER_DIR).mkdir(parents=True)
    assert opt_path(bytecode.LAMBDA_DIR, [deps, code]) == str(code / bytecode.LAYER_DIR)
    assert opt_path("/opt/python", [deps, code]) == str(deps / "python")


def test_other_values_and_paths_no_layer_holds_stay_as_they_are(tmp_path: Path) -> None:
    assert opt_path("caretaker-core-table", [tmp_path]) == "caretaker-core-table"
    assert opt_path(bytecode.LAMBDA_DIR, [tmp_path]) == bytecode.LAMBDA_DIR
    assert opt_path("/optional", [tmp_path]) == "/optional"
