"""`build.py deploy` flags: organization flags need --organization, and the other way round."""

from __future__ import annotations

import pytest

from builder.cli import main


@pytest.mark.parametrize(("argv", "message"), [
    (["deploy", "--bucket", "b", "--regions", "us-east-1"], "--regions only with --organization"),
    (["deploy", "--bucket", "b", "--organization", "--targets", "ou-ab12-prod0001", "--regions", "us-east-1",
      "--parameter", "caretaker-core.X=1"], "--organization takes overrides from --config"),
])
def test_misplaced_flags_fail_with_one_line(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
