"""Conservation of money under random command streams (seeded stress and a state machine).

After every command (``check_all`` plus the checks below):

* ``ledger.money_atoms() == ledger.total_in_atoms - ledger.total_out_atoms`` — Σ wallets
  + Σ buckets + fee pool + fund − Σ signed entry costs equals deposits − withdrawals;
* no trader wallet is negative; positions net to zero per symbol (EXTERNAL included);
* every resting order holds margin and every hold belongs to a resting order;
* (full streams) the realized-PnL deltas of the ``PositionChanged`` events add up to each
  account's ``realized_pnl_atoms``.

Streams: BTCUSDT and ETHUSDT, 20 accounts, random leverage, margin and position modes
(hedge legs), orders of every type and time in force (market, stops, take-profits on last
or mark, reduce-only), cancels, amends, deposits, withdrawals, isolated margin moves,
funding, mark random walks and replayed liquidity (SetReplayedLevel / ReplayedTrade), so
the EXTERNAL account trades too.

Solvency by construction in the main streams: prices stay within ±2 % of a base and
leverage within 1..10 (initial margin >= 10 % of notional > the largest possible 4 %
move), so every account stays solvent and "no negative wallet" tests the ledger's own
arithmetic. A wider variant (50x, ±12.5 %, mark jumps) makes accounts fail, so the same
identities are checked through the liquidation engine's closes, fund and fees too.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

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
    TAKE_PROFIT_LIMIT,
    TAKE_PROFIT_MARKET,
    TRIGGER_LAST,
    TRIGGER_MARK,
)
from exsim.exchange import (
    AdjustIsolatedMargin,
    AmendOrder,
    CancelOrder,
    Deposit,
    Exchange,
    NewOrder,
    ReplayedTrade,
    SetLeverage,
    SetMarginMode,
    SetMarkPrice,
    SetPositionMode,
    SetReplayedLevel,
    SettleFunding,
    Withdraw,
)
from exsim.ledger import BOTH, CROSS, ISOLATED, LONG, SHORT, Ledger

from .harness import BTC, ETH, RealizedFromEvents, check_all

SYMBOLS = ("BTCUSDT", "ETHUSDT")
BASE = {"BTCUSDT": 600_000, "ETHUSDT": 300_000}  # 60,000 / 3,000 USDT
#: subticks (1e-8 USDT, the unit of marks) per tick
PER_TICK = {"BTCUSDT": BTC.subticks_per_tick, "ETHUSDT": ETH.subticks_per_tick}
BAND = {s: b // 50 for s, b in BASE.items()}  # ±2 %
LOTS = {"BTCUSDT": (2, 120), "ETHUSDT": (7, 1_500)}  # min notional 100 / 20 USDT
MAX_LEVERAGE = 10
USDT = 10**8
STOPS = (STOP_MARKET, STOP_LIMIT, TAKE_PROFIT_MARKET, TAKE_PROFIT_LIMIT)


def clamp(symbol: str, px: int) -> int:
    return max(BASE[symbol] - BAND[symbol], min(BASE[symbol] + BAND[symbol], px))


def check_money(ex: Exchange, ledger: Ledger) -> None:
    """The checks of the module docstring (the realized-PnL one is separate)."""
    check_all(ex, ledger)
    assert ledger.money_atoms() == ledger.total_in_atoms - ledger.total_out_atoms
    special = [ledger.external] + ([ledger.fund] if hasattr(ledger, "fund") else [])
    net = dict.fromkeys(SYMBOLS, 0)
    for acct in (*ledger.accounts.values(), *special):
        for (symbol, _), pos in acct.positions.items():
            net[symbol] += pos.qty_lots
    assert net == dict.fromkeys(SYMBOLS, 0), f"positions do not net to zero: {net}"
    for acct in ledger.accounts.values():
        assert acct.wallet_atoms >= 0, f"account {acct.account_id}: wallet {acct.wallet_atoms}"
        assert 0 <= acct.held_atoms <= acct.wallet_atoms + 10**15  # held never negative


def new_exchange(sinks: list[Any], max_leverage: int = MAX_LEVERAGE) -> tuple[Exchange, Ledger]:
    ledger = Ledger((BTC, ETH), default_leverage=max_leverage, insurance_fund_atoms=1_000 * USDT)
    ex = Exchange((BTC, ETH), sinks=sinks, ledger=ledger)
    return ex, ledger


class RandomDriver:
    """Seeded commands of every kind; reads the exchange only to pick targets (sorted).

    ``resting_closes=False`` sends closing orders (reduce-only, hedge-mode closes) only as
    IOC / market orders, so that none of them can outlive the position it closes.
    ``max_leverage``, ``band_ppm`` (prices within base ± band) and ``jumps`` (20 % of mark
    moves are up to ±1.7 %) widen the stream so that accounts fail and get liquidated.
    """

    KINDS = ("new", "cancel", "amend", "deposit", "withdraw", "leverage", "margin_mode",
             "position_mode", "adjust", "mark", "level", "trade", "funding")
    WEIGHTS = (40, 9, 7, 3, 4, 3, 2, 2, 4, 10, 10, 5, 1)

    def __init__(
        self,
        ex: Exchange,
        ledger: Ledger,
        seed: int,
        n_accounts: int = 20,
        resting_closes: bool = True,
        max_leverage: int = MAX_LEVERAGE,
        band_ppm: int = 20_000,
        jumps: bool = False,
    ) -> None:
        self.ex = ex
        self.ledger = ledger
        self.rng = random.Random(seed)
        self.accounts = list(range(1, n_accounts + 1))
        self.marks = dict(BASE)
        self.resting_closes = resting_closes
        self.max_leverage = max_leverage
        self.band = {s: b * band_ppm // 1_000_000 for s, b in BASE.items()}
        self.jumps = jumps

    def setup(self) -> list[Any]:
        """Fund every account and give each a random starting profile."""
        rng = self.rng
        cmds: list[Any] = [SetMarkPrice(0, s, BASE[s] * PER_TICK[s]) for s in SYMBOLS]
        for a in self.accounts:
            cmds.append(Deposit(0, a, rng.randint(2_000, 50_000) * USDT))
            if rng.random() < 0.4:
                cmds.append(SetPositionMode(0, a, True))
            for s in SYMBOLS:
                if rng.random() < 0.4:
                    cmds.append(SetMarginMode(0, a, s, ISOLATED))
                cmds.append(SetLeverage(0, a, s, rng.randint(1, self.max_leverage)))
        for s in SYMBOLS:  # some replayed depth to start with
            for k in range(1, 6):
                cmds.append(SetReplayedLevel(0, s, BUY, BASE[s] - k * BASE[s] // 1_000, rng.randint(10, 200)))
                cmds.append(SetReplayedLevel(0, s, SELL, BASE[s] + k * BASE[s] // 1_000, rng.randint(10, 200)))
        return cmds

    def next_command(self) -> Any:
        kind = self.rng.choices(self.KINDS, self.WEIGHTS)[0]
        return getattr(self, "_" + kind)(self.rng.choice(SYMBOLS))

    # -- helpers
    def clamp(self, symbol: str, px: int) -> int:
        return max(BASE[symbol] - self.band[symbol], min(BASE[symbol] + self.band[symbol], px))

    def price(self, symbol: str, spread_ppm: int = 5_000) -> int:
        m = self.marks[symbol]
        return self.clamp(symbol, m + self.rng.randint(-m * spread_ppm // 1_000_000, m * spread_ppm // 1_000_000))

    def qty(self, symbol: str) -> int:
        lo, hi = LOTS[symbol]
        return self.rng.randint(lo, hi)

    def open_orders(self, account: int | None = None) -> list[tuple[str, int, int]]:
        out = []
        for symbol in SYMBOLS:
            m = self.ex.markets[symbol]
            for oid in sorted(m.book.orders):
                o = m.book.orders[oid]
                if o.account_id and (account is None or o.account_id == account):
                    out.append((symbol, oid, o.account_id))
            for oid in sorted(m.triggers.orders):
                o = m.triggers.orders[oid]
                if account is None or o.account_id == account:
                    out.append((symbol, oid, o.account_id))
        return out

    # -- command kinds
    def _new(self, symbol: str) -> NewOrder:
        rng = self.rng
        a = rng.choice(self.accounts)
        acct = self.ledger.accounts.get(a)
        side = rng.choice((BUY, SELL))
        qty = self.qty(symbol)
        reduce_only = False
        closing = False
        if acct is not None and acct.hedge_mode:
            pside = rng.choice((LONG, SHORT))
            leg = acct.positions.get((symbol, pside))
            closing = (pside == LONG) != (side == BUY)
            if closing and leg is not None and rng.random() < 0.8:
                qty = abs(leg.qty_lots) if rng.random() < 0.5 else rng.randint(1, abs(leg.qty_lots))
        else:
            pside = BOTH if rng.random() < 0.97 else LONG  # a few position-side mismatches
            pos = acct.positions.get((symbol, BOTH)) if acct is not None else None
            r = rng.random()
            if r < 0.15:
                reduce_only = closing = True
                if pos is not None and rng.random() < 0.8:
                    side = SELL if pos.qty_lots > 0 else BUY
                    qty = rng.randint(1, abs(pos.qty_lots))
            elif r < 0.3 and pos is not None:  # close exactly, or flip through zero
                side = SELL if pos.qty_lots > 0 else BUY
                qty = abs(pos.qty_lots) + (0 if rng.random() < 0.3 else self.qty(symbol))
        r = rng.random()
        trigger, trigger_by, price, tif = 0, TRIGGER_LAST, 0, GTC
        if r < 0.6:
            otype = LIMIT
            price = self.price(symbol)
            tif = rng.choice((GTC, GTC, GTC, IOC, FOK, GTX))
        elif r < 0.72:
            otype = MARKET
            tif = rng.choice((GTC, IOC))
        else:
            otype = rng.choice(STOPS)
            trigger_by = rng.choice((TRIGGER_LAST, TRIGGER_MARK))
            trigger = self.price(symbol, 8_000)
            if otype in (STOP_LIMIT, TAKE_PROFIT_LIMIT):
                price = self.price(symbol)
                tif = rng.choice((GTC, IOC, FOK))
        if closing and not self.resting_closes:
            tif = IOC if otype != MARKET else tif  # a close never rests (see the class docstring)
        return NewOrder(0, a, symbol, side, qty, price, otype, tif, None, reduce_only, trigger, trigger_by, pside)

    def _cancel(self, symbol: str) -> CancelOrder:
        orders = self.open_orders()
        if not orders or self.rng.random() < 0.05:
            return CancelOrder(0, self.rng.choice(self.accounts), symbol, self.rng.randint(1, 10**6))
        symbol, oid, a = self.rng.choice(orders)
        return CancelOrder(0, a, symbol, oid)

    def _amend(self, symbol: str) -> Any:
        orders = [o for o in self.open_orders() if o[1] in self.ex.markets[o[0]].book.orders]
        if not orders:
            return self._cancel(symbol)
        symbol, oid, a = self.rng.choice(orders)
        order = self.ex.markets[symbol].book.orders[oid]
        filled = order.qty_lots - order.leaves_lots
        price = order.price_ticks if self.rng.random() < 0.4 else self.price(symbol)
        return AmendOrder(0, a, symbol, oid, price, filled + max(1, self.qty(symbol) // 2))

    def _deposit(self, symbol: str) -> Deposit:
        return Deposit(0, self.rng.choice(self.accounts), self.rng.randint(1, 5_000) * USDT)

    def _withdraw(self, symbol: str) -> Withdraw:
        a = self.rng.choice(self.accounts)
        acct = self.ledger.accounts.get(a)
        most = self.ledger.withdrawable_atoms(acct) if acct is not None else 0
        amount = self.rng.choice((most, most + 1, max(1, most // 3), self.rng.randint(1, 10**12)))
        return Withdraw(0, a, max(1, amount))

    def _leverage(self, symbol: str) -> SetLeverage:
        return SetLeverage(0, self.rng.choice(self.accounts), symbol, self.rng.randint(1, self.max_leverage))

    def _margin_mode(self, symbol: str) -> SetMarginMode:
        return SetMarginMode(0, self.rng.choice(self.accounts), symbol, self.rng.choice((CROSS, ISOLATED)))

    def _position_mode(self, symbol: str) -> SetPositionMode:
        return SetPositionMode(0, self.rng.choice(self.accounts), self.rng.random() < 0.5)

    def _adjust(self, symbol: str) -> AdjustIsolatedMargin:
        rng = self.rng
        isolated = [
            (a.account_id, s, ps, p)
            for a in self.ledger.accounts.values()
            for (s, ps), p in sorted(a.positions.items())
            if p.isolated
        ]
        if not isolated:
            return AdjustIsolatedMargin(0, rng.choice(self.accounts), symbol, BOTH, USDT)
        a, s, ps, pos = rng.choice(isolated)
        delta = rng.randint(1, max(2, pos.margin_atoms // 2))
        return AdjustIsolatedMargin(0, a, s, ps, delta if rng.random() < 0.5 else -delta)

    def _mark(self, symbol: str) -> SetMarkPrice:
        m = self.marks[symbol]
        step = BASE[symbol] // 60 if self.jumps and self.rng.random() < 0.2 else BASE[symbol] // 400
        m = self.clamp(symbol, m + self.rng.randint(-step, step))
        self.marks[symbol] = m
        # the venue's mark is finer than the tick: a random subtick offset
        return SetMarkPrice(0, symbol, m * PER_TICK[symbol] + self.rng.randrange(PER_TICK[symbol]))

    def _level(self, symbol: str) -> SetReplayedLevel:
        side = self.rng.choice((BUY, SELL))
        lots = 0 if self.rng.random() < 0.25 else self.rng.randint(1, 300)
        return SetReplayedLevel(0, symbol, side, self.price(symbol, 4_000), lots)

    def _trade(self, symbol: str) -> ReplayedTrade:
        return ReplayedTrade(0, symbol, self.rng.choice((BUY, SELL)), self.price(symbol, 4_000), self.qty(symbol))

    def _funding(self, symbol: str) -> SettleFunding:
        return SettleFunding(0, symbol, self.rng.randint(-50_000, 50_000))  # ±0.05 %


def run_stream(seed: int, n: int, *, resting_closes: bool, check_events: bool, **driver_kwargs: Any) -> dict[str, int]:
    """Run ``n`` random commands after the setup, checking after every one; returns event counts."""
    counts: dict[str, int] = {}
    realized = RealizedFromEvents()

    def count(events: list[Any]) -> None:
        for e in events:
            counts[type(e).__name__] = counts.get(type(e).__name__, 0) + 1

    ex, ledger = new_exchange([count, realized], driver_kwargs.get("max_leverage", MAX_LEVERAGE))
    driver = RandomDriver(ex, ledger, seed, resting_closes=resting_closes, **driver_kwargs)
    ts = 0
    commands = driver.setup()
    for i in range(n + len(commands)):
        cmd = commands[i] if i < len(commands) else driver.next_command()
        ts += 1
        try:
            ex.submit(cmd._replace(ts_ns=ts))
            check_money(ex, ledger)
            if check_events:
                realized.check(ledger)
        except Exception as exc:
            raise AssertionError(f"seed {seed}, command {i}: {cmd!r}") from exc
    # every order ends: cancelling them all returns every hold to 0
    for symbol, oid, a in driver.open_orders():
        ts += 1
        ex.submit(CancelOrder(ts, a, symbol, oid))
        check_money(ex, ledger)
    assert not ledger.holds
    for acct in ledger.accounts.values():
        assert acct.held_atoms == 0 and not acct.open_orders, acct
    return counts


SEEDS = (1, 2, 3)
#: streams this stress found failing (kept as regressions): 7 — a taker sweep closes a
#: position on one maker and reopens it on the next; 8 — a resting hedge-mode close
#: outlives its leg and turns it (see test_positions for the minimal cases)
FOUND_SEEDS = (7, 8)
N_COMMANDS = 3_000


class TestRandomStreams:
    @pytest.mark.parametrize("seed", SEEDS + FOUND_SEEDS)
    def test_every_invariant_after_every_command(self, seed: int) -> None:
        """Money is conserved, wallets stay >= 0, positions net to zero and the events account for all realized PnL after each of 3000 random commands."""
        counts = run_stream(seed, N_COMMANDS, resting_closes=True, check_events=True)
        minimum = {"Fill": 200, "PositionChanged": 200, "OrderTriggered": 5, "OrderAmended": 20, "BalanceChanged": 20,
                   "FundingPaid": 20}
        for name, least in minimum.items():
            assert counts.get(name, 0) > least, (name, counts)

    @pytest.mark.parametrize("seed", SEEDS)
    def test_money_conserved_when_closes_cannot_outlive_their_position(self, seed: int) -> None:
        """The same streams with closing orders sent only as IOC/market (no resting close can outlive its position) keep every ledger invariant."""
        counts = run_stream(seed + 10, N_COMMANDS, resting_closes=False, check_events=False)
        assert counts.get("Fill", 0) > 200
        assert counts.get("PositionChanged", 0) > 200

    @pytest.mark.parametrize("seed", SEEDS)
    def test_money_conserved_through_liquidations(self, seed: int) -> None:
        """With leverage up to 50x, a ±12.5 % band and mark jumps, accounts fail and are liquidated, and every ledger invariant still holds after each command."""
        counts = run_stream(
            seed + 20, N_COMMANDS, resting_closes=False, check_events=False, max_leverage=50, band_ppm=125_000, jumps=True
        )
        assert counts.get("Liquidation", 0) >= 5, counts


# ---------------------------------------------------------------------- state machine
ACCOUNTS = (1, 2, 3, 4)


class LedgerMachine(RuleBasedStateMachine):
    """Hypothesis drives the same commands; every ledger invariant is checked after each step.

    Closing orders are IOC or market here (resting closes that outlive their position are
    pinned by ``test_positions`` / ``test_accounts``); the realized-PnL event check is
    left to the seeded streams. Prices stay in the ±2 % band, leverage in 1..10.
    """

    @initialize()
    def setup(self) -> None:
        self.ex, self.ledger = new_exchange([])
        self.ts = 0
        for s in SYMBOLS:
            self.submit(SetMarkPrice(0, s, BASE[s] * PER_TICK[s]))
        for a in ACCOUNTS:
            self.submit(Deposit(0, a, 20_000 * USDT))
        for s in SYMBOLS:  # replayed depth on both sides for the takers
            for k in range(1, 11):
                self.submit(SetReplayedLevel(0, s, BUY, BASE[s] - k * BAND[s] // 10, 200))
                self.submit(SetReplayedLevel(0, s, SELL, BASE[s] + k * BAND[s] // 10, 200))

    def submit(self, cmd: Any) -> None:
        self.ts += 1
        self.ex.submit(cmd._replace(ts_ns=self.ts))

    @invariant()
    def money_conserved(self) -> None:
        check_money(self.ex, self.ledger)

    @rule(
        account=st.sampled_from(ACCOUNTS),
        symbol=st.sampled_from(SYMBOLS),
        side=st.sampled_from((BUY, SELL)),
        size=st.floats(0, 1),
        offset=st.integers(-10, 10),
        kind=st.sampled_from(("limit", "limit", "market", "stop", "stop_limit", "tp", "tp_limit")),
        tif=st.sampled_from((GTC, IOC, FOK, GTX)),
        pside=st.sampled_from((BOTH, LONG, SHORT)),
        reduce_only=st.booleans(),
        by_mark=st.booleans(),
    )
    def new_order(
        self, account: int, symbol: str, side: int, size: float, offset: int, kind: str, tif: int, pside: int,
        reduce_only: bool, by_mark: bool,
    ) -> None:
        lo, hi = LOTS[symbol]
        qty = lo + int((hi - lo) * size)
        acct = self.ledger.accounts[account]
        pside = (pside or LONG) if acct.hedge_mode else BOTH
        reduce_only = reduce_only and not acct.hedge_mode
        closing = reduce_only or (acct.hedge_mode and (pside == LONG) != (side == BUY))
        px = clamp(symbol, BASE[symbol] + offset * BAND[symbol] // 10)
        otype = {"limit": LIMIT, "market": MARKET, "stop": STOP_MARKET, "stop_limit": STOP_LIMIT,
                 "tp": TAKE_PROFIT_MARKET, "tp_limit": TAKE_PROFIT_LIMIT}[kind]
        price = px if otype in (LIMIT, STOP_LIMIT, TAKE_PROFIT_LIMIT) else 0
        trigger = clamp(symbol, px + (BAND[symbol] // 5) * (1 if side == BUY else -1)) if otype in STOPS else 0
        if otype != LIMIT and tif == GTX:
            tif = GTC
        if closing and otype != MARKET:
            tif = IOC
        self.submit(NewOrder(0, account, symbol, side, qty, price, otype, tif, None, reduce_only, trigger,
                             TRIGGER_MARK if by_mark else TRIGGER_LAST, pside))

    @precondition(lambda self: any(m.book.orders or m.triggers.orders for m in self.ex.markets.values()))
    @rule(data=st.data(), amend=st.booleans(), size=st.floats(0, 1), offset=st.integers(-10, 10))
    def cancel_or_amend(self, data: Any, amend: bool, size: float, offset: int) -> None:
        orders = []
        for symbol in SYMBOLS:
            m = self.ex.markets[symbol]
            orders += [(symbol, o) for _, o in sorted(m.book.orders.items()) if o.account_id]
            orders += [(symbol, o) for _, o in sorted(m.triggers.orders.items())]
        if not orders:
            return
        symbol, order = data.draw(st.sampled_from(orders))
        if amend and order.order_id in self.ex.markets[symbol].book.orders:
            lo, hi = LOTS[symbol]
            filled = order.qty_lots - order.leaves_lots
            px = clamp(symbol, BASE[symbol] + offset * BAND[symbol] // 10)
            self.submit(AmendOrder(0, order.account_id, symbol, order.order_id, px, filled + 1 + int((hi - lo) * size)))
        else:
            self.submit(CancelOrder(0, order.account_id, symbol, order.order_id))

    @rule(
        account=st.sampled_from(ACCOUNTS),
        symbol=st.sampled_from(SYMBOLS),
        side=st.sampled_from((BUY, SELL)),
        size=st.floats(0, 1),
        flip=st.booleans(),
        market=st.booleans(),
    )
    def take(self, account: int, symbol: str, side: int, size: float, flip: bool, market: bool) -> None:
        """An aggressive order; ``flip`` sizes it to close (and maybe flip) the current position."""
        acct = self.ledger.accounts[account]
        lo, hi = LOTS[symbol]
        qty = lo + int((hi - lo) * size)
        pside = BOTH
        if acct.hedge_mode:
            pside = LONG if side == BUY else SHORT  # opens a leg
        else:
            pos = acct.positions.get((symbol, BOTH))
            if flip and pos is not None:
                side = SELL if pos.qty_lots > 0 else BUY
                qty += abs(pos.qty_lots)
        px = clamp(symbol, BASE[symbol] + (BAND[symbol] if side == BUY else -BAND[symbol]))
        otype, price = (MARKET, 0) if market else (LIMIT, px)
        self.submit(NewOrder(0, account, symbol, side, qty, price, otype, IOC, None, False, 0, TRIGGER_LAST, pside))

    @rule(
        account=st.sampled_from(ACCOUNTS),
        symbol=st.sampled_from(SYMBOLS),
        what=st.sampled_from(("deposit", "withdraw", "withdraw_max", "leverage", "margin", "hedge", "adjust")),
        value=st.integers(1, 10_000 * USDT),
        pside=st.sampled_from((BOTH, LONG, SHORT)),
        negative=st.booleans(),
    )
    def account_command(self, account: int, symbol: str, what: str, value: int, pside: int, negative: bool) -> None:
        acct = self.ledger.accounts[account]
        if what == "deposit":
            self.submit(Deposit(0, account, value))
        elif what == "withdraw":
            self.submit(Withdraw(0, account, value))
        elif what == "withdraw_max":
            self.submit(Withdraw(0, account, max(1, self.ledger.withdrawable_atoms(acct) + (1 if negative else 0))))
        elif what == "leverage":
            self.submit(SetLeverage(0, account, symbol, 1 + value % MAX_LEVERAGE))
        elif what == "margin":
            self.submit(SetMarginMode(0, account, symbol, value % 2))
        elif what == "hedge":
            self.submit(SetPositionMode(0, account, value % 2 == 1))
        else:
            self.submit(AdjustIsolatedMargin(0, account, symbol, pside, -value if negative else value))

    @rule(
        symbol=st.sampled_from(SYMBOLS),
        what=st.sampled_from(("mark", "mark", "level", "level", "trade", "funding")),
        side=st.sampled_from((BUY, SELL)),
        offset=st.integers(-10, 10),
        lots=st.integers(0, 300),
    )
    def market_data(self, symbol: str, what: str, side: int, offset: int, lots: int) -> None:
        px = clamp(symbol, BASE[symbol] + offset * BAND[symbol] // 10)
        if what == "mark":
            self.submit(SetMarkPrice(0, symbol, px * PER_TICK[symbol] + lots))  # lots: a subtick offset too
        elif what == "level":
            self.submit(SetReplayedLevel(0, symbol, side, px, lots))
        elif what == "trade":
            self.submit(ReplayedTrade(0, symbol, side, px, max(1, lots)))
        else:
            self.submit(SettleFunding(0, symbol, (offset * 5_000)))  # ±0.05 %


TestLedgerMachine = LedgerMachine.TestCase
TestLedgerMachine.settings = settings(
    max_examples=100,
    stateful_step_count=40,
    deadline=None,
    derandomize=True,  # the same examples on every run (reproducible, and no database needed)
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
