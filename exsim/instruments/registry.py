"""Shipped example instruments: Binance USDⓈ-M linear perpetuals with real-ish specs.

The values are a **dated example**, not live truth (see ``data/PROVENANCE.md``):

- brackets: Binance leverage brackets as of 2024-10-24 (freqtrade's snapshot, verbatim);
- tick/lot/min qty/max qty: Binance ``exchangeInfo`` captured 2021-07-22, except BTCUSDT's
  tick (0.1 since 2023) and the minimum notionals of BTCUSDT (100 USDT) and ETHUSDT (20);
  other symbols use 5 USDT;
- fees: 0.02 % maker / 0.05 % taker (the base VIP-0 tier); clearance fee 0 (Binance's
  actual liquidation fee was 1.2 % for BTCUSDT and 0.5–0.75 % for these alts in the 2021
  capture; pass ``clearance_fee`` to :meth:`Instrument.create` to model it);
- funding every 8 hours.

Symbols are accepted as Binance names (``BTCUSDT``) or ccxt unified symbols
(``BTC/USDT:USDT``), case-insensitively.
"""

from __future__ import annotations

import difflib
from functools import cache
from importlib import resources
from typing import Final

from exsim.errors import InputError
from exsim.instruments.brackets import (
    BracketTables,
    load_binance_brackets,
    parse_binance_brackets,
    short_symbol,
)
from exsim.instruments.instrument import Instrument

__all__ = [
    "BRACKETS_FILE",
    "get_instrument",
    "list_symbols",
    "shipped_brackets",
    "load_brackets_file",
]

#: Name of the shipped bracket snapshot inside ``exsim/instruments/data/``.
BRACKETS_FILE: Final = "binance_leverage_tiers_2024-10-24.json"

#: Users loading their own ``binance_leverage_tiers.json``-format file.
load_brackets_file = load_binance_brackets

# short symbol: (tick_size, lot_size, min_qty, max_qty (limit orders), min_notional)
_SPECS: Final[dict[str, tuple[str, str, str, str, str]]] = {
    "BTCUSDT": ("0.1", "0.001", "0.001", "1000", "100"),
    "ETHUSDT": ("0.01", "0.001", "0.001", "10000", "20"),
    "SOLUSDT": ("0.001", "1", "1", "10000000", "5"),
    "XRPUSDT": ("0.0001", "0.1", "0.1", "1000000", "5"),
    "DOGEUSDT": ("0.00001", "1", "1", "10000000", "5"),
    "BNBUSDT": ("0.01", "0.01", "0.01", "100000", "5"),
    "ADAUSDT": ("0.0001", "1", "1", "10000000", "5"),
    "LINKUSDT": ("0.001", "0.01", "0.01", "100000", "5"),
    "AVAXUSDT": ("0.001", "1", "1", "10000000", "5"),
    "LTCUSDT": ("0.01", "0.001", "0.001", "10000", "5"),
}


@cache
def shipped_brackets() -> BracketTables:
    """The shipped bracket snapshot, loaded and validated once (cached)."""
    ref = resources.files(__package__).joinpath("data", BRACKETS_FILE)
    text = ref.read_text(encoding="utf-8")
    return parse_binance_brackets(text, source=f"exsim/instruments/data/{BRACKETS_FILE}")


def list_symbols() -> list[str]:
    """The shipped instruments' Binance symbols, sorted."""
    return sorted(_SPECS)


def _resolve(symbol: str) -> str | None:
    name = symbol.strip().upper()
    if name in _SPECS:
        return name
    short = short_symbol(name)
    if short is not None and short in _SPECS:
        return short
    return None


def get_instrument(symbol: str) -> Instrument:
    """The shipped :class:`Instrument` for ``BTCUSDT`` or ``BTC/USDT:USDT`` (any case).

    Its ``symbol`` is the Binance name (``BTCUSDT``). Unknown symbols raise
    :class:`InputError` listing close matches. Instances are cached and immutable.

    >>> get_instrument("btc/usdt:usdt").price_str(615903)
    '61590.3'
    """
    if not isinstance(symbol, str):
        raise InputError(f"{symbol!r} is not a string", field="symbol")
    name = _resolve(symbol)
    if name is None:
        candidates = list(_SPECS) + [f"{s[:-4]}/USDT:USDT" for s in _SPECS]
        close = difflib.get_close_matches(symbol.strip().upper(), candidates, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise InputError(
            f"unknown symbol {symbol!r}{hint} (shipped: {', '.join(list_symbols())})",
            field="symbol",
        )
    return _build(name)


@cache
def _build(name: str) -> Instrument:
    tick, lot, min_qty, max_qty, min_notional = _SPECS[name]
    return Instrument.create(
        symbol=name,
        tick_size=tick,
        lot_size=lot,
        min_qty=min_qty,
        max_qty=max_qty,
        min_notional=min_notional,
        brackets=shipped_brackets()[name],
    )
