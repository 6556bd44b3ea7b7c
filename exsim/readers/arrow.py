"""Parquet and Feather files: freqtrade's stored candles and NautilusTrader's Binance data.

Read through **pyarrow** (Apache Arrow's own Python library, the reference reader of both
formats), an optional extra: ``pip install 'exsim[parquet]'``. Without it these formats
are still detected, and reading one is a one-line error saying how to install it.

=============================== =========================================================
format                          layout (columns) and file name
=============================== =========================================================
``freqtrade-futures``           ``date, open, high, low, close, volume``;
                                ``<PAIR>-<tf>-futures.feather`` (last-price candles)
``freqtrade-mark``              the same, ``-mark`` (mark-price candles)
``freqtrade-index``             the same, ``-index`` (index-price candles)
``freqtrade-premiumIndex``      the same, ``-premiumIndex`` (premium-index candles)
``freqtrade-funding_rate``      the same, ``-funding_rate``: the settled rate in ``open``
``freqtrade-spot``              the same, ``<PAIR>-<tf>.feather`` (spot candles)
``nautilus-binance-trades``     ``timestamp, trade_id, price, quantity, buyer_maker``
                                (NautilusTrader's Binance test data, ``*.parquet``)
``nautilus-binance-quotes``     ``timestamp, symbol, ask_size, ask, bid_size, bid``
=============================== =========================================================

freqtrade stores ``.feather`` by default and ``.parquet`` on request, with the same
columns; both are read. The kind comes from the file name (freqtrade's own naming:
``{pair}-{timeframe}[-{candle_type}].{ext}``), the layout from the file's schema.

Mapping decisions:

* **Numbers are doubles in these files; rows carry decimal text.** This is a precision
  limit of the files, not of exsim: a double keeps 15 significant decimal digits
  exactly (:data:`DOUBLE_DIGITS`, C's ``DBL_DIG``) and no more. Each double becomes its
  *shortest round-trip text* (Python's ``repr``) when that has at most 15 significant
  digits — for a value the writer parsed from the venue's text (``1.0801``) this is the
  venue's text, exactly — else its 15-significant-digit text: the 16th and 17th digits
  of ``-0.0021933400000000002`` (freqtrade's funding, row 50) or
  ``0.00031099999999999997`` (Nautilus's trades) are floating-point arithmetic done by
  the writer, below what a double can say in decimal, and are read as ``-0.00219334`` and
  ``0.000311``. Text is written without an exponent (``1e-05`` → ``'0.00001'``). The
  result is then checked against the instrument's grid like any price (an off-grid value
  is an error naming the row and column, never rounded to the grid). NaN, infinities
  and missing values are errors.
* **Time**: the timestamp column's own unit (``timestamp[ns]`` in freqtrade,
  ``timestamp[ms]`` in Nautilus) converted to ns with integer arithmetic, UTC. Rows must
  be in non-decreasing time.
* **Candles** (futures, mark, index) become the four-point bar path of
  :mod:`exsim.readers.ohlcv` (:func:`~exsim.readers.ohlcv.bar_path`), as Binance klines
  do: ``trade`` rows of unknown size for last-price candles, ``mark`` / ``index`` rows
  for the others. The bar length is the file name's timeframe (``5m``, ``1h``, ``8h``;
  ``1M`` months are refused: their length varies). ``volume`` is not replayed
  (freqtrade's mark candles store NaN there); a last-price candle's close point carries
  the candle itself with its volume ('' when not a number) in its ``rate``
  (:func:`~exsim.readers.rows.bar_marker`), for a strategy's ``on_bar``.
* **premiumIndex** candles → one ``premium`` row per bar at its last nanosecond, rate =
  the close (as Binance ``premiumIndexKlines``).
* **funding_rate** → one ``funding`` row per line at ``date`` (Binance's ``fundingTime``,
  with its milliseconds of jitter), rate = ``open`` (freqtrade keeps the rate there; high,
  low and close are 0).
* **Symbol**: freqtrade's file name holds the pair with ``/`` and ``:`` as ``_``:
  ``XRP_USDT_USDT`` is ``XRP/USDT:USDT``, the USDT-settled perpetual ``XRPUSDT``;
  ``XRP_USDT`` is spot; a pair settled in its base (``BTC_USD_BTC``) is coin-margined.
  Nautilus trades name none: the ``symbol`` argument, else the file name's first word
  (``btcusdt-trades.parquet`` → ``BTCUSDT``). Nautilus quotes carry ccxt's unified name
  (``BTC/USDT`` spot, ``BTC/USDT:USDT`` perpetual), written as Binance's ``BTCUSDT``.
* **Trades**: aggressor SELL when ``buyer_maker`` is true (``True``/``true``), else BUY.
  **Quotes**: two ``quote`` rows per line, best bid (BUY) then best ask (SELL).
* ``where`` of a row is ``path:N`` with N the 1-based row number in the file.
* Memory is constant: files are read a record batch at a time.

:func:`market_of` says which market a file holds (``usdm``, ``spot``, ``coinm``); the
replay refuses spot and coin-margined files as a traded market (see
:mod:`exsim.readers.markets`). Both Nautilus Binance layouts are the ones of its spot
test data (``BTC/USDT``), so ``nautilus-binance-trades``, which names no market, is
taken as spot.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

from exsim.book.orders import BUY, SELL
from exsim.errors import InputError
from exsim.readers.ohlcv import bar_path, check_bar, path_side
from exsim.readers.rows import ANY, FUNDING, INDEX, MARK, PREMIUM, QUOTE, TRADE, Row, bar_marker

EXTRA_HINT = "pip install 'exsim[parquet]'"
CANDLE_COLUMNS = ("date", "open", "high", "low", "close", "volume")
NAUTILUS_TRADES_COLUMNS = ("timestamp", "trade_id", "price", "quantity", "buyer_maker")
NAUTILUS_QUOTES_COLUMNS = ("timestamp", "symbol", "ask_size", "ask", "bid_size", "bid")
#: freqtrade candle type (the file name's last word) -> exsim format
FREQTRADE_KINDS = {
    "futures": "freqtrade-futures",
    "mark": "freqtrade-mark",
    "index": "freqtrade-index",
    "premiumIndex": "freqtrade-premiumIndex",
    "funding_rate": "freqtrade-funding_rate",
}
FORMATS = (*FREQTRADE_KINDS.values(), "freqtrade-spot", "nautilus-binance-trades", "nautilus-binance-quotes")

_FREQTRADE_NAME = re.compile(
    r"(?P<pair>[A-Za-z0-9]+(?:_[A-Za-z0-9]+){1,2})-(?P<tf>\d+[smhdwM])(?:-(?P<kind>[A-Za-z_]+))?\.(?:feather|parquet)\Z"
)
_TF_NS = {"s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000, "d": 86_400_000_000_000, "w": 7 * 86_400_000_000_000}
_UNIT_NS = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}
_MAKER = {"True": SELL, "true": SELL, "False": BUY, "false": BUY, True: SELL, False: BUY}
_BATCH_ROWS = 1 << 16
#: significant decimal digits every double keeps exactly (C's DBL_DIG): a decimal of at
#: most this many digits, stored as a double, is read back as the same text
DOUBLE_DIGITS = 15
_new = tuple.__new__  # builds a NamedTuple without its Python-level __new__ (hot path)


# --------------------------------------------------------------------------- pyarrow


def _pyarrow(path: str | Path) -> Any:
    """The pyarrow package, or the one-line error (naming the file's container, parquet or
    feather) saying how to install it."""
    try:
        import pyarrow  # imported here: an optional extra, only these formats need it
        import pyarrow.ipc  # noqa: F401  (submodules used below)
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        raise InputError(
            f"format {container_of(path)} needs the optional extra: {EXTRA_HINT}", where=str(path), field="format"
        ) from None
    return pyarrow


def container_of(path: str | Path) -> str:
    """``'parquet'`` or ``'feather'`` from the file's first bytes (magic numbers)."""
    with open(path, "rb") as f:
        head = f.read(8)
    return "parquet" if head[:4] == b"PAR1" else "feather"


