"""The strategy API: a class with hooks, and the :class:`Context` it acts through.

Subclass :class:`Strategy` and override the hooks you need (a hook you leave alone costs
nothing: the replay does not even call it)::

    class Holder(Strategy):
        def on_start(self, ctx):
            self.symbol = ctx.default_symbol  # the run's first symbol (or --symbol)
            ctx.set_leverage(self.symbol, 125)
        def on_book(self, ctx, level):
            if not ctx.position(self.symbol) and ctx.best_ask(self.symbol):
                ctx.buy(self.symbol, ctx.qty_lots(self.symbol, "0.5"))

What a strategy sees and when
-----------------------------
A hook runs after the exchange has applied the event it reports, so the book, positions
and margin read through the context include it; nothing later has happened yet. Orders
and settings a hook sends arrive at the exchange ``latency_ns`` later (a run parameter):
at the same timestamp with zero latency, after that timestamp's market data. Prices are
int ticks and sizes int lots of the instrument (``ctx.price_ticks("BTCUSDT", "61000.5")``
and ``ctx.qty_lots(...)`` convert exactly, and refuse off-grid text); money is int atoms
(1e-8 USDT). Mark and liquidation prices are finer than the tick (the venue computes
them): they are int **subticks** (1e-8 of the quote asset), ``ctx.mark_price(symbol)`` is
the exact ``Decimal`` and ``ctx.mark_price_ticks(symbol, "down" | "up" | "nearest")`` rounds
the mark to the tick grid in a direction you name (to place an order at it).

Hooks: ``on_start(ctx)``, ``on_trade(ctx, trade)`` (a replayed print:
:class:`~exsim.exchange.ReplayedTrade`), ``on_book(ctx, update)`` (a venue book update:
:class:`~exsim.exchange.SetReplayedLevels`, its ``levels`` as ``(side, price_ticks,
lots)``; synthetic liquidity is not reported), ``on_mark(ctx, mark)``
(:class:`~exsim.exchange.MarkPriceUpdated`), ``on_fill(ctx, fill)`` (:class:`OwnFill`),
``on_order(ctx, event)`` (accepted, rejected, cancelled, expired, amended, triggered),
``on_liquidation(ctx, liquidation)`` (:class:`~exsim.exchange.Liquidation`),
``on_funding(ctx, payment)`` (:class:`~exsim.exchange.FundingPaid`),
``on_timer(ctx, name)`` and ``on_end(ctx)``.

Settings: the command line wins
-------------------------------
Leverage and margin mode given on the command line (``--leverage``, ``--margin-mode``;
:class:`~exsim.replay.ReplayConfig`) are set on every symbol before ``on_start`` and stay
for the whole run: a strategy's :meth:`Context.set_leverage` / :meth:`Context.set_margin_mode`
asking for another value is not sent, and the run's story gets a warning naming both
values and the one in force (once per symbol and value). Without them, the strategy's
settings go to the venue (which may refuse them: a note says so), and a symbol the
strategy never sets runs at the venue's default (20x, cross).

An exception raised in a hook ends the run with one line naming the strategy, the hook
and the strategy's line (:class:`StrategyError`).
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING, Any, NamedTuple

from exsim.book.orders import BUY, GTC, GTX, LIMIT, MARKET, SELL, TRIGGER_LAST
from exsim.errors import InputError
from exsim.exchange import (
    AdjustIsolatedMargin,
    AmendOrder,
    CancelOrder,
    NewOrder,
    SetLeverage,
    SetMarginMode,
)
from exsim.ledger import CROSS, ISOLATED
from exsim.units import format_subticks, subticks_ceil_ticks, subticks_floor_ticks, subticks_nearest_ticks

if TYPE_CHECKING:
    from exsim.replay.runner import Replay

MARGIN_MODES = {"cross": CROSS, "isolated": ISOLATED}
ACCOUNT_ID = 1  # the strategy's account in a replay


#: ``ctx.mark_price_ticks`` roundings, each a units.py helper named by its direction
_MARK_ROUNDING = {"down": subticks_floor_ticks, "up": subticks_ceil_ticks, "nearest": subticks_nearest_ticks}


class StrategyError(InputError):
    """A strategy's hook raised: ``strategy holder.on_mark (examples/holder.py:42):
    ZeroDivisionError: ...`` (the original exception is its ``__cause__``)."""


class OwnFill(NamedTuple):
    """One fill of the strategy's order, seen from its side."""

    ts_ns: int
    symbol: str
    order_id: int
    side: int  # BUY / SELL of the strategy's order
    price_ticks: int
    qty_lots: int
    fee_atoms: int  # paid (negative: a rebate)
    is_maker: bool
    leaves_lots: int  # what the order still has open
    trade_id: int


