"""Scenario files: TOML in, a validated :class:`Scenario` out (the format is in docs/scenarios.md).

Every value is checked here, at the boundary, and converted to the exchange's integers
(ticks, lots, atoms, rates e8, ns) exactly; an error names ``file:line`` and the field's
path (``accounts[0].positions[1].qty``). Nothing later in the pipeline re-reads the TOML.
"""

from __future__ import annotations

import re
from pathlib import Path
from collections.abc import Sequence
from typing import Any

import attrs

from exsim.book.orders import BUY, GTC, IOC, LIMIT, MARKET, SELL, STOP_MARKET, TAKE_PROFIT_MARKET, TRIGGER_LAST, TRIGGER_MARK
from exsim.errors import InputError
from exsim.instruments import Instrument
from exsim.instruments.loader import instruments_from_tables
from exsim.ledger.accounts import CROSS, ISOLATED
from exsim.ledger.collateral import COLLATERAL_MODES, MULTI_ASSETS
from exsim.replay.market import MAX_PRICE_TICKS, MAX_SIZE_LOTS
from exsim.scenario.collateral import (
    CollateralSpec,
    RuleStep,
    _minutes,
    check_multi_assets_deposits,
    collateral_assets,
    collateral_tables,
    read_collateral,
    read_schedule,
)
from exsim.scenario.paths import RegimeSwitch, read_paths, utc_ns
from exsim.toml_fields import Fields, Source
from exsim.units import ceil_div, format_atoms, mul_div_floor, to_atoms, to_lots, to_rate_e8, to_ticks
from exsim.venues.profile import VENUE_NAMES

MODES = ("isolated", "cross")
MODE_CODES = {"isolated": ISOLATED, "cross": CROSS}
#: the modes a run (``margin_mode``, ``--mode``, ``exsim compare --modes``) may take: a margin
#: mode, or ``multi-assets`` (cross margin with every account in multi-assets collateral
#: mode, unless it fixes its own ``collateral_mode`` or holds a position fixed isolated)
RUN_MODES = (*MODES, MULTI_ASSETS)
ORDER_TYPES = {"limit": LIMIT, "market": MARKET, "stop_market": STOP_MARKET, "take_profit_market": TAKE_PROFIT_MARKET}
ACTIONS = ("add_margin", "remove_margin", "deposit", "withdraw")
DEFAULT_START = "2024-01-01T00:00:00Z"
MAX_ACCOUNTS = 100_000
MAX_PATH_POINTS = 1_000_000
#: a money value naming its asset (``"0.05 BTC"``, ``"1000USDT"``): digits, then a name of 2+ letters
_ASSET_AMOUNT = re.compile(r"^\s*[0-9.]+\s*[A-Za-z]{2}[A-Za-z0-9]*\s*$")


@attrs.frozen
class PositionSpec:
    """A position the account holds at the start, opened at ``price_ticks`` through the book."""

    symbol: str
    side: int  # BUY opens a long, SELL a short
    qty_lots: int
    price_ticks: int
    leverage: int
    margin_mode: str | None  # None: the run's margin mode
    margin_atoms: int | None  # isolated bucket wanted (>= initial margin); None: the initial margin
    where: str
    field: str = ""  # its path in the file, e.g. accounts[0].positions[1]


@attrs.frozen
class OrderSpec:
    at_ns: int  # from the start
    symbol: str
    side: int
    order_type: int
    qty_lots: int
    price_ticks: int
    trigger_ticks: int
    trigger_by: int
    tif: int
    reduce_only: bool
    where: str


@attrs.frozen
class ActionSpec:
    at_ns: int
    kind: str  # one of ACTIONS
    amount_atoms: int
    symbol: str
    where: str
    asset: str = ""  # deposit / withdraw: the asset ("" the home asset); a margin move: its symbol's


