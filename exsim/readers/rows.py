"""The normalized market-data row every reader yields (exsim's own event format).

Readers turn a venue's file into a stream of :class:`Row` tuples, ordered by ``ts_ns``.
A row keeps the source's decimal *text* for prices, quantities and rates: the reader
validates that the text is a decimal, but conversion to integer ticks/lots/rates happens
once, in :mod:`exsim.replay.market`, against the instrument's grid — so a reader never
rounds and ``exsim convert`` writes exactly what the source said.

Kinds (``Row.kind``) and the fields each one uses:

============== ==== ======================================================================
kind           code fields
============== ==== ======================================================================
``trade``      0    ``side`` = aggressor (BUY/SELL), ``price``, ``qty`` ('' = size unknown:
                    a bar's price path; it fills every user order it reaches)
``level``      1    ``side``, ``price``, ``qty`` = new absolute replayed size ('0' deletes)
``clear``      2    ``side`` (BUY, SELL or ANY): drop that side's replayed size (a snapshot
                    follows as ``level`` rows)
``quote``      3    ``side``, ``price``, ``qty``: best bid (BUY) or best ask (SELL) and size
``mark``       4    ``price`` = mark price
``index``      5    ``price`` = index price
``funding``    6    ``rate`` = funding rate settled at ``ts_ns`` (decimal, e.g. '0.0001')
``liquidation`` 7   ``side`` = side of the venue's forced order, ``price``, ``qty`` (replayed
                    like a trade: an anonymous taker)
``gap``        8    a break in a diff-depth sequence; ``rate`` holds the reader's message
``premium``    9    ``rate`` = the venue's premium index (used by computed funding)
============== ==== ======================================================================

``where`` is ``"path:line"`` of the row's source, carried so that a later conversion error
(an off-grid price) still names the file, line and field.
"""

from __future__ import annotations

import json
from typing import NamedTuple

from exsim.book.orders import BUY, SELL
from exsim.errors import InputError
from exsim.units import to_int

ANY = -1  # side of a row that has none (mark, index, funding) or spans both (clear)

TRADE = 0
LEVEL = 1
CLEAR = 2
QUOTE = 3
MARK = 4
INDEX = 5
FUNDING = 6
LIQUIDATION = 7
GAP = 8
PREMIUM = 9

KIND_NAMES: tuple[str, ...] = (
    "trade",
    "level",
    "clear",
    "quote",
    "mark",
    "index",
    "funding",
    "liquidation",
    "gap",
    "premium",
)
KIND_CODES: dict[str, int] = {name: code for code, name in enumerate(KIND_NAMES)}
SIDE_NAMES: dict[int, str] = {BUY: "buy", SELL: "sell", ANY: ""}
SIDE_CODES: dict[str, int] = {"buy": BUY, "sell": SELL, "": ANY}


class Row(NamedTuple):
    """One normalized market-data event (see the module doc for the kinds)."""

    ts_ns: int
    kind: int
    symbol: str
    side: int = ANY
    price: str = ""
    qty: str = ""
    rate: str = ""
    where: str = ""


__all__ = [
    "ANY",
    "MAX_TS_NS",
    "MIN_TS_NS",
    "TIME_WINDOW",
    "epoch_ns",
    "json_value",
    "shown",
    "ts_in_window",
    "CLEAR",
    "FUNDING",
    "GAP",
    "INDEX",
    "KIND_CODES",
    "KIND_NAMES",
    "LEVEL",
    "LIQUIDATION",
    "MARK",
    "PREMIUM",
    "QUOTE",
    "Row",
    "SIDE_CODES",
    "SIDE_NAMES",
    "TRADE",
]


# --------------------------------------------------------------------------- shared checks
#: the time window every reader accepts (ns since the epoch, UTC): from 2009-01-01
#: (before any crypto venue) to 2100-01-01 (exclusive). A time outside it is a typo or a
#: wrong unit (a year 2124, 2^64, a seconds column read as ms, ...): refused, naming the
#: row, before a replay could walk its clocks to it.
MIN_TS_NS = 1_230_768_000 * 1_000_000_000
MAX_TS_NS = 4_102_444_800 * 1_000_000_000
TIME_WINDOW = "2009-01-01 .. 2100-01-01 UTC"


def shown(text: object, limit: int = 40) -> str:
    """``text`` quoted for an error line, cut to ``limit`` characters (a 4,000-digit
    number is shown by its start and its length)."""
    s = text if isinstance(text, str) else repr(text)
    if len(s) <= limit:
        return repr(s) if isinstance(text, str) else s
    return f"{s[:limit]!r}... ({len(s):,} characters)"


def ts_in_window(ts_ns: int, text: object, where: str, field: str) -> int:
    """``ts_ns`` if it is in :data:`TIME_WINDOW`, else the error naming ``where``/``field``."""
    if MIN_TS_NS <= ts_ns < MAX_TS_NS:
        return ts_ns
    raise InputError(
        f"{shown(text)} is outside the accepted time window {TIME_WINDOW} (a typo or a wrong time unit?)",
        where=where,
        field=field,
    )


def epoch_ns(text: str, unit_ns: int, where: str, field: str, expected: str) -> int:
    """A whole count of ``unit_ns`` since the epoch, written in ASCII digits (no sign,
    point, exponent or underscore: :func:`exsim.units.to_int` with ``plain``), as ns in
    :data:`TIME_WINDOW`; else an :class:`InputError` saying it is not ``expected``.

    >>> epoch_ns("1723161600000", 1_000_000, "x.csv:2", "time", "ms")
    1723161600000000000
    """
    try:
        value = to_int(text, field=field, where=where, plain=True)
    except InputError:
        raise InputError(f"{shown(text)} is not {expected}", where=where, field=field) from None
    return ts_in_window(value * unit_ns, text, where, field)


def json_value(text: str, where: str, field: str = "line") -> object:
    """``json.loads(text)`` with every failure an :class:`InputError` naming ``where``:
    not JSON, nesting too deep (Python's recursion limit), an integer over Python's
    4,300-digit limit."""
    try:
        return json.loads(text)
    except RecursionError:
        raise InputError("not JSON this reader accepts: nested too deep", where=where, field=field) from None
    except ValueError as exc:
        raise InputError(f"not JSON: {str(exc)[:200]}", where=where, field=field) from None
