"""A grid: resting buys under and sells over the starting price, each fill re-armed.

It trades ``symbol`` (default: the run's first). At the first two-sided book it places
``levels`` buy limits ``step_ticks`` apart under the mid and ``levels`` sell limits over
it, each of ``notional`` USDT at that mid (default 500, rounded down to whole lots) or of
``qty`` in the base asset. When a buy fills, a sell goes one
step above its price; when a sell fills, a buy goes one step below. It profits from
oscillation and accumulates a position in a trend — with leverage, a trend can liquidate
it, which is what the grid is here to show.

    exsim replay replays/binance-usdm-btcusdt-20240808.gz --strategy grid \\
        --param levels=5 --param step_ticks=100 --param notional=500 --leverage 50
"""

from __future__ import annotations

from typing import Any

from exsim.replay import Context, OwnFill, Strategy
from exsim.units import floor_div, to_atoms


class Grid(Strategy):
    def __init__(
        self,
        symbol: str | None = None,
        levels: int | str = 5,
        step_ticks: int | str = 100,
        qty: str | None = None,
        notional: str = "500",
    ) -> None:
        self.symbol: str = symbol or ""  # "" until on_start: the run's first symbol
        self.levels = int(levels)
        self.step_ticks = int(step_ticks)
        self.qty = qty
        self.notional_atoms = to_atoms(notional, field="notional", where="grid")
        self.placed = False
        self.rearmed = 0

    def on_book(self, ctx: Context, level: Any) -> None:
        self._place(ctx)

    def on_trade(self, ctx: Context, trade: Any) -> None:
        self._place(ctx)

    def _place(self, ctx: Context) -> None:
        if self.placed:
            return
        self.symbol = self.symbol or ctx.default_symbol  # (market data may come before on_start)
        bid, ask = ctx.best_bid(self.symbol), ctx.best_ask(self.symbol)
        if bid is None or ask is None:
            return
        self.placed = True
        if self.qty is not None:
            lots = ctx.qty_lots(self.symbol, self.qty)
        else:  # the notional at the mid, in whole lots (rounded down; one lot at least)
            inst = ctx.instrument(self.symbol)
            lots = max(inst.min_qty_lots, floor_div(self.notional_atoms, floor_div(bid + ask, 2) * inst.atoms_per_tick_lot))
        half = floor_div(self.step_ticks, 2)  # the first rung half a step from the touch
        for k in range(1, self.levels + 1):
            ctx.buy(self.symbol, lots, bid - (k - 1) * self.step_ticks - half, post_only=True)
            ctx.sell(self.symbol, lots, ask + (k - 1) * self.step_ticks + half, post_only=True)
        ctx.note(f"grid: {self.levels} buys under {ctx.price_str(self.symbol, bid)}, {self.levels} sells over {ctx.price_str(self.symbol, ask)}")

    def on_fill(self, ctx: Context, fill: OwnFill) -> None:
        if fill.side_name == "buy":
            ctx.sell(self.symbol, fill.qty_lots, fill.price_ticks + self.step_ticks, post_only=True)
        else:
            ctx.buy(self.symbol, fill.qty_lots, fill.price_ticks - self.step_ticks, post_only=True)
        self.rearmed += 1
