"""Binance public data CSVs (data.binance.vision, USDⓈ-M and COIN-M futures): trades, bars, funding.

=============================== ==================================================================
format                          columns (the header line, when the file has one)
=============================== ==================================================================
``binance-trades``              ``id,price,qty,quote_qty,time,is_buyer_maker`` (COIN-M:
                                ``id,price,qty,base_qty,time,is_buyer_maker``)
``binance-aggTrades``           ``agg_trade_id,price,quantity,first_trade_id,last_trade_id,
                                transact_time,is_buyer_maker``
``binance-bookTicker``          ``update_id,best_bid_price,best_bid_qty,best_ask_price,
                                best_ask_qty,transaction_time,event_time``
``binance-klines``              ``open_time,open,high,low,close,volume,close_time,quote_volume,
                                count,taker_buy_volume,taker_buy_quote_volume,ignore``
``binance-markPriceKlines``     the same twelve kline columns
``binance-indexPriceKlines``    the same twelve kline columns
``binance-premiumIndexKlines``  the same twelve kline columns
``binance-fundingRate``         ``calc_time,funding_interval_hours,last_funding_rate``
=============================== ==================================================================

COIN-M files (``futures/cm/...``, symbols ``BTCUSD_PERP``, ``ETHUSD_240927``) have the same
layouts but for ``trades``, whose header is ``id,price,qty,base_qty,time,is_buyer_maker``
(:data:`COINM_TRADES_HEADER`): ``qty`` is in contracts (100 USD each for BTCUSD_PERP, 10 for
the others) and ``base_qty`` its value in the coin, which is not read (the inverse instrument
computes it exactly). In the other COIN-M files ``quantity`` / ``best_bid_qty`` / kline
``volume`` are contracts too, and a kline's eighth column, headed ``quote_volume`` as in the
USDⓈ-M files, holds the *base* (coin) volume (binance-public-data issues #267, #283; not
read either). COIN-M index klines are named by the pair (``indexPriceKlines/BTCUSD/1m/
BTCUSD-1m-...``): pass the contract as the symbol. A COIN-M file is known by its trades
header, else by its symbol (the file name's or the one given); its quantities must be whole
contracts (:class:`~exsim.errors.OffGridError` naming the row and field otherwise), and a
trades header of one market under a symbol of the other is an error naming the header line.

Mapping decisions:

* **Header or not**: older files have no header line. A first line that starts with a
  digit is data; otherwise it must be the format's header exactly (a byte-order mark is
  tolerated), else :class:`~exsim.errors.InputError` naming the ``header`` field.
* **Time**: epoch milliseconds; a value >= 1e15 is read as **microseconds** (Binance
  moved its spot files to µs from 2025-01-01, and may do so elsewhere; 1e15 ms would be
  the year 33658, 1e15 µs is 2001). Converted to ns with integer arithmetic. ASCII
  digits only, and within the readers' window 2009-01-01 .. 2100-01-01 UTC
  (:data:`~exsim.readers.rows.TIME_WINDOW`): a time outside it is a typo or a wrong unit.
  Rows must come in non-decreasing time. Binance has published a few files that are not
  (``binance/binance-public-data`` issues #305, bookTicker 2024-01, and #339, aggTrades
  2023-05): they raise an error naming the row, to be sorted first — a reader that
  silently reorders could not stream.
* **Symbol**: the files hold none; it is the ``symbol`` argument, else the first part of
  the Binance file name (``BTCUSDT-aggTrades-2024-08-08.csv[.zip]``,
  ``BTCUSDT-1m-2024-08-08.zip`` → ``BTCUSDT``), else an error.
* ``trades`` / ``aggTrades`` → one ``trade`` row each at ``time`` / ``transact_time``.
  The aggressor is SELL when ``is_buyer_maker`` is true (the resting order was the bid),
  else BUY. ``qty`` / ``quantity`` is the size.
* ``bookTicker`` → two ``quote`` rows at ``transaction_time`` (the matching engine's
  time; ``event_time`` is when the message left): the best bid (side BUY) then the best ask
  (side SELL).
* ``klines`` (last price) → a price path of four ``trade`` rows of unknown size (``qty``
  ``''``): open at ``open_time``, the two extremes at ``open_time + d/3`` and
  ``open_time + 2d/3`` — the extreme nearer the open first (the bar model of
  :mod:`exsim.readers.ohlcv`) — and close
  at ``close_time``; ``d = close_time + 1 unit − open_time`` in integer ns (one unit =
  1 ms, or 1 µs in a µs file). Sides follow the direction of each move, as for OHLCV bars
  (:mod:`exsim.readers.ohlcv`). ``high >= max(open, close)`` and ``low <= min(open,
  close)`` are checked as ``Decimal``.
* ``markPriceKlines`` / ``indexPriceKlines`` → the same four-point path as ``mark`` /
  ``index`` rows (no side).
* ``premiumIndexKlines`` → one ``premium`` row per bar at ``close_time`` with ``rate`` =
  the close (the premium index at the end of the bar; Binance averages these samples into
  the funding rate). Open, high and low must be decimal text but are not otherwise used,
  so their order is not checked.
* ``fundingRate`` → one ``funding`` row at ``calc_time`` with ``rate`` =
  ``last_funding_rate``.
* **Duplicates**: the trade id (``id``, ``agg_trade_id``) must be a whole number that
  increases from row to row, and ``calc_time`` of ``fundingRate`` too: a repeated row
  (two downloads concatenated, an overlap) would replay a print twice or settle funding
  twice, so it is an error naming the row. A repeated kline starts before the previous
  one ended (an ``open_time`` error). ``bookTicker``'s ``update_id`` is not checked: a
  repeated quote is the same state again and changes nothing.
* A last-price kline's close point carries the kline itself in its ``rate``
  (:func:`~exsim.readers.rows.bar_marker`: OHLC, ``volume`` and ``count``, both checked),
  which the replay delivers to a strategy's ``on_bar`` (:mod:`exsim.replay.bars`).
* Columns the mapping does not use (quote quantities, first/last trade ids, the volumes
  and counts of mark, index and premium klines, ``event_time``) are not validated: checking them would slow every
  row for no effect on the replay. The used ones are; prices and quantities must be
  unsigned decimal text (kept verbatim), rates and premiums signed.

**Format detection** (:func:`sniff`): by header, else by the shape of the first line.
The four kline formats share one layout and Binance gives their files the same name
(``BTCUSDT-1m-2024-08-08.zip`` under ``klines/``, ``markPriceKlines/``, …), so the kind
comes from the name or path passed in (``markPriceKlines``, ``indexPriceKlines``,
``premiumIndexKlines``, ``klines``), else from the data: a non-zero volume in the first
rows means last-price klines (the other three always report 0). Otherwise :func:`sniff`
returns None and the format must be given.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal
from itertools import chain
from pathlib import Path

from exsim.book.orders import BUY, SELL
from exsim.errors import InputError, OffGridError
from exsim.readers.ohlcv import bar_path, check_bar, path_side
from exsim.readers.opening import empty_file, numbered_lines
from exsim.readers.symbols import COINM, symbol_market
from exsim.readers.rows import (
    ANY,
    FUNDING,
    INDEX,
    MARK,
    MAX_TS_NS,
    MIN_TS_NS,
    PREMIUM,
    QUOTE,
    TRADE,
    Row,
    bar_marker,
    shown,
    ts_in_window,
)
from exsim.units import to_int

KLINE_HEADER = (
    "open_time,open,high,low,close,volume,close_time,quote_volume,count,"
    "taker_buy_volume,taker_buy_quote_volume,ignore"
)
HEADERS: dict[str, str] = {
    "binance-trades": "id,price,qty,quote_qty,time,is_buyer_maker",
    "binance-aggTrades": "agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker",
    "binance-bookTicker": "update_id,best_bid_price,best_bid_qty,best_ask_price,best_ask_qty,transaction_time,event_time",
    "binance-klines": KLINE_HEADER,
    "binance-markPriceKlines": KLINE_HEADER,
    "binance-indexPriceKlines": KLINE_HEADER,
    "binance-premiumIndexKlines": KLINE_HEADER,
    "binance-fundingRate": "calc_time,funding_interval_hours,last_funding_rate",
}

#: the trades header of Binance's COIN-M files (``futures/cm``): ``qty`` in contracts,
#: ``base_qty`` their value in the coin (not used: the instrument computes it)
COINM_TRADES_HEADER = "id,price,qty,base_qty,time,is_buyer_maker"

#: an epoch value at or above this is microseconds, below it milliseconds
MICROS_FROM = 10**15
_NS_PER_MS = 1_000_000
_NS_PER_US = 1_000

_MAKER_SIDE = {"true": SELL, "false": BUY, "True": SELL, "False": BUY}  # is_buyer_maker -> aggressor
_UNSIGNED = re.compile(r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII).fullmatch
_SIGNED = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII).fullmatch
_FILE_NAME = re.compile(
    r"([A-Z0-9]+(?:_[A-Z0-9]+)?)-"
    r"(?:(?:trades|aggTrades|bookTicker|fundingRate|markPriceKlines|indexPriceKlines|premiumIndexKlines|klines)"
    r"(?:-\d+(?:s|m|h|d|w|mo))?"  # (a kline kind and its interval, as files renamed out of their folders often are)
    r"|\d+(?:s|m|h|d|w|mo))-\d{4}-\d{2}(?:-\d{2})?(?:\.|$)",
    re.ASCII | re.IGNORECASE,
)
_COINM_PAIR = re.compile(r"[A-Z0-9]+USD", re.ASCII).fullmatch  # futures/cm index files: BTCUSD
_WHOLE = re.compile(r"\d+(?:\.0*)?", re.ASCII).fullmatch  # a whole number written plainly ('83', '83.0')
_SEEN_LIMIT = 1 << 16  # distinct validated price/qty strings remembered (bounded: constant memory)
_new = tuple.__new__  # builds a NamedTuple without its Python-level __new__ (hot path)


# --------------------------------------------------------------------------- helpers


def file_symbol(path: str | Path, symbol: str | None) -> str:
    """``symbol`` if given, else the symbol at the start of a Binance file name.

    >>> file_symbol("data/BTCUSDT-aggTrades-2024-08-08.csv.zip", None)
    'BTCUSDT'
    >>> file_symbol("BTCUSDT_240927-1m-2024-08.zip", None), file_symbol("x.csv", "ETHUSDT")
    ('BTCUSDT_240927', 'ETHUSDT')
    >>> file_symbol("XRPUSDT-markPriceKlines-1m-2024-03-01.csv", None)  # kind and interval, renamed out of its folder
    'XRPUSDT'
    """
    if symbol:
        return symbol
    m = _FILE_NAME.match(Path(path).name)
    if m is None:
        raise InputError(
            f"the file name {Path(path).name!r} does not start with a Binance symbol "
            "('BTCUSDT-aggTrades-2024-08-08.csv'); pass the symbol",
            where=str(path),
            field="symbol",
        )
    return m.group(1).upper()


def _ts_ns(text: str, where: str, field: str) -> tuple[int, int]:
    """``(ts_ns, unit_ns)`` of an epoch in ms (or µs when >= :data:`MICROS_FROM`), in
    the readers' time window (:data:`~exsim.readers.rows.TIME_WINDOW`)."""
    try:
        value = to_int(text, field=field, where=where, plain=True)
    except InputError:
        raise InputError(
            f"{shown(text)} is not an integer epoch time in milliseconds (or microseconds)", where=where, field=field
        ) from None
    unit_ns = _NS_PER_US if value >= MICROS_FROM else _NS_PER_MS
    return ts_in_window(value * unit_ns, text, where, field), unit_ns