class PositionView(NamedTuple):
    """A position as the strategy reads it (a copy: it does not change afterwards)."""

    symbol: str
    position_side: int
    qty_lots: int  # signed: + long, - short
    entry_price_ticks: Fraction  # exact average entry
    isolated: bool
    leverage: int
    margin_atoms: int  # the isolated bucket (0 for cross)
    upnl_atoms: int  # at the current mark
    maint_margin_atoms: int
    realized_pnl_atoms: int


class Strategy:
    """Base class of replay strategies: override the hooks you need (see the module doc)."""

    def on_start(self, ctx: Context) -> None:
        """Once, at the first timestamp, after the deposit and the run's settings."""

    def on_trade(self, ctx: Context, trade: Any) -> None:
        """A replayed trade print (after it crossed the book)."""

    def on_book(self, ctx: Context, update: Any) -> None:
        """The venue's book changed (one update: one or more levels, applied)."""

    def on_mark(self, ctx: Context, mark: Any) -> None:
        """A new mark price (after any liquidation it caused)."""

    def on_fill(self, ctx: Context, fill: OwnFill) -> None:
        """One of the strategy's orders traded."""

    def on_order(self, ctx: Context, event: Any) -> None:
        """One of the strategy's orders was accepted, rejected, cancelled, expired, amended or triggered."""

    def on_liquidation(self, ctx: Context, liquidation: Any) -> None:
        """The strategy's account was liquidated (or auto-deleveraged)."""

    def on_funding(self, ctx: Context, payment: Any) -> None:
        """A funding payment was settled on one of the strategy's positions."""

    def on_timer(self, ctx: Context, name: str) -> None:
        """A timer set with :meth:`Context.call_at` / :meth:`Context.call_every` fired."""

    def on_bar(self, ctx: Context, bar: Any) -> None:
        """A bar closed (:class:`~exsim.replay.bars.Bar`): one of :meth:`Context.subscribe_bars`,
        or a bar of a bar file (``bar.from_file``), at its close time (``docs/bars.md``)."""

    def on_end(self, ctx: Context) -> None:
        """Once, after the last event."""


