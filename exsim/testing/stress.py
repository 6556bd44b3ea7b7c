"""Whole-engine stress: a seeded long run of every command kind, checked after every event.

``exsim stress --events N --seed S [--venue binance|bybit|hyperliquid|dydx]
[--accounts K] [--symbols ...] [--inverse [SYMBOL ...]] [--check-every M]
[--progress/--no-progress] [--report-every N]``

One run builds the engine as a replay or a scenario does (a :class:`~exsim.ledger.Ledger`
with an insurance fund, an :class:`~exsim.exchange.Exchange` with computed marks and
funding, liquidations on, shipped instruments) and drives it through an
:class:`~exsim.loop.EventLoop`: a lazy, seeded source of commands plus a funding timer.
:class:`StressDriver` draws every command kind of :mod:`exsim.exchange.commands` for many
accounts (market makers, whales, small leveraged traders): orders of every type and time
in force (limit GTC / IOC / FOK / GTX, market, stop and take-profit market and limit on
the last or the mark price, reduce-only, hedge-mode position sides, client ids, a few
invalid ones), trailing stops (by rate and by ticks), OCO pairs and brackets
(``--no-contingent`` leaves those three out and draws as runs did before them), cancels
(some by client order id) and amends, self-trade prevention, leverage, margin-mode and
position-mode changes, isolated margin moves, deposits and withdrawals, mark and index
prices (a mean-reverting random walk), funding (replayed rates and computed ones),
replayed depth, replayed trades and **crashes**: sudden mark jumps of 5–30 %, sometimes
into an emptied book, that liquidate many accounts at once.

**Assets and inverse contracts.** Beside the linear instruments the run builds the inverse
BTCUSD_PERP and ETHUSD_PERP (:data:`INVERSE_SPECS`: Binance COIN-M shapes, a lot of one
contract of 100 / 10 USD, brackets in the coin; ``--inverse`` picks them, none gives the
linear-only run, which draws exactly as runs did before them). Every account then has a
USDT wallet and (makers always, others three times in four) a BTC and an ETH one; orders,
margin moves, deposits and withdrawals go to the wallet of the instrument's or the drawn
asset, sizes are drawn as USD worth (contracts of the face value for inverse), and some
money commands aim where they must be refused: a deposit in an asset nothing settles in
(``UNKNOWN_ASSET``), a withdrawal of a coin never held (``NO_ACCOUNT``), an inverse order
from an account with no coin wallet. Prices stay in a band around
each instrument's random-walking mid so orders meet; state stays small (resting orders
capped per account, stale replayed levels cleared) so O(state) checks stay cheap.

:class:`StressChecker` checks after every event (command) — or every ``M``-th for the
O(state) part, which the report states:

* every structure's ``_check()``: the ledger (conservation of money to the atom, per
  asset: wallets + buckets + fee pool + insurance fund − entry costs = deposits −
  withdrawals; no negative wallet or fund; holds; positions net to zero), the risk index, every book
  and trigger index and the client-id index (``Exchange._check``), the event loop, the
  mark-price calculators and premium averagers. A structure is checked after each
  command that may have changed it (:func:`watch` gives the engine subclasses of the
  ledger, books, trigger indexes and risk index that note calls of their mutating
  methods) and all of them on every 256th check whatever happened;
* books never crossed (also cheaply after every event whatever ``M``);
* the risk index against a full exact scan of every asset's wallets (each its own cross
  pool; inverse positions valued at the coin value of the mark, rounded up): no isolated
  bucket and no cross pool is left at or below its maintenance margin (``Ledger.isolated_margin_balance`` /
  ``cross_margin_balance``; a negative wallet or bucket only while unrealized profit
  backs it), nothing left pending or listed liquidatable; no waiting stop order whose
  reference price has reached its trigger;
* contingent orders: no orphan exit (every bracket exit belongs to a live OCO group that
  protects an open position; every group's legs are open orders), a bracket's exits never
  exceed the position, an OCO group never has two legs with fills (from the Fill events,
  after every event), no waiting trailing stop past its activation or its firing level;
* each liquidation (after every event, from its events): an isolated one closes exactly
  one bucket; a cross one closes every cross position of the account in one step (one
  event, each position once, none left after the command); every lot is accounted for
  (book + fund takeover + ADL); every fill of a liquidation order is at or better than
  the bankruptcy price, and the event's ``filled_lots`` / ``fill_notional_atoms`` are
  those fills (inverse: the sum of their coin values, each floored); ADL happens at a
  bankruptcy price; no negative fee pool or insurance fund in any asset.

**Venues.** ``--venue`` (default ``binance``: the runs, seeds and hashes as before) runs
the same mix under another venue's rules (:mod:`exsim.venues`): the instruments under
its terms (:meth:`~exsim.venues.VenueProfile.instruments`), the exchange given the
venue, the driver's mix tuned so that venue's own rules fire (:data:`VENUE_DRIVES`), and
beside every check above :class:`VenueChecks` (the venue's explanation prefix, Bybit's
ladder steps, Hyperliquid's chunks and cooldown, dYdX's fillable price and fund cap). The
checks above follow the profile where it differs: a market order (Hyperliquid) or an IOC
at the fillable price (dYdX) is not bounded by the bankruptcy price; ADL at the previous
mark (Hyperliquid) is not at a bankruptcy price; a vault that may go negative
(Hyperliquid) may, but then no loss may be reported uncovered; a scope waiting out a
cooldown or a retry may stay liquidatable; dYdX is liquidatable only below its
maintenance margin. Hyperliquid and dYdX list linear contracts only: their runs have no
inverse instrument and no multi-assets account.

At the end it prints the events, events/s, counts per command kind, fills (per symbol),
liquidations (isolated / cross, per asset), ADL, fund takeovers, per asset the deposits,
withdrawals, traders' money, fee pool, insurance fund and uncovered loss, and the final
:meth:`~exsim.exchange.Exchange.state_hash` (same seed, same hash), and exits 0; a broken
invariant stops the run with exit status 1 and a message naming the event index, the
command and the invariant.
"""

from __future__ import annotations

import argparse
import bisect
import random
import sys
import time
from collections import Counter, deque
from fractions import Fraction
from typing import Any, Callable, Final, Iterable, Iterator, NamedTuple, Sequence

import attrs

from exsim.book.order_book import OrderBook
from exsim.book.orders import (
    BUY,
    FOK,
    GTC,
    GTX,
    IOC,
    LIMIT,
    MARKET,
    SELL,
    STOP_LIMIT,
    STOP_MARKET,
    STP_NAMES,
    TAKE_PROFIT_LIMIT,
    TAKE_PROFIT_MARKET,
    TRAILING_STOP_MARKET,
    TRIGGER_LAST,
    TRIGGER_MARK,
)
from exsim.errors import InputError
from exsim.exchange import (
    AdjustIsolatedMargin,
    AmendOrder,
    AutoExchange,
    CancelOrder,
    ClearReplayedLevels,
    CollateralIndex,
    Deposit,
    Exchange,
    Fill,
    Liquidation,
    NewBracket,
    NewOco,
    NewOrder,
    ReplayedTrade,
    SetCollateralMode,
    SetCollateralRule,
    SetIndexPrice,
    SetLeverage,
    SetMarginMode,
    SetMarkPrice,
    SetPositionMode,
    SetReplayedLevels,
    SetSelfTradePrevention,
    SettleFunding,
    Withdraw,
)
from exsim.exchange.contingent import Contingent
from exsim.exchange.trailing import TrailingStop
from exsim.exchange.triggers import FALLING, TriggerIndex, fires
from exsim.instruments import Instrument, get_instrument, list_symbols
from exsim.instruments.brackets import BracketTable
from exsim.instruments.instrument import USD_ASSETS
from exsim.ledger import BOTH, CROSS, ISOLATED, LONG, SHORT, Account, Ledger, Position
from exsim.ledger.accounts import Portfolio
from exsim.ledger.collateral import MULTI_ASSETS, SINGLE_ASSET, account_figures
from exsim.ledger.risk_index import RiskIndex
from exsim.loop import EventLoop
from exsim.loop.event_loop import PRIORITY_FUNDING
from exsim.venues.prices import dydx_fillable_price
from exsim.venues.profile import (
    ADL_AT_BANKRUPTCY,
    BANKRUPTCY_IOC,
    BINANCE,
    CLEARANCE_FILL_DELTA,
    CLEARANCE_NONE,
    FILLABLE_PRICE,
    PARTIAL_LADDER,
    VENUE_NAMES,
    VenueProfile,
    get_venue,
)
from exsim.units import ATOMS_E8_PER_ATOM as E8, NS_PER_SECOND, RATE_SCALE, ceil_div, floor_div, format_atoms_rounded, mul_div_floor, to_ticks, whole_arg

USDT: Final = 10**8  # atoms per USDT
BPS: Final = 10_000  # basis points per 1

DEFAULT_SYMBOLS: Final = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
#: inverse (coin-margined) instruments drawn beside the linear ones by default: a BTC and
#: an ETH wallet per account next to the USDT one (``--inverse`` with no symbol: none)
DEFAULT_INVERSE: Final = ("BTCUSD_PERP", "ETHUSD_PERP")
#: the inverse instruments the run builds itself (Binance COIN-M shapes: tick, a lot of one
#: contract of ``contract size`` USD, brackets in the coin: floor, cap, MMR, max leverage)
INVERSE_SPECS: Final[dict[str, dict[str, Any]]] = {
    "BTCUSD_PERP": dict(
        tick_size="0.1", contract_size="100",
        tiers=[("0", "5", "0.004", 125), ("5", "10", "0.005", 100), ("10", "20", "0.01", 50), ("20", "50", "0.025", 20),
               ("50", "100", "0.05", 10), ("100", "200", "0.1", 5), ("200", "400", "0.125", 4), ("400", "1000", "0.15", 3),
               ("1000", "1500", "0.25", 2), ("1500", "100000", "0.5", 1)],
    ),
    "ETHUSD_PERP": dict(
        tick_size="0.01", contract_size="10",
        tiers=[("0", "50", "0.005", 100), ("50", "250", "0.0065", 75), ("250", "1000", "0.01", 50),
               ("1000", "5000", "0.02", 25), ("5000", "20000", "0.05", 10), ("20000", "50000", "0.1", 5),
               ("50000", "1000000", "0.125", 4)],
    ),
    "SOLUSD_PERP": dict(
        tick_size="0.01", contract_size="10",
        tiers=[("0", "500", "0.01", 50), ("500", "2500", "0.025", 20), ("2500", "10000", "0.05", 10),
               ("10000", "50000", "0.1", 5), ("50000", "10000000", "0.125", 4)],
    ),
}
#: an asset no instrument settles in: deposits in it are refused (Reason.UNKNOWN_ASSET)
FOREIGN_ASSET: Final = "DOGE"
DEFAULT_ACCOUNTS: Final = 24
#: where each shipped instrument's mid starts (quote units, on its tick grid)
START_PRICES: Final[dict[str, str]] = {
    "BTCUSDT": "60000",
    "ETHUSDT": "3000",
    "SOLUSDT": "150",
    "XRPUSDT": "0.6",
    "DOGEUSDT": "0.15",
    "BNBUSDT": "550",
    "ADAUSDT": "0.45",
    "LINKUSDT": "15",
    "AVAXUSDT": "30",
    "LTCUSDT": "80",
    "BTCUSD_PERP": "60000",
    "ETHUSD_PERP": "3000",
    "SOLUSD_PERP": "150",
}
#: the insurance fund's seed: thin enough that big crashes drain it (ADL, uncovered loss);
#: each coin's fund gets the same worth at its instrument's start price
FUND_SEED_ATOMS: Final = 250_000 * USDT
#: simulated time between replayed-rate funding settlements (far shorter than 8 h: funding
#: is exercised every ~1,500 events); computed rates settle at the instruments' funding times
FUNDING_EVERY_NS: Final = 300 * NS_PER_SECOND
#: most lots the insurance fund unwinds per mark tick, per symbol: a few minimum orders
FUND_UNWIND_MIN_QTY: Final = 25
#: every this many full checks, every structure is checked whether it changed or not
SWEEP_EVERY: Final = 256
LEVERAGES: Final = (1, 2, 3, 5, 10, 20, 25, 50, 75, 100, 125)
#: multi-assets runs (``--multi-assets K``): the collateral assets every such account may
#: hold beside the settlement assets (a USDC wallet and BTC collateral even in a linear run)
MULTI_ASSETS_EXTRA: Final = ("BTC", "USDC")
#: the autoExchangeThreshold of a multi-assets run, 1e-8 USD: Binance's −10,000 USD would
#: rarely be reached by two dozen accounts; −200 USD makes trigger (1) fire often
STRESS_AUTO_EXCHANGE_THRESHOLD_USD_E8: Final = -200 * 10**8
#: buffers (e8) and tier shapes a haircut change draws from (value ratios e8; bounds in coins)
BUFFERS_E8: Final = (0, 500_000, 1_000_000, 2_000_000, 5_000_000)
TIER_SHAPES: Final = (
    ((None, 100_000_000),),
    ((None, 95_000_000),),
    ((None, 80_000_000),),
    ((None, 50_000_000),),
    ((1, 98_000_000), (None, 90_000_000)),
    ((1, 95_000_000), (5, 85_000_000), (None, 60_000_000)),
)

MAKER, WHALE, TRADER = 0, 1, 2  # account roles
#: per role: (deposit range USDT, order notional range USDT, open orders cap)
ROLE_SIZES: Final = (
    ((2_000_000, 5_000_000), (2_000, 40_000), 12),
    ((200_000, 2_000_000), (10_000, 250_000), 6),
    ((300, 20_000), (100, 8_000), 6),
)


class VenueDrive(NamedTuple):
    """How hard the driver pushes a run under one venue (not a venue rule: the mix that
    makes that venue's own rules fire within a few thousand events)."""

    #: crashes per 10,000 draws
    crash_weight: int = 6
    #: a crash's size range, percent of the mid
    crash_pct: tuple[int, int] = (5, 30)
    #: per role: (deposit range USDT, order notional range USDT, open orders cap)
    role_sizes: tuple[tuple[tuple[int, int], tuple[int, int], int], ...] = ROLE_SIZES
    #: the leverages a whale's setup draws from
    whale_leverages: tuple[int, ...] = (3, 5, 10, 20)
    #: one account in this many is a whale (and one in eight a market maker)
    whale_share: int = 8


#: per venue; Binance's is the mix the runs always had (its seeds and hashes unchanged)
VENUE_DRIVES: Final[dict[str, VenueDrive]] = {
    "binance": VenueDrive(),
    # a ladder step needs a position above its first tier (SOL 200,000 USDT) found just past
    # its maintenance margin: a third of the accounts are whales trading up to 800,000 a
    # time at 20–33x, and many small crashes (2–10 %) push them just past it
    "bybit": VenueDrive(
        crash_weight=40, crash_pct=(2, 10), whale_share=3, whale_leverages=(20, 25, 33),
        role_sizes=(ROLE_SIZES[MAKER], ((1_000_000, 4_000_000), (100_000, 800_000), 6), ROLE_SIZES[TRADER]),
    ),
    # chunks need positions above 100,000 found above 2/3 of their maintenance margin (small
    # crashes), the vault positions found below it (large ones): whales and both sizes
    "hyperliquid": VenueDrive(
        crash_weight=30, crash_pct=(2, 20), whale_share=4, whale_leverages=(10, 20, 25, 40),
        role_sizes=(ROLE_SIZES[MAKER], ((500_000, 3_000_000), (50_000, 500_000), 6), ROLE_SIZES[TRADER]),
    ),
    # every liquidation is at the fillable price: more crashes, more of them
    "dydx": VenueDrive(crash_weight=20, crash_pct=(2, 20)),
}


class InvariantViolation(Exception):
    """A checked invariant was found broken: ``invariant`` names it, ``detail`` says how."""

    def __init__(self, invariant: str, detail: str) -> None:
        super().__init__(f"{invariant}: {detail}")
        self.invariant = invariant
        self.detail = detail


# ---------------------------------------------------------------------------- the world
def inverse_instrument(symbol: str) -> Instrument:
    """An inverse perpetual of :data:`INVERSE_SPECS` (lot: one contract; no minimum notional)."""
    spec = INVERSE_SPECS.get(symbol)
    if spec is None:
        raise InputError(f"{symbol}: no inverse instrument of that name (one of {', '.join(INVERSE_SPECS)})",
                         field="inverse")
    brackets = BracketTable.from_tiers(spec["tiers"], symbol=symbol, source="exsim.stress")
    return Instrument.create(
        symbol=symbol, tick_size=spec["tick_size"], lot_size="1", brackets=brackets, inverse=True,
        contract_size=spec["contract_size"], maker_fee="0.0001", taker_fee="0.0005",
    )


def stress_instruments(
    symbols: Sequence[str], variants: bool = True, inverse: Sequence[str] = ()
) -> list[Instrument]:
    """The shipped instruments, then the ``inverse`` ones (:func:`inverse_instrument`); with
    ``variants`` the first linear one gets a 0.5 % clearance fee and the second Binance-style
    partial liquidation, and so do the first and second inverse ones, so those paths run
    for both kinds."""
    out = []
    for i, symbol in enumerate(symbols):
        inst = get_instrument(symbol)
        if variants and i == 0:
            inst = attrs.evolve(inst, clearance_fee_e8=500_000)
        elif variants and i == 1:
            inst = attrs.evolve(inst, partial_liquidation=True)
        out.append(inst)
    for i, symbol in enumerate(inverse):
        inst = inverse_instrument(symbol)
        if variants and i == 0:
            inst = attrs.evolve(inst, clearance_fee_e8=500_000)
        elif variants and i == 1:
            inst = attrs.evolve(inst, partial_liquidation=True)
        out.append(inst)
    return out