def _backwards(ts_ns: int, last_ns: int, where: str, field: str) -> InputError:
    return InputError(
        f"time goes backwards: {ts_ns} ns after {last_ns} ns on an earlier row; "
        f"rows must be in non-decreasing {field} (sort the file by that column first)",
        where=where,
        field=field,
    )


def _field_count(line: str, n: int, fmt: str, where: str) -> InputError:
    return InputError(
        f"{line.count(',') + 1} fields; expected {n} ({HEADERS[fmt]})", where=where, field="row"
    )


def _check(seen: set[str], text: str, field: str, name: str, line_no: int) -> None:
    """Validate unsigned decimal text and remember it (a bounded set: prices repeat)."""
    if not _UNSIGNED(text):
        raise InputError(f"{text!r} is not an unsigned decimal number", where=f"{name}:{line_no}", field=field)
    if len(seen) >= _SEEN_LIMIT:
        seen.clear()
    seen.add(text)


def _data_lines(path: str | Path, fmt: str) -> Iterator[tuple[int, str]]:
    """The numbered lines of ``path`` after its header line, if it has one."""
    return _headed_lines(path, fmt)[0]


def _headed_lines(path: str | Path, fmt: str, other: str = "") -> tuple[Iterator[tuple[int, str]], str, int]:
    """``(numbered lines after the header, the header ('' if none), its line number)``;
    the header must be the format's or ``other`` (the COIN-M variant of a layout)."""
    lines = numbered_lines(path)
    for line_no, line in lines:
        first = line.lstrip("\ufeff")
        if not first:
            continue
        if first[0].isdigit():
            return chain(((line_no, first),), lines), "", line_no
        if first == HEADERS[fmt] or (other and first == other):
            return lines, first, line_no
        also = f" or {other!r}" if other else ""
        raise InputError(
            f"header {line[:200]!r} is not the {fmt} header {HEADERS[fmt]!r}{also} "
            "(a file without a header starts with a digit)",
            where=f"{path}:{line_no}",
            field="header",
        )
    raise empty_file(path, f"the {fmt} header {HEADERS[fmt]!r} or data rows")


