"""Which market a data file holds: a USDⓈ-M perpetual, a spot pair, or COIN-M contracts.

exsim trades USDⓈ-M (USDT-margined) contracts. A spot capture is still useful — its best
bid/ask mid stands in for the index (``--index-file``) — but it is not a market to trade:
its prices and sizes are on the spot grid and it has no mark or funding. COIN-M
(coin-margined) contracts settle in the base coin, which exsim does not model yet. Both
are told apart here, from the file's own evidence, so that the replay can say so in one
line instead of failing later on a grid or an unknown symbol.

=========================== ===================================================================
evidence                    market
=========================== ===================================================================
COIN-M symbol               ``*USD_PERP``, ``*USD_YYMMDD`` (``BTCUSD_PERP``, ``ETHUSD_240927``):
                            coinm, whatever the format
cryptofeed capture URL      ``wss://dstream.binance.com``: coinm; ``wss://stream.binance.com``:
                            spot (``fstream``: USDⓈ-M)
hftbacktest capture         a REST snapshot with ``symbol``/``pair`` from ``/dapi/``: coinm;
                            spot streams: a ``depthUpdate`` without ``pu`` and ``T``, a ``trade``
                            with ``M`` and without ``X``, a REST snapshot without ``E`` and ``T``
Tardis CSV                  ``exchange`` column ``binance`` (spot), ``binance-delivery`` (coinm)
Parquet / Feather           :func:`exsim.readers.arrow.market_of` (ccxt names ``BTC/USDT``: spot;
                            freqtrade pairs ``XRP_USDT``: spot, ``BTC_USD_BTC``: coinm)
=========================== ===================================================================

Anything else is taken as USDⓈ-M. Only the first :data:`HEAD_LINES` lines (or rows) are
looked at.
"""

from __future__ import annotations

import json
import re
from itertools import islice
from pathlib import Path
from typing import Any

from exsim.errors import InputError
from exsim.readers.opening import head_lines
from exsim.readers.rows import QUOTE

USDM, SPOT, COINM = "usdm", "spot", "coinm"
#: lines (or rows) looked at for evidence
HEAD_LINES = 64
COINM_SYMBOL = re.compile(r"[A-Z0-9]+USD_(?:PERP|\d{6})\Z")


def _hftbacktest_evidence(lines: list[str]) -> tuple[str, str] | None:
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
                    return COINM, f"line {n}: a depth snapshot of {symbol}"
                if "E" not in obj and "T" not in obj:
                    return SPOT, f"line {n}: a REST depth snapshot without 'E' and 'T' (spot's /api/v3/depth)"
            continue
        data = obj.get("data")
        if not isinstance(data, dict):
            continue
        symbol = data.get("s")
        if isinstance(symbol, str) and COINM_SYMBOL.match(symbol):
            return COINM, f"line {n}: symbol {symbol}"
        event = data.get("e")
        if event == "depthUpdate" and "pu" not in data and "T" not in data:
            return SPOT, f"line {n}: a depthUpdate without 'pu' and 'T' (the spot depth stream)"
        if event == "trade" and "X" not in data and "M" in data:
            return SPOT, f"line {n}: a trade with 'M' and without 'X' (the spot trade stream)"
    return None


def _cryptofeed_evidence(lines: list[str]) -> tuple[str, str] | None:
    first = lines[0] if lines else ""
    if first.startswith("wss://dstream."):
        return COINM, "line 1: the COIN-M stream host dstream.binance.com"
    if first.startswith("wss://stream.binance."):
        return SPOT, "line 1: the spot stream host stream.binance.com"
    return None


def _tardis_evidence(lines: list[str]) -> tuple[str, str] | None:
    for n, line in enumerate(lines[1:], 2):
        exchange = line.split(",", 1)[0]
        if exchange == "binance":
            return SPOT, f"line {n}: exchange 'binance' (Tardis's Binance spot)"
        if exchange == "binance-delivery":
            return COINM, f"line {n}: exchange 'binance-delivery' (Tardis's Binance COIN-M)"
        if exchange:
            return None
    return None


def market_of(path: str | Path, fmt: str) -> tuple[str, str]:
    """``(market, evidence)`` of a file in format ``fmt``: market is ``usdm``, ``spot`` or
    ``coinm``; evidence says what showed it ('' for the USDⓈ-M default)."""
    from exsim.readers import arrow, open_rows  # (the package imports this module)

    if fmt in arrow.READERS:
        market = arrow.market_of(path, fmt)
        return market, "" if market == USDM else f"{fmt} data of a {'spot pair' if market == SPOT else 'coin-margined contract'}"
    found: tuple[str, str] | None = None
    if fmt == "binance-ws-hftbacktest":
        found = _hftbacktest_evidence(head_lines(path, HEAD_LINES))
    elif fmt == "binance-ws-cryptofeed":
        found = _cryptofeed_evidence(head_lines(path, 1))
    elif fmt.startswith("tardis-"):
        found = _tardis_evidence(head_lines(path, 3))
    if found is not None:
        return found
    try:
        for row in islice(open_rows(path, fmt)[1], HEAD_LINES):
            if COINM_SYMBOL.match(row.symbol):
                return COINM, f"{row.where}: symbol {row.symbol}"
    except InputError:
        pass  # a file that needs a symbol, or a bad line: the replay reports it when it reads
    return USDM, ""


def check_traded(path: str | Path, fmt: str) -> None:
    """Refuse a file that is not a USDⓈ-M market as the market a replay trades."""
    market, evidence = market_of(path, fmt)
    if market == SPOT:
        if _has_quotes(path, fmt):
            use = "pass it as --index-file beside the perpetual's data (its best bid/ask mid stands in for the index)"
        else:
            use = "a spot file serves only as --index-file, which needs best bid/ask quotes, and this format has none"
        raise InputError(
            f"is a spot market capture ({evidence}); exsim trades USDⓈ-M perpetuals: {use}",
            where=str(path),
            field="market",
        )
    if market == COINM:
        raise InputError(
            f"holds coin-margined (COIN-M) contracts ({evidence}); coin-margined contracts are not supported yet",
            where=str(path),
            field="market",
        )


def _has_quotes(path: str | Path, fmt: str) -> bool:
    from exsim.readers import format_kinds

    return QUOTE in format_kinds(path, fmt)


def check_index(path: str | Path, fmt: str) -> None:
    """Refuse a file that cannot be an index proxy: one of a format without best bid/ask
    quotes (only quotes make the proxy), or of COIN-M contracts."""
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
            f"holds coin-margined (COIN-M) contracts ({evidence}); coin-margined contracts are not supported yet",
            where=str(path),
            field="market",
        )