def venue_inverse(venue: VenueProfile, inverse: Sequence[str] | None) -> list[str]:
    """The inverse instruments of a run under ``venue``: ``inverse`` as given, or (None) the
    default — :data:`DEFAULT_INVERSE`, none for a venue that lists only linear contracts
    (Hyperliquid, dYdX). An inverse symbol named under such a venue is refused
    (:class:`InputError`, field ``venue``)."""
    if inverse is None:
        return [] if venue.linear_only else list(DEFAULT_INVERSE)
    if inverse and venue.linear_only:
        raise InputError(
            f"{venue.title} lists no inverse (coin-margined) contracts; {inverse[0]} is one "
            f"(leave --inverse out: a {venue.name} run trades the linear contracts only)",
            field="venue",
        )
    return list(inverse)


class _Market:
    """What the driver keeps per instrument: its random-walking mid, in ticks.

    The driver sizes everything in USD worth (USDT atoms): an inverse instrument turns a
    worth into contracts by its face value and a coin amount into a worth at its mid.
    """

    __slots__ = (
        "symbol", "inst", "atpl", "start_ticks", "mid_ticks", "grid_ticks", "min_lots", "max_lots", "min_notional_atoms",
        "per_tick", "inverse", "asset", "face_atoms", "ticks_per_unit",
    )

    def __init__(self, inst: Instrument) -> None:
        self.symbol = inst.symbol
        self.inst = inst
        self.atpl = inst.atoms_per_tick_lot
        self.per_tick = inst.subticks_per_tick
        self.inverse = inst.inverse
        self.asset = inst.margin_asset
        #: inverse: a lot's face value in USD atoms (100 USD: 1e10)
        self.face_atoms = int(inst.contract_size * inst.lot_size * USDT) if inst.inverse else 0
        #: ticks per unit of the quote (tick 0.1: 10), to turn coin amounts into USD worth
        self.ticks_per_unit = to_ticks("1", inst.tick_size, field="tick") if inst.inverse else 0
        text = START_PRICES.get(inst.symbol)
        if text is None:
            raise InputError(f"no start price for {inst.symbol}", field="symbols")
        self.start_ticks = to_ticks(text, inst.tick_size, field="start price")
        self.mid_ticks = self.start_ticks
        #: resting prices sit on a grid of one basis point of the start price, so a few
        #: dozen levels hold the book near the mid
        self.grid_ticks = max(1, floor_div(self.start_ticks, BPS))
        self.min_lots = inst.min_qty_lots
        self.max_lots = inst.max_qty_lots
        self.min_notional_atoms = inst.min_notional_atoms

    def worth(self, coin_atoms: int) -> int:
        """Inverse: the USD worth (USDT atoms) of ``coin_atoms`` at the mid (a driver's estimate)."""
        return mul_div_floor(coin_atoms, self.mid_ticks, self.ticks_per_unit)

    def coin(self, usd_atoms: int) -> int:
        """Inverse: atoms of the coin worth about ``usd_atoms`` at the start price (a driver's estimate)."""
        return mul_div_floor(usd_atoms, self.ticks_per_unit, self.start_ticks)

    def sub(self, ticks: int) -> int:
        """A tick price in subticks (the unit of marks and index prices)."""
        return ticks * self.per_tick

    def bps(self, k: int) -> int:
        """``k`` basis points of the mid, in ticks (at least one tick for k > 0)."""
        t = mul_div_floor(self.mid_ticks, k, BPS)
        return t if t or k <= 0 else 1

    def snap(self, price_ticks: int) -> int:
        """``price_ticks`` down to the grid (at least one grid step)."""
        g = self.grid_ticks
        return max(g, floor_div(price_ticks, g) * g)

    def lots_for(self, notional_atoms: int, price_ticks: int) -> int:
        """Lots worth about ``notional_atoms`` (USD worth) at ``price_ticks`` (at least the
        minimum order); inverse: contracts of that face value, whatever the price."""
        if self.inverse:
            lots = max(self.min_lots, floor_div(notional_atoms, self.face_atoms))
            return min(lots, self.max_lots) if self.max_lots else lots
        unit = price_ticks * self.atpl
        lots = floor_div(notional_atoms, unit)
        least = max(self.min_lots, ceil_div(self.min_notional_atoms, unit))
        lots = max(lots, least)
        return min(lots, self.max_lots) if self.max_lots else lots


