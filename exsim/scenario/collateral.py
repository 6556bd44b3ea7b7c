"""Multi-asset collateral in a scenario: ``[collateral.ASSET]``, index paths, haircut schedules.

A scenario may give any asset a collateral rule (Binance Multi-Assets Mode, Bybit-style
tiers: the math is :mod:`exsim.ledger.collateral`, read with its
:func:`~exsim.ledger.collateral.parse_rule`) and an **index price path**::

    [collateral.BTC]
    index = "path:BTCUSDT"          # the BTC index is BTCUSDT's mark, at every mark
    bid_buffer = "0.05"
    tiers = [{ upto = "10", haircut = "0.02" }, { haircut = "0.05" }]

``index`` is a price (``"40000"``: constant), ``"path:SYMBOL"`` (the mark of that
instrument, read as USD per coin, wherever it comes from: its path or, with
``mark = "book"``, the book), or a sub-table ``[collateral.BTC.index]`` with ``marks``,
``csv`` or ``generator``, read as the instruments' paths are (:mod:`exsim.scenario.paths`)
on a grid of 1e-8 USD. USDⓈ assets have a rule without a table (index 1, no buffer).

A ``[[haircut_schedule]]`` changes an asset's buffers or tiers at ``at`` (a step), or
moves them there linearly from the values in force at ``at`` to the ones given at
``until``, one change every ``every`` (a ramp; each value between is rounded toward the
value in force, never past the target). Each change becomes one
``SetCollateralRule`` command; each index point one ``CollateralIndex``.

Every error names the file, the line and the field (``collateral.BTC.tiers[1].haircut``).
"""

from __future__ import annotations

import re
from typing import Any

import attrs

from exsim.errors import InputError
from exsim.instruments import Instrument
from exsim.instruments.instrument import USD_ASSETS
from exsim.ledger.collateral import ONE_TIER, CollateralRule, CollateralTier, parse_rule
from exsim.replay.market import MAX_PRICE_TICKS
from exsim.scenario.paths import IndexGrid
from exsim.toml_fields import Fields
from exsim.units import NS_PER_MINUTE, format_scaled, mul_div_ceil, mul_div_floor, to_ticks

_ASSET = re.compile(r"^[A-Z][A-Z0-9]{1,15}$")
RULE_KEYS = ("bid_buffer", "ask_buffer", "tiers")
INDEX_GRID = IndexGrid("index")


@attrs.frozen
class CollateralSpec:
    """One ``[collateral.ASSET]``: the rule at the start and the index's path."""

    asset: str
    bid_buffer_e8: int
    ask_buffer_e8: int
    tiers: tuple[CollateralTier, ...]
    #: where the index comes from: ``"price"`` (constant), ``"path:SYMBOL"``, ``"marks"``, ``"csv"``, ``"generator"``
    index_source: str
    #: ((ns from the start, index_usd_e8), ...); a ``path:SYMBOL`` index: the instrument's path points
    index_path: tuple[tuple[int, int], ...]
    where: str

    @property
    def follows(self) -> str:
        """The symbol whose mark the index is (``""``: its own path)."""
        return self.index_source[5:] if self.index_source.startswith("path:") else ""

    def rule(self) -> CollateralRule:
        """The rule at the start (index: the path's first point)."""
        return CollateralRule(self.asset, self.index_path[0][1], self.bid_buffer_e8, self.ask_buffer_e8, self.tiers)


@attrs.frozen
class RuleStep:
    """One change of an asset's collateral rule at ``at_ns`` from the start (None: unchanged)."""

    at_ns: int
    asset: str
    bid_buffer_e8: int | None
    ask_buffer_e8: int | None
    tiers: tuple[CollateralTier, ...] | None
    where: str


