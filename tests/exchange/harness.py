"""Shared test harness: an Exchange with a MemorySink, checked after every command.

Prices in the tests are BTCUSDT ticks around ``P = 600_000`` (60000.0 USDT); sizes are
lots of 0.001 BTC, so one lot at ``P`` is 60 USDT of notional and two lots clear the
100 USDT minimum. BTCUSDT has ``atoms_per_tick_lot = 10_000``, so by hand:
notional = px * lots * 10_000 atoms, taker fee = ceil(notional * 50_000 / 1e8)
= px * lots * 5 atoms, maker fee = ceil(notional * 20_000 / 1e8) = px * lots * 2 atoms.
"""

from __future__ import annotations

from typing import Any

import attrs

from exsim.book.orders import BUY, GTC, LIMIT, MARKET, SELL, TRIGGER_LAST
from exsim.exchange import (
    AmendOrder,
    CancelOrder,
    Exchange,
    NewOrder,
    ReplayedTrade,
    SetMarkPrice,
    SetReplayedLevel,
    SetSelfTradePrevention,
)
from exsim.instruments import Instrument, get_instrument
from exsim.sinks import MemorySink

SYM = "BTCUSDT"
BTC = get_instrument(SYM)
ETH = get_instrument("ETHUSDT")
P = 600_000  # 60000.0 USDT in BTCUSDT ticks
ALICE, BOB, CAROL, DAVE = 1, 2, 3, 4


def taker_fee(px: int, lots: int) -> int:
    """BTCUSDT taker fee in atoms: ceil(px * lots * 10_000 * 50_000 / 1e8) = px * lots * 5."""
    return px * lots * 5


def maker_fee(px: int, lots: int) -> int:
    """BTCUSDT maker fee in atoms: ceil(px * lots * 10_000 * 20_000 / 1e8) = px * lots * 2."""
    return px * lots * 2


class Harness:
    """An exchange, its sink, a clock; every command is followed by ``Exchange._check()``.

    Each helper submits one command at the next timestamp (``self.ts``, one ns later than
    the previous command) and returns the events that command produced.
    """

    def __init__(self, *instruments: Instrument, **kwargs: Any) -> None:
        self.sink = MemorySink()
        self.ex = Exchange(instruments or (BTC,), sinks=[self.sink], **kwargs)
        self.ts = 0
        self.check()

    def check(self) -> None:
        """What is checked after every command (subclasses check more)."""
        self.ex._check()

    def submit(self, command: Any) -> list[Any]:
        """Submit ``command`` (its ``ts_ns`` replaced by the next tick of the clock), then check."""
        self.ts += 1
        start = len(self.sink.events)
        self.ex.submit(command._replace(ts_ns=self.ts))
        self.check()
        return self.sink.events[start:]

    # -- orders
    def new(
        self,
        account: int,
        side: int,
        qty: int,
        price: int = 0,
        *,
        symbol: str = SYM,
        order_type: int | None = None,
        tif: int = GTC,
        coid: str | None = None,
        trigger: int = 0,
        trigger_by: int = TRIGGER_LAST,
        reduce_only: bool = False,
        pside: int = 0,
    ) -> list[Any]:
        """A new order; the type defaults to LIMIT with a price, MARKET without."""
        if order_type is None:
            order_type = LIMIT if price else MARKET
        return self.submit(
            NewOrder(0, account, symbol, side, qty, price, order_type, tif, coid, reduce_only, trigger, trigger_by, pside)
        )

    def cancel(self, account: int, order_id: int, symbol: str = SYM) -> list[Any]:
        return self.submit(CancelOrder(0, account, symbol, order_id))

    def amend(self, account: int, order_id: int, price: int, qty: int, symbol: str = SYM) -> list[Any]:
        return self.submit(AmendOrder(0, account, symbol, order_id, price, qty))

    def stp(self, account: int, mode: int) -> list[Any]:
        return self.submit(SetSelfTradePrevention(0, account, mode))

    # -- market data
    def level(self, side: int, price: int, lots: int, symbol: str = SYM) -> list[Any]:
        return self.submit(SetReplayedLevel(0, symbol, side, price, lots))

    def tape(self, aggressor_side: int, price: int, qty: int, symbol: str = SYM) -> list[Any]:
        return self.submit(ReplayedTrade(0, symbol, aggressor_side, price, qty))

    def mark(self, price: int, symbol: str = SYM) -> list[Any]:
        """A mark on the tick ``price`` (ticks; sent in subticks)."""
        return self.mark_subticks(price * self.ex.markets[symbol].instrument.subticks_per_tick, symbol)

    def mark_subticks(self, price: int, symbol: str = SYM) -> list[Any]:
        """A mark at ``price`` subticks (1e-8 USDT): finer than the tick, as venues publish it."""
        return self.submit(SetMarkPrice(0, symbol, price))

    # -- views
    def depth(self, side: int, symbol: str = SYM) -> list[tuple[int, int]]:
        return self.ex.book(symbol).depth(side, 1_000)

    def queue(self, side: int, price: int, symbol: str = SYM) -> list[tuple[int, int]]:
        """Live entries of one level in queue order as ``(order id, 0 for replayed size; leaves)``."""
        for lv in self.ex.book(symbol).levels(side):
            if lv.price_ticks == price:
                return [(o.order_id, o.leaves_lots) for o in lv.live()]
        return []


def btc(**changes: Any) -> Instrument:
    """BTCUSDT with some spec fields changed (``min_notional_atoms=0`` for tiny orders)."""
    return attrs.evolve(BTC, **changes)


__all__ = [
    "ALICE",
    "BOB",
    "BTC",
    "BUY",
    "CAROL",
    "DAVE",
    "ETH",
    "Harness",
    "P",
    "SELL",
    "SYM",
    "btc",
    "maker_fee",
    "taker_fee",
]
