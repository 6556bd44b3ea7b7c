"""exsim's own normalized event format, as CSV (``exsim-csv``) or JSON lines (``exsim-jsonl``).

Both carry exactly the fields of :class:`~exsim.readers.rows.Row` (documented with
examples in ``docs/event-format.md``):

CSV — the header line is required and exact::

    ts_ns,kind,symbol,side,price,qty,rate
    1723161256322000000,trade,BTCUSDT,buy,61800.30,0.006,
    1723161256400000000,level,BTCUSDT,sell,61800.40,1.204,
    1723161257000000000,mark,BTCUSDT,,61801.12,,
    1723161600000000000,funding,BTCUSDT,,,,0.00010000

JSONL — one object per line; empty fields may be left out::

    {"ts_ns": 1723161256322000000, "kind": "trade", "symbol": "BTCUSDT", "side": "buy", "price": "61800.30", "qty": "0.006"}

Prices, quantities and rates are decimal *text*, written exactly as the source gave them
(``exsim convert`` never rounds): prices and quantities unsigned, rates signed (an exponent,
``1e-7``, is allowed; a leading ``+`` is not). ``ts_ns`` is an integer count of
nanoseconds since the Unix epoch, in ASCII digits, within the readers' window
2009-01-01 .. 2100-01-01 UTC (:data:`~exsim.readers.rows.TIME_WINDOW`). Rows must be in
non-decreasing ``ts_ns``. A UTF-8 byte-order mark before the first line is ignored, as
the other readers do. The format has no ids: two equal ``trade`` rows
are two trades. The last ``trade`` row of a bar's price path may carry the bar in
``rate`` (``bar:<open time ns>:<length ns>:<open>:<high>:<low>:<close>:<volume>:<trades>``,
:func:`~exsim.readers.rows.bar_marker`), so a converted bar file still gives ``on_bar``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

from exsim.errors import InputError
from exsim.readers.opening import empty_file, numbered_lines
from exsim.readers.rows import (
    GAP,
    KIND_CODES,
    KIND_NAMES,
    MAX_TS_NS,
    MIN_TS_NS,
    SIDE_CODES,
    SIDE_NAMES,
    TRADE,
    Row,
    json_value,
    parse_bar_marker,
    shown,
    ts_in_window,
)

CSV_HEADER = "ts_ns,kind,symbol,side,price,qty,rate"
FIELDS = ("ts_ns", "kind", "symbol", "side", "price", "qty", "rate")
# prices and sizes are unsigned, rates signed; an exponent is allowed (as other readers
# pass on JavaScript's '1e-7')
_UNSIGNED = re.compile(r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII).fullmatch
_SIGNED = re.compile(r"-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII).fullmatch


def _ts(text: object, where: str) -> int:
    """A row's ``ts_ns``: ASCII digits (or a JSON integer) within the readers' window."""
    if type(text) is int:
        ts = text
    elif type(text) is str and text.isascii() and text.isdigit() and len(text) < 21:
        ts = int(text)
    else:
        raise InputError(f"{shown(text)} is not a whole number of nanoseconds since the epoch", where=where, field="ts_ns")
    if not MIN_TS_NS <= ts < MAX_TS_NS:
        ts_in_window(ts, str(ts) if type(text) is int else text, where, "ts_ns")  # raises
    return ts


def _decimal_text(text: object, field: str, where: str, signed: bool = False) -> str:
    """``text`` if it is empty or decimal text (unsigned unless ``signed``), else InputError."""
    if type(text) is str and (not text or (_SIGNED if signed else _UNSIGNED)(text)):
        return text
    if type(text) is str and not signed and text.startswith("-") and _SIGNED(text):
        raise InputError(f"{text!r} is negative; expected an unsigned decimal number", where=where, field=field)
    raise InputError(
        f"{shown(text)} is not {'a' if signed else 'an unsigned'} decimal number (text such as '61800.10')",
        where=where,
        field=field,
    )


def _rate(kind: int, rate: object, where: str) -> str:
    """A row's ``rate``: decimal text, or a bar file's bar on a trade row (:func:`bar_marker`)."""
    if kind == TRADE and type(rate) is str and rate.startswith("bar:"):
        parse_bar_marker(rate, where)
        return rate
    return _decimal_text(rate, "rate", where, signed=True)


def _row(ts_text: object, kind_text: object, symbol: object, side_text: object, price: object, qty: object, rate: object, where: str, last_ts: int) -> Row:
    ts = _ts(ts_text, where)
    if ts < last_ts:
        raise InputError(f"{ts} goes back in time (the previous row had {last_ts})", where=where, field="ts_ns")
    kind = KIND_CODES.get(kind_text)  # type: ignore[arg-type]
    if kind is None:
        raise InputError(f"{kind_text!r} is not one of {', '.join(KIND_NAMES)}", where=where, field="kind")
    side = SIDE_CODES.get(side_text)  # type: ignore[arg-type]
    if side is None:
        raise InputError(f"{side_text!r} is not 'buy', 'sell' or empty", where=where, field="side")
    if type(symbol) is not str or not 0 < len(symbol) <= 40:
        raise InputError(f"{shown(symbol)} is not a symbol (text such as 'BTCUSDT')", where=where, field="symbol")
    return Row(
        ts,
        kind,
        symbol,
        side,
        _decimal_text(price, "price", where),
        _decimal_text(qty, "qty", where),
        rate if kind == GAP and type(rate) is str else _rate(kind, rate, where),
        where,
    )


def read_csv(path: str | Path, symbol: str | None = None) -> Iterator[Row]:
    """Rows of an ``exsim-csv`` file (``symbol`` given: only that symbol's rows)."""
    name = str(path)
    last_ts = 0
    line_no = 0
    for line_no, line in numbered_lines(path):
        where = f"{name}:{line_no}"
        if line_no == 1:
            if line.lstrip("\ufeff") != CSV_HEADER:
                raise InputError(f"header {line!r} is not {CSV_HEADER!r}", where=where, field="header")
            continue
        if not line:
            continue
        parts = line.split(",")
        if len(parts) != 7:
            raise InputError(f"{len(parts)} fields; expected 7 ({CSV_HEADER})", where=where, field="row")
        row = _row(*parts, where=where, last_ts=last_ts)  # type: ignore[misc]
        last_ts = row.ts_ns
        if symbol is None or row.symbol == symbol:
            yield row
    if line_no == 0:
        raise empty_file(path, f"the exsim-csv header {CSV_HEADER!r}")


def read_jsonl(path: str | Path, symbol: str | None = None) -> Iterator[Row]:
    """Rows of an ``exsim-jsonl`` file (``symbol`` given: only that symbol's rows)."""
    name = str(path)
    last_ts = 0
    seen = False  # a non-blank line
    for line_no, line in numbered_lines(path):
        if line_no == 1:
            line = line.lstrip("\ufeff")
        if not line.strip():
            continue
        seen = True
        where = f"{name}:{line_no}"
        obj = json_value(line, where)
        if type(obj) is not dict:
            raise InputError("each line must be a JSON object", where=where, field="line")
        unknown = set(obj) - set(FIELDS)
        if unknown:
            raise InputError(f"unknown field(s) {sorted(unknown)}; allowed: {', '.join(FIELDS)}", where=where, field=sorted(unknown)[0])
        g = obj.get
        row = _row(g("ts_ns"), g("kind"), g("symbol"), g("side", ""), g("price", ""), g("qty", ""), g("rate", ""), where, last_ts)
        last_ts = row.ts_ns
        if symbol is None or row.symbol == symbol:
            yield row
    if not seen:
        raise empty_file(path, "one JSON object a line")


def write_rows(rows: Iterable[Row], out: IO[str], fmt: str) -> int:
    """Write ``rows`` to ``out`` as ``exsim-csv`` or ``exsim-jsonl``; returns the count."""
    n = 0
    kinds, sides = KIND_NAMES, SIDE_NAMES
    if fmt == "exsim-csv":
        out.write(CSV_HEADER + "\n")
        w = out.write
        for r in rows:
            rate = r.rate if r.kind != GAP else r.rate.replace(",", ";")  # a gap's message, not data
            w(f"{r.ts_ns},{kinds[r.kind]},{r.symbol},{sides[r.side]},{r.price},{r.qty},{rate}\n")
            n += 1
    elif fmt == "exsim-jsonl":
        dumps = json.dumps
        for r in rows:
            obj: dict[str, object] = {"ts_ns": r.ts_ns, "kind": kinds[r.kind], "symbol": r.symbol}
            if r.side != -1:
                obj["side"] = sides[r.side]
            if r.price:
                obj["price"] = r.price
            if r.qty:
                obj["qty"] = r.qty
            if r.rate:
                obj["rate"] = r.rate
            out.write(dumps(obj) + "\n")
            n += 1
    else:
        raise ValueError(f"unknown output format {fmt!r}: use exsim-csv or exsim-jsonl")
    return n


def scan_kinds(path: str | Path, fmt: str) -> frozenset[int]:
    """The row kinds an exsim file holds (one pass over the ``kind`` column; no validation).

    A replay uses it to decide, before running, what the file provides (depth, marks,
    funding) and what must be modelled.
    """
    names: set[str] = set()
    if fmt == "exsim-csv":
        for line_no, line in numbered_lines(path):
            if line_no > 1 and line:
                parts = line.split(",", 2)
                if len(parts) > 1:
                    names.add(parts[1])
    else:
        for _, line in numbered_lines(path):
            i = line.find('"kind"')
            if i >= 0:
                j = line.find('"', line.find(":", i) + 1)
                names.add(line[j + 1 : line.find('"', j + 1)])
    return frozenset(KIND_CODES[n] for n in names if n in KIND_CODES)


def sniff(file_name: str, head: list[str]) -> str | None:
    """``exsim-csv`` / ``exsim-jsonl`` when the first line says so."""
    first = head[0].lstrip("\ufeff") if head else ""
    if first == CSV_HEADER:
        return "exsim-csv"
    if first.startswith("{") and '"ts_ns"' in first and '"kind"' in first:
        return "exsim-jsonl"
    return None


READERS = {"exsim-csv": read_csv, "exsim-jsonl": read_jsonl}
