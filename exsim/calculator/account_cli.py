"""``exsim margin ACCOUNT.toml``: the account calculator (multi-asset collateral, stress table).

An account file gives the collateral mode, the wallets per asset, the collateral rules
(index price, bid/ask buffers, tiered value ratios) and the positions (shipped
instruments or made-up ones with their own brackets). The command prints the account's
equity, available for order (per asset and in USD), initial and maintenance margin and
margin ratio; every position's liquidation price with the others held at their marks;
the collateral index price at which the account is liquidated; and a stress table of
named shocks in single-asset, multi-assets and isolated modes side by side. The format
and every formula are in ``docs/margin-calculator.md``.

Exactness. Everything is an integer or a :class:`~fractions.Fraction` until it is
printed. Account figures come from :func:`exsim.ledger.collateral.account_figures` fed
with the position figures the ledger computes for the same position (notional and UPnL
exact in 1e-8 atoms at the subtick mark, IM = notional / leverage rounded up to the atom,
MM = the bracket table's ``maint_margin_atoms_e8``, rounded up to the atom): the
calculator and ``Ledger.portfolio_figures`` agree to the unit. Liquidation prices are the
exact rational roots of ``equity = maintenance margin`` (as ``exsim liq-price``: MM =
notional × MMR − cum unrounded), walked bracket by bracket and tier by tier, so they are
tier-consistent.

Output rounding (only there): USD and asset amounts are **truncated** toward zero at 8
decimals (available per asset is rounded down); margin ratios are rounded **up** (e8,
and the percent at 2 decimals), so the distance to liquidation (1 − ratio) rounds down;
prices are rounded toward the safe side (a price at or below which the account is
liquidated rounds up, one at or above which it is liquidated rounds down).
"""

from __future__ import annotations

import argparse
import json
import re
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable, Final, Iterable, Mapping, Sequence

import attrs

from exsim.errors import InputError
from exsim.instruments.brackets import BracketTable
from exsim.toml_fields import Source
from exsim.instruments.instrument import USD_ASSETS, Instrument
from exsim.ledger.collateral import (
    plan_auto_exchange,
    COLLATERAL_MODES,
    INDEX_SCALE,
    MULTI_ASSETS,
    SINGLE_ASSET,
    USD_E40_PER_USD,
    AccountFigures,
    CollateralRule,
    account_figures,
    format_usd_e40,
    haircut_shifted,
    parse_rule,
    usd_e40_to_atoms_floor,
)
from exsim.margin.liquidation import (
    CROSS,
    FixedBracket,
    ISOLATED,
    LONG,
    SHORT,
    STATUS_ALWAYS,
    STATUS_NEVER,
    STATUS_PRICE,
    Position,
    format_price,
    liquidation_price,
    maint_margin,
)
from exsim.venues.profile import BINANCE, VenueProfile, get_venue
from exsim.units import (
    ATOMS_E8_PER_ATOM,
    ATOMS_PER_UNIT,
    RATE_SCALE,
    SUBTICKS_PER_UNIT,
    ceil_div,
    floor_div,
    format_atoms,
    format_rate_e8,
    format_scaled,
    mul_div_floor,
    parse_decimal,
    to_atoms,
)

__all__ = [
    "AccountSpec",
    "PositionSpec",
    "Shock",
    "add_parser",
    "evaluate",
    "load_account",
    "run_margin",
]

#: the largest account file read
MAX_ACCOUNT_BYTES: Final = 1 << 20
_SIDES: Final = {"long": LONG, "short": SHORT}
_MARGIN_MODES: Final = (CROSS, ISOLATED)
#: a made-up instrument's default grids (1e-4 price × 1e-4 size = 1 atom per tick-lot)
_DEFAULT_TICK: Final = "0.0001"
_DEFAULT_LOT: Final = "0.0001"
#: the notional cap of a flat ``maint_margin_rate`` bracket (one bracket for every size)
_FLAT_CAP: Final = "1000000000000"
_FLAT_MAX_LEVERAGE: Final = 125
_ASSET_RE: Final = re.compile(r"^[A-Z0-9]{2,20}$")
_MODES_SHOWN: Final = (SINGLE_ASSET, MULTI_ASSETS, ISOLATED)
_E16: Final = ATOMS_PER_UNIT * ATOMS_E8_PER_ATOM  # 1e-8 atoms per coin

_DESCRIPTION: Final = """\
The account calculator: equity, available for order, maintenance margin and margin ratio
of a whole account in single-asset or multi-assets collateral mode (Binance Multi-Assets
Mode; Bybit-style tiered collateral value ratios), every position's liquidation price
with the others held at their marks, the collateral index price that liquidates the
account, and a stress table (every price -10 %, -20 %, a correlated crash, haircuts +5
and +10 points, an instrument gapping) in single-asset, multi-assets and isolated modes
side by side. Exact arithmetic; the format is in docs/margin-calculator.md."""

