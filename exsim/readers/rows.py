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
                    a bar's price path; it fills every user order it reaches); ``rate``
                    is '' but on the last point of a bar file's path, where it carries
                    the file's bar (:func:`bar_marker`), delivered to ``on_bar``
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
import re
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
    "bar_marker",
    "parse_bar_marker",
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


# --------------------------------------------------------------------------- bar markers
_BAR_PREFIX = "bar:"
_UNSIGNED_DECIMAL = re.compile(r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII).fullmatch


def bar_marker(open_ns: int, span_ns: int, o: str, h: str, low: str, c: str, volume: str, trades: str) -> str:
    """The ``rate`` text of a bar file's last path point: the file's bar, for ``on_bar``.

    ``bar:<open time ns>:<length ns>:<open>:<high>:<low>:<close>:<volume>:<trades>``, the
    values as the file wrote them (``volume`` and ``trades`` '' when the file has none). A bar's
    rows still replay as the four path trades; the marker adds the bar itself, with the
    volume and trade count the path cannot carry. No comma: it survives ``exsim convert``.

    >>> bar_marker(0, 60_000_000_000, "10", "12", "9", "11", "3.5", "")
    'bar:0:60000000000:10:12:9:11:3.5:'
    """
    return f"{_BAR_PREFIX}{open_ns}:{span_ns}:{o}:{h}:{low}:{c}:{volume}:{trades}"


def parse_bar_marker(text: str, where: str) -> tuple[int, int, str, str, str, str, str, int | None]:
    """``(open time ns, length ns, open, high, low, close, volume, trades)`` of a :func:`bar_marker`
    text (``trades`` None when '', ``volume`` text, '' when unknown); an
    :class:`InputError` naming ``where`` and the ``rate`` field when it is not one.

    >>> parse_bar_marker("bar:0:60000000000:10:12:9:11:3.5:", "x:2")
    (0, 60000000000, '10', '12', '9', '11', '3.5', None)
    >>> parse_bar_marker("bar:60:10:12:9", "x:2")
    Traceback (most recent call last):
    ...
    exsim.errors.InputError: x:2: field 'rate': 'bar:60:10:12:9' is not a bar (bar:<open time ns>:<length ns>:<open>:<high>:<low>:<close>:<volume>:<trades>)
    """
    parts = text.split(":") if text.startswith(_BAR_PREFIX) else ()
    ok = len(parts) == 9 and all(p.isascii() and p.isdigit() and len(p) <= 20 for p in parts[1:3]) and int(parts[2]) > 0
    ok = ok and all(_UNSIGNED_DECIMAL(p) for p in parts[3:7]) and (not parts[7] or _UNSIGNED_DECIMAL(parts[7]) is not None)
    ok = ok and (not parts[8] or (parts[8].isascii() and parts[8].isdigit() and len(parts[8]) <= 20))
    if not ok:
        raise InputError(
            f"{shown(text)} is not a bar (bar:<open time ns>:<length ns>:<open>:<high>:<low>:<close>:<volume>:<trades>)",
            where=where,
            field="rate",
        )
    return int(parts[1]), int(parts[2]), parts[3], parts[4], parts[5], parts[6], parts[7], int(parts[8]) if parts[8] else None
