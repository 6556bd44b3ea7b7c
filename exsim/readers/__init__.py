"""Readers: market-data files in, normalized :class:`~exsim.readers.rows.Row` streams out.

The first stage of the pipeline. A reader knows one file layout and nothing of books,
margin or instruments; it streams (constant memory), validates each row and names
``file:line`` and the field in every error. :func:`open_rows` detects the format from the
file's name and first lines; :func:`merge_rows` merges several streams by timestamp.

=============================== ============================================================
format                          what
=============================== ============================================================
``binance-trades``              Binance public data (futures UM and CM) ``trades`` CSV
``binance-aggTrades``           ``aggTrades`` CSV
``binance-bookTicker``          ``bookTicker`` CSV (best bid/ask)
``binance-klines``              last-price ``klines`` CSV (a coarse price path)
``binance-markPriceKlines``     mark-price klines
``binance-indexPriceKlines``    index-price klines
``binance-premiumIndexKlines``  premium-index klines
``binance-fundingRate``         funding rate history
``binance-ws-hftbacktest``      raw WebSocket capture ``<ts_ns> <json>`` (hftbacktest; in parts)
``binance-ws-cryptofeed``       raw WebSocket capture, cryptofeed v1 text (``X.ws.1.0``)
``tardis-trades``               Tardis CSV ``trades``
``tardis-incremental_book_L2``  Tardis CSV ``incremental_book_L2``
``tardis-book_snapshot``        Tardis CSV ``book_snapshot_N``
``tardis-quotes``               Tardis CSV ``quotes``
``tardis-derivative_ticker``    Tardis CSV ``derivative_ticker`` (mark, index, funding)
``tardis-liquidations``         Tardis CSV ``liquidations``
``ohlcv``                       OHLCV bars CSV (a coarse price path)
``nautilus-binance-depth``      NautilusTrader's flattened Binance depth CSV
``freqtrade-*``                 freqtrade's Feather/Parquet candles and funding (pyarrow extra)
``nautilus-binance-trades``,    NautilusTrader's Binance Parquet trades / quotes (spot; pyarrow
``nautilus-binance-quotes``     extra)
``exsim-csv`` / ``exsim-jsonl`` exsim's own format (``docs/event-format.md``)
=============================== ============================================================
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator
from operator import itemgetter
from pathlib import Path

from exsim.errors import InputError
from exsim.readers import arrow, binance_csv, binance_ws, native, nautilus, ohlcv, tardis
from exsim.readers.opening import binary_kind, empty_file, head_lines, unsupported_binary
from exsim.readers.rows import (
    CLEAR,
    FUNDING,
    GAP,
    INDEX,
    LEVEL,
    LIQUIDATION,
    MARK,
    PREMIUM,
    QUOTE,
    TRADE,
    Row,
)

Reader = Callable[[str | Path, str | None], Iterator[Row]]

_MODULES = (native, binance_ws, tardis, binance_csv, ohlcv, nautilus)  # text formats, sniffed in this order
READERS: dict[str, Reader] = {}
for _m in (*_MODULES, arrow):
    READERS.update(_m.READERS)

_ALL = frozenset({TRADE, LEVEL, CLEAR, QUOTE, MARK, INDEX, FUNDING, LIQUIDATION, GAP, PREMIUM})
#: the row kinds each format can yield (exsim's own formats: any); the replay uses this to
#: decide, before reading, whether marks, funding and depth are replayed or modelled
FORMAT_KINDS: dict[str, frozenset[int]] = {
    "binance-trades": frozenset({TRADE}),
    "binance-aggTrades": frozenset({TRADE}),
    "binance-bookTicker": frozenset({QUOTE}),
    "binance-klines": frozenset({TRADE}),
    "binance-markPriceKlines": frozenset({MARK}),
    "binance-indexPriceKlines": frozenset({INDEX}),
    "binance-premiumIndexKlines": frozenset({PREMIUM}),
    "binance-fundingRate": frozenset({FUNDING}),
    "binance-ws-hftbacktest": frozenset({TRADE, LEVEL, CLEAR, QUOTE, MARK, INDEX, LIQUIDATION, GAP}),
    "binance-ws-cryptofeed": frozenset({TRADE, LEVEL, CLEAR, QUOTE, MARK, INDEX, LIQUIDATION, GAP}),
    "tardis-trades": frozenset({TRADE}),
    "tardis-incremental_book_L2": frozenset({LEVEL, CLEAR}),
    "tardis-book_snapshot": frozenset({LEVEL, CLEAR}),
    "tardis-quotes": frozenset({QUOTE}),
    "tardis-derivative_ticker": frozenset({MARK, INDEX, FUNDING}),
    "tardis-liquidations": frozenset({LIQUIDATION}),
    "ohlcv": frozenset({TRADE}),
    "nautilus-binance-depth": frozenset({LEVEL, CLEAR, GAP}),
    "freqtrade-futures": frozenset({TRADE}),
    "freqtrade-mark": frozenset({MARK}),
    "freqtrade-index": frozenset({INDEX}),
    "freqtrade-premiumIndex": frozenset({PREMIUM}),
    "freqtrade-funding_rate": frozenset({FUNDING}),
    "freqtrade-spot": frozenset({TRADE}),
    "nautilus-binance-trades": frozenset({TRADE}),
    "nautilus-binance-quotes": frozenset({QUOTE}),
    "exsim-csv": _ALL,
    "exsim-jsonl": _ALL,
}


def format_kinds(path: str | Path, fmt: str) -> frozenset[int]:
    """The row kinds ``path`` can yield: the format's, or for exsim's own formats a scan."""
    if fmt in ("exsim-csv", "exsim-jsonl"):
        return native.scan_kinds(path, fmt)
    return FORMAT_KINDS[fmt]


def detect_format(path: str | Path) -> str:
    """The format name of ``path``, from its name and first lines; InputError if unknown.

    A binary file is told by its first bytes (:func:`~exsim.readers.opening.binary_kind`):
    Parquet and Feather go to :mod:`exsim.readers.arrow`, any other is one line saying
    it is not supported and how to convert it (never a byte-level decode error).
    """
    p = Path(path)
    kind = binary_kind(p)
    if kind in ("parquet", "feather"):
        return arrow.sniff(p, kind)
    if kind is not None:
        raise unsupported_binary(p, kind)
    head = head_lines(p, 5)
    if not any(head) and len(head) < 5:
        raise empty_file(p, "market data in one of the formats exsim reads (see `exsim replay --help`)")
    for module in _MODULES:
        fmt = module.sniff(p.as_posix(), head)  # the path: Binance names a kline kind by its folder
        if fmt is not None:
            return fmt
    raise InputError(
        f"cannot tell the format from the name and first line {head[0][:80]!r}; "
        f"pass --format (one of: {', '.join(sorted(READERS))})",
        where=f"{p}:1",
        field="format",
    )


def open_rows(path: str | Path, fmt: str | None = None, symbol: str | None = None) -> tuple[str, Iterator[Row]]:
    """``(format, rows)`` for one file; ``fmt`` None detects it."""
    if fmt is None:
        fmt = detect_format(path)
    elif fmt not in arrow.READERS:  # a text format forced on a binary file: say what the file is
        kind = binary_kind(path)
        if kind in ("parquet", "feather"):
            raise InputError(
                f"a {kind} file cannot be read as {fmt}; leave --format out (it is detected) or pass one of "
                f"{', '.join(arrow.READERS)}",
                where=f"{path}:1",
                field="format",
            )
        if kind is not None:
            raise unsupported_binary(path, kind)
    reader = READERS.get(fmt)
    if reader is None:
        raise InputError(f"unknown format {fmt!r}; known: {', '.join(sorted(READERS))}", field="format")
    return fmt, reader(path, symbol)


def merge_rows(streams: Iterable[Iterator[Row]]) -> Iterator[Row]:
    """One stream of rows by ``ts_ns``; ties keep the order of ``streams``, then file order."""
    streams = list(streams)
    if len(streams) == 1:
        return streams[0]
    return heapq.merge(*streams, key=itemgetter(0))


__all__ = ["FORMAT_KINDS", "format_kinds", "READERS", "Reader", "Row", "detect_format", "merge_rows", "open_rows"]
