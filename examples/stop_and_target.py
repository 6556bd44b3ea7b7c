"""A leveraged long with a stop-loss and a take-profit, placed as one bracket.

It trades ``symbol`` (default: the run's first) at ``leverage`` (default 20x) and
``margin_mode`` (default isolated; the command line's ``--leverage`` / ``--margin-mode``
win). Once the book has two sides (and ``enter_after_s`` seconds
have passed) it sends one bracket: a market buy of ``qty`` (base asset) or ``notional``
(USDT at the best ask, rounded down to whole lots; default 1,000), with a stop-market
``stop`` below and a take-profit-market ``take_profit`` above the price it entered at
(both fractions of that price, default 0.01 and 0.02, rounded to whole ticks away from
it), both watching the **mark** price (Binance ``workingType=MARK_PRICE``: a wick of
the last price does not stop it out). The venue places the exits when the entry fills,
reduce-only and one-cancels-the-other; the story says how the trade ended — stop,
take-profit, liquidation, or still open at the end.

    exsim replay replays/btc-perp-20220121-1m.csv --strategy stop_and_target \\
        --param stop=0.01 --param take_profit=0.02 --param notional=2000
"""

from __future__ import annotations

from typing import Any

from exsim.replay import BracketHandle, Context, OwnFill, Strategy
from exsim.units import RATE_SCALE, floor_div, mul_div_ceil, mul_div_floor, to_atoms, to_rate_e8


class StopAndTarget(Strategy):
    def __init__(
        self,
        symbol: str | None = None,
        qty: str | None = None,
        notional: str = "1000",
        leverage: int | str = 20,
        margin_mode: str = "isolated",
        stop: str = "0.01",
        take_profit: str = "0.02",
        enter_after_s: int | str = 0,
    ) -> None:
        self.symbol: str = symbol or ""  # "" until on_start: the run's first symbol
        self.qty = qty
        self.notional_atoms = to_atoms(notional, field="notional", where="stop_and_target")
        self.leverage = int(leverage)
        self.margin_mode = margin_mode
        self.stop_e8 = to_rate_e8(stop, field="stop", where="stop_and_target")
        self.take_profit_e8 = to_rate_e8(take_profit, field="take_profit", where="stop_and_target")
        if not 0 < self.stop_e8 < RATE_SCALE or self.take_profit_e8 <= 0:
            raise ValueError("stop must be in (0, 1) and take_profit > 0 (fractions of the entry price)")
        self.enter_after_ns = int(enter_after_s) * 1_000_000_000
        self.start_ns = 0
        self.trade: BracketHandle | None = None
        self.ended = ""  # how the trade ended: "stop", "take-profit", "liquidation"

    def on_start(self, ctx: Context) -> None:
        self.symbol = self.symbol or ctx.default_symbol
        self.start_ns = ctx.now_ns
        ctx.set_margin_mode(self.symbol, self.margin_mode)
        ctx.set_leverage(self.symbol, self.leverage)
        self.entry_timer = ctx.call_every(100_000_000, "enter")  # look every 100 ms until in

    def on_timer(self, ctx: Context, name: str) -> None:
        ask = ctx.best_ask(self.symbol)
        if self.trade is not None or ask is None or ctx.best_bid(self.symbol) is None:
            return
        if ctx.now_ns < self.start_ns + self.enter_after_ns:
            return
        inst = ctx.instrument(self.symbol)
        if self.qty is not None:
            lots = ctx.qty_lots(self.symbol, self.qty)
        else:
            lots = max(inst.min_qty_lots, floor_div(self.notional_atoms, ask * inst.atoms_per_tick_lot))
        # the levels, in whole ticks at the chosen distance from the ask (rounded away from it)
        stop = mul_div_floor(ask, RATE_SCALE - self.stop_e8, RATE_SCALE)
        target = mul_div_ceil(ask, RATE_SCALE + self.take_profit_e8, RATE_SCALE)
        self.trade = ctx.bracket(self.symbol, "buy", lots, None, stop=stop, take_profit=target, trigger="mark")
        self.entry_timer.cancel()
        ctx.note(
            f"stop_and_target: market buy {ctx.qty(self.symbol, lots)} {self.symbol} at {ctx.leverage(self.symbol)}x, "
            f"stop {ctx.price(self.symbol, stop)} / take-profit {ctx.price(self.symbol, target)} on the mark"
        )

    def on_fill(self, ctx: Context, fill: OwnFill) -> None:
        trade = self.trade
        if trade is None or fill.handle is None:
            return
        if fill.handle is trade.entry and trade.entry.status == "filled":
            lp = ctx.liquidation_price(self.symbol)
            ctx.note(f"stop_and_target: long {trade.entry.filled} from {trade.entry.avg_fill_price}; liquidation price {lp or 'none'}")
        elif fill.handle.status == "filled" and fill.handle in trade.exits:
            self.ended = "stop" if fill.handle is trade.stop else "take-profit"
            ctx.note(f"stop_and_target: {self.ended} filled at {fill.handle.avg_fill_price}; wallet {ctx.balance()} USDT")

    def on_liquidation(self, ctx: Context, liquidation: Any) -> None:
        self.ended = "liquidation"
        ctx.note(f"stop_and_target: liquidated — {liquidation.explanation}")

    def on_end(self, ctx: Context) -> None:
        pos = ctx.position(self.symbol)
        if pos is not None:
            ctx.note(f"stop_and_target: still long {pos.qty} at the end, unrealized PnL {pos.upnl} USDT")