@attrs.frozen
class AccountSpec:
    account_id: int
    name: str
    deposit_atoms: int
    positions: tuple[PositionSpec, ...]
    orders: tuple[OrderSpec, ...]
    actions: tuple[ActionSpec, ...]
    population: bool = False  # drawn by [population], reported in aggregate
    #: ``"single-asset"`` / ``"multi-assets"`` fixed by the file; None: the run's (multi-assets in a multi-assets run)
    collateral_mode: str | None = None
    where: str = ""  # file:line of its [[accounts]] table
    field: str = ""  # its path, accounts[0]
    #: every deposit at the start, ``((asset, atoms), ...)`` in the file's order; empty: only
    #: ``deposit_atoms`` in the run's home asset (``deposit_atoms`` is the home asset's part)
    deposits: tuple[tuple[str, int], ...] = ()

    def deposit_list(self, home_asset: str) -> tuple[tuple[str, int], ...]:
        """The deposits at the start, ``((asset, atoms), ...)``."""
        return self.deposits or ((home_asset, self.deposit_atoms),)

    def main_asset(self, home_asset: str) -> str:
        """The asset its figures are told in: its only deposit's, else the home asset."""
        assets = {a for a, _ in self.deposit_list(home_asset)}
        return next(iter(assets)) if len(assets) == 1 else home_asset


@attrs.frozen
class BookShock:
    """A liquidity shock (``[[book.shocks]]``): from ``at_ns`` the ladder's depth and spread
    move to new figures, at once (``ramp_ns`` 0) or linearly over ``ramp_ns``."""

    at_ns: int  # from the start
    depth_atoms: int | None  # the new notional per level; None: unchanged
    spread_ticks: int | None  # the new spread; None: unchanged
    ramp_ns: int  # 0: a step
    where: str = ""

    @property
    def end_ns(self) -> int:
        return self.at_ns + self.ramp_ns


@attrs.frozen
class BookSpec:
    """The synthetic book each instrument trades against."""

    levels: int
    depth_atoms: int  # notional per level, at the level's price (0: use depth_lots)
    depth_lots: int  # lots per level (0: use depth_atoms); per instrument when given in lots
    step_ticks: int
    spread_ticks: int
    follow_mark: bool  # re-centre on every mark of the path; False: built once, then only trades move it
    #: liquidity shocks in time order, none overlapping (each starts at or after the last one's end)
    shocks: tuple[BookShock, ...] = ()

    def figures_at(self, t_ns: int) -> tuple[int, int]:
        """``(depth_atoms, spread_ticks)`` in force ``t_ns`` after the start.

        Before the first shock: ``depth`` and ``spread_ticks``. From a shock's ``at`` its
        figures; during its ramp, the figures before it plus the change times the elapsed
        share of the ramp, each rounded down (toward minus infinity) to the atom and the
        tick: ``v0 + floor((v1 − v0) × (t − at) / ramp)``. O(shocks).

        >>> b = BookSpec(20, 1000, 0, 1, 1, True, (BookShock(60, 100, 5, 30),))
        >>> b.figures_at(59), b.figures_at(60), b.figures_at(70), b.figures_at(90)
        ((1000, 1), (1000, 1), (700, 2), (100, 5))
        """
        depth, spread = self.depth_atoms, self.spread_ticks
        for s in self.shocks:
            if t_ns < s.at_ns:
                break
            new_depth = depth if s.depth_atoms is None else s.depth_atoms
            new_spread = spread if s.spread_ticks is None else s.spread_ticks
            if t_ns < s.end_ns:  # inside the ramp (a step has none)
                elapsed = t_ns - s.at_ns
                return (depth + mul_div_floor(new_depth - depth, elapsed, s.ramp_ns),
                        spread + mul_div_floor(new_spread - spread, elapsed, s.ramp_ns))
            depth, spread = new_depth, new_spread
        return depth, spread


@attrs.frozen
class PopulationSpec:
    symbol: str
    accounts: int
    seed: int
    price_ticks: int
    notional_min_atoms: int
    notional_max_atoms: int
    leverages: tuple[int, ...]
    long_share_e8: int
    mostly_e8: int  # share of accounts in the run's margin mode; the rest use the other mode
    deposit_multiple_e8: int  # deposit = initial margin × multiple
    where: str