# --------------------------------------------------------------------------- [collateral]
def collateral_tables(root: Fields) -> tuple[dict[str, Fields], dict[str, Fields]]:
    """``[collateral.ASSET]`` tables by asset, and the index sub-tables among them (read by
    :func:`exsim.scenario.paths.read_paths`, which draws generated ones with the instruments)."""
    top = root.table_of("collateral", None)
    if top is None:
        return {}, {}
    tables: dict[str, Fields] = {}
    index_tables: dict[str, Fields] = {}
    for asset, _ in top.items():
        if not _ASSET.match(asset):
            raise top.error(asset, f"{asset!r} is not an asset name (capital letters and digits, like BTC or USDT)")
        f = top.table_of(asset)
        f.only(("index", *RULE_KEYS))
        tables[asset] = f
        if isinstance(f.raw("index", None), dict):
            index_tables[asset] = f.table_of("index")
    return tables, index_tables


def read_collateral(
    tables: dict[str, Fields],
    index_paths: dict[str, tuple[tuple[int, int], ...]],
    index_kinds: dict[str, str],
    by_symbol: dict[str, Instrument],
    paths: dict[str, tuple[tuple[int, int], ...]],
) -> dict[str, CollateralSpec]:
    """The :class:`CollateralSpec` of each table (``index_paths``: the sub-table paths read)."""
    out: dict[str, CollateralSpec] = {}
    for asset, f in tables.items():
        bid, ask, tiers = _rule_of(f, asset)
        if asset in index_paths:
            source, path = index_kinds[asset], index_paths[asset]
        elif not f.has("index"):
            if asset not in USD_ASSETS:
                raise f.error("index", f"missing: {asset} needs an index price (a price, \"path:SYMBOL\" or [collateral.{asset}.index])")
            source, path = "price", ((0, 10**8),)
        else:
            text = f.raw("index")
            if isinstance(text, str) and text.startswith("path:"):
                symbol = text[5:]
                if symbol not in by_symbol:
                    raise f.error("index", f"{symbol!r} is not an instrument of this scenario (listed: {', '.join(by_symbol)})")
                if symbol not in paths:
                    raise f.error("index", f"{symbol} has no path to follow")
                per_tick = by_symbol[symbol].subticks_per_tick  # a mark's subticks are 1e-8 of its price: index_usd_e8
                source, path = text, tuple((t, ticks * per_tick) for t, ticks in paths[symbol])
            else:
                price = f.decimal_text("index", positive=True)
                e8 = to_ticks(price, INDEX_GRID.tick_size, field=f.field("index"), where=f.source.where(f.field("index")))
                if e8 >= MAX_PRICE_TICKS:
                    raise f.error("index", f"{price!r} is out of range")
                source, path = "price", ((0, e8),)
        out[asset] = CollateralSpec(asset, bid, ask, tiers, source, path, f.source.where(f.path))
    return out


def _rule_of(f: Fields, asset: str) -> tuple[int, int, tuple[CollateralTier, ...]]:
    """Buffers and tiers of a table with ``bid_buffer``, ``ask_buffer``, ``tiers`` (each
    optional), checked by :func:`parse_rule`; an error names the field's line."""
    table = _rule_table(f)
    try:
        rule = parse_rule(asset, table, f.source.where(f.path))
    except InputError as exc:
        raise _located(exc, f) from None
    return rule.bid_buffer_e8, rule.ask_buffer_e8, rule.tiers


def _rule_table(f: Fields) -> dict[str, Any]:
    """The rule keys of ``f`` as :func:`parse_rule` reads them; floats and wrong types are
    refused here, at their own line (a TOML float is not exact)."""
    table: dict[str, Any] = {}
    for key in ("bid_buffer", "ask_buffer"):
        if f.has(key):
            table[key] = f.decimal_text(key)
    if f.has("tiers"):
        tiers = f.raw("tiers", types=(list,))
        for i, t in enumerate(tiers):
            tf = Fields(f.source, f"{f.field('tiers')}[{i}]", t)
            tf.only(("upto", "value_ratio", "haircut"))
            for key in ("upto", "value_ratio", "haircut"):
                if tf.has(key):
                    tf.decimal_text(key)
        table["tiers"] = tiers
    return table


