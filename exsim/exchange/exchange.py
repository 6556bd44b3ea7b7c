"""The exchange: the one place that sequences a command and emits what it caused.

Pipeline of one command (``DESIGN.md`` §2), all inside :meth:`Exchange.submit`:

1. validate the command (bad values are answered with ``OrderRejected`` + a reason code);
2. ``OrderBook.match`` / ``OrderBook.limit`` (the book knows nothing of accounts);
3. turn the book's raw fills into ``Fill`` events (one per match, both sides, fees);
4. report cancelled / expired remainders and the L2 levels that changed (``BookDelta``);
5. fire stop / take-profit orders whose reference price was crossed, each through the
   same path, until none is left;
6. hand the command's events, in order, to every sink.

Events are appended to one buffer while the command runs and given to the sinks once it
has completed, so no sink ever sees a half-applied command.
"""

from __future__ import annotations

import hashlib
from typing import Callable, Final, Iterable

from exsim.book.order_book import CONSERVATIVE, Fill as BookFill, OrderBook
from exsim.book.orders import (
    ANONYMOUS,
    BUY,
    FOK,
    GTC,
    GTX,
    IOC,
    LIMIT,
    MARKET,
    SELL,
    STOP_LIMIT,
    STP_NAMES,
    STP_NONE,
    TAKE_PROFIT_LIMIT,
    TIF_NAMES,
    TRIGGER_LAST,
    TRIGGER_MARK,
    TRIGGER_NAMES,
    ORDER_TYPE_NAMES,
    Order,
)
from exsim.exchange.commands import (
    AdjustIsolatedMargin,
    AmendOrder,
    CancelOrder,
    Command,
    Deposit,
    NewOrder,
    SetLeverage,
    SetMarginMode,
    SetIndexPrice,
    SetPositionMode,
    SettleFunding,
    Withdraw,
    ClearReplayedLevels,
    SetReplayedLevels,
    ReplayedTrade,
    SetMarkPrice,
    SetReplayedLevel,
    SetSelfTradePrevention,
)
from exsim.exchange.events import (
    BalanceChanged,
    BookDelta,
    CommandRejected,
    FundingPaid,
    FundingSettled,
    IndexPriceUpdated,
    Liquidatable,
    Liquidation,
    UncoveredLoss,
    MarginCall,
    PositionChanged,
    SettingChanged,
    Event,
    Fill,
    MarkPriceUpdated,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderExpired,
    OrderRejected,
    OrderTriggered,
)
from exsim.exchange.triggers import STOP_TYPES, StopOrder, TriggerIndex, direction_of, fires
from exsim.instruments import Instrument
from exsim.ledger import MARGIN_MODE_NAMES, Ledger, Position
from exsim.margin.funding import PremiumAverager, funding_rate_e8, next_funding_time_ns, premium_index_e8
from exsim.margin.mark import MarkPriceCalculator
from exsim.liquidation.engine import LiquidationEngine
from exsim.units import rate_ceil, subticks_ceil_ticks, subticks_floor_ticks

Sink = Callable[[list[Event]], None]

_new = tuple.__new__  # builds NamedTuple events without keyword handling (events.py)


class RejectReason:
    """Why a command was refused (the ``reason`` of :class:`OrderRejected`)."""

    UNKNOWN_SYMBOL: Final = "UNKNOWN_SYMBOL"
    UNKNOWN_ORDER: Final = "UNKNOWN_ORDER"  # no such open order for this account
    INVALID_ACCOUNT: Final = "INVALID_ACCOUNT"  # account ids are positive ints
    INVALID_SIDE: Final = "INVALID_SIDE"
    INVALID_ORDER_TYPE: Final = "INVALID_ORDER_TYPE"
    INVALID_TIF: Final = "INVALID_TIF"  # unknown, or not allowed for this order type
    INVALID_QTY: Final = "INVALID_QTY"  # not a positive int number of lots
    QTY_BELOW_MIN: Final = "QTY_BELOW_MIN"
    QTY_ABOVE_MAX: Final = "QTY_ABOVE_MAX"
    INVALID_PRICE: Final = "INVALID_PRICE"  # not a positive int number of ticks
    NOTIONAL_BELOW_MIN: Final = "NOTIONAL_BELOW_MIN"
    POST_ONLY_WOULD_TAKE: Final = "POST_ONLY_WOULD_TAKE"
    INVALID_TRIGGER: Final = "INVALID_TRIGGER"  # trigger price or trigger reference
    WOULD_IMMEDIATELY_TRIGGER: Final = "WOULD_IMMEDIATELY_TRIGGER"
    DUPLICATE_CLIENT_ORDER_ID: Final = "DUPLICATE_CLIENT_ORDER_ID"
    AMEND_QTY_NOT_ABOVE_FILLED: Final = "AMEND_QTY_NOT_ABOVE_FILLED"
    NOT_AMENDABLE: Final = "NOT_AMENDABLE"  # only resting limit orders can be amended
    INVALID_STP_MODE: Final = "INVALID_STP_MODE"


class _Market:
    """Everything the exchange keeps per instrument."""

    __slots__ = (
        "instrument",
        "book",
        "triggers",
        "last_price_ticks",
        "mark_price_subticks",
        "index_price_subticks",
        "mark_calc",
        "premium",
        "funding_cap_e8",
    )

    def __init__(self, instrument: Instrument, queue_model: str) -> None:
        self.instrument = instrument
        self.book = OrderBook(queue_model)
        self.triggers = TriggerIndex()
        self.last_price_ticks = 0  # 0: no trade yet
        self.mark_price_subticks = 0  # 0: no mark yet (subticks: 1e-8 of the quote asset)
        self.index_price_subticks = 0  # 0: no index yet
        self.mark_calc: MarkPriceCalculator | None = None  # set for computed marks
        self.premium: PremiumAverager | None = None  # set for computed funding
        self.funding_cap_e8: int | None = None


