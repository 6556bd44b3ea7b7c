"""`exsim sweep`'s command line: its three forms, and a wrong one refused in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from exsim.cli import main


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(args)
    err = capsys.readouterr().err
    return code, err


def test_a_bad_sweep_file_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown axis stops the command before any cell runs: exit 2, one line naming file, line and field."""
    p = tmp_path / "s.toml"
    p.write_text('[inputs]\nscenarios = ["one-position"]\n[axes]\nslippage = [1]\n')
    code, err = run(["sweep", str(p), "--out", str(tmp_path / "out")], capsys)
    assert code == 2
    assert err.strip().count("\n") == 0
    assert f"{p}:4: field 'axes.slippage': unknown axis" in err
    assert not (tmp_path / "out").exists()


def test_a_missing_sweep_file_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A sweep file that is not there: one line naming it."""
    code, err = run(["sweep", str(tmp_path / "nope.toml")], capsys)
    assert code == 2 and "nope.toml" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["sweep", "report"], "give one sweep folder"),
        (["sweep", "rerun", "DIR"], "give the sweep folder and a cell id"),
        (["sweep", "report", "DIR", "--jobs", "2"], "'--jobs': is not an option of exsim sweep report"),
        (["sweep", "rerun", "DIR", "abc", "--metric", "fees"], "'--metric': is not an option of exsim sweep rerun"),
        (["sweep", "a.toml", "b.toml"], "takes one file"),
        (["sweep", "a.toml", "--top", "3"], "'--top': is not an option of exsim sweep SWEEP.toml"),
    ],
)
def test_a_wrong_form_is_refused(args: list[str], says: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Each form takes its own arguments and options; another (that would be ignored) is an error."""
    code, err = run(args, capsys)
    assert code == 2 and says in err, err