def _located(exc: InputError, f: Fields) -> InputError:
    """``exc`` (from :func:`parse_rule`, which names the table) at the line of the field it is about."""
    text = exc.message
    prefix = f.source.where(f.path) + ": "
    while text.startswith(prefix):
        text = text[len(prefix):]
    about = f"{exc.field} {text}"
    key = ""
    m = re.search(r"tier (\d+)", about)
    if m:
        i = int(m.group(1)) - 1
        key = f"tiers[{i}]"
        tiers = f.table.get("tiers")
        tier = tiers[i] if isinstance(tiers, list) and 0 <= i < len(tiers) and isinstance(tiers[i], dict) else {}
        for name in ("upto", "value_ratio", "haircut"):
            if name in about and name in tier:
                key += f".{name}"
                break
        else:
            if "value_ratio" in about and "haircut" in tier:  # a haircut is read as a value ratio
                key += ".haircut"
    elif "tiers" in about:
        key = "tiers"
    elif "bid_buffer" in about:
        key = "bid_buffer"
    elif "ask_buffer" in about:
        key = "ask_buffer"
    else:
        m = re.search(r"unknown field '([^']+)'", about)
        key = m.group(1) if m else ""
    if exc.field and exc.field not in text and not m:  # (a number's error names it in its field only)
        text = f"{exc.field.split('.')[-1]}: {text}"
    if key.endswith(".haircut") and "value_ratio must be in [0, 1]" in text:  # (parse_rule reads a haircut as 1 − ratio)
        text = f"{f.table['tiers'][int(m.group(1)) - 1]['haircut']!r}: a haircut outside [0, 1]" if m else text
    asset = f.path.rsplit(".", 1)[-1]
    if text.startswith(f"{asset}: "):  # (the field names the asset)
        text = text[len(asset) + 2:]
    return f.source.error(f.field(key) if key else f.path, text)


# --------------------------------------------------------------------------- [[haircut_schedule]]
def read_schedule(
    root: Fields, collateral: dict[str, CollateralSpec], end_ns: int
) -> tuple[RuleStep, ...]:
    """The ``[[haircut_schedule]]`` entries as rule changes, in time order (a ramp as one
    change per ``every``). ``end_ns``: the scenario's last time from the start."""
    entries = []
    for f in root.tables("haircut_schedule"):
        f.only(("asset", "at", "until", "every", "haircut", *RULE_KEYS))
        asset = f.text("asset")
        if asset not in collateral and asset not in USD_ASSETS:
            listed = ", ".join(collateral) or "none"
            raise f.error("asset", f"unknown asset {asset!r}: give it a [collateral.{asset}] table (collateral tables: {listed})")
        at = f.duration_ns("at")
        if at > end_ns:
            raise f.error("at", f"{f.table['at']!r} is after the scenario's end ({_minutes(end_ns)})")
        until = f.duration_ns("until", None)
        if until is not None:
            if until <= at:
                raise f.error("until", "must be after at")
            if until > end_ns:
                raise f.error("until", f"{f.table['until']!r} is after the scenario's end ({_minutes(end_ns)})")
        elif f.has("every"):
            raise f.error("every", "only a ramp (with until) changes in steps")
        every = f.duration_ns("every", NS_PER_MINUTE, positive=True)
        if until is not None and (until - at) % every:
            raise f.error("every", "until − at must be a whole number of steps")
        if f.has("haircut") and f.has("tiers"):
            raise f.error("haircut", "give haircut (one tier) or tiers, not both")
        if not any(f.has(k) for k in ("haircut", *RULE_KEYS)):
            raise f.error("asset", "nothing changes: give bid_buffer, ask_buffer, tiers or haircut")
        entries.append((at, until, every, asset, f))
    entries.sort(key=lambda e: e[0])  # (stable: two at one time apply in the file's order)
    in_force: dict[str, CollateralRule] = {}
    busy_until: dict[str, int] = {}
    steps: list[RuleStep] = []
    for at, until, every, asset, f in entries:
        if at < busy_until.get(asset, 0):
            raise f.error("at", f"{asset} is still ramping until {_minutes(busy_until[asset])} (an earlier entry)")
        busy_until[asset] = until if until is not None else at
        spec = collateral.get(asset)
        now = in_force.get(asset) or (spec.rule() if spec else CollateralRule(asset, 10**8))
        bid, ask, tiers = _entry_values(f, asset)
        target = CollateralRule(asset, now.index_usd_e8 or 10**8,
                                now.bid_buffer_e8 if bid is None else bid,
                                now.ask_buffer_e8 if ask is None else ask,
                                now.tiers if tiers is None else tiers)
        try:
            target.check(f.source.where(f.path))
        except InputError as exc:
            raise _located(exc, f) from None
        where = f.source.where(f.path)
        if until is None:
            steps.append(RuleStep(at, asset, bid, ask, tiers, where))
        else:
            if tiers is not None and [u for u, _ in tiers] != [u for u, _ in now.tiers]:
                raise f.error("tiers" if f.has("tiers") else "haircut",
                              "a ramp moves the value ratios of the tiers in force: give the same tier bounds "
                              f"({_bounds(now.tiers)})")
            n = (until - at) // every
            for k in range(1, n + 1):
                steps.append(RuleStep(
                    at + k * every, asset,
                    None if bid is None else _toward(now.bid_buffer_e8, bid, k, n),
                    None if ask is None else _toward(now.ask_buffer_e8, ask, k, n),
                    None if tiers is None else tuple(
                        CollateralTier(u, _toward(r0, r1, k, n)) for (u, r0), (_, r1) in zip(now.tiers, tiers)),
                    where,
                ))
        in_force[asset] = target
    steps.sort(key=lambda s: s.at_ns)
    return tuple(steps)


