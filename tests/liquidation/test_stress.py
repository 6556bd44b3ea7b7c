"""Seeded random stress: ~500 accounts, random leverage and margin modes, crashes and thin books.

Each seed builds a world of 500 traders (50–2,000 USDT, leverage 2–50x per instrument
within the brackets, cross or isolated per instrument, one in ten in hedge mode) and two
market makers quoting a few thin levels around the mark, then runs 2,500 random commands:
orders (limit, IOC, market, reduce-only, mark stops), cancels, deposits, isolated margin
moves, leverage changes, re-quotes, replayed (EXTERNAL) levels, and mark moves (a random
walk with crashes and spikes that empty the book first). Two variants per seed: a thin
insurance fund (0 to 100,000 USDT, so takeovers, ADL and uncovered losses all happen) and
a deep one (every remainder is taken over; no ADL).

After every command (:class:`~tests.liquidation.harness.LiqHarness`): conservation and no
negative wallet or fund (``Ledger._check``), the risk index and the books
(``Exchange._check``: never crossed), liquidation fills never worse than the bankruptcy
price, ADL at the bankruptcy price, and every CROSS liquidation left its account without
a cross position. After every mark move, a naive full scan: no scope is left at or below
its maintenance margin (everything the mark made liquidatable was liquidated).
"""

from __future__ import annotations

import random
from typing import Any

import attrs
import pytest

from exsim.book.orders import BUY, GTC, IOC, LIMIT, MARKET, SELL, STOP_MARKET, TRIGGER_MARK
from exsim.exchange import (
    AdjustIsolatedMargin,
    CancelOrder,
    Deposit,
    Liquidation,
    NewOrder,
    SetLeverage,
    SetMarginMode,
    SetMarkPrice,
    SetPositionMode,
    SetReplayedLevel,
)
from exsim.instruments import get_instrument
from exsim.ledger import BOTH, ISOLATED, LONG, SHORT

from .harness import USDT, LiqHarness, of_type

N_TRADERS = 500
N_STEPS = 2_500
MAKERS = {"BTCUSDT": 1_001, "ETHUSDT": 1_002}
START = {"BTCUSDT": 500_000, "ETHUSDT": 300_000}  # 50,000.0 and 3,000.00


def instruments() -> tuple[Any, Any]:
    """Real bracket tables (0.4 % from 125x … 50 % at 1x), default fees, BTC with a 0.5 % clearance fee."""
    btc = attrs.evolve(get_instrument("BTCUSDT"), min_notional_atoms=0, clearance_fee_e8=500_000)
    eth = attrs.evolve(get_instrument("ETHUSDT"), min_notional_atoms=0)
    return btc, eth


def naive_scan(h: LiqHarness) -> None:
    """Full scan: every isolated bucket and every cross pool is above its maintenance margin."""
    ledger = h.ledger
    for acct in ledger.accounts.values():
        has_cross = False
        for pos in acct.positions.values():
            if pos.isolated:
                balance, mm = ledger.isolated_margin_balance_e8(pos)  # exact: 1e-8 atoms
                assert balance > mm * 10**8, f"{pos!r} left liquidatable: balance {balance} e-8 <= MM {mm}"
            else:
                has_cross = True
        if has_cross:
            balance, mm = ledger.cross_margin_balance_e8(acct)
            assert balance > mm * 10**8, f"{acct!r} cross pool left liquidatable: balance {balance} e-8 <= MM {mm}"