_EPILOG: Final = """\
what the numbers mean (USD figures in multi-assets mode):
  asset equity          wallet + unrealized PnL of the asset's cross contracts
  account equity        sum over assets of equity x bid rate (through the value-ratio
                        tiers) if positive, x ask rate if negative;
                        bid rate = index x (1 - bid_buffer), ask rate = index x (1 + ask_buffer)
  initial / maint.      sum of each position's IM (notional / leverage, rounded up) and MM
    margin              (notional x MMR - cum of its bracket) at the ask rate
  available for order   account equity - initial margin; per asset / its ask rate
  margin ratio          maintenance margin / account equity; liquidated at 100 %
rounding: amounts truncated at 8 decimals, ratios rounded up, prices toward the safe side.

examples:
  exsim margin examples/accounts/binance-multi-assets-faq.toml
  exsim margin examples/accounts/btc-backs-negative-usdt.toml --json
  exsim margin ACCOUNT.toml --haircuts bybit --gap BTCUSDT=-15%"""


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the ``margin`` subcommand on ``subparsers`` (from ``add_subparsers``)."""
    p = subparsers.add_parser(
        "margin",
        help="account calculator: multi-asset collateral, liquidation prices, stress table",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("account", metavar="ACCOUNT.toml", help="the account file (docs/margin-calculator.md)")
    p.add_argument(
        "--haircuts",
        metavar="binance|bybit",
        help="take every asset's buffers and value-ratio tiers from exsim's shipped collateral "
        "data of that venue (the file's [collateral.X] tables then give only the index)",
    )
    p.add_argument(
        "--gap",
        metavar="SYMBOL=MOVE",
        action="append",
        default=[],
        help="add a stress row where one instrument's mark gaps by MOVE (e.g. BTCUSDT=-15%%, "
        "or -0.15); repeatable. Without it the largest position gaps 15 %% against itself",
    )
    p.add_argument(
        "--venue",
        metavar="binance|bybit|hyperliquid|dydx",
        help="figure the account under that venue's margin tiers and maintenance rule (Bybit: "
        "MM on the value at entry; Hyperliquid: MMR = 1/(2 x max leverage); dYdX: MMF, "
        "liquidated only when MM > balance); default binance. docs/venues.md",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    p.set_defaults(func=run_margin)


# --------------------------------------------------------------------------- the account


@attrs.frozen
class PositionSpec:
    """One position of the account file, on the instrument's grids.

    ``side`` +1/−1, ``lots`` > 0, ``cost_atoms`` the exact entry cost (entry × size),
    ``mark_subticks`` the mark (1e-8 of the quote), ``margin_atoms`` the isolated bucket
    (0 for cross)."""

    number: int
    instrument: Instrument
    side: int
    lots: int
    cost_atoms: int
    mark_subticks: int
    leverage: int
    margin_mode: str
    margin_atoms: int
    where: str

    @property
    def symbol(self) -> str:
        return self.instrument.symbol

    @property
    def asset(self) -> str:
        return self.instrument.margin_asset

    @property
    def isolated(self) -> bool:
        return self.margin_mode == ISOLATED

    @property
    def qty(self) -> Fraction:
        return self.lots * Fraction(self.instrument.lot_size)

    @property
    def entry(self) -> Fraction:
        return Fraction(self.cost_atoms, ATOMS_PER_UNIT) / self.qty

    @property
    def mark(self) -> Fraction:
        return Fraction(self.mark_subticks, SUBTICKS_PER_UNIT)

    def figures(self, mark_subticks: int | None = None) -> tuple[int, int, int, int]:
        """``(notional_atoms_e8, upnl_atoms_e8, initial_margin_atoms, maint_margin_atoms)``
        at ``mark_subticks`` (default the mark), computed as the ledger does
        (:meth:`Ledger.position_figures_e8`, :meth:`Ledger.cross_figures`). O(log brackets)."""
        inst = self.instrument
        mark = self.mark_subticks if mark_subticks is None else mark_subticks
        n = inst.value_atoms_e8(mark, self.lots)
        upnl = inst.upnl_atoms_e8(self.side * self.lots, self.cost_atoms, mark)
        if inst.maint_margin_basis == "entry":
            mm = inst.brackets.maint_margin_atoms(self.cost_atoms)
        else:
            mm = inst.brackets.maint_margin_atoms_e8(n)
        return n, upnl, ceil_div(n, self.leverage * ATOMS_E8_PER_ATOM), mm

    def isolated_margin_atoms(self) -> int:
        """The bucket: its own margin if isolated, else the IM at entry (cost / leverage, up)."""
        return self.margin_atoms if self.isolated else ceil_div(self.cost_atoms, self.leverage)

    def exact_maint(self, price: Fraction) -> Fraction:
        """MM at ``price`` in the asset, unrounded (as ``liq-price``)."""
        inst = self.instrument
        if inst.maint_margin_basis == "entry":
            return maint_margin(Fraction(self.cost_atoms, ATOMS_PER_UNIT), inst.brackets)
        return maint_margin(self.qty * price, inst.brackets)

    def calc_position(self, price: Fraction | None = None) -> Position:
        """This position for :func:`exsim.margin.liquidation.liquidation_price`."""
        return Position(self.side, self.qty, self.entry, self.instrument.brackets, mark_price=price or self.mark)


@attrs.frozen
class Shock:
    """A named stress: every mark moved by ``marks_e8`` (a fraction e8, e.g. −10 %
    = −10_000_000) or per symbol, collateral indexes (not USD stablecoins) by
    ``indexes_e8`` or per asset, every haircut raised by ``haircut_points_e8``."""

    name: str
    marks_e8: int = 0
    symbol_marks_e8: Mapping[str, int] = attrs.Factory(dict)
    indexes_e8: int = 0
    asset_indexes_e8: Mapping[str, int] = attrs.Factory(dict)
    haircut_points_e8: int = 0


@attrs.frozen
class AccountSpec:
    """A validated account file: mode, wallets (atoms), rules by asset, positions, shocks."""

    name: str
    mode: str
    wallets: Mapping[str, int]
    rules: Mapping[str, CollateralRule]
    positions: tuple[PositionSpec, ...]
    shocks: tuple[Shock, ...]
    haircuts: str | None = None
    #: whose margin rules (exsim.venues): the instruments are already under its terms
    venue: VenueProfile = BINANCE

    @property
    def assets(self) -> tuple[str, ...]:
        """Every asset the account holds or settles in: wallets first, in file order."""
        out = list(self.wallets)
        for p in self.positions:
            if p.asset not in out:
                out.append(p.asset)
        return tuple(out)


# --------------------------------------------------------------------------- reading


def load_account(
    path: str | Path, *, haircuts: str | None = None, gaps: Sequence[str] = (), venue: VenueProfile = BINANCE
) -> AccountSpec:
    """Read and validate an account file; every error is an :class:`InputError` naming
    ``file:line`` and the field. ``haircuts`` (``"binance"``/``"bybit"``) takes the
    buffers and tiers from the shipped data; ``gaps`` are ``--gap SYMBOL=MOVE`` texts;
    ``venue`` puts every instrument under that venue's terms (:meth:`VenueProfile.instrument`:
    its tiers, its maintenance basis; a file's own brackets stay the instrument's)."""
    src = Source.read(path, max_bytes=MAX_ACCOUNT_BYTES)
    root = src.root()
    root.only(("collateral_mode", "wallets", "collateral", "positions", "shocks"))
    mode = root.choice("collateral_mode", COLLATERAL_MODES, SINGLE_ASSET)
    if mode == MULTI_ASSETS and not venue.multi_assets:
        raise InputError(
            f"{venue.title} has no multi-assets collateral (USDC only), and {src.where('collateral_mode')} "
            "asks for it; use collateral_mode = \"single-asset\", or --venue binance|bybit",
            where="--venue",
        )

    wallets: dict[str, int] = {}
    wt = root.table_of("wallets", None)
    if wt is not None:
        for asset, _ in wt.items():
            _asset_name(asset, wt, asset)
            text_value = wt.decimal_text(asset)
            wallets[asset] = to_atoms(text_value, field=wt.field(asset), where=src.where(wt.field(asset)))

    positions = tuple(_position(f, i + 1, mode, venue) for i, f in enumerate(root.tables("positions")))
    seen: dict[str, str] = {}
    for pos in positions:
        if pos.symbol in seen:
            raise InputError(
                f"a second position in {pos.symbol} (the first at {seen[pos.symbol]}); the "
                "calculator is one-way: one position per instrument",
                where=pos.where,
                field="symbol",
            )
        seen[pos.symbol] = pos.where
    held = list(wallets)
    for pos in positions:
        if pos.asset not in held:
            held.append(pos.asset)

    rules = _rules(root, held, haircuts, src)
    shocks = [_shock(f, i) for i, f in enumerate(root.tables("shocks"))]
    symbols = {pos.symbol for pos in positions}
    for shock, where in shocks:
        for sym in shock.symbol_marks_e8:
            if sym not in symbols:
                raise InputError(f"{sym} is not a position of this account ({', '.join(sorted(symbols)) or 'none'})", where=where, field="marks")
        for asset in shock.asset_indexes_e8:
            if asset not in rules:
                raise InputError(f"{asset} is held nowhere in this account", where=where, field="indexes")
    all_shocks = [s for s, _ in shocks]
    for text_gap in gaps:
        all_shocks.append(_gap(text_gap, symbols))
    return AccountSpec(str(path), mode, wallets, rules, positions, tuple(all_shocks), haircuts, venue)


def _asset_name(asset: str, table: Any, key: str) -> None:
    if not _ASSET_RE.match(asset):
        raise table.error(key, f"{asset!r} is not an asset name; expected capitals and digits, e.g. USDT or BTC")


def _rules(root: Any, held: list[str], haircuts: str | None, src: Any) -> dict[str, CollateralRule]:
    """A rule per held asset: the file's ``[collateral.X]`` tables, or (``--haircuts``) the
    shipped data with the file's index. USD stablecoins default to index 1."""
    shipped: dict[str, CollateralRule] = {}
    if haircuts is not None:
        from exsim.ledger.collateral_data import VENUES, collateral_rules

        if haircuts not in VENUES:
            raise InputError(f"{haircuts!r}; expected one of: {', '.join(VENUES)}", where="--haircuts")
        shipped = collateral_rules(haircuts)
    ct = root.table_of("collateral", None)
    tables: dict[str, Any] = {}
    if ct is not None:
        for asset, _ in ct.items():
            _asset_name(asset, ct, asset)
            if asset not in held:
                raise ct.error(asset, f"{asset} is held nowhere in this account (no wallet, no position settles in it)")
            tables[asset] = ct.table_of(asset)
    rules: dict[str, CollateralRule] = {}
    for asset in held:
        t = tables.get(asset)
        if t is None:
            rule = CollateralRule(asset)
        else:
            t.only(("index", "bid_buffer", "ask_buffer", "tiers") if haircuts is None else ("index",))
            # each field alone first, so an error names its own line; then the whole rule
            for key in ("index", "bid_buffer", "ask_buffer", "tiers"):
                if t.has(key):
                    value = t.raw(key)
                    if isinstance(value, float) and not isinstance(value, bool):
                        raise t.error(key, f"write {value!r} as a string (\"{value}\") so it stays exact")
                    parse_rule(asset, {key: value}, src.where(t.field(key)))
            rule = parse_rule(asset, dict(t.table), src.where(t.path))
        if haircuts is not None:
            base = shipped.get(asset)
            if base is None:
                where = src.where(t.path) if t is not None else src.where("wallets")
                raise InputError(
                    f"{asset} is not in exsim's shipped {haircuts} collateral data (it has: "
                    f"{', '.join(sorted(shipped))}); give its rules in [collateral.{asset}] without --haircuts",
                    where=where,
                    field=f"collateral.{asset}",
                )
            base.index_usd_e8 = rule.index_usd_e8
            rule = base
        if rule.index_usd_e8 == 0:
            if asset in USD_ASSETS:
                rule.index_usd_e8 = INDEX_SCALE
            else:
                where = src.where(t.path) if t is not None else src.where(f"wallets.{asset}")
                raise InputError(
                    f"{asset} has no index price; expected [collateral.{asset}] index = \"...\" (USD per coin)",
                    where=where,
                    field=f"collateral.{asset}.index",
                )
        rules[asset] = rule
    return rules