@attrs.frozen
class Scenario:
    name: str
    description: str
    source: str
    start_ns: int
    margin_mode: str
    mark_source: str  # "path" or "book"
    insurance_fund_atoms: int
    instruments: tuple[Instrument, ...]
    accounts: tuple[AccountSpec, ...]
    paths: dict[str, tuple[tuple[int, int], ...]]  # symbol -> ((ts from start ns, mark ticks), ...)
    path_kinds: dict[str, str]
    funding_interval_ns: int
    funding_rates_e8: dict[str, int]
    book: BookSpec
    population: PopulationSpec | None
    #: ``[collateral.ASSET]`` rules and index paths, by asset (empty: no collateral given)
    collateral: dict[str, CollateralSpec] = attrs.field(factory=dict)
    #: ``[[haircut_schedule]]`` as rule changes, in time order
    rule_steps: tuple[RuleStep, ...] = ()
    #: the venue the file names (``[scenario] venue``, or a top-level ``venue``): one of
    #: exsim.venues.profile.VENUE_NAMES; None: none named (Binance, unless ``--venue``)
    venue: str | None = None
    venue_where: str = ""  # file:line of that ``venue`` key
    #: the correlation regimes that took over the generated paths (``[[generator.regimes]]``),
    #: in time order: :class:`exsim.scenario.paths.RegimeSwitch` ``(at_ns, regime, correlation, where)``
    regime_switches: tuple[Any, ...] = ()

    @property
    def home_asset(self) -> str:
        """The asset of a bare amount (``deposit = "1000"``): the first instrument's margin asset."""
        return self.instruments[0].margin_asset

    @property
    def assets(self) -> tuple[str, ...]:
        """The settlement assets of the instruments, the home asset first, then sorted."""
        rest = sorted({i.margin_asset for i in self.instruments} - {self.home_asset})
        return (self.home_asset, *rest)

    @property
    def collateral_assets(self) -> tuple[str, ...]:
        """Assets given as collateral that no instrument settles in (BTC backing USDT contracts), sorted."""
        return collateral_assets(self.collateral, self.assets)

    def instrument(self, symbol: str) -> Instrument:
        for inst in self.instruments:
            if inst.symbol == symbol:
                return inst
        raise KeyError(symbol)

    @property
    def end_ns(self) -> int:
        ends = [p[-1][0] for p in self.paths.values() if p]
        ends += [o.at_ns for a in self.accounts for o in a.orders]
        ends += [x.at_ns for a in self.accounts for x in a.actions]
        ends += [c.index_path[-1][0] for c in self.collateral.values()]
        return max(ends, default=0)


# --------------------------------------------------------------------------- loading
def load_scenario(path: str | Path, allow_paths: Sequence[str | Path] = ()) -> Scenario:
    """Read and validate a scenario file; every problem is an :class:`InputError`.

    Files it names are read only under its folder and ``allow_paths`` (see
    :mod:`exsim.scenario.paths`)."""
    return parse_scenario(Source.read(path, allow_paths))