def _check_contracts(text: str, where: str, field: str) -> None:
    """A COIN-M quantity is a whole number of contracts: :class:`OffGridError` otherwise."""
    if _WHOLE(text):
        return
    if _UNSIGNED(text) and Decimal(text) == Decimal(text).to_integral_value():
        return
    raise OffGridError(f"{shown(text)} is not a whole number of contracts (a COIN-M quantity)", where=where, field=field)


def _header_market(path: str | Path, header: str, header_line: int, sym: str, symbol_given: bool) -> bool:
    """Whether a trades file is COIN-M (by its header, else by its symbol); an error naming
    the header line when the header's market is not the symbol's."""
    by_symbol = symbol_market(sym) == COINM
    if not header:
        return by_symbol
    by_header = header == COINM_TRADES_HEADER
    if by_header != by_symbol:
        source = "--symbol" if symbol_given else "the symbol of its file name"
        if by_header:
            what = f"a COIN-M trades file (its header has base_qty: quantities in contracts), but {source} {sym} is a USDⓈ-M symbol; pass the file's COIN-M symbol (such as BTCUSD_PERP)"
        else:
            what = f"a USDⓈ-M trades file (its header has quote_qty), but {source} {sym} is a COIN-M symbol; pass the file's USDⓈ-M symbol (such as BTCUSDT)"
        raise InputError(what, where=f"{path}:{header_line}", field="symbol")
    return by_header


