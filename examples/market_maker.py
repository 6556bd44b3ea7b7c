"""A simple market maker: one post-only bid and one post-only ask around the mid.

It quotes ``symbol`` (default: the run's first). Every ``requote_ms`` it re-centres its
quotes ``half_spread_ticks`` either side of the book's mid, skewed against its inventory
(``skew_ticks`` per quote size held), and stops quoting the side that would push the
position past ``max_notional`` USDT (or ``max_position`` in the base asset). A quote's
size is ``notional`` USDT at the first mid (default 1,000, rounded down to whole lots) or
``qty`` in the base asset. Post-only quotes
that would cross are rejected by the venue and simply retried at the next requote.
It earns the spread and the maker fee, and carries inventory risk: with leverage, the
inventory can be liquidated.

    exsim replay replays/binance-usdm-btcusdt-20240808.gz --strategy market_maker \\
        --param notional=500 --param half_spread_ticks=2 --leverage 20
"""

from __future__ import annotations

from typing import Any

from exsim.exchange import OrderRejected
from exsim.replay import Context, OrderHandle, Strategy
from exsim.units import ceil_div, floor_div, to_atoms


class MarketMaker(Strategy):
    def __init__(
        self,
        symbol: str | None = None,
        qty: str | None = None,
        half_spread_ticks: int | str = 2,
        skew_ticks: int | str = 1,
        max_position: str | None = None,
        requote_ms: int | str = 500,
        notional: str = "1000",
        max_notional: str = "5000",
    ) -> None:
        self.symbol: str = symbol or ""  # "" until on_start: the run's first symbol
        self.qty = qty
        self.notional_atoms = to_atoms(notional, field="notional", where="market_maker")
        self.max_notional_atoms = to_atoms(max_notional, field="max_notional", where="market_maker")
        self.half_spread_ticks = int(half_spread_ticks)
        self.skew_ticks = int(skew_ticks)
        self.max_position = max_position
        self.requote_ns = int(requote_ms) * 1_000_000
        self.quotes: dict[str, OrderHandle] = {}  # "buy" / "sell" -> the live quote

    def on_start(self, ctx: Context) -> None:
        self.symbol = self.symbol or ctx.default_symbol
        self.qty_lots = ctx.qty_lots(self.symbol, self.qty) if self.qty is not None else 0
        self.max_lots = ctx.qty_lots(self.symbol, self.max_position) if self.max_position is not None else 0
        ctx.call_every(self.requote_ns, "requote")

    def _sizes(self, ctx: Context, mid_ticks: int) -> None:
        """Sizes given in USDT, in whole lots at the first mid (rounded down; one lot at least)."""
        inst = ctx.instrument(self.symbol)
        per_lot = mid_ticks * inst.atoms_per_tick_lot
        if not self.qty_lots:
            self.qty_lots = max(inst.min_qty_lots, floor_div(self.notional_atoms, per_lot))
        if not self.max_lots:
            self.max_lots = max(self.qty_lots, floor_div(self.max_notional_atoms, per_lot))

    def on_timer(self, ctx: Context, name: str) -> None:
        bid, ask = ctx.best_bid(self.symbol), ctx.best_ask(self.symbol)
        if bid is None or ask is None or any(q.order_id == 0 for q in self.quotes.values()):
            return  # (a quote not yet accepted by the venue: wait for it)
        if not self.qty_lots or not self.max_lots:
            self._sizes(ctx, floor_div(bid + ask, 2))
        pos = ctx.position(self.symbol)
        held = pos.qty_lots if pos is not None else 0
        skew = floor_div(held * self.skew_ticks, self.qty_lots)  # whole ticks of skew per clip held
        mid2 = bid + ask  # twice the mid, to stay in whole ticks
        want = {  # the quotes straddle the mid: bid at or under it, ask at or over it
            "buy": floor_div(mid2, 2) - self.half_spread_ticks - skew,
            "sell": ceil_div(mid2, 2) + self.half_spread_ticks - skew,
        }
        for side, price in want.items():
            too_long = side == "buy" and held + self.qty_lots > self.max_lots
            too_short = side == "sell" and held - self.qty_lots < -self.max_lots
            quote = self.quotes.get(side)
            if too_long or too_short:
                if quote is not None:
                    ctx.cancel(quote)
                    self.quotes.pop(side)
                continue
            if quote is None:
                self.quotes[side] = ctx.order(self.symbol, side, self.qty_lots, price, tif="GTX")  # post-only
            else:
                order = ctx.book(self.symbol).orders.get(quote.order_id)
                if order is not None and order.price_ticks != price:
                    ctx.amend(quote, price=price, qty=self.qty_lots)

    def on_order(self, ctx: Context, event: Any) -> None:
        handle = ctx.handle_of(event)
        if handle is not None and (handle.is_done or type(event) is OrderRejected):
            # done (rejected, cancelled, expired), or an amend refused: the next requote replaces it
            self._forget(handle)

    def on_fill(self, ctx: Context, fill: Any) -> None:
        if fill.handle is not None and fill.handle.is_done:
            self._forget(fill.handle)

    def _forget(self, handle: OrderHandle) -> None:
        for side, quote in list(self.quotes.items()):
            if quote is handle:
                del self.quotes[side]