def parse_scenario(src: Source) -> Scenario:
    root = src.root()
    root.only(("scenario", "instruments", "accounts", "paths", "generator", "funding", "book", "population", "collateral",
               "haircut_schedule", "venue"))
    head = root.table_of("scenario")
    head.only(("name", "description", "start", "margin_mode", "mark", "insurance_fund", "venue"))
    venue, venue_where = _venue(root, head)
    name = head.text("name")
    start_text = head.text("start", DEFAULT_START)
    start_ns = utc_ns(start_text, head, "start")
    instruments = _instruments(root, start_ns)
    by_symbol = {i.symbol: i for i in instruments}
    generator = root.table_of("generator", None)
    tables, index_tables = collateral_tables(root)
    switches: list[RegimeSwitch] = []
    paths, kinds, index_paths = read_paths(root, by_symbol, start_ns, generator, index_tables, switches)
    index_kinds = {a: next(k for k in ("marks", "csv", "generator") if f.has(k)) for a, f in index_tables.items()}
    collateral = read_collateral(tables, index_paths, index_kinds, by_symbol, paths)
    population = _population(root.table_of("population", None), by_symbol)
    accounts = _accounts(root, by_symbol, collateral)
    if population is not None and len(accounts) + population.accounts > MAX_ACCOUNTS:
        raise root.error("population", f"more than {MAX_ACCOUNTS} accounts in all")
    mark_source = head.choice("mark", ("path", "book"), "path")
    for k, inst in enumerate(instruments):  # a missing path has no line: name the instrument's
        where, field = src.where(f"instruments[{k}]"), f"paths.{inst.symbol}"
        if mark_source == "path" and inst.symbol not in paths:
            raise InputError(f"no price path for {inst.symbol} (give [paths.{inst.symbol}], or mark = \"book\")",
                             where=where, field=field)
        if mark_source == "book" and inst.symbol not in paths:
            raise InputError(f"no starting price for {inst.symbol}: give [paths.{inst.symbol}] marks = [[\"0s\", \"<price>\"]]",
                             where=where, field=field)
    for inst in instruments:  # then, with every path present: book-driven marks take one point
        if mark_source == "book" and inst.symbol in paths and len(paths[inst.symbol]) > 1:
            raise root.error(f"paths.{inst.symbol}", "with mark = \"book\" the book sets the mark: give only the starting "
                             "point, [[\"0s\", \"<price>\"]], and move the market with orders")
    interval_ns, rates = _funding(root.table_of("funding", None), by_symbol)
    ends = [p[-1][0] for p in paths.values()] + [c.index_path[-1][0] for c in collateral.values()]
    ends += [o.at_ns for a in accounts for o in a.orders] + [x.at_ns for a in accounts for x in a.actions]
    rule_steps = read_schedule(root, collateral, max(ends, default=0))
    book = _book(root.table_of("book", None), max(ends, default=0))
    return Scenario(
        name=name,
        description=head.text("description", ""),
        source=src.name,
        start_ns=start_ns,
        margin_mode=head.choice("margin_mode", RUN_MODES, "isolated"),
        mark_source=mark_source,
        insurance_fund_atoms=_atoms(head, "insurance_fund", "0", non_negative=True),
        instruments=instruments,
        accounts=accounts,
        paths=paths,
        path_kinds=kinds,
        funding_interval_ns=interval_ns,
        funding_rates_e8=rates,
        book=book,
        population=population,
        collateral=collateral,
        rule_steps=rule_steps,
        venue=venue,
        venue_where=venue_where,
        regime_switches=tuple(switches),
    )


def _venue(root: Fields, head: Fields) -> tuple[str | None, str]:
    """The venue the file names: ``[scenario] venue = "bybit"`` or a top-level
    ``venue = "bybit"`` (one of them), lower case; (None, "") when it names none."""
    if root.has("venue") and head.has("venue"):
        raise head.error("venue", "also given at the top of the file: name the venue once")
    f = head if head.has("venue") else root
    if not f.has("venue"):
        return None, ""
    name = f.text("venue").strip().lower()
    if name not in VENUE_NAMES:
        raise f.error("venue", f"{f.table['venue']!r} is not a venue; expected one of {', '.join(VENUE_NAMES)}")
    return name, f.source.where(f.field("venue"))


def _atoms(f: Fields, key: str, default: Any = ..., **kw: bool) -> Any:
    text = f.decimal_text(key, default, **kw)
    if text is None:
        return None
    return to_atoms(text, field=f.field(key), where=f.source.where(f.field(key)))


def _rate(f: Fields, key: str, default: Any = ..., **kw: bool) -> Any:
    text = f.decimal_text(key, default, **kw)
    return to_rate_e8(text, field=f.field(key), where=f.source.where(f.field(key)))