# --------------------------------------------------------------------------- trades


def _id_not_after(text: str, last: str, where: str, field: str) -> InputError:
    """The error of a trade id that is not a whole number after the previous row's."""
    try:
        to_int(text, field=field, where=where, plain=True)
    except InputError:
        return InputError(f"{shown(text)} is not a whole-number trade id", where=where, field=field)
    if last and int(text) == int(last):
        return InputError(
            f"{text} repeats the previous row's {field}: a duplicate trade (it would be replayed twice); "
            "each id appears once, increasing",
            where=where,
            field=field,
        )
    return InputError(
        f"{text} is not after the previous row's {field} {last}: ids increase through the file "
        "(a repeated or out-of-order row; sort the file and drop duplicates first)",
        where=where,
        field=field,
    )


def _read_trades(
    path: str | Path, symbol: str | None, fmt: str, n_fields: int, i_price: int, i_qty: int, i_time: int, i_maker: int
) -> Iterator[Row]:
    # The hot loop of the module (aggTrades files run to tens of millions of rows): locals
    # bound, a timestamp parsed only when its text changes, each price/qty text validated
    # once while it stays in a bounded set, rows built with tuple.__new__. The trade id
    # (column 0) must increase: compared as text while its length stays the same (digit
    # strings of one length compare as the numbers do), checked to be digits and compared
    # as numbers when the length changes.
    sym = file_symbol(path, symbol)
    name = str(path)
    columns = HEADERS[fmt].split(",")
    time_field, price_field, qty_field, maker_field = columns[i_time], columns[i_price], columns[i_qty], columns[i_maker]
    id_field = columns[0]
    new, R, kind, sides = _new, Row, TRADE, _MAKER_SIDE
    seen: set[str] = set()
    own = fmt == "binance-trades"  # (only the trades layout differs by market: aggTrades' header is shared)
    data_lines, header, header_line = _headed_lines(path, fmt, COINM_TRADES_HEADER if own else "")
    contracts = _header_market(path, header if own else "", header_line, sym, bool(symbol))  # COIN-M: whole contracts
    whole: set[str] = set()  # quantities checked to be whole contracts (bounded)
    last_text = "\n"  # the previous time text; no field can equal "\n" (lines are split at newlines)
    last_id = ""  # the previous row's trade id text
    n_id = -1  # its length (digits validated when the length changes)
    ts_ns = 0
    for line_no, line in data_lines:
        parts = line.split(",")
        if len(parts) != n_fields:
            if not line:
                continue
            raise _field_count(line, n_fields, fmt, f"{name}:{line_no}")
        t = parts[i_time]
        if t != last_text:
            previous_ns = ts_ns
            if not (t.isascii() and t.isdigit() and len(t) < 20):
                _ts_ns(t, f"{name}:{line_no}", time_field)  # raises
            ts_ns = int(t)
            ts_ns = ts_ns * 1_000 if ts_ns >= MICROS_FROM else ts_ns * 1_000_000
            if not MIN_TS_NS <= ts_ns < MAX_TS_NS:
                ts_in_window(ts_ns, t, f"{name}:{line_no}", time_field)  # raises
            if ts_ns < previous_ns:
                raise _backwards(ts_ns, previous_ns, f"{name}:{line_no}", time_field)
            last_text = t
        tid = parts[0]
        if tid <= last_id or len(tid) != n_id:  # the same length: text order is number order
            if not (tid.isascii() and tid.isdigit() and len(tid) <= 60) or (last_id and int(tid) <= int(last_id)):
                raise _id_not_after(tid, last_id, f"{name}:{line_no}", id_field)
            n_id = len(tid)
        last_id = tid
        maker = parts[i_maker]
        if maker in sides:
            side = sides[maker]
        else:
            raise InputError(f"{maker!r} is not 'true' or 'false'", where=f"{name}:{line_no}", field=maker_field)
        price = parts[i_price]
        qty = parts[i_qty]
        if price not in seen:
            _check(seen, price, price_field, name, line_no)
        if qty not in seen:
            _check(seen, qty, qty_field, name, line_no)
        if contracts and qty not in whole:
            _check_contracts(qty, f"{name}:{line_no}", qty_field)
            if len(whole) >= _SEEN_LIMIT:
                whole.clear()
            whole.add(qty)
        yield new(R, (ts_ns, kind, sym, side, price, qty, "", f"{name}:{line_no}"))


