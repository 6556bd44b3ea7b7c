"""Assertions the reader tests share."""

from __future__ import annotations

from pathlib import Path

from exsim.errors import InputError


def assert_names_place(err: InputError, path: Path, line_no: int, field: str, says: str) -> None:
    """The error names the file and line (``where``), the field, and says what was wrong."""
    assert (err.where, err.field) == (f"{path}:{line_no}", field)
    text = str(err)
    assert f"{path.name}:{line_no}:" in text and repr(field) in text and says in text
