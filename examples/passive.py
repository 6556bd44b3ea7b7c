"""A strategy that only posts far from the market and never trades.

It rests one buy 20 % under and one sell 20 % over the first mid it sees of ``symbol``
(default: the run's first), each of the instrument's smallest accepted size (post-only),
and does nothing else. Replayed trades never reach those prices in a calm
window, so the run must end with exactly the deposit: no fill, no fee, no funding (funding
is paid on positions only). The replay tests and benchmarks use it as the "passive
strategy".
"""

from __future__ import annotations

from exsim.replay import Context, Strategy
from exsim.units import ceil_div, floor_div


class Passive(Strategy):
    def __init__(self, symbol: str | None = None, distance_pct: int | str = 20) -> None:
        self.symbol: str = symbol or ""  # "" until on_start: the run's first symbol
        self.distance_pct = int(distance_pct)
        self.posted = False

    def on_book(self, ctx: Context, level: object) -> None:
        self._post(ctx)

    def on_trade(self, ctx: Context, trade: object) -> None:
        self._post(ctx)

    def _post(self, ctx: Context) -> None:
        if self.posted:
            return
        self.symbol = self.symbol or ctx.default_symbol  # (market data may come before on_start)
        bid, ask = ctx.best_bid(self.symbol), ctx.best_ask(self.symbol)
        if bid is None or ask is None:
            return
        self.posted = True
        inst = ctx.instrument(self.symbol)
        lots = inst.min_qty_lots
        mid = floor_div(bid + ask, 2)
        away = floor_div(mid * self.distance_pct, 100)  # a distance chosen here, not a price from data
        for side, price in (("buy", mid - away), ("sell", mid + away)):
            # at least the minimum size and the minimum notional (rounded up: never below it)
            qty = max(lots, ceil_div(inst.min_notional_atoms, price * inst.atoms_per_tick_lot))
            ctx.order(self.symbol, side, qty, price, tif="GTX")  # post-only
