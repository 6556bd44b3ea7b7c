"""Partial liquidation (Binance-style, per instrument): first reduce to the bracket below."""

from __future__ import annotations

from typing import Any

import attrs

from exsim.book.orders import BUY, IOC, LIMIT, MARKET, SELL
from exsim.exchange import (
    CancelOrder,
    Deposit,
    Exchange,
    Liquidation,
    NewOrder,
    OrderAccepted,
    SetLeverage,
    SetMarginMode,
    SetMarkPrice,
)
from exsim.instruments import get_instrument
from exsim.ledger import ISOLATED, Ledger

USDT = 10**8


class Run:
    """A BTCUSDT exchange (partial liquidation on) with a market maker re-quoting at the mark."""

    def __init__(self, partial: bool) -> None:
        self.inst = attrs.evolve(get_instrument("BTCUSDT"), partial_liquidation=partial)
        self.ledger = Ledger([self.inst])
        self.events: list[Any] = []
        self.ex = Exchange([self.inst], sinks=[self.events.extend], ledger=self.ledger)
        self.ts = 0
        self.bid_id = 0

    def do(self, cmd: Any) -> list[Any]:
        start = len(self.events)
        self.ex.submit(cmd)
        self.ex._check()
        self.ledger._check()
        return self.events[start:]

    def open_long(self) -> None:
        """Account 1: isolated 20x long of 2 BTC at 60,000 (120,000 notional: bracket 2)."""
        self.do(Deposit(0, 1, 100_000 * USDT))
        self.do(Deposit(0, 2, 10_000_000 * USDT))
        self.do(SetMarginMode(0, 1, "BTCUSDT", ISOLATED))
        self.do(SetLeverage(0, 1, "BTCUSDT", 20))
        self.do(SetMarkPrice(0, "BTCUSDT", 600_000 * self.inst.subticks_per_tick))
        self.do(NewOrder(1, 2, "BTCUSDT", SELL, 2_000, 600_000, LIMIT))
        self.do(NewOrder(2, 1, "BTCUSDT", BUY, 2_000, 0, MARKET, IOC))

    def mark(self, mark_ticks: int) -> list[Any]:
        """Move the bid one tick under the new mark, then the mark."""
        self.ts += 1
        if self.bid_id:
            self.do(CancelOrder(self.ts, 2, "BTCUSDT", self.bid_id))
        out = self.do(NewOrder(self.ts, 2, "BTCUSDT", BUY, 5_000, mark_ticks - 1, LIMIT))
        self.bid_id = next(e.order_id for e in out if type(e) is OrderAccepted)
        return self.do(SetMarkPrice(self.ts, "BTCUSDT", mark_ticks * self.inst.subticks_per_tick))

    def walk_down(self, until_liquidations: int) -> list[Liquidation]:
        liqs: list[Liquidation] = []
        for m in range(600_000, 400_000, -100):
            liqs += [e for e in self.mark(m) if type(e) is Liquidation]
            if len(liqs) >= until_liquidations:
                break
        return liqs


class TestPartialLiquidation:
    def test_first_reduces_to_the_bracket_below_then_survives(self) -> None:
        """The first liquidation only cuts the position under bracket 2's floor (50,000 USDT) and the bucket survives."""
        run = Run(partial=True)
        run.open_long()
        (liq,) = run.walk_down(1)
        assert liq.partial
        pos = run.ledger.accounts[1].positions[("BTCUSDT", 0)]
        mark = liq.positions[0].mark_price_subticks // run.inst.subticks_per_tick  # on the tick here
        # kept lots: the largest size whose notional at the mark is under 50,000 USDT
        keep = (50_000 * USDT - 1) // (mark * run.inst.atoms_per_tick_lot)
        assert pos.qty_lots == keep and liq.positions[0].filled_lots == 2_000 - keep
        assert run.inst.brackets.bracket_for(pos.notional_atoms(mark, run.inst.atoms_per_tick_lot)).bracket == 1
        balance, mm = run.ledger.isolated_margin_balance(pos)
        assert balance > mm
        assert "reduced to a lower bracket" in liq.explanation

    def test_full_liquidation_follows_when_the_fall_goes_on(self) -> None:
        """After the partial cut, a further fall liquidates the rest completely."""
        run = Run(partial=True)
        run.open_long()
        first, second = run.walk_down(2)
        assert first.partial and not second.partial
        assert ("BTCUSDT", 0) not in run.ledger.accounts[1].positions
        assert second.positions[0].qty_lots == first.positions[0].qty_lots - first.positions[0].filled_lots

    def test_partial_liquidation_leaves_the_trader_more_than_a_full_one(self) -> None:
        """At the same trigger mark, the partially liquidated trader's equity is at least the fully liquidated one's wallet."""
        full = Run(partial=False)
        full.open_long()
        (liq_full,) = full.walk_down(1)
        assert not liq_full.partial
        part = Run(partial=True)
        part.open_long()
        part.walk_down(1)
        # the same trigger: both were hit at the same mark; the partial one still holds a position
        assert part.ledger.accounts[1].positions
        wallet_full = full.ledger.accounts[1].wallet_atoms
        pos = part.ledger.accounts[1].positions[("BTCUSDT", 0)]
        balance, _ = part.ledger.isolated_margin_balance(pos)
        assert part.ledger.accounts[1].wallet_atoms + balance >= wallet_full