class Context:
    """The strategy's door to the simulated venue: read state, send commands."""

    def __init__(self, replay: Replay, account_id: int) -> None:
        self._replay = replay
        self.account_id = account_id
        self._next_client_id = 0

    # ------------------------------------------------------------------ time and units
    @property
    def now_ns(self) -> int:
        """The current simulated time (ns since the epoch)."""
        return self._replay.loop.now_ns

    @property
    def symbols(self) -> list[str]:
        """The run's symbols, in the order the data first names them (``--symbol``: that one)."""
        return list(self._replay.symbols)

    @property
    def default_symbol(self) -> str:
        """The symbol a strategy trades unless told otherwise: the run's first."""
        return str(self._replay.symbols[0])

    def instrument(self, symbol: str) -> Any:
        return self._replay.exchange.markets[symbol].instrument

    def price_ticks(self, symbol: str, price: str) -> int:
        """Exact ticks of a price text; an error if off the tick grid."""
        return int(self.instrument(symbol).ticks(price, where="strategy"))

    def qty_lots(self, symbol: str, qty: str) -> int:
        """Exact lots of a quantity text; an error if off the lot grid."""
        return int(self.instrument(symbol).lots(qty, where="strategy"))

    def price_str(self, symbol: str, price_ticks: int) -> str:
        return str(self.instrument(symbol).price_str(price_ticks))

    def mark_str(self, symbol: str, price_subticks: int) -> str:
        """A mark / liquidation price in subticks as exact text (the tick's decimals or more)."""
        return str(self.instrument(symbol).mark_str(price_subticks))

    # ------------------------------------------------------------------ market
    def best_bid(self, symbol: str) -> int | None:
        return self._replay.exchange.book(symbol).best_bid()

    def best_ask(self, symbol: str) -> int | None:
        return self._replay.exchange.book(symbol).best_ask()

    def last_price(self, symbol: str) -> int | None:
        return self._replay.exchange.last_price(symbol)

    def mark_price(self, symbol: str) -> Decimal | None:
        """The latest mark as an exact decimal price (``Decimal("0.52345")``), None before one."""
        mark = self._replay.exchange.mark_price_subticks(symbol)
        return None if mark is None else Decimal(format_subticks(mark))

    def mark_price_subticks(self, symbol: str) -> int | None:
        """The latest mark in subticks (1e-8 of the quote asset), None before one."""
        return self._replay.exchange.mark_price_subticks(symbol)

    def mark_price_ticks(self, symbol: str, rounding: str) -> int | None:
        """The latest mark rounded to the tick grid: ``"down"``, ``"up"`` or ``"nearest"``
        (ties to even), for an order placed at the mark. None before a mark."""
        mark = self._replay.exchange.mark_price_subticks(symbol)
        if mark is None:
            return None
        rounder = _MARK_ROUNDING.get(rounding)
        if rounder is None:
            raise InputError(f"{rounding!r} must be one of {', '.join(map(repr, _MARK_ROUNDING))}", field="rounding")
        return rounder(mark, self.instrument(symbol).subticks_per_tick)

    def book(self, symbol: str) -> Any:
        """The order book (read it: ``depth``, ``levels``, ``queue_ahead_lots``; never change it)."""
        return self._replay.exchange.book(symbol)

    # ------------------------------------------------------------------ orders
    def order(
        self,
        symbol: str,
        side: int,
        qty_lots: int,
        price_ticks: int = 0,
        *,
        order_type: int = LIMIT,
        tif: int = GTC,
        reduce_only: bool = False,
        client_order_id: str | None = None,
        trigger_price_ticks: int = 0,
        trigger_by: int = TRIGGER_LAST,
        position_side: int = 0,
    ) -> str:
        """Send any order; returns its client order id (the events carry it)."""
        if client_order_id is None:
            self._next_client_id += 1
            client_order_id = f"s{self._next_client_id}"
        self._send(
            NewOrder(
                self._arrival_ns(),
                self.account_id,
                symbol,
                side,
                qty_lots,
                price_ticks,
                order_type,
                tif,
                client_order_id,
                reduce_only,
                trigger_price_ticks,
                trigger_by,
                position_side,
            )
        )
        return client_order_id

    def buy(self, symbol: str, qty_lots: int, price_ticks: int | None = None, **kw: Any) -> str:
        """A market buy (``price_ticks`` None) or a GTC limit buy; ``post_only=True`` for GTX."""
        return self._simple(symbol, BUY, qty_lots, price_ticks, **kw)

    def sell(self, symbol: str, qty_lots: int, price_ticks: int | None = None, **kw: Any) -> str:
        """A market sell (``price_ticks`` None) or a GTC limit sell; ``post_only=True`` for GTX."""
        return self._simple(symbol, SELL, qty_lots, price_ticks, **kw)

    def _simple(self, symbol: str, side: int, qty_lots: int, price_ticks: int | None, post_only: bool = False, **kw: Any) -> str:
        if price_ticks is None:
            return self.order(symbol, side, qty_lots, 0, order_type=MARKET, **kw)
        tif = GTX if post_only else kw.pop("tif", GTC)
        return self.order(symbol, side, qty_lots, price_ticks, tif=tif, **kw)

    def cancel(self, symbol: str, order_id: int) -> None:
        self._send(CancelOrder(self._arrival_ns(), self.account_id, symbol, order_id))

    def amend(self, symbol: str, order_id: int, price_ticks: int, qty_lots: int) -> None:
        self._send(AmendOrder(self._arrival_ns(), self.account_id, symbol, order_id, price_ticks, qty_lots))

    def open_orders(self, symbol: str | None = None) -> list[int]:
        """Ids of the account's open orders (resting or waiting for a trigger), oldest first."""
        acct = self._account()
        if acct is None:
            return []
        return [oid for oid, s in acct.order_ids.items() if symbol is None or s == symbol]

    # ------------------------------------------------------------------ settings
    def set_leverage(self, symbol: str, leverage: int) -> None:
        """Ask the venue for ``leverage`` on ``symbol`` (refused above the bracket's maximum).
        Not sent when the command line fixed the leverage (see the module doc)."""
        if self._replay.strategy_setting(symbol, "leverage", leverage):
            self._send(SetLeverage(self._arrival_ns(), self.account_id, symbol, leverage))

    def set_margin_mode(self, symbol: str, mode: str) -> None:
        """``"isolated"`` or ``"cross"`` (refused by the venue with a position or open orders).
        Not sent when the command line fixed the margin mode (see the module doc)."""
        if mode not in MARGIN_MODES:
            raise InputError(f"{mode!r} is not 'isolated' or 'cross'", where="strategy", field="margin_mode")
        if self._replay.strategy_setting(symbol, "margin_mode", mode):
            self._send(SetMarginMode(self._arrival_ns(), self.account_id, symbol, MARGIN_MODES[mode]))

    def leverage(self, symbol: str) -> int:
        """The account's leverage on ``symbol`` now (the venue's default until set)."""
        ledger = self._replay.ledger
        acct = self._account()
        return int(ledger.leverage(acct, symbol)) if acct is not None else int(ledger.default_leverage)

    def margin_mode(self, symbol: str) -> str:
        """``"isolated"`` or ``"cross"``: the account's margin mode on ``symbol`` now."""
        acct = self._account()
        mode = self._replay.ledger.margin_mode(acct, symbol) if acct is not None else MARGIN_MODES["cross"]
        return "isolated" if mode == MARGIN_MODES["isolated"] else "cross"

    def add_margin(self, symbol: str, amount_atoms: int, position_side: int = 0) -> None:
        """Move margin from the wallet into the isolated bucket."""
        self._send(AdjustIsolatedMargin(self._arrival_ns(), self.account_id, symbol, position_side, amount_atoms))

    def remove_margin(self, symbol: str, amount_atoms: int, position_side: int = 0) -> None:
        """Move margin out of the isolated bucket (refused below initial margin)."""
        self._send(AdjustIsolatedMargin(self._arrival_ns(), self.account_id, symbol, position_side, -amount_atoms))

    # ------------------------------------------------------------------ account
    def position(self, symbol: str, position_side: int = 0) -> PositionView | None:
        """The open position, or None when flat."""
        acct = self._account()
        pos = acct.positions.get((symbol, position_side)) if acct is not None else None
        if pos is None or not pos.qty_lots:
            return None
        ledger = self._replay.ledger
        _, upnl, mm = ledger.position_figures(pos)
        atpl = ledger.instruments[symbol].atoms_per_tick_lot
        entry = pos.entry_price_ticks(atpl)
        assert entry is not None
        return PositionView(
            symbol, position_side, pos.qty_lots, entry, pos.isolated, pos.leverage, pos.margin_atoms, upnl, mm, pos.realized_pnl_atoms
        )

    @property
    def wallet_atoms(self) -> int:
        acct = self._account()
        return acct.wallet_atoms if acct is not None else 0

    def equity_atoms(self) -> int:
        """Wallet + isolated buckets + unrealized PnL of every position, at the marks."""
        return self._replay.equity_atoms()

    def available_atoms(self) -> int:
        acct = self._account()
        return self._replay.ledger.available_atoms(acct) if acct is not None else 0

    def margin_ratio_e8(self, symbol: str, position_side: int = 0) -> int | None:
        """Maintenance margin / margin balance (parts per 1e8) of the scope holding the
        position — its isolated bucket or the cross pool; liquidation at 1e8 (100 %)."""
        figures = self._replay.margin_figures(symbol, position_side)
        if figures is None:
            return None
        balance, mm = figures
        return int(self._replay.ledger.margin_ratio_e8(balance, mm))

    def liquidation_price_subticks(self, symbol: str, position_side: int = 0) -> int | None:
        """The mark (subticks) at which the position would be liquidated (others at their
        marks), or None: the highest for a long, the lowest for a short."""
        return self._replay.liquidation_price_subticks(symbol, position_side)

    # ------------------------------------------------------------------ timers and notes
    def call_at(self, ts_ns: int, name: str) -> Any:
        """Call ``on_timer(ctx, name)`` at ``ts_ns`` (not in the past); returns a handle
        whose ``cancel()`` stops it."""
        return self._replay.add_strategy_timer(ts_ns, 0, name)

    def call_every(self, interval_ns: int, name: str) -> Any:
        """Call ``on_timer(ctx, name)`` every ``interval_ns`` from now on; returns a handle
        whose ``cancel()`` stops it."""
        return self._replay.add_strategy_timer(self.now_ns + interval_ns, interval_ns, name)

    def subscribe_bars(self, symbol: str, interval: str) -> None:
        """Bars of ``symbol`` aggregated from the replayed trades, to ``on_bar`` at each close:
        ``interval`` one of ``"1s"``, ``"1m"``, ``"3m"``, ``"5m"``, ``"15m"``, ``"30m"``,
        ``"1h"``, ``"2h"``, ``"4h"``, ``"6h"``, ``"8h"``, ``"12h"``, ``"1d"`` (aligned to UTC
        from the epoch, as Binance klines). Call it in ``on_start`` to count every trade;
        later, the first bar is the next whole one. See ``docs/bars.md``."""
        self._replay.subscribe_bars(symbol, interval)

    def note(self, text: str) -> None:
        """Add a line to the run's story (printed and kept in summary.json)."""
        self._replay.note(self.now_ns, text)

    # ------------------------------------------------------------------ internals
    def _account(self) -> Any:
        ledger = self._replay.ledger
        return ledger.accounts.get(self.account_id)

    def _arrival_ns(self) -> int:
        return self.now_ns + self._replay.config.latency_ns

    def _send(self, command: Any) -> None:
        self._replay.loop.schedule(command)
        self._replay.commands_sent += 1
