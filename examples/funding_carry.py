"""Funding carry: hold the side that receives funding, and leave when the rate turns.

It trades ``symbol`` (default: the run's first). At each funding settlement the strategy
reads the rate just settled (the ``on_funding_rate`` hook): a positive rate is paid by longs to
shorts, a negative one by shorts to longs. When flat, it opens a position of ``notional``
USDT (default 1,000, at the best price, rounded down to whole lots; or ``qty`` in the base
asset) on the side that received the last rate, at ``leverage`` (default 2x) — when the
rate's size is at least ``min_rate`` (a fraction per funding interval, default 0.00005).
When a settled rate is on the other side (the position paid), it closes the position with
a reduce-only market order and, unless ``once=false``, stops; with ``once=false`` it
waits for the next rate and goes again. The story shows each entry, the funding received
and the exit.

    exsim replay XRP_USDT_USDT-5m-futures.feather XRP_USDT_USDT-8h-funding_rate.feather \\
        --strategy funding_carry --param notional=500
"""

from __future__ import annotations

from typing import Any

from exsim.replay import Context, OrderHandle, Strategy
from exsim.replay.strategy import usdt
from exsim.units import floor_div, to_atoms, to_rate_e8


class FundingCarry(Strategy):
    def __init__(
        self,
        symbol: str | None = None,
        notional: str = "1000",
        qty: str | None = None,
        leverage: int | str = 2,
        min_rate: str = "0.00005",
        once: bool | str = True,
    ) -> None:
        self.symbol: str = symbol or ""  # "" until on_start: the run's first symbol
        self.notional_atoms = to_atoms(notional, field="notional", where="funding_carry")
        self.qty = qty
        self.leverage = int(leverage)
        self.min_rate_e8 = to_rate_e8(min_rate, field="min_rate", where="funding_carry")
        if str(once).lower() not in ("true", "false"):
            raise ValueError(f"once must be true or false, not {once!r}")
        self.once = str(once).lower() == "true"
        self.side = ""  # "buy" (long) / "sell" (short) while held
        self.order: OrderHandle | None = None
        self.received_atoms = 0
        self.exits = 0
        self.done = False

    def on_start(self, ctx: Context) -> None:
        self.symbol = self.symbol or ctx.default_symbol
        ctx.set_leverage(self.symbol, self.leverage)

    def on_funding_rate(self, ctx: Context, settled: Any) -> None:
        if settled.symbol != self.symbol:
            return
        rate_e8 = settled.rate_e8
        receiving = "sell" if rate_e8 > 0 else "buy"  # shorts receive a positive rate
        pos = ctx.position(self.symbol)
        if pos is not None and self.side and receiving != self.side and rate_e8:
            self.order = ctx.order(self.symbol, "sell" if self.side == "buy" else "buy", abs(pos.qty_lots), reduce_only=True)
            self.exits += 1
            ctx.note(f"funding_carry: the rate turned to {ctx.funding_rate(self.symbol)}: closing the {pos.side}")
            self.side = ""
            self.done = self.once
            return
        if pos is None and not self.done and abs(rate_e8) >= self.min_rate_e8 and (self.order is None or self.order.is_done):
            bid, ask = ctx.best_bid(self.symbol), ctx.best_ask(self.symbol)
            if bid is None or ask is None:
                return
            inst = ctx.instrument(self.symbol)
            price = bid if receiving == "sell" else ask
            lots = ctx.qty_lots(self.symbol, self.qty) if self.qty is not None else max(
                inst.min_qty_lots, floor_div(self.notional_atoms, price * inst.atoms_per_tick_lot)
            )
            self.order = ctx.order(self.symbol, receiving, lots)
            self.side = receiving
            ctx.note(
                f"funding_carry: rate {ctx.funding_rate(self.symbol)}: going {'short' if receiving == 'sell' else 'long'} "
                f"{ctx.qty(self.symbol, lots)} {self.symbol}"
            )

    def on_funding(self, ctx: Context, payment: Any) -> None:
        self.received_atoms += payment.amount_atoms

    def on_end(self, ctx: Context) -> None:
        held = ctx.position(self.symbol)
        ctx.note(
            f"funding_carry: {usdt(self.received_atoms)} USDT of funding received, {self.exits} exit(s) on a turned rate"
            + (f"; still {held.side} {abs(held.qty)} at the end" if held is not None else "")
        )
