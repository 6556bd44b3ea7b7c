"""A leveraged directional holder: open one position with a market order, then hold it.

It trades ``symbol`` (default: the run's first symbol). At the start it sets ``leverage``
and ``margin_mode`` when given (default: the run's — ``--leverage`` / ``--margin-mode``,
else the venue's 20x cross). It waits until ``enter_after_s`` seconds into the replay (and
a two-sided book), sends one market order and never touches the position again: the
venue's margin rules decide how it ends. The size is ``qty`` (base asset, e.g. ``0.4``
BTC), or ``notional`` (USDT, at the best price, rounded down to whole lots), or by default
``margin_fraction`` (0.1) of the equity as initial margin at the leverage in force — sizes
that fit any symbol. Each step goes into the run's story (``ctx.note``), including the
liquidation price right after the entry and the explanation of a liquidation.

    exsim replay replays/binance-usdm-btcusdt-20240808.gz --strategy holder \\
        --param side=long --param qty=0.4 --leverage 125 --margin-mode isolated
"""

from __future__ import annotations

from typing import Any

from exsim.exchange import OrderRejected
from exsim.replay import Context, OrderHandle, OwnFill, Strategy
from exsim.units import floor_div, parse_decimal, to_atoms


class Holder(Strategy):
    def __init__(
        self,
        symbol: str | None = None,
        side: str = "long",
        qty: str | None = None,
        leverage: int | str | None = None,
        margin_mode: str | None = None,
        enter_after_s: int | str = 0,
        notional: str | None = None,
        margin_fraction: str = "0.1",
    ) -> None:
        if side not in ("long", "short"):
            raise ValueError(f"side must be 'long' or 'short', not {side!r}")
        if qty is not None and notional is not None:
            raise ValueError("give qty or notional, not both")
        fraction = parse_decimal(margin_fraction, field="margin_fraction", where="holder")
        if not 0 < fraction <= 1:
            raise ValueError(f"margin_fraction must be in (0, 1], not {margin_fraction!r}")
        self.symbol: str = symbol or ""  # "" until on_start: the run's first symbol
        self.side = "buy" if side == "long" else "sell"
        self.qty = qty
        self.notional = notional
        self.margin_fraction = margin_fraction
        self.leverage = int(leverage) if leverage is not None else None
        self.margin_mode = margin_mode
        self.enter_after_ns = int(enter_after_s) * 1_000_000_000
        self.start_ns = 0
        self.state = "waiting"  # -> ordered -> holding (-> liquidated)
        self.entry: OrderHandle | None = None
        self.lp_subticks: int | None = None  # liquidation price, 1e-8 of the quote asset
        self.worst_mark: tuple[int, int] | None = None  # (ticks, ts) furthest against us
        self.worst_last: tuple[int, int] | None = None

    def on_start(self, ctx: Context) -> None:
        self.start_ns = ctx.now_ns
        self.symbol = self.symbol or ctx.default_symbol
        if self.margin_mode is not None:
            ctx.set_margin_mode(self.symbol, self.margin_mode)
        if self.leverage is not None:
            ctx.set_leverage(self.symbol, self.leverage)
        self.entry_timer = ctx.call_every(100_000_000, "try-entry")  # look every 100 ms until in

    def on_timer(self, ctx: Context, name: str) -> None:
        if self.state != "waiting" or ctx.now_ns < self.start_ns + self.enter_after_ns:
            return
        bid, ask = ctx.best_bid(self.symbol), ctx.best_ask(self.symbol)
        if bid is None or ask is None:
            return
        self.state = "ordered"
        qty_lots = self._qty_lots(ctx, ask if self.side == "buy" else bid)
        self.entry = ctx.order(self.symbol, self.side, qty_lots)  # no price: a market order
        qty = self.qty if self.qty is not None else ctx.instrument(self.symbol).qty_str(qty_lots)
        ctx.note(
            f"holder: market {self.side} {qty} {self.symbol} at "
            f"{ctx.leverage(self.symbol)}x {ctx.margin_mode(self.symbol)}"
        )

    def _qty_lots(self, ctx: Context, price_ticks: int) -> int:
        """The order's size: ``qty`` exactly, else a notional in the margin asset at ``price_ticks``
        (``notional``, or ``margin_fraction`` of the equity times the leverage in force),
        rounded down to whole lots (at least one)."""
        if self.qty is not None:
            return ctx.qty_lots(self.symbol, self.qty)
        inst = ctx.instrument(self.symbol)
        if self.notional is not None:
            notional_atoms = to_atoms(self.notional, field="notional", where="holder")
        else:
            fraction = parse_decimal(self.margin_fraction, field="margin_fraction", where="holder")
            num, den = fraction.as_integer_ratio()
            margin_atoms = floor_div(ctx.equity_atoms() * num, den)
            notional_atoms = margin_atoms * ctx.leverage(self.symbol)
        # (one lot's value at the price, in the margin asset: exact for a linear contract, the
        # floored coin value of a contract for an inverse one)
        return max(inst.min_qty_lots, floor_div(notional_atoms, max(1, inst.fill_value_atoms(price_ticks, 1))))

    def on_order(self, ctx: Context, event: Any) -> None:
        if type(event) is OrderRejected:
            ctx.note(f"holder: order rejected ({event.reason})")
            self.state = "waiting"

    def on_fill(self, ctx: Context, fill: OwnFill) -> None:
        if self.state == "ordered" and fill.handle is self.entry and self.entry is not None and self.entry.status == "filled":
            self.state = "holding"
            self.entry_timer.cancel()
            pos = ctx.position(self.symbol)
            lp = self.lp_subticks = ctx.liquidation_price_subticks(self.symbol)
            if pos is not None:
                # the exact average entry (a Fraction of ticks) shown to 1e-8, as marks are
                entry = round(pos.entry_price_ticks * ctx.instrument(self.symbol).subticks_per_tick)
                ctx.note(
                    f"holder: holding {ctx.instrument(self.symbol).qty_str(pos.qty_lots)} from "
                    f"{ctx.mark_str(self.symbol, entry)}; "
                    f"liquidation price {ctx.mark_str(self.symbol, lp) if lp else 'none'}"
                )

    def on_mark(self, ctx: Context, mark: Any) -> None:
        if self.state == "holding" and mark.symbol == self.symbol:  # (a run may hold other symbols)
            self.worst_mark = self._worse(self.worst_mark, mark.mark_price_subticks, mark.ts_ns)

    def on_trade(self, ctx: Context, trade: Any) -> None:
        if self.state == "holding" and trade.symbol == self.symbol:
            # in subticks, like the mark and the liquidation price it is compared with
            per_tick = ctx.instrument(self.symbol).subticks_per_tick
            self.worst_last = self._worse(self.worst_last, trade.price_ticks * per_tick, trade.ts_ns)

    def _worse(self, worst: tuple[int, int] | None, price: int, ts: int) -> tuple[int, int]:
        """The price furthest against the position so far (lowest for a long)."""
        if worst is None or (price < worst[0] if self.side == "buy" else price > worst[0]):
            return (price, ts)
        return worst

    def on_liquidation(self, ctx: Context, liquidation: Any) -> None:
        self.state = "liquidated"
        ctx.note(f"holder: liquidated — {liquidation.explanation}")

    def on_end(self, ctx: Context) -> None:
        if self.state != "holding" or self.lp_subticks is None or self.worst_mark is None:
            return
        px = ctx.mark_str  # mark, liquidation and (converted) last prices are all subticks
        gap = abs(self.worst_mark[0] - self.lp_subticks)
        line = (
            f"holder: survived — the mark came within {px(self.symbol, gap)} of the liquidation price "
            f"{px(self.symbol, self.lp_subticks)} (worst mark {px(self.symbol, self.worst_mark[0])})"
        )
        if self.worst_last is not None:
            touched = self.worst_last[0] <= self.lp_subticks if self.side == "buy" else self.worst_last[0] >= self.lp_subticks
            line += f"; the last price reached {px(self.symbol, self.worst_last[0])}" + (
                ", at or through it: venues liquidate on the mark, not the last trade" if touched else ""
            )
        ctx.note(line)