def _symbol(f: Fields, key: str, by_symbol: dict[str, Instrument]) -> str:
    symbol = f.text(key)
    if symbol not in by_symbol:
        raise f.error(key, f"{symbol!r} is not an instrument of this scenario (listed: {', '.join(by_symbol)})")
    return symbol


def _ticks(f: Fields, key: str, inst: Instrument, default: Any = ...) -> Any:
    text = f.decimal_text(key, default, positive=True)
    if text is default:
        return text
    ticks = to_ticks(text, inst.tick_size, field=f.field(key), where=f.source.where(f.field(key)))
    if ticks >= MAX_PRICE_TICKS:  # the book reserves 2^62 as its "no price" value
        raise f.error(key, f"{text!r} is out of range: prices must be below 2^61 ticks")
    return ticks


def _lots(f: Fields, key: str, inst: Instrument) -> int:
    text = f.decimal_text(key, positive=True)
    lots = to_lots(text, inst.lot_size, field=f.field(key), where=f.source.where(f.field(key)))
    if lots >= MAX_SIZE_LOTS:
        raise f.error(key, f"{text!r} is out of range: sizes must be below 2^61 lots")
    return lots


# --------------------------------------------------------------------------- instruments
def _instruments(root: Fields, start_ns: int) -> tuple[Instrument, ...]:
    """The ``[[instruments]]`` tables (one loader for scenarios and replays: a catalogue symbol
    without sizes takes the spec in force at the scenario's start; its clearance fee stays 0
    unless the table sets one, so the teaching scenarios' hand arithmetic holds)."""
    return instruments_from_tables(root, at_ns=start_ns, default_clearance="zero")


# --------------------------------------------------------------------------- accounts
def _accounts(root: Fields, by_symbol: dict[str, Instrument],
              collateral: dict[str, CollateralSpec] | None = None) -> tuple[AccountSpec, ...]:
    out: list[AccountSpec] = []
    names: set[str] = set()
    collateral = collateral or {}
    for i, f in enumerate(root.tables("accounts")):
        f.only(("name", "deposit", "positions", "orders", "actions", "collateral_mode"))
        name = f.text("name", f"account {i + 1}")
        if name in names:
            raise f.error("name", f"{name!r} is used twice")
        names.add(name)
        positions = tuple(_position(p, by_symbol) for p in f.tables("positions"))
        seen: set[str] = set()
        for p, pf in zip(positions, f.tables("positions")):
            if p.symbol in seen:
                raise pf.error("symbol", f"a second position in {p.symbol}: one position per instrument (one-way mode)")
            seen.add(p.symbol)
        deposits = _deposits(f, by_symbol, tuple(collateral))
        collateral_mode = f.choice("collateral_mode", COLLATERAL_MODES, None)
        if collateral_mode == MULTI_ASSETS:
            for p, pf in zip(positions, f.tables("positions")):
                if p.margin_mode == "isolated" or p.margin_atoms is not None:
                    key = "margin_mode" if p.margin_mode == "isolated" else "margin"
                    raise pf.error(key, "an isolated position in a multi-assets account (multi-assets mode is cross "
                                   "margin only, as on Binance)")
            check_multi_assets_deposits(deposits, collateral, f.source.where(f.field("deposit")), f.field("deposit"))
        out.append(
            AccountSpec(
                account_id=i + 1,
                name=name,
                deposit_atoms=dict(deposits).get(_home(by_symbol), 0),
                deposits=deposits,
                positions=positions,
                orders=tuple(_order(o, by_symbol) for o in f.tables("orders")),
                actions=tuple(_action(a, by_symbol, tuple(collateral)) for a in f.tables("actions")),
                collateral_mode=collateral_mode,
                where=f.source.where(f.path),
                field=f.path,
            )
        )
    if not out and not root.has("population"):
        raise root.error("accounts", "missing: list at least one [[accounts]] (or a [population])")
    return tuple(out)


def _home(by_symbol: dict[str, Instrument]) -> str:
    return next(iter(by_symbol.values())).margin_asset


