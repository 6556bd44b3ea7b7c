"""The shipped instrument catalogue: Binance USDⓈ-M contract specs by date.

``data/catalogue.json`` (built by ``tools/build_catalogue.py``; sources in
``data/PROVENANCE.md``) lists every symbol of the shipped leverage-bracket snapshot with
the spec *versions* found for it in dated ``exchangeInfo`` dumps. A version holds tick and
lot size, min/max quantity, min notional, the venue's ``liquidationFee`` (exsim's
clearance fee) and maker/taker fees, each as the dump's exact decimal text, and names its
source and date.

A spec is **in force** at a time ``t`` when it is the latest version dated at or before
``t``; before the first version, the first one is assumed (the earliest evidence there
is). :meth:`CatalogueEntry.spec_at` answers that question; ``None`` means "now", the
latest version.

>>> btc = catalogue()["BTCUSDT"]
>>> [(v.date, v.tick_size) for v in btc.specs][:2]
[('2021-07-22', '0.01'), ('2022-02-19', '0.10')]
>>> btc.spec_at(ns_of_date("2020-09-01")).tick_size, btc.spec_at(None).tick_size
('0.01', '0.10')
"""

from __future__ import annotations

import difflib
import json
from bisect import bisect_right
from decimal import Decimal
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from functools import cache
from importlib import resources
from typing import Any, Final

import attrs

from exsim.errors import InputError, SpecError
from exsim.instruments.brackets import BracketTable, shipped_brackets, shipped_coinm_brackets
from exsim.instruments.instrument import Instrument
from exsim.units import parse_decimal

__all__ = [
    "CATALOGUE_FILE",
    "COINM_FILE",
    "COINM_NO_BRACKETS",
    "Catalogue",
    "CatalogueEntry",
    "SpecVersion",
    "catalogue",
    "coinm_catalogue",
    "ns_of_date",
    "date_of_ns",
    "plain",
]

#: Name of the shipped catalogue inside ``exsim/instruments/data/``.
CATALOGUE_FILE: Final = "catalogue.json"
#: Name of the shipped Binance COIN-M (inverse) specs inside ``exsim/instruments/data/``.
COINM_FILE: Final = "binance_coinm_specs_2021-07-22.json"
#: ``CatalogueEntry.brackets_source`` of a COIN-M symbol with no published bracket table.
COINM_NO_BRACKETS: Final = "none"
_NS_PER_S: Final = 1_000_000_000


def plain(text: str) -> str:
    """A decimal text without trailing fractional zeros, as a grid is written.

    >>> plain("0.10"), plain("0.0001000"), plain("1"), plain("10")
    ('0.1', '0.0001', '1', '10')
    """
    if "." not in text:
        return text
    return text.rstrip("0").rstrip(".")


def ns_of_date(date: str) -> int:
    """``YYYY-MM-DD`` (UTC midnight) as ns since the epoch.

    >>> ns_of_date("1970-01-02")
    86400000000000
    """
    dt = datetime.strptime(date, "%Y-%m-%d").replace(tzinfo=timezone.utc)
    return int(dt.timestamp()) * _NS_PER_S


