"""Which market a data file holds: a USDⓈ-M perpetual, a spot pair, or COIN-M contracts.

exsim trades USDⓈ-M (USDT-margined, linear) and COIN-M (coin-margined, inverse)
perpetuals. A spot capture is still useful — its best bid/ask mid stands in for the index
(``--index-file``) — but it is not a market to trade: its prices and sizes are on the spot
grid and it has no mark or funding. The market is told here, from the file's own
evidence, so that the replay can say in one line what is wrong (a spot file as the traded
market, a COIN-M file replayed under a USDⓈ-M symbol or the reverse) instead of failing
later on a grid or an unknown symbol.

=========================== ===================================================================
evidence                    market
=========================== ===================================================================
COIN-M symbol               ``*USD_PERP``, ``*USD_YYMMDD`` (``BTCUSD_PERP``, ``ETHUSD_240927``):
                            coinm, whatever the format; any other symbol in the rows: usdm
cryptofeed capture URL      ``wss://dstream.binance.com``: coinm; ``wss://stream.binance.com``:
                            spot (``fstream``: USDⓈ-M)
hftbacktest capture         a REST snapshot with ``symbol``/``pair`` from ``/dapi/``: coinm;
                            spot streams: a ``depthUpdate`` without ``pu`` and ``T``, a ``trade``
                            with ``M`` and without ``X``, a REST snapshot without ``E`` and ``T``
Binance public-data trades  header ``id,price,qty,base_qty,...`` (``futures/cm``): coinm;
                            ``id,price,qty,quote_qty,...`` (``futures/um``): usdm
Tardis CSV                  ``exchange`` column ``binance`` (spot), ``binance-delivery`` (coinm)
Parquet / Feather           :func:`exsim.readers.arrow.market_of` (ccxt names ``BTC/USDT``: spot;
                            freqtrade pairs ``XRP_USDT``: spot, ``BTC_USD_BTC``: coinm)
=========================== ===================================================================

Anything else is taken as USDⓈ-M. Only the first :data:`HEAD_LINES` lines (or rows) are
looked at.

A COIN-M file replays only under a COIN-M symbol, whose instrument is inverse (contracts of
a USD face value, margin in the coin); quantities in it are contracts. Quarterly (delivery)
contracts (``BTCUSD_211231``) are told as COIN-M here; the instrument choice refuses them
(:mod:`exsim.instruments.choose`: exsim models perpetuals, no delivery). Freqtrade's
coin-margined candles name a pair (``BTC_USD_BTC``), not the contract, and stay refused.
"""

from __future__ import annotations

import json
from itertools import islice
from pathlib import Path
from typing import Any

from exsim.errors import InputError
from exsim.readers import arrow, format_kinds, open_rows
from exsim.readers.binance_csv import COINM_TRADES_HEADER, HEADERS
from exsim.readers.opening import head_lines
from exsim.readers.rows import INDEX, QUOTE
from exsim.readers.symbols import COINM, COINM_SYMBOL, SPOT, USDM, symbol_market  # (re-exported)

#: lines (or rows) looked at for evidence
HEAD_LINES = 64


def _hftbacktest_evidence(lines: list[str]) -> tuple[str, str, int] | None:
    for n, line in enumerate(lines, 1):
        _, _, text = line.partition(" ")
        try:
            obj: Any = json.loads(text)
        except (ValueError, RecursionError):  # (the reader names such a line; this only looks for evidence)
            continue
        if not isinstance(obj, dict):
            continue
        if "stream" not in obj:
            if "lastUpdateId" in obj:
                symbol = obj.get("symbol")
                if isinstance(symbol, str) and COINM_SYMBOL.match(symbol):
                    return COINM, f"line {n}: a depth snapshot of {symbol}", n
                if "E" not in obj and "T" not in obj:
                    return SPOT, f"line {n}: a REST depth snapshot without 'E' and 'T' (spot's /api/v3/depth)", n
            continue
        data = obj.get("data")
        if not isinstance(data, dict):
            continue
        symbol = data.get("s")
        if isinstance(symbol, str) and COINM_SYMBOL.match(symbol):
            return COINM, f"line {n}: symbol {symbol}", n
        event = data.get("e")
        if event == "depthUpdate" and "pu" not in data and "T" not in data:
            return SPOT, f"line {n}: a depthUpdate without 'pu' and 'T' (the spot depth stream)", n
        if event == "trade" and "X" not in data and "M" in data:
            return SPOT, f"line {n}: a trade with 'M' and without 'X' (the spot trade stream)", n
    return None


def _cryptofeed_evidence(lines: list[str]) -> tuple[str, str, int] | None:
    first = lines[0] if lines else ""
    if first.startswith("wss://dstream."):
        return COINM, "line 1: the COIN-M stream host dstream.binance.com", 1
    if first.startswith("wss://stream.binance."):
        return SPOT, "line 1: the spot stream host stream.binance.com", 1
    return None


def _tardis_evidence(lines: list[str]) -> tuple[str, str, int] | None:
    for n, line in enumerate(lines[1:], 2):
        exchange = line.split(",", 1)[0]
        if exchange == "binance":
            return SPOT, f"line {n}: exchange 'binance' (Tardis's Binance spot)", n
        if exchange == "binance-delivery":
            return COINM, f"line {n}: exchange 'binance-delivery' (Tardis's Binance COIN-M)", n
        if exchange:
            return None
    return None


def _binance_csv_evidence(lines: list[str]) -> tuple[str, str, int] | None:
    first = lines[0].lstrip("\ufeff") if lines else ""
    if first == COINM_TRADES_HEADER:
        return COINM, "line 1: the COIN-M trades header (quantity in contracts, base_qty in coin)", 1
    if first == HEADERS["binance-trades"]:
        return USDM, "line 1: the USDⓈ-M trades header (quote_qty)", 1
    return None


