"""A sweep's rows on disk: ``OUT/rows.jsonl`` as the cells end, one table at the end.

``rows.jsonl`` is the sweep's journal: one JSON object a line, appended (and fsync'd) by
the engine as each cell ends, in the order they end. It is what a resumed sweep reads
back, so a torn last line (a kill mid-write) is not a row. ``results.parquet`` (or
``results.csv`` where pyarrow is missing) is the table made from it at the end of a
sweep: one row per cell of the grid, in the grid's order, the columns of
:func:`exsim.sweep.cells.columns`, typed by :data:`exsim.sweep.cells.ROW_FIELDS` (``cell``
and ``input`` are text; an axis column is whole numbers when every value is one, else text).
"""

from __future__ import annotations

import csv
import json
import os
import re
from pathlib import Path
from typing import Any, Iterable, Sequence

from exsim.errors import InputError
from exsim.sweep.cells import KEY_FIELDS, ROW_FIELDS

ROWS_FILE = "rows.jsonl"
PARQUET_FILE = "results.parquet"
CSV_FILE = "results.csv"
_OUTCOME_TYPES = dict(ROW_FIELDS)
_WHOLE = re.compile(r"-?[0-9]+")


def encode_row(row: dict[str, Any], fields: Sequence[str]) -> bytes:
    """One line of ``rows.jsonl``: the row's ``fields`` in that order, compact JSON, ``\\n``.

    A row missing one of ``fields`` or holding another is a broken contract (KeyError).

    >>> encode_row({"b": 1, "a": "x"}, ["a", "b"])
    b'{"a":"x","b":1}\\n'
    """
    if len(row) != len(fields):
        extra = sorted(set(row) - set(fields))
        raise KeyError(f"row of cell {row.get('cell')!r} has columns {extra} the sweep does not")
    ordered = {name: row[name] for name in fields}
    return (json.dumps(ordered, sort_keys=False, separators=(",", ":"), ensure_ascii=False) + "\n").encode()


def scan_rows(path: Path) -> tuple[list[dict[str, Any]], int]:
    """The rows of a ``rows.jsonl`` and the byte length of its whole lines.

    Only lines ended by a newline are rows: a last line without one was torn by a kill
    mid-write and is left out (the caller may truncate the file to the length returned).
    A whole line that is not a JSON object with a ``cell`` is an :class:`InputError`
    naming the file and line. O(size of the file).
    """
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1  # 0 when no line is whole
    rows = []
    for number, line in enumerate(data[:end].splitlines(), start=1):
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise InputError(f"not a JSON row ({exc.args[0] if exc.args else exc})", where=f"{path}:{number}") from None
        if not isinstance(row, dict) or not isinstance(row.get("cell"), str):
            raise InputError("not a row of a sweep (a JSON object with a 'cell')", where=f"{path}:{number}")
        rows.append(row)
    return rows, end


def read_rows(out: str | Path) -> list[dict[str, Any]]:
    """The rows in ``OUT/rows.jsonl`` in the order the cells ended ([] when there is none);
    a torn last line is left out (the file is not changed)."""
    path = Path(out) / ROWS_FILE
    if not path.exists():
        return []
    return scan_rows(path)[0]


def column_types(rows: Iterable[dict[str, Any]], fields: Sequence[str]) -> dict[str, str]:
    """``{column: "str" | "int" | "float"}``: the outcome fields' own types, text for the
    key columns, and for an axis column "int" when every value is an int, else "str".

    >>> column_types([{"cell": "a", "leverage": 5, "x": "0.5"}], ["cell", "leverage", "x"])
    {'cell': 'str', 'leverage': 'int', 'x': 'str'}
    """
    rows = list(rows)
    types = {}
    for name in fields:
        if name in _OUTCOME_TYPES:
            types[name] = _OUTCOME_TYPES[name]
        elif name in KEY_FIELDS:
            types[name] = "str"
        else:
            whole = all(isinstance(r[name], int) and not isinstance(r[name], bool) for r in rows)
            types[name] = "int" if whole else "str"
    return types


def _typed(value: Any, kind: str) -> Any:
    if kind == "str":
        return value if isinstance(value, str) else str(value)
    if kind == "int":
        return int(value)
    return float(value)


def write_results(out: str | Path, rows: Sequence[dict[str, Any]], fields: Sequence[str]) -> Path:
    """Write ``rows`` (in the order given: the caller's is the grid's) as the sweep's table.

    ``OUT/results.parquet`` when pyarrow imports, else ``OUT/results.csv``; written to a
    temporary name and renamed, so a reader never sees half a table, and the other
    format's file, from an earlier run, is removed. Returns the table's path.
    O(rows x columns).
    """
    out = Path(out)
    types = column_types(rows, fields)
    columns = {name: [_typed(r[name], types[name]) for r in rows] for name in fields}
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        path, other = out / CSV_FILE, out / PARQUET_FILE
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(fields)
            writer.writerows(zip(*(columns[name] for name in fields)))
            f.flush()
            os.fsync(f.fileno())
    else:
        path, other = out / PARQUET_FILE, out / CSV_FILE
        tmp = path.with_name(path.name + ".tmp")
        arrow = {"str": pa.string(), "int": pa.int64(), "float": pa.float64()}
        schema = pa.schema([(name, arrow[types[name]]) for name in fields])
        table = pa.Table.from_pydict(columns, schema=schema)
        pq.write_table(table, tmp)
    os.replace(tmp, path)
    other.unlink(missing_ok=True)
    return path


def _text_axes(meta: Path) -> set[str]:
    """The axes of the sweep.json beside a CSV table that have a text value (so "2" stays
    text); none when it cannot be read."""
    try:
        axes = json.loads(meta.read_text(encoding="utf-8")).get("axes", [])
        return {a["name"] for a in axes if any(isinstance(v, str) for v in a["values"])}
    except (OSError, ValueError, AttributeError, KeyError, TypeError):
        return set()


def read_results(out: str | Path) -> list[dict[str, Any]]:
    """The sweep's table as rows (dicts in column order), from ``results.parquet`` or,
    failing that, ``results.csv``: text, ints and floats as written.

    A CSV does not carry its types: the outcome fields take theirs from ROW_FIELDS, an axis
    column is read as ints when every value is a whole number and the sweep.json beside it
    gives the axis no text value. A missing table is FileNotFoundError.
    """
    out = Path(out)
    parquet, text = out / PARQUET_FILE, out / CSV_FILE
    if parquet.exists():
        import pyarrow.parquet as pq

        return list(pq.read_table(parquet).to_pylist())
    if not text.exists():
        raise FileNotFoundError(2, "no results.parquet or results.csv (has the sweep run to its end?)", str(out))
    with open(text, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            raise InputError("empty file; expected a header line", where=f"{text}:1")
        raw = list(reader)
    text_axes = _text_axes(out / "sweep.json")
    types = {}
    for i, name in enumerate(header):
        if name in _OUTCOME_TYPES:
            types[name] = _OUTCOME_TYPES[name]
        elif name in KEY_FIELDS or name in text_axes:
            types[name] = "str"
        else:
            types[name] = "int" if all(_WHOLE.fullmatch(r[i]) for r in raw) else "str"
    rows = []
    for number, r in enumerate(raw, start=2):
        if len(r) != len(header):
            raise InputError(f"{len(r)} fields; the header has {len(header)}", where=f"{text}:{number}")
        try:
            rows.append({name: _typed(value, types[name]) for name, value in zip(header, r)})
        except ValueError as exc:
            raise InputError(str(exc), where=f"{text}:{number}") from None
    return rows