def _entry_values(f: Fields, asset: str) -> tuple[int | None, int | None, tuple[CollateralTier, ...] | None]:
    table = _rule_table(f)
    if f.has("haircut"):
        text = f.decimal_text("haircut")
        table["tiers"] = [{"haircut": text}]
    try:
        rule = parse_rule(asset, table, f.source.where(f.path))
    except InputError as exc:
        if f.has("haircut") and "tier" in f"{exc.field} {exc.message}":
            msg = "a haircut outside [0, 1]" if "value_ratio must be in" in exc.message else exc.message.split(": ")[-1]
            raise f.error("haircut", f"{f.table['haircut']!r}: {msg}") from None
        raise _located(exc, f) from None
    return (rule.bid_buffer_e8 if f.has("bid_buffer") else None,
            rule.ask_buffer_e8 if f.has("ask_buffer") else None,
            rule.tiers if "tiers" in table else None)


def _toward(v0: int, v1: int, k: int, n: int) -> int:
    """The ramp's value at step ``k`` of ``n``: ``v0 + (v1 − v0) × k / n``, rounded toward ``v0``.

    >>> [_toward(0, 10, k, 3) for k in range(4)], [_toward(10, 0, k, 3) for k in range(4)]
    ([0, 3, 6, 10], [10, 7, 4, 0])
    """
    if v1 >= v0:
        return v0 + mul_div_floor(v1 - v0, k, n)
    return v0 + mul_div_ceil(v1 - v0, k, n)


def _bounds(tiers: tuple[CollateralTier, ...]) -> str:
    return ", ".join("open" if u is None else format_scaled(u, 8) for u, _ in tiers)


def _minutes(ns: int) -> str:
    whole, rest = divmod(ns, NS_PER_MINUTE)
    return f"{whole}m" if not rest else f"{format_scaled(ns, 9)}s"


# --------------------------------------------------------------------------- accounts
def collateral_assets(collateral: dict[str, CollateralSpec], settlement: tuple[str, ...]) -> tuple[str, ...]:
    """Assets that only back other assets' contracts (a book of their own is needed), sorted."""
    return tuple(sorted(set(collateral) - set(settlement)))


def check_multi_assets_deposits(deposits: tuple[tuple[str, int], ...], collateral: dict[str, CollateralSpec],
                                where: str, field: str) -> None:
    """A multi-assets account may hold only assets with an index price (USDⓈ, or a
    ``[collateral.ASSET]``); the exchange refuses the deposit otherwise (NO_INDEX_PRICE)."""
    for asset, _ in deposits:
        if asset not in USD_ASSETS and asset not in collateral:
            raise InputError(f"a multi-assets account holds {asset}, which has no index price: give a "
                             f"[collateral.{asset}] table with an index", where=where, field=field)