def market_of(path: str | Path, fmt: str) -> tuple[str, str]:
    """``(market, evidence)`` of a file in format ``fmt``: market is ``usdm``, ``spot`` or
    ``coinm``; evidence says what showed it ('' for the USDⓈ-M default, when nothing did)."""
    market, evidence, _ = _market_where(path, fmt)
    return market, evidence


def _market_where(path: str | Path, fmt: str) -> tuple[str, str, str]:
    """``(market, evidence, "path:line" of the evidence or the path)``."""
    if fmt in arrow.READERS:
        market = arrow.market_of(path, fmt)
        what = "" if market == USDM else f"{fmt} data of a {'spot pair' if market == SPOT else 'coin-margined contract'}"
        return market, what, str(path)
    found: tuple[str, str, int] | None = None
    if fmt == "binance-ws-hftbacktest":
        found = _hftbacktest_evidence(head_lines(path, HEAD_LINES))
    elif fmt == "binance-ws-cryptofeed":
        found = _cryptofeed_evidence(head_lines(path, 1))
    elif fmt.startswith("tardis-"):
        found = _tardis_evidence(head_lines(path, 3))
    elif fmt == "binance-trades":
        found = _binance_csv_evidence(head_lines(path, 1))
    if found is not None and found[0] != USDM:
        return found[0], found[1], f"{path}:{found[2]}"
    usdm = (found[1], f"{path}:{found[2]}") if found is not None else None  # positive USDⓈ-M evidence
    try:
        for row in islice(open_rows(path, fmt)[1], HEAD_LINES):
            line = row.where.rpartition(":")[2]
            if COINM_SYMBOL.match(row.symbol):
                return COINM, f"line {line}: symbol {row.symbol}", row.where
            if usdm is None:  # (for check_traded's reverse check: a COIN-M symbol on a USDⓈ-M file)
                usdm = (f"line {line}: symbol {row.symbol}", row.where)
    except InputError:
        pass  # a file that needs a symbol, or a bad line: the replay reports it when it reads
    if usdm is not None:
        return USDM, usdm[0], usdm[1]
    return USDM, "", str(path)


def check_traded(path: str | Path, fmt: str, symbol: str | None = None) -> str:
    """The market of a file a replay trades (``usdm`` or ``coinm``); refuse a spot file,
    coin-margined candles that name no contract, and a file whose market is not the one of
    ``symbol`` (``--symbol``): a COIN-M file under ``BTCUSDT``, a USDⓈ-M file under
    ``BTCUSD_PERP``. The error names the line that showed the file's market."""
    market, evidence, where = _market_where(path, fmt)
    if market == SPOT:
        if _has_quotes(path, fmt):
            use = "pass it as --index-file beside the perpetual's data (its best bid/ask mid stands in for the index)"
        else:
            use = "a spot file serves only as --index-file, which needs best bid/ask quotes, and this format has none"
        raise InputError(
            f"is a spot market capture ({evidence}); exsim trades USDⓈ-M and COIN-M perpetuals: {use}",
            where=str(path),
            field="market",
        )
    if market == COINM and fmt in arrow.READERS:
        raise InputError(
            f"holds coin-margined candles ({evidence}) named by their pair, not by a contract (BTCUSD_PERP or a "
            "quarterly): convert them to exsim-csv with the contract's symbol, or replay Binance's futures/cm files",
            where=str(path),
            field="market",
        )
    if symbol:
        wanted = symbol_market(symbol)
        if market == COINM and wanted == USDM:
            raise InputError(
                f"the file holds COIN-M (coin-margined) contracts ({evidence}), but --symbol {symbol} is a USDⓈ-M "
                "symbol; pass the file's COIN-M symbol (such as BTCUSD_PERP)",
                where=where,
                field="symbol",
            )
        if market == USDM and wanted == COINM and evidence:
            raise InputError(
                f"the file holds USDⓈ-M contracts ({evidence}), but --symbol {symbol} is a COIN-M symbol; "
                "pass the file's USDⓈ-M symbol (such as BTCUSDT)",
                where=where,
                field="symbol",
            )
    return market


def _has_quotes(path: str | Path, fmt: str) -> bool:
    return QUOTE in format_kinds(path, fmt)


def check_index(path: str | Path, fmt: str, *, index_rows: bool = False) -> None:
    """Refuse a file that cannot be an index proxy: one of a format without best bid/ask
    quotes (only quotes make the proxy), or of COIN-M contracts. ``index_rows``: a format
    of index rows serves too (a collateral asset's index: Binance indexPriceKlines, a
    Tardis derivative_ticker)."""
    if index_rows and INDEX in format_kinds(path, fmt) and not _has_quotes(path, fmt):
        market, evidence = market_of(path, fmt)
        if market == COINM:
            raise InputError(
                f"holds coin-margined (COIN-M) contracts ({evidence}); a collateral index is a spot pair's price or "
                "a USDⓈ-M pair's index (BTCUSDT)", where=str(path), field="market",
            )
        return
    if not _has_quotes(path, fmt):
        raise InputError(
            f"an index proxy is made of best bid/ask quotes, and {fmt} has none (pass a capture with "
            "bookTicker or quotes)",
            where=str(path),
            field="--index-file",
        )
    market, evidence = market_of(path, fmt)
    if market == COINM:
        raise InputError(
            f"holds coin-margined (COIN-M) contracts ({evidence}); an index proxy is a spot market's quotes "
            "(the index of BTCUSD_PERP is a basket of BTC/USD-like spot prices: pass a spot capture)",
            where=str(path),
            field="market",
        )