class StressDriver:
    """Seeded source of commands of every kind; reads the exchange only to pick targets.

    :meth:`next_command` draws one command (or the next step of a multi-command plan:
    an account winding down to switch modes, a crash into an emptied book) and stamps it
    with a strictly increasing ``ts_ns``. Each ``gen_*`` method builds one kind from the
    ``rng`` it is given (the driver's own by default), so property tests can drive the
    same generators from hypothesis.
    """

    def __init__(
        self,
        exchange: Exchange,
        ledger: Ledger,
        seed: int,
        n_accounts: int = DEFAULT_ACCOUNTS,
        contingent: bool = True,
        multi_assets: int = 0,
        venue: VenueProfile = BINANCE,
    ) -> None:
        if n_accounts < 4:
            raise InputError(f"{n_accounts} accounts: at least 4 are needed", field="accounts")
        self.exchange = exchange
        self.ledger = ledger
        self.rng = random.Random(seed)
        self.markets = [_Market(m.instrument) for m in exchange.markets.values()]
        self.by_symbol = {m.symbol: m for m in self.markets}
        self.n_accounts = n_accounts
        self.drive = VENUE_DRIVES[venue.name]
        n_makers = max(2, n_accounts // 8)
        n_whales = max(1, min(n_accounts - n_makers - 1, n_accounts // self.drive.whale_share))
        self.roles = [MAKER] * n_makers + [WHALE] * n_whales + [TRADER] * (n_accounts - n_makers - n_whales)
        self.account_ids = list(range(1, n_accounts + 1))
        self.makers = self.account_ids[:n_makers]
        self.takers = self.account_ids[n_makers:]
        self.ts_ns = 0
        self.plan: deque[Any] = deque()
        self.next_coid = 1
        self.contingent = contingent
        self.venue = venue
        self.role_sizes = self.drive.role_sizes
        #: another venue's tiers may allow less leverage than the drawn one: the setup draws
        #: as before, then takes the first tier's maximum at most (Binance: no cap, as before)
        self.leverage_cap: dict[str, int] = (
            {} if venue.is_binance else {m.symbol: next(iter(m.inst.brackets)).max_leverage for m in self.markets}
        )
        #: settlement assets, the home one (USDT) first; a coin's first inverse market prices it
        self.home = ledger.home_asset
        self.assets = list(ledger.assets)
        self.coin_market = {}
        for m in self.markets:
            if m.inverse:
                self.coin_market.setdefault(m.asset, m)
        self.multi = len(self.assets) > 1
        if not 0 <= multi_assets <= len(self.takers):
            raise InputError(f"{multi_assets} multi-assets accounts: between 0 and {len(self.takers)} (the takers)",
                             field="multi_assets")
        #: the takers that trade in multi-assets collateral mode (the last ones)
        self.multi_ids: set[int] = set(self.takers[len(self.takers) - multi_assets:]) if multi_assets else set()
        #: a collateral asset with no inverse market is priced from its linear one (BTC: BTCUSDT)
        #: or, with none, walks alone from its start price: (market or None, ticks per USD)
        self.price_source: dict[str, tuple[_Market | None, int]] = {}
        #: the last collateral index drawn per non-USD asset (index_usd_e8)
        self.coin_index: dict[str, int] = {}
        for asset in self.assets:
            if asset in USD_ASSETS:
                continue
            m = self.coin_market.get(asset) or self.by_symbol.get(asset + "USDT")
            if m is not None:
                self.price_source[asset] = (m, to_ticks("1", m.inst.tick_size, field="tick"))
                self.coin_index[asset] = mul_div_floor(m.mid_ticks, 10**8, self.price_source[asset][1])
            else:
                self.price_source[asset] = (None, 1)
                self.coin_index[asset] = int(START_PRICES.get(asset + "USDT", "100")) * 10**8
        self._build_kinds()

    # ------------------------------------------------------------------ plumbing
    def _build_kinds(self) -> None:
        """The mix per 10,000 draws (what is drawn, not what is accepted)."""
        mix: list[tuple[int, Callable[[random.Random], Any]]] = [
            (2_600, self.gen_new_order),
            (1_200, self.gen_quote),
            (1_100, self.gen_cancel),
            (550, self.gen_amend),
            (800, self.gen_replayed_levels),
            (60, self.gen_clear_replayed),
            (350, self.gen_replayed_trade),
            (1_100, self.gen_mark),
            (300, self.gen_index),
            (self.drive.crash_weight, self.gen_crash),
            (30, self.gen_funding),
            (250, self.gen_deposit),
            (150, self.gen_withdraw),
            (200, self.gen_leverage),
            (120, self.gen_margin_mode),
            (40, self.gen_position_mode),
            (180, self.gen_adjust_margin),
            (30, self.gen_stp),
            (24, self.gen_wind_down),
        ]
        if self.contingent:  # (appended: a run without them draws exactly as before)
            mix += [(150, self.gen_trailing), (120, self.gen_oco), (150, self.gen_bracket)]
        if self.multi:  # (appended: a linear-only run draws as before)
            mix += [(40, self.gen_asset_probe)]
        if self.multi_ids:  # (appended: a run without multi-assets accounts draws as before)
            mix += [(300, self.gen_collateral_index), (25, self.gen_collateral_rule), (15, self.gen_collateral_mode)]
        total = 0
        self._cuts: list[int] = []
        self._gens: list[Callable[[random.Random], Any]] = []
        for weight, gen in mix:
            total += weight
            self._cuts.append(total)
            self._gens.append(gen)
        self._total_weight = total

    def setup_commands(self) -> list[Any]:
        """Marks and index for every instrument, then every account funded and configured."""
        rng = self.rng
        out: list[Any] = []
        for m in self.markets:
            out.append(SetIndexPrice(0, m.symbol, m.sub(m.mid_ticks)))
            out.append(SetMarkPrice(0, m.symbol, m.sub(m.mid_ticks)))
        if self.multi_ids:  # every coin gets its collateral index before anyone deposits it
            for asset, index in self.coin_index.items():
                out.append(CollateralIndex(0, asset, index))
        for a, role in zip(self.account_ids, self.roles):
            lo, hi = self.role_sizes[role][0]
            if a in self.multi_ids:  # a tenth in USDT: the coins are its collateral
                out.append(Deposit(0, a, rng.randint(lo, hi) * USDT // 10))
                out.append(SetCollateralMode(0, a, MULTI_ASSETS))
            else:
                out.append(Deposit(0, a, rng.randint(lo, hi) * USDT))
            for asset in self.assets[1:]:  # a coin wallet for every maker, three in four of the others
                if role == MAKER or rng.randrange(4):
                    out.append(self.deposit(a, self.to_asset(asset, rng.randint(lo, hi) * USDT), asset))
            if role != MAKER and rng.randrange(6) == 0:
                out.append(SetPositionMode(0, a, True))
            for m in self.markets:
                if role == MAKER:
                    lev = 5
                elif role == WHALE:
                    lev = rng.choice(self.drive.whale_leverages)
                else:
                    lev = rng.choice((5, 10, 20, 25, 50, 75, 100))
                if self.leverage_cap:
                    lev = min(lev, self.leverage_cap[m.symbol])
                out.append(SetLeverage(0, a, m.symbol, lev))
                if role != MAKER and rng.randrange(3) == 0:
                    out.append(SetMarginMode(0, a, m.symbol, ISOLATED))
        return out

    def next_command(self, rng: random.Random | None = None) -> Any:
        """The next command, stamped with the next timestamp."""
        rng = rng or self.rng
        self.ts_ns += rng.randint(1, 400) * 1_000_000  # 1..400 ms apart: 8 h of funding in ~140k events
        while True:
            if self.plan:
                cmd = self.plan.popleft()
            else:
                gen = self._gens[bisect.bisect_right(self._cuts, rng.randrange(self._total_weight))]
                cmd = gen(rng)
            if cmd is not None:
                return _stamped(cmd, self.ts_ns)

    def commands(self) -> Iterator[Any]:
        """Endless stream: the setup, then :meth:`next_command` forever."""
        for cmd in self.setup_commands():
            self.ts_ns += 1_000_000
            yield cmd._replace(ts_ns=self.ts_ns)
        while True:
            yield self.next_command()

    def _market(self, rng: random.Random) -> _Market:
        return self.markets[rng.randrange(len(self.markets))]

    def _role(self, account_id: int) -> int:
        return self.roles[account_id - 1]

    # ------------------------------------------------------------------ assets
    def _acct(self, account_id: int, asset: str) -> Account | None:
        """The account's wallet in ``asset``, None if it never held it (nothing created)."""
        return self.ledger.find_account(account_id, asset)

    def _any_acct(self, rng: random.Random, account_id: int) -> Account | None:
        """One of the account's wallets (the home one in a one-asset run: no draw)."""
        if not self.multi:
            return self.ledger.find_account(account_id, self.home)
        return self.ledger.find_account(account_id, self.assets[rng.randrange(len(self.assets))])

    def to_asset(self, asset: str, usd_atoms: int) -> int:
        """``usd_atoms`` of worth in atoms of ``asset`` (at least one atom)."""
        m = self.coin_market.get(asset)
        if m is None and asset in self.coin_index:  # a collateral-only coin: at its index
            return max(1, mul_div_floor(usd_atoms, 10**8, self.coin_index[asset]))
        return usd_atoms if m is None else max(1, m.coin(usd_atoms))

    def to_usd(self, asset: str, atoms: int) -> int:
        """A driver's estimate of the USD worth of ``atoms`` of ``asset``."""
        m = self.coin_market.get(asset)
        if m is None and asset in self.coin_index:
            return mul_div_floor(atoms, self.coin_index[asset], 10**8)
        return atoms if m is None else m.worth(atoms)

    def deposit(self, account_id: int, atoms: int, asset: str) -> Deposit:
        """A deposit command in ``asset`` (the home asset: the command as it always was)."""
        if asset == self.home:
            return Deposit(0, account_id, atoms)
        return Deposit(0, account_id, atoms, asset)

    def withdrawal(self, account_id: int, atoms: int, asset: str) -> Withdraw:
        if asset == self.home:
            return Withdraw(0, account_id, atoms)
        return Withdraw(0, account_id, atoms, asset)

    def _notional(self, rng: random.Random, account_id: int, symbol: str = "") -> int:
        """An order's notional: the role's range, or for a small trader a share of what its
        wallet can carry at its leverage, so cross pools run close to their maintenance
        margin and liquidate whole."""
        role = self._role(account_id)
        lo, hi = self.role_sizes[role][1]
        if role == TRADER and symbol and account_id in self.multi_ids and rng.randrange(2):
            # multi-assets: a share of what the whole account (collateral included) can carry
            asset = self.by_symbol[symbol].asset
            acct = self._acct(account_id, asset)
            if acct is not None and self.ledger.collateral_mode(account_id) == MULTI_ASSETS:
                free = self.to_usd(asset, self.ledger.available_atoms(acct))
                if free > 0:
                    lev = self.ledger.leverage(acct, symbol)
                    return max(lo * USDT, mul_div_floor(free * lev, rng.randint(5, 60), 100))
        if role == TRADER and symbol and rng.randrange(2):
            asset = self.by_symbol[symbol].asset
            acct = self._acct(account_id, asset)
            if acct is not None and acct.wallet_atoms > 0:
                lev = self.ledger.leverage(acct, symbol)
                return max(lo * USDT, mul_div_floor(self.to_usd(asset, acct.wallet_atoms) * lev, rng.randint(5, 60), 100))
        return rng.randint(lo, hi) * USDT

    def _coid(self, rng: random.Random, account_id: int) -> str | None:
        r = rng.randrange(20)
        if r == 0:
            self.next_coid += 1
            return f"c{self.next_coid}"
        if r == 1 and self.next_coid > 1:
            return f"c{rng.randint(max(1, self.next_coid - 5), self.next_coid)}"  # may be a duplicate
        return None

    # ------------------------------------------------------------------ orders
    def gen_new_order(self, rng: random.Random) -> Any:
        """A taker-side order of any type (see the module docstring)."""
        a = self.takers[rng.randrange(len(self.takers))]
        m = self._market(rng)
        acct = self._acct(a, m.asset)
        if acct is None:  # no wallet in the instrument's asset (refused for want of margin: NO_ACCOUNT)
            if m.asset != self.home and rng.randrange(3) == 0:
                side = rng.randrange(2)
                return NewOrder(0, a, m.symbol, side, m.min_lots, 0, MARKET, IOC, None, False, 0, TRIGGER_LAST, BOTH)
            return self.deposit(a, self.to_asset(m.asset, 1_000 * USDT), m.asset)
        if len(acct.order_ids) >= self.role_sizes[self._role(a)][2]:
            oid = next(iter(acct.order_ids))  # the oldest open order makes room
            return CancelOrder(0, a, acct.order_ids[oid], oid)
        symbol = m.symbol
        side = rng.randrange(2)
        hedge = acct.hedge_mode
        pside = (LONG if rng.randrange(2) == 0 else SHORT) if hedge else BOTH
        pos = acct.positions.get((symbol, pside))
        mid = m.mid_ticks
        lots = m.lots_for(self._notional(rng, a, symbol), mid)
        reduce_only = False
        if hedge:
            closing = (pside == LONG) == (side == SELL)
            if closing and pos is not None and rng.randrange(4):
                lots = rng.randint(1, abs(pos.qty_lots))
        elif pos is not None and rng.randrange(5) == 0:
            side = SELL if pos.qty_lots > 0 else BUY
            lots = rng.randint(1, abs(pos.qty_lots))
            reduce_only = rng.randrange(4) != 0
        sign = 1 if side == BUY else -1
        coid = self._coid(rng, a)
        r = rng.randrange(100)
        if r < 30:  # resting limit, mostly passive, some crossing
            off = rng.randint(-8, 40) if rng.randrange(5) else rng.randint(-30, 0)
            px = m.snap(mid - sign * m.bps(off) if off >= 0 else mid + sign * m.bps(-off))
            return NewOrder(0, a, symbol, side, lots, px, LIMIT, GTC, coid, reduce_only, 0, TRIGGER_LAST, pside)
        if r < 40:  # post-only
            px = m.snap(mid - sign * m.bps(rng.randint(-3, 30)))
            return NewOrder(0, a, symbol, side, lots, px, LIMIT, GTX, coid, reduce_only, 0, TRIGGER_LAST, pside)
        if r < 52:
            px = max(1, mid + sign * m.bps(rng.randint(-5, 40)))
            return NewOrder(0, a, symbol, side, lots, px, LIMIT, IOC, coid, reduce_only, 0, TRIGGER_LAST, pside)
        if r < 58:
            px = max(1, mid + sign * m.bps(rng.randint(-5, 40)))
            return NewOrder(0, a, symbol, side, lots, px, LIMIT, FOK, coid, reduce_only, 0, TRIGGER_LAST, pside)
        if r < 72:
            tif = IOC if rng.randrange(4) else (FOK if rng.randrange(2) else GTC)
            return NewOrder(0, a, symbol, side, lots, 0, MARKET, tif, coid, reduce_only, 0, TRIGGER_LAST, pside)
        if r < 97:  # stop / take-profit, on the last or the mark price
            otype = (STOP_MARKET, STOP_LIMIT, TAKE_PROFIT_MARKET, TAKE_PROFIT_LIMIT)[rng.randrange(4)]
            by = TRIGGER_MARK if rng.randrange(2) else TRIGGER_LAST
            mk = self.exchange.markets[symbol]
            ref = (mk.mark_price_subticks // m.per_tick if by == TRIGGER_MARK else mk.last_price_ticks) or mid
            stop = otype in (STOP_MARKET, STOP_LIMIT)
            away = m.bps(rng.randint(2, 120))
            if rng.randrange(25) == 0:
                away = -away  # would trigger at once: rejected
            # a buy stop waits above, a sell stop below; take-profits the other way
            up = (side == BUY) == stop
            trig = max(1, ref + away if up else ref - away)
            px = 0
            tif = GTC
            if otype in (STOP_LIMIT, TAKE_PROFIT_LIMIT):
                px = m.snap(trig + sign * m.bps(rng.randint(-5, 30)))
                tif = (GTC, GTC, IOC, FOK)[rng.randrange(4)]
            elif rng.randrange(3) == 0:
                tif = IOC
            if not hedge and pos is not None and rng.randrange(3) == 0:  # a protective stop on the position
                side = SELL if pos.qty_lots > 0 else BUY
                lots = abs(pos.qty_lots)
                reduce_only = True
                up = (side == BUY) == stop
                trig = max(1, ref + away if up else ref - away)
                if px:
                    px = m.snap(trig + (m.bps(20) if side == BUY else -m.bps(20)))
            return NewOrder(0, a, symbol, side, lots, px, otype, tif, coid, reduce_only, trig, by, pside)
        # a few invalid orders: every field is validated at the boundary
        bad = rng.randrange(5)
        if bad == 0:
            return NewOrder(0, a, symbol, side, 0, mid, LIMIT, GTC, None, False, 0, TRIGGER_LAST, pside)
        if bad == 1:
            return NewOrder(0, a, symbol, side, lots, 0, LIMIT, GTC, None, False, 0, TRIGGER_LAST, pside)
        if bad == 2:
            return NewOrder(0, a, symbol, side, lots, mid, MARKET, GTC, None, False, 0, TRIGGER_LAST, pside)
        if bad == 3:
            return NewOrder(0, a, symbol, side, lots, mid, LIMIT, GTC, None, False, 0, TRIGGER_LAST, BOTH if hedge else LONG)
        return NewOrder(0, a, "NOPEUSDT", side, lots, mid, LIMIT, GTC, None, False, 0, TRIGGER_LAST, pside)

    def _taker(self, rng: random.Random) -> tuple[int, Account, _Market] | Any:
        """A taker account with room for orders and a market: (account, its wallet in the
        market's asset, the market), or the command that makes room (a deposit, a cancel of
        its oldest order). A one-asset run draws the market after the checks, as before."""
        a = self.takers[rng.randrange(len(self.takers))]
        m = self._market(rng) if self.multi else None
        asset = m.asset if m is not None else self.home
        acct = self._acct(a, asset)
        if acct is None:
            return self.deposit(a, self.to_asset(asset, 1_000 * USDT), asset)
        if len(acct.order_ids) >= self.role_sizes[self._role(a)][2]:
            oid = next(iter(acct.order_ids))
            coid = self._coid_of(oid) if rng.randrange(2) else None
            if coid is not None:  # by its client order id
                return CancelOrder(0, a, acct.order_ids[oid], 0, coid)
            return CancelOrder(0, a, acct.order_ids[oid], oid)
        return a, acct, m if m is not None else self._market(rng)

    def _coid_of(self, order_id: int) -> str | None:
        """The client order id of an open order (to cancel it by that id), or None."""
        for mk in self.exchange.markets.values():
            o = mk.book.orders.get(order_id) or mk.triggers.orders.get(order_id)
            if o is not None:
                return o.client_order_id
        return None

    def _trailing(self, rng: random.Random, a: int, m: _Market, side: int, lots: int, pside: int,
                  reduce_only: bool = False, coid: str | None = None) -> NewOrder:
        """A trailing stop: by rate (0.1 %..10 %, sometimes out of range) or by ticks, on the
        last or the mark price, active now or from an activation price (sometimes passed)."""
        by = TRIGGER_MARK if rng.randrange(2) else TRIGGER_LAST
        rate = ticks = 0
        if rng.randrange(2):
            rate = rng.choice((100_000, 200_000, 500_000, 1_000_000, 3_000_000, 10_000_000))
            if rng.randrange(40) == 0:
                rate = rng.choice((99_999, 10_000_001))  # out of Binance's range: refused
        else:
            ticks = max(1, m.bps(rng.randint(1, 80)) // 2)
        act = 0
        if rng.randrange(3) == 0:
            mk = self.exchange.markets[m.symbol]
            ref = (mk.mark_price_subticks // m.per_tick if by == TRIGGER_MARK else mk.last_price_ticks) or m.mid_ticks
            away = m.bps(rng.randint(1, 60))
            if rng.randrange(15) == 0:
                away = -away  # already passed: refused (Binance -2021), or active at once as an exit
            act = max(1, ref + away if side == SELL else ref - away)
        return NewOrder(0, a, m.symbol, side, lots, 0, TRAILING_STOP_MARKET, GTC, coid, reduce_only, act, by, pside,
                        rate, ticks)

    def gen_trailing(self, rng: random.Random) -> Any:
        """A trailing stop by rate or by ticks (often protecting the account's position)."""
        got = self._taker(rng)
        if type(got) is not tuple:
            return got
        a, acct, m = got
        side = rng.randrange(2)
        pside = (LONG if rng.randrange(2) == 0 else SHORT) if acct.hedge_mode else BOTH
        lots = m.lots_for(self._notional(rng, a, m.symbol), m.mid_ticks)
        pos = acct.positions.get((m.symbol, pside))
        reduce_only = False
        if pos is not None and pos.qty_lots and rng.randrange(2):
            side = SELL if pos.qty_lots > 0 else BUY
            lots = abs(pos.qty_lots)
            reduce_only = pside == BOTH
        return self._trailing(rng, a, m, side, lots, pside, reduce_only, self._coid(rng, a))

    def gen_oco(self, rng: random.Random) -> Any:
        """An OCO pair: a take-profit limit and a stop (or trailing stop) on one side, or a
        breakout pair of stops on both sides; now and then a malformed one."""
        got = self._taker(rng)
        if type(got) is not tuple:
            return got
        a, acct, m = got
        symbol = m.symbol
        pside = BOTH if not acct.hedge_mode else (LONG if rng.randrange(2) == 0 else SHORT)
        mid = m.mid_ticks
        lots = m.lots_for(self._notional(rng, a, symbol), mid)
        mk = self.exchange.markets[symbol]
        last = mk.last_price_ticks or mid
        side = rng.randrange(2)
        sign = 1 if side == BUY else -1
        r = rng.randrange(10)
        if r < 6:  # take-profit limit beyond the price, protective stop the other way
            tp = NewOrder(0, a, symbol, side, lots, m.snap(mid - sign * m.bps(rng.randint(2, 60))), LIMIT, GTC,
                          self._coid(rng, a), False, 0, TRIGGER_LAST, pside)
            if rng.randrange(3):
                trig = max(1, last + sign * m.bps(rng.randint(2, 80)))
                other = NewOrder(0, a, symbol, side, lots, 0, STOP_MARKET, GTC, self._coid(rng, a), False, trig,
                                 TRIGGER_LAST, pside)
            else:
                other = self._trailing(rng, a, m, side, lots, pside, coid=self._coid(rng, a))
            legs: tuple[NewOrder, ...] = (tp, other)
        elif r < 9:  # breakout: a buy stop above, a sell stop below
            up = NewOrder(0, a, symbol, BUY, lots, 0, STOP_MARKET, GTC, None, False,
                          last + m.bps(rng.randint(2, 80)), TRIGGER_LAST, pside)
            down = NewOrder(0, a, symbol, SELL, lots, 0, STOP_MARKET, GTC, None, False,
                            max(1, last - m.bps(rng.randint(2, 80))), TRIGGER_MARK if rng.randrange(2) else TRIGGER_LAST,
                            pside)
            legs = (up, down)
        else:  # malformed: two limit legs on one side, or one leg
            px = m.snap(mid - sign * m.bps(10))
            leg = NewOrder(0, a, symbol, side, lots, px, LIMIT, GTC, None, False, 0, TRIGGER_LAST, pside)
            legs = (leg, leg._replace(price_ticks=m.snap(px - sign * m.bps(5)))) if rng.randrange(2) else (leg,)
        return NewOco(0, a, symbol, legs)

    def gen_bracket(self, rng: random.Random) -> Any:
        """A bracket: a limit, market or stop entry and 1..3 exits (stop, take-profit,
        trailing stop, take-profit limit) on the other side."""
        got = self._taker(rng)
        if type(got) is not tuple:
            return got
        a, acct, m = got
        symbol = m.symbol
        side = rng.randrange(2)
        sign = 1 if side == BUY else -1
        pside = BOTH if not acct.hedge_mode else (LONG if side == BUY else SHORT)
        mid = m.mid_ticks
        lots = m.lots_for(self._notional(rng, a, symbol), mid)
        mk = self.exchange.markets[symbol]
        last = mk.last_price_ticks or mid
        r = rng.randrange(10)
        if r < 5:
            entry = NewOrder(0, a, symbol, side, lots, m.snap(mid - sign * m.bps(rng.randint(-10, 30))), LIMIT, GTC,
                             self._coid(rng, a), False, 0, TRIGGER_LAST, pside)
        elif r < 8:
            entry = NewOrder(0, a, symbol, side, lots, 0, MARKET, IOC, self._coid(rng, a), False, 0, TRIGGER_LAST, pside)
        else:  # a breakout entry: a buy stop above, a sell stop below
            entry = NewOrder(0, a, symbol, side, lots, 0, STOP_MARKET, GTC, self._coid(rng, a), False,
                             max(1, last + sign * m.bps(rng.randint(2, 40))), TRIGGER_LAST, pside)
        x = side ^ 1
        exits: list[NewOrder] = []
        for kind in rng.sample(range(4), rng.randint(1, 3)):
            coid = self._coid(rng, a)
            if kind == 0:  # stop-loss against the position (sometimes already through: fires at once)
                trig = max(1, mid - sign * m.bps(rng.randint(-3, 120)))
                by = TRIGGER_MARK if rng.randrange(2) else TRIGGER_LAST
                exits.append(NewOrder(0, a, symbol, x, 0, 0, STOP_MARKET, GTC, coid, False, trig, by, pside))
            elif kind == 1:  # take-profit market
                trig = max(1, mid + sign * m.bps(rng.randint(-3, 120)))
                exits.append(NewOrder(0, a, symbol, x, 0, 0, TAKE_PROFIT_MARKET, GTC, coid, False, trig, TRIGGER_LAST,
                                      pside))
            elif kind == 2:
                exits.append(self._trailing(rng, a, m, x, 0, pside, coid=coid))
            else:  # take-profit limit resting beyond the price
                exits.append(NewOrder(0, a, symbol, x, 0, m.snap(mid + sign * m.bps(rng.randint(5, 120))), LIMIT, GTC,
                                      coid, False, 0, TRIGGER_LAST, pside))
        return NewBracket(0, a, symbol, entry, tuple(exits))

    def gen_quote(self, rng: random.Random) -> Any:
        """A market maker's resting quote near the mid (GTC or post-only)."""
        a = self.makers[rng.randrange(len(self.makers))]
        m = self._market(rng) if self.multi else None
        asset = m.asset if m is not None else self.home
        acct = self._acct(a, asset)
        if acct is None:
            return self.deposit(a, self.to_asset(asset, 3_000_000 * USDT), asset)
        if len(acct.order_ids) >= self.role_sizes[MAKER][2]:
            oid = next(iter(acct.order_ids))
            return CancelOrder(0, a, acct.order_ids[oid], oid)
        if m is None:
            m = self._market(rng)
        side = rng.randrange(2)
        mid = m.mid_ticks
        off = m.bps(rng.randint(1, 25))
        px = m.snap(mid - off if side == BUY else mid + off)
        lots = m.lots_for(self._notional(rng, a), px)
        tif = GTX if rng.randrange(3) == 0 else GTC
        return NewOrder(0, a, m.symbol, side, lots, px, LIMIT, tif, None, False, 0, TRIGGER_LAST, BOTH)

    def _some_open_order(self, rng: random.Random) -> tuple[int, int, str] | None:
        """(account, order id, symbol) of a random open order, or None."""
        for _ in range(4):
            a = self.account_ids[rng.randrange(self.n_accounts)]
            acct = self._any_acct(rng, a)
            if acct is not None and acct.order_ids:
                ids = list(acct.order_ids)
                oid = ids[0] if rng.randrange(3) == 0 else ids[rng.randrange(len(ids))]
                return a, oid, acct.order_ids[oid]
        return None

    def gen_cancel(self, rng: random.Random) -> Any:
        """Cancel an open order (a few aim at unknown ids or at another account's order)."""
        hit = self._some_open_order(rng)
        if hit is None or rng.randrange(40) == 0:
            m = self._market(rng)
            return CancelOrder(0, self.account_ids[rng.randrange(self.n_accounts)], m.symbol, rng.randint(1, 10**9))
        a, oid, symbol = hit
        if rng.randrange(50) == 0:
            a = a % self.n_accounts + 1  # not the owner: rejected
        return CancelOrder(0, a, symbol, oid)

    def gen_amend(self, rng: random.Random) -> Any:
        """Amend a resting order: reduce (keeps priority), re-price or grow (re-queues)."""
        hit = self._some_open_order(rng)
        if hit is None:
            return None
        a, oid, symbol = hit
        order = self.exchange.open_order(symbol, oid)
        if order is None:
            return None
        m = self.by_symbol[symbol]
        qty = order.qty_lots
        price = order.price_ticks or m.mid_ticks  # a stop order: NOT_AMENDABLE
        filled = qty - getattr(order, "leaves_lots", qty)
        r = rng.randrange(4)
        if r == 0:  # size down, same price
            new_qty = filled + max(1, floor_div(qty - filled, 2))
        elif r == 1:
            new_qty = qty
            price = m.snap(price + m.bps(rng.randint(-15, 15)))
        elif r == 2:
            new_qty = qty + rng.randint(1, max(1, qty))
        else:
            new_qty = max(1, qty + rng.randint(-qty, qty))
            price = m.snap(m.mid_ticks + m.bps(rng.randint(-30, 30)))
        return AmendOrder(0, a, symbol, oid, price, new_qty)

    def gen_stp(self, rng: random.Random) -> Any:
        a = self.account_ids[rng.randrange(self.n_accounts)]
        return SetSelfTradePrevention(0, a, rng.randrange(len(STP_NAMES) + (1 if rng.randrange(20) == 0 else 0)))

    # ------------------------------------------------------------------ market data
    def gen_replayed_levels(self, rng: random.Random) -> Any:
        """One venue depth update: a few levels near the mid (some removed, a few crossing),
        and stale replayed levels far from the mid set to zero."""
        m = self._market(rng)
        mid = m.mid_ticks
        step = m.grid_ticks * 4
        levels: list[tuple[int, int, int]] = []
        for _ in range(rng.randint(1, 5)):
            side = rng.randrange(2)
            k = rng.randint(1, 8) if rng.randrange(30) else rng.randint(-2, 0)  # a few cross
            px = m.snap(mid - k * step if side == BUY else mid + k * step)
            lots = 0 if rng.randrange(7) == 0 else m.lots_for(rng.randint(500, 60_000) * USDT, px)
            levels.append((side, px, lots))
        book = self.exchange.book(m.symbol)
        far = m.bps(80)
        for side in (BUY, SELL):
            for lv in book.levels(side):
                if lv.anon_lots and abs(lv.price_ticks - mid) > far:
                    levels.append((side, lv.price_ticks, 0))
                    break
        return SetReplayedLevels(0, m.symbol, tuple(levels))

    def gen_clear_replayed(self, rng: random.Random) -> Any:
        m = self._market(rng)
        return ClearReplayedLevels(0, m.symbol, (BUY, SELL, -1)[rng.randrange(3)])

    def gen_replayed_trade(self, rng: random.Random) -> Any:
        m = self._market(rng)
        side = rng.randrange(2)
        px = max(1, m.mid_ticks + (1 if side == BUY else -1) * m.bps(rng.randint(-5, 25)))
        return ReplayedTrade(0, m.symbol, side, px, m.lots_for(rng.randint(100, 30_000) * USDT, px))

    def _walk(self, rng: random.Random, m: _Market) -> None:
        """One step of the mid: ±0.2 % at most, pulled back toward its start price (1/400 of the gap)."""
        mid = m.mid_ticks
        mid += m.bps(rng.randint(-20, 20)) + floor_div(m.start_ticks - mid, 400)
        m.mid_ticks = min(max(mid, floor_div(m.start_ticks, 4)), m.start_ticks * 4)

    def gen_mark(self, rng: random.Random) -> Any:
        m = self._market(rng)
        self._walk(rng, m)
        # a mark between two ticks, as the venue computes it: a random subtick offset
        ticks = max(1, m.mid_ticks + m.bps(rng.randint(-3, 3)))
        return SetMarkPrice(0, m.symbol, m.sub(ticks) + rng.randrange(m.per_tick))

    def gen_index(self, rng: random.Random) -> Any:
        """An index update (the exchange computes the mark from it, the mid and the last trade)."""
        m = self._market(rng)
        self._walk(rng, m)
        ticks = max(1, m.mid_ticks + m.bps(rng.randint(-5, 5)))
        return SetIndexPrice(0, m.symbol, m.sub(ticks) + rng.randrange(m.per_tick))

    def gen_crash(self, rng: random.Random) -> Any:
        """A sudden mark jump of 5–30 % (two in three toward the start price); half of the time the
        replayed depth vanishes first, and a thin ladder comes back after it."""
        m = self._market(rng)
        pct = rng.randint(*self.drive.crash_pct)
        below = m.mid_ticks < m.start_ticks
        down = rng.randrange(3) != 0 if not below else rng.randrange(3) == 0  # two in three back toward the start
        new = mul_div_floor(m.mid_ticks, 100 - pct if down else 100 + pct, 100)
        m.mid_ticks = max(1, new)
        steps: list[Any] = []
        if rng.randrange(2):
            steps.append(ClearReplayedLevels(0, m.symbol, -1))
        steps.append(SetMarkPrice(0, m.symbol, m.sub(m.mid_ticks)))
        steps.append(SetIndexPrice(0, m.symbol, m.sub(m.mid_ticks)))
        self.plan.extend(steps[1:])
        return steps[0]

    def gen_funding(self, rng: random.Random) -> Any:
        return self.funding_command(rng, self._market(rng).symbol)

    def funding_command(self, rng: random.Random, symbol: str) -> SettleFunding:
        """Funding at a replayed rate (rarely a large one); computed rates come at the
        instruments' own funding times (see :meth:`StressRun._computed_funding`)."""
        if rng.randrange(10):
            return SettleFunding(self.ts_ns, symbol, rng.randint(-75_000, 75_000))
        return SettleFunding(self.ts_ns, symbol, rng.randint(-2_000_000, 2_000_000))

    # ------------------------------------------------------------------ multi-assets
    def gen_collateral_index(self, rng: random.Random) -> Any:
        """A collateral index tick: a coin's index follows its market's mid (so a BTC move
        moves both BTCUSDT's PnL and BTC collateral), ±0.3 %; one in fifty a collateral
        crash of 5–25 % on its own; a USD stablecoin between 0.985 and 1.01 USD."""
        usd = [a for a in self.assets if a in USD_ASSETS]
        if not self.coin_index or rng.randrange(7) == 0:
            return CollateralIndex(0, usd[rng.randrange(len(usd))], rng.randint(98_500_000, 101_000_000))
        coins = list(self.coin_index)
        asset = coins[rng.randrange(len(coins))]
        m, per_usd = self.price_source[asset]
        if m is not None:
            base = mul_div_floor(m.mid_ticks, 10**8, per_usd)
        else:  # no market: a walk pulled back toward its start
            start = int(START_PRICES.get(asset + "USDT", "100")) * 10**8
            base = self.coin_index[asset] + floor_div(start - self.coin_index[asset], 400)
        index = max(1, base + mul_div_floor(base, rng.randint(-30, 30), BPS))
        if rng.randrange(50) == 0:
            index = max(1, mul_div_floor(base, 100 - rng.randint(5, 25), 100))
        self.coin_index[asset] = index
        return CollateralIndex(0, asset, index)

    def gen_collateral_rule(self, rng: random.Random) -> Any:
        """A haircut / buffer change (a haircut shock) on any asset: buffers and tier shapes
        from :data:`BUFFERS_E8` / :data:`TIER_SHAPES` (None keeps a field); one in three a
        squeeze aimed at a multi-assets account (:meth:`_haircut_squeeze`); one in ten
        invalid (a value ratio above 1: refused)."""
        if self.multi_ids and rng.randrange(3) == 0:
            squeeze = self._haircut_squeeze(rng)
            if squeeze is not None:
                return squeeze
        asset = self.assets[rng.randrange(len(self.assets))]
        bid = None if rng.randrange(4) == 0 else BUFFERS_E8[rng.randrange(len(BUFFERS_E8))]
        ask = None if rng.randrange(4) == 0 else BUFFERS_E8[rng.randrange(len(BUFFERS_E8))]
        tiers: tuple[tuple[int | None, int], ...] | None = None
        if rng.randrange(4):
            unit = 10_000 * 10**8 if asset in USD_ASSETS else 10**8  # bounds: 10,000 USD or 1 coin
            shape = TIER_SHAPES[rng.randrange(len(TIER_SHAPES))]
            tiers = tuple((None if upto is None else upto * unit, ratio) for upto, ratio in shape)
        if rng.randrange(10) == 0:
            tiers = ((None, 150_000_000),)  # a haircut below zero: refused
        return SetCollateralRule(0, asset, bid, ask, tiers)

    def _haircut_squeeze(self, rng: random.Random) -> Any:
        """A haircut shock aimed at a multi-assets account with positions: the one value
        ratio (a single tier) for one of its assets (a coin, or even a stablecoin) at which its equity falls to its
        maintenance margin or just below (None when no coin ratio in [0, 1] does it)."""
        ledger = self.ledger
        held = [a for a in sorted(self.multi_ids) if ledger.collateral_mode(a) == MULTI_ASSETS
                and any(acct.positions for acct in ledger.portfolio(a).accounts.values())]  # type: ignore[union-attr]
        rng.shuffle(held)
        for a in held:  # the first account one asset's haircut can bring down
            figures = ledger.portfolio_figures(a)
            for f in figures.assets:
                rule = ledger.collateral[f.asset]
                if f.equity_atoms_e8 <= 0 or not rule.index_usd_e8:
                    continue
                # with one tier at ratio r the asset is worth E × index × (1 − bid buffer) × r
                per_ratio = f.equity_atoms_e8 * rule.index_usd_e8 * (10**8 - rule.bid_buffer_e8)
                others = figures.equity_usd_e40 - f.value_usd_e40
                ratio = floor_div(figures.maint_usd_e40 - others, per_ratio) - rng.randint(0, 3) * 1_000_000
                if 0 <= ratio <= 10**8:
                    return SetCollateralRule(0, f.asset, None, None, ((None, ratio),))
        return None

    def gen_collateral_mode(self, rng: random.Random) -> Any:
        """A collateral-mode switch, mostly by a multi-assets taker (refused while it holds
        anything); one in thirty an unknown mode."""
        pool = sorted(self.multi_ids) if self.multi_ids and rng.randrange(4) else self.takers
        a = pool[rng.randrange(len(pool))]
        mode = SINGLE_ASSET if self.ledger.collateral_mode(a) == MULTI_ASSETS else MULTI_ASSETS
        if a in self.multi_ids and rng.randrange(3):
            mode = MULTI_ASSETS  # the multi-assets takers mostly come back to (or stay in) the mode
        if rng.randrange(30) == 0:
            mode = "cross-asset"
        return SetCollateralMode(0, a, mode)

    # ------------------------------------------------------------------ accounts
    def gen_deposit(self, rng: random.Random) -> Any:
        """Money in, mostly for the poorest of three accounts (liquidated traders come back)."""
        picks = [self.account_ids[rng.randrange(self.n_accounts)] for _ in range(3)]
        asset = self.assets[rng.randrange(len(self.assets))] if self.multi else self.home
        find = self._acct

        def poorest(i: int) -> tuple[int, int]:
            acct = find(i, asset)
            return (acct.wallet_atoms if acct is not None else -1, i)

        a = min(picks, key=poorest)
        lo, hi = self.role_sizes[self._role(a)][0]
        amount = rng.randint(lo, hi) * USDT
        if rng.randrange(2):
            amount = floor_div(amount, rng.randint(2, 20))
        if rng.randrange(100) == 0:
            amount = -amount  # refused
        return self.deposit(a, self.to_asset(asset, amount) if amount > 0 else amount, asset)

    def gen_withdraw(self, rng: random.Random) -> Any:
        a = self.account_ids[rng.randrange(self.n_accounts)]
        asset = self.assets[rng.randrange(len(self.assets))] if self.multi else self.home
        acct = self._acct(a, asset)
        if acct is None:  # an asset the account never held: refused (NO_ACCOUNT), nothing created
            return self.withdrawal(a, self.to_asset(asset, USDT), asset)
        free = self.ledger.withdrawable_atoms(acct)
        r = rng.randrange(10)
        if r == 0 or free <= 0:
            amount = self.to_asset(asset, rng.randint(1, 10_000) * USDT)  # often too much: refused
        elif r == 1:
            amount = free  # everything that may leave
        else:
            amount = max(1, mul_div_floor(free, rng.randint(1, 50), 100))
        return self.withdrawal(a, amount, asset)

    def gen_asset_probe(self, rng: random.Random) -> Any:
        """Money in an asset the account may not hold: a deposit in an asset no instrument
        settles in (refused: UNKNOWN_ASSET), or a withdrawal of a coin from an account that
        never held it (refused: NO_ACCOUNT); both change nothing."""
        a = self.account_ids[rng.randrange(self.n_accounts)]
        if rng.randrange(2):
            return Deposit(0, a, rng.randint(1, 10**6) * USDT, FOREIGN_ASSET)
        for asset in self.assets[1:]:
            if self._acct(a, asset) is None:
                return self.withdrawal(a, self.to_asset(asset, 100 * USDT), asset)
        return Withdraw(0, a, USDT, FOREIGN_ASSET)

    def gen_leverage(self, rng: random.Random) -> Any:
        a = self.takers[rng.randrange(len(self.takers))]
        m = self._market(rng)
        lev = LEVERAGES[rng.randrange(len(LEVERAGES))] if rng.randrange(30) else rng.choice((0, 126, 1_000))
        return SetLeverage(0, a, m.symbol, lev)

    def gen_margin_mode(self, rng: random.Random) -> Any:
        """Toggle an instrument's margin mode (refused with a position or orders on it)."""
        a = self.takers[rng.randrange(len(self.takers))]
        m = self._market(rng)
        acct = self._acct(a, m.asset)
        mode = CROSS
        if acct is not None:
            mode = ISOLATED if self.ledger.margin_mode(acct, m.symbol) == CROSS else CROSS
        if rng.randrange(50) == 0:
            mode = 7  # invalid
        return SetMarginMode(0, a, m.symbol, mode)

    def gen_position_mode(self, rng: random.Random) -> Any:
        a = self.takers[rng.randrange(len(self.takers))]
        asset = self.assets[rng.randrange(len(self.assets))] if self.multi else self.home
        acct = self._acct(a, asset)  # each asset's wallet has its own position mode
        hedge = not acct.hedge_mode if acct is not None else True
        return SetPositionMode(0, a, hedge) if asset == self.home else SetPositionMode(0, a, hedge, asset)

    def gen_adjust_margin(self, rng: random.Random) -> Any:
        """Move margin into or out of an isolated bucket (some refused: too much out)."""
        for _ in range(3):
            a = self.takers[rng.randrange(len(self.takers))]
            acct = self._any_acct(rng, a)
            if acct is None:
                continue
            buckets = [p for p in acct.positions.values() if p.isolated]
            if not buckets:
                continue
            pos = buckets[rng.randrange(len(buckets))]
            unit = self.to_asset(acct.asset, USDT) if self.multi else USDT
            if rng.randrange(2):
                delta = max(1, mul_div_floor(max(acct.wallet_atoms, unit), rng.randint(1, 30), 100))
            else:
                delta = -max(1, mul_div_floor(max(pos.margin_atoms, unit), rng.randint(1, 60), 100))
            return AdjustIsolatedMargin(0, a, pos.symbol, pos.position_side, delta)
        m = self._market(rng)
        return AdjustIsolatedMargin(0, self.takers[rng.randrange(len(self.takers))], m.symbol, BOTH, USDT)

    def gen_wind_down(self, rng: random.Random) -> Any:
        """Plan: an account cancels every order, closes every position with reduce-only
        market orders, then switches its position mode and a margin mode (refused if a
        close did not fill)."""
        a = self.takers[rng.randrange(len(self.takers))]
        acct = self._acct(a, self.home)
        if acct is None:
            return None
        steps: list[Any] = []
        wallets = [w for w in (self._acct(a, asset) for asset in self.assets) if w is not None]
        for w in wallets:  # every asset's orders and positions
            for oid, symbol in w.order_ids.items():
                steps.append(CancelOrder(0, a, symbol, oid))
        for w in wallets:
            for (symbol, pside), pos in w.positions.items():
                side = SELL if pos.qty_lots > 0 else BUY
                steps.append(NewOrder(0, a, symbol, side, abs(pos.qty_lots), 0, MARKET, IOC, None, pside == BOTH, 0,
                                      TRIGGER_LAST, pside))
        steps.append(SetPositionMode(0, a, not acct.hedge_mode))
        if a in self.multi_ids:  # flat now: the collateral mode may switch (mostly back into multi-assets)
            mode = SINGLE_ASSET if self.ledger.collateral_mode(a) == MULTI_ASSETS and not rng.randrange(3) else MULTI_ASSETS
            steps.append(SetCollateralMode(0, a, mode))
        m = self._market(rng)
        w = self._acct(a, m.asset) or acct
        mode = ISOLATED if self.ledger.margin_mode(w, m.symbol) == CROSS else CROSS
        steps.append(SetMarginMode(0, a, m.symbol, mode))
        self.plan.extend(steps[1:])
        return steps[0]


# ---------------------------------------------------------------------------- checks
class WatchedBook(OrderBook):
    """An :class:`OrderBook` that notes when one of its mutating methods ran.

    The checker runs a book's O(n) ``_check()`` only after a command that changed it:
    a book's state (levels, queues, index, cached best) is written only by these methods,
    and the exchange writes an order's fields only beside a call on that order's book in
    the same command, so a book none of them touched is the book that passed its last check.
    """

    __slots__ = ("changed",)

    def __init__(self, queue_model: str) -> None:
        super().__init__(queue_model)
        self.changed = True

    def match(self, *args: Any) -> int:
        self.changed = True
        return OrderBook.match(self, *args)

    def limit(self, *args: Any) -> int:
        self.changed = True
        return OrderBook.limit(self, *args)

    def rest(self, *args: Any) -> None:
        self.changed = True
        OrderBook.rest(self, *args)

    def remove(self, *args: Any) -> int:
        self.changed = True
        return OrderBook.remove(self, *args)

    def cancel(self, *args: Any) -> int:
        self.changed = True
        return OrderBook.cancel(self, *args)

    def reduce(self, *args: Any) -> None:
        self.changed = True
        OrderBook.reduce(self, *args)

    def set_anonymous_lots(self, *args: Any) -> int:
        self.changed = True
        return OrderBook.set_anonymous_lots(self, *args)


class WatchedTriggers(TriggerIndex):
    """A :class:`TriggerIndex` that notes when it changed (see :class:`WatchedBook`)."""

    __slots__ = ("changed",)

    def __init__(self) -> None:
        super().__init__()
        self.changed = True

    def add(self, *args: Any) -> None:
        self.changed = True
        TriggerIndex.add(self, *args)

    def remove(self, *args: Any) -> Any:
        self.changed = True
        return TriggerIndex.remove(self, *args)

    def pop_fired(self, *args: Any) -> Any:
        self.changed = True
        return TriggerIndex.pop_fired(self, *args)


class WatchedRisk(RiskIndex):
    """A :class:`RiskIndex` that notes when its lists changed (only these methods write them)."""

    changed = True

    def unfile(self, scope: object) -> None:
        self.changed = True
        RiskIndex.unfile(self, scope)

    def forget(self, scope: object) -> None:
        self.changed = True
        RiskIndex.forget(self, scope)

    def file(self, scope: object, triggers: list[tuple[str, int, int]]) -> None:
        self.changed = True
        RiskIndex.file(self, scope, triggers)

    def pop_crossed(self, symbol: str, mark_subticks: int) -> list[object]:
        self.changed = True
        return RiskIndex.pop_crossed(self, symbol, mark_subticks)


def _noting(flag: str, method: Callable[..., Any], refusable: bool = False) -> Callable[..., Any]:
    """``method`` that sets ``flag`` on its object; a ``refusable`` one only when it
    returns None (the ledger's refusals return a reason and change nothing)."""
    if refusable:

        def noted(self: Any, *args: Any) -> Any:
            reason = method(self, *args)
            if reason is None:
                setattr(self, flag, True)
            return reason

    else:

        def noted(self: Any, *args: Any) -> Any:
            setattr(self, flag, True)
            return method(self, *args)

    noted.__name__ = method.__name__
    noted.__doc__ = method.__doc__
    return noted


class WatchedLedger(Ledger):
    """A :class:`Ledger` that notes which kind of state its methods may have changed.

    ``money_changed``: wallets, buckets, positions, the fee pool, the fund or the totals
    (fills, deposits, withdrawals, margin moves, funding, bad-debt cover) — what the
    margin figures depend on; ``orders_changed``: holds, open-order lists and settings.
    Outside the ledger only the liquidation engine writes money (when it settles a
    liquidated scope's margin), and every liquidation books fills through
    :meth:`apply_fill` and emits a ``Liquidation`` event the checker also watches for.
    """

    money_changed = True
    orders_changed = True

    deposit = _noting("money_changed", Ledger.deposit, refusable=True)
    withdraw = _noting("money_changed", Ledger.withdraw, refusable=True)
    adjust_isolated_margin = _noting("money_changed", Ledger.adjust_isolated_margin, refusable=True)
    apply_fill = _noting("money_changed", Ledger.apply_fill)
    cover_bad_debt = _noting("money_changed", Ledger.cover_bad_debt)
    absorb_fund_shortfall = _noting("money_changed", Ledger.absorb_fund_shortfall)
    settle_funding = _noting("money_changed", Ledger.settle_funding)
    account = _noting("orders_changed", Ledger.account)
    set_margin_mode = _noting("orders_changed", Ledger.set_margin_mode, refusable=True)
    set_position_mode = _noting("orders_changed", Ledger.set_position_mode, refusable=True)
    set_leverage = _noting("orders_changed", Ledger.set_leverage, refusable=True)
    count_order = _noting("orders_changed", Ledger.count_order)
    hold_for_order = _noting("orders_changed", Ledger.hold_for_order, refusable=True)
    rehold_order = _noting("orders_changed", Ledger.rehold_order, refusable=True)
    release_order = _noting("orders_changed", Ledger.release_order)
    # multi-assets: index prices and rules change the account figures; conversions move money
    set_collateral_index = _noting("money_changed", Ledger.set_collateral_index)
    set_collateral_rule = _noting("money_changed", Ledger.set_collateral_rule, refusable=True)
    set_collateral_mode = _noting("money_changed", Ledger.set_collateral_mode, refusable=True)
    auto_exchange = _noting("money_changed", Ledger.auto_exchange)


def _stamped(cmd: Any, ts_ns: int) -> Any:
    """``cmd`` at ``ts_ns``, with the orders inside a NewOco / NewBracket at that time too."""
    if type(cmd) is NewOco:
        return cmd._replace(ts_ns=ts_ns, legs=tuple(leg._replace(ts_ns=ts_ns) for leg in cmd.legs))
    if type(cmd) is NewBracket:
        return cmd._replace(
            ts_ns=ts_ns, entry=cmd.entry._replace(ts_ns=ts_ns), exits=tuple(x._replace(ts_ns=ts_ns) for x in cmd.exits)
        )
    return cmd._replace(ts_ns=ts_ns)


class WatchedContingent(Contingent):
    """The exchange's contingent-order links, remembering every OCO leg's group for good
    (so a fill of a leg whose group was resolved in the same command is still seen)."""

    __slots__ = ("leg_group",)

    def __init__(self) -> None:
        super().__init__()
        self.leg_group: dict[int, int] = {}

    def new_group(self, *args: Any) -> Any:
        group = Contingent.new_group(self, *args)
        for i in group.leg_ids:
            self.leg_group[i] = group.group_id
        return group


def watch(exchange: Exchange, ledger: Ledger) -> None:
    """Give a freshly built exchange and ledger the watched books, trigger indexes, risk
    index and ledger (before the first command: the structures are still empty)."""
    for m in exchange.markets.values():
        if len(m.book) or len(m.triggers) or len(ledger.risk):
            raise ValueError("watch() needs an exchange that has not run a command yet")
        m.book = WatchedBook(m.book.queue_model)
        m.triggers = WatchedTriggers()
    exchange.contingent = WatchedContingent()
    ledger.risk.__class__ = WatchedRisk
    ledger.__class__ = WatchedLedger


class VenueChecks:
    """The rules of a venue other than Binance, checked from each command's liquidations.

    Every check reads the venue's profile (:class:`~exsim.venues.VenueProfile`), never a
    venue's name, so a rule is checked wherever a profile sets it:

    * every ``Liquidation`` explanation starts with ``"<venue>: "``, and its scope was past
      its threshold when the engine acted on it (exact figures taken then: a liquidation
      earlier in the same command may have moved them since the trigger the event reports;
      ``liquidatable_at_equality`` False, dYdX: strictly below its maintenance margin);
    * laddered partial liquidation (``partial == "ladder"``, Bybit): each step
      (``partial=True``) leaves the position under the floor of the tier it stood in when
      the step began (its value on the instrument's maintenance basis: the entry value for
      Bybit, taken from the position as it was before the command's first step);
    * chunks (``chunk_above_atoms``, Hyperliquid): a position worth more than the threshold at
      the trigger's mark sends at most ``chunk_e8`` of its size to the book (+1 lot for
      rounding), and the next chunk of the same scope comes ``cooldown_ns`` or more later;
      while it waits the scope may stay liquidatable (:meth:`waiting`);
    * a backstop (``backstop_num/den``, Hyperliquid 2/3): the vault takes a scope over only
      below that share of its maintenance margin, the book gets it only at or above it, and
      with ``clearance == "none"`` a scope sent to the book pays no clearance fee;
    * the fillable price (``liquidation_order == "fillable-price"``, dYdX): every fill of a
      liquidation order is at or better than the fillable price (to the tick, rounded
      either way), recomputed here with exact fractions from the figures the engine acted
      on; the fund's change of a liquidation is at most ``clearance_cap_e8`` of each fill's
      quote;
    * a rest left open (a ``partial=True`` event of a venue without a ladder) may stay
      liquidatable until the first command after its time (the engine retries it then).

    It also counts what fired (:attr:`counts`): ladder steps, chunks, takeovers (by the
    fund or the vault), fillable-price liquidations, rests left open, deleveraged
    counterparties. Cost: O(positions of the scope) per liquidation; nothing per other event.
    """

    def __init__(self, exchange: Exchange, ledger: Ledger, venue: VenueProfile) -> None:
        self.exchange = exchange
        self.ledger = ledger
        self.venue = venue
        self.counts: Counter[str] = Counter()
        self._prefix = f"{venue.name}: "
        self._ladder = venue.partial == PARTIAL_LADDER
        self._chunked = venue.chunk_above_atoms > 0
        self._fillable = venue.liquidation_order == FILLABLE_PRICE
        self._fill_delta = venue.clearance == CLEARANCE_FILL_DELTA
        self._backstop = venue.backstop_num > 0
        #: (account, symbol, position side) -> (signed lots, entry cost atoms) before the
        #: command's first liquidation step of that position
        self._before: dict[tuple[int, str, int], tuple[int, int]] = {}
        #: a scope -> its exact (margin balance 1e-8 atoms, maintenance atoms) when the engine
        #: was called on it (a liquidation earlier in the command may have moved them since
        #: the trigger the event reports)
        self._called: dict[tuple[Any, ...], tuple[int, int]] = {}
        #: a chunked scope -> ts of its last chunk (its cooldown runs from there)
        self._last_chunk: dict[tuple[Any, ...], int] = {}
        #: a scope left open with a rest -> ts of that try (retried by the first command after it)
        self._tried: dict[tuple[Any, ...], int] = {}
        self._now = 0
        liquidator = exchange.liquidator
        if liquidator is not None:  # an instance attribute over the bound method: see the positions first
            inner = liquidator.liquidate
            before, called = self._before, self._called

            def liquidate(ts: int, scope: Any, *args: Any) -> None:
                if type(scope) is Position:
                    positions: Iterable[Position] = (scope,)
                    key: tuple[Any, ...] = (scope.account_id, scope.symbol, scope.position_side)
                    if key not in called:  # (the first call of the command: the one its event tells)
                        called[key] = ledger.isolated_margin_balance_e8(scope)
                elif type(scope) is Account:
                    positions = [p for p in scope.positions.values() if not p.isolated]
                    key = (scope.account_id, scope.asset)
                    if key not in called:
                        called[key] = ledger.cross_margin_balance_e8(scope)
                else:
                    positions = ()
                for p in positions:
                    before.setdefault((p.account_id, p.symbol, p.position_side), (p.qty_lots, p.cost_atoms))
                inner(ts, scope, *args)

            liquidator.liquidate = liquidate  # type: ignore[method-assign]

    # ------------------------------------------------------------------ scopes
    def _event_key(self, liq: Liquidation) -> tuple[Any, ...]:
        """The liquidated scope: (account, symbol, side) of a bucket, (account, asset) of a pool."""
        lp = liq.positions[0]
        if liq.scope == "ISOLATED":
            return (liq.account_id, lp.symbol, lp.position_side)
        return (liq.account_id, self.exchange.markets[lp.symbol].instrument.margin_asset)

    def waiting(self, scope: Any) -> bool:
        """True when ``scope`` may stay liquidatable after the command: within the cooldown
        after its last chunk, or left open with a rest by a try at this command's time (the
        engine retries it on the first command after that time)."""
        if type(scope) is Position:
            key: tuple[Any, ...] = (scope.account_id, scope.symbol, scope.position_side)
        elif type(scope) is Account:
            key = (scope.account_id, scope.asset)
        else:
            return False
        last = self._last_chunk.get(key)
        if last is not None and self._now < last + self.venue.cooldown_ns:
            return True
        tried = self._tried.get(key)
        return tried is not None and self._now <= tried

    # ------------------------------------------------------------------ per command
    def after_command(self, liqs: Sequence[Liquidation], fills: Sequence[Fill], command: Any) -> None:
        """Check this command's liquidations (see the class docstring)."""
        if command is not None:
            self._now = command.ts_ns
        if not liqs:
            self._before.clear()
            self._called.clear()
            return
        try:
            by_order: dict[int, list[Fill]] = {}
            orders = {lp.order_id for liq in liqs for lp in liq.positions if lp.order_id}
            for f in fills:
                if f.taker_order_id in orders:
                    by_order.setdefault(f.taker_order_id, []).append(f)
            for liq in liqs:
                self._check(liq, by_order)
        finally:
            self._before.clear()
            self._called.clear()

    def _check(self, liq: Liquidation, by_order: dict[int, list[Fill]]) -> None:
        if not liq.explanation.startswith(self._prefix):
            raise InvariantViolation(
                "a venue's liquidation names the venue", f"account {liq.account_id}: {liq.explanation!r}"
            )
        counts = self.counts
        key = self._event_key(liq)
        filled = any(lp.filled_lots for lp in liq.positions)
        # the scope's exact figures when the engine acted (None: a hand-made event)
        balance_e8, mm = self._called.get(key) or (liq.margin_balance_atoms * E8, liq.maint_margin_atoms)
        if balance_e8 > mm * E8 or balance_e8 == mm * E8 and not self.venue.liquidatable_at_equality:
            raise InvariantViolation(
                "a scope is liquidated only while past its threshold",
                f"account {liq.account_id} {liq.scope} {key}: margin balance {balance_e8} e-8 atoms, maintenance "
                f"{mm} atoms when the engine acted (at the trigger: {liq.margin_balance_atoms} / "
                f"{liq.maint_margin_atoms} atoms)",
            )
        if any(lp.taken_over_lots for lp in liq.positions):
            counts["takeovers"] += 1
        counts["deleveraged counterparties"] += len(liq.adl)
        if self._ladder and liq.partial:
            self._check_ladder(liq, by_order)
            counts["ladder steps"] += len(liq.positions)
        if self._chunked:
            self._check_chunks(liq, key, filled)
        if self._backstop:
            self._check_backstop(liq, balance_e8, mm)
        if self._fillable:
            self._check_fillable(liq, by_order, balance_e8, mm)
            counts["fillable-price liquidations"] += filled
        if self._fill_delta:
            self._check_fund_delta(liq, by_order)
        if liq.partial and not self._ladder:  # a rest left open: retried by the first command after this one's time
            self._tried[key] = liq.ts_ns
            counts["rests left open"] += 1
        elif not liq.partial:
            self._tried.pop(key, None)

    def _check_ladder(self, liq: Liquidation, by_order: dict[int, list[Fill]]) -> None:
        """Each ladder step sends enough to bring its position under the floor of the tier
        it stood in when the step began (all of it when the book took all of it)."""
        markets = self.exchange.markets
        after_step: dict[tuple[str, int], int] = {}  # a position's size after its last step
        for lp in liq.positions:
            key = (lp.symbol, lp.position_side)
            size = abs(lp.qty_lots)
            if after_step.get(key, size) != size:
                raise InvariantViolation(
                    "ladder steps go down the tiers",
                    f"account {liq.account_id} {lp.symbol}: a step starts at {size} lots, the last left {after_step[key]}",
                )
            after_step[key] = size - lp.filled_lots - lp.taken_over_lots - lp.adl_lots
            fills = by_order.get(lp.order_id)
            if not fills:
                continue  # the book took none of it: the step changed nothing
            inst = markets[lp.symbol].instrument
            sent = lp.filled_lots + fills[-1].taker_leaves_lots  # the IOC's size: filled + what it left
            left = size - sent
            if inst.maint_margin_basis == "entry":
                qty0, cost0 = self._before.get((liq.account_id, lp.symbol, lp.position_side), (lp.qty_lots, 0))
                if not cost0:
                    raise InvariantViolation("ladder steps go down the tiers", f"{lp}: no position seen before the step")
                # the entry value keeps the average entry: cost0 × lots / lots0 (exact)
                start, after, den = cost0 * size, cost0 * left, abs(qty0)
            elif inst.inverse:
                start, after, den = inst.value_atoms_e8(lp.mark_price_subticks, size), inst.value_atoms_e8(
                    lp.mark_price_subticks, left), E8
            else:
                per_lot = lp.mark_price_subticks * inst.lot_size_e8
                start, after, den = size * per_lot, left * per_lot, E8
            bracket = inst.brackets.bracket_for(ceil_div(start, den))
            if after >= bracket.floor_atoms * den:
                raise InvariantViolation(
                    "a ladder step leaves the position under its tier's floor",
                    f"account {liq.account_id} {lp.symbol}: {size} lots in tier {bracket.bracket} (floor "
                    f"{bracket.floor_atoms} atoms), {sent} sent, {left} left worth {floor_div(after, den)} atoms",
                )

    def _check_chunks(self, liq: Liquidation, key: tuple[Any, ...], filled: bool) -> None:
        """A large position goes a chunk at a time, the next chunk after the cooldown."""
        venue = self.venue
        markets = self.exchange.markets
        chunk = False
        for lp in liq.positions:
            inst = markets[lp.symbol].instrument
            size = abs(lp.qty_lots)
            value = ceil_div(size * lp.mark_price_subticks * inst.lot_size_e8, E8)  # the ledger's notional (up)
            if lp.order_id and value > venue.chunk_above_atoms:
                chunk = True
                most = ceil_div(size * venue.chunk_e8, RATE_SCALE) + 1
                if lp.filled_lots > most:
                    raise InvariantViolation(
                        "a large position is liquidated a chunk at a time",
                        f"account {liq.account_id} {lp.symbol}: {size} lots worth {value} atoms, {lp.filled_lots} "
                        f"sent at once (at most {most})",
                    )
        last = self._last_chunk.get(key)
        if filled and last is not None and liq.ts_ns < last + venue.cooldown_ns:
            raise InvariantViolation(
                "the next chunk waits for the cooldown",
                f"account {liq.account_id} {key}: a chunk at {liq.ts_ns} ns, the last at {last} ns "
                f"(cooldown {venue.cooldown_ns} ns)",
            )
        if liq.partial and chunk:
            self._last_chunk[key] = liq.ts_ns
            self.counts["chunks"] += 1
        elif not liq.partial:
            self._last_chunk.pop(key, None)

    def _check_backstop(self, liq: Liquidation, balance_e8: int, mm: int) -> None:
        """The vault takes a scope over only when its balance is below the backstop share
        (2/3) of its maintenance margin (past bankruptcy: what deleveraging could not place);
        a scope sent to the book is above it, and pays no clearance fee (the venue has none:
        what is left stays with the trader)."""
        venue = self.venue
        num, den = venue.backstop_num, venue.backstop_den
        below = den * balance_e8 < num * mm * E8
        taken = any(lp.taken_over_lots for lp in liq.positions)
        sent = any(lp.order_id for lp in liq.positions)
        if taken and not below:
            raise InvariantViolation(
                "the vault takes over below the backstop share of maintenance",
                f"account {liq.account_id} {liq.scope}: balance {balance_e8} e-8 atoms, maintenance {mm} atoms",
            )
        if sent and below:
            raise InvariantViolation(
                "a scope below the backstop share goes to the vault, not the book",
                f"account {liq.account_id} {liq.scope}: balance {balance_e8} e-8 atoms, maintenance {mm} atoms",
            )
        if sent and venue.clearance == CLEARANCE_NONE and liq.clearance_fee_atoms:
            raise InvariantViolation(
                "no clearance fee", f"account {liq.account_id}: {liq.clearance_fee_atoms} atoms taken"
            )

    def fillable_price_subticks(self, lp: Any, balance_e8: int, mm: int) -> Fraction:
        """The fillable price of ``lp`` (exact, in subticks): oracle × (1 ∓ ABR × SMMR × MMR),
        ABR = bankruptcy adjustment × (1 − net collateral / maintenance), within [0, 1]; the
        oracle is the trigger's mark, net collateral ``balance_e8`` (1e-8 atoms) and total
        maintenance ``mm`` (atoms) the scope's when the engine acted."""
        venue = self.venue
        inst = self.exchange.markets[lp.symbol].instrument
        mark = lp.mark_price_subticks
        notional_e8 = abs(lp.qty_lots) * mark * inst.lot_size_e8  # exact, as the ledger values it
        pmmr = inst.brackets.maint_margin_atoms_e8(notional_e8)
        # the reference formula (exsim.venues.prices, tested on dYdX's own examples), in
        # quote units, back in subticks
        fillable = dydx_fillable_price(
            1 if lp.qty_lots > 0 else -1, Fraction(abs(lp.qty_lots) * inst.lot_size_e8, RATE_SCALE),
            Fraction(mark, E8), Fraction(balance_e8, E8 * E8), Fraction(pmmr, E8), Fraction(mm, E8),
            smmr=Fraction(venue.smmr_e8, RATE_SCALE), bankruptcy_adjustment=Fraction(venue.bankruptcy_adjustment_e8, RATE_SCALE),
        )
        return Fraction(0) if fillable is None else fillable * E8

    def _check_fillable(self, liq: Liquidation, by_order: dict[int, list[Fill]], balance_e8: int, mm: int) -> None:
        """Every fill of a liquidation order at or better than the fillable price (to the tick)."""
        markets = self.exchange.markets
        for lp in liq.positions:
            fills = by_order.get(lp.order_id)
            if not fills:
                continue
            per_tick = markets[lp.symbol].instrument.subticks_per_tick
            fp = self.fillable_price_subticks(lp, balance_e8, mm)
            if lp.qty_lots > 0:  # a long is sold: no lower than the fillable price's tick below
                bound = floor_div(fp.numerator, fp.denominator * per_tick)
                worse = [f for f in fills if f.price_ticks < bound]
            else:
                bound = ceil_div(fp.numerator, fp.denominator * per_tick)
                worse = [f for f in fills if f.price_ticks > bound]
            if worse:
                raise InvariantViolation(
                    "liquidation fills within the fillable price",
                    f"account {liq.account_id} {lp.symbol}: fill at {worse[0].price_ticks} ticks, fillable price "
                    f"{fp.numerator // (fp.denominator * per_tick)} and a fraction ticks (mark {lp.mark_price_subticks}, "
                    f"net collateral {balance_e8} e-8 atoms, maintenance {mm} atoms)",
                )

    def _check_fund_delta(self, liq: Liquidation, by_order: dict[int, list[Fill]]) -> None:
        """The fee the fund takes is at most the cap of each fill's quote (it may pay a shortfall)."""
        markets = self.exchange.markets
        cap = self.venue.clearance_cap_e8
        most = 0
        for lp in liq.positions:
            inst = markets[lp.symbol].instrument
            for f in by_order.get(lp.order_id, ()):
                most += ceil_div(inst.fill_value_atoms(f.price_ticks, f.qty_lots) * cap, RATE_SCALE)
        # (the fee, not the fund's whole change: a takeover that closes part of a position the
        # fund already holds realizes that position's PnL in the fund too)
        if not 0 <= liq.clearance_fee_atoms <= most:
            raise InvariantViolation(
                "the fund takes at most its cap of each liquidation fill",
                f"account {liq.account_id}: fee to the fund {liq.clearance_fee_atoms} atoms, at most {most} "
                f"({cap} e-8 of each fill's quote)",
            )


class StressChecker:
    """The invariants, checked from the state and from each command's events.

    :meth:`on_events` is an exchange sink (it counts events and keeps the command's fills
    and liquidations); :meth:`after_command` runs the per-event checks and, when asked,
    :meth:`check_state` (O(state)). Each failure raises :class:`InvariantViolation`.
    """

    def __init__(
        self, exchange: Exchange, ledger: Ledger, loop: EventLoop | None = None, venue: VenueProfile = BINANCE
    ) -> None:
        self.exchange = exchange
        self.ledger = ledger
        self.loop = loop
        self.venue = venue
        #: the venue's own rules, checked from each liquidation (None: Binance's, all above)
        self.venue_checks = VenueChecks(exchange, ledger, venue) if not venue.is_binance else None
        #: a scope found liquidatable may stay open only when the venue says it waits (MM >
        #: balance only, for a venue that does not liquidate at equality)
        self._at_equality = venue.liquidatable_at_equality
        self._type_counts: Counter[type] = Counter()
        self.fills = 0
        self.liquidations = {"ISOLATED": 0, "CROSS": 0, "MULTI_ASSETS": 0}
        self.partial_liquidations = 0
        self.adl_fills = 0
        self.adl_lots = 0
        self.takeovers = 0
        self.takeover_lots = 0
        self.full_checks = 0
        self.fills_by_symbol: Counter[str] = Counter()
        self.liquidations_by_asset: Counter[str] = Counter()  # whole (not partial) liquidations
        self._fills: list[Fill] = []
        self._liquidated = False  # a Liquidation since the last state check
        self._marks_seen: dict[str, int] = {}
        self._liqs: list[Liquidation] = []
        self._exchanges: list[AutoExchange] = []
        #: auto-exchange conversions by reason (THRESHOLD / LIQUIDATION / NEGATIVE_BALANCE)
        self.auto_exchanges: Counter[str] = Counter()
        #: multi-assets liquidations found by a haircut change (SetCollateralRule), and by a
        #: collateral index tick
        self.haircut_liquidations = 0
        self.index_liquidations = 0
        self._oco_filled: dict[int, int] = {}  # OCO group id -> the one leg that has filled
        #: what the full scan inlines per symbol; the instrument itself only when inverse
        self._specs = {
            symbol: (m.instrument.lot_size_e8, m.instrument.brackets.maint_margin_atoms_e8,
                     m.instrument.maint_margin_basis == "entry", {}, m.instrument if m.instrument.inverse else None)
            for symbol, m in exchange.markets.items()
        }

    # ------------------------------------------------------------------ sink
    def on_events(self, events: Sequence[Any]) -> None:
        """Sink: count events by type; keep this command's fills and liquidations."""
        self._type_counts.update(map(type, events))
        for e in events:
            t = type(e)
            if t is Fill:
                self._fills.append(e)
            elif t is Liquidation:
                self._liqs.append(e)
                self._liquidated = True
            elif t is AutoExchange:
                self._exchanges.append(e)

    def counts(self) -> Counter[str]:
        """Events emitted so far, by class name."""
        return Counter({t.__name__: n for t, n in self._type_counts.items()})

    # ------------------------------------------------------------------ per event
    def after_command(self, full: bool, command: Any = None) -> None:
        """Checks after one command: its liquidations, the books' touch; ``full``: O(state) too."""
        try:
            if self._liqs:
                self._check_liquidations(command)
            if self.venue_checks is not None:
                self.venue_checks.after_command(self._liqs, self._fills, command)
            if self._exchanges:
                self._check_auto_exchanges()
            self._check_oco_fills()
            self.fills += len(self._fills)
            if self._fills:
                self.fills_by_symbol.update(f.symbol for f in self._fills)
        finally:
            self._fills.clear()
            self._liqs.clear()
            self._exchanges.clear()
        for symbol, m in self.exchange.markets.items():
            bid, ask = m.book.best_bid(), m.book.best_ask()
            if bid is not None and ask is not None and bid >= ask:
                raise InvariantViolation("book never crossed", f"{symbol}: best bid {bid} >= best ask {ask}")
        if full:
            self.check_state(command)

    def _check_auto_exchanges(self) -> None:
        """Each conversion of this command: positive amounts between two different assets,
        and never more value bought than sold — ``to × ask rate(to) ≤ from × sell rate(from)``
        (the trader pays the rounding; the desk books both legs, which the ledger's
        conservation check covers to the atom)."""
        rules = self.ledger.collateral
        for e in self._exchanges:
            self.auto_exchanges[e.reason] += 1
            if e.from_asset == e.to_asset or e.from_atoms <= 0 or e.to_atoms <= 0:
                raise InvariantViolation("auto-exchange converts between two assets", f"{e}")
            if e.reason not in ("THRESHOLD", "LIQUIDATION", "NEGATIVE_BALANCE"):
                raise InvariantViolation("auto-exchange converts between two assets", f"unknown reason in {e}")
            sold = e.from_atoms * rules[e.from_asset].sell_rate_e24()
            bought = e.to_atoms * rules[e.to_asset].ask_rate_e24()
            if bought > sold:
                raise InvariantViolation(
                    "auto-exchange creates no value", f"{e}: bought {bought} usd_e32 > sold {sold} usd_e32"
                )

    def _check_liquidations(self, command: Any = None) -> None:
        """The command's Liquidation events against its fills and the ledger after it."""
        ledger = self.ledger
        markets = self.exchange.markets
        by_order: dict[int, list[Any]] = {}  # liquidation order id -> [position record, is partial, lots, notional]
        cross_done: set[int] = set()
        multi_done: set[tuple[int, str]] = set()
        bankruptcy_bound = self.venue.liquidation_order == BANKRUPTCY_IOC
        # (dYdX deleverages the rest at its bankruptcy price recomputed after the IOC's fills,
        # which the event does not carry: its ADL price is not checked here)
        adl_at_bankruptcy = self.venue.adl_price == ADL_AT_BANKRUPTCY and self.venue.liquidation_order != FILLABLE_PRICE
        ladder = self.venue.partial == PARTIAL_LADDER
        for liq in self._liqs:
            asset = markets[liq.positions[0].symbol].instrument.margin_asset if liq.positions else ledger.home_asset
            acct = ledger.find_account(liq.account_id, asset)  # the liquidated scope's wallet (its asset)
            self.liquidations_by_asset[asset] += not liq.partial
            if acct is None:
                raise InvariantViolation("liquidation scope", f"liquidated account {liq.account_id} unknown")
            keys = [(lp.symbol, lp.position_side) for lp in liq.positions]
            if not keys or len(set(keys)) != len(keys) and not (ladder and liq.partial):
                # (a ladder lists a position once per step down the tiers: VenueChecks chains them)
                raise InvariantViolation("liquidation scope", f"positions listed twice or none: {keys}")
            if liq.scope == "ISOLATED":
                self.liquidations["ISOLATED"] += not liq.partial
                if len({(lp.symbol, lp.position_side) for lp in liq.positions}) != 1:  # (a ladder: once per step)
                    raise InvariantViolation(
                        "isolated liquidation closes exactly one bucket",
                        f"account {liq.account_id}: {len(liq.positions)} positions {keys}",
                    )
                left = acct.positions.get(keys[0])
                if not liq.partial and left is not None:
                    raise InvariantViolation(
                        "isolated liquidation closes exactly one bucket", f"bucket still open after it: {left!r}"
                    )
            elif liq.scope == "CROSS":
                self.liquidations["CROSS"] += not liq.partial
                if not liq.partial:
                    if liq.account_id in cross_done:
                        raise InvariantViolation(
                            "cross liquidation is all at once",
                            f"account {liq.account_id} cross-liquidated twice in one command",
                        )
                    cross_done.add(liq.account_id)
                    left_cross = [p for p in acct.positions.values() if not p.isolated]
                    if left_cross:
                        raise InvariantViolation(
                            "cross liquidation is all at once",
                            f"account {liq.account_id} keeps cross positions {left_cross} after its liquidation",
                        )
            elif liq.scope == "MULTI_ASSETS":
                self._check_multi_liquidation(liq, asset, multi_done, command)
            else:
                raise InvariantViolation("liquidation scope", f"unknown scope {liq.scope!r}")
            self.partial_liquidations += liq.partial
            bps_of: dict[str, set[int]] = {}
            for lp in liq.positions:
                bps_of.setdefault(lp.symbol, set()).add(lp.bankruptcy_price_ticks)
                if lp.taken_over_lots:
                    self.takeovers += 1
                    self.takeover_lots += lp.taken_over_lots
                size = abs(lp.qty_lots)
                done = lp.filled_lots + lp.taken_over_lots + lp.adl_lots
                if (not liq.partial and done != size) or done > size or min(lp.filled_lots, lp.taken_over_lots, lp.adl_lots) < 0:
                    raise InvariantViolation(
                        "every liquidated lot is accounted for",
                        f"account {liq.account_id} {lp.symbol}: size {size} != book {lp.filled_lots} + fund "
                        f"{lp.taken_over_lots} + ADL {lp.adl_lots}",
                    )
                inst = markets[lp.symbol].instrument
                if inst.inverse or not bankruptcy_bound:
                    # inverse: the coin value falls as the price rises, the bound flips, one atom per
                    # fill floored (each fill's price is checked against the bankruptcy price below);
                    # a venue that sends market orders or a fillable-price IOC has its own bound
                    # (VenueChecks)
                    worse = False
                else:
                    bound = lp.filled_lots * lp.bankruptcy_price_ticks * inst.atoms_per_tick_lot
                    worse = lp.fill_notional_atoms < bound if lp.qty_lots > 0 else lp.fill_notional_atoms > bound
                if worse:
                    raise InvariantViolation(
                        "liquidation fills within the bankruptcy price",
                        f"account {liq.account_id} {lp.symbol}: {lp.filled_lots} lots for {lp.fill_notional_atoms} atoms, "
                        f"bankruptcy price {lp.bankruptcy_price_ticks}",
                    )
                if lp.order_id:  # (0: nothing sent to the book — a vault takeover or deleveraging)
                    by_order[lp.order_id] = [lp, 0, 0]
            for adl in liq.adl:
                self.adl_fills += 1
                self.adl_lots += adl.qty_lots
                if adl_at_bankruptcy and adl.price_ticks not in bps_of.get(adl.symbol, ()):
                    raise InvariantViolation(
                        "ADL at the bankruptcy price", f"{adl} not at a bankruptcy price of {bps_of}"
                    )
        for f in self._fills:
            rec = by_order.get(f.taker_order_id)
            if rec is None:
                continue
            lp = rec[0]
            long = lp.qty_lots > 0
            if (f.aggressor_side != (SELL if long else BUY)) or bankruptcy_bound and (
                f.price_ticks < lp.bankruptcy_price_ticks if long else f.price_ticks > lp.bankruptcy_price_ticks
            ):
                raise InvariantViolation(
                    "liquidation fills within the bankruptcy price",
                    f"fill {f} of the liquidation of a {'long' if long else 'short'} with bankruptcy price "
                    f"{lp.bankruptcy_price_ticks}",
                )
            rec[1] += f.qty_lots
            rec[2] += markets[lp.symbol].instrument.fill_value_atoms(f.price_ticks, f.qty_lots)
        for lp, lots, notional in by_order.values():
            if (lots, notional) != (lp.filled_lots, lp.fill_notional_atoms):
                raise InvariantViolation(
                    "liquidation event matches its fills",
                    f"{lp.symbol} order {lp.order_id}: event says {lp.filled_lots} lots / {lp.fill_notional_atoms} "
                    f"atoms, fills say {lots} / {notional}",
                )

    def _check_multi_liquidation(self, liq: Liquidation, asset: str, done: set[tuple[int, str]], command: Any) -> None:
        """A multi-assets liquidation: one event per asset, whole (never partial), leaving the
        trader with no position in any asset; the explanation itemizes the account (its
        margin ratio, equity per asset) and, when a haircut change found it, the haircut."""
        ledger = self.ledger
        if liq.partial:
            raise InvariantViolation("multi-assets liquidation is all at once", f"account {liq.account_id}: a partial one")
        if (liq.account_id, asset) in done:
            raise InvariantViolation(
                "multi-assets liquidation is all at once", f"account {liq.account_id}: two {asset} events in one command"
            )
        if not done or all(a != liq.account_id for a, _ in done):
            self.liquidations["MULTI_ASSETS"] += 1
            if type(command) is SetCollateralRule:
                self.haircut_liquidations += 1
            elif type(command) is CollateralIndex:
                self.index_liquidations += 1
        done.add((liq.account_id, asset))
        left = [p for b in ledger.assets.values() for a in (b.accounts.get(liq.account_id),) if a is not None
                for p in a.positions.values()]
        if left:
            raise InvariantViolation(
                "multi-assets liquidation is all at once", f"account {liq.account_id} keeps {left} after its liquidation"
            )
        text = liq.explanation
        if "multi-assets account" not in text or "margin ratio" not in text:
            raise InvariantViolation("a multi-assets liquidation is explained", f"account {liq.account_id}: {text!r}")
        if type(command) is SetCollateralRule and "haircut" not in text:
            raise InvariantViolation(
                "a liquidation by a haircut change is explained by the haircut",
                f"account {liq.account_id} after {command}: {text!r}",
            )

    # ------------------------------------------------------------------ O(state)
    def _check_oco_fills(self) -> None:
        """An OCO group never has two legs with fills (from this command's Fill events)."""
        leg_group = getattr(self.exchange.contingent, "leg_group", None)
        if not leg_group:
            return
        done = self._oco_filled
        for f in self._fills:
            for order_id in (f.taker_order_id, f.maker_order_id):
                gid = leg_group.get(order_id)
                if gid is None:
                    continue
                first = done.setdefault(gid, order_id)
                if first != order_id:
                    raise InvariantViolation(
                        "an OCO group never has two legs with fills", f"group {gid}: orders {first} and {order_id} filled"
                    )

    def _check_contingent(self) -> None:
        """No orphan exit and no stale link (``Contingent._check``); a bracket's open exits
        never exceed the position they close. O(groups + brackets)."""
        ex = self.exchange
        con = ex.contingent
        if not (con.groups or con.brackets):
            return
        self._run_check("contingent orders _check()", lambda: con._check(ex._is_open, ex._protected_lots))
        for lst in con.protecting.values():
            for bracket in lst:
                room = ex._protected_lots(bracket)
                m = ex.markets[bracket.symbol]
                for i in bracket.group.leg_ids:  # type: ignore[union-attr]
                    o = m.book.orders.get(i)
                    open_lots = o.leaves_lots if o is not None else m.triggers.orders[i].qty_lots
                    if open_lots > room:
                        raise InvariantViolation(
                            "bracket exits never exceed the protected position",
                            f"{bracket.symbol} exit {i} of entry {bracket.entry_id}: {open_lots} lots open, "
                            f"position {room}",
                        )

    def check_state(self, command: Any = None) -> None:
        """Every structure's ``_check()``, the full liquidation scan and the stop-order scan.

        The ledger, books, trigger indexes and the risk index are checked when they may have
        changed since their last check (see :class:`WatchedLedger`, :class:`WatchedBook`;
        all of them on every :data:`SWEEP_EVERY`-th call, and always when they are not
        watched), the liquidation scan when money, positions or marks changed; a market's
        mark-price calculator only after the commands that feed it (its index and funding),
        its premium averager always.
        ``command``: the command just run (None: check everything).
        """
        self.full_checks += 1
        sweep = command is None or self.full_checks % SWEEP_EVERY == 0
        ledger = self.ledger
        ex = self.exchange
        liquidated = self._liquidated
        self._liquidated = False
        money = sweep or liquidated or getattr(ledger, "money_changed", True)
        ledger_checked = money or getattr(ledger, "orders_changed", True)
        if ledger_checked:
            self._run_check("ledger _check()", ledger._check)
            if isinstance(ledger, WatchedLedger):
                ledger.money_changed = ledger.orders_changed = False
        marks = ledger.marks
        if marks != self._marks_seen:
            money = True
            self._marks_seen = dict(marks)
        risk = ledger.risk
        if sweep or getattr(risk, "changed", True):
            self._run_check("risk index _check()", risk._check)
            if isinstance(risk, WatchedRisk):
                risk.changed = False
        any_orders = sweep
        feeds_mark = type(command) is SetIndexPrice or type(command) is SettleFunding
        for symbol, m in ex.markets.items():
            book, triggers = m.book, m.triggers
            if sweep or getattr(book, "changed", True):
                self._run_check(f"{symbol} book _check()", book._check)
                if isinstance(book, WatchedBook):
                    book.changed = False
                any_orders = True
            if sweep or getattr(triggers, "changed", True):
                self._run_check(f"{symbol} trigger index _check()", triggers._check)
                if isinstance(triggers, WatchedTriggers):
                    triggers.changed = False
                any_orders = True
            if m.premium is not None:
                self._run_check(f"{symbol} premium averager _check()", m.premium._check)
            if m.mark_calc is not None and (sweep or (feeds_mark and command.symbol == symbol)):
                self._run_check(f"{symbol} mark price calculator _check()", m.mark_calc._check)
        if any_orders or ledger_checked:
            self._check_client_ids()
            self._check_holds()
        if sweep:
            self._run_check("exchange _check()", ex._check)
        if self.loop is not None:
            self._run_check("event loop _check()", self.loop._check)
        self._check_contingent()
        for m in ex.markets.values():
            if m.trailing.count:
                trailing, waiting = m.trailing, m.triggers.orders
                self._run_check(f"{m.instrument.symbol} trailing index _check()", lambda: trailing._check(waiting))
        if ledger.pending or (ledger.liquidatable and not self._all_waiting(ledger.liquidatable.values())):
            raise InvariantViolation(
                "nothing left pending or liquidatable",
                f"{len(ledger.pending)} pending, {len(ledger.liquidatable)} listed liquidatable after the command",
            )
        for asset, book in ledger.assets.items():
            if book.fee_pool_atoms < 0:
                raise InvariantViolation("no negative balance", f"fee pool in {asset}: {book.fee_pool_atoms}")
            if book.fund.wallet_atoms < 0 and not self.venue.fund_may_go_negative:
                raise InvariantViolation("no negative balance", f"insurance fund in {asset}: {book.fund.wallet_atoms}")
            if self.venue.fund_may_go_negative and book.uncovered_loss_atoms:
                # the backstop carries a deficit in its own balance (conserved above): never lost
                raise InvariantViolation(
                    "a backstop vault carries every deficit", f"{asset}: uncovered loss {book.uncovered_loss_atoms} reported"
                )
        if money:  # margin figures depend on wallets, buckets, positions and marks only
            self._scan_liquidatable(compare=sweep)
        self._scan_stops()

    def _all_waiting(self, scopes: Iterable[Any]) -> bool:
        """Every scope of ``scopes`` is one the venue lets wait while liquidatable (a
        Hyperliquid chunk's cooldown, a dYdX rest retried on the next command)."""
        checks = self.venue_checks
        return checks is not None and all(checks.waiting(scope) for scope in scopes)

    @staticmethod
    def _run_check(name: str, check: Callable[[], None]) -> None:
        try:
            check()
        except Exception as exc:  # StateError, or an assert inside sortedcontainers
            raise InvariantViolation(name, f"{type(exc).__name__}: {exc}") from exc

    def _check_holds(self) -> None:
        """The ledger's margin holds match the books: after a command every hold belongs to
        an order resting in its instrument's book, on its side, for exactly its open size,
        and every resting order has one."""
        ledger = self.ledger
        markets = self.exchange.markets
        for order_id, hold in ledger.holds.items():
            order = markets[hold.symbol].book.orders.get(order_id)
            if order is None or order.account_id != hold.account_id or order.side != hold.side:
                raise InvariantViolation(
                    "margin holds match the resting orders", f"hold of order {order_id} ({hold.symbol}) rests nowhere"
                )
            if order.leaves_lots != hold.open_lots:
                raise InvariantViolation(
                    "margin holds match the resting orders",
                    f"order {order_id} ({hold.symbol}) rests with {order.leaves_lots} lots, its hold is for "
                    f"{hold.open_lots}",
                )
        resting = sum(len(m.book.orders) for m in markets.values())
        if resting != len(ledger.holds):
            raise InvariantViolation(
                "margin holds match the resting orders", f"{resting} resting orders, {len(ledger.holds)} holds"
            )

    def _check_client_ids(self) -> None:
        """The exchange's client-order-id index lists exactly the open orders' client ids
        (the part of ``Exchange._check`` beyond the books and trigger indexes)."""
        live: dict[tuple[int, str], int] = {}
        for m in self.exchange.markets.values():
            for orders in (m.book.orders, m.triggers.orders):
                for o in orders.values():
                    if o.client_order_id is not None:
                        live[(o.account_id, o.client_order_id)] = o.order_id
        if live != self.exchange._client_ids:
            raise InvariantViolation(
                "client order id index", f"index {self.exchange._client_ids} != open orders' ids {live}"
            )

    def _scan_liquidatable(self, compare: bool = False) -> None:
        """Full exact scan: every isolated bucket and every cross pool stays above its
        maintenance margin (a negative bucket or wallet is allowed only while unrealized
        profit backs it, so this also covers "no negative balance" for them).

        One pass over every position with the ledger's own figures inlined (mark in subticks,
        notional and UPnL exact in 1e-8 atoms, ``brackets.maint_margin_atoms_e8`` memoized per
        notional); a scope found at or below its maintenance margin is confirmed with
        :meth:`Ledger.isolated_margin_balance_e8` / :meth:`Ledger.cross_margin_balance_e8`
        before it is reported. ``compare``: check every scope's figures against those
        methods too (done on sweeps).
        """
        ledger = self.ledger
        marks = ledger.marks
        specs = self._specs
        portfolios = ledger.portfolios
        at_equality = self._at_equality  # balance == MM liquidates (all but dYdX)
        multi: dict[int, list[tuple[str, int, int, int]]] = {}  # multi-assets trader -> per-asset rows
        for acct in ledger.all_accounts():  # every asset's wallets: each its own cross pool
            positions = acct.positions
            in_portfolio = acct.account_id in portfolios
            if not positions and not in_portfolio:
                continue
            cross_balance = acct.wallet_atoms * E8
            cross_mm = 0
            has_cross = False
            for pos in positions.values():
                symbol = pos.symbol
                mark = marks.get(symbol)
                q = pos.qty_lots
                if mark is None:  # no mark yet: the ledger values it at its entry
                    _, upnl, mm = ledger.position_figures_e8(pos)
                else:
                    le8, mm_of, entry_basis, mm_cache, inst = specs[symbol]
                    cost = pos.cost_atoms * E8
                    if inst is not None:  # inverse: the coin value at the mark (rounded up), a long gains as it falls
                        value = inst.value_atoms_e8(mark, q if q > 0 else -q)
                        upnl = cost - value if q > 0 else value - cost
                    else:
                        value = q * mark * le8
                        if q > 0:
                            upnl = value - cost
                        else:
                            upnl = cost + value
                            value = -value
                    basis = cost if entry_basis else value
                    mm = mm_cache.get(basis)
                    if mm is None:
                        if len(mm_cache) > 50_000:
                            mm_cache.clear()
                        mm = mm_cache[basis] = mm_of(basis)
                if pos.isolated:
                    balance = pos.margin_atoms * E8 + upnl
                    if compare and (balance, mm) != ledger.isolated_margin_balance_e8(pos):
                        raise InvariantViolation(
                            "full scan agrees with the ledger's figures",
                            f"{pos!r}: scan {balance, mm} != ledger {ledger.isolated_margin_balance_e8(pos)}",
                        )
                    if balance <= mm * E8 and (balance < mm * E8 or at_equality):
                        self._left_open(pos, balance, mm)
                else:
                    has_cross = True
                    cross_balance += upnl
                    cross_mm += mm
            if in_portfolio:  # one pool over every asset: valued with the collateral rules below
                multi.setdefault(acct.account_id, []).append((acct.asset, cross_balance, acct.held_atoms, cross_mm))
                continue
            if has_cross:
                if compare and (cross_balance, cross_mm) != ledger.cross_margin_balance_e8(acct):
                    raise InvariantViolation(
                        "full scan agrees with the ledger's figures",
                        f"{acct!r}: scan {cross_balance, cross_mm} != ledger {ledger.cross_margin_balance_e8(acct)}",
                    )
                if cross_balance <= cross_mm * E8 and (cross_balance < cross_mm * E8 or at_equality):
                    self._left_open(acct, cross_balance, cross_mm)
        for account_id in sorted(multi):
            self._scan_portfolio(portfolios[account_id], multi[account_id], compare)

    def _scan_portfolio(self, pf: Portfolio, rows: list[tuple[str, int, int, int]], compare: bool) -> None:
        """The naive check of a multi-assets account: its per-asset equity (wallet + UPnL of
        its positions, 1e-8 atoms) and MM from the scan above, valued with the collateral
        rules (:func:`~exsim.ledger.collateral.account_figures`); at or below its maintenance
        margin with a position open is a miss. ``compare``: the ledger's
        ``portfolio_figures`` must give the same equity and maintenance margin."""
        ledger = self.ledger
        if not any(a.positions for a in pf.accounts.values()):
            return
        figures = account_figures(rows, ledger.collateral)
        if compare:
            mine = (figures.equity_usd_e40, figures.maint_usd_e40)
            theirs = ledger.portfolio_figures(pf.account_id)
            if mine != (theirs.equity_usd_e40, theirs.maint_usd_e40):
                raise InvariantViolation(
                    "full scan agrees with the ledger's figures",
                    f"{pf!r}: scan equity / MM {mine} usd_e40 != ledger {(theirs.equity_usd_e40, theirs.maint_usd_e40)}",
                )
        if figures.liquidatable():
            raise InvariantViolation(
                "no liquidatable scope left open (full scan)",
                f"{pf!r} multi-assets account: equity {figures.equity_usd_e40} usd_e40 <= maintenance margin "
                f"{figures.maint_usd_e40} usd_e40 ({', '.join(f'{a} {e} e-8 atoms' for a, e, _, _ in rows)}), not liquidated",
            )

    def _left_open(self, scope: Any, balance: int, mm: int) -> None:
        """A scope the scan found liquidatable: confirm with the ledger's exact check, report.
        ``balance`` in 1e-8 atoms (exact at the subtick mark), ``mm`` in atoms."""
        ledger = self.ledger
        if type(scope) is Position:
            exact = ledger.isolated_margin_balance_e8(scope)
            what = f"{scope!r} at mark {ledger.marks.get(scope.symbol)} subticks"
        else:
            exact = ledger.cross_margin_balance_e8(scope)
            what = f"{scope!r} cross pool ({len(scope.positions)} positions)"
        if exact != (balance, mm):
            raise InvariantViolation(
                "full scan agrees with the ledger's figures", f"{what}: scan {balance, mm} != ledger {exact}"
            )
        if self._all_waiting((scope,)):
            return
        raise InvariantViolation(
            "no liquidatable scope left open (full scan)",
            f"{what}: margin balance {balance} e-8 atoms <= maintenance margin {mm} atoms, not liquidated",
        )

    def _scan_stops(self) -> None:
        """No waiting stop / take-profit order whose reference price has reached its trigger."""
        for symbol, m in self.exchange.markets.items():
            stops = m.triggers.orders
            if not stops:
                continue
            # compared in subticks: the mark is finer than the tick
            per_tick = m.instrument.subticks_per_tick
            last, mark = m.last_price_ticks * per_tick, m.mark_price_subticks
            for stop in stops.values():
                ref = last if stop.trigger_by == TRIGGER_LAST else mark
                if type(stop) is TrailingStop:
                    self._scan_trailing(symbol, stop, ref)
                    continue
                if ref and fires(stop.direction, stop.trigger_price_ticks * per_tick, ref):
                    raise InvariantViolation(
                        "stop orders fire when their trigger is reached",
                        f"{symbol} order {stop.order_id} waits with trigger {stop.trigger_price_ticks} "
                        f"({'last' if stop.trigger_by == TRIGGER_LAST else 'mark'} {ref})",
                    )


    @staticmethod
    def _scan_trailing(symbol: str, stop: TrailingStop, ref: int) -> None:
        """A waiting trailing stop: not past its activation unless active; active, its
        extreme at least as far as the price and the price short of its firing level."""
        if not ref:
            return
        falling = stop.direction == FALLING
        e = stop.extreme_subticks
        if not e:
            bad = ref >= stop.arm_subticks if falling else ref <= stop.arm_subticks
            what = f"inactive with activation {stop.arm_subticks} reached by {ref}"
        else:
            bad = (ref > e or ref <= stop.fire_at_subticks) if falling else (ref < e or ref >= stop.fire_at_subticks)
            what = f"extreme {e}, firing level {stop.fire_at_subticks}, price {ref}"
        if bad:
            raise InvariantViolation(
                "trailing stops follow the price and fire at their level", f"{symbol} order {stop.order_id}: {what}"
            )


# ---------------------------------------------------------------------------- the run
class StressResult(NamedTuple):
    """What a run did and found; ``violation`` is None when every check held."""

    events: int
    seconds: float  # wall time
    cpu_seconds: float  # this process's CPU time (the wall time also counts other work on the machine)
    check_every: int
    full_checks: int
    command_counts: dict[str, int]
    event_counts: dict[str, int]
    fills: int
    liquidations_isolated: int
    liquidations_cross: int
    partial_liquidations: int
    adl_fills: int
    adl_lots: int
    takeovers: int
    takeover_lots: int
    uncovered_loss_atoms: int
    insurance_fund_atoms: int
    #: per settlement asset (home first): deposits, withdrawals, the wallets' sum, the fee
    #: pool, the insurance fund and the uncovered loss at the end, in atoms of that asset
    asset_totals: dict[str, dict[str, int]]
    fills_by_symbol: dict[str, int]
    liquidations_by_asset: dict[str, int]
    state_hash: str
    violation: str | None
    violation_event: int  # 1-based index of the event after which the check failed, 0 if none
    violation_invariant: str | None
    #: multi-assets runs: accounts in the mode at the end, whole-account liquidations (and
    #: how many a haircut change / a collateral index tick found), conversions by reason
    multi_assets_accounts: int = 0
    liquidations_multi_assets: int = 0
    haircut_liquidations: int = 0
    index_liquidations: int = 0
    auto_exchanges: dict[str, int] | None = None
    #: the venue whose rules the run applied, and what its own rules did (VenueChecks.counts;
    #: empty under Binance)
    venue: str = "binance"
    venue_counts: dict[str, int] | None = None


class StressRun:
    """One seeded run: engine, loop, driver and checker wired together.

    :meth:`run` runs it (a later call goes on where the last one stopped). The exchange is
    built as the replay and scenario runners build theirs (a ledger with an insurance fund,
    ``emit_book_deltas=False``), with computed marks and funding and the liquidation engine
    on; :func:`watch` then gives it the watched structures before the first command.
    """

    def __init__(
        self,
        *,
        seed: int,
        accounts: int = DEFAULT_ACCOUNTS,
        symbols: Sequence[str] = DEFAULT_SYMBOLS,
        check_every: int = 1,
        variants: bool = True,
        contingent: bool = True,
        inverse: Sequence[str] | None = None,
        multi_assets: int = 0,
        venue: VenueProfile | str | None = None,
    ) -> None:
        if check_every < 1:
            raise InputError(f"{check_every} must be >= 1", field="check_every")
        self.venue = venue = venue if isinstance(venue, VenueProfile) else get_venue(venue)
        inverse = venue_inverse(venue, inverse)
        if multi_assets and not venue.multi_assets:
            raise InputError(
                f"{venue.title} has no multi-assets collateral mode in this run (its driver trades linear contracts "
                "in one asset); leave --multi-assets out", field="multi_assets",
            )
        # the venue's terms (tiers, MM basis, fees, funding interval, partial flag, no clearance
        # rate); Binance's profile returns every instrument itself, so its runs are unchanged
        instruments = venue.instruments(stress_instruments(symbols, variants, inverse))
        funds: dict[str, int] = {}
        for inst in instruments:  # each asset's fund seeded with the same worth
            if inst.margin_asset not in funds:
                m = _Market(inst)
                funds[inst.margin_asset] = m.coin(FUND_SEED_ATOMS) if inst.inverse else FUND_SEED_ATOMS
        # a multi-assets run adds USDC and BTC books (collateral an account may hold even
        # where no instrument settles in it) and a lower autoExchangeThreshold
        self.ledger = Ledger(instruments, insurance_fund_atoms=funds, assets=MULTI_ASSETS_EXTRA if multi_assets else ())
        if multi_assets:
            self.ledger.auto_exchange_threshold_usd_e8 = STRESS_AUTO_EXCHANGE_THRESHOLD_USD_E8
        unwind = {i.symbol: i.min_qty_lots * FUND_UNWIND_MIN_QTY for i in instruments}
        self.exchange = Exchange(
            instruments,
            sinks=[],
            ledger=self.ledger,
            emit_book_deltas=False,
            computed_marks=True,
            computed_funding=True,
            fund_unwind_lots=unwind,
            venue=venue,
        )
        watch(self.exchange, self.ledger)
        self.loop = EventLoop(self)
        self.checker = StressChecker(self.exchange, self.ledger, self.loop, venue)
        self.exchange.sinks.append(self.checker.on_events)
        self.driver = StressDriver(self.exchange, self.ledger, seed, accounts, contingent, multi_assets, venue)
        self.seed = seed
        self.check_every = check_every
        self.submitted = 0
        self._started = False
        self.command_counts: Counter[type] = Counter()
        self.current: Any = None
        #: called with (the run, the command) before each command: tests use it to break state
        self.before_command: Callable[["StressRun", Any], None] | None = None

    def submit(self, command: Any) -> None:
        """The loop's target: run one command on the exchange, then the checks."""
        self.submitted += 1
        self.current = command
        self.command_counts[type(command)] += 1
        if self.before_command is not None:
            self.before_command(self, command)
        try:
            self.exchange.submit(command)
        except InvariantViolation:
            raise
        except Exception as exc:
            raise InvariantViolation("the engine raised no exception", f"{type(exc).__name__}: {exc}") from exc
        self.checker.after_command(self.submitted % self.check_every == 0, command)

    def _funding(self, loop: EventLoop, ts_ns: int) -> None:
        """Timer callback: funding at replayed rates on every instrument."""
        for m in self.driver.markets:
            cmd = self.driver.funding_command(self.driver.rng, m.symbol)
            loop.schedule(cmd._replace(ts_ns=ts_ns), priority=PRIORITY_FUNDING)

    def _computed_funding(self, interval_ns: int) -> Callable[[EventLoop, int], None]:
        """Timer callback: computed funding of the instruments with this funding interval."""
        symbols = [s for s, m in self.exchange.markets.items() if m.instrument.funding_interval_ns == interval_ns]

        def settle(loop: EventLoop, ts_ns: int) -> None:
            for symbol in symbols:
                loop.schedule(SettleFunding(ts_ns, symbol, None), priority=PRIORITY_FUNDING)

        return settle

    def run(self, events: int, progress: Callable[[int], None] | None = None) -> StressResult:
        """Run until ``events`` commands in all (setup included) have been submitted,
        checking as configured; a later call goes on from there."""
        if not self._started:
            self._started = True
            self.loop.add_source(self.driver.commands(), name=f"stress seed {self.seed}")
            self.loop.call_every(FUNDING_EVERY_NS, FUNDING_EVERY_NS, self._funding, priority=PRIORITY_FUNDING)
            for interval in sorted({m.instrument.funding_interval_ns for m in self.exchange.markets.values()}):
                self.loop.call_every(interval, interval, self._computed_funding(interval), priority=PRIORITY_FUNDING)
        violation = invariant = None
        at = 0
        t0 = time.perf_counter()
        c0 = time.process_time()
        try:
            while self.submitted < events:
                self.loop.run(max_events=min(events - self.submitted, 20_000))
                # the fund's change log is a report, not state: a long run keeps the last part
                for book in self.ledger.assets.values():
                    del book.fund_history[:-1_000]
                if progress is not None:
                    progress(self.submitted)
            if self.submitted % self.check_every:  # the last event is always fully checked
                self.checker.check_state()
        except InvariantViolation as exc:
            at = self.submitted
            invariant = exc.invariant
            violation = (
                f"event {at} ({self._describe(self.current)}): invariant '{exc.invariant}' broken: {exc.detail}"
            )
        seconds = time.perf_counter() - t0
        cpu_seconds = time.process_time() - c0
        c = self.checker
        return StressResult(
            events=self.submitted,
            seconds=seconds,
            cpu_seconds=cpu_seconds,
            check_every=self.check_every,
            full_checks=c.full_checks,
            command_counts={t.__name__: n for t, n in sorted(self.command_counts.items(), key=lambda kv: kv[0].__name__)},
            event_counts=dict(sorted(c.counts().items())),
            fills=c.fills,
            liquidations_isolated=c.liquidations["ISOLATED"],
            liquidations_cross=c.liquidations["CROSS"],
            partial_liquidations=c.partial_liquidations,
            adl_fills=c.adl_fills,
            adl_lots=c.adl_lots,
            takeovers=c.takeovers,
            takeover_lots=c.takeover_lots,
            uncovered_loss_atoms=self.ledger.uncovered_loss_atoms,
            insurance_fund_atoms=self.ledger.fund.wallet_atoms,
            asset_totals=self.asset_totals(),
            fills_by_symbol={s: c.fills_by_symbol[s] for s in self.exchange.markets},
            liquidations_by_asset={a: c.liquidations_by_asset[a] for a in self.ledger.assets},
            state_hash=self.exchange.state_hash(),
            violation=violation,
            violation_event=at,
            violation_invariant=invariant,
            multi_assets_accounts=len(self.ledger.portfolios),
            liquidations_multi_assets=c.liquidations["MULTI_ASSETS"],
            haircut_liquidations=c.haircut_liquidations,
            index_liquidations=c.index_liquidations,
            auto_exchanges=dict(sorted(c.auto_exchanges.items())),
            venue=self.venue.name,
            venue_counts=dict(sorted(c.venue_checks.counts.items())) if c.venue_checks is not None else {},
        )

    def asset_totals(self) -> dict[str, dict[str, int]]:
        """Per settlement asset: deposits, withdrawals, traders' wallets (cross wallets and
        isolated buckets), fee pool, insurance fund, uncovered loss — atoms of that asset."""
        out: dict[str, dict[str, int]] = {}
        for asset, book in self.ledger.assets.items():
            wallets = sum(
                a.wallet_atoms + sum(p.margin_atoms for p in a.positions.values() if p.isolated)
                for a in book.accounts.values()
            )
            out[asset] = {
                "deposits": book.total_in_atoms,
                "withdrawals": book.total_out_atoms,
                "traders": wallets,
                "accounts": len(book.accounts),
                "fee_pool": book.fee_pool_atoms,
                "insurance_fund": book.fund.wallet_atoms,
                "uncovered_loss": book.uncovered_loss_atoms,
            }
        return out

    @staticmethod
    def _describe(command: Any) -> str:
        if command is None:
            return "before the first command"
        return f"{type(command).__name__}{tuple(command)!r}"


# ---------------------------------------------------------------------------- command line
def report_lines(result: StressResult, seed: int) -> list[tuple[str, str]]:
    """The summary as (label, value) rows."""
    rate = result.events / result.seconds if result.seconds > 0 else 0.0
    cpu_rate = result.events / result.cpu_seconds if result.cpu_seconds > 0 else 0.0
    checks = (
        "after every event" if result.check_every == 1 else f"after every {result.check_every} events (and the last)"
    )
    rows = [
        *([("venue", result.venue)] if result.venue != "binance" else []),
        ("seed", str(seed)),
        ("events", f"{result.events:,}"),
        ("wall time", f"{result.seconds:,.1f} s (CPU {result.cpu_seconds:,.1f} s)"),
        ("events/s", f"{rate:,.0f} ({cpu_rate:,.0f} per CPU second)"),
        ("state checks", f"{checks}: {result.full_checks:,} full checks; liquidation and book-touch checks after every event"),
    ]
    for name, n in result.command_counts.items():
        rows.append((f"  {name}", f"{n:,}"))
    ev = result.event_counts
    rows += [
        ("orders accepted / rejected", f"{ev.get('OrderAccepted', 0):,} / {ev.get('OrderRejected', 0):,}"),
        ("account commands rejected", f"{ev.get('CommandRejected', 0):,}"),
        ("stops triggered", f"{ev.get('OrderTriggered', 0):,}"),
        ("fills", f"{result.fills:,}"),
        ("  by symbol", ", ".join(f"{s} {n:,}" for s, n in result.fills_by_symbol.items())),
        ("liquidations isolated", f"{result.liquidations_isolated:,}"),
        ("liquidations cross", f"{result.liquidations_cross:,}"),
        ("partial liquidations", f"{result.partial_liquidations:,}"),
        ("  whole ones by asset", ", ".join(f"{a} {n:,}" for a, n in result.liquidations_by_asset.items())),
        ("ADL", f"{result.adl_fills:,} counterparties, {result.adl_lots:,} lots"),
        *(
            [
                ("multi-assets accounts", f"{result.multi_assets_accounts:,} in the mode at the end"),
                ("liquidations multi-assets", f"{result.liquidations_multi_assets:,} whole accounts "
                                              f"({result.haircut_liquidations:,} by a haircut change, "
                                              f"{result.index_liquidations:,} by a collateral index tick)"),
                ("auto-exchanges", ", ".join(f"{r} {n:,}" for r, n in (result.auto_exchanges or {}).items()) or "0"),
            ]
            if result.auto_exchanges is not None and (result.multi_assets_accounts or result.liquidations_multi_assets
                                                      or result.command_counts.get("SetCollateralMode"))
            else []
        ),
        ("fund takeovers", f"{result.takeovers:,} positions, {result.takeover_lots:,} lots"),
        *(
            [(f"{result.venue} rules", ", ".join(f"{k} {n:,}" for k, n in result.venue_counts.items()) or "none fired")]
            if result.venue != "binance" and result.venue_counts is not None
            else []
        ),
    ]
    for i, (asset, t) in enumerate(result.asset_totals.items()):
        places = 2 if i == 0 else 8  # the home asset to the cent, coins to the satoshi

        def fmt(atoms: int) -> str:
            return f"{format_atoms_rounded(atoms, places)} {asset}"

        rows += [
            (f"{asset} wallets", f"{t['accounts']:,}; deposits {fmt(t['deposits'])}, withdrawals {fmt(t['withdrawals'])}, "
                                 f"traders hold {fmt(t['traders'])}"),
            (f"  {asset} fee pool / insurance fund", f"{fmt(t['fee_pool'])} / {fmt(t['insurance_fund'])}"),
            (f"  {asset} uncovered loss", fmt(t["uncovered_loss"])),
        ]
    rows += [
        ("final state hash", result.state_hash),
        ("result", "clean: every invariant held" if result.violation is None else "INVARIANT BROKEN"),
    ]
    return rows


def _print_report(rows: list[tuple[str, str]], rich_table: bool) -> None:
    if rich_table:
        from rich.console import Console
        from rich.table import Table

        table = Table(title="exsim stress", show_header=False)
        table.add_column("what", style="bold")
        table.add_column("value", overflow="fold")
        for label, value in rows:
            table.add_row(label, value)
        Console().print(table)
    else:
        width = max(len(label) for label, _ in rows)
        for label, value in rows:
            print(f"{label.ljust(width)}  {value}")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="exsim stress",
        description="Seeded whole-engine stress run: every command kind, invariants checked after every event.",
    )
    p.add_argument("--events", type=whole_arg, required=True, help="commands to submit (setup included)")
    p.add_argument("--seed", type=whole_arg, required=True, help="random seed: the same seed gives the same run and hash")
    p.add_argument("--accounts", type=whole_arg, default=DEFAULT_ACCOUNTS, help=f"accounts (default {DEFAULT_ACCOUNTS})")
    p.add_argument(
        "--symbols", nargs="+", default=list(DEFAULT_SYMBOLS),
        help=f"shipped instruments (default {' '.join(DEFAULT_SYMBOLS)}; any of {', '.join(list_symbols())})",
    )
    p.add_argument(
        "--venue", choices=VENUE_NAMES, default="binance", type=str.lower,
        help="whose rules apply (default binance: the runs as before): the instruments under that venue's terms "
             "(tiers, maintenance basis, fees, funding interval), its liquidation process, and its own "
             "invariants checked after every event. hyperliquid and dydx list linear contracts only: their runs "
             "trade the linear instruments and have no multi-assets accounts (--inverse and --multi-assets are refused)",
    )
    p.add_argument(
        "--inverse", nargs="*", default=None, metavar="SYMBOL",
        help=f"inverse (coin-margined) instruments beside the linear ones, each with its coin wallets "
             f"(default {' '.join(DEFAULT_INVERSE)}, none under hyperliquid and dydx; any of {', '.join(INVERSE_SPECS)}; "
             "none: linear only)",
    )
    p.add_argument(
        "--multi-assets", type=whole_arg, default=0, metavar="K",
        help="K takers trade in multi-assets collateral mode (USDT / USDC / BTC wallets, BTC collateral), with "
             "collateral index ticks, haircut changes and auto-exchange in the mix (default 0: none, draws as before)",
    )
    p.add_argument(
        "--check-every", type=whole_arg, default=1, metavar="M",
        help="run the O(state) checks after every M-th event (default 1: every event)",
    )
    p.add_argument(
        "--variants", action=argparse.BooleanOptionalAction, default=True,
        help="clearance fee on the first instrument, partial liquidation on the second (default on)",
    )
    p.add_argument(
        "--contingent", action=argparse.BooleanOptionalAction, default=True,
        help="trailing stops, OCO pairs and brackets in the mix (default on; off draws as before they existed)",
    )
    p.add_argument(
        "--report-every", type=whole_arg, default=0, metavar="N",
        help="without a progress bar: print a line of running figures every N events (default 0: none)",
    )
    p.add_argument(
        "--progress", action=argparse.BooleanOptionalAction, default=None,
        help="progress bar (default: when stdout is a terminal)",
    )
    args = p.parse_args(argv)
    if args.events < 1:
        p.error("--events must be >= 1")
    if args.check_every < 1:
        p.error("--check-every must be >= 1")
    if args.accounts < 4:
        p.error("--accounts must be >= 4")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the stress command; 0 when every invariant held, 1 when one broke, 2 on bad usage."""
    args = parse_args(argv)
    try:
        symbols = [get_instrument(s).symbol for s in args.symbols]
        if len(set(symbols)) != len(symbols):
            raise InputError("a symbol is given twice", field="symbols")
        venue = get_venue(args.venue)
        inverse = venue_inverse(venue, None if args.inverse is None else [s.upper() for s in args.inverse])
        if len(set(inverse)) != len(inverse):
            raise InputError("an inverse symbol is given twice", field="inverse")
        run = StressRun(
            seed=args.seed, accounts=args.accounts, symbols=symbols, check_every=args.check_every, variants=args.variants,
            contingent=args.contingent, inverse=inverse, multi_assets=args.multi_assets, venue=venue,
        )
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    tty = sys.stdout.isatty()
    show = tty if args.progress is None else args.progress
    print(
        f"exsim stress: {'' if venue.is_binance else f'{venue.name} rules, '}{args.events:,} events, seed {args.seed}, "
        f"{args.accounts} accounts, "
        f"{' '.join(symbols + inverse)}{f', {args.multi_assets} multi-assets' if args.multi_assets else ''}, checks after every {'' if args.check_every == 1 else f'{args.check_every} '}event"
        f"{'' if args.check_every == 1 else 's'}",
        flush=True,
    )
    if show:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        with Progress(
            TextColumn("[bold]stress"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]} ev/s"),
            TimeElapsedColumn(), TimeRemainingColumn(),
        ) as bar:
            task = bar.add_task("stress", total=args.events, rate="-")
            t0 = time.perf_counter()

            def progress(done: int) -> None:
                dt = time.perf_counter() - t0
                bar.update(task, completed=done, rate=f"{done / dt:,.0f}" if dt > 0 else "-")

            result = run.run(args.events, progress)
    elif args.report_every:
        t0, c0 = time.perf_counter(), time.process_time()
        next_at = [args.report_every]

        def log(done: int) -> None:
            if done < next_at[0] and done < args.events:
                return
            next_at[0] = (done // args.report_every + 1) * args.report_every
            c = run.checker
            print(
                f"  {done:,} events, {time.perf_counter() - t0:,.0f} s (CPU {time.process_time() - c0:,.0f} s), "
                f"fills {c.fills:,}, liquidations {c.liquidations['ISOLATED']:,} isolated / {c.liquidations['CROSS']:,} "
                f"cross ({', '.join(f'{a} {n:,}' for a, n in sorted(c.liquidations_by_asset.items()))}), "
                f"ADL {c.adl_fills:,}",
                flush=True,
            )

        result = run.run(args.events, log)
    else:
        result = run.run(args.events)
    _print_report(report_lines(result, args.seed), tty)
    if result.violation is not None:
        sys.stdout.flush()
        print(f"FAILED: {result.violation}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