def read_trades(path: str | Path, symbol: str | None = None) -> Iterator[Row]:
    """``trade`` rows of a Binance futures ``trades`` CSV (see the module doc)."""
    return _read_trades(path, symbol, "binance-trades", 6, 1, 2, 4, 5)


def read_agg_trades(path: str | Path, symbol: str | None = None) -> Iterator[Row]:
    """``trade`` rows of a Binance futures ``aggTrades`` CSV (see the module doc)."""
    return _read_trades(path, symbol, "binance-aggTrades", 7, 1, 2, 5, 6)


def read_book_ticker(path: str | Path, symbol: str | None = None) -> Iterator[Row]:
    """``quote`` rows (best bid, then best ask) of a Binance ``bookTicker`` CSV."""
    sym = file_symbol(path, symbol)
    name = str(path)
    new, R, kind = _new, Row, QUOTE
    seen: set[str] = set()
    contracts = symbol_market(sym) == COINM  # COIN-M sizes: whole contracts
    last_text = "\n"  # the previous time text; no field can equal "\n" (lines are split at newlines)
    ts_ns = 0
    for line_no, line in _data_lines(path, "binance-bookTicker"):
        parts = line.split(",")
        if len(parts) != 7:
            if not line:
                continue
            raise _field_count(line, 7, "binance-bookTicker", f"{name}:{line_no}")
        _, bid_px, bid_qty, ask_px, ask_qty, t, _ = parts
        if t != last_text:
            previous_ns = ts_ns
            if not (t.isascii() and t.isdigit() and len(t) < 20):
                _ts_ns(t, f"{name}:{line_no}", "transaction_time")  # raises
            ts_ns = int(t)
            ts_ns = ts_ns * 1_000 if ts_ns >= MICROS_FROM else ts_ns * 1_000_000
            if not MIN_TS_NS <= ts_ns < MAX_TS_NS:
                ts_in_window(ts_ns, t, f"{name}:{line_no}", "transaction_time")  # raises
            if ts_ns < previous_ns:
                raise _backwards(ts_ns, previous_ns, f"{name}:{line_no}", "transaction_time")
            last_text = t
        if bid_px not in seen:
            _check(seen, bid_px, "best_bid_price", name, line_no)
        if bid_qty not in seen:
            _check(seen, bid_qty, "best_bid_qty", name, line_no)
        if ask_px not in seen:
            _check(seen, ask_px, "best_ask_price", name, line_no)
        if ask_qty not in seen:
            _check(seen, ask_qty, "best_ask_qty", name, line_no)
        where = f"{name}:{line_no}"
        if contracts:
            _check_contracts(bid_qty, where, "best_bid_qty")
            _check_contracts(ask_qty, where, "best_ask_qty")
        yield new(R, (ts_ns, kind, sym, BUY, bid_px, bid_qty, "", where))
        yield new(R, (ts_ns, kind, sym, SELL, ask_px, ask_qty, "", where))