def _schema_and_batches(path: str | Path, fmt: str) -> tuple[list[str], Any, Iterator[Any]]:
    """``(column names, arrow schema, record batches)`` of a Parquet or Feather file."""
    pa = _pyarrow(path)
    p = Path(path)
    try:
        if container_of(p) == "parquet":
            pf = pa.parquet.ParquetFile(p)
            schema = pf.schema_arrow
            batches = pf.iter_batches(batch_size=_BATCH_ROWS)
        else:
            reader = pa.ipc.open_file(pa.memory_map(str(p), "r"))
            schema = reader.schema
            batches = (reader.get_batch(i) for i in range(reader.num_record_batches))
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"cannot read as {fmt}: {exc} (a damaged or truncated file?)", where=f"{p}:1", field="format") from None
    return list(schema.names), schema, batches


def _column_names(path: str | Path) -> list[str] | None:
    """The column names of a Parquet/Feather file (None without pyarrow or if unreadable)."""
    try:
        names, _, _ = _schema_and_batches(path, "parquet")
    except InputError:
        return None
    return names


# --------------------------------------------------------------------------- values


def decimal_text(value: Any, where: str, field: str) -> str:
    """A double as decimal text (see the module doc): its shortest round-trip text when
    that has at most 15 significant digits, else its 15-significant-digit text; never
    with an exponent.

    >>> decimal_text(1.0801, "x:1", "open"), decimal_text(1e-05, "x:1", "open"), decimal_text(39432.0, "x:1", "p")
    ('1.0801', '0.00001', '39432.0')
    >>> decimal_text(-0.0021933400000000002, "x:1", "open"), decimal_text(0.9467000000000001, "x:1", "open")
    ('-0.00219334', '0.9467')
    >>> decimal_text(float("nan"), "x.feather:3", "close")
    Traceback (most recent call last):
    ...
    exsim.errors.InputError: x.feather:3: field 'close': nan is not a number (NaN, infinite or missing)
    """
    if type(value) is float:
        if not math.isfinite(value):
            raise InputError(f"{value!r} is not a number (NaN, infinite or missing)", where=where, field=field)
        text = repr(value)
        digits = len(text.split("e")[0].replace("-", "").replace(".", "").lstrip("0"))
        if digits > DOUBLE_DIGITS:
            text = format(value, f".{DOUBLE_DIGITS}g")
        if "e" in text or "E" in text:
            text = format(Decimal(text), "f")
        return text
    if type(value) is int:
        return str(value)
    raise InputError(f"{value!r} is not a number (NaN, infinite or missing)", where=where, field=field)