def _position(f: Any, number: int, mode: str, venue: VenueProfile = BINANCE) -> PositionSpec:
    from exsim.instruments import get_instrument

    f.only(
        ("symbol", "side", "size", "entry", "mark", "leverage", "margin_mode", "margin",
         "maint_margin_rate", "brackets", "tick_size", "lot_size")
    )
    where = f.source.where(f.path)
    symbol = f.text("symbol")
    side_text = f.text("side")
    side = _SIDES.get(side_text)
    if side is None:
        raise f.error("side", f"{side_text!r}; expected 'long' or 'short'")
    fixed = f.has("maint_margin_rate")
    table = f.has("brackets")
    if fixed and table:
        raise f.error("brackets", "give either maint_margin_rate (one flat bracket) or brackets, not both")
    brackets: BracketTable | None = None
    if fixed:
        mmr = f.decimal_text("maint_margin_rate", non_negative=True)
        brackets = _table(f, "maint_margin_rate", [(str(0), _FLAT_CAP, mmr, _FLAT_MAX_LEVERAGE)], symbol)
    elif table:
        brackets = _brackets(f, symbol)
    try:
        inst = get_instrument(symbol)
        shipped = True
    except InputError:
        shipped = False
    if shipped:
        for key in ("tick_size", "lot_size"):
            if f.has(key):
                raise f.error(key, f"{symbol} is a shipped instrument with its own grids; {key} is for made-up instruments")
        if brackets is not None:
            inst = attrs.evolve(inst, brackets=brackets)
    else:
        if brackets is None:
            raise f.error(
                "symbol",
                f"{symbol!r} is not a shipped instrument; a made-up one needs maint_margin_rate = \"0.008\" "
                "or brackets = [{floor = \"0\", cap = \"50000\", mmr = \"0.004\", max_leverage = 125}, ...]",
            )
        try:
            inst = Instrument.create(
                symbol=symbol,
                tick_size=f.decimal_text("tick_size", _DEFAULT_TICK, positive=True),
                lot_size=f.decimal_text("lot_size", _DEFAULT_LOT, positive=True),
                brackets=brackets,
            )
        except InputError as exc:
            raise f.error("symbol", exc.message) from None
    if inst.inverse:
        raise f.error("symbol", f"{symbol} is an inverse (COIN-M) contract; the calculator takes USDⓈ-M (linear) contracts (use exsim liq-price)")
    if not venue.is_binance:
        inst = _under_venue(f, inst, brackets, venue)
    at = lambda key: f.source.where(f.field(key))  # noqa: E731 - one-line helper
    lots = inst.lots(f.decimal_text("size", positive=True), where=at("size"), field=f.field("size"))
    entry_ticks = inst.ticks(f.decimal_text("entry", positive=True), where=at("entry"), field=f.field("entry"))
    mark = inst.subticks(f.decimal_text("mark", positive=True), where=at("mark"), field=f.field("mark"))
    leverage = f.integer("leverage", minimum=1)
    cost = inst.fill_value_atoms(entry_ticks, lots)
    max_lev = inst.brackets.max_leverage_for(cost)
    if leverage > max_lev:
        tiers = "" if venue.is_binance else f" ({venue.name}'s tiers)"
        raise f.error("leverage", f"{leverage}x is above the {max_lev}x the bracket of the entry notional allows{tiers}")
    margin_mode = f.choice("margin_mode", _MARGIN_MODES, CROSS)
    if margin_mode == ISOLATED and mode == MULTI_ASSETS:
        raise f.error("margin_mode", "isolated margin is refused in multi-assets mode (Binance: cross margin only); use single-asset mode")
    margin = 0
    if f.has("margin"):
        if margin_mode != ISOLATED:
            raise f.error("margin", "the bucket margin is for isolated positions (margin_mode = \"isolated\")")
        margin = to_atoms(f.decimal_text("margin", positive=True), field=f.field("margin"), where=at("margin"))
    elif margin_mode == ISOLATED:
        margin = ceil_div(cost, leverage)
    return PositionSpec(number, inst, side, lots, cost, mark, leverage, margin_mode, margin, where)