def _deposits(f: Fields, by_symbol: dict[str, Instrument], extra: tuple[str, ...] = ()) -> tuple[tuple[str, int], ...]:
    """``deposit``: ``"1000"`` (the home asset: the first instrument's margin asset),
    ``"0.05 BTC"`` / ``"0.05BTC"`` (that asset), or a table ``{ USDT = "1000", BTC = "0.05" }``;
    an asset is one an instrument settles in or one of ``extra`` (the ``[collateral]`` assets)."""
    from exsim.results.assets import parse_asset_amount

    home = _home(by_symbol)
    assets = [home] + sorted(({i.margin_asset for i in by_symbol.values()} | set(extra)) - {home})
    where = f.source.where(f.field("deposit"))
    raw = f.raw("deposit")
    if isinstance(raw, dict):
        if not raw:
            raise f.error("deposit", "an empty table: give at least one asset, e.g. { BTC = \"0.05\" }")
        table = f.table_of("deposit")
        out = []
        for asset in raw:
            text = table.decimal_text(asset, positive=True)
            out.append(parse_asset_amount(f"{text}{asset}", home_asset=home, assets=assets, field=table.field(asset),
                                          where=f.source.where(table.field(asset))))
        return tuple(out)
    if isinstance(raw, str) and _ASSET_AMOUNT.match(raw):  # an asset named after the amount
        return (parse_asset_amount(raw, home_asset=home, assets=assets, field=f.field("deposit"), where=where),)
    return ((home, _atoms(f, "deposit", positive=True)),)


def _position(f: Fields, by_symbol: dict[str, Instrument]) -> PositionSpec:
    f.only(("symbol", "side", "qty", "notional", "price", "leverage", "margin_mode", "margin"))
    symbol = _symbol(f, "symbol", by_symbol)
    inst = by_symbol[symbol]
    side = BUY if f.choice("side", ("long", "short")) == "long" else SELL
    price = _ticks(f, "price", inst)
    if f.has("qty") == f.has("notional"):
        raise f.error("qty", "give qty (in base units) or notional (in the quote asset), one of them")
    if f.has("qty"):
        qty = _lots(f, "qty", inst)
    else:
        if inst.inverse:
            raise f.error("notional", f"{symbol} is an inverse contract: give qty, in contracts of {inst.contract_size} "
                          f"{inst.quote}")
        notional = _atoms(f, "notional", positive=True)
        per_lot = price * inst.atoms_per_tick_lot
        qty, rest = divmod(notional, per_lot)
        if rest or not qty:
            raise f.error("notional", f"{f.table['notional']} is not a whole number of lots ({inst.lot_size}) at price "
                          f"{inst.price_str(price)}; give qty instead")
    leverage = f.integer("leverage", minimum=1, maximum=200)
    im = ceil_div(inst.notional_atoms(price, qty), leverage)
    margin = _atoms(f, "margin", None, positive=True)
    if margin is not None and margin < im:
        raise f.error("margin", f"{f.table['margin']} is below the initial margin {format_atoms(im)} "
                      f"(notional / leverage {leverage})")
    mode = f.choice("margin_mode", MODES, None)
    if margin is not None and mode == "cross":
        raise f.error("margin", "an isolated bucket allocation on a cross position")
    return PositionSpec(symbol, side, qty, price, leverage, mode, margin, f.source.where(f.path), f.path)