def _ns_column(batch: Any, i: int, pa: Any, path: str | Path) -> list[int]:
    """Timestamps of column ``i`` of a batch as ns since the epoch (integer arithmetic)."""
    column = batch.column(i)
    unit = getattr(column.type, "unit", None)
    if unit not in _UNIT_NS:
        raise InputError(f"column type {column.type} is not a timestamp", where=f"{path}:1", field=batch.schema.names[i])
    factor = _UNIT_NS[unit]
    raw = column.cast(pa.int64()).to_pylist()
    return [v * factor if v is not None else None for v in raw]  # type: ignore[misc]


def _timeframe_ns(tf: str, where: str) -> int:
    if tf[-1] not in _TF_NS:
        raise InputError(f"timeframe {tf!r}: months vary in length; only s, m, h, d and w candles are read", where=where, field="timeframe")
    return int(tf[:-1]) * _TF_NS[tf[-1]]


def _backwards(ts_ns: int, last_ns: int, where: str, field: str) -> InputError:
    return InputError(
        f"time goes backwards: {ts_ns} ns after {last_ns} ns on an earlier row; rows must be in time order",
        where=where,
        field=field,
    )


def _check_columns(names: list[str], want: tuple[str, ...], fmt: str, path: str | Path) -> None:
    if set(want) - set(names):
        raise InputError(
            f"columns {names} are not {fmt}'s {list(want)}", where=f"{path}:1", field="columns"
        )


# --------------------------------------------------------------------------- freqtrade


def freqtrade_name(path: str | Path) -> tuple[str, str, str | None] | None:
    """``(pair, timeframe, candle_type)`` of a freqtrade data file name, or None.

    >>> freqtrade_name("data/XRP_USDT_USDT-8h-funding_rate.feather")
    ('XRP_USDT_USDT', '8h', 'funding_rate')
    >>> freqtrade_name("BTC_USDT-5m.parquet")
    ('BTC_USDT', '5m', None)
    """
    m = _FREQTRADE_NAME.match(Path(path).name)
    if m is None:
        return None
    return m.group("pair"), m.group("tf"), m.group("kind")


def pair_symbol(pair: str) -> tuple[str, str]:
    """``(exchange symbol, market)`` of a freqtrade file-name pair (market: usdm, spot, coinm).

    >>> pair_symbol("XRP_USDT_USDT"), pair_symbol("XRP_USDT"), pair_symbol("BTC_USD_BTC")
    (('XRPUSDT', 'usdm'), ('XRPUSDT', 'spot'), ('BTCUSD', 'coinm'))
    """
    parts = pair.upper().split("_")
    base, quote = parts[0], parts[1]
    if len(parts) == 2:
        return base + quote, "spot"
    return base + quote, "usdm" if parts[2] == quote else "coinm"


