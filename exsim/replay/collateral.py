"""Multi-asset collateral in a replay: index prices of collateral assets, haircut schedules.

A replay run with ``--collateral-mode multi-assets`` switches the strategy's account to
Binance's Multi-Assets Mode at its start (:class:`exsim.exchange.commands.SetCollateralMode`):
its wallets in every asset form one pool, each asset valued at its **collateral index**
through its bid/ask buffers and value-ratio tiers (:mod:`exsim.ledger.collateral`, the one
place that math lives). This module makes the run's collateral inputs:

* **Index prices** (:class:`CollateralQuote`, turned into
  :class:`~exsim.exchange.commands.CollateralIndex` by the replay at the moment it is
  dispatched, with the quote asset's own index then). From an ``--index-file``: a spot
  capture's best bid/ask mid (``BTCUSDT`` quotes price BTC in USDT), or a file of index
  rows (Binance ``indexPriceKlines``, a Tardis ``derivative_ticker``'s ``index_price``),
  symbol by symbol (:func:`index_items`). Without one, a collateral asset follows the mark
  of the run's ``<ASSET>USDT`` / ``<ASSET>USDC`` perpetual (or of its coin-margined
  ``<ASSET>USD_PERP``, whose mark is in USD) — the run says so.
* **Haircut schedules** (``--haircut-schedule FILE.toml``): ``[[haircut_schedule]]``
  entries, each a change of an asset's buffers or tiers at a time
  (:func:`read_haircut_schedule`), sent as
  :class:`~exsim.exchange.commands.SetCollateralRule` when their time comes.

Prices are exact: a quote's price in 1e-8 of its quote asset (``price_e8``), an index in
USD × 1e8. Converting a price in USDT to USD multiplies by the USDT index (1 by default,
exact); a non-unit quote index rounds the product to the nearest 1e-8 USD, ties to even
(:func:`exsim.units.div_half_even`; the index is a reference price, not a payment).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, NamedTuple

from exsim.errors import InputError
from exsim.instruments.instrument import USD_ASSETS
from exsim.ledger.collateral import CollateralRule, CollateralTier, parse_tiers
from exsim.readers.rows import INDEX, QUOTE, Row
from exsim.toml_fields import Source, duration_ns
from exsim.units import RATE_SCALE, div_half_even, to_rate_e8, to_subticks

__all__ = [
    "CollateralQuote",
    "ScheduledRule",
    "index_items",
    "pair_of",
    "read_haircut_schedule",
    "follow_symbol",
    "usd_index_e8",
]

#: quote assets a collateral pair may be priced in (``USD``: the price is USD itself)
QUOTE_ASSETS = ("USDT", "USDC", "FDUSD", "BUSD", "TUSD", "USDP", "DAI", "USD")
_SEPARATED = re.compile(r"^([A-Z0-9]{2,})[-/_:]([A-Z0-9]{2,})$")
#: the fields of a ``[[haircut_schedule]]`` entry
SCHEDULE_FIELDS = ("asset", "at", "bid_buffer", "ask_buffer", "tiers")
#: the largest schedule file read
MAX_SCHEDULE_BYTES = 1 << 20


class CollateralQuote(NamedTuple):
    """A price of one collateral asset, as read: ``price_e8`` of ``quote`` (1e-8 units) per
    whole ``asset``; ``quote`` is ``"USD"`` when the price is in USD. The replay turns it
    into a :class:`~exsim.exchange.commands.CollateralIndex` when it is dispatched.
    ``source``: 0 from an ``--index-file``, 1 a mark the run follows, 2 a seed at the start."""

    ts_ns: int
    asset: str
    quote: str
    price_e8: int
    source: int


FROM_FILE, FROM_MARK, SEED = 0, 1, 2


class ScheduledRule(NamedTuple):
    """One ``[[haircut_schedule]]`` entry at its time: the fields it changes (None keeps one)."""

    ts_ns: int
    asset: str
    bid_buffer_e8: int | None
    ask_buffer_e8: int | None
    tiers: tuple[CollateralTier, ...] | None
    where: str  # file:line of the entry's asset


def pair_of(symbol: str) -> tuple[str, str] | None:
    """``(base, quote)`` of a spot or index symbol priced in a USD stablecoin or in USD,
    None for anything else (a COIN-M contract, an unknown quote).

    >>> pair_of("BTCUSDT"), pair_of("ETH-USDC"), pair_of("BTCUSD"), pair_of("BTCUSD_PERP")
    (('BTC', 'USDT'), ('ETH', 'USDC'), ('BTC', 'USD'), None)
    """
    s = symbol.upper()
    m = _SEPARATED.match(s)
    if m is not None:
        base, quote = m.groups()
        return (base, quote) if quote in QUOTE_ASSETS and base != quote else None
    for quote in QUOTE_ASSETS:  # (longest first where one ends another: USDT before USD)
        if s.endswith(quote) and len(s) > len(quote) + 1 and s[: -len(quote)].isalnum():
            return s[: -len(quote)], quote
    return None


def usd_index_e8(price_e8: int, quote: str, rules: Mapping[str, CollateralRule]) -> int:
    """A price in ``quote`` as USD × 1e8: times the quote asset's collateral index (a USD
    stablecoin without a book counts at 1; ``USD`` is USD). 0 when the quote has no index.

    >>> usd_index_e8(6_150_000_000_000, "USDT", {})
    6150000000000
    >>> usd_index_e8(6_150_000_000_000, "USDT", {"USDT": CollateralRule("USDT", 99_000_000)})
    6088500000000
    """
    if quote == "USD":
        return price_e8
    rule = rules.get(quote)
    index = rule.index_usd_e8 if rule is not None else (RATE_SCALE if quote in USD_ASSETS else 0)
    if index == RATE_SCALE:
        return price_e8
    return div_half_even(price_e8 * index, RATE_SCALE)


def index_items(
    rows: Iterable[Row], symbols: Iterable[str], collateral_assets: Iterable[str], proxy: Any
) -> Iterator[Any]:
    """An ``--index-file``'s items in a multi-assets run: for a symbol of the run, its best
    bid/ask mid as the index proxy of computed marks (``proxy``: the ``IndexQuote`` type, as
    :func:`exsim.replay.market.index_quotes` makes them); for a pair whose base is a
    collateral asset of the run (``BTCUSDT`` quotes with BTC collateral), a
    :class:`CollateralQuote` from each mid and from each index row. A symbol that is
    neither is an error naming the row (an index for an asset with no book). O(1) a row.
    """
    run_symbols = frozenset(symbols)
    assets = frozenset(collateral_assets)
    best: dict[tuple[str, int], int] = {}
    pairs: dict[str, tuple[str, str] | None] = {}
    for row in rows:
        kind = row.kind
        if kind != QUOTE and kind != INDEX:
            continue
        sym = row.symbol
        pair = pairs.get(sym, ())
        if pair == ():
            pair = pairs[sym] = pair_of(sym)
            if pair is not None and pair[0] not in assets:
                pair = pairs[sym] = None
            if pair is None and sym not in run_symbols:
                base = (pair_of(sym) or (sym, ""))[0]
                raise InputError(
                    f"index file symbol {sym!r} is not one of the replayed symbols {sorted(run_symbols)} and {base} has "
                    f"no book in this run (collateral assets: {', '.join(sorted(assets)) or 'none'}): deposit it "
                    f"(--deposit 1{base}) or leave the file out",
                    where=row.where,
                    field="symbol",
                )
        price = to_subticks(row.price, field="index price", where=row.where)
        if kind == INDEX:
            if pair is not None:
                yield CollateralQuote(row.ts_ns, pair[0], pair[1], price, FROM_FILE)
            continue
        best[(sym, row.side)] = price
        bid, ask = best.get((sym, 0)), best.get((sym, 1))
        if bid is None or ask is None:
            continue
        if sym in run_symbols:
            yield proxy(row.ts_ns, sym, div_half_even(bid + ask, 2))
        if pair is not None:
            yield CollateralQuote(row.ts_ns, pair[0], pair[1], div_half_even(bid + ask, 2), FROM_FILE)


def follow_symbol(asset: str, instruments: Sequence[Any]) -> Any:
    """The run's instrument whose mark a collateral ``asset``'s index follows when no index
    file prices it: a linear perpetual ``<ASSET>USDT`` / ``<ASSET>USDC`` (mark × the quote's
    index), else a coin-margined contract settling in it (its mark is USD per coin); None."""
    for quote in ("USDT", "USDC"):
        for inst in instruments:
            if not inst.inverse and inst.base == asset and inst.quote == quote:
                return inst
    for inst in instruments:
        if inst.inverse and inst.margin_asset == asset:
            return inst
    return None


# ---------------------------------------------------------------------- haircut schedules
def read_haircut_schedule(path: str | Path) -> list[tuple[int | None, int, ScheduledRule]]:
    """The entries of a haircut schedule file, in file order, as ``(at_ns | None, offset_ns,
    rule)``: an absolute time (``at = "2024-08-08T23:57:00Z"`` or a TOML date-time, UTC) or
    an offset from the run's first row (``at = "+90s"``, ``"+2m"``; the entry's time is then
    resolved by :func:`scheduled_at`). Each entry::

        [[haircut_schedule]]
        asset = "BTC"
        at = "+2m"
        bid_buffer = "0.05"        # optional: the fields given change, the others stay
        ask_buffer = "0.01"
        tiers = [{upto = "10", value_ratio = "0.9"}, {haircut = "0.2"}]

    Any error is one :class:`InputError` naming ``file:line`` and the field.
    """
    source = Source.read(path)
    root = source.root()
    root.only(("haircut_schedule",))
    entries = root.tables("haircut_schedule")
    if not entries:
        raise source.error("haircut_schedule", "no [[haircut_schedule]] entry: give at least one (asset, at, and a field to change)")
    out: list[tuple[int | None, int, ScheduledRule]] = []
    for f in entries:
        f.only(SCHEDULE_FIELDS)
        asset = f.text("asset").strip().upper()
        if not asset.isalnum() or not asset:
            raise f.error("asset", f"{f.table['asset']!r} is not an asset name like BTC")
        at_ns, offset_ns = _at(f)
        bid = ask = None
        for key in ("bid_buffer", "ask_buffer"):
            if f.has(key):
                text = f.decimal_text(key, non_negative=True)
                value = to_rate_e8(text, field=f.field(key), where=source.where(f.field(key)))
                if value > RATE_SCALE:
                    raise f.error(key, f"{text!r} must be in [0, 1]")
                bid, ask = (value, ask) if key == "bid_buffer" else (bid, value)
        tiers = None
        if f.has("tiers"):
            where = source.where(f.field("tiers"))
            raw = f.raw("tiers", types=(list,))
            for tier in raw:
                for k, v in tier.items() if isinstance(tier, dict) else ():
                    if isinstance(v, float):
                        raise f.error("tiers", f"tier {k} {v!r}: write it as a string (\"{v}\") so it stays exact")
            try:
                tiers = parse_tiers([{k: str(v) for k, v in t.items()} if isinstance(t, dict) else t for t in raw], where)
            except InputError as exc:  # (named as the entry's field, as every other error here)
                raise f.error("tiers", str(exc).removeprefix(f"{where}: ")) from None
        if bid is None and ask is None and tiers is None:
            raise f.error("asset", "the entry changes nothing: give bid_buffer, ask_buffer or tiers")
        if bid is not None and ask is not None and RATE_SCALE - bid > RATE_SCALE + ask:
            raise f.error("bid_buffer", "bid_buffer and ask_buffer make the bid rate above the ask rate")
        out.append((at_ns, offset_ns, ScheduledRule(0, asset, bid, ask, tiers, source.where(f.field("asset")))))
    return out


def _at(f: Any) -> tuple[int | None, int]:
    """An entry's ``at``: ``(ns since the epoch, 0)`` or ``(None, offset ns)``."""
    value = f.raw("at")
    if isinstance(value, datetime):
        dt = value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
        return _epoch_ns(dt, f), 0
    if isinstance(value, date) or not isinstance(value, str):
        raise f.error("at", f"{value!r} is not a time: give a UTC time (\"2024-08-08T23:57:00Z\") or an offset from the run's start (\"+90s\")")
    text = value.strip()
    if text.startswith("+"):
        return None, duration_ns(text[1:], f, "at")
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise f.error("at", f"{text!r} is neither a UTC time like 2024-08-08T23:57:00Z nor an offset like +90s") from None
    if dt.tzinfo is None:
        raise f.error("at", f"{text!r} has no time zone; end it with Z for UTC")
    return _epoch_ns(dt, f), 0


def _epoch_ns(dt: datetime, f: Any) -> int:
    delta = dt.astimezone(timezone.utc) - datetime(1970, 1, 1, tzinfo=timezone.utc)
    ns = (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000
    if ns < 0:
        raise f.error("at", "is before 1970")
    return ns


def scheduled_at(entries: Iterable[tuple[int | None, int, ScheduledRule]], first_ts_ns: int) -> list[ScheduledRule]:
    """The entries with their times resolved against the run's first row, in time order
    (entries at the same time in file order)."""
    timed = [(at if at is not None else first_ts_ns + offset, i, rule) for i, (at, offset, rule) in enumerate(entries)]
    timed.sort(key=lambda t: (t[0], t[1]))
    return [rule._replace(ts_ns=ts) for ts, _, rule in timed]