def date_of_ns(ts_ns: int) -> str:
    """The UTC date of ``ts_ns`` as ``YYYY-MM-DD``.

    >>> date_of_ns(86_400 * 10**9)
    '1970-01-02'
    """
    return datetime.fromtimestamp(ts_ns // _NS_PER_S, tz=timezone.utc).strftime("%Y-%m-%d")


@attrs.frozen
class SpecVersion:
    """One dated contract spec of a symbol, as its source stated it (decimal texts)."""

    date: str  # the source's capture date, YYYY-MM-DD (UTC)
    from_ns: int  # the source's capture time, ns since the epoch
    source: str  # key into Catalogue.sources
    tick_size: str
    lot_size: str
    min_qty: str
    max_qty: str
    min_notional: str
    liquidation_fee: str  # the venue's liquidation (clearance) fee, a fraction
    maker_fee: str
    taker_fee: str

    def describe(self) -> str:
        """``tick 0.1, lot 0.001 (Binance exchangeInfo 2022-02-19, nautilus-2022-02-19)``."""
        return f"tick {self.tick_size}, lot {self.lot_size} (exchangeInfo {self.date}, source {self.source})"


@attrs.frozen
class CatalogueEntry:
    """A symbol of the catalogue: its names, bracket source and spec versions by date."""

    symbol: str  # Binance name, e.g. BTCUSDT or BTCUSDT_241227
    ccxt: str  # ccxt unified name, the bracket file's key, e.g. BTC/USDT:USDT
    base: str
    quote: str
    brackets_source: str  # a source key, or "legacy" (one bracket, below)
    specs: tuple[SpecVersion, ...]  # by date, oldest first (may be empty: brackets only)
    #: no bracket table known (the snapshot does not list the symbol): one bracket from the
    #: dump's maintMarginPercent / requiredMarginPercent, capped at ``legacy_cap`` (assumed)
    legacy_brackets: tuple[str, str, str] | None = None  # (maint %, required %, cap)
    #: inverse (COIN-M): size in contracts of ``contract_size`` quote units, money in ``margin_asset``
    inverse: bool = False
    contract_size: str = "0"
    margin_asset: str = ""  # "" = the instrument's default (the quote, linear)

    def brackets(self) -> BracketTable:
        """The symbol's leverage brackets: the shipped snapshot's, or the one legacy bracket;
        a COIN-M symbol's from the shipped COIN-M tables (in coin atoms). InputError for a
        COIN-M symbol whose table is not shipped."""
        if self.inverse:
            if self.brackets_source == COINM_NO_BRACKETS:
                raise InputError(
                    f"{self.symbol}: no leverage brackets are shipped for this COIN-M symbol "
                    f"(only {', '.join(shipped_coinm_brackets())} have a published table); "
                    "pass --instruments FILE with its leverage brackets",
                    field="symbol",
                )
            return shipped_coinm_brackets()[self.symbol]
        if self.legacy_brackets is None:
            return shipped_brackets()[self.ccxt]
        maint, required, cap = self.legacy_brackets
        mmr = str(Decimal(maint) / 100)
        lev = int(Decimal(100) / Decimal(required))
        return BracketTable.from_tiers([("0", cap, mmr, lev)], symbol=self.ccxt, source="exchangeInfo margin fields")

    def spec_at(self, at_ns: int | None) -> SpecVersion | None:
        """The version in force at ``at_ns`` (the latest dated at or before it; the first
        one before any; the latest if ``at_ns`` is None). None if no version is known.
        O(log versions)."""
        if not self.specs:
            return None
        if at_ns is None:
            return self.specs[-1]
        k = bisect_right([v.from_ns for v in self.specs], at_ns)
        return self.specs[max(k - 1, 0)]

    def by_distance(self, at_ns: int) -> list[SpecVersion]:
        """Every version, the one in force at ``at_ns`` first, then by distance in time."""
        first = self.spec_at(at_ns)
        rest = sorted((v for v in self.specs if v is not first), key=lambda v: abs(v.from_ns - at_ns))
        return ([first] if first is not None else []) + rest


class Catalogue(Mapping[str, CatalogueEntry]):
    """Binance symbol -> :class:`CatalogueEntry`; lookups also accept the ccxt name and any case."""

    def __init__(self, entries: Mapping[str, CatalogueEntry], sources: Mapping[str, Mapping[str, Any]], fee_source: str) -> None:
        self._entries = dict(entries)
        self.sources = {k: dict(v) for k, v in sources.items()}
        self.fee_source = fee_source
        self._aliases = {e.ccxt.upper(): e.symbol for e in self._entries.values()}

    def resolve(self, symbol: str) -> str | None:
        """The Binance name of ``symbol`` (``btc/usdt:usdt`` -> ``BTCUSDT``), or None."""
        name = symbol.strip().upper()
        if name in self._entries:
            return name
        return self._aliases.get(name)

    def close_matches(self, symbol: str, n: int = 3) -> list[str]:
        """Up to ``n`` catalogue names close to ``symbol`` (for "did you mean")."""
        return difflib.get_close_matches(symbol.strip().upper(), list(self._entries), n=n, cutoff=0.6)

    def source_text(self, key: str) -> str:
        """``Binance GET /fapi/v1/exchangeInfo ... (github.com/..., path)`` for a source key."""
        s = self.sources.get(key, {})
        repo = str(s.get("repository", "")).removeprefix("https://")
        return f"{s.get('what', key)}; {repo}/{s.get('path', '')}" if s else key

    def __getitem__(self, symbol: str) -> CatalogueEntry:
        name = self.resolve(symbol) if isinstance(symbol, str) else None
        if name is None:
            raise KeyError(symbol)
        return self._entries[name]

    def __contains__(self, symbol: object) -> bool:
        return isinstance(symbol, str) and self.resolve(symbol) is not None

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


def parse_catalogue(text: str, *, source: str = CATALOGUE_FILE) -> Catalogue:
    """A catalogue from its JSON text; SpecError naming the symbol and field if malformed."""
    data = json.loads(text)
    sources = data["sources"]
    entries: dict[str, CatalogueEntry] = {}
    for symbol, e in data["symbols"].items():
        versions = _spec_versions(e, sources, symbol, source)
        b = e["brackets"]
        if isinstance(b, str):
            entries[symbol] = CatalogueEntry(symbol, e["ccxt"], e["base"], e["quote"], b, versions)
        else:
            legacy = (b["maint_margin_percent"], b["required_margin_percent"], b["cap"])
            entries[symbol] = CatalogueEntry(symbol, e["ccxt"], e["base"], e["quote"], "legacy", versions, legacy)
    return Catalogue(entries, sources, data["fee_source"])


def _spec_versions(e: Mapping[str, Any], sources: Mapping[str, Any], symbol: str, source: str) -> tuple[SpecVersion, ...]:
    versions = []
    for i, v in enumerate(e["specs"]):
        src = v["source"]
        if src not in sources:
            raise SpecError(f"unknown source {src!r}", where=f"{source}: {symbol}", field=f"specs[{i}].source")
        for key in ("tick_size", "lot_size", "min_qty", "max_qty", "min_notional", "liquidation_fee", "maker_fee", "taker_fee"):
            parse_decimal(v[key], field=f"specs[{i}].{key}", where=f"{source}: {symbol}")
        versions.append(
            SpecVersion(
                date=v["from"], from_ns=int(sources[src]["captured_ns"]), source=src,
                tick_size=v["tick_size"], lot_size=v["lot_size"], min_qty=v["min_qty"], max_qty=v["max_qty"],
                min_notional=v["min_notional"], liquidation_fee=v["liquidation_fee"],
                maker_fee=v["maker_fee"], taker_fee=v["taker_fee"],
            )
        )
    versions.sort(key=lambda v: v.from_ns)
    return tuple(versions)


def parse_coinm_catalogue(text: str, *, source: str = COINM_FILE) -> Catalogue:
    """The COIN-M (inverse) catalogue from its JSON text (``tools/build_coinm_data.py``).

    Entries are inverse: ``contract_size`` (quote units per contract), ``margin_asset``
    (the coin), specs by date as for USDⓈ-M, and ``brackets_source`` naming the shipped
    bracket table or :data:`COINM_NO_BRACKETS`. SpecError naming the symbol and field if
    malformed.
    """
    data = json.loads(text)
    sources = data["sources"]
    entries: dict[str, CatalogueEntry] = {}
    for symbol, e in data["symbols"].items():
        size = e["contract_size"]
        if parse_decimal(size, field="contract_size", where=f"{source}: {symbol}") <= 0:
            raise SpecError(f"{size!r} must be > 0", where=f"{source}: {symbol}", field="contract_size")
        b = e["brackets"]
        entries[symbol] = CatalogueEntry(
            symbol, e["ccxt"], e["base"], e["quote"], b if isinstance(b, str) else COINM_NO_BRACKETS,
            _spec_versions(e, sources, symbol, source),
            inverse=True, contract_size=size, margin_asset=e["margin_asset"],
        )
    return Catalogue(entries, sources, data["fee_source"])


@cache
def catalogue() -> Catalogue:
    """The shipped USDⓈ-M catalogue, loaded once (cached)."""
    text = resources.files(__package__).joinpath("data", CATALOGUE_FILE).read_text(encoding="utf-8")
    return parse_catalogue(text, source=f"exsim/instruments/data/{CATALOGUE_FILE}")


@cache
def coinm_catalogue() -> Catalogue:
    """The shipped Binance COIN-M (inverse) catalogue, loaded once (cached).

    >>> e = coinm_catalogue()["btc/usd:btc"]
    >>> e.symbol, e.contract_size, e.margin_asset, e.spec_at(None).tick_size
    ('BTCUSD_PERP', '100', 'BTC', '0.1')
    """
    text = resources.files(__package__).joinpath("data", COINM_FILE).read_text(encoding="utf-8")
    return parse_coinm_catalogue(text, source=f"exsim/instruments/data/{COINM_FILE}")


def instrument_from_spec(
    entry: CatalogueEntry,
    spec: SpecVersion | None,
    brackets: BracketTable,
    *,
    tick_size: str | None = None,
    lot_size: str | None = None,
) -> Instrument:
    """Build the :class:`Instrument` of ``entry`` under ``spec``, its clearance fee the
    venue's ``liquidationFee``. ``tick_size`` / ``lot_size`` replace the spec's grids (the
    limits in quantity, then, are one lot and no cap); with no spec both are required."""
    where = f"instrument {entry.symbol}"
    if spec is None and (tick_size is None or lot_size is None):
        raise InputError("no tick/lot size is known for this symbol", where=where, field="tick_size")
    tick = plain(tick_size if tick_size is not None else spec.tick_size)  # type: ignore[union-attr]
    lot = plain(lot_size if lot_size is not None else spec.lot_size)  # type: ignore[union-attr]
    kw: dict[str, Any] = {}
    if spec is not None and lot_size is None:
        min_qty = spec.min_qty if parse_decimal(spec.min_qty, field="min_qty") > 0 else spec.lot_size  # "0": one lot
        kw.update(min_qty=min_qty, max_qty=spec.max_qty)
    if spec is not None:
        kw.update(min_notional=spec.min_notional, maker_fee=spec.maker_fee, taker_fee=spec.taker_fee,
                  clearance_fee=spec.liquidation_fee)
    if entry.inverse:
        kw.update(inverse=True, contract_size=entry.contract_size, margin_asset=entry.margin_asset)
    return Instrument.create(
        symbol=entry.symbol, base=entry.base, quote=entry.quote, tick_size=tick, lot_size=lot, brackets=brackets, **kw
    )
