"""The grid's cells and the row each one gives.

A cell is one run: an input group (a file, a day, all files merged, or a scenario) and
one value of every axis. Its id is a hash of those, canonical JSON, so it is the same on
every machine and in every run of the sweep: resuming skips the ids already written,
``exsim sweep rerun DIR CELL`` finds a cell by it.

A row (:data:`ROW_FIELDS`, in that order, after ``cell``, ``input`` and one column per
axis) holds the run's outcome. Money and fractions stay the run's own exact decimal
strings; only :data:`TIMING_FIELDS` differ between two runs of the same cell.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from typing import Any, Callable, Sequence

import attrs

from exsim.sweep.spec import InputGroup, Sweep

#: the outcome columns of a row, with their types ("str": exact decimal text or words)
ROW_FIELDS: tuple[tuple[str, str], ...] = (
    ("status", "str"),  # "ok" or "error"
    ("error", "str"),  # "" or the one line the run failed with
    ("pnl", "str"),  # end equity - deposit (the account's currency)
    ("return", "str"),  # pnl / deposit
    ("end_equity", "str"),
    ("fees", "str"),  # trading fees paid
    ("clearance_fees", "str"),  # liquidation clearance fees paid
    ("funding", "str"),  # funding, signed as the run's summary signs it
    ("max_drawdown", "str"),
    ("max_drawdown_fraction", "str"),
    ("liquidations", "int"),
    ("liquidation_kinds", "str"),  # "isolated=1 cross=0 partial=0 takeover=0 adl=0"
    ("adl", "int"),  # positions of the account auto-deleveraged
    ("min_headroom", "str"),  # 1 - MM / margin balance at its lowest; <= 0 is liquidation; "" never in the market
    ("time_in_market", "str"),  # fraction of the run's span with a position open
    ("trades", "int"),  # round trips closed
    ("rows", "int"),  # market rows replayed (scenarios: commands)
    ("state_hash", "str"),
    ("wall_s", "float"),
    ("cpu_s", "float"),
)
OUTCOME_FIELDS = tuple(name for name, _ in ROW_FIELDS)
#: the only columns that differ between two runs of the same cell
TIMING_FIELDS = ("wall_s", "cpu_s")
#: the columns before the axes
KEY_FIELDS = ("cell", "input")


@attrs.frozen
class Cell:
    """One run of the grid: ``input`` (an input group's name) and ``values`` (axis -> value)."""

    id: str
    input: str
    values: dict[str, int | str]


def cell_id(input_name: str, values: dict[str, int | str]) -> str:
    """12 hex digits of sha256 over the canonical JSON of the input's name and the values."""
    text = json.dumps({"input": input_name, "values": values}, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def grid(sweep: Sweep, groups: Sequence[InputGroup]) -> list[Cell]:
    """The sweep's cells, input by input, then the axes' product in the order written
    (the last axis varies fastest), or the listed subset in its order."""
    names = sweep.axis_names
    if sweep.subset is not None:
        points = [tuple(c[n] for n in names) for c in sweep.subset]
    else:
        points = list(itertools.product(*(a.values for a in sweep.axes)))
    cells = []
    for g in groups:
        for point in points:
            values = dict(zip(names, point))
            cells.append(Cell(cell_id(g.name, values), g.name, values))
    ids = {c.id for c in cells}
    if len(ids) != len(cells):  # (12 hex digits: a collision in a million cells is ~1e-8; never silent)
        raise RuntimeError("two cells of the grid share an id")
    return cells


def columns(sweep: Sweep) -> list[str]:
    """A row's columns in order: cell, input, the axes, then :data:`ROW_FIELDS`."""
    return [*KEY_FIELDS, *sweep.axis_names, *OUTCOME_FIELDS]


def empty_outcome() -> dict[str, Any]:
    """The outcome fields of a row with no figures (a cell that failed): "" and 0."""
    return {name: 0 if kind == "int" else 0.0 if kind == "float" else "" for name, kind in ROW_FIELDS}


#: where a finished cell's row goes (the local engine and the Ray one both hand rows to it)
RowSink = Callable[[dict[str, Any]], None]


def failed_row(cell: Cell, message: str) -> dict[str, Any]:
    """The row of a cell that gave none (its process died): no figures, ``message``."""
    row: dict[str, Any] = {"cell": cell.id, "input": cell.input, **cell.values, **empty_outcome()}
    row["status"] = "error"
    row["error"] = message
    return row