class World:
    """One seeded random run on a :class:`LiqHarness`."""

    def __init__(self, seed: int, replayed: bool = True, fund: int | None = None) -> None:
        self.rng = random.Random(seed)
        self.replayed = replayed
        thin = self.rng.choice([0, 0, 1_000 * USDT, 100_000 * USDT])
        fund = thin if fund is None else fund
        self.h = LiqHarness(*instruments(), fund=fund, fund_unwind_lots={"BTCUSDT": 50, "ETHUSDT": 500})
        self.marks = dict(START)
        self.quotes: dict[str, list[int]] = {s: [] for s in MAKERS}
        self.hedge: set[int] = set()
        self.leverage: dict[tuple[int, str], int] = {}
        self.liquidations = 0
        self.cross_liquidations = 0
        self.setup()

    def submit(self, cmd: Any) -> list[Any]:
        events = self.h.submit(cmd)
        for liq in of_type(events, Liquidation):
            self.liquidations += 1
            self.cross_liquidations += liq.scope == "CROSS"
        return events

    def setup(self) -> None:
        rng = self.rng
        for symbol, mark in self.marks.items():
            self.submit(SetMarkPrice(0, symbol, mark * self.h.ex.markets[symbol].instrument.subticks_per_tick))
        for maker in MAKERS.values():
            self.submit(Deposit(0, maker, 10**9 * USDT))
            for symbol in MAKERS:
                self.submit(SetLeverage(0, maker, symbol, 1))
        for a in range(1, N_TRADERS + 1):
            self.submit(Deposit(0, a, rng.randint(50, 2_000) * USDT))
            if rng.random() < 0.1:
                self.submit(SetPositionMode(0, a, True))
                self.hedge.add(a)
            for symbol in MAKERS:
                lev = rng.randint(2, 50)
                self.leverage[(a, symbol)] = lev
                self.submit(SetLeverage(0, a, symbol, lev))
                if rng.random() < 0.5:
                    self.submit(SetMarginMode(0, a, symbol, ISOLATED))
        for symbol in MAKERS:
            self.requote(symbol)

    # ------------------------------------------------------------------ actions
    def requote(self, symbol: str, thin: bool = False) -> None:
        """The symbol's maker cancels its quotes and posts 1–6 thin levels a side around the mark."""
        rng, h = self.rng, self.h
        maker = MAKERS[symbol]
        book = h.ex.book(symbol)
        for oid in self.quotes[symbol]:
            if oid in book.orders:
                self.submit(CancelOrder(0, maker, symbol, oid))
        self.quotes[symbol] = []
        mark = self.marks[symbol]
        unit = 20 if symbol == "BTCUSDT" else 300  # ~1,000 USDT a level
        levels = rng.randint(1, 2) if thin else rng.randint(2, 6)
        for side in (BUY, SELL):
            px = mark
            for _ in range(levels):
                px += (-1 if side == BUY else 1) * max(1, mark * rng.randint(5, 80) // 10_000)
                if px <= 0:
                    break
                lots = rng.randint(1, unit if not thin else unit // 5)
                ev = self.submit(NewOrder(0, maker, symbol, side, lots, px, LIMIT, GTC))
                self.quotes[symbol].extend(e.order_id for e in ev if type(e).__name__ == "OrderAccepted")

    def trader_order(self) -> None:
        rng, h = self.rng, self.h
        a = rng.randint(1, N_TRADERS)
        symbol = rng.choice(list(MAKERS))
        acct = h.ledger.accounts[a]
        mark = self.marks[symbol]
        inst = h.ex.markets[symbol].instrument
        lev = self.leverage[(a, symbol)]
        budget = max(acct.wallet_atoms, 10 * USDT) * lev * rng.uniform(0.05, 0.7)
        lots = max(1, int(budget // (mark * inst.atoms_per_tick_lot)))
        side = rng.choice((BUY, SELL))
        pside = BOTH
        reduce_only = False
        if a in self.hedge:
            pside = rng.choice((LONG, SHORT))
            pos = acct.positions.get((symbol, pside))
            closing = (pside == LONG) == (side == SELL)
            if closing:
                if pos is None:
                    return
                lots = rng.randint(1, abs(pos.qty_lots))
        else:
            pos = acct.positions.get((symbol, BOTH))
            if pos is not None and rng.random() < 0.3:  # a reduce-only close, in part or in full
                side = SELL if pos.qty_lots > 0 else BUY
                lots = rng.randint(1, abs(pos.qty_lots))
                reduce_only = True
        r = rng.random()
        if r < 0.2:
            cmd = NewOrder(0, a, symbol, side, lots, 0, MARKET, IOC, None, reduce_only, 0, 0, pside)
        elif r < 0.3 and pos is not None and pside == BOTH:
            # a reduce-only stop on the mark, away from it on the losing side
            side = SELL if pos.qty_lots > 0 else BUY
            trig = mark * (97 if side == SELL else 103) // 100
            cmd = NewOrder(0, a, symbol, side, abs(pos.qty_lots), 0, STOP_MARKET, GTC, None, True, trig, TRIGGER_MARK, BOTH)
        else:
            offset = mark * rng.randint(-60, 60) // 10_000
            px = max(1, mark + (offset if side == BUY else -offset))
            tif = rng.choice((GTC, GTC, IOC))
            cmd = NewOrder(0, a, symbol, side, lots, px, LIMIT, tif, None, reduce_only, 0, 0, pside)
        self.submit(cmd)

    def trader_cancel(self) -> None:
        rng, h = self.rng, self.h
        acct = h.ledger.accounts[rng.randint(1, N_TRADERS)]
        if acct.order_ids:
            oid = rng.choice(list(acct.order_ids))
            self.submit(CancelOrder(0, acct.account_id, acct.order_ids[oid], oid))

    def account_move(self) -> None:
        rng, h = self.rng, self.h
        a = rng.randint(1, N_TRADERS)
        acct = h.ledger.accounts[a]
        r = rng.random()
        if r < 0.4:
            self.submit(Deposit(0, a, rng.randint(10, 500) * USDT))
        elif r < 0.8:
            isolated = [p for p in acct.positions.values() if p.isolated]
            if isolated:
                p = rng.choice(isolated)
                delta = rng.choice((1, -1)) * rng.randint(1, 200) * USDT
                self.submit(AdjustIsolatedMargin(0, a, p.symbol, p.position_side, delta))
        else:
            symbol = rng.choice(list(MAKERS))
            lev = rng.randint(2, 50)
            events = self.submit(SetLeverage(0, a, symbol, lev))
            if not any(type(e).__name__ == "CommandRejected" for e in events):
                self.leverage[(a, symbol)] = lev

    def mark_move(self) -> None:
        rng = self.rng
        symbol = rng.choice(list(MAKERS))
        mark = self.marks[symbol]
        r = rng.random()
        thin = False
        if r < 0.03:
            factor = rng.uniform(0.7, 0.92)  # crash
            thin = True
        elif r < 0.06:
            factor = rng.uniform(1.08, 1.3)  # spike
            thin = True
        else:
            factor = 1 + rng.gauss(0, 0.006)
        new = int(mark * factor)
        lo, hi = START[symbol] // 3, START[symbol] * 3
        new = min(max(new, lo), hi)
        if thin:  # the book empties before the move; thin quotes come back after it
            for oid in self.quotes[symbol]:
                if oid in self.h.ex.book(symbol).orders:
                    self.submit(CancelOrder(0, MAKERS[symbol], symbol, oid))
            self.quotes[symbol] = []
        self.marks[symbol] = new
        self.submit(SetMarkPrice(0, symbol, new * self.h.ex.markets[symbol].instrument.subticks_per_tick))
        naive_scan(self.h)
        if thin or rng.random() < 0.5:
            self.requote(symbol, thin=thin)

    def replayed_level(self) -> None:
        rng = self.rng
        symbol = rng.choice(list(MAKERS))
        mark = self.marks[symbol]
        side = rng.choice((BUY, SELL))
        px = mark + (-1 if side == BUY else 1) * mark * rng.randint(20, 300) // 10_000
        self.submit(SetReplayedLevel(0, symbol, side, max(1, px), rng.randint(0, 30)))

    def run(self, steps: int = N_STEPS) -> None:
        actions = [(0.45, self.trader_order), (0.6, self.trader_cancel), (0.68, self.account_move), (1.0, self.mark_move)]
        for _ in range(steps):
            r = self.rng.random()
            if self.replayed and r < 0.05:
                self.replayed_level()
                continue
            for cut, action in actions:
                if r < cut:
                    action()
                    break


def run_world(world: World) -> None:
    world.run()
    assert world.liquidations > 20 and world.cross_liquidations > 5  # the run did exercise liquidations
    for acct in world.h.ledger.accounts.values():
        assert acct.wallet_atoms >= 0


@pytest.mark.parametrize("seed", [1, 2, 3])
class TestRandomStress:
    def test_invariants_hold_through_crashes(self, seed: int) -> None:
        """Thin fund (0 to 100,000 USDT), replayed levels too: every invariant after every command."""
        run_world(World(seed))

    def test_invariants_hold_with_a_deep_fund(self, seed: int) -> None:
        """A fund that absorbs every takeover (no ADL): every invariant after every command."""
        run_world(World(seed, fund=10**9 * USDT))