def _under_venue(f: Any, inst: Instrument, own: BracketTable | None, venue: VenueProfile) -> Instrument:
    """``inst`` under ``venue``'s terms; brackets the file gives stay the instrument's (a
    Hyperliquid/dYdX made-up asset takes its max leverage from the first of them)."""
    try:
        if own is None:
            return venue.instrument(inst)
        lev = None if venue.name == "bybit" else own.brackets[0].max_leverage
        return attrs.evolve(venue.instrument(inst, max_leverage=lev), brackets=own)
    except InputError as exc:
        raise f.error("symbol", f"--venue {venue.name}: {exc.message}") from None


def _brackets(f: Any, symbol: str) -> BracketTable:
    raw = f.raw("brackets", types=(list,))
    rows = []
    for i, b in enumerate(raw):
        if not isinstance(b, dict):
            raise f.error("brackets", f"bracket {i + 1} must be a table {{floor, cap, mmr, max_leverage}}")
        extra = set(b) - {"floor", "cap", "mmr", "max_leverage"}
        if extra:
            raise f.error("brackets", f"bracket {i + 1}: unknown field {sorted(extra)[0]!r}; expected floor, cap, mmr, max_leverage")
        for key in ("floor", "cap", "mmr", "max_leverage"):
            if key not in b:
                raise f.error("brackets", f"bracket {i + 1}: {key} missing")
            if isinstance(b[key], float):
                raise f.error("brackets", f"bracket {i + 1}: write {key} {b[key]!r} as a string so it stays exact")
        rows.append((str(b["floor"]), str(b["cap"]), str(b["mmr"]), b["max_leverage"]))
    if not rows:
        raise f.error("brackets", "at least one bracket is needed")
    return _table(f, "brackets", rows, symbol)


def _table(f: Any, key: str, rows: list[tuple[str, str, str, Any]], symbol: str) -> BracketTable:
    try:
        return BracketTable.from_tiers(rows, symbol=symbol)
    except InputError as exc:
        raise f.error(key, str(exc)) from None


_MOVE_RE: Final = re.compile(r"^[+-]?[0-9.]+%?$")


def _move_e8(text: object, where: str, field: str) -> int:
    """``"-15%"`` (a percent) or ``"-0.15"`` (a fraction, at most 1 in size) as an exact
    e8 fraction, above −100 %. ``"15"`` is refused (15 % or 1,500 %? write ``"15%"``)."""
    if not isinstance(text, str) or not _MOVE_RE.match(text.strip()):
        raise InputError(f"{text!r} is not a move like \"-15%\" or \"-0.15\"", where=where, field=field)
    t = text.strip()
    pct = t.endswith("%")
    d = parse_decimal(t.rstrip("%").lstrip("+"), field=field, where=where)
    if not pct and abs(d) > 1:
        raise InputError(f"{text!r} is a move of more than 100 %; write a percent with its sign, e.g. \"{t}%\"", where=where, field=field)
    scaled = d.scaleb(6 if pct else 8)
    if scaled != scaled.to_integral_value():
        raise InputError(f"{text!r} has too many decimals (at most 1e-8 of the price)", where=where, field=field)
    e8 = int(scaled)
    if e8 <= -RATE_SCALE:
        raise InputError(f"{text!r} takes the price to zero or below; expected a move above -100%", where=where, field=field)
    return e8


def _points_e8(text: object, where: str, field: str) -> int:
    d = parse_decimal(text, field=field, where=where)  # type: ignore[arg-type]
    scaled = d.scaleb(6)
    if scaled != scaled.to_integral_value() or not 0 <= scaled <= RATE_SCALE:
        raise InputError(f"{text!r}: expected haircut points in [0, 100], e.g. \"5\"", where=where, field=field)
    return int(scaled)


def _moves(f: Any, key: str) -> tuple[int, dict[str, int]]:
    """A shock's price moves under ``key``: one move for all (e8), or one per name."""
    if not f.has(key):
        return 0, {}
    raw = f.raw(key)
    at = f.source.where(f.field(key))
    if isinstance(raw, dict):
        return 0, {k: _move_e8(v, at, f"{f.field(key)}.{k}") for k, v in raw.items()}
    return _move_e8(raw, at, f.field(key)), {}


def _shock(f: Any, i: int) -> tuple[Shock, str]:
    f.only(("name", "marks", "indexes", "haircut_points"))
    where = f.source.where(f.path)
    name = f.text("name")
    marks_e8, per_symbol = _moves(f, "marks")
    indexes_e8, per_asset = _moves(f, "indexes")
    points = 0
    if f.has("haircut_points"):
        points = _points_e8(f.decimal_text("haircut_points"), f.source.where(f.field("haircut_points")), f.field("haircut_points"))
    return Shock(name, marks_e8, per_symbol, indexes_e8, per_asset, points), where


def _gap(text: str, symbols: set[str]) -> Shock:
    sym, sep, move = text.partition("=")
    if not sep or not sym:
        raise InputError(f"{text!r}; expected SYMBOL=MOVE, e.g. BTCUSDT=-15%", where="--gap")
    if sym not in symbols:
        raise InputError(f"{sym} is not a position of this account ({', '.join(sorted(symbols)) or 'none'})", where="--gap")
    e8 = _move_e8(move, "--gap", "move")
    return Shock(f"gap {sym} {move}", symbol_marks_e8={sym: e8})


# --------------------------------------------------------------------------- figures


def _moved(value: int, move_e8: int) -> int:
    """``value × (1 + move)`` rounded down (a shocked mark or index, on its 1e-8 grid)."""
    return mul_div_floor(value, RATE_SCALE + move_e8, RATE_SCALE)


@attrs.frozen
class State:
    """The account under one set of marks and rules (the file's, or a shock's)."""

    marks: Mapping[str, int]  # symbol -> mark subticks
    rules: Mapping[str, CollateralRule]


def base_state(acct: AccountSpec) -> State:
    return State({p.symbol: p.mark_subticks for p in acct.positions}, {a: r.copy() for a, r in acct.rules.items()})


def shocked_state(acct: AccountSpec, shock: Shock) -> State:
    """The file's marks and rules with ``shock`` applied (marks and indexes rounded down)."""
    marks = {
        p.symbol: _moved(p.mark_subticks, shock.symbol_marks_e8.get(p.symbol, shock.marks_e8))
        for p in acct.positions
    }
    rules: dict[str, CollateralRule] = {}
    for asset, rule in acct.rules.items():
        r = rule.copy()
        move = shock.asset_indexes_e8.get(asset, 0 if asset in USD_ASSETS else shock.indexes_e8)
        r.index_usd_e8 = _moved(r.index_usd_e8, move)
        if shock.haircut_points_e8:
            r = haircut_shifted(r, shock.haircut_points_e8)
        rules[asset] = r
    return State(marks, rules)