def _read_freqtrade(path: str | Path, symbol: str | None, fmt: str) -> Iterator[Row]:
    name = str(path)
    parsed = freqtrade_name(path)
    if parsed is None:
        raise InputError(
            "a freqtrade file is named <PAIR>-<timeframe>-<candle type>.feather (XRP_USDT_USDT-1h-futures.feather): "
            "the pair and the bar length come from the name",
            where=name,
            field="file name",
        )
    pair, tf, _ = parsed
    sym = symbol or pair_symbol(pair)[0]
    names, _, batches = _schema_and_batches(path, fmt)
    _check_columns(names, CANDLE_COLUMNS, fmt, path)
    pa = _pyarrow(path)
    i_date, i_o, i_h, i_l, i_c, i_v = (names.index(c) for c in CANDLE_COLUMNS)
    span_ns = _timeframe_ns(tf, f"{name}:1")
    kind = {"freqtrade-mark": MARK, "freqtrade-index": INDEX}.get(fmt, TRADE)
    new, R = _new, Row
    row_no = 0
    last_ns = -(1 << 62)
    next_open_ns = -(1 << 62)
    previous: Decimal | None = None
    side = BUY
    for batch in batches:
        dates = _ns_column(batch, i_date, pa, path)
        opens, highs, lows, closes, volumes = (batch.column(i).to_pylist() for i in (i_o, i_h, i_l, i_c, i_v))
        for ts_ns, o, h, low, c, v in zip(dates, opens, highs, lows, closes, volumes):
            row_no += 1
            where = f"{name}:{row_no}"
            if ts_ns is None:
                raise InputError("missing date", where=where, field="date")
            if ts_ns < last_ns:
                raise _backwards(ts_ns, last_ns, where, "date")
            last_ns = ts_ns
            if fmt == "freqtrade-funding_rate":
                yield new(R, (ts_ns, FUNDING, sym, ANY, "", "", decimal_text(o, where, "open"), where))
                continue
            if fmt == "freqtrade-premiumIndex":
                yield new(R, (ts_ns + span_ns - 1, PREMIUM, sym, ANY, "", "", decimal_text(c, where, "close"), where))
                continue
            if ts_ns < next_open_ns:
                raise InputError(
                    f"{ts_ns} ns opens before the previous {tf} bar ends at {next_open_ns} ns: bars must not overlap",
                    where=where,
                    field="date",
                )
            next_open_ns = ts_ns + span_ns
            texts = (
                decimal_text(o, where, "open"),
                decimal_text(h, where, "high"),
                decimal_text(low, where, "low"),
                decimal_text(c, where, "close"),
            )
            values = check_bar(*texts, where)
            for i, (point_ns, price, value) in enumerate(bar_path(ts_ns, span_ns, next_open_ns - 1, texts, values)):
                if kind == TRADE:
                    side = path_side(value, previous, side)
                    previous = value
                    # the close point carries the candle itself, for on_bar (exsim.replay.bars);
                    # a volume that is not a number (NaN, missing) is unknown, not an error
                    marker = bar_marker(ts_ns, span_ns, *texts, _volume_text(v), "") if i == 3 else ""
                    yield new(R, (point_ns, TRADE, sym, side, price, "", marker, where))
                else:
                    yield new(R, (point_ns, kind, sym, ANY, price, "", "", where))


def _volume_text(value: Any) -> str:
    """A candle's volume as decimal text (:func:`decimal_text`), '' when it is not a
    number >= 0 (freqtrade stores NaN where the venue gives none)."""
    if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        return ""
    return decimal_text(value, "", "volume")


def read_freqtrade_futures(path: str | Path, symbol: str | None = None) -> Iterator[Row]:
    """``trade`` rows (the bar path) of freqtrade's last-price futures candles."""
    return _read_freqtrade(path, symbol, "freqtrade-futures")


def read_freqtrade_mark(path: str | Path, symbol: str | None = None) -> Iterator[Row]:
    """``mark`` rows (the bar path) of freqtrade's mark-price candles."""
    return _read_freqtrade(path, symbol, "freqtrade-mark")


def read_freqtrade_index(path: str | Path, symbol: str | None = None) -> Iterator[Row]:
    """``index`` rows (the bar path) of freqtrade's index-price candles."""
    return _read_freqtrade(path, symbol, "freqtrade-index")


