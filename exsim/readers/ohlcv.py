"""Generic OHLCV bars (``ohlcv``): a coarse price path of trades, for venues with no tape.

Layout — a header line, then one bar per line::

    timestamp,open,high,low,close,volume
    2021-12-31 23:01:00.000000,46319.0,46385.0,46319.0,46377.0,2300413.7295

The header's first column may be named ``timestamp``, ``time``, ``datetime``, ``date``,
``open_time`` or ``ts``; the other five names are exactly ``open,high,low,close,volume``
(case-insensitive). A file without a header is refused: six numeric columns are also what
a Binance ``trades`` file looks like, and guessing which is which would be unsafe.

Mapping decisions:

* **Timestamp = the bar's open time**, UTC, as Binance klines, ccxt's ``fetch_ohlcv`` and
  FTX stamp bars. Accepted forms: ``YYYY-mm-dd HH:MM:SS[.f…]`` (``T`` may replace the
  space; up to 9 fraction digits; an optional ``Z`` or ``+00:00``, no other offset), or an
  integer epoch whose unit is read from its magnitude: below 1e11 seconds, below 1e14
  milliseconds, below 1e17 microseconds, else nanoseconds (each boundary is a date before
  1974 in the finer unit, so real data never sits on the wrong side). Conversion to ns is
  integer arithmetic only.
* **Bar length** ``bar_ns``: the argument, else the smallest gap between consecutive bars
  among the first :data:`INFER_BARS` bars (the gap between the first two, unless a bar
  is missing there). The rows of a bar must end before the next bar opens, so a file whose
  bars overlap raises :class:`~exsim.errors.InputError` naming the bar.
* **Price path** (the bar model): each bar becomes four ``trade`` rows of unknown size
  (``qty`` ``''``): **open → the extreme nearer the open → the other extreme → close**.
  The open at the open time, the first extreme at open + d/3, the second at open + 2d/3
  (``d`` = bar length in ns, integer division) and the close at the bar's last nanosecond
  (open + d - 1). Nearer extreme first is the usual assumption of bar backtesters when
  the order inside a bar is unknown: a price that opens near its high more likely went
  there first (it had the shorter way to go); on a tie (both equally far) the low comes
  first when close >= open, the high first otherwise (the path then ends on the move
  toward the close). This is a model, not data: between two points the price is taken
  to jump, so a stop or a liquidation price inside the bar's range is reached at the
  point that crosses it, and the jump is the bar model's, not a gap of the market. See
  :func:`bar_path`.
* **Side** of each point = the direction of the move that reached it (:func:`path_side`):
  BUY (an aggressive buyer lifting offers up to the price) when the price rose from the
  previous point, SELL when it fell, the previous point's side when unchanged, and BUY for
  the file's first point. A rising print so fills the user's sell orders it reaches and a
  falling one the buy orders it reaches, which is what "it fills every user order it
  reaches" (:mod:`exsim.readers.rows`) needs from a one-sided trade.
* **Validation**: prices are unsigned decimal text, kept verbatim; ``high >= max(open,
  close)`` and ``low <= min(open, close)`` compared as ``Decimal`` (never float), else an
  error naming ``high`` or ``low``; volume must be decimal text (it is not replayed: a
  bar's volume does not say at which prices it traded).
* **The bar itself**: the close point's ``rate`` carries the file's bar
  (:func:`~exsim.readers.rows.bar_marker`, with the volume; no trade count), which the
  replay delivers to a strategy's ``on_bar`` after the path (:mod:`exsim.replay.bars`).
* **Symbol**: the ``symbol`` argument (required: the file does not name one).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

from exsim.book.orders import BUY, SELL
from exsim.errors import InputError
from exsim.readers.opening import empty_file, numbered_lines
from exsim.readers.rows import MAX_TS_NS, TRADE, Row, bar_marker, shown, ts_in_window
from exsim.units import parse_decimal

#: bars looked at to infer the bar length (the smallest gap among them)
INFER_BARS = 16

_TS_NAMES = frozenset({"timestamp", "time", "datetime", "date", "open_time", "ts"})
_PRICE_NAMES = ("open", "high", "low", "close", "volume")
_UNSIGNED = re.compile(r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII).fullmatch
_DATETIME = re.compile(
    r"(\d{4}-\d{2}-\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:Z|\+00:?00)?", re.ASCII
).fullmatch
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_DAY_S: dict[str, int] = {}  # 'YYYY-mm-dd' -> seconds since the epoch at its midnight (bounded cache)
_NS_PER_S = 1_000_000_000
_new = tuple.__new__  # builds a NamedTuple without its Python-level __new__ (hot path)


# --------------------------------------------------------------------------- timestamps


def epoch_to_ns(value: int) -> int:
    """An integer epoch in s, ms, µs or ns (unit read from the magnitude) as ns.

    >>> epoch_to_ns(1640995200), epoch_to_ns(1640995200000)
    (1640995200000000000, 1640995200000000000)
    >>> epoch_to_ns(1640995200000000), epoch_to_ns(1640995200000000000)
    (1640995200000000000, 1640995200000000000)
    """
    if value < 100_000_000_000:  # 1e11
        return value * _NS_PER_S
    if value < 100_000_000_000_000:  # 1e14
        return value * 1_000_000
    if value < 100_000_000_000_000_000:  # 1e17
        return value * 1_000
    return value


def parse_timestamp_ns(text: str, where: str, field: str = "timestamp") -> int:
    """``text`` (UTC date-time or integer epoch, see the module doc) as ns since the epoch.

    >>> parse_timestamp_ns("2021-12-31 23:01:00.000000", "x.csv:2")
    1640991660000000000
    >>> parse_timestamp_ns("2021-12-31T23:01:00.5Z", "x.csv:2")
    1640991660500000000
    >>> parse_timestamp_ns("1640991660000", "x.csv:2")
    1640991660000000000
    >>> parse_timestamp_ns("2021-12-31 25:01:00", "x.csv:2")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    exsim.errors.InputError: x.csv:2: field 'timestamp': '2021-12-31 25:01:00' is not a valid time of day; ...
    """
    if text.isascii() and text.isdigit():
        value = int(text) if len(text) <= 20 else MAX_TS_NS  # (longer: out of the window, not converted)
        return ts_in_window(epoch_to_ns(value), text, where, field)
    m = _DATETIME(text)
    if m is None:
        raise InputError(
            f"{shown(text)} is neither 'YYYY-mm-dd HH:MM:SS[.fraction]' (UTC) nor an integer epoch (s, ms, µs or ns)",
            where=where,
            field=field,
        )
    day_text, hh, mm, ss, fraction = m.groups()
    day_s = _DAY_S.get(day_text)
    if day_s is None:
        try:
            day_s = (date.fromisoformat(day_text).toordinal() - _EPOCH_ORDINAL) * 86_400
        except ValueError:
            raise InputError(f"{text!r}: {day_text!r} is not a calendar date", where=where, field=field) from None
        if len(_DAY_S) > 4096:
            _DAY_S.clear()
        _DAY_S[day_text] = day_s
    h, mi, s = int(hh), int(mm), int(ss)
    if h > 23 or mi > 59 or s > 59:
        raise InputError(
            f"{text!r} is not a valid time of day; expected HH:MM:SS with HH < 24, MM < 60, SS < 60",
            where=where,
            field=field,
        )
    ns = (day_s + h * 3600 + mi * 60 + s) * _NS_PER_S
    if fraction:
        ns += int(fraction.ljust(9, "0"))
    return ts_in_window(ns, text, where, field)


# --------------------------------------------------------------------------- price path


_Text4 = tuple[str, str, str, str]
_Decimal4 = tuple[Decimal, Decimal, Decimal, Decimal]


def check_bar(o: str, h: str, low: str, c: str, where: str, names: _Text4 = ("open", "high", "low", "close")) -> _Decimal4:
    """Validate one bar's prices; returns them as ``Decimal``.

    Each must be unsigned decimal text; ``high >= max(open, close)`` and ``low <=
    min(open, close)``. ``names`` are the columns named in errors.

    >>> check_bar("10", "12", "9", "11", "x.csv:2")
    (Decimal('10'), Decimal('12'), Decimal('9'), Decimal('11'))
    >>> check_bar("10", "10.5", "9", "11", "x.csv:2")
    Traceback (most recent call last):
    ...
    exsim.errors.InputError: x.csv:2: field 'high': '10.5' is below max(open '10', close '11')
    """
    values = []
    for text, name in zip((o, h, low, c), names, strict=True):
        if not _UNSIGNED(text):
            raise InputError(f"{shown(text)} is not an unsigned decimal number", where=where, field=name)
        values.append(parse_decimal(text, field=name, where=where))  # (bounded: at most 100 characters)
    do, dh, dl, dc = values
    if dh < do or dh < dc:
        raise InputError(f"{h!r} is below max({names[0]} {o!r}, {names[3]} {c!r})", where=where, field=names[1])
    if dl > do or dl > dc:
        raise InputError(f"{low!r} is above min({names[0]} {o!r}, {names[3]} {c!r})", where=where, field=names[2])
    return do, dh, dl, dc


def bar_path(
    open_ns: int, span_ns: int, close_ns: int, prices: _Text4, values: _Decimal4
) -> tuple[tuple[int, str, Decimal], ...]:
    """The four ``(ts_ns, price_text, price)`` points of one bar (see the module doc).

    Open, the extreme nearer the open, the other extreme, close; ``span_ns`` is the bar
    length d: the extremes sit at ``open_ns + d // 3`` and ``open_ns + 2 * d // 3``, the
    close at ``close_ns``. On a tie the low comes first when close >= open.

    >>> from decimal import Decimal as D
    >>> [p[:2] for p in bar_path(0, 60, 59, ("10", "12", "9", "11"), (D(10), D(12), D(9), D(11)))]
    [(0, '10'), (20, '9'), (40, '12'), (59, '11')]
    >>> [p[:2] for p in bar_path(0, 60, 59, ("10", "10.5", "7", "9.5"), (D(10), D("10.5"), D(7), D("9.5")))]
    [(0, '10'), (20, '10.5'), (40, '7'), (59, '9.5')]
    >>> [p[:2] for p in bar_path(0, 60, 59, ("10", "12", "8", "9.5"), (D(10), D(12), D(8), D("9.5")))]
    [(0, '10'), (20, '12'), (40, '8'), (59, '9.5')]
    """
    o, h, low, c = prices
    do, dh, dl, dc = values
    up, down = dh - do, do - dl  # distances from the open to the high and to the low
    low_first = down < up or (down == up and dc >= do)
    first, second = ((low, dl), (h, dh)) if low_first else ((h, dh), (low, dl))
    return (
        (open_ns, o, do),
        (open_ns + span_ns // 3, first[0], first[1]),
        (open_ns + 2 * span_ns // 3, second[0], second[1]),
        (close_ns, c, dc),
    )


def path_side(price: Decimal, previous: Decimal | None, previous_side: int) -> int:
    """The aggressor side of a path point: BUY when the price rose, SELL when it fell.

    Unchanged (or no previous point): ``previous_side``.

    >>> path_side(Decimal(11), Decimal(10), SELL), path_side(Decimal(9), Decimal(10), BUY)
    (0, 1)
    >>> path_side(Decimal(10), Decimal(10), SELL), path_side(Decimal(10), None, BUY)
    (1, 0)
    """
    if previous is None or price == previous:
        return previous_side
    return BUY if price > previous else SELL


# --------------------------------------------------------------------------- reader


def _header(line: str, where: str) -> None:
    names = [n.strip().lower() for n in line.lstrip("\ufeff").split(",")]
    if len(names) != 6 or names[0] not in _TS_NAMES or tuple(names[1:]) != _PRICE_NAMES:
        raise InputError(
            f"header {line!r} is not 'timestamp,open,high,low,close,volume' "
            f"(the first column may also be named {', '.join(sorted(_TS_NAMES - {'timestamp'}))})",
            where=where,
            field="header",
        )


_BarLine = tuple[int, str, str, str, str, str, str]


def _bars(path: str | Path) -> Iterator[_BarLine]:
    """``(ts_ns, open, high, low, close, where, volume)`` per bar, validated (not yet ordered)."""
    name = str(path)
    line_no = 0
    for line_no, line in numbered_lines(path):
        where = f"{name}:{line_no}"
        if line_no == 1:
            _header(line, where)
            continue
        if not line:
            continue
        parts = line.split(",")
        if len(parts) != 6:
            raise InputError(f"{len(parts)} fields; expected 6 (timestamp,open,high,low,close,volume)", where=where, field="row")
        ts_text, o, h, low, c, volume = parts
        if not _UNSIGNED(volume):
            raise InputError(f"{volume!r} is not an unsigned decimal number", where=where, field="volume")
        yield parse_timestamp_ns(ts_text, where), o, h, low, c, where, volume
    if line_no == 0:
        raise empty_file(path, "the header 'timestamp,open,high,low,close,volume'")


def read_ohlcv(path: str | Path, symbol: str | None = None, *, bar_ns: int | None = None) -> Iterator[Row]:
    """Trade rows of an OHLCV bars CSV: four price-path points per bar (see the module doc).

    ``bar_ns`` is the bar length in ns; ``None`` infers it from the first bars. Memory is
    constant (at most :data:`INFER_BARS` bars are held while inferring).
    """
    if not symbol:
        raise InputError("an OHLCV file names no symbol: pass the symbol", where=str(path), field="symbol")
    if bar_ns is not None and (type(bar_ns) is not int or bar_ns < 3):
        raise InputError(f"{bar_ns!r} is not a bar length in ns (an int >= 3)", where=str(path), field="bar_ns")
    bars = _bars(path)
    head: list[_BarLine] = []
    span_ns = bar_ns
    if span_ns is None:
        for bar in bars:
            head.append(bar)
            if len(head) >= INFER_BARS:
                break
        if len(head) == 1:
            raise InputError(
                "one bar only: its length cannot be inferred; pass bar_ns", where=head[0][5], field="timestamp"
            )
        gaps = [b[0] - a[0] for a, b in zip(head, head[1:])]
        for gap, bar in zip(gaps, head[1:]):
            if gap <= 0:
                raise InputError(
                    f"{bar[0]} ns is not after the previous bar's {bar[0] - gap} ns: bars must be in time order",
                    where=bar[5],
                    field="timestamp",
                )
        span_ns = min(gaps) if gaps else 3

    def ordered() -> Iterator[_BarLine]:
        yield from head
        yield from bars

    new, R, kind = _new, Row, TRADE
    next_open_ns = 0  # the earliest time the next bar may open (after this bar's close)
    previous: Decimal | None = None
    side = BUY
    for open_ns, o, h, low, c, where, volume in ordered():
        if open_ns < next_open_ns:
            raise InputError(
                f"{open_ns} ns opens before the previous bar ends at {next_open_ns} ns "
                f"(bar length {span_ns} ns{' inferred from the first bars: pass bar_ns' if bar_ns is None else ''}); "
                "bars must be in time order and not overlap",
                where=where,
                field="timestamp",
            )
        values = check_bar(o, h, low, c, where)
        next_open_ns = open_ns + span_ns
        path = bar_path(open_ns, span_ns, next_open_ns - 1, (o, h, low, c), values)
        for ts_ns, price, value in path[:3]:
            side = path_side(value, previous, side)
            previous = value
            yield new(R, (ts_ns, kind, symbol, side, price, "", "", where))
        ts_ns, price, value = path[3]  # the close: it carries the bar
        side = path_side(value, previous, side)
        previous = value
        yield new(R, (ts_ns, kind, symbol, side, price, "", bar_marker(open_ns, span_ns, o, h, low, c, volume, ""), where))


def sniff(file_name: str, head: list[str]) -> str | None:
    """``ohlcv`` when the first line is an OHLCV header (see the module doc)."""
    if not head:
        return None
    try:
        _header(head[0], "")
    except InputError:
        return None
    return "ohlcv"


READERS = {"ohlcv": read_ohlcv}