# --------------------------------------------------------------------------- bars, funding


def _fields(line: str, n: int, fmt: str, where: str) -> list[str]:
    parts = line.split(",")
    if len(parts) != n:
        raise _field_count(line, n, fmt, where)
    return parts


def _read_klines(path: str | Path, symbol: str | None, fmt: str, kind: int) -> Iterator[Row]:
    sym = file_symbol(path, symbol)
    if kind == INDEX and not symbol and _COINM_PAIR(sym) and "/cm/" in Path(path).as_posix():
        raise InputError(
            f"a COIN-M index file is named by its pair {sym}, which BTCUSD_PERP-like perpetuals and the quarterly "
            f"contracts share; pass the contract it is the index of (--symbol {sym}_PERP)",
            where=str(path),
            field="symbol",
        )
    name = str(path)
    last_ns = 0
    previous: Decimal | None = None  # the last path point's price (trade sides)
    side = BUY
    for line_no, line in _data_lines(path, fmt):
        if not line:
            continue
        where = f"{name}:{line_no}"
        parts = _fields(line, 12, fmt, where)
        open_ns = _ts_ns(parts[0], where, "open_time")[0]
        close_ns, unit_ns = _ts_ns(parts[6], where, "close_time")
        if open_ns < last_ns:
            raise _backwards(open_ns, last_ns, where, "open_time")
        span_ns = close_ns + unit_ns - open_ns
        if open_ns + 2 * span_ns // 3 > close_ns:
            raise InputError(
                f"{parts[6]} is not at least two time units after open_time {parts[0]}", where=where, field="close_time"
            )
        o, h, low, c = parts[1:5]
        last_ns = close_ns
        if kind == PREMIUM:
            for text, field in zip((o, h, low, c), ("open", "high", "low", "close"), strict=True):
                if not _SIGNED(text):
                    raise InputError(f"{text!r} is not a decimal number", where=where, field=field)
            yield Row(close_ns, PREMIUM, sym, ANY, "", "", c, where)
            continue
        values = check_bar(o, h, low, c, where)
        if kind == TRADE:  # the kline's volume and trade count go to on_bar (exsim.replay.bars)
            if not _UNSIGNED(parts[5]):
                raise InputError(f"{shown(parts[5])} is not an unsigned decimal number", where=where, field="volume")
            if not (parts[8].isascii() and parts[8].isdigit() and len(parts[8]) <= 20):
                raise InputError(f"{shown(parts[8])} is not a whole number of trades", where=where, field="count")
        for i, (ts_ns, price, value) in enumerate(bar_path(open_ns, span_ns, close_ns, (o, h, low, c), values)):
            if kind == TRADE:
                side = path_side(value, previous, side)
                previous = value
                # the close point carries the kline itself, for on_bar (exsim.replay.bars)
                marker = bar_marker(open_ns, span_ns, o, h, low, c, parts[5], parts[8]) if i == 3 else ""
                yield Row(ts_ns, TRADE, sym, side, price, "", marker, where)
            else:
                yield Row(ts_ns, kind, sym, ANY, price, "", "", where)


