"""A run's files as pandas DataFrames with exact types (pandas: the optional ``pandas``
extra, ``pip install 'exsim[pandas]'``).

* :func:`read_csv` reads any CSV a run writes: each column by :data:`~exsim.results.schema.COLUMNS`
  — ``int`` columns as int64 (pandas' nullable ``Int64`` when a cell is empty), ``decimal``
  columns as :class:`decimal.Decimal` objects (``format(value, "f")`` gives the file's text back),
  ``bool`` as bool, text as str; an empty cell is None. A column the schema does not know
  stays text. Nothing is ever read as float64.
* :func:`read_json` reads ``summary.json`` / ``instruments.json`` flattened (one row; a
  list: a row per item; nested keys joined with ``.``), numbers as in :func:`read_events`;
* :func:`read_events` reads ``events.jsonl``: one row per event, a column per field
  (``event`` is the event's class); integers stay Python ints (int64 where a whole column
  fits), a JSON number with a fraction becomes a Decimal, nested lists/objects stay
  as they are.
"""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from exsim.results.schema import COLUMNS

_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1


def _pandas() -> Any:
    try:
        import pandas
    except ImportError:  # pragma: no cover - the message is the point
        raise ImportError("reading run files into DataFrames needs pandas: pip install 'exsim[pandas]'") from None
    return pandas


def _cell(kind: str, text: str) -> Any:
    if text == "":
        return None
    if kind == "int":
        return int(text)
    if kind == "decimal":
        return Decimal(text)
    if kind == "bool":
        if text not in ("True", "False"):
            raise ValueError(f"not a bool: {text!r}")
        return text == "True"
    return text


def read_csv(path: str | Path) -> Any:
    """A run's CSV file as a DataFrame with exact types (see the module docstring).

    O(rows × columns); the file is read once with the standard csv module (pandas' own
    parser would turn money into float64 before we could stop it).
    """
    pd = _pandas()
    path = Path(path)
    with open(path, newline="", encoding="utf-8") as f:
        rows = csv.reader(f)
        header = next(rows, None)
        if header is None:
            return pd.DataFrame()
        kinds = [COLUMNS.get(name, ("text",))[0] for name in header]
        columns: list[list[Any]] = [[] for _ in header]
        for n, row in enumerate(rows, start=2):
            if len(row) != len(header):
                raise ValueError(f"{path}:{n}: {len(row)} cells, the header has {len(header)}")
            for col, kind, text in zip(columns, kinds, row):
                try:
                    col.append(_cell(kind, text))
                except (ValueError, ArithmeticError):
                    raise ValueError(f"{path}:{n}: {text!r} is not a {kind}") from None
    data = {}
    for name, kind, values in zip(header, kinds, columns):
        data[name] = _series(pd, values, kind)
    return pd.DataFrame(data)


def _series(pd: Any, values: list[Any], kind: str) -> Any:
    if kind == "int":
        if any(v is None for v in values):
            return pd.array(values, dtype="Int64")
        return pd.Series(values, dtype="int64")
    if kind == "bool" and all(v is not None for v in values):
        return pd.Series(values, dtype="bool")
    return pd.Series(values, dtype="object")


def read_events(path: str | Path) -> Any:
    """``events.jsonl`` as a DataFrame: a row per event, a column per field (the union of
    every event's fields; absent fields are None). Integers stay ints: int64 where every
    value of a column is an int that fits, Python ints (object) otherwise. O(file)."""
    pd = _pandas()
    records = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            try:
                records.append(json.loads(line, parse_float=Decimal))
            except ValueError as exc:
                raise ValueError(f"{path}:{n}: not a JSON line ({exc})") from None
    names: dict[str, None] = {}
    for r in records:
        for k in r:
            names.setdefault(k, None)
    data = {}
    for name in names:
        values = [r.get(name) for r in records]
        if values and all(type(v) is int and _INT64_MIN <= v <= _INT64_MAX for v in values):
            data[name] = pd.Series(values, dtype="int64")
        else:
            data[name] = pd.Series(values, dtype="object")
    return pd.DataFrame(data)


def read_json(path: str | Path) -> Any:
    """``summary.json`` or ``instruments.json`` as a DataFrame (``pandas.json_normalize``:
    nested keys joined with ``.``); integers stay ints, a number with a fraction is a
    Decimal (never float64). O(file)."""
    pd = _pandas()
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"), parse_float=Decimal)
    except ValueError as exc:
        raise ValueError(f"{path}: not JSON ({exc})") from None
    flat = pd.json_normalize(data)
    return flat.astype(object)