def portfolio_figures(acct: AccountSpec, state: State) -> AccountFigures:
    """The multi-assets figures (as ``Ledger.portfolio_figures``): per asset equity =
    wallet + UPnL of its cross positions (1e-8 atoms), IM and MM in atoms. O(positions)."""
    rows: dict[str, list[int]] = {a: [acct.wallets.get(a, 0) * ATOMS_E8_PER_ATOM, 0, 0] for a in acct.assets}
    for p in acct.positions:
        if p.isolated:
            continue
        _, upnl, im, mm = p.figures(state.marks[p.symbol])
        row = rows[p.asset]
        row[0] += upnl
        row[1] += im
        row[2] += mm
    return account_figures(((a, e, i, m) for a, (e, i, m) in rows.items()), state.rules)


def _ratio_e8(maint: int, balance: int) -> int | None:
    """MM / balance in e8, rounded up (units must match); None when balance <= 0."""
    return None if balance <= 0 else ceil_div(maint * RATE_SCALE, balance)


def _worst(ratios: Iterable[int | None]) -> tuple[int | None, bool]:
    """The highest ratio (None = unbounded) and whether any scope has one."""
    worst: int | None = 0
    seen = False
    for r in ratios:
        seen = True
        if r is None:
            return None, True
        if worst is not None and r > worst:
            worst = r
    return worst, seen


def single_asset_scopes(acct: AccountSpec, state: State, *, all_isolated: bool = False) -> list[dict[str, Any]]:
    """Every margin scope of the account in single-asset mode (a cross pool per asset
    holding cross positions, an isolated bucket per isolated position), or with every
    position isolated (``all_isolated``): balance (1e-8 atoms), MM (atoms), ratio e8."""
    scopes: list[dict[str, Any]] = []
    pools: dict[str, list[int]] = {}
    for p in acct.positions:
        _, upnl, _, mm = p.figures(state.marks[p.symbol])
        if all_isolated or p.isolated:
            bal = p.isolated_margin_atoms() * ATOMS_E8_PER_ATOM + upnl
            scopes.append({"scope": f"{p.symbol} isolated", "asset": p.asset, "balance_e8": bal, "maint": mm,
                           "ratio_e8": _ratio_e8(mm * ATOMS_E8_PER_ATOM, bal)})
            continue
        pool = pools.setdefault(p.asset, [acct.wallets.get(p.asset, 0) * ATOMS_E8_PER_ATOM, 0])
        pool[0] += upnl
        pool[1] += mm
    for asset, (bal, mm) in pools.items():
        scopes.append({"scope": f"{asset} cross", "asset": asset, "balance_e8": bal, "maint": mm,
                       "ratio_e8": _ratio_e8(mm * ATOMS_E8_PER_ATOM, bal)})
    return scopes


def mode_ratio(acct: AccountSpec, state: State, mode: str) -> tuple[int | None, bool]:
    """``(margin ratio e8 or None if unbounded, liquidated)`` of the account in ``mode``:
    multi-assets the account's; single-asset and isolated the worst scope's."""
    if mode == MULTI_ASSETS:
        f = portfolio_figures(acct, state)
        has_mm = f.maint_usd_e40 > 0
        if f.equity_usd_e40 <= 0:
            return None, has_mm or f.equity_usd_e40 < 0
        return ceil_div(f.maint_usd_e40 * RATE_SCALE, f.equity_usd_e40), f.liquidatable() and has_mm
    scopes = single_asset_scopes(acct, state, all_isolated=mode == ISOLATED)
    worst, _ = _worst(s["ratio_e8"] for s in scopes)
    if acct.venue.liquidatable_at_equality:
        liquidated = any(s["maint"] > 0 and s["balance_e8"] <= s["maint"] * ATOMS_E8_PER_ATOM for s in scopes)
    else:  # dYdX: only when the requirement is above the collateral
        liquidated = any(s["maint"] > 0 and s["balance_e8"] < s["maint"] * ATOMS_E8_PER_ATOM for s in scopes)
    return worst, liquidated


# --------------------------------------------------------------------------- exact solver


def _value_usd(rule: CollateralRule, equity: Fraction) -> Fraction:
    """What ``equity`` coins are worth (USD, exact) through ``rule.value_usd_e40``: the
    function is linear between whole 1e-8 atoms (tier bounds and 0 are whole), so a
    fractional equity is interpolated exactly."""
    x = equity * _E16
    k = x.numerator // x.denominator
    v0 = rule.value_usd_e40(k)
    frac = x - k
    v = v0 + frac * (rule.value_usd_e40(k + 1) - v0) if frac else Fraction(v0)
    return v / USD_E40_PER_USD


def _requirement_usd(rule: CollateralRule, amount: Fraction) -> Fraction:
    """A requirement of ``amount`` coins at the rule's ask rate, USD, exact."""
    return amount * rule.ask_rate_e24() / 10**24


def margin_excess_usd(acct: AccountSpec, prices: Mapping[str, Fraction], rules: Mapping[str, CollateralRule]) -> Fraction:
    """Multi-assets ``account equity − account MM`` (USD, exact, MM unrounded as in
    ``liq-price``) with the positions at ``prices``. The account is liquidated where this
    is <= 0. O(positions + assets × tiers)."""
    equity = {a: Fraction(acct.wallets.get(a, 0), ATOMS_PER_UNIT) for a in acct.assets}
    maint = {a: Fraction(0) for a in acct.assets}
    for p in acct.positions:
        price = prices[p.symbol]
        equity[p.asset] += p.side * p.qty * price - p.side * Fraction(p.cost_atoms, ATOMS_PER_UNIT)
        maint[p.asset] += p.exact_maint(price)
    return sum((_value_usd(rules[a], equity[a]) - _requirement_usd(rules[a], maint[a]) for a in acct.assets), Fraction(0))


def first_root(f: Callable[[Fraction], Fraction], start: Fraction, points: Sequence[Fraction], down: bool) -> tuple[str, Fraction | None]:
    """Walk from ``start`` down to 0 (``down``) or up to infinity through the sorted
    breakpoints ``points`` of the piecewise-linear ``f``; the first root where ``f``
    falls to 0: ``("price", root)``, ``("never", None)`` or ``("always", None)`` when
    ``f(start) <= 0``. Exact; O(points) evaluations."""
    cur, fc = start, f(start)
    if fc <= 0:
        return STATUS_ALWAYS, None
    if down:
        for nxt in [*(x for x in reversed(points) if 0 < x < start), Fraction(0)]:
            fn = f(nxt)
            if fn <= 0:
                root = cur + (nxt - cur) * fc / (fc - fn)
                return (STATUS_PRICE, root) if root > 0 else (STATUS_NEVER, None)
            cur, fc = nxt, fn
        return STATUS_NEVER, None
    for nxt in (x for x in points if x > start):
        fn = f(nxt)
        if fn <= 0:
            return STATUS_PRICE, cur + (nxt - cur) * fc / (fc - fn)
        cur, fc = nxt, fn
    slope = f(cur + 1) - fc
    if slope >= 0:
        return STATUS_NEVER, None
    return STATUS_PRICE, cur + fc / -slope