def read_klines(path: str | Path, symbol: str | None = None) -> Iterator[Row]:
    """``trade`` rows (a four-point price path per bar) of last-price ``klines``."""
    return _read_klines(path, symbol, "binance-klines", TRADE)


def read_mark_price_klines(path: str | Path, symbol: str | None = None) -> Iterator[Row]:
    """``mark`` rows (a four-point path per bar) of ``markPriceKlines``."""
    return _read_klines(path, symbol, "binance-markPriceKlines", MARK)


def read_index_price_klines(path: str | Path, symbol: str | None = None) -> Iterator[Row]:
    """``index`` rows (a four-point path per bar) of ``indexPriceKlines``."""
    return _read_klines(path, symbol, "binance-indexPriceKlines", INDEX)


def read_premium_index_klines(path: str | Path, symbol: str | None = None) -> Iterator[Row]:
    """``premium`` rows (each bar's close, at its close time) of ``premiumIndexKlines``."""
    return _read_klines(path, symbol, "binance-premiumIndexKlines", PREMIUM)


def read_funding_rate(path: str | Path, symbol: str | None = None) -> Iterator[Row]:
    """``funding`` rows of a Binance ``fundingRate`` CSV (rate = ``last_funding_rate``)."""
    sym = file_symbol(path, symbol)
    name = str(path)
    last_ns = -1
    for line_no, line in _data_lines(path, "binance-fundingRate"):
        if not line:
            continue
        where = f"{name}:{line_no}"
        calc_time, hours, rate = _fields(line, 3, "binance-fundingRate", where)
        ts_ns = _ts_ns(calc_time, where, "calc_time")[0]
        if ts_ns < last_ns:
            raise _backwards(ts_ns, last_ns, where, "calc_time")
        if ts_ns == last_ns:
            raise InputError(
                f"{calc_time} repeats the previous row's calc_time: a duplicate settlement (funding would be "
                "paid twice); each calc_time appears once",
                where=where,
                field="calc_time",
            )
        last_ns = ts_ns
        if not (hours.isascii() and hours.isdigit() and len(hours) <= 4):
            raise InputError(f"{hours!r} is not a whole number of hours", where=where, field="funding_interval_hours")
        if not _SIGNED(rate):
            raise InputError(f"{rate!r} is not a decimal rate", where=where, field="last_funding_rate")
        yield Row(ts_ns, FUNDING, sym, ANY, "", "", rate, where)


