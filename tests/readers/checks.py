"""Assertions the reader tests share."""

from __future__ import annotations

from pathlib import Path

import pytest

from exsim.cli import main
from exsim.errors import InputError


def assert_names_place(err: InputError, path: Path, line_no: int, field: str, says: str) -> None:
    """The error names the file and line (``where``), the field, and says what was wrong."""
    assert (err.where, err.field) == (f"{path}:{line_no}", field)
    text = str(err)
    assert f"{path.name}:{line_no}:" in text and repr(field) in text and says in text


def one_line_error(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run the CLI; it must fail with exit 2 and one line on stderr, no traceback."""
    assert main(args) == 2
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("exsim: error: "), err
    assert "Traceback" not in out + err
    return lines[0]
