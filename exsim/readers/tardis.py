"""Tardis CSV files (tardis.dev "normalized" layouts): trades, book, quotes, ticker, liquidations.

Every layout starts with ``exchange,symbol,timestamp,local_timestamp``; the header line is
required and must match exactly (a layout not listed here is refused). Timestamps are µs
since the epoch; ``timestamp`` is the exchange's time, ``local_timestamp`` the time Tardis
received the message.

=============================== ============================================================
format                          columns after the common four → rows
=============================== ============================================================
``tardis-trades``               ``id,side,price,amount`` → ``trade`` (side = aggressor)
``tardis-liquidations``         ``id,side,price,amount`` → ``liquidation``
``tardis-incremental_book_L2``  ``is_snapshot,side,price,amount`` → ``level`` (+ ``clear``)
``tardis-book_snapshot``        ``asks[0].price,asks[0].amount,bids[0].price,bids[0].amount,``
                                … for levels 0..N-1 (any N) → ``clear`` + ``level`` rows
``tardis-quotes``               ``ask_amount,ask_price,bid_price,bid_amount`` → ``quote``
``tardis-derivative_ticker``    ``funding_timestamp,funding_rate,predicted_funding_rate,
                                open_interest,last_price,index_price,mark_price`` →
                                ``mark``, ``index``, ``funding``
=============================== ============================================================

Mapping decisions:

* **Time = ``local_timestamp``** (µs × 1000 → ns). Tardis writes rows in the order it
  received the messages, i.e. in ``local_timestamp`` order; exchange ``timestamp``\\ s of
  different channels or messages can go backwards within that order, so only the local
  time gives the non-decreasing stream a replay needs. A ``local_timestamp`` that goes
  backwards raises :class:`~exsim.errors.InputError`.
* **Symbol**: each row's ``symbol`` column. Given a ``symbol`` argument, only that
  symbol's rows are yielded (Tardis also ships multi-symbol files); every row is still
  validated.
* **trades**: ``side`` buy/sell is the aggressor. ``unknown`` (some venues do not say)
  is refused: a replayed trade must know which side of the book it took.
* **liquidations**: ``side`` is the side of the venue's forced order (Tardis: ``buy`` =
  a short was liquidated, ``sell`` = a long), as :mod:`exsim.readers.rows` wants.
* **incremental_book_L2**: ``bid``/``ask`` → BUY/SELL; ``amount`` is the level's new
  absolute size (``0`` deletes), passed through verbatim. When a run of ``is_snapshot``
  = ``true`` rows of a symbol starts — at the start of the file or after that symbol's
  non-snapshot rows — a ``clear`` row (side ANY) comes first, so a re-sent snapshot
  replaces the book instead of adding to it.
* **book_snapshot_N**: each line is the whole top N, so it becomes a ``clear`` (side
  ANY) then one ``level`` row per non-empty level: bids best first, then asks best first.
  An empty price and amount is an absent level; one without the other is an error.
* **quotes**: a ``quote`` for the bid (BUY) then the ask (SELL); a side whose price and
  amount are both empty (no quote on that side) is skipped.
* **derivative_ticker**: a ``mark`` row when ``mark_price`` is present and differs
  (as text) from the symbol's last one, then likewise an ``index`` row for
  ``index_price``. Funding is inferred: ``funding_timestamp`` is the next settlement time,
  so when it **advances**, the settlement at the previous ``funding_timestamp`` has
  happened, at the last ``funding_rate`` seen before the advance (an empty rate does not
  erase it). A ``funding`` row with that rate comes first, at the previous
  ``funding_timestamp`` clamped into [previous line's time, this line's time] — the reader
  only learns of the settlement on this line and cannot emit into the past. No rate seen
  yet, or no ``funding_timestamp`` (continuous-funding venues such as Deribit): no
  ``funding`` rows. A ``funding_timestamp`` that goes back is an error.
  ``last_price``, ``open_interest`` and ``predicted_funding_rate`` are validated but not
  replayed.
* Prices and amounts must be unsigned decimal text (an exponent, as JavaScript writes
  small numbers — ``1e-7`` — is accepted); they are kept verbatim. Rates are signed. The
  ``exchange`` and exchange ``timestamp`` columns are not used and not validated.
* **Duplicates** (trades, liquidations): a row whose non-empty ``id`` equals the previous
  row's, for the same symbol, is an error — a repeated row would be replayed twice. Ids
  are the venue's text (not always numbers, not always ordered, sometimes empty), so only
  an immediate repeat is detectable. The other layouts carry no id; their rows are
  states (absolute level sizes, quotes, marks), which a repeat does not change.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from exsim.book.orders import BUY, SELL
from exsim.errors import InputError
from exsim.readers.opening import empty_file, numbered_lines
from exsim.readers.rows import (
    ANY,
    CLEAR,
    FUNDING,
    INDEX,
    LEVEL,
    LIQUIDATION,
    MARK,
    MAX_TS_NS,
    MIN_TS_NS,
    QUOTE,
    TRADE,
    Row,
    epoch_ns,
)

PREFIX = "exchange,symbol,timestamp,local_timestamp"
HEADERS: dict[str, str] = {
    "tardis-trades": PREFIX + ",id,side,price,amount",
    "tardis-liquidations": PREFIX + ",id,side,price,amount",
    "tardis-incremental_book_L2": PREFIX + ",is_snapshot,side,price,amount",
    "tardis-quotes": PREFIX + ",ask_amount,ask_price,bid_price,bid_amount",
    "tardis-derivative_ticker": PREFIX
    + ",funding_timestamp,funding_rate,predicted_funding_rate,open_interest,last_price,index_price,mark_price",
}

_TRADE_SIDES = {"buy": BUY, "sell": SELL}
_BOOK_SIDES = {"bid": BUY, "ask": SELL}
_UNSIGNED = re.compile(r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII).fullmatch
_SIGNED = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII).fullmatch
_SEEN_LIMIT = 1 << 16  # distinct validated price/amount strings remembered (bounded)
_NS_PER_US = 1_000
_new = tuple.__new__  # builds a NamedTuple without its Python-level __new__ (hot path)


# --------------------------------------------------------------------------- helpers


def snapshot_depth(header: str) -> int | None:
    """N of a ``book_snapshot_N`` header, or None if ``header`` is not one.

    >>> snapshot_depth(PREFIX + ",asks[0].price,asks[0].amount,bids[0].price,bids[0].amount")
    1
    >>> snapshot_depth(PREFIX + ",asks[0].price,asks[0].amount,bids[0].price") is None
    True
    """
    names = header.split(",")
    if ",".join(names[:4]) != PREFIX or len(names) < 8 or len(names) % 4:
        return None
    depth = (len(names) - 4) // 4
    return depth if names[4:] == _snapshot_names(depth) else None


def _snapshot_names(depth: int) -> list[str]:
    group = (("asks", "price"), ("asks", "amount"), ("bids", "price"), ("bids", "amount"))
    return [f"{side}[{i}].{what}" for i in range(depth) for side, what in group]


def _data_lines(path: str | Path, fmt: str, header: str) -> Iterator[tuple[int, str]]:
    """The numbered lines of ``path`` after its header, which must be ``header``."""
    lines = numbered_lines(path)
    for line_no, line in lines:
        if line.lstrip("\ufeff") != header:
            raise InputError(
                f"header {line[:200]!r} is not the {fmt} header {header[:200]!r}", where=f"{path}:{line_no}", field="header"
            )
        return lines
    raise empty_file(path, f"the {fmt} header {header[:200]!r}")


def _ts_ns(text: str, previous_ns: int, where: str) -> int:
    """``local_timestamp`` (µs) as ns, checked not to go back from ``previous_ns``."""
    ts_ns = epoch_ns(text, _NS_PER_US, where, "local_timestamp", "an integer count of microseconds since the epoch")
    if ts_ns < previous_ns:
        raise InputError(
            f"time goes backwards: {ts_ns} ns after {previous_ns} ns on an earlier row; "
            "Tardis files are in local_timestamp order (sort the file by it first)",
            where=where,
            field="local_timestamp",
        )
    return ts_ns


def _timed_lines(lines: Iterator[tuple[int, str]], name: str, n_fields: int, header: str) -> Iterator[tuple[str, list[str], int]]:
    """``(where, fields, ts_ns)`` for each data line: blank lines skipped, the field count
    checked, ``local_timestamp`` (the 4th field) parsed once per distinct text (the hot path;
    :func:`_ts_ns` explains a bad value)."""
    last_text = "\n"  # the previous time text; no field can equal "\n" (lines are split at newlines)
    ts_ns = 0
    for line_no, line in lines:
        parts = line.split(",")
        where = f"{name}:{line_no}"
        if len(parts) != n_fields:
            if not line:
                continue
            raise _field_count(line, n_fields, header, where)
        local = parts[3]
        if local != last_text:
            previous_ns = ts_ns
            if not (local.isascii() and local.isdigit() and len(local) < 18):
                _ts_ns(local, previous_ns, where)  # raises
            ts_ns = int(local) * _NS_PER_US
            if ts_ns < previous_ns or not MIN_TS_NS <= ts_ns < MAX_TS_NS:
                _ts_ns(local, previous_ns, where)  # raises
            last_text = local
        yield where, parts, ts_ns


def _field_count(line: str, n: int, header: str, where: str) -> InputError:
    return InputError(f"{line.count(',') + 1} fields; expected {n} ({header[:200]})", where=where, field="row")


def _check(seen: set[str], text: str, field: str, where: str) -> None:
    """Validate unsigned decimal text and remember it (a bounded set: prices repeat)."""
    if not _UNSIGNED(text):
        raise InputError(f"{text!r} is not an unsigned decimal number", where=where, field=field)
    if len(seen) >= _SEEN_LIMIT:
        seen.clear()
    seen.add(text)


def _no_symbol(where: str) -> InputError:
    return InputError("the symbol is empty", where=where, field="symbol")


# --------------------------------------------------------------------------- trades, liquidations


def _read_prints(path: str | Path, symbol: str | None, fmt: str, kind: int) -> Iterator[Row]:
    # The hot loop of the module: locals bound, a timestamp parsed only when its text
    # changes, each price/amount text validated once while it stays in a bounded set.
    header = HEADERS[fmt]
    new, R, sides = _new, Row, _TRADE_SIDES
    seen: set[str] = set()
    last_id = last_sym = ""  # the previous row's id and symbol
    for where, parts, ts_ns in _timed_lines(_data_lines(path, fmt, header), str(path), 8, header):
        _, sym, _, _, print_id, side_text, price, amount = parts
        if print_id == last_id and sym == last_sym and print_id:
            raise InputError(
                f"{print_id!r} repeats the previous row's id for {sym}: a duplicate row (it would be replayed twice)",
                where=where,
                field="id",
            )
        last_id, last_sym = print_id, sym
        side = sides.get(side_text)
        if side is None:
            raise InputError(
                f"{side_text!r} is not 'buy' or 'sell'"
                + (": the venue did not say which side was the aggressor" if side_text == "unknown" else ""),
                where=where,
                field="side",
            )
        if price not in seen:
            _check(seen, price, "price", where)
        if amount not in seen:
            _check(seen, amount, "amount", where)
        if not sym:
            raise _no_symbol(where)
        if symbol is None or sym == symbol:
            yield new(R, (ts_ns, kind, sym, side, price, amount, "", where))


def read_trades(path: str | Path, symbol: str | None = None) -> Iterator[Row]:
    """``trade`` rows of a Tardis ``trades`` CSV (see the module doc)."""
    return _read_prints(path, symbol, "tardis-trades", TRADE)


def read_liquidations(path: str | Path, symbol: str | None = None) -> Iterator[Row]:
    """``liquidation`` rows of a Tardis ``liquidations`` CSV (see the module doc)."""
    return _read_prints(path, symbol, "tardis-liquidations", LIQUIDATION)


# --------------------------------------------------------------------------- book


def read_incremental_book_l2(path: str | Path, symbol: str | None = None) -> Iterator[Row]:
    """``level`` rows (``clear`` before each snapshot run) of ``incremental_book_L2``."""
    fmt = "tardis-incremental_book_L2"
    header = HEADERS[fmt]
    new, R, kind, sides = _new, Row, LEVEL, _BOOK_SIDES
    seen: set[str] = set()
    in_snapshot: dict[str, bool] = {}  # symbol -> its last row was a snapshot row
    for where, parts, ts_ns in _timed_lines(_data_lines(path, fmt, header), str(path), 8, header):
        _, sym, _, _, snapshot, side_text, price, amount = parts
        side = sides.get(side_text)
        if side is None:
            raise InputError(f"{side_text!r} is not 'bid' or 'ask'", where=where, field="side")
        if price not in seen:
            _check(seen, price, "price", where)
        if amount not in seen:
            _check(seen, amount, "amount", where)
        if not sym:
            raise _no_symbol(where)
        wanted = symbol is None or sym == symbol
        if snapshot == "true":
            if not in_snapshot.get(sym):
                in_snapshot[sym] = True
                if wanted:
                    yield new(R, (ts_ns, CLEAR, sym, ANY, "", "", "", where))
        elif snapshot == "false":
            in_snapshot[sym] = False
        else:
            raise InputError(f"{snapshot!r} is not 'true' or 'false'", where=where, field="is_snapshot")
        if wanted:
            yield new(R, (ts_ns, kind, sym, side, price, amount, "", where))


def read_book_snapshot(path: str | Path, symbol: str | None = None) -> Iterator[Row]:
    """``clear`` + ``level`` rows of a ``book_snapshot_N`` CSV, one snapshot per line."""
    name = str(path)
    lines = numbered_lines(path)
    depth = None
    for line_no, line in lines:
        depth = snapshot_depth(line.lstrip("\ufeff"))
        if depth is None:
            raise InputError(
                f"header {line[:200]!r} is not a book_snapshot_N header ({PREFIX},"
                "asks[0].price,asks[0].amount,bids[0].price,bids[0].amount,… for levels 0..N-1)",
                where=f"{name}:{line_no}",
                field="header",
            )
        break
    if depth is None:
        raise empty_file(path, f"a book_snapshot_N header ({PREFIX},asks[0].price,…)")
    n_fields = 4 + 4 * depth
    header_text = f"{PREFIX},{','.join(_snapshot_names(depth))}"
    # (side, price column, amount column, price field name, amount field name): bids then asks
    levels = [(BUY, 6 + 4 * i, 7 + 4 * i, f"bids[{i}].price", f"bids[{i}].amount") for i in range(depth)]
    levels += [(SELL, 4 + 4 * i, 5 + 4 * i, f"asks[{i}].price", f"asks[{i}].amount") for i in range(depth)]
    new, R, kind = _new, Row, LEVEL
    seen: set[str] = set()
    for where, parts, ts_ns in _timed_lines(lines, name, n_fields, header_text):
        sym = parts[1]
        if not sym:
            raise _no_symbol(where)
        out = [new(R, (ts_ns, CLEAR, sym, ANY, "", "", "", where))]
        for side, i_price, i_amount, price_field, amount_field in levels:
            price = parts[i_price]
            amount = parts[i_amount]
            if not price and not amount:
                continue
            if price not in seen:
                _check(seen, price, price_field, where)
            if amount not in seen:
                _check(seen, amount, amount_field, where)
            out.append(new(R, (ts_ns, kind, sym, side, price, amount, "", where)))
        if symbol is None or sym == symbol:
            yield from out


def read_quotes(path: str | Path, symbol: str | None = None) -> Iterator[Row]:
    """``quote`` rows (bid BUY, then ask SELL; empty sides skipped) of a ``quotes`` CSV."""
    fmt = "tardis-quotes"
    header = HEADERS[fmt]
    new, R, kind = _new, Row, QUOTE
    seen: set[str] = set()
    for where, parts, ts_ns in _timed_lines(_data_lines(path, fmt, header), str(path), 8, header):
        _, sym, _, _, ask_amount, ask_price, bid_price, bid_amount = parts
        if not sym:
            raise _no_symbol(where)
        wanted = symbol is None or sym == symbol
        for side, price, amount, price_field, amount_field in (
            (BUY, bid_price, bid_amount, "bid_price", "bid_amount"),
            (SELL, ask_price, ask_amount, "ask_price", "ask_amount"),
        ):
            if not price and not amount:
                continue
            if price not in seen:
                _check(seen, price, price_field, where)
            if amount not in seen:
                _check(seen, amount, amount_field, where)
            if wanted:
                yield new(R, (ts_ns, kind, sym, side, price, amount, "", where))


# --------------------------------------------------------------------------- derivative ticker


def read_derivative_ticker(path: str | Path, symbol: str | None = None) -> Iterator[Row]:
    """``mark``, ``index`` and inferred ``funding`` rows of ``derivative_ticker``."""
    fmt = "tardis-derivative_ticker"
    header = HEADERS[fmt]
    name = str(path)
    # symbol -> [last mark text, last index text, funding_timestamp ns (or None), last funding rate text]
    state: dict[str, list] = {}  # type: ignore[type-arg]
    ts_ns = 0
    for line_no, line in _data_lines(path, fmt, header):
        if not line:
            continue
        where = f"{name}:{line_no}"
        parts = line.split(",")
        if len(parts) != 11:
            raise _field_count(line, 11, header, where)
        _, sym, _, local, funding_ts, funding_rate, predicted, open_interest, last_price, index_price, mark_price = parts
        previous_ns = ts_ns
        ts_ns = _ts_ns(local, ts_ns, where)
        if not sym:
            raise _no_symbol(where)
        for text, field, pattern in (
            (funding_rate, "funding_rate", _SIGNED),
            (predicted, "predicted_funding_rate", _SIGNED),
            (open_interest, "open_interest", _UNSIGNED),
            (last_price, "last_price", _UNSIGNED),
            (index_price, "index_price", _UNSIGNED),
            (mark_price, "mark_price", _UNSIGNED),
        ):
            if text and not pattern(text):
                what = "a decimal number" if pattern is _SIGNED else "an unsigned decimal number"
                raise InputError(f"{text!r} is not {what}", where=where, field=field)
        st = state.get(sym)
        if st is None:
            st = state[sym] = ["", "", None, ""]
        wanted = symbol is None or sym == symbol
        if funding_ts:
            funding_ns = epoch_ns(
                funding_ts, _NS_PER_US, where, "funding_timestamp", "an integer count of microseconds since the epoch"
            )
            settled_ns = st[2]
            if settled_ns is not None and funding_ns != settled_ns:
                if funding_ns < settled_ns:
                    raise InputError(
                        f"{funding_ns} ns goes back from the previous funding_timestamp {settled_ns} ns",
                        where=where,
                        field="funding_timestamp",
                    )
                if st[3] and wanted:
                    yield Row(min(max(settled_ns, previous_ns), ts_ns), FUNDING, sym, ANY, "", "", st[3], where)
            st[2] = funding_ns
        if funding_rate:
            st[3] = funding_rate
        if mark_price and mark_price != st[0]:
            st[0] = mark_price
            if wanted:
                yield Row(ts_ns, MARK, sym, ANY, mark_price, "", "", where)
        if index_price and index_price != st[1]:
            st[1] = index_price
            if wanted:
                yield Row(ts_ns, INDEX, sym, ANY, index_price, "", "", where)


# --------------------------------------------------------------------------- detection


def sniff(file_name: str, head: list[str]) -> str | None:
    """The Tardis format of a file from its header (and, for the layout that trades and
    liquidations share, its name: ``…_liquidations_…`` / ``…_trades_…``), or None.

    >>> sniff("bitmex_trades_XBTUSD.csv", [HEADERS["tardis-trades"]])
    'tardis-trades'
    >>> sniff("x.csv", [HEADERS["tardis-trades"]]) is None
    True
    """
    if not head:
        return None
    first = head[0].lstrip("\ufeff")
    if first == HEADERS["tardis-trades"]:
        lname = file_name.lower()
        if "liquidation" in lname:
            return "tardis-liquidations"
        if "trade" in lname:
            return "tardis-trades"
        return None
    for fmt, header in HEADERS.items():
        if first == header:
            return fmt
    if snapshot_depth(first) is not None:
        return "tardis-book_snapshot"
    return None


READERS = {
    "tardis-trades": read_trades,
    "tardis-incremental_book_L2": read_incremental_book_l2,
    "tardis-book_snapshot": read_book_snapshot,
    "tardis-quotes": read_quotes,
    "tardis-derivative_ticker": read_derivative_ticker,
    "tardis-liquidations": read_liquidations,
}