def multi_assets_liquidation_price(acct: AccountSpec, pos: PositionSpec) -> tuple[str, Fraction | None]:
    """The mark of ``pos`` at which the multi-assets account's margin ratio reaches 100 %,
    the others held at their marks, walking from the mark against the position (down for
    a long, up for a short). Breakpoints: the position's bracket floors and the prices
    where its asset's equity crosses 0 or a value-ratio tier bound, so the root is
    tier-consistent. Exact."""
    marks = {p.symbol: p.mark for p in acct.positions}
    rules = acct.rules

    def f(price: Fraction) -> Fraction:
        marks[pos.symbol] = price
        return margin_excess_usd(acct, marks, rules)

    q = pos.qty
    points: set[Fraction] = {Fraction(b.floor_atoms, ATOMS_PER_UNIT) / q for b in pos.instrument.brackets.brackets[1:]}
    # the asset's equity at the mark, then where it crosses 0 and each tier bound
    equity = Fraction(acct.wallets.get(pos.asset, 0), ATOMS_PER_UNIT)
    for p in acct.positions:
        if p.asset == pos.asset:
            equity += p.side * (p.qty * p.mark - Fraction(p.cost_atoms, ATOMS_PER_UNIT))
    bounds = [Fraction(0)] + [Fraction(t.upto_atoms, ATOMS_PER_UNIT) for t in rules[pos.asset].tiers if t.upto_atoms is not None]
    for b in bounds:
        price = pos.mark + (b - equity) / (pos.side * q)
        if price > 0:
            points.add(price)
    return first_root(f, pos.mark, sorted(points), pos.side == LONG)


def collateral_liquidation_index(acct: AccountSpec, asset: str) -> tuple[str, Fraction | None, int]:
    """The index price (USD per coin) of ``asset`` at which the multi-assets account is
    liquidated, every mark and other index held: ``equity − MM`` is linear in one
    asset's index (its value and its requirements both scale with it), so the root is
    ``−F(0) / (F(1) − F(0))``. Returns ``(status, price, direction)`` with direction −1
    (liquidated at or below) or +1 (at or above: the asset is owed). Exact."""
    marks = {p.symbol: p.mark for p in acct.positions}

    def f(index_usd_e8: int) -> Fraction:
        rules = dict(acct.rules)
        r = rules[asset].copy()
        r.index_usd_e8 = index_usd_e8
        rules[asset] = r
        return margin_excess_usd(acct, marks, rules)

    now = f(acct.rules[asset].index_usd_e8)
    if now <= 0:
        return STATUS_ALWAYS, None, 0
    f0 = f(0)
    slope = f(INDEX_SCALE) - f0  # per USD of index
    if slope == 0:
        return STATUS_NEVER, None, 0
    root = -f0 / slope
    if root <= 0:
        return STATUS_NEVER, None, 0
    return STATUS_PRICE, root, (-1 if slope > 0 else 1)


def single_asset_liquidation_price(acct: AccountSpec, pos: PositionSpec, *, isolated: bool = False) -> tuple[str, Fraction | None]:
    """``liq-price``'s answer for ``pos`` in single-asset mode: its isolated bucket, or the
    cross pool of its asset (the wallet, other cross positions of the asset at their marks)."""
    if pos.instrument.maint_margin_basis == "entry":
        return _entry_basis_liquidation_price(acct, pos, isolated=isolated)
    if isolated or pos.isolated:
        res = liquidation_price(pos.calc_position(), Fraction(pos.isolated_margin_atoms(), ATOMS_PER_UNIT), mode=ISOLATED)
    else:
        others = [p.calc_position() for p in acct.positions if p is not pos and not p.isolated and p.asset == pos.asset]
        res = liquidation_price(
            pos.calc_position(), Fraction(acct.wallets.get(pos.asset, 0), ATOMS_PER_UNIT), mode=CROSS, others=others
        )
    return res.status, res.liquidation_price


_NO_MM: Final = FixedBracket(0, 0)


def _entry_basis_liquidation_price(acct: AccountSpec, pos: PositionSpec, *, isolated: bool) -> tuple[str, Fraction | None]:
    """Bybit's rule: every MM is fixed at entry, so margin balance − MM is the wallet less
    those constants plus the PnL: solved as ``liq-price`` with MM 0 and the wallet reduced
    by the MMs (only the price is used; the bankruptcy price of that call is not)."""

    def leg(p: PositionSpec) -> Position:
        return Position(p.side, p.qty, p.entry, _NO_MM, mark_price=p.mark)

    if isolated or pos.isolated:
        wallet = Fraction(pos.isolated_margin_atoms(), ATOMS_PER_UNIT) - pos.exact_maint(pos.mark)
        res = liquidation_price(leg(pos), wallet, mode=ISOLATED)
    else:
        pool = [p for p in acct.positions if not p.isolated and p.asset == pos.asset]
        wallet = Fraction(acct.wallets.get(pos.asset, 0), ATOMS_PER_UNIT) - sum((p.exact_maint(p.mark) for p in pool), Fraction(0))
        res = liquidation_price(leg(pos), wallet, mode=CROSS, others=[leg(p) for p in pool if p is not pos])
    return res.status, res.liquidation_price


# --------------------------------------------------------------------------- report


def _atoms_e8_text(v: int) -> str:
    """1e-8 atoms as an amount truncated toward zero at 8 decimals."""
    q = abs(v) // ATOMS_E8_PER_ATOM
    return format_atoms(q if v >= 0 else -q, 8)


def _ratio_text(r: int | None) -> str | None:
    return None if r is None else format_rate_e8(r, 8)


def _pct_up(num: int, den: int) -> str | None:
    """``num / den`` as a percent with 2 decimals, rounded up; None when den <= 0."""
    return None if den <= 0 else format_scaled(ceil_div(num * 10_000, den), 2, 2)


def _price_text(status: str, price: Fraction | None, direction: int) -> str | None:
    if status != STATUS_PRICE or price is None:
        return None
    return format_price(price, round_up=direction < 0)


def _when(status: str, direction: int) -> str | None:
    if status == STATUS_PRICE:
        return "at or below" if direction < 0 else "at or above"
    return None


def default_gap(acct: AccountSpec) -> Shock | None:
    """The largest position (by notional at its mark; the first on a tie) gapping 15 %
    against itself."""
    if not acct.positions:
        return None
    big = max(acct.positions, key=lambda p: (p.figures()[0], -p.number))
    move = -15_000_000 if big.side == LONG else 15_000_000
    return Shock(f"gap {big.symbol} {'-' if move < 0 else '+'}15%", symbol_marks_e8={big.symbol: move})


