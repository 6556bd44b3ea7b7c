"""Shipped instruments: every Binance USDⓈ-M symbol of the catalogue, at any date, and the
Binance COIN-M (inverse) perpetuals whose leverage brackets Binance published.

The values are **dated examples**, not live truth (see ``data/PROVENANCE.md``):

- brackets: Binance leverage brackets as of 2024-10-24 (freqtrade's snapshot, verbatim,
  349 symbols);
- tick/lot/min qty/max qty/min notional and the venue's liquidation (clearance) fee: the
  catalogue (:mod:`exsim.instruments.catalogue`), one version per dated Binance
  ``exchangeInfo`` dump (2021-07-22, 2022-02-19, 2025-03-06); the version in force at a
  time is the latest dated at or before it (the first one before any);
- fees: 0.02 % maker / 0.05 % taker (the VIP-0 tier; ``exchangeInfo`` has no fees);
- funding every 8 hours.

COIN-M (``BTCUSD_PERP``, ``BTC/USD:BTC``): specs from the 2021-07-22 ``/dapi/v1/exchangeInfo``
capture (36 symbols), brackets in coin from Binance's 2021 COIN-M tables for BTCUSD_PERP and
ETHUSD_PERP only (``data/PROVENANCE.md``); the other COIN-M symbols have specs but no
shipped brackets (:func:`get_instrument` says so).

Symbols are accepted as Binance names (``BTCUSDT``, ``BTCUSD_PERP``) or ccxt unified
symbols (``BTC/USDT:USDT``, ``BTC/USD:BTC``), case-insensitively.
"""

from __future__ import annotations

from functools import cache
from typing import Final

from exsim.errors import InputError
from exsim.instruments.brackets import (
    BRACKETS_FILE,
    COINM_BRACKETS_FILE,
    load_binance_brackets,
    shipped_brackets,
    shipped_coinm_brackets,
)
from exsim.instruments.catalogue import (
    COINM_NO_BRACKETS,
    Catalogue,
    CatalogueEntry,
    SpecVersion,
    catalogue,
    coinm_catalogue,
    instrument_from_spec,
)
from exsim.instruments.instrument import Instrument

__all__ = [
    "BRACKETS_FILE",
    "COINM_BRACKETS_FILE",
    "MARKETS",
    "get_instrument",
    "list_symbols",
    "shipped_brackets",
    "shipped_coinm_brackets",
    "load_brackets_file",
    "catalogue_entry",
]

#: What :func:`list_symbols` lists: USDⓈ-M (linear), COIN-M (inverse) or both.
MARKETS: Final = ("usdm", "coinm", "all")

#: Users loading their own ``binance_leverage_tiers.json``-format file.
load_brackets_file = load_binance_brackets


def list_symbols(market: str = "usdm") -> list[str]:
    """Shipped Binance symbols that build an instrument, sorted: ``"usdm"`` (default) the
    USDⓈ-M catalogue's with a known spec; ``"coinm"`` the COIN-M ones with a spec and a
    shipped bracket table (inverse); ``"all"`` both.

    >>> list_symbols("coinm")
    ['BTCUSD_PERP', 'ETHUSD_PERP']
    """
    if market not in MARKETS:
        raise InputError(f"{market!r}; expected one of {', '.join(MARKETS)}", field="market")
    names: list[str] = []
    if market in ("usdm", "all"):
        names += [name for name, e in catalogue().items() if e.specs]
    if market in ("coinm", "all"):
        names += [name for name, e in coinm_catalogue().items() if e.specs and e.brackets_source != COINM_NO_BRACKETS]
    return sorted(names)


def _catalogue_of(name: str) -> Catalogue:
    return catalogue() if name in catalogue() else coinm_catalogue()


def catalogue_entry(symbol: str) -> CatalogueEntry:
    """The catalogue entry of ``symbol`` (any spelling), USDⓈ-M first, then COIN-M;
    InputError "unknown symbol" with close matches otherwise."""
    if not isinstance(symbol, str):
        raise InputError(f"{symbol!r} is not a string", field="symbol")
    cat, coinm = catalogue(), coinm_catalogue()
    for c in (cat, coinm):
        name = c.resolve(symbol)
        if name is not None:
            return c[name]
    close = cat.close_matches(symbol) or coinm.close_matches(symbol)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise InputError(
        f"unknown symbol {symbol!r}{hint} ({len(cat)} Binance USDⓈ-M symbols shipped: "
        "exsim.instruments.list_symbols() lists them; COIN-M: list_symbols('coinm'); "
        "for another one pass --instruments FILE)",
        field="symbol",
    )


def get_instrument(symbol: str, at_ns: int | None = None) -> Instrument:
    """The shipped :class:`Instrument` for ``BTCUSDT`` or ``BTC/USDT:USDT`` (any case), with
    the spec in force at ``at_ns`` (ns since the epoch; None: the latest spec). COIN-M names
    (``BTCUSD_PERP``, ``BTC/USD:BTC``) give an inverse instrument (contract size, coin
    margin asset, brackets in coin atoms).

    Its ``symbol`` is the Binance name; its ``clearance_fee_e8`` is the venue's
    ``liquidationFee`` in that spec. Unknown symbols raise :class:`InputError` listing close
    matches; a symbol with brackets but no known tick/lot size raises one that says so.
    Instances are cached and immutable.

    >>> get_instrument("btc/usdt:usdt").price_str(615903)
    '61590.3'
    >>> from exsim.instruments.catalogue import ns_of_date
    >>> get_instrument("BTCUSDT", ns_of_date("2020-09-01")).tick_size
    Decimal('0.01')
    >>> inv = get_instrument("BTC/USD:BTC")
    >>> inv.symbol, inv.inverse, inv.contract_size, inv.margin_asset, inv.lot_size
    ('BTCUSD_PERP', True, Decimal('100'), 'BTC', Decimal('1'))
    """
    entry = catalogue_entry(symbol)
    spec = entry.spec_at(at_ns)
    if spec is None:
        raise InputError(
            f"{entry.symbol}: the catalogue has its leverage brackets but no tick or lot size; "
            "pass --tick-size and --lot-size, or --instruments FILE (a Binance exchangeInfo dump)",
            field="symbol",
        )
    return build_instrument(entry.symbol, spec)


@cache
def build_instrument(name: str, spec: SpecVersion | None, tick_size: str | None = None, lot_size: str | None = None) -> Instrument:
    """The instrument of catalogue symbol ``name`` (USDⓈ-M or COIN-M) under ``spec`` (and
    grid overrides), cached."""
    entry = _catalogue_of(name)[name]
    return instrument_from_spec(entry, spec, entry.brackets(), tick_size=tick_size, lot_size=lot_size)
