"""NautilusTrader's flattened Binance depth CSV (``nautilus-binance-depth``).

NautilusTrader's Binance data loader writes USDⓈ-M diff depth one level a line::

    symbol,timestamp,first_update_id,last_update_id,side,update_type,price,qty,pu
    BTCUSDT,1667346579146,2098021528332,2098021528332,b,snap,20377.00,1.770,-1
    BTCUSDT,1667347199939,2098041693435,2098041696700,a,set,20472.80,0.000,2098041693400

Mapping decisions:

* **Messages**: consecutive lines with the same ``update_type`` and ``last_update_id``
  are one venue message (a REST snapshot, or one ``depthUpdate`` diff ``U`` =
  ``first_update_id``, ``u`` = ``last_update_id``, ``pu``).
* ``snap`` → one ``clear`` (side ANY) then one ``level`` per line, at the snapshot's
  ``timestamp``: the file says when the snapshot held, so it is applied then (a lone
  snapshot file is a book at one instant).
* ``set`` → ``level`` rows, ``qty`` = the new absolute size (``0`` deletes), deletions
  first (as :mod:`exsim.readers.binance_ws`: a diff's levels are independent absolute
  sizes, and deleting first keeps the book uncrossed between rows).
* ``rate`` of ``clear`` / ``level`` rows = the message's ``last_update_id`` as text.
* **Chaining (Binance's rules for diff depth)**: after a snapshot with ``lastUpdateId``
  L, diffs with ``u < L`` are stale (dropped); the first applied must bridge it, ``U <= L
  <= u``; after that each diff's ``pu`` must equal the previous diff's ``u``. A diff that
  breaks the chain, or a diff with no snapshot before it in the file, gives one ``gap``
  row (its ``rate`` holds the message) and the depth stops until the next snapshot in the
  file — the same as for a WebSocket capture. A file holds one stream: a snapshot file and
  an update file are read each on its own, so an update file alone starts with a gap; to
  chain them, concatenate the two (snapshot first, one header). Nautilus's BTCUSDT test
  files cannot be chained anyway: the updates start 10 minutes after the snapshot.
* **Time**: ``timestamp`` is epoch ms (µs from 1e15 on, as Binance's files), to ns with
  integer arithmetic; non-decreasing through the file.
* ``symbol`` argument given: only that symbol's lines are read.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from exsim.book.orders import BUY, SELL
from exsim.errors import InputError
from exsim.readers.opening import empty_file, numbered_lines
from exsim.readers.rows import ANY, CLEAR, GAP, LEVEL, Row

FORMAT = "nautilus-binance-depth"
HEADER = "symbol,timestamp,first_update_id,last_update_id,side,update_type,price,qty,pu"
_UNSIGNED = re.compile(r"(?:\d+\.?\d*|\.\d+)", re.ASCII).fullmatch
_SIDES = {"b": BUY, "a": SELL}
_MICROS_FROM = 10**15
_new = tuple.__new__  # builds a NamedTuple without its Python-level __new__ (hot path)


def _int(text: str, where: str, field: str, signed: bool = False) -> int:
    body = text[1:] if signed and text[:1] == "-" else text
    if not (body.isascii() and body.isdigit()):
        raise InputError(f"{text!r} is not a whole number", where=where, field=field)
    return int(text)


class _Message:
    """The lines of one venue message, gathered until the next message starts."""

    __slots__ = ("key", "ts_ns", "where", "first_id", "final_id", "prev_id", "snapshot", "rows")

    def __init__(self, key: tuple[str, str, str], ts_ns: int, where: str, first_id: int, final_id: int, prev_id: int) -> None:
        self.key = key
        self.ts_ns = ts_ns
        self.where = where
        self.first_id = first_id
        self.final_id = final_id
        self.prev_id = prev_id
        self.snapshot = key[1] == "snap"
        self.rows: list[Row] = []


def _messages(path: str | Path, symbol: str | None) -> Iterator[_Message]:
    name = str(path)
    lines = numbered_lines(path)
    header_seen = False
    current: _Message | None = None
    last_ns = 0
    want = symbol.upper() if symbol else None
    for line_no, line in lines:
        where = f"{name}:{line_no}"
        if not header_seen:
            if line.lstrip("\ufeff") != HEADER:
                raise InputError(f"header {line[:200]!r} is not {HEADER!r}", where=where, field="header")
            header_seen = True
            continue
        if not line:
            continue
        parts = line.split(",")
        if len(parts) != 9:
            raise InputError(f"{len(parts)} fields; expected 9 ({HEADER})", where=where, field="row")
        sym, ts_text, first_text, final_text, side_text, update_type, price, qty, pu_text = parts
        if not sym:
            raise InputError("empty symbol", where=where, field="symbol")
        if want is not None and sym != want:
            continue
        value = _int(ts_text, where, "timestamp")
        ts_ns = value * (1_000 if value >= _MICROS_FROM else 1_000_000)
        if ts_ns < last_ns:
            raise InputError(
                f"time goes backwards: {ts_ns} ns after {last_ns} ns on an earlier line", where=where, field="timestamp"
            )
        last_ns = ts_ns
        side = _SIDES.get(side_text)
        if side is None:
            raise InputError(f"{side_text!r} is not 'b' (bid) or 'a' (ask)", where=where, field="side")
        if update_type not in ("snap", "set"):
            raise InputError(f"{update_type!r} is not 'snap' or 'set'", where=where, field="update_type")
        if not _UNSIGNED(price):
            raise InputError(f"{price!r} is not an unsigned decimal number", where=where, field="price")
        if not _UNSIGNED(qty):
            raise InputError(f"{qty!r} is not an unsigned decimal number", where=where, field="qty")
        key = (sym, update_type, final_text)
        if current is None or current.key != key:
            if current is not None:
                yield current
            current = _Message(
                key,
                ts_ns,
                where,
                _int(first_text, where, "first_update_id"),
                _int(final_text, where, "last_update_id"),
                _int(pu_text, where, "pu", signed=True),
            )
        current.rows.append(_new(Row, (current.ts_ns, LEVEL, sym, side, price, qty, final_text, where)))
    if not header_seen:
        raise empty_file(path, f"the header {HEADER!r}")
    if current is not None:
        yield current


_WAITING, _PENDING, _SYNCED = range(3)


def read_nautilus_depth(path: str | Path, symbol: str | None = None) -> Iterator[Row]:
    """``clear`` / ``level`` / ``gap`` rows of a Nautilus flattened Binance depth CSV."""
    # symbol -> (state, id): the snapshot's lastUpdateId while pending, the last applied
    # diff's u while synced; waiting (after a gap, or before any snapshot): diffs dropped
    states: dict[str, tuple[int, int]] = {}
    for m in _messages(path, symbol):
        sym = m.key[0]
        if m.snapshot:
            states[sym] = (_PENDING, m.final_id)
            yield _new(Row, (m.ts_ns, CLEAR, sym, ANY, "", "", m.key[2], m.where))
            yield from m.rows
            continue
        state, last_id = states.get(sym, (None, 0))
        if state == _WAITING:
            continue  # the gap was reported; nothing applies until the next snapshot
        if state == _SYNCED:
            if m.final_id <= last_id:
                continue  # stale: a diff already covered
            if m.prev_id == last_id:
                states[sym] = (_SYNCED, m.final_id)
                yield from _deletions_first(m.rows)
                continue
            message = (
                f"depth sequence break: expected pu={last_id} (the previous diff's u), found pu={m.prev_id} "
                f"(U={m.first_id}, u={m.final_id})"
            )
        elif state == _PENDING:
            if m.final_id < last_id:
                continue  # stale: older than the snapshot
            if m.first_id <= last_id:
                states[sym] = (_SYNCED, m.final_id)
                yield from _deletions_first(m.rows)
                continue
            message = (
                f"no diff bridges the snapshot: lastUpdateId={last_id}, but the first newer diff starts at "
                f"U={m.first_id} (u={m.final_id}); expected U <= {last_id}"
            )
        else:
            message = (
                f"no depth snapshot before this diff (U={m.first_id}, u={m.final_id}) in the file: the book cannot be "
                "rebuilt from it (to chain a snapshot file and its updates, concatenate them, snapshot first)"
            )
        states[sym] = (_WAITING, 0)
        yield _new(Row, (m.ts_ns, GAP, sym, ANY, "", "", message, m.where))


def _deletions_first(rows: list[Row]) -> list[Row]:
    """A diff's rows with its deletions (size 0) first, the rest in file order."""
    zeros = [r for r in rows if not r.qty.strip("0.")]
    if not zeros:
        return rows
    return zeros + [r for r in rows if r.qty.strip("0.")]


def sniff(file_name: str, head: list[str]) -> str | None:
    """``nautilus-binance-depth`` when the first line is its header."""
    if head and head[0].lstrip("\ufeff") == HEADER:
        return FORMAT
    return None


READERS = {FORMAT: read_nautilus_depth}