def builtin_shocks(acct: AccountSpec) -> list[tuple[Shock, str]]:
    """The stress table's rows: the named shocks, then the file's and ``--gap``'s."""
    out = [
        (Shock("now"), "the marks and rules of the file"),
        (Shock("prices -10%", marks_e8=-10_000_000), "every mark -10 % (collateral indexes held)"),
        (Shock("prices -20%", marks_e8=-20_000_000), "every mark -20 % (collateral indexes held)"),
        (Shock("crash -30%", marks_e8=-30_000_000, indexes_e8=-30_000_000),
         "correlated crash: every mark and every non-USD collateral index -30 %"),
        (Shock("haircuts +5 pts", haircut_points_e8=5_000_000), "every asset's collateral value ratio lowered by 5 points"),
        (Shock("haircuts +10 pts", haircut_points_e8=10_000_000), "every asset's collateral value ratio lowered by 10 points"),
    ]
    extra = list(acct.shocks)
    if not any(s.name.startswith("gap ") for s in extra):
        gap = default_gap(acct)
        if gap is not None:
            extra.insert(0, gap)
    for s in extra:
        out.append((s, _describe(s)))
    return out


def _describe(s: Shock) -> str:
    parts = []
    if s.marks_e8:
        parts.append(f"every mark {_signed_pct(s.marks_e8)}")
    parts += [f"{sym} {_signed_pct(m)}" for sym, m in s.symbol_marks_e8.items()]
    if s.indexes_e8:
        parts.append(f"non-USD collateral indexes {_signed_pct(s.indexes_e8)}")
    parts += [f"{a} index {_signed_pct(m)}" for a, m in s.asset_indexes_e8.items()]
    if s.haircut_points_e8:
        parts.append(f"haircuts +{format_scaled(s.haircut_points_e8, 6)} points")
    return ", ".join(parts) or "no change"


def _signed_pct(e8: int) -> str:
    return ("+" if e8 > 0 else "") + format_scaled(e8, 6) + " %"