class Exchange:
    """Owns instruments and their books; validates, matches and emits events.

    ``sinks`` are callables taking the list of events one command produced (they must
    copy what they keep: the list is reused). ``emit_book_deltas`` turns the L2
    ``BookDelta`` events off for runs that do not need them.
    """

    def __init__(
        self,
        instruments: Iterable[Instrument],
        *,
        sinks: Iterable[Sink] = (),
        queue_model: str = CONSERVATIVE,
        emit_book_deltas: bool = True,
        ledger: Ledger | None = None,
        computed_marks: bool = False,
        computed_funding: bool = False,
        funding_caps_e8: dict[str, int] | None = None,
        liquidations: bool = True,
        fund_unwind_lots: dict[str, int] | None = None,
        adl_score: Callable[..., int] | None = None,
    ) -> None:
        self.markets: dict[str, _Market] = {}
        for inst in instruments:
            if inst.symbol in self.markets:
                raise ValueError(f"instrument {inst.symbol} given twice")
            self.markets[inst.symbol] = _Market(inst, queue_model)
        for symbol, market in self.markets.items():
            inst = market.instrument
            if computed_marks:  # MARGIN-SPEC §6: median(Price1, Price2, last) on each index update
                market.mark_calc = MarkPriceCalculator.for_instrument(inst)
            if computed_funding:  # premium index sampled on each index update
                market.premium = PremiumAverager(inst.funding_interval_ns)
            market.funding_cap_e8 = (funding_caps_e8 or {}).get(symbol)
        self.sinks: list[Sink] = list(sinks)
        #: accounts, positions and margin; None runs the exchange as a pure matching
        #: engine (no margin checks, no positions) — the mode of the book benchmarks
        self.ledger = ledger
        if ledger is not None and set(ledger.instruments) != set(self.markets):
            raise ValueError("the ledger and the exchange must list the same instruments")
        #: closes liquidatable scopes inside the command that found them (None: only report)
        self.liquidator = (
            LiquidationEngine(self, fund_unwind_lots=fund_unwind_lots, adl_score=adl_score)
            if ledger is not None and liquidations
            else None
        )
        self.emit_book_deltas = emit_book_deltas
        self.stp_modes: dict[int, int] = {}  # account id -> STP mode (default STP_NONE)
        self.next_order_id = 1
        self.next_trade_id = 1
        self._client_ids: dict[tuple[int, str], int] = {}  # open orders' client ids
        self._liquidating_order_id = 0  # the liquidation order being executed, 0 if none
        self._cmd_seq = 0  # commands submitted so far
        self._fund_seen = ledger.fund.wallet_atoms if ledger is not None else 0
        self._out: list[Event] = []
        self._fills: list[BookFill] = []
        self._handlers: dict[type, Callable[[Command], None]] = {
            NewOrder: self._on_new_order,  # type: ignore[dict-item]
            CancelOrder: self._on_cancel,  # type: ignore[dict-item]
            AmendOrder: self._on_amend,  # type: ignore[dict-item]
            ReplayedTrade: self._on_replayed_trade,  # type: ignore[dict-item]
            SetReplayedLevel: self._on_replayed_level,  # type: ignore[dict-item]
            ClearReplayedLevels: self._on_clear_replayed,  # type: ignore[dict-item]
            SetReplayedLevels: self._on_replayed_levels,  # type: ignore[dict-item]
            SetMarkPrice: self._on_mark_price,  # type: ignore[dict-item]
            SetSelfTradePrevention: self._on_set_stp,  # type: ignore[dict-item]
            Deposit: self._on_account_command,  # type: ignore[dict-item]
            Withdraw: self._on_account_command,  # type: ignore[dict-item]
            SetLeverage: self._on_account_command,  # type: ignore[dict-item]
            SetMarginMode: self._on_account_command,  # type: ignore[dict-item]
            SetPositionMode: self._on_account_command,  # type: ignore[dict-item]
            AdjustIsolatedMargin: self._on_account_command,  # type: ignore[dict-item]
            SettleFunding: self._on_funding,  # type: ignore[dict-item]
            SetIndexPrice: self._on_index_price,  # type: ignore[dict-item]
        }

    # ------------------------------------------------------------------ entry point
    def submit(self, command: Command) -> None:
        """Run one command to completion, then hand its events to every sink."""
        self._cmd_seq += 1
        self._handlers[type(command)](command)
        ledger = self.ledger
        if ledger is not None:
            if ledger.pending:
                symbol = getattr(command, "symbol", "")
                while ledger.pending:  # a liquidation can put its counterparties at risk
                    self._report_risk(command.ts_ns, symbol)
                    # liquidation orders trade like any order: the stops whose trigger the
                    # last price they made reached fire in this command too (and may put
                    # more scopes at risk: the loop goes on)
                    for market in self.markets.values():
                        if market.triggers.orders:
                            self._fire_triggers(command.ts_ns, market, TRIGGER_LAST)
            if ledger.fund.wallet_atoms != self._fund_seen:
                self._fund_changed(command)
        out = self._out
        if out:
            for sink in self.sinks:
                sink(out)
            out.clear()

    def book(self, symbol: str) -> OrderBook:
        """The order book of ``symbol`` (read it; change it only through commands)."""
        return self.markets[symbol].book

    def last_price(self, symbol: str) -> int | None:
        """Last trade price in ticks (replayed or simulated), None before the first trade."""
        return self.markets[symbol].last_price_ticks or None

    def mark_price_subticks(self, symbol: str) -> int | None:
        """Latest mark price in subticks (1e-8 of the quote asset), None before the first mark."""
        return self.markets[symbol].mark_price_subticks or None

    def index_price_subticks(self, symbol: str) -> int | None:
        """Latest index price in subticks, None before the first index price."""
        return self.markets[symbol].index_price_subticks or None

    def open_order(self, symbol: str, order_id: int) -> Order | StopOrder | None:
        """A resting or untriggered order by id, or None."""
        market = self.markets[symbol]
        return market.book.orders.get(order_id) or market.triggers.orders.get(order_id)

    # ------------------------------------------------------------------ new orders
    def _reject(self, cmd: NewOrder | CancelOrder | AmendOrder, reason: str, order_id: int = 0) -> None:
        coid = cmd.client_order_id if type(cmd) is NewOrder else None
        self._out.append(_new(OrderRejected, (cmd.ts_ns, cmd.symbol, cmd.account_id, coid, order_id, reason)))

    def _on_new_order(self, cmd: NewOrder) -> None:
        """Validate a new order; rest it in the trigger index or send it to the book."""
        ts, account, symbol, side, qty, price, otype, tif, coid, reduce_only, trig, trig_by, pside, cb_rate, cb_ticks = cmd
        market = self.markets.get(symbol)
        if market is None:
            return self._reject(cmd, RejectReason.UNKNOWN_SYMBOL)
        reason = self._order_problem(market, account, side, qty, price, otype, tif, coid, trig, trig_by)
        if reason:
            return self._reject(cmd, reason)
        book = market.book
        if tif == GTX and book.would_take(side, price):
            return self._reject(cmd, RejectReason.POST_ONLY_WOULD_TAKE)
        if otype in STOP_TYPES:
            if trig_by == TRIGGER_LAST:
                ref = market.last_price_ticks
                fire = bool(ref) and fires(direction_of(side, otype), trig, ref)
            else:  # the mark is finer than the tick: compare it exactly, in subticks
                ref = market.mark_price_subticks
                fire = bool(ref) and fires(direction_of(side, otype), trig * market.instrument.subticks_per_tick, ref)
            if fire:
                return self._reject(cmd, RejectReason.WOULD_IMMEDIATELY_TRIGGER)
        order_id = self.next_order_id
        is_market = otype == MARKET
        ledger = self.ledger
        if ledger is not None:
            if otype in STOP_TYPES:  # no margin is held until the order triggers
                reason = ledger.order_problem(account, symbol, side, qty, reduce_only, pside)
            else:
                notional = self._worst_notional(market, side, qty, None if is_market else price)
                may_rest = not is_market and (tif == GTC or tif == GTX)
                reason = ledger.hold_for_order(
                    order_id, account, symbol, side, qty, notional, reduce_only, pside, may_rest
                )
            if reason:
                return self._reject(cmd, reason)
        self.next_order_id = order_id + 1
        if coid is not None:
            self._client_ids[(account, coid)] = order_id
        self._out.append(
            _new(
                OrderAccepted,
                (ts, symbol, order_id, account, coid, side, otype, tif, 0 if is_market else price, qty, trig),
            )
        )
        if otype in STOP_TYPES:
            market.triggers.add(
                StopOrder(order_id, account, side, otype, price, qty, trig, trig_by, coid, reduce_only, ts, pside, tif)
            )
            if ledger is not None:
                ledger.count_order(account, symbol, +1, order_id)
            return None
        order = Order(order_id, account, side, price, qty, qty, tif, coid, ts, reduce_only, pside)
        self._execute(ts, market, order, is_market)
        if market.triggers.orders:
            self._fire_triggers(ts, market, TRIGGER_LAST)
        return None

    @staticmethod
    def _mark_ceil_ticks(market: _Market) -> int:
        """The mark rounded up to a tick (a worst-case price for a margin hold), 0 if none."""
        return subticks_ceil_ticks(market.mark_price_subticks, market.instrument.subticks_per_tick)

    def _worst_notional(self, market: _Market, side: int, qty: int, limit_px: int | None) -> int:
        """Upper bound of the notional an order can trade at, in atoms (for margin holds).

        A buy never pays more than its limit; a sell may fill above its limit against
        higher bids, so it is valued at the better of its limit and the best bid. A market
        buy is valued at the deepest ask it would reach (or the last one there is), a
        market sell at the best bid.
        """
        book = market.book
        atpl = market.instrument.atoms_per_tick_lot
        if limit_px is None:
            if side == BUY:  # pays at most the deepest ask it reaches
                px = book.sweep_price(side, qty) or market.last_price_ticks or self._mark_ceil_ticks(market)
            else:  # receives at most the best bid for every lot
                px = book.best_bid() or market.last_price_ticks or self._mark_ceil_ticks(market)
        elif side == BUY:
            px = limit_px
        else:
            bid = book.best_bid()
            px = limit_px if bid is None or bid < limit_px else bid
        return px * qty * atpl

    def _order_problem(
        self,
        market: _Market,
        account: int,
        side: int,
        qty: int,
        price: int,
        otype: int,
        tif: int,
        coid: str | None,
        trig: int,
        trig_by: int,
    ) -> str | None:
        """The reject reason for a new order's fields, or None when they are all valid."""
        if type(account) is not int or account <= 0:
            return RejectReason.INVALID_ACCOUNT
        if side != BUY and side != SELL:
            return RejectReason.INVALID_SIDE
        if type(qty) is not int or qty <= 0:
            return RejectReason.INVALID_QTY
        inst = market.instrument
        if qty < inst.min_qty_lots:
            return RejectReason.QTY_BELOW_MIN
        if inst.max_qty_lots and qty > inst.max_qty_lots:
            return RejectReason.QTY_ABOVE_MAX
        if otype == LIMIT or otype == STOP_LIMIT or otype == TAKE_PROFIT_LIMIT:
            if type(price) is not int or price <= 0:
                return RejectReason.INVALID_PRICE
            if tif not in (GTC, IOC, FOK, GTX) or (tif == GTX and otype != LIMIT):
                return RejectReason.INVALID_TIF  # post-only applies to plain limit orders
            if price * qty * inst.atoms_per_tick_lot < inst.min_notional_atoms:
                return RejectReason.NOTIONAL_BELOW_MIN
        elif otype in STOP_TYPES or otype == MARKET:
            if price != 0:
                return RejectReason.INVALID_PRICE  # market types take no limit price
            if tif == GTX or tif not in (GTC, IOC, FOK):
                return RejectReason.INVALID_TIF
        else:
            return RejectReason.INVALID_ORDER_TYPE
        if otype in STOP_TYPES:
            if type(trig) is not int or trig <= 0:
                return RejectReason.INVALID_TRIGGER
            if trig_by != TRIGGER_LAST and trig_by != TRIGGER_MARK:
                return RejectReason.INVALID_TRIGGER
        elif trig != 0:
            return RejectReason.INVALID_TRIGGER
        if coid is not None and (account, coid) in self._client_ids:
            return RejectReason.DUPLICATE_CLIENT_ORDER_ID
        return None

    def _execute(self, ts: int, market: _Market, order: Order, is_market: bool) -> None:
        """Match an accepted order, rest (GTC/GTX) or expire (IOC/FOK/market) the remainder."""
        book = market.book
        fills = self._fills
        side = order.side
        stp = self.stp_modes.get(order.account_id, STP_NONE)
        tif = order.tif
        qty = order.leaves_lots
        if tif == FOK and book.fillable_lots(side, None if is_market else order.price_ticks, order.account_id, stp, qty) < qty:
            self._finish(order, ts, market, "FOK")
            return
        if is_market:
            left = book.match(order.order_id, order.account_id, side, qty, None, stp, fills)
            order.leaves_lots = left
            rested = 0
        elif tif == GTC or tif == GTX:
            rested = book.limit(order, stp, fills)  # the level's new size, 0 if not rested
            left = order.leaves_lots
        else:
            left = book.match(order.order_id, order.account_id, side, qty, order.price_ticks, stp, fills)
            order.leaves_lots = left
            rested = 0
        if fills or book.stp_expired:
            self._report_fills(ts, market, order, qty, fills)
        if rested:
            if self.emit_book_deltas:
                self._out.append(_new(BookDelta, (ts, market.instrument.symbol, side, order.price_ticks, rested)))
        elif left:
            if book.taker_stp_expired:
                reason = "STP"
            elif is_market and left == qty:
                reason = "NO_LIQUIDITY"
            else:
                reason = "IOC"
            self._finish(order, ts, market, reason)
        else:
            self._forget_client_id(order.account_id, order.client_order_id)
            if self.ledger is not None:
                self.ledger.release_order(order.order_id)

    def _finish(self, order: Order, ts: int, market: _Market, reason: str) -> None:
        """Expire the unfilled remainder of an order that does not rest."""
        self._out.append(
            _new(
                OrderExpired,
                (ts, market.instrument.symbol, order.order_id, order.account_id, order.leaves_lots, reason),
            )
        )
        order.leaves_lots = 0
        self._forget_client_id(order.account_id, order.client_order_id)
        if self.ledger is not None:
            self.ledger.release_order(order.order_id)

    def _report_fills(self, ts: int, market: _Market, taker: Order | None, taker_qty: int, fills: list[BookFill]) -> None:
        """Emit Fill / STP-cancel / BookDelta events for the book's last match.

        ``taker`` is None for an anonymous (replayed) aggressor. Clears ``fills``.
        Hot path: one pass, locals bound, events built with ``tuple.__new__``.
        """
        append = self._out.append
        inst = market.instrument
        symbol = inst.symbol
        atpl = inst.atoms_per_tick_lot
        maker_fee = inst.maker_fee_e8
        trade_id = self.next_trade_id
        book = market.book
        if taker is not None:
            t_id = taker.order_id
            t_acct = taker.account_id
            t_side = taker.side
            t_leaves = taker_qty
            taker_fee = inst.taker_fee_e8
        else:
            t_id = t_acct = t_leaves = taker_fee = 0
            t_side = fills[0][0].side ^ 1 if fills else 0
        last_px = 0
        touched: list[int] = []
        for maker, px, q in fills:
            notional = px * q * atpl
            m_id = maker.order_id
            if m_id:
                m_leaves = maker.leaves_lots
                m_fee = rate_ceil(notional, maker_fee)
                if not m_leaves and maker.client_order_id is not None:
                    self._forget_client_id(maker.account_id, maker.client_order_id)
            else:
                m_leaves = m_fee = 0
            if t_id:
                t_leaves -= q
            append(
                _new(
                    Fill,
                    (
                        ts,
                        symbol,
                        trade_id,
                        px,
                        q,
                        t_side,
                        t_id,
                        t_acct,
                        t_leaves,
                        rate_ceil(notional, taker_fee) if t_acct > 0 else 0,
                        m_id,
                        maker.account_id,
                        m_leaves,
                        m_fee,
                    ),
                )
            )
            trade_id += 1
            if px != last_px:
                touched.append(px)
                last_px = px
        if self.ledger is not None:
            self._book_fills(ts, market, taker, fills, len(fills))
        self.next_trade_id = trade_id
        stp_expired = book.stp_expired
        for maker, cancelled_lots in stp_expired:
            append(_new(OrderCancelled, (ts, symbol, maker.order_id, maker.account_id, cancelled_lots, "STP")))
            self._forget_client_id(maker.account_id, maker.client_order_id)
            if self.ledger is not None:
                self.ledger.release_order(maker.order_id)
            if maker.price_ticks not in touched:
                touched.append(maker.price_ticks)
        if fills:
            market.last_price_ticks = fills[-1][1]
            maker_side = fills[0][0].side
            fills.clear()
        elif stp_expired:
            maker_side = stp_expired[0][0].side
        else:
            return
        if stp_expired:
            stp_expired.clear()  # reported: the next command must not see them again
        if self.emit_book_deltas:
            level_lots = book.level_lots
            for px in touched:
                append(_new(BookDelta, (ts, symbol, maker_side, px, level_lots(maker_side, px))))

    def _book_fills(self, ts: int, market: _Market, taker: Order | None, fills: list[BookFill], n: int) -> None:
        """Apply the last ``n`` matches to the ledger (both sides) and report positions.

        Reads the Fill events just emitted (the last ``n`` of the buffer), so the ledger
        sees exactly what the events say. Anonymous sides are booked to EXTERNAL.
        """
        ledger = self.ledger
        assert ledger is not None
        out = self._out
        symbol = market.instrument.symbol
        t_pside = taker.position_side if taker is not None else 0
        changed: dict[int, Position] = {}  # id(position) -> position, in first-touched order
        liquidating = self._liquidating_order_id
        for (maker, _px, _q), ev in zip(fills, out[len(out) - n :]):
            t_side = ev.aggressor_side
            pos = ledger.apply_fill(
                ev.taker_account_id, ev.taker_order_id, symbol, t_side, ev.qty_lots, ev.price_ticks,
                ev.taker_fee_atoms, t_pside, liquidating != 0 and ev.taker_order_id == liquidating,
            )
            if ev.taker_account_id:
                changed[id(pos)] = pos
            pos = ledger.apply_fill(
                ev.maker_account_id, ev.maker_order_id, symbol, t_side ^ 1, ev.qty_lots, ev.price_ticks,
                ev.maker_fee_atoms, maker.position_side,
            )
            if ev.maker_account_id:
                changed[id(pos)] = pos
            if ev.maker_order_id and not ev.maker_leaves_lots:
                ledger.release_order(ev.maker_order_id)
        if not market.mark_price_subticks and fills:
            # no mark yet: value positions at the last trade
            ledger.on_mark(symbol, fills[-1][1] * market.instrument.subticks_per_tick)
        append = out.append
        for pos in changed.values():  # insertion order: deterministic
            append(
                _new(
                    PositionChanged,
                    (ts, pos.account_id, symbol, pos.position_side, pos.qty_lots, pos.cost_atoms, pos.margin_atoms,
                     pos.realized_pnl_atoms, ledger.any_account(pos.account_id).wallet_atoms),
                )
            )
        for pos in changed.values():
            if pos.account_id > 0:
                self._trim_closing_orders(ts, market, pos)
                ledger.cover_bad_debt(ledger.accounts[pos.account_id])

    def _trim_closing_orders(self, ts: int, market: _Market, pos: Position) -> None:
        """Keep an account's resting closing orders (reduce-only; hedge closes) within the
        position they close: when it shrank, the newest are reduced or cancelled (reason
        REDUCE_ONLY), so none can open or flip a position that holds no margin for it.
        O(open orders of the account).
        """
        ledger = self.ledger
        assert ledger is not None
        acct = ledger.accounts[pos.account_id]
        symbol = market.instrument.symbol
        holds = ledger.holds
        book = market.book
        closing = [
            book.orders[oid]
            for oid, s in acct.order_ids.items()
            if s == symbol and oid in book.orders and holds[oid].closing
            and book.orders[oid].position_side == pos.position_side
        ]
        if not closing:
            return
        q = pos.qty_lots
        allowed = q if q > 0 else -q
        cut: list[Order] = []
        shrink: tuple[Order, int] | None = None
        for order in closing:  # oldest first keep their size
            closes = order.side == SELL if q > 0 else order.side == BUY
            room = allowed if closes and q else 0
            if order.leaves_lots <= room:
                allowed -= order.leaves_lots
            elif room:
                shrink = (order, room)
                allowed = 0
            else:
                cut.append(order)
        for order in cut:  # cancel first, so the shrunk order's new hold fits beside the rest
            self._cancel_internal(ts, symbol, order.order_id, "REDUCE_ONLY")
        if shrink is not None:
            order, room = shrink
            reason = ledger.rehold_order(order.order_id, room, room * order.price_ticks * market.instrument.atoms_per_tick_lot)
            assert reason is None, reason  # a smaller closing order always fits
            order.qty_lots -= order.leaves_lots - room
            book.reduce(order, room)
            self._out.append(
                _new(OrderAmended, (ts, symbol, order.order_id, order.account_id, order.price_ticks,
                                    order.qty_lots, room, True))
            )

    # ------------------------------------------------------------------ triggers
    def _fire_triggers(self, ts: int, market: _Market, trigger_by: int) -> None:
        """Send every stop / take-profit order the reference price crossed into the book.

        Fired orders can trade and move the last price, firing more: repeat until quiet.
        """
        triggers = market.triggers
        per_tick = market.instrument.subticks_per_tick
        while True:
            if trigger_by == TRIGGER_LAST:
                ref_ticks = market.last_price_ticks
                ref = ref_ticks * per_tick
                rising_at = falling_at = ref_ticks
            else:
                # the mark is finer than the tick: a rising trigger t fires iff t <= mark,
                # i.e. t <= floor(mark); a falling one iff t >= mark, i.e. t >= ceil(mark)
                ref = market.mark_price_subticks
                rising_at = subticks_floor_ticks(ref, per_tick)
                falling_at = subticks_ceil_ticks(ref, per_tick)
            if not ref:
                return
            fired = triggers.pop_fired(trigger_by, rising_at, falling_at)
            if not fired:
                if trigger_by == TRIGGER_MARK:
                    trigger_by = TRIGGER_LAST  # fired mark orders may have traded: check last
                    continue
                return
            symbol = market.instrument.symbol
            ledger = self.ledger
            for stop in fired:
                self._out.append(
                    _new(
                        OrderTriggered,
                        (ts, symbol, stop.order_id, stop.account_id, stop.trigger_price_ticks, ref, stop.trigger_by),
                    )
                )
                is_market = stop.price_ticks == 0
                if ledger is not None:
                    ledger.count_order(stop.account_id, symbol, -1, stop.order_id)
                    notional = self._worst_notional(market, stop.side, stop.qty_lots, None if is_market else stop.price_ticks)
                    reason = ledger.hold_for_order(
                        stop.order_id, stop.account_id, symbol, stop.side, stop.qty_lots, notional,
                        stop.reduce_only, stop.position_side, not is_market and stop.tif == GTC,
                    )
                    if reason:
                        self._forget_client_id(stop.account_id, stop.client_order_id)
                        self._out.append(
                            _new(OrderRejected, (ts, symbol, stop.account_id, stop.client_order_id, stop.order_id, reason))
                        )
                        continue
                order = Order(
                    stop.order_id,
                    stop.account_id,
                    stop.side,
                    stop.price_ticks,
                    stop.qty_lots,
                    stop.qty_lots,
                    stop.tif,
                    stop.client_order_id,
                    ts,
                    stop.reduce_only,
                    stop.position_side,
                )
                self._execute(ts, market, order, is_market)
            trigger_by = TRIGGER_LAST

    # ------------------------------------------------------------------ cancel / amend
    def _on_cancel(self, cmd: CancelOrder) -> None:
        """Cancel a resting or untriggered order of the commanding account."""
        market = self.markets.get(cmd.symbol)
        if market is None:
            return self._reject(cmd, RejectReason.UNKNOWN_SYMBOL, cmd.order_id)
        order = market.book.orders.get(cmd.order_id) or market.triggers.orders.get(cmd.order_id)
        if order is None or order.account_id != cmd.account_id:
            return self._reject(cmd, RejectReason.UNKNOWN_ORDER, cmd.order_id)
        self._cancel_internal(cmd.ts_ns, cmd.symbol, cmd.order_id, "USER")
        return None

    def _forget_client_id(self, account: int, coid: str | None) -> None:
        if coid is not None:
            self._client_ids.pop((account, coid), None)

    def _on_amend(self, cmd: AmendOrder) -> None:
        """Change a resting limit order's price and/or total quantity (see AmendOrder)."""
        market = self.markets.get(cmd.symbol)
        if market is None:
            return self._reject(cmd, RejectReason.UNKNOWN_SYMBOL, cmd.order_id)
        book = market.book
        order = book.orders.get(cmd.order_id)
        if order is None or order.account_id != cmd.account_id:
            stop = market.triggers.orders.get(cmd.order_id)
            if stop is not None and stop.account_id == cmd.account_id:
                return self._reject(cmd, RejectReason.NOT_AMENDABLE, cmd.order_id)
            return self._reject(cmd, RejectReason.UNKNOWN_ORDER, cmd.order_id)
        price, qty = cmd.price_ticks, cmd.qty_lots
        if type(price) is not int or price <= 0:
            return self._reject(cmd, RejectReason.INVALID_PRICE, order.order_id)
        if type(qty) is not int or qty <= 0:
            return self._reject(cmd, RejectReason.INVALID_QTY, order.order_id)
        filled = order.qty_lots - order.leaves_lots
        if qty <= filled:
            return self._reject(cmd, RejectReason.AMEND_QTY_NOT_ABOVE_FILLED, order.order_id)
        inst = market.instrument
        if qty < inst.min_qty_lots:
            return self._reject(cmd, RejectReason.QTY_BELOW_MIN, order.order_id)
        if inst.max_qty_lots and qty > inst.max_qty_lots:
            return self._reject(cmd, RejectReason.QTY_ABOVE_MAX, order.order_id)
        if price * qty * inst.atoms_per_tick_lot < inst.min_notional_atoms:
            return self._reject(cmd, RejectReason.NOTIONAL_BELOW_MIN, order.order_id)
        new_leaves = qty - filled
        ts, symbol, side = cmd.ts_ns, cmd.symbol, order.side
        out = self._out
        if price == order.price_ticks and new_leaves <= order.leaves_lots:
            if self.ledger is not None:  # a smaller order holds less: never refused
                self.ledger.rehold_order(order.order_id, new_leaves, self._worst_notional(market, side, new_leaves, price))
            book.reduce(order, new_leaves)
            order.qty_lots = qty
            out.append(_new(OrderAmended, (ts, symbol, order.order_id, order.account_id, price, qty, new_leaves, True)))
            if self.emit_book_deltas:
                out.append(_new(BookDelta, (ts, symbol, side, price, book.level_lots(side, price))))
            return None
        if order.tif == GTX and book.would_take(side, price):
            return self._reject(cmd, RejectReason.POST_ONLY_WOULD_TAKE, order.order_id)
        if self.ledger is not None:
            notional = self._worst_notional(market, side, new_leaves, price)
            reason = self.ledger.rehold_order(order.order_id, new_leaves, notional)
            if reason:
                return self._reject(cmd, reason, order.order_id)
        old_price = order.price_ticks
        old_level_lots = book.remove(order)
        # a fresh entry: the old one may still sit (dead) in its level's queue
        order = Order(
            order.order_id, order.account_id, side, price, new_leaves, qty, order.tif,
            order.client_order_id, order.ts_ns, order.reduce_only, order.position_side,
        )
        out.append(_new(OrderAmended, (ts, symbol, order.order_id, order.account_id, price, qty, new_leaves, False)))
        if self.emit_book_deltas and old_price != price:
            out.append(_new(BookDelta, (ts, symbol, side, old_price, old_level_lots)))
        self._execute(ts, market, order, False)
        if market.triggers.orders:
            self._fire_triggers(ts, market, TRIGGER_LAST)
        return None

    # ------------------------------------------------------------------ replayed market data
    def _on_replayed_level(self, cmd: SetReplayedLevel) -> None:
        """Set the replayed size of one level (see SetReplayedLevel).

        Replayed depth is the venue's view and does not include simulated orders. When a
        new replayed level would cross the other side of the book, the other side's
        replayed size through that price is stale and is cleared first; simulated orders
        still in the way are hit by the new size as by an anonymous taker (they fill as
        makers); the rest of the size rests.
        """
        ts, symbol, side, price, lots = cmd
        self._on_replayed_levels(SetReplayedLevels(ts, symbol, ((side, price, lots),)))

    def _on_replayed_levels(self, cmd: SetReplayedLevels) -> None:
        """One venue update of one or more levels (see SetReplayedLevels)."""
        ts, symbol, levels = cmd
        market = self.markets.get(symbol)
        if market is None:
            raise ValueError(f"replayed levels at ts {ts}: unknown symbol {symbol!r}")
        apply = self._apply_replayed_level
        for side, price, lots in levels:
            apply(ts, market, side, price, lots)
        if market.triggers.orders:
            self._fire_triggers(ts, market, TRIGGER_LAST)

    def _apply_replayed_level(self, ts: int, market: _Market, side: int, price: int, lots: int) -> None:
        if side != BUY and side != SELL or type(price) is not int or price <= 0 or type(lots) is not int or lots < 0:
            raise ValueError(
                f"replayed level at ts {ts} for {market.instrument.symbol}: bad side/price/lots {side!r}/{price!r}/{lots!r}"
            )
        book = market.book
        if lots and book.would_take(side, price):
            self._replayed_level_crossing(ts, market, side, price, lots)
        else:
            book.set_anonymous_lots(side, price, lots)
            if self.emit_book_deltas:
                self._out.append(_new(BookDelta, (ts, market.instrument.symbol, side, price, book.level_lots(side, price))))

    def _replayed_level_crossing(self, ts: int, market: _Market, side: int, price: int, lots: int) -> None:
        """A replayed level that crosses the other side: clear the stale replayed size
        through it, let the rest hit simulated orders still in the way, rest the remainder."""
        symbol = market.instrument.symbol
        book = market.book
        out = self._out
        deltas = self.emit_book_deltas
        opp = side ^ 1
        for lv in list(book.levels(opp)):
            p = lv.price_ticks
            if (p > price) if side == BUY else (p < price):
                break
            if lv.anon_lots:
                book.set_anonymous_lots(opp, p, 0)
                if deltas:
                    out.append(_new(BookDelta, (ts, symbol, opp, p, book.level_lots(opp, p))))
        if book.would_take(side, price):
            extra = lots - book.anonymous_lots(side, price)
            if extra > 0:
                fills = self._fills
                left = book.match(0, ANONYMOUS, side, extra, price, STP_NONE, fills)
                if fills:
                    self._report_fills(ts, market, None, extra, fills)
                lots -= extra - left
        book.set_anonymous_lots(side, price, lots)
        if deltas:
            out.append(_new(BookDelta, (ts, symbol, side, price, book.level_lots(side, price))))

    def _on_clear_replayed(self, cmd: ClearReplayedLevels) -> None:
        """Drop the replayed size of one side (or both) before a snapshot; simulated orders stay."""
        ts, symbol, which = cmd
        market = self.markets.get(symbol)
        if market is None:
            raise ValueError(f"clear of replayed levels at ts {ts}: unknown symbol {symbol!r}")
        if which not in (BUY, SELL, -1):
            raise ValueError(f"clear of replayed levels at ts {ts} for {symbol}: bad side {which!r}")
        book = market.book
        deltas = self.emit_book_deltas
        out = self._out
        for side in (BUY, SELL) if which == -1 else (which,):
            for p in [lv.price_ticks for lv in book.levels(side) if lv.anon_lots]:
                book.set_anonymous_lots(side, p, 0)
                if deltas:
                    out.append(_new(BookDelta, (ts, symbol, side, p, book.level_lots(side, p))))

    def _on_replayed_trade(self, cmd: ReplayedTrade) -> None:
        """Replay a tape print: an anonymous taker consumes the book up to its price.

        Replayed size it consumes makes no event (the print is the venue's own trade);
        simulated orders it reaches fill as makers against the outside world. The last
        price becomes the print's price whatever the simulated book held.
        """
        ts, symbol, side, price, qty = cmd
        market = self.markets.get(symbol)
        if market is None:
            raise ValueError(f"replayed trade at ts {ts}: unknown symbol {symbol!r}")
        if side != BUY and side != SELL or type(price) is not int or price <= 0 or type(qty) is not int or qty <= 0:
            raise ValueError(f"replayed trade at ts {ts} for {symbol}: bad side/price/qty {side!r}/{price!r}/{qty!r}")
        fills = self._fills
        market.book.match(0, ANONYMOUS, side, qty, price, STP_NONE, fills)
        if fills:
            # the print consuming the venue's own replayed size is the venue's trade, already
            # on the tape: only fills of simulated orders are new (events and ledger)
            own = [f for f in fills if f[0].order_id]
            if len(own) != len(fills):
                if self.emit_book_deltas:
                    book = market.book
                    maker_side = side ^ 1
                    for px in sorted({f[1] for f in fills if not f[0].order_id}, reverse=maker_side == BUY):
                        if not any(f[1] == px for f in own):  # those are reported with the fills
                            self._out.append(_new(BookDelta, (ts, symbol, maker_side, px, book.level_lots(maker_side, px))))
                fills.clear()
                fills.extend(own)
            if own:
                self._report_fills(ts, market, None, qty, fills)
            fills.clear()
        market.last_price_ticks = price
        if market.triggers.orders:
            self._fire_triggers(ts, market, TRIGGER_LAST)

    def _on_index_price(self, cmd: SetIndexPrice) -> None:
        """Record an index price; with computed marks / funding, feed and apply them.

        The computed mark samples the book's mid and the last trade at this moment (the
        impact bid/ask of the premium index are the best bid/ask).
        """
        ts, symbol, index = cmd
        market = self.markets.get(symbol)
        if market is None:
            raise ValueError(f"index price at ts {ts}: unknown symbol {symbol!r}")
        if type(index) is not int or index <= 0:
            raise ValueError(f"index price at ts {ts} for {symbol}: {index!r} is not a positive subtick count")
        market.index_price_subticks = index
        self._out.append(_new(IndexPriceUpdated, (ts, symbol, index)))
        book = market.book
        per_tick = market.instrument.subticks_per_tick
        bid, ask = book.best_bid(), book.best_ask()
        premium = market.premium
        if premium is not None and not premium.replayed and bid is not None and ask is not None:
            premium.on_premium(ts, premium_index_e8(bid * per_tick, ask * per_tick, index))  # (replayed: the venue's values only)
        calc = market.mark_calc
        if calc is not None:
            calc.on_index(ts, index)
            if bid is not None and ask is not None:
                calc.on_mid(ts, (bid + ask) * per_tick)
            if market.last_price_ticks:
                calc.on_last(ts, market.last_price_ticks * per_tick)
            mark = calc.mark_subticks(ts)
            if mark is not None and mark != market.mark_price_subticks:
                self._apply_mark(ts, market, mark)

    def _on_mark_price(self, cmd: SetMarkPrice) -> None:
        """Record a new mark price and fire mark-triggered orders it crossed."""
        ts, symbol, mark = cmd
        market = self.markets.get(symbol)
        if market is None:
            raise ValueError(f"mark price at ts {ts}: unknown symbol {symbol!r}")
        if type(mark) is not int or mark <= 0:
            raise ValueError(f"mark price at ts {ts} for {symbol}: {mark!r} is not a positive subtick count")
        self._apply_mark(ts, market, mark)

    def _apply_mark(self, ts: int, market: _Market, mark: int) -> None:
        """A new mark: event, risk index, mark-triggered orders."""
        symbol = market.instrument.symbol
        market.mark_price_subticks = mark
        self._out.append(_new(MarkPriceUpdated, (ts, symbol, mark)))
        if self.ledger is not None:
            self.ledger.on_mark(symbol, mark)
            if self.liquidator is not None and self.ledger.fund.positions:
                self.liquidator.unwind_fund(ts, market)
        if market.triggers.orders:
            self._fire_triggers(ts, market, TRIGGER_MARK)

    def _on_set_stp(self, cmd: SetSelfTradePrevention) -> None:
        """Set an account's self-trade prevention mode (applies to its next orders)."""
        if type(cmd.account_id) is not int or cmd.account_id <= 0:
            self._out.append(_new(OrderRejected, (cmd.ts_ns, "", cmd.account_id, None, 0, RejectReason.INVALID_ACCOUNT)))
            return
        if cmd.stp_mode not in range(len(STP_NAMES)):
            self._out.append(
                _new(OrderRejected, (cmd.ts_ns, "", cmd.account_id, None, 0, RejectReason.INVALID_STP_MODE))
            )
            return
        if cmd.stp_mode == STP_NONE:
            self.stp_modes.pop(cmd.account_id, None)
        else:
            self.stp_modes[cmd.account_id] = cmd.stp_mode

    # ------------------------------------------------------------------ risk
    def _report_risk(self, ts: int, symbol: str) -> None:
        """Evaluate the scopes the ledger found near a threshold; emit MarginCall / Liquidatable."""
        ledger = self.ledger
        assert ledger is not None
        append = self._out.append
        for kind, scope, balance, mm in ledger.evaluate_pending():
            ratio = ledger.margin_ratio_e8(balance, mm)
            if type(scope) is Position:
                fields = (ts, scope.account_id, "ISOLATED", scope.symbol, scope.position_side, balance, mm, ratio)
                sym = scope.symbol
            else:
                fields = (ts, scope.account_id, "CROSS", symbol, 0, balance, mm, ratio)  # type: ignore[union-attr]
                sym = symbol
            if kind == "LIQUIDATABLE":
                mark = self.markets[sym].mark_price_subticks if sym else 0
                append(_new(Liquidatable, fields + (mark,)))
                if self.liquidator is not None:
                    self.liquidator.liquidate(ts, scope, balance, mm, sym)
            else:
                append(_new(MarginCall, fields))

    def _on_funding(self, cmd: SettleFunding) -> None:
        """Settle funding on every position of the instrument at its current mark."""
        ts, symbol, rate = cmd
        market = self.markets.get(symbol)
        if market is None:
            raise ValueError(f"funding at ts {ts}: unknown symbol {symbol!r}")
        if rate is None:
            if market.premium is None:
                raise ValueError(f"funding at ts {ts} for {symbol}: no rate given and computed funding is off")
            premium = market.premium.settle(ts)
            cap = market.funding_cap_e8
            rate = funding_rate_e8(0 if premium is None else premium, cap_e8=cap)
        if type(rate) is not int:
            raise ValueError(f"funding at ts {ts} for {symbol}: rate_e8 {rate!r} is not an int")
        if market.mark_calc is not None:
            interval = market.instrument.funding_interval_ns
            market.mark_calc.on_funding_rate(rate, next_funding_time_ns(ts, interval))
        ledger = self.ledger
        if ledger is None:
            return
        mark = market.mark_price_subticks or market.last_price_ticks * market.instrument.subticks_per_tick
        if not mark:
            # no mark and no trade yet: nothing has filled (a fill sets the last price, a
            # liquidation needs a mark), so no position is open and nothing is paid: a no-op
            return
        amounts, dust = ledger.settle_funding(symbol, rate, mark)
        append = self._out.append
        paid = received = 0
        for pos, amount in amounts:
            if amount < 0:
                paid -= amount
            else:
                received += amount
            if pos.account_id:
                append(_new(FundingPaid, (ts, pos.account_id, symbol, pos.position_side, rate, mark, amount)))
        append(_new(FundingSettled, (ts, symbol, rate, mark, len(amounts), paid, received, dust)))

    def _fund_changed(self, command: Command) -> None:
        """Record an insurance-fund change the liquidation engine did not explain (funding
        dust, unwinding, deficits of closes below bankruptcy); report any shortfall."""
        ledger = self.ledger
        assert ledger is not None
        short = ledger.absorb_fund_shortfall()
        name = type(command).__name__
        change = ledger.fund.wallet_atoms - self._fund_seen
        if change:
            ledger.fund_history.append((command.ts_ns, ledger.fund.wallet_atoms, change, name))
        if short:
            ledger.fund_history.append((command.ts_ns, 0, 0, f"uncovered loss {short} atoms ({name})"))
            self._out.append(_new(UncoveredLoss, (command.ts_ns, short, ledger.uncovered_loss_atoms, name)))
        self._fund_seen = ledger.fund.wallet_atoms

    # ------------------------------------------------------------------ liquidation glue
    def _accept_internal(
        self, ts: int, market: _Market, order: Order, market_order: bool = False, label: str = ""
    ) -> None:
        """Announce an order the exchange itself sends (liquidation, fund unwind).

        ``label`` shows in the event's client-order-id field; the order itself carries
        none, so it never collides with the account's own client ids.
        """
        self._out.append(
            _new(
                OrderAccepted,
                (ts, market.instrument.symbol, order.order_id, order.account_id, label or None, order.side,
                 MARKET if market_order else LIMIT, order.tif, 0 if market_order else order.price_ticks,
                 order.qty_lots, 0),
            )
        )

    def _cancel_internal(self, ts: int, symbol: str, order_id: int, reason: str) -> None:
        """Cancel a resting or waiting order (USER, LIQUIDATION, REDUCE_ONLY): out of the book
        or the trigger index, its margin released, its client id freed, events emitted."""
        market = self.markets[symbol]
        book = market.book
        order = book.orders.get(order_id)
        ledger = self.ledger
        if order is not None:
            leaves = order.leaves_lots
            level_lots = book.remove(order)
            self._forget_client_id(order.account_id, order.client_order_id)
            if ledger is not None:
                ledger.release_order(order_id)
            self._out.append(_new(OrderCancelled, (ts, symbol, order_id, order.account_id, leaves, reason)))
            if self.emit_book_deltas:
                self._out.append(_new(BookDelta, (ts, symbol, order.side, order.price_ticks, level_lots)))
            return
        stop = market.triggers.remove(order_id)
        if stop is not None:
            self._forget_client_id(stop.account_id, stop.client_order_id)
            if ledger is not None:
                ledger.count_order(stop.account_id, symbol, -1, order_id)
            self._out.append(_new(OrderCancelled, (ts, symbol, order_id, stop.account_id, stop.qty_lots, reason)))

    def _emit_position(self, ts: int, pos: Position) -> None:
        if pos.account_id == 0:
            return  # the EXTERNAL mirror is not reported
        ledger = self.ledger
        assert ledger is not None
        self._out.append(
            _new(
                PositionChanged,
                (ts, pos.account_id, pos.symbol, pos.position_side, pos.qty_lots, pos.cost_atoms, pos.margin_atoms,
                 pos.realized_pnl_atoms, ledger.any_account(pos.account_id).wallet_atoms),
            )
        )

    def _emit_liquidation(self, ts: int, *fields: object) -> None:
        self._out.append(_new(Liquidation, (ts, *fields)))

    # ------------------------------------------------------------------ accounts
    def _on_account_command(self, cmd: Command) -> None:
        """Deposits, withdrawals, leverage, margin and position modes, isolated margin moves."""
        ledger = self.ledger
        out = self._out
        ts, account = cmd.ts_ns, cmd.account_id
        name = type(cmd).__name__
        if ledger is None:
            out.append(_new(CommandRejected, (ts, account, name, "NO_LEDGER")))
            return
        if type(account) is not int or account <= 0:
            out.append(_new(CommandRejected, (ts, account, name, RejectReason.INVALID_ACCOUNT)))
            return
        symbol = getattr(cmd, "symbol", "")
        if symbol and symbol not in self.markets:
            out.append(_new(CommandRejected, (ts, account, name, RejectReason.UNKNOWN_SYMBOL)))
            return
        if type(cmd) is Deposit:
            reason = ledger.deposit(account, cmd.amount_atoms)
            if not reason:
                wallet = ledger.accounts[account].wallet_atoms
                out.append(_new(BalanceChanged, (ts, account, "DEPOSIT", cmd.amount_atoms, wallet)))
        elif type(cmd) is Withdraw:
            reason = ledger.withdraw(account, cmd.amount_atoms)
            if not reason:
                wallet = ledger.accounts[account].wallet_atoms
                out.append(_new(BalanceChanged, (ts, account, "WITHDRAW", -cmd.amount_atoms, wallet)))
        elif type(cmd) is SetLeverage:
            reason = ledger.set_leverage(account, symbol, cmd.leverage)
            if not reason:
                out.append(_new(SettingChanged, (ts, account, symbol, "LEVERAGE", str(cmd.leverage))))
        elif type(cmd) is SetMarginMode:
            reason = ledger.set_margin_mode(account, symbol, cmd.margin_mode)
            if not reason:
                mode = MARGIN_MODE_NAMES[cmd.margin_mode]
                out.append(_new(SettingChanged, (ts, account, symbol, "MARGIN_MODE", mode)))
        elif type(cmd) is SetPositionMode:
            reason = ledger.set_position_mode(account, bool(cmd.hedge_mode))
            if not reason:
                mode = "HEDGE" if cmd.hedge_mode else "ONE_WAY"
                out.append(_new(SettingChanged, (ts, account, "", "POSITION_MODE", mode)))
        else:
            assert type(cmd) is AdjustIsolatedMargin
            reason = ledger.adjust_isolated_margin(account, symbol, cmd.position_side, cmd.delta_atoms)
            if not reason:
                acct = ledger.accounts[account]
                pos = acct.positions[(symbol, cmd.position_side)]
                out.append(_new(BalanceChanged, (ts, account, "ISOLATED_MARGIN", -cmd.delta_atoms, acct.wallet_atoms)))
                out.append(
                    _new(
                        PositionChanged,
                        (ts, account, symbol, pos.position_side, pos.qty_lots, pos.cost_atoms, pos.margin_atoms,
                         pos.realized_pnl_atoms, acct.wallet_atoms),
                    )
                )
        if reason:
            out.append(_new(CommandRejected, (ts, account, name, reason)))

    # ------------------------------------------------------------------ state
    def state_hash(self) -> str:
        """Hex blake2b fingerprint of the whole exchange state.

        Covers every book (levels in price order, queues in order, each entry's id,
        account and sizes), every waiting stop order, last and mark prices, id counters,
        STP modes and, with a ledger, every account, position, setting and the insurance
        fund. Independent of process, hash seed and dict history. O(state).
        """
        h = hashlib.blake2b(digest_size=16)
        put = h.update
        put(f"ids {self.next_order_id} {self.next_trade_id}\n".encode())
        for account in sorted(self.stp_modes):
            put(f"stp {account} {self.stp_modes[account]}\n".encode())
        for symbol in sorted(self.markets):
            m = self.markets[symbol]
            # the mark in ticks when it is on the tick (as before marks were finer), else in
            # subticks with an "s": one spelling per value, and unchanged hashes for runs
            # whose marks are all on the tick
            q, r = divmod(m.mark_price_subticks, m.instrument.subticks_per_tick)
            put(f"market {symbol} {m.last_price_ticks} {q if not r else f'{m.mark_price_subticks}s'}\n".encode())
            for side in (BUY, SELL):
                for lv in m.book.levels(side):
                    put(f"L {side} {lv.price_ticks} {lv.total_lots} {lv.anon_lots}\n".encode())
                    for o in lv.live():
                        put(f" {o.order_id} {o.account_id} {o.leaves_lots} {o.qty_lots} {o.tif}\n".encode())
            for oid in sorted(m.triggers.orders):
                s = m.triggers.orders[oid]
                put(
                    f"S {oid} {s.account_id} {s.side} {s.order_type} {s.price_ticks} {s.qty_lots} "
                    f"{s.trigger_price_ticks} {s.trigger_by}\n".encode()
                )
        if self.ledger is not None:
            for line in self.ledger.state_lines():
                put(line.encode())
        return h.hexdigest()

    def _check(self) -> None:
        """Check every book and trigger index, and the client-id index. O(state)."""
        live_ids: dict[tuple[int, str], int] = {}
        for m in self.markets.values():
            m.book._check()
            m.triggers._check()
            for o in list(m.book.orders.values()) + list(m.triggers.orders.values()):  # type: ignore[operator]
                if o.client_order_id is not None:
                    live_ids[(o.account_id, o.client_order_id)] = o.order_id
        if live_ids != self._client_ids:
            from exsim.errors import StateError

            raise StateError("client order id index disagrees with the open orders")

    def describe(self) -> str:
        """One line per market: best bid/ask, last, mark, resting and waiting order counts."""
        lines = []
        for symbol, m in sorted(self.markets.items()):
            inst = m.instrument
            bid, ask = m.book.best_bid(), m.book.best_ask()

            def fmt(t: int | None) -> str:
                return "--" if not t else inst.price_str(t)

            mark = inst.mark_str(m.mark_price_subticks) if m.mark_price_subticks else "--"
            lines.append(
                f"{symbol}: bid {fmt(bid)} ask {fmt(ask)} last {fmt(m.last_price_ticks)} "
                f"mark {mark}; {len(m.book)} resting, {len(m.triggers)} waiting"
            )
        return "\n".join(lines)


__all__ = ["Exchange", "RejectReason", "TIF_NAMES", "TRIGGER_NAMES", "ORDER_TYPE_NAMES"]