# --------------------------------------------------------------------------- detection


def _is_epoch(text: str) -> bool:
    return text.isascii() and text.isdigit() and 12 <= len(text) <= 16


def _kline_kind(file_name: str, data_lines: list[str]) -> str | None:
    lname = file_name.lower()
    for word, fmt in (
        ("premiumindex", "binance-premiumIndexKlines"),
        ("markprice", "binance-markPriceKlines"),
        ("indexprice", "binance-indexPriceKlines"),
        ("kline", "binance-klines"),
    ):
        if word in lname:
            return fmt
    for line in data_lines:  # only last-price klines trade volume
        parts = line.split(",")
        if len(parts) == 12 and _UNSIGNED(parts[5]) and Decimal(parts[5]) != 0:
            return "binance-klines"
    return None


def sniff(file_name: str, head: list[str]) -> str | None:
    """The Binance format of a file from its name (or path) and first lines, or None.

    >>> sniff("BTCUSDT-aggTrades-2024-08-08.csv", ["2266000000,61800.30,0.006,5141000000,5141000001,1723075200001,true"])
    'binance-aggTrades'
    >>> mark_bar = "1723075200000,57002.6,57081.5,56977.3,57050.9,0,1723075259999,0,60,0,0,0"
    >>> sniff("BTCUSDT-1m-2024-08-08.csv", [KLINE_HEADER, mark_bar]) is None  # zero volume: which kind?
    True
    >>> sniff("markPriceKlines/BTCUSDT/1m/BTCUSDT-1m-2024-08-08.zip", [KLINE_HEADER])
    'binance-markPriceKlines'
    """
    if not head:
        return None
    first = head[0].lstrip("\ufeff")
    if first == KLINE_HEADER:
        return _kline_kind(file_name, head[1:])
    if first == COINM_TRADES_HEADER:
        return "binance-trades"
    for fmt, header in HEADERS.items():
        if first == header:
            return fmt
    parts = first.split(",")
    if not first[:1].isdigit() or not all(parts):
        return None
    n = len(parts)
    if n == 6 and _is_epoch(parts[4]) and parts[5] in _MAKER_SIDE and _UNSIGNED(parts[1]) and _UNSIGNED(parts[2]):
        return "binance-trades"
    if n == 7 and _is_epoch(parts[5]) and _UNSIGNED(parts[1]) and _UNSIGNED(parts[2]):
        if parts[6] in _MAKER_SIDE:
            return "binance-aggTrades"
        if _is_epoch(parts[6]) and _UNSIGNED(parts[3]) and _UNSIGNED(parts[4]):
            return "binance-bookTicker"
    if n == 12 and _is_epoch(parts[0]) and _is_epoch(parts[6]) and all(_SIGNED(p) for p in parts[1:5]):
        return _kline_kind(file_name, head)
    if n == 3 and _is_epoch(parts[0]) and parts[1].isdigit() and _SIGNED(parts[2]):
        return "binance-fundingRate"
    return None


READERS = {
    "binance-trades": read_trades,
    "binance-aggTrades": read_agg_trades,
    "binance-bookTicker": read_book_ticker,
    "binance-klines": read_klines,
    "binance-markPriceKlines": read_mark_price_klines,
    "binance-indexPriceKlines": read_index_price_klines,
    "binance-premiumIndexKlines": read_premium_index_klines,
    "binance-fundingRate": read_funding_rate,
}