def read_freqtrade_premium_index(path: str | Path, symbol: str | None = None) -> Iterator[Row]:
    """``premium`` rows (each bar's close at its end) of freqtrade's premium-index candles."""
    return _read_freqtrade(path, symbol, "freqtrade-premiumIndex")


def read_freqtrade_funding_rate(path: str | Path, symbol: str | None = None) -> Iterator[Row]:
    """``funding`` rows of freqtrade's funding-rate history (the rate is in ``open``)."""
    return _read_freqtrade(path, symbol, "freqtrade-funding_rate")


def read_freqtrade_spot(path: str | Path, symbol: str | None = None) -> Iterator[Row]:
    """``trade`` rows (the bar path) of freqtrade's spot candles."""
    return _read_freqtrade(path, symbol, "freqtrade-spot")


# --------------------------------------------------------------------------- nautilus


def _file_word_symbol(path: str | Path, symbol: str | None) -> str:
    if symbol:
        return symbol
    word = Path(path).name.split("-")[0].split(".")[0]
    if not word.isalnum():
        raise InputError(f"the file name {Path(path).name!r} does not start with a symbol; pass the symbol", where=str(path), field="symbol")
    return word.upper()


def unified_symbol(text: str) -> str:
    """Binance's name of a ccxt unified symbol: ``BTC/USDT`` and ``BTC/USDT:USDT`` → ``BTCUSDT``.

    >>> unified_symbol("BTC/USDT"), unified_symbol("ETH/USDT:USDT"), unified_symbol("BTCUSDT")
    ('BTCUSDT', 'ETHUSDT', 'BTCUSDT')
    """
    return text.split(":")[0].replace("/", "").upper()


def read_nautilus_trades(path: str | Path, symbol: str | None = None) -> Iterator[Row]:
    """``trade`` rows of NautilusTrader's Binance trades parquet."""
    fmt = "nautilus-binance-trades"
    name = str(path)
    sym = _file_word_symbol(path, symbol)
    names, _, batches = _schema_and_batches(path, fmt)
    _check_columns(names, NAUTILUS_TRADES_COLUMNS, fmt, path)
    pa = _pyarrow(path)
    i_ts, i_id, i_px, i_qty, i_maker = (names.index(c) for c in NAUTILUS_TRADES_COLUMNS)
    new, R = _new, Row
    row_no = 0
    last_ns = -(1 << 62)
    last_id = -(1 << 62)
    for batch in batches:
        times = _ns_column(batch, i_ts, pa, path)
        ids, prices, qtys, makers = (batch.column(i).to_pylist() for i in (i_id, i_px, i_qty, i_maker))
        for ts_ns, trade_id, px, qty, maker in zip(times, ids, prices, qtys, makers):
            row_no += 1
            where = f"{name}:{row_no}"
            if ts_ns is None:
                raise InputError("missing timestamp", where=where, field="timestamp")
            if ts_ns < last_ns:
                raise _backwards(ts_ns, last_ns, where, "timestamp")
            last_ns = ts_ns
            if type(trade_id) is not int or trade_id <= last_id:
                raise InputError(
                    f"{trade_id!r} is not a trade id after the previous row's {last_id}: ids increase (a repeated row?)",
                    where=where,
                    field="trade_id",
                )
            last_id = trade_id
            side = _MAKER.get(maker)
            if side is None:
                raise InputError(f"{maker!r} is not True or False", where=where, field="buyer_maker")
            yield new(R, (ts_ns, TRADE, sym, side, decimal_text(px, where, "price"), decimal_text(qty, where, "quantity"), "", where))