def _order(f: Fields, by_symbol: dict[str, Instrument]) -> OrderSpec:
    f.only(("at", "symbol", "side", "type", "qty", "price", "trigger", "trigger_by", "tif", "reduce_only"))
    symbol = _symbol(f, "symbol", by_symbol)
    inst = by_symbol[symbol]
    kind = f.choice("type", tuple(ORDER_TYPES))
    order_type = ORDER_TYPES[kind]
    price = _ticks(f, "price", inst, 0)
    if order_type == LIMIT and not price:
        raise f.error("price", "missing: a limit order needs a price")
    if order_type != LIMIT and price:
        raise f.error("price", f"a {kind} order takes no price")
    trigger = _ticks(f, "trigger", inst, 0)
    if order_type in (STOP_MARKET, TAKE_PROFIT_MARKET) and not trigger:
        raise f.error("trigger", f"missing: a {kind} order needs a trigger price")
    if order_type in (LIMIT, MARKET) and trigger:
        raise f.error("trigger", f"a {kind} order takes no trigger")
    if f.has("trigger_by") and not trigger:
        raise f.error("trigger_by", f"a {kind} order has no trigger")
    tif_name = f.choice("tif", ("gtc", "ioc"), "gtc" if order_type == LIMIT else "ioc")
    return OrderSpec(
        at_ns=f.duration_ns("at"),
        symbol=symbol,
        side=BUY if f.choice("side", ("buy", "sell")) == "buy" else SELL,
        order_type=order_type,
        qty_lots=_lots(f, "qty", inst),
        price_ticks=price,
        trigger_ticks=trigger,
        trigger_by=TRIGGER_MARK if f.choice("trigger_by", ("mark", "last"), "mark") == "mark" else TRIGGER_LAST,  # checked above
        tif=GTC if tif_name == "gtc" else IOC,
        reduce_only=f.boolean("reduce_only", False),
        where=f.source.where(f.path),
    )


def _action(f: Fields, by_symbol: dict[str, Instrument], extra: tuple[str, ...] = ()) -> ActionSpec:
    f.only(("at", "kind", "amount", "symbol"))
    kind = f.choice("kind", ACTIONS)
    symbol = ""
    if kind in ("add_margin", "remove_margin"):
        symbol = _symbol(f, "symbol", by_symbol)
    elif f.has("symbol"):
        raise f.error("symbol", f"a {kind} is for the account, not an instrument")
    if kind in ("deposit", "withdraw"):  # "0.01 BTC" names the asset, a bare amount is the home asset's
        from exsim.results.assets import parse_asset_amount

        home = _home(by_symbol)
        assets = [home] + sorted(({i.margin_asset for i in by_symbol.values()} | set(extra)) - {home})
        raw = f.raw("amount")
        if isinstance(raw, str) and _ASSET_AMOUNT.match(raw):
            asset, atoms = parse_asset_amount(raw, home_asset=home, assets=assets, field=f.field("amount"),
                                              where=f.source.where(f.field("amount")))
            return ActionSpec(f.duration_ns("at"), kind, atoms, symbol, f.source.where(f.path), asset)
    return ActionSpec(f.duration_ns("at"), kind, _atoms(f, "amount", positive=True), symbol, f.source.where(f.path))


# --------------------------------------------------------------------------- market
def _book(f: Fields | None, end_ns: int) -> BookSpec:
    if f is None:
        return BookSpec(levels=20, depth_atoms=to_atoms("1000000", field="depth"), depth_lots=0, step_ticks=1,
                        spread_ticks=1, follow_mark=True)
    f.only(("levels", "depth", "step_ticks", "spread_ticks", "follow_mark", "shocks"))
    follow_mark = f.boolean("follow_mark", True)
    return BookSpec(
        levels=f.integer("levels", 20, minimum=1, maximum=10_000),
        depth_atoms=_atoms(f, "depth", "1000000", positive=True),
        depth_lots=0,
        step_ticks=f.integer("step_ticks", 1, minimum=1),
        spread_ticks=f.integer("spread_ticks", 1, minimum=1),
        follow_mark=follow_mark,
        shocks=_shocks(f, follow_mark, end_ns),
    )