def evaluate(acct: AccountSpec) -> dict[str, Any]:
    """Every figure of the report, as JSON-ready decimal strings (names are stable)."""
    state = base_state(acct)
    multi = acct.mode == MULTI_ASSETS
    per_position = {p.symbol: p.figures() for p in acct.positions}
    if multi:
        figs = portfolio_figures(acct, state)
    else:  # single-asset: USD at the index only (no buffer, no tier), for reading
        plain = {a: CollateralRule(a, r.index_usd_e8) for a, r in acct.rules.items()}
        figs = portfolio_figures(acct, State(state.marks, plain))
    out: dict[str, Any] = {} if acct.venue.is_binance else {"venue": acct.venue.name}
    out |= {
        "file": acct.name,
        "collateral_mode": acct.mode,
        "haircuts": acct.haircuts,
        "account_equity": format_usd_e40(figs.equity_usd_e40),
        "account_initial_margin": format_usd_e40(figs.initial_usd_e40),
        "account_maintenance_margin": format_usd_e40(figs.maint_usd_e40),
        "account_available_for_order": format_usd_e40(figs.available_usd_e40),
    }
    assets = []
    available: dict[str, str] = {}
    scopes = single_asset_scopes(acct, state)
    for af in figs.assets:
        rule = acct.rules[af.asset]
        if multi:
            avail_atoms = usd_e40_to_atoms_floor(figs.available_usd_e40, rule)
        else:  # the asset's own pool: wallet + UPnL − IM of its cross positions
            avail_atoms = floor_div(af.equity_atoms_e8, ATOMS_E8_PER_ATOM) - af.initial_margin_atoms
        available[af.asset] = format_atoms(avail_atoms, 8)
        assets.append({
            "asset": af.asset,
            "wallet": format_atoms(acct.wallets.get(af.asset, 0), 8),
            "equity": _atoms_e8_text(af.equity_atoms_e8),
            "index": format_scaled(rule.index_usd_e8, 8),
            "bid_rate": format_scaled(rule.bid_rate_e24(), 24),
            "ask_rate": format_scaled(rule.ask_rate_e24(), 24),
            "value": format_usd_e40(af.value_usd_e40),
            "haircut": format_usd_e40(af.haircut_usd_e40),
            "initial_margin": format_atoms(af.initial_margin_atoms, 8),
            "maintenance_margin": format_atoms(af.maint_margin_atoms, 8),
            "initial_margin_usd": format_usd_e40(af.initial_usd_e40),
            "maintenance_margin_usd": format_usd_e40(af.maint_usd_e40),
            "available_for_order": available[af.asset],
        })
    out["available_for_order"] = available
    if multi:
        ratio = None if figs.equity_usd_e40 <= 0 else ceil_div(figs.maint_usd_e40 * RATE_SCALE, figs.equity_usd_e40)
        out["account_margin_ratio"] = _ratio_text(ratio)
        out["account_margin_ratio_percent"] = _pct_up(figs.maint_usd_e40, figs.equity_usd_e40)
        out["liquidatable"] = figs.maint_usd_e40 > 0 and figs.liquidatable()
    else:
        worst, _ = _worst(s["ratio_e8"] for s in scopes)
        out["account_margin_ratio"] = _ratio_text(worst)
        out["account_margin_ratio_percent"] = None if worst is None else format_scaled(ceil_div(worst, 10_000), 2, 2)
        out["liquidatable"] = mode_ratio(acct, state, SINGLE_ASSET)[1]
    out["assets"] = assets
    out["scopes"] = [
        {"scope": s["scope"], "asset": s["asset"], "margin_balance": _atoms_e8_text(s["balance_e8"]),
         "maintenance_margin": format_atoms(s["maint"], 8), "margin_ratio": _ratio_text(s["ratio_e8"])}
        for s in scopes
    ]
    positions = []
    for p in acct.positions:
        n, upnl, im, mm = per_position[p.symbol]
        if multi:
            status, lp = multi_assets_liquidation_price(acct, p)
        else:
            status, lp = single_asset_liquidation_price(acct, p)
        direction = -1 if p.side == LONG else 1
        basis = p.cost_atoms if p.instrument.maint_margin_basis == "entry" else n // ATOMS_E8_PER_ATOM
        bracket = p.instrument.brackets.bracket_for(basis)
        positions.append({
            "symbol": p.symbol,
            "asset": p.asset,
            "side": "long" if p.side == LONG else "short",
            "size": p.instrument.qty_str(p.lots),
            "entry": p.instrument.price_str(p.cost_atoms // (p.lots * p.instrument.atoms_per_tick_lot)),
            "mark": p.instrument.mark_str(p.mark_subticks),
            "leverage": p.leverage,
            "margin_mode": p.margin_mode,
            "notional": _atoms_e8_text(n),
            "unrealized_pnl": _atoms_e8_text(upnl),
            "initial_margin": format_atoms(p.isolated_margin_atoms() if p.isolated else im, 8),
            "maintenance_margin": format_atoms(mm, 8),
            "maint_margin_rate": format_rate_e8(bracket.mmr_e8),
            "liquidation_status": status,
            "liquidation_price": _price_text(status, lp, direction),
            "liquidated_when_mark": _when(status, direction),
        })
    out["positions"] = positions
    collateral = []
    if multi:
        for asset in acct.assets:
            if asset in USD_ASSETS:
                continue
            status, price, direction = collateral_liquidation_index(acct, asset)
            collateral.append({
                "asset": asset,
                "index": format_scaled(acct.rules[asset].index_usd_e8, 8),
                "liquidation_status": status,
                "liquidation_index": _price_text(status, price, direction),
                "liquidated_when_index": _when(status, direction),
            })
    out["collateral_liquidation"] = collateral
    # what the venue's auto-exchange would do to these wallets now (multi-assets only):
    # the same plan the ledger books (exsim.ledger.collateral.plan_auto_exchange)
    conversions = []
    if multi:
        wallets = {a: acct.wallets.get(a, 0) for a in acct.assets}
        plan = plan_auto_exchange(wallets, acct.rules, idle=not acct.positions, usd_assets=USD_ASSETS)
        for from_asset, sold, to_asset, bought, reason in plan:
            wallets[from_asset] -= sold
            wallets[to_asset] += bought
            conversions.append({
                "reason": reason,
                "from_asset": from_asset,
                "sold": format_atoms(sold, 8),
                "to_asset": to_asset,
                "bought": format_atoms(bought, 8),
            })
        out["wallets_after_auto_exchange"] = {a: format_atoms(w, 8) for a, w in wallets.items()} if plan else None
    out["auto_exchange"] = conversions
    stress = []
    for shock, description in builtin_shocks(acct):
        st = shocked_state(acct, shock)
        modes = {}
        for mode in _MODES_SHOWN:
            if mode == MULTI_ASSETS and not acct.venue.multi_assets:
                continue  # Hyperliquid and dYdX: no multi-assets collateral
            r, liq = mode_ratio(acct, st, mode)
            modes[mode] = {
                "margin_ratio": _ratio_text(r),
                "margin_ratio_percent": None if r is None else format_scaled(ceil_div(r, 10_000), 2, 2),
                "distance_to_liquidation": None if r is None else format_rate_e8(RATE_SCALE - r, 8),
                "liquidated": liq,
            }
        stress.append({"shock": shock.name, "description": description, "modes": modes})
    out["stress"] = stress
    out["rounding"] = (
        "amounts truncated toward zero at 8 decimals (available per asset rounded down); "
        "margin ratios rounded up (percent at 2 decimals); liquidation prices toward the safe "
        "side (up when liquidated at or below, down when at or above)"
    )
    return out


def _short(text: str) -> str:
    """A decimal string with its trailing zeros dropped, for the text tables (same value)."""
    if "." not in text:
        return text
    return text.rstrip("0").rstrip(".")


def _print_tables(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    r = report
    console.print(f"[bold]exsim margin[/bold] {r['file']}: {r['collateral_mode']} collateral mode"
                  + (f", haircuts from exsim's {r['haircuts']} data" if r["haircuts"] else "")
                  + (f", under {r['venue']}'s margin rules" if "venue" in r else ""))
    usd = " (USD)" if r["collateral_mode"] == MULTI_ASSETS else " (USD at the index, for reading)"
    summary = Table(title="account" + usd, show_header=False)
    summary.add_column("figure")
    summary.add_column("value", justify="right")
    pct = r["account_margin_ratio_percent"]
    for label, value in (
        ("account equity", _short(r["account_equity"])),
        ("initial margin", _short(r["account_initial_margin"])),
        ("maintenance margin", _short(r["account_maintenance_margin"])),
        ("available for order", _short(r["account_available_for_order"])),
        ("margin ratio", "unbounded (equity <= 0)" if pct is None else f"{pct} %"),
        ("liquidatable", "YES" if r["liquidatable"] else "no"),
    ):
        summary.add_row(label, value)
    console.print(summary)
    at = Table(title="assets (amounts in the asset; value and haircut in USD)")
    for col in ("asset", "equity", "index", "value", "haircut", "IM", "MM", "available"):
        at.add_column(col, justify="left" if col == "asset" else "right")
    for a in r["assets"]:
        at.add_row(a["asset"], *(_short(a[k]) for k in ("equity", "index", "value", "haircut", "initial_margin",
                                                          "maintenance_margin", "available_for_order")))
    console.print(at)
    if r["positions"]:
        pt = Table(title="positions (liquidation price: this mark moving, the others held)")
        for col in ("symbol", "position", "entry", "mark", "uPnL", "IM", "MM", "liq. price"):
            pt.add_column(col, justify="left" if col in ("symbol", "position") else "right")
        for p in r["positions"]:
            if p["liquidation_price"] is not None:
                sign = "<=" if p["liquidated_when_mark"] == "at or below" else ">="
                lp = f"{sign} {_short(p['liquidation_price'])}"
            else:
                lp = "never" if p["liquidation_status"] == STATUS_NEVER else "now"
            pt.add_row(p["symbol"], f"{p['side']} {_short(p['size'])} {p['leverage']}x {p['margin_mode']}",
                       _short(p["entry"]), _short(p["mark"]),
                       *(_short(p[k]) for k in ("unrealized_pnl", "initial_margin", "maintenance_margin")), lp)
        console.print(pt)
    for c in r["auto_exchange"]:
        console.print(
            f"auto-exchange ({c['reason']}): sells {c['sold']} {c['from_asset']} for {c['bought']} {c['to_asset']}"
        )
    if r["collateral_liquidation"]:
        ct = Table(title="collateral index that liquidates the account (everything else held)")
        for col in ("asset", "index", "liquidation index"):
            ct.add_column(col, justify="left" if col == "asset" else "right")
        for c in r["collateral_liquidation"]:
            if c["liquidation_index"] is not None:
                li = f"{c['liquidation_index']} ({'<=' if c['liquidated_when_index'] == 'at or below' else '>='})"
            else:
                li = "-- (never)" if c["liquidation_status"] == STATUS_NEVER else "-- (now)"
            ct.add_row(c["asset"], c["index"], li)
        console.print(ct)
    st = Table(title="stress: margin ratio (distance to liquidation = 100 % - ratio)")
    st.add_column("shock")
    shown = [m for m in _MODES_SHOWN if not r["stress"] or m in r["stress"][0]["modes"]]
    for mode in shown:
        st.add_column(mode, justify="right")
    for row in r["stress"]:
        cells = []
        for mode in shown:
            m = row["modes"][mode]
            text = "unbounded" if m["margin_ratio_percent"] is None else f"{m['margin_ratio_percent']} %"
            cells.append(f"[bold red]{text} LIQUIDATED[/bold red]" if m["liquidated"] else text)
        st.add_row(row["shock"], *cells)
    console.print(st)
    console.print(f"rounding: {r['rounding']}")


def run_margin(args: argparse.Namespace) -> int:
    """Run ``exsim margin``: read and validate the account, evaluate, print; 0."""
    venue = get_venue(getattr(args, "venue", None))
    acct = load_account(args.account, haircuts=args.haircuts, gaps=args.gap, venue=venue)
    report = evaluate(acct)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print_tables(report)
    return 0