def read_nautilus_quotes(path: str | Path, symbol: str | None = None) -> Iterator[Row]:
    """``quote`` rows (best bid, then best ask) of NautilusTrader's Binance quotes parquet."""
    fmt = "nautilus-binance-quotes"
    name = str(path)
    names, _, batches = _schema_and_batches(path, fmt)
    _check_columns(names, NAUTILUS_QUOTES_COLUMNS, fmt, path)
    pa = _pyarrow(path)
    i_ts, i_sym, i_ask_qty, i_ask, i_bid_qty, i_bid = (names.index(c) for c in NAUTILUS_QUOTES_COLUMNS)
    new, R = _new, Row
    row_no = 0
    last_ns = -(1 << 62)
    symbols: dict[str, str] = {}
    for batch in batches:
        times = _ns_column(batch, i_ts, pa, path)
        syms, ask_qtys, asks, bid_qtys, bids = (batch.column(i).to_pylist() for i in (i_sym, i_ask_qty, i_ask, i_bid_qty, i_bid))
        for ts_ns, text, ask_qty, ask, bid_qty, bid in zip(times, syms, ask_qtys, asks, bid_qtys, bids):
            row_no += 1
            where = f"{name}:{row_no}"
            if ts_ns is None:
                raise InputError("missing timestamp", where=where, field="timestamp")
            if ts_ns < last_ns:
                raise _backwards(ts_ns, last_ns, where, "timestamp")
            last_ns = ts_ns
            if type(text) is not str:
                raise InputError(f"{text!r} is not a symbol", where=where, field="symbol")
            sym = symbols.get(text)
            if sym is None:
                sym = symbols[text] = unified_symbol(text)
            if symbol and sym != symbol.upper():
                continue
            yield new(R, (ts_ns, QUOTE, sym, BUY, decimal_text(bid, where, "bid"), decimal_text(bid_qty, where, "bid_size"), "", where))
            yield new(R, (ts_ns, QUOTE, sym, SELL, decimal_text(ask, where, "ask"), decimal_text(ask_qty, where, "ask_size"), "", where))


# --------------------------------------------------------------------------- detection


def sniff(path: str | Path, container: str) -> str:
    """The format of a Parquet/Feather file (``container``) from its name and schema.

    Without pyarrow the schema cannot be read: a freqtrade file name still names the
    format, anything else is reported as the container itself (and reading either says
    how to install the extra).
    """
    parsed = freqtrade_name(path)
    if parsed is not None:
        _, _, kind = parsed
        if kind is None:
            return "freqtrade-spot"
        fmt = FREQTRADE_KINDS.get(kind)
        if fmt is not None:
            return fmt
        raise InputError(
            f"freqtrade candle type {kind!r} is not one exsim reads ({', '.join(FREQTRADE_KINDS)})",
            where=str(path),
            field="format",
        )
    names = _column_names(path)
    if names is None:
        _pyarrow(path)  # raises the install hint when pyarrow is missing
        raise InputError(f"cannot read the {container} file's schema", where=f"{path}:1", field="format")
    columns = set(names)
    if set(NAUTILUS_TRADES_COLUMNS) <= columns:
        return "nautilus-binance-trades"
    if set(NAUTILUS_QUOTES_COLUMNS) <= columns:
        return "nautilus-binance-quotes"
    if set(CANDLE_COLUMNS) <= columns:
        raise InputError(
            f"candles ({', '.join(CANDLE_COLUMNS)}) in a file not named as freqtrade names them: rename it "
            "<PAIR>-<timeframe>-futures.<ext> (e.g. XRP_USDT_USDT-1h-futures.feather), or -mark / -index",
            where=str(path),
            field="format",
        )
    raise InputError(
        f"a {container} file with columns {names[:12]}: not a layout exsim reads (freqtrade candles "
        f"{list(CANDLE_COLUMNS)}, NautilusTrader Binance trades or quotes); convert it to CSV "
        "(e.g. pandas.read_parquet(path).to_csv(...)) in one of the formats of `exsim replay --help`",
        where=str(path),
        field="format",
    )


def market_of(path: str | Path, fmt: str) -> str:
    """``'usdm'``, ``'spot'`` or ``'coinm'``: the market a file of ``fmt`` holds."""
    if fmt.startswith("freqtrade-"):
        parsed = freqtrade_name(path)
        return "usdm" if parsed is None else pair_symbol(parsed[0])[1]
    if fmt == "nautilus-binance-trades":
        return "spot"  # the layout of Nautilus's spot test data; the file names no market
    if fmt == "nautilus-binance-quotes":  # ccxt's unified name: 'BTC/USDT' spot, 'BTC/USDT:USDT' perpetual
        names, _, batches = _schema_and_batches(path, fmt)
        for batch in batches:
            if batch.num_rows:
                raw = batch.column(names.index("symbol"))[0].as_py()
                return "spot" if isinstance(raw, str) and "/" in raw and ":" not in raw else "usdm"
    return "usdm"


READERS = {
    "freqtrade-futures": read_freqtrade_futures,
    "freqtrade-mark": read_freqtrade_mark,
    "freqtrade-index": read_freqtrade_index,
    "freqtrade-premiumIndex": read_freqtrade_premium_index,
    "freqtrade-funding_rate": read_freqtrade_funding_rate,
    "freqtrade-spot": read_freqtrade_spot,
    "nautilus-binance-trades": read_nautilus_trades,
    "nautilus-binance-quotes": read_nautilus_quotes,
}