def _shocks(book: Fields, follow_mark: bool, end_ns: int) -> tuple[BookShock, ...]:
    """``[[book.shocks]]``: each ``at`` (duration), ``depth`` and/or ``spread_ticks`` (the new
    figures), ``ramp`` (a duration, default a step); in time order, none starting before
    the last one's ramp ends, none ending after the scenario's end."""
    out: list[BookShock] = []
    for f in book.tables("shocks"):
        f.only(("at", "depth", "spread_ticks", "ramp"))
        if not follow_mark:
            raise f.error("at", "a liquidity shock re-sets the ladder around the mark: it needs follow_mark = true "
                          "(a ladder built once is moved only by trades)")
        at = f.duration_ns("at")
        if not (f.has("depth") or f.has("spread_ticks")):
            raise f.error("depth", "missing: a shock changes depth, spread_ticks or both")
        ramp = f.duration_ns("ramp", 0)
        if out and at < out[-1].end_ns:
            raise f.error("at", f"{f.table['at']!r} is before the shock before it has ended (shocks go in time order, "
                          "one ramp at a time)")
        if at + ramp > end_ns:
            raise f.error("ramp" if ramp else "at", f"the shock ends after the scenario's end ({_minutes(end_ns)})")
        out.append(BookShock(
            at_ns=at,
            depth_atoms=_atoms(f, "depth", None, positive=True),
            spread_ticks=f.integer("spread_ticks", None, minimum=1),
            ramp_ns=ramp,
            where=f.source.where(f.path),
        ))
    return tuple(out)


def _funding(f: Fields | None, by_symbol: dict[str, Instrument]) -> tuple[int, dict[str, int]]:
    if f is None:
        return 0, {}
    f.only(("interval", "rate", "rates"))
    interval = f.duration_ns("interval", "8h", positive=True)
    if f.has("rate") == f.has("rates"):
        raise f.error("rate", "give rate (every instrument) or rates (a table by symbol), one of them")
    if f.has("rate"):
        rate = _rate(f, "rate")
        return interval, {s: rate for s in by_symbol}
    rates = f.table_of("rates")
    out = {}
    for symbol, _ in rates.items():
        if symbol not in by_symbol:
            raise rates.error(symbol, f"{symbol!r} is not an instrument of this scenario")
        out[symbol] = _rate(rates, symbol)
    return interval, out


def _population(f: Fields | None, by_symbol: dict[str, Instrument]) -> PopulationSpec | None:
    if f is None:
        return None
    f.only(("symbol", "accounts", "seed", "price", "notional_min", "notional_max", "leverages", "long_share", "mostly",
            "deposit_multiple"))
    symbol = _symbol(f, "symbol", by_symbol)
    inst = by_symbol[symbol]
    if inst.inverse or inst.margin_asset != _home(by_symbol):
        raise f.error("symbol", f"a population trades an instrument of the home asset {_home(by_symbol)} "
                      f"(linear, listed first); {symbol} settles in {inst.margin_asset}")
    lo = _atoms(f, "notional_min", positive=True)
    hi = _atoms(f, "notional_max", positive=True)
    if hi < lo:
        raise f.error("notional_max", "below notional_min")
    levs = f.raw("leverages", types=(list,))
    if not levs or not all(isinstance(x, int) and not isinstance(x, bool) and 1 <= x <= 200 for x in levs):
        raise f.error("leverages", "expected a list of integers from 1 to 200, e.g. [10, 20, 50]")
    for lev in levs:
        if lev > inst.brackets.brackets[0].max_leverage:
            raise f.error("leverages", f"{lev}x is above {symbol}'s maximum leverage {inst.brackets.brackets[0].max_leverage}x")

    def share(key: str, default: str) -> int:
        rate = _rate(f, key, default, non_negative=True)
        if rate > 10**8:
            raise f.error(key, "a share above 1")
        return rate

    multiple = _rate(f, "deposit_multiple", "2", positive=True)
    if multiple < 10**8:
        raise f.error("deposit_multiple", "below 1: the deposit must cover the initial margin")
    return PopulationSpec(
        symbol=symbol,
        accounts=f.integer("accounts", minimum=1, maximum=MAX_ACCOUNTS),
        seed=f.integer("seed", 0, minimum=0),
        price_ticks=_ticks(f, "price", inst),
        notional_min_atoms=lo,
        notional_max_atoms=hi,
        leverages=tuple(levs),
        long_share_e8=share("long_share", "0.5"),
        mostly_e8=share("mostly", "0.8"),
        deposit_multiple_e8=multiple,
        where=f.source.where(f.path),
    )
