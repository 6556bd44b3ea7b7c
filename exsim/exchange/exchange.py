"""The exchange: the one place that sequences a command and emits what it caused.

Pipeline of one command (``DESIGN.md`` §2), all inside :meth:`Exchange.submit`:

1. validate the command (bad values are answered with ``OrderRejected`` + a reason code);
2. ``OrderBook.match`` / ``OrderBook.limit`` (the book knows nothing of accounts);
3. turn the book's raw fills into ``Fill`` events (one per match, both sides, fees);
4. report cancelled / expired remainders and the L2 levels that changed (``BookDelta``);
5. fire stop / take-profit / trailing orders whose reference price was crossed, each
   through the same path, until none is left;
6. contingent orders (``docs/orders.md``, :mod:`exsim.exchange.contingent`): the siblings
   of an OCO leg are cancelled right after the match that filled it is booked, or before
   a triggered leg trades; bracket exits are placed or grown once the command's matching
   is done (then any that is already through its trigger fires); links to orders that
   left are dropped at the end of the command (O(groups + brackets) while any exist);
7. hand the command's events, in order, to every sink.

Events are appended to one buffer while the command runs and given to the sinks once it
has completed, so no sink ever sees a half-applied command.

Money is in each instrument's margin asset (the ledger keeps a book per asset): fees are
the fee rate times a fill's money value, which for an inverse (COIN-M) contract is its
coin value ``contracts × contract size / price`` rounded down once per fill (Binance
COIN-M: "Transaction fee = number of contracts × contract multiplier / transaction price
× fee rate", https://www.binance.com/en/support/faq/binance-coin-margined-futures-contract-specifications-a4470430e3164c13932be2ef2b3cca4d);
a margin hold is taken on the order's worst-case coin value, at the lowest price it can
fill at (:meth:`Exchange._worst_inverse_notional`). Wallets, positions and the insurance
fund an event reports on are those of the instrument's asset; ``BalanceChanged`` and
``UncoveredLoss``, which name no instrument, carry the asset.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Callable, Final, Iterable

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
    STP_EXPIRE_MAKER,
    STP_NONE,
    TAKE_PROFIT_LIMIT,
    TIF_NAMES,
    TRAILING_STOP_MARKET,
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
    NewBracket,
    NewOco,
    NewOrder,
    SetLeverage,
    SetMarginMode,
    SetIndexPrice,
    SetPositionMode,
    SettleFunding,
    Withdraw,
    SetCollateralMode,
    CollateralIndex,
    SetCollateralRule,
    ClearReplayedLevels,
    SetReplayedLevels,
    ReplayedTrade,
    SetMarkPrice,
    SetReplayedLevel,
    SetSelfTradePrevention,
)
from exsim.exchange.events import (
    AutoExchange,
    CollateralRuleSet,
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
    fast_constructor,
)
from exsim.exchange.contingent import Bracket, Contingent, OcoGroup
from exsim.exchange.triggers import FALLING, STOP_TYPES, StopOrder, TriggerIndex, direction_of, fires
from exsim.exchange.trailing import MAX_CALLBACK_RATE_E8, MIN_CALLBACK_RATE_E8, TrailingIndex, TrailingStop
from exsim.instruments import Instrument
from exsim.ledger import MARGIN_MODE_NAMES, Ledger, Position
from exsim.ledger.accounts import Portfolio
from exsim.ledger.collateral import CollateralTier
from exsim.margin.funding import PremiumAverager, funding_rate_e8, next_funding_time_ns, premium_index_e8
from exsim.margin.mark import MarkPriceCalculator
from exsim.liquidation.engine import LiquidationEngine
from exsim.venues.profile import BINANCE, VenueProfile
from exsim.units import rate_ceil, subticks_ceil_ticks, subticks_floor_ticks

if TYPE_CHECKING:
    from exsim.ledger.ledger import AssetBook

Sink = Callable[[list[Event]], None]

#: order types that wait outside the book for a price
WAITING_TYPES: Final = STOP_TYPES | {TRAILING_STOP_MARKET}
#: order types a bracket's exit may be
EXIT_TYPES: Final = WAITING_TYPES | {LIMIT}

_new = tuple.__new__  # builds NamedTuple events without keyword handling (events.py)
_bare = object.__new__  # an Order with no slot set yet (the plain-order path sets them)
# the hot path's events, built from one tuple of their fields (events.py: ``_of``)
_accepted = fast_constructor(OrderAccepted)
_book_delta = fast_constructor(BookDelta)
_fill = fast_constructor(Fill)
_cancelled = fast_constructor(OrderCancelled)
_expired = fast_constructor(OrderExpired)

#: the plain-order path's maximum size for an instrument without one (an order above it
#: is not refused: it takes the general path, which has no maximum either)
NO_MAX_QTY_LOTS: Final = 1 << 62


def _order_id(order: StopOrder) -> int:
    return order.order_id


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
    #: a trailing stop's callback: not exactly one of rate (0.1 %..10 %) and ticks (> 0),
    #: or a callback on another order type
    INVALID_CALLBACK: Final = "INVALID_CALLBACK"
    #: another leg of the same NewOco / NewBracket was refused: none is accepted
    OCO_LEG_REJECTED: Final = "OCO_LEG_REJECTED"
    #: a NewOco whose legs do not fit together (fewer than 2, another account / symbol /
    #: time, a MARKET leg, two limit legs on one side, limit legs that cross), or an
    #: amend that would make a leg cross its sibling
    INVALID_OCO: Final = "INVALID_OCO"
    #: a NewBracket whose entry or exits do not fit (1..3 exits on the entry's other
    #: side, exit types stop / take-profit / trailing / limit)
    INVALID_BRACKET: Final = "INVALID_BRACKET"


class _Market:
    """Everything the exchange keeps per instrument."""

    __slots__ = (
        "instrument",
        "book",
        "prev_mark_subticks",
        "triggers",
        "trailing",
        "last_price_ticks",
        "mark_price_subticks",
        "index_price_subticks",
        "mark_calc",
        "premium",
        "funding_cap_e8",
        "asset",
        "min_qty_lots",
        "max_qty_lots",
        "min_notional_atoms",
        "symbol",
        "atoms_per_tick_lot",
        "fill_value",
        "maker_fee_e8",
        "taker_fee_e8",
    )

    def __init__(self, instrument: Instrument, queue_model: str) -> None:
        self.instrument = instrument
        # what every fill reads (the instrument is frozen): one slot read each
        self.symbol = instrument.symbol
        self.atoms_per_tick_lot = instrument.atoms_per_tick_lot
        #: a fill's money value: None for a linear contract (price × lots × atoms per
        #: tick-lot, computed inline), the instrument's rounding for an inverse one
        self.fill_value = instrument.fill_value_atoms if instrument.inverse else None
        self.maker_fee_e8 = instrument.maker_fee_e8
        self.taker_fee_e8 = instrument.taker_fee_e8
        # the instrument's order limits as the plain-order path compares them (the
        # instrument is frozen): at least 1 lot, no maximum as a bound past any real size
        self.min_qty_lots = max(1, instrument.min_qty_lots)
        self.max_qty_lots = instrument.max_qty_lots or NO_MAX_QTY_LOTS
        self.min_notional_atoms = instrument.min_notional_atoms
        self.asset = instrument.margin_asset  # the asset its money (fees, PnL, margin) is in
        self.book = OrderBook(queue_model)
        self.triggers = TriggerIndex()
        self.trailing = TrailingIndex()  # trailing stops (also listed in triggers.orders)
        self.last_price_ticks = 0  # 0: no trade yet
        self.mark_price_subticks = 0  # 0: no mark yet (subticks: 1e-8 of the quote asset)
        self.prev_mark_subticks = 0  # the mark before the last one (Hyperliquid's ADL price)
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
        venue: VenueProfile | None = None,
    ) -> None:
        #: the venue whose rules the liquidation engine and computed funding apply (its
        #: instruments must already be under its terms: :meth:`VenueProfile.instruments`)
        self.venue = venue if venue is not None else BINANCE
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
        if ledger is not None:
            ledger.fund_may_go_negative = self.venue.fund_may_go_negative
            ledger.tier_from_orders = self.venue.tier_from_orders
        #: closes liquidatable scopes inside the command that found them (None: only report)
        self.liquidator = (
            LiquidationEngine(self, fund_unwind_lots=fund_unwind_lots, adl_score=adl_score, venue=self.venue)
            if ledger is not None and liquidations
            else None
        )
        self.emit_book_deltas = emit_book_deltas
        self.stp_modes: dict[int, int] = {}  # account id -> STP mode (default STP_NONE)
        self.next_order_id = 1
        self.next_trade_id = 1
        self._client_ids: dict[tuple[int, str], int] = {}  # open orders' client ids
        #: OCO groups and brackets (exsim.exchange.contingent)
        self.contingent = Contingent()
        #: every command ends in :meth:`_settle`: there is a ledger, or an OCO or bracket
        #: has been placed (contingent orders to settle from then on)
        self._settles = ledger is not None
        self._filling: list[tuple[int, int]] = []  # contingent orders filling in the match being booked
        #: stops fired by the price and not yet sent to the book: an OCO sibling filling
        #: before their turn cancels them here (they are no longer in the trigger index)
        self._fired_waiting: dict[int, StopOrder] = {}
        self._liquidating_order_id = 0  # the liquidation order being executed, 0 if none
        self._cmd_seq = 0  # commands submitted so far
        #: the insurance funds' balances last recorded in their history: the home asset's
        #: (kept apart: one compare per command on the one-asset path) and the others'
        self._fund_seen = ledger.fund.wallet_atoms if ledger is not None else 0
        self._other_books = (
            tuple(b for a, b in ledger.assets.items() if a != ledger.home_asset) if ledger is not None else ()
        )
        self._other_fund_seen = {b.asset: b.fund.wallet_atoms for b in self._other_books}
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
            NewOco: self._on_oco,  # type: ignore[dict-item]
            NewBracket: self._on_bracket,  # type: ignore[dict-item]
            SetCollateralMode: self._on_account_command,  # type: ignore[dict-item]
            CollateralIndex: self._on_collateral_index,  # type: ignore[dict-item]
            SetCollateralRule: self._on_collateral_rule,  # type: ignore[dict-item]
        }

    # ------------------------------------------------------------------ entry point
    def submit(self, command: Command) -> None:
        """Run one command to completion, then hand its events to every sink."""
        self._cmd_seq += 1
        self._handlers[type(command)](command)
        if self._settles:
            self._settle(command)
        out = self._out
        if out:
            for sink in self.sinks:
                sink(out)
            out.clear()

    def _settle(self, command: Command) -> None:
        """The end of a command that may have left work: contingent orders to settle,
        scopes at risk to liquidate, negative balances to exchange, insurance funds to
        record, links of orders that left to drop.

        Only called with a ledger or once an OCO or bracket has been placed: before that
        no contingent state can exist (only :meth:`_on_oco` and :meth:`_on_bracket` make
        some), so a pure matching engine skips it whole.
        """
        contingent = self.contingent
        # (Contingent.__bool__ spelled out: no call on the common path, nothing linked)
        if contingent.groups or contingent.brackets or contingent.grown or contingent.entry_cancels:
            self._settle_contingent(command.ts_ns)
        ledger = self.ledger
        if ledger is not None:
            liquidator = self.liquidator
            if liquidator is not None and liquidator.waiting and liquidator.waiting[0][0] <= command.ts_ns:
                liquidator.release_waiting(command.ts_ns)  # chunk cooldowns over, retries due
            if ledger.pending:
                symbol = getattr(command, "symbol", "")
                if type(command) is CollateralIndex:
                    symbol = "@" + command.asset  # the collateral index that moved
                elif type(command) is SetCollateralRule:
                    symbol = "@" + command.asset + ":rule"  # its buffers or haircut tiers changed
                while ledger.pending:  # a liquidation can put its counterparties at risk
                    self._report_risk(command.ts_ns, symbol)
                    # liquidation orders trade like any order: the stops whose trigger the
                    # last price they made reached fire in this command too (and may put
                    # more scopes at risk: the loop goes on)
                    for market in self.markets.values():
                        if market.triggers.orders:
                            self._fire_triggers(command.ts_ns, market, TRIGGER_LAST)
                    if contingent:
                        self._settle_contingent(command.ts_ns)
            if ledger.exchange_due:
                self._auto_exchange(command.ts_ns)
            if ledger.fund.wallet_atoms != self._fund_seen:
                self._fund_changed(command, ledger.book())
            if self._other_books:
                seen = self._other_fund_seen
                for book in self._other_books:
                    if book.fund.wallet_atoms != seen[book.asset]:
                        self._fund_changed(command, book)
        if contingent.dirty:  # a linked order left in this command: drop its links
            contingent.prune(self._is_open)

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

    def _left(self, order_id: int) -> None:
        """``order_id`` left the exchange (filled, cancelled, expired, refused at its
        trigger): if it is linked, its links are pruned at the end of the command. O(1)."""
        con = self.contingent
        if order_id in con.watched:
            con.dirty = True

    def _is_open(self, symbol: str, order_id: int) -> bool:
        market = self.markets[symbol]
        return order_id in market.book.orders or order_id in market.triggers.orders

    # ------------------------------------------------------------------ new orders
    def _reject(self, cmd: NewOrder | CancelOrder | AmendOrder, reason: str, order_id: int = 0) -> None:
        self._out.append(
            _new(OrderRejected, (cmd.ts_ns, cmd.symbol, cmd.account_id, cmd.client_order_id, order_id, reason))
        )

    def _on_new_order(self, cmd: NewOrder) -> None:
        """Validate a new order; rest it in the trigger index or send it to the book.

        Most orders are plain: a limit or market order with no trigger and no callback,
        whose every field passes. Those are checked, announced and executed here in one
        pass (the fields unpacked once, no helper per check). Any other order, and any
        order some check would refuse, goes through :meth:`_place_order`, the general
        path that names the reject reason: the plain path only ever accepts what the
        general one accepts, so the two cannot disagree on a verdict or an event.
        """
        ts, account, symbol, side, qty, price, otype, tif, coid, reduce_only, trig, trig_by, pside, cb_rate, cb_ticks = cmd
        market = self.markets.get(symbol)
        if market is None:
            return self._reject(cmd, RejectReason.UNKNOWN_SYMBOL)
        if not (
            type(account) is int
            and account > 0
            and (side == BUY or side == SELL)
            and type(qty) is int
            and market.min_qty_lots <= qty <= market.max_qty_lots
            and trig == 0
            and not cb_rate
            and not cb_ticks
            and (
                otype == LIMIT  # (first: the most common)
                and type(price) is int
                and price > 0
                and (tif == GTC or tif == IOC or tif == FOK or tif == GTX and not market.book.would_take(side, price))
                and (not market.min_notional_atoms or market.instrument.fill_value_atoms(price, qty) >= market.min_notional_atoms)
                or otype == MARKET
                and price == 0
                and (tif == IOC or tif == GTC or tif == FOK)
            )
            and (coid is None or (account, coid) not in self._client_ids)
        ):
            return self._place_order(market, cmd)
        order_id = self.next_order_id
        ledger = self.ledger
        if ledger is not None:
            reason = self._hold(market, cmd, order_id)
            if reason:
                return self._reject(cmd, reason)
        self.next_order_id = order_id + 1
        if coid is not None:
            self._client_ids[(account, coid)] = order_id
        out = self._out
        is_market = otype == MARKET
        out.append(
            _accepted((ts, symbol, order_id, account, coid, side, otype, tif, 0 if is_market else price, qty, trig))
        )
        # Order(order_id, account, side, price, qty, qty, tif, coid, ts, reduce_only, pside)
        # with its slots set here: no __init__ frame (0.1-0.2 us of a ~2 us command);
        # tests/exchange/test_plain_path.py checks that every slot of Order is set
        order = _bare(Order)
        order.order_id = order_id
        order.account_id = account
        order.side = side
        order.price_ticks = price
        order.leaves_lots = order.qty_lots = qty
        order.tif = tif
        order.client_order_id = coid
        order.ts_ns = ts
        order.reduce_only = reduce_only
        order.position_side = pside
        if tif == FOK:
            self._execute(ts, market, order, is_market)
        else:  # _execute, inline: the order is matched, and rests or expires
            book = market.book
            fills = self._fills
            stp_modes = self.stp_modes
            stp = stp_modes.get(account, STP_NONE) if stp_modes else STP_NONE
            if is_market or tif == IOC:
                left = order.leaves_lots = book.match(order_id, account, side, qty, None if is_market else price, stp, fills)
                rested = 0
            else:  # GTC, GTX
                rested = book.limit(order, stp, fills)  # the level's new size, 0 if not rested
                left = order.leaves_lots
            if fills or book.stp_expired:
                self._report_fills(ts, market, order, qty, fills)
            if rested:
                if self.emit_book_deltas:
                    out.append(_book_delta((ts, symbol, side, order.price_ticks, rested)))
            elif left:
                if book.taker_stp_expired:
                    reason = "STP"
                elif is_market and left == qty:
                    reason = "NO_LIQUIDITY"
                else:
                    reason = "IOC"
                self._finish(order, ts, market, reason)
            else:  # filled: it leaves
                watched = self.contingent.watched
                if watched and order_id in watched:
                    self.contingent.dirty = True
                if coid is not None:
                    self._client_ids.pop((account, coid), None)
                if ledger is not None:
                    ledger.release_order(order_id)
        if market.triggers.orders:
            self._fire_triggers(ts, market, TRIGGER_LAST)
        return None

    def _place_order(self, market: _Market, cmd: NewOrder) -> None:
        """The general path of a new order: every order type, every reject reason."""
        reason = self._new_order_problem(market, cmd)
        if reason:
            return self._reject(cmd, reason)
        order_id = self.next_order_id
        reason = self._hold(market, cmd, order_id)
        if reason:
            return self._reject(cmd, reason)
        self.next_order_id = order_id + 1
        order = self._accept(market, cmd, order_id)
        if order is not None:
            self._execute(cmd.ts_ns, market, order, cmd.order_type == MARKET)
            if market.triggers.orders:
                self._fire_triggers(cmd.ts_ns, market, TRIGGER_LAST)
        return None

    def _reference_subticks(self, market: _Market, trigger_by: int) -> int:
        """The last price (in subticks) or the mark, 0 if there is none yet."""
        if trigger_by == TRIGGER_LAST:
            return market.last_price_ticks * market.instrument.subticks_per_tick
        return market.mark_price_subticks

    def _new_order_problem(self, market: _Market, cmd: NewOrder, exit_of_bracket: bool = False) -> str | None:
        """The reject reason for a new order (everything but margin), or None.

        A bracket's exit is never refused for triggering at once (it fires instead)."""
        ts, account, symbol, side, qty, price, otype, tif, coid, reduce_only, trig, trig_by, pside, cb_rate, cb_ticks = cmd
        reason = self._order_problem(market, account, side, qty, price, otype, tif, coid, trig, trig_by)
        if reason:
            return reason
        if otype == TRAILING_STOP_MARKET:
            if type(cb_rate) is not int or type(cb_ticks) is not int or (cb_rate > 0) == (cb_ticks > 0):
                return RejectReason.INVALID_CALLBACK
            if cb_rate and not MIN_CALLBACK_RATE_E8 <= cb_rate <= MAX_CALLBACK_RATE_E8 or cb_ticks < 0:
                return RejectReason.INVALID_CALLBACK
        elif cb_rate or cb_ticks:
            return RejectReason.INVALID_CALLBACK
        if tif == GTX and market.book.would_take(side, price):
            return RejectReason.POST_ONLY_WOULD_TAKE
        if exit_of_bracket:
            return None
        if otype in STOP_TYPES:
            if trig_by == TRIGGER_LAST:
                ref = market.last_price_ticks
                fire = bool(ref) and fires(direction_of(side, otype), trig, ref)
            else:  # the mark is finer than the tick: compare it exactly, in subticks
                ref = market.mark_price_subticks
                fire = bool(ref) and fires(direction_of(side, otype), trig * market.instrument.subticks_per_tick, ref)
            if fire:
                return RejectReason.WOULD_IMMEDIATELY_TRIGGER
        elif otype == TRAILING_STOP_MARKET and trig:
            # Binance -2021: a BUY's activation must be below the latest price, a SELL's above
            ref = self._reference_subticks(market, trig_by)
            act = trig * market.instrument.subticks_per_tick
            if ref and (act >= ref if side == BUY else act <= ref):
                return RejectReason.WOULD_IMMEDIATELY_TRIGGER
        return None

    def _hold(self, market: _Market, cmd: NewOrder, order_id: int, store: bool = False) -> str | None:
        """Margin for an order about to be accepted (held now for a book order, checked
        only for one that waits), or the refusal.

        An order that executes at once (market, IOC, FOK) is only checked, nothing held
        (:meth:`Ledger.hold_for_order`'s ``store``), unless ``store``: the caller holds
        margin for other orders before this one executes (OCO legs, bracket exits), and
        their checks must see its hold."""
        ledger = self.ledger
        if ledger is None:
            return None
        _ts, account, symbol, side, qty, price, otype, tif, _coid, reduce_only, _trig, _trig_by, pside, _cb, _cbt = cmd
        if otype in WAITING_TYPES:  # no margin is held until the order triggers
            return ledger.order_problem(account, symbol, side, qty, reduce_only, pside)
        is_market = otype == MARKET
        notional = self._worst_notional(market, side, qty, None if is_market else price)
        may_rest = not is_market and (tif == GTC or tif == GTX)
        return ledger.hold_for_order(order_id, account, symbol, side, qty, notional, reduce_only, pside, may_rest, store)

    def _accept(self, market: _Market, cmd: NewOrder, order_id: int, exit_of_bracket: bool = False) -> Order | None:
        """Announce an order that passed every check; file a waiting one in the trigger
        index and return None, or return the book order for the caller to execute."""
        ts, account, symbol, side, qty, price, otype, tif, coid, reduce_only, trig, trig_by, pside, cb_rate, cb_ticks = cmd
        is_market = otype == MARKET
        if coid is not None:
            self._client_ids[(account, coid)] = order_id
        self._out.append(
            _new(
                OrderAccepted,
                (ts, symbol, order_id, account, coid, side, otype, tif, 0 if is_market else price, qty, trig),
            )
        )
        if otype in WAITING_TYPES:
            if otype == TRAILING_STOP_MARKET:
                per_tick = market.instrument.subticks_per_tick
                stop: StopOrder = TrailingStop(
                    order_id, account, side, qty, trig, trig_by, coid, reduce_only, ts, pside, tif, cb_rate, cb_ticks,
                    per_tick,
                )
                market.triggers.add_trailing(stop)
                ref = self._reference_subticks(market, trig_by)
                market.trailing.add(stop, ref)  # type: ignore[arg-type]
                if exit_of_bracket and trig and ref and not stop.extreme_subticks:  # type: ignore[attr-defined]
                    act = trig * per_tick
                    if act <= ref if stop.direction == FALLING else act >= ref:
                        market.trailing.activate_now(stop, ref)  # type: ignore[arg-type]
            else:
                stop = StopOrder(order_id, account, side, otype, price, qty, trig, trig_by, coid, reduce_only, ts, pside, tif)
                market.triggers.add(stop)
            if self.ledger is not None:
                self.ledger.count_order(account, symbol, +1, order_id)
            return None
        return Order(order_id, account, side, price, qty, qty, tif, coid, ts, reduce_only, pside)

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

        Inverse contracts (coin-margined, Binance COIN-M): the notional is the coin value
        ``lots × face / price``, largest at the **lowest** price the order can fill at, so
        the bound is taken there instead (:meth:`_worst_inverse_notional`).
        """
        book = market.book
        inst = market.instrument
        if inst.inverse:
            return self._worst_inverse_notional(market, side, qty, limit_px)
        atpl = inst.atoms_per_tick_lot
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

    def _worst_inverse_notional(self, market: _Market, side: int, qty: int, limit_px: int | None) -> int:
        """Upper bound of an inverse order's coin notional, atoms: its value at the lowest
        price it can fill at (``qty × face / price`` falls as the price rises).

        A limit buy fills at asks from the best ask up to its limit, and at its limit once
        it rests: the lowest is ``min(limit, best ask)``. A limit sell never fills below
        its limit (it takes bids at or above it, rests at it): its limit. A market buy's
        lowest fill is the best ask; a market sell's the deepest bid it reaches. Without a
        book side: the last price, else the mark rounded down. Each fill's value is rounded
        down (:meth:`Instrument.fill_value_atoms`) and a sum of floors is at most the floor
        of the sum, so the bound holds for the fills too.
        """
        book = market.book
        fallback = market.last_price_ticks or subticks_floor_ticks(
            market.mark_price_subticks, market.instrument.subticks_per_tick
        )
        if limit_px is None:
            px = (book.best_ask() if side == BUY else book.sweep_price(side, qty)) or fallback
        elif side == BUY:
            ask = book.best_ask()
            px = limit_px if ask is None or ask > limit_px else ask
        else:
            px = limit_px
        return market.instrument.fill_value_atoms(px, qty) if px > 0 else 0

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
            if inst.fill_value_atoms(price, qty) < inst.min_notional_atoms:
                return RejectReason.NOTIONAL_BELOW_MIN
        elif otype in WAITING_TYPES or otype == MARKET:
            if price != 0:
                return RejectReason.INVALID_PRICE  # market types take no limit price
            if tif == GTX or tif not in (GTC, IOC, FOK):
                return RejectReason.INVALID_TIF
        else:
            return RejectReason.INVALID_ORDER_TYPE
        if otype in WAITING_TYPES:
            # a trailing stop's trigger price is its activation price, 0 for "now"
            if type(trig) is not int or trig < (0 if otype == TRAILING_STOP_MARKET else 1):
                return RejectReason.INVALID_TRIGGER
            if trig_by != TRIGGER_LAST and trig_by != TRIGGER_MARK:
                return RejectReason.INVALID_TRIGGER
        elif trig != 0:
            return RejectReason.INVALID_TRIGGER
        if coid is not None and (account, coid) in self._client_ids:
            return RejectReason.DUPLICATE_CLIENT_ORDER_ID
        return None

    def _execute(self, ts: int, market: _Market, order: Order, is_market: bool) -> None:
        """Match an accepted order, rest (GTC/GTX) or expire (IOC/FOK/market) the remainder.

        Hot path (every order that reaches the book): attributes read once, the common
        outcomes (rested, or filled completely with nothing linked) handled inline.
        """
        book = market.book
        fills = self._fills
        side = order.side
        account = order.account_id
        stp_modes = self.stp_modes
        stp = stp_modes.get(account, STP_NONE) if stp_modes else STP_NONE
        tif = order.tif
        qty = order.leaves_lots
        if is_market:
            if tif == FOK and book.fillable_lots(side, None, account, stp, qty) < qty:
                self._finish(order, ts, market, "FOK")
                return
            left = order.leaves_lots = book.match(order.order_id, account, side, qty, None, stp, fills)
            rested = 0
        elif tif == GTC or tif == GTX:
            rested = book.limit(order, stp, fills)  # the level's new size, 0 if not rested
            left = order.leaves_lots
        else:
            if tif == FOK and book.fillable_lots(side, order.price_ticks, account, stp, qty) < qty:
                self._finish(order, ts, market, "FOK")
                return
            left = order.leaves_lots = book.match(order.order_id, account, side, qty, order.price_ticks, stp, fills)
            rested = 0
        if fills or book.stp_expired:
            self._report_fills(ts, market, order, qty, fills)
        if rested:
            if self.emit_book_deltas:
                self._out.append(_book_delta((ts, market.symbol, side, order.price_ticks, rested)))
        elif left:
            if book.taker_stp_expired:
                reason = "STP"
            elif is_market and left == qty:
                reason = "NO_LIQUIDITY"
            else:
                reason = "IOC"
            self._finish(order, ts, market, reason)
        else:  # filled: it leaves (as _left, _forget_client_id and the release, inline)
            order_id = order.order_id
            watched = self.contingent.watched
            if watched and order_id in watched:
                self.contingent.dirty = True
            if order.client_order_id is not None:
                self._client_ids.pop((account, order.client_order_id), None)
            if self.ledger is not None:
                self.ledger.release_order(order_id)

    def _finish(self, order: Order, ts: int, market: _Market, reason: str) -> None:
        """Expire the unfilled remainder of an order that does not rest."""
        self._out.append(_expired((ts, market.symbol, order.order_id, order.account_id, order.leaves_lots, reason)))
        order.leaves_lots = 0
        self._left(order.order_id)
        self._forget_client_id(order.account_id, order.client_order_id)
        if self.ledger is not None:
            self.ledger.release_order(order.order_id)

    def _report_fills(self, ts: int, market: _Market, taker: Order | None, taker_qty: int, fills: list[BookFill]) -> None:
        """Emit Fill / STP-cancel / BookDelta events for the book's last match.

        ``taker`` is None for an anonymous (replayed) aggressor. Clears ``fills``.
        Hot path: one pass, locals bound, events built from one tuple (``_fill``).
        """
        append = self._out.append
        symbol = market.symbol
        atpl = market.atoms_per_tick_lot
        value = market.fill_value  # None: linear, the value inline
        maker_fee = market.maker_fee_e8
        trade_id = self.next_trade_id
        book = market.book
        if taker is not None:
            t_id = taker.order_id
            t_acct = taker.account_id
            t_side = taker.side
            t_leaves = taker_qty
            taker_fee = market.taker_fee_e8 if t_acct > 0 else 0  # the house's own orders pay none
        else:
            t_id = t_acct = t_leaves = taker_fee = 0
            t_side = fills[0][0].side ^ 1 if fills else 0
        last_px = 0
        touched: list[int] = []
        watched = self.contingent.watched
        hits: list[tuple[int, int]] = []  # (contingent order id, lots) filled in this match
        for maker, px, q in fills:
            notional = px * q * atpl if value is None else value(px, q)
            m_id = maker.order_id
            if m_id:
                if watched and m_id in watched:
                    hits.append((m_id, q))
                m_leaves = maker.leaves_lots
                m_fee = rate_ceil(notional, maker_fee)
                if not m_leaves and maker.client_order_id is not None:
                    self._client_ids.pop((maker.account_id, maker.client_order_id), None)
            else:  # replayed size: no account, no fee
                m_leaves = m_fee = 0
            if t_id:
                t_leaves -= q
            append(_fill((ts, symbol, trade_id, px, q, t_side, t_id, t_acct, t_leaves, rate_ceil(notional, taker_fee),
                          m_id, maker.account_id, m_leaves, m_fee)))
            trade_id += 1
            if px != last_px:
                touched.append(px)
                last_px = px
        if watched and t_id in watched and t_leaves != taker_qty:
            hits.append((t_id, taker_qty - t_leaves))
        if self.ledger is not None:
            self._filling = hits  # (an exit filling here resolves as OCO, not POSITION_CLOSED)
            self._book_fills(ts, market, taker, fills, len(fills))
            self._filling = []
        if hits:
            self.contingent.dirty = True  # linked orders traded (some may be done)
            # OCO legs that filled: their siblings go right after the match is booked
            self._contingent_filled(ts, market, hits, t_id, groups=True)
        self.next_trade_id = trade_id
        stp_expired = book.stp_expired
        for maker, cancelled_lots in stp_expired:
            append(_cancelled((ts, symbol, maker.order_id, maker.account_id, cancelled_lots, "STP")))
            self._left(maker.order_id)
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
                append(_book_delta((ts, symbol, maker_side, px, level_lots(maker_side, px))))
        if hits:
            # bracket entries that filled: their exits are placed or grown at command end
            self._contingent_filled(ts, market, hits, t_id, groups=False)

    def _book_fills(self, ts: int, market: _Market, taker: Order | None, fills: list[BookFill], n: int) -> None:
        """Apply the last ``n`` matches to the ledger (both sides) and report positions.

        Reads the Fill events just emitted (the last ``n`` of the buffer), so the ledger
        sees exactly what the events say. Anonymous sides are booked to EXTERNAL (the
        common case, a trader against replayed size: the mirror goes straight to
        :meth:`Ledger.apply_external_fill`, no trader bookkeeping to skip).
        """
        ledger = self.ledger
        assert ledger is not None
        out = self._out
        symbol = market.instrument.symbol
        t_pside = taker.position_side if taker is not None else 0
        changed: dict[int, Position] = {}  # id(position) -> position, in first-touched order
        liquidating = self._liquidating_order_id
        apply_fill = ledger.apply_fill
        for (maker, _px, _q), ev in zip(fills, out[len(out) - n :]):
            # a Fill's fields, in its order (exsim.exchange.events.Fill)
            _ts, _sym, _trade, px, q, t_side, t_id, t_acct, _t_leaves, t_fee, m_id, m_acct, m_leaves, m_fee = ev
            pos = apply_fill(t_acct, t_id, symbol, t_side, q, px, t_fee, t_pside, liquidating != 0 and t_id == liquidating)
            if t_acct:
                changed[id(pos)] = pos
            if m_acct:
                pos = apply_fill(m_acct, m_id, symbol, t_side ^ 1, q, px, m_fee, maker.position_side)
                changed[id(pos)] = pos
            else:  # replayed size: the world outside's mirror side
                ledger.apply_external_fill(symbol, t_side ^ 1, q, px, maker.position_side)
            if m_id and not m_leaves:
                ledger.release_order(m_id)
        if not market.mark_price_subticks and fills:
            # no mark yet: value positions at the last trade
            ledger.on_mark(symbol, fills[-1][1] * market.instrument.subticks_per_tick)
        append = out.append
        book = ledger.book_of(symbol)
        accounts = book.accounts
        for pos in changed.values():  # insertion order: deterministic
            account_id = pos.account_id
            acct = accounts.get(account_id) or book.special[account_id]
            append(
                _new(
                    PositionChanged,
                    (ts, account_id, symbol, pos.position_side, pos.qty_lots, pos.cost_atoms, pos.margin_atoms,
                     pos.realized_pnl_atoms, acct.wallet_atoms),
                )
            )
        protecting = self.contingent.protecting
        for pos in changed.values():
            if pos.account_id > 0:
                if protecting:
                    self._protect(ts, market, pos)
                acct = accounts[pos.account_id]
                if acct.closing_holds:
                    self._trim_closing_orders(ts, market, pos)
                if acct.wallet_atoms < 0:
                    ledger.cover_bad_debt(acct)

    def _trim_closing_orders(self, ts: int, market: _Market, pos: Position) -> None:
        """Keep an account's resting closing orders (reduce-only; hedge closes) within the
        position they close: when it shrank, the newest are reduced or cancelled (reason
        REDUCE_ONLY), so none can open or flip a position that holds no margin for it.
        O(open orders of the account); called only for an account with closing holds
        (:attr:`Account.closing_holds`).
        """
        ledger = self.ledger
        assert ledger is not None
        symbol = market.instrument.symbol
        acct = ledger.account_for(pos.account_id, symbol)
        orders = market.book.orders
        book = market.book
        closing = [
            orders[oid]
            for oid in ledger.closing_order_ids(acct, symbol)
            if oid in orders and orders[oid].position_side == pos.position_side
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
            reason = ledger.rehold_order(order.order_id, room, market.instrument.fill_value_atoms(order.price_ticks, room))
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
        trailing = market.trailing
        per_tick = market.instrument.subticks_per_tick
        watched = self.contingent.watched
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
            fired: list[StopOrder] = triggers.pop_fired(trigger_by, rising_at, falling_at)
            if trailing.count:
                moved = trailing.update(trigger_by, ref)
                if moved:
                    pop = triggers.orders.pop
                    for t in moved:
                        pop(t.order_id)
                    fired = sorted(fired + moved, key=_order_id) if fired else moved  # type: ignore[operator]
            if not fired:
                if trigger_by == TRIGGER_MARK:
                    trigger_by = TRIGGER_LAST  # fired mark orders may have traded: check last
                    continue
                return
            symbol = market.instrument.symbol
            ledger = self.ledger
            waiting = self._fired_waiting
            for stop in fired:
                waiting[stop.order_id] = stop
            for stop in fired:
                if waiting.pop(stop.order_id, None) is None:
                    continue  # cancelled since it fired: an OCO sibling triggered or filled first
                trig_px = stop.trigger_ticks(per_tick) if type(stop) is TrailingStop else stop.trigger_price_ticks
                self._out.append(
                    _new(
                        OrderTriggered,
                        (ts, symbol, stop.order_id, stop.account_id, trig_px, ref, stop.trigger_by),
                    )
                )
                if watched and stop.order_id in watched:
                    # an OCO leg triggered: its siblings go before it trades (fired ones too)
                    self._resolve(ts, market, stop.order_id)
                is_market = stop.price_ticks == 0
                if ledger is not None:
                    ledger.count_order(stop.account_id, symbol, -1, stop.order_id)
                    notional = self._worst_notional(market, stop.side, stop.qty_lots, None if is_market else stop.price_ticks)
                    reason = ledger.hold_for_order(
                        stop.order_id, stop.account_id, symbol, stop.side, stop.qty_lots, notional,
                        stop.reduce_only, stop.position_side, not is_market and stop.tif == GTC,
                    )
                    if reason:
                        self._left(stop.order_id)
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

    # ------------------------------------------------------------------ contingent orders
    def _on_oco(self, cmd: NewOco) -> None:
        """Accept every leg of a NewOco or none; link the accepted legs as one group.

        Checks every leg as a NewOrder, then the group (see ``INVALID_OCO``), then the
        margin of each leg in order; the first refusal rejects all (the others with
        ``OCO_LEG_REJECTED``) and releases what was held. Accepted legs are announced
        first, waiting legs filed, then the book legs executed in order: a leg that fills
        at once cancels the others (a later book leg never reaches the book).
        """
        ts, account, symbol, legs = cmd
        self._settles = True
        market = self.markets.get(symbol)
        if type(legs) is not tuple or not legs or any(type(leg) is not NewOrder for leg in legs):
            self._out.append(_new(OrderRejected, (ts, symbol, account, None, 0, RejectReason.INVALID_OCO)))
            return
        reasons: list[str | None] = [None] * len(legs)
        if market is None:
            reasons = [RejectReason.UNKNOWN_SYMBOL] * len(legs)
        else:
            limits: dict[int, int] = {}  # side -> the limit leg's price
            coids: set[str] = set()
            for i, leg in enumerate(legs):
                if leg.ts_ns != ts or leg.account_id != account or leg.symbol != symbol or len(legs) < 2:
                    reasons[i] = RejectReason.INVALID_OCO
                    break
                reason = self._new_order_problem(market, leg)
                if reason:
                    reasons[i] = reason
                    break
                if leg.order_type == MARKET or (leg.order_type == LIMIT and leg.side in limits):
                    reasons[i] = RejectReason.INVALID_OCO  # one book leg per side: one sweep can't fill two
                    break
                if leg.order_type == LIMIT:
                    limits[leg.side] = leg.price_ticks
                    if BUY in limits and SELL in limits and limits[BUY] >= limits[SELL]:
                        reasons[i] = RejectReason.INVALID_OCO  # the legs would trade with each other
                        break
                if leg.client_order_id is not None:
                    if leg.client_order_id in coids:
                        reasons[i] = RejectReason.DUPLICATE_CLIENT_ORDER_ID
                        break
                    coids.add(leg.client_order_id)
        if not any(reasons):
            assert market is not None
            first = self.next_order_id
            held: list[int] = []
            # waiting legs first: they hold nothing, while a resting reduce-only leg's check
            # counts the account's resting closing orders (a TP limit and a stop-loss, each
            # the size of the position, must both pass)
            for i in sorted(range(len(legs)), key=lambda i: legs[i].order_type not in WAITING_TYPES):
                leg = legs[i]
                reason = self._hold(market, leg, first + i, store=True)
                if reason:
                    reasons[i] = reason
                    break
                if leg.order_type not in WAITING_TYPES:
                    held.append(first + i)
            if any(reasons):
                for order_id in held:
                    self.ledger.release_order(order_id)  # type: ignore[union-attr]
        if any(reasons):
            for leg, reason in zip(legs, reasons):
                self._out.append(
                    _new(
                        OrderRejected,
                        (ts, symbol, account, leg.client_order_id, 0, reason or RejectReason.OCO_LEG_REJECTED),
                    )
                )
            return
        assert market is not None
        first = self.next_order_id
        self.next_order_id = first + len(legs)
        ids = list(range(first, first + len(legs)))
        to_run = [(leg, self._accept(market, leg, order_id)) for leg, order_id in zip(legs, ids)]
        group = self.contingent.new_group(account, symbol, ids)
        for leg, order in to_run:
            if order is None:
                continue
            if self.contingent.watched.get(order.order_id) is not group:
                # an earlier leg filled at once: this one never reaches the book
                self._forget_client_id(account, order.client_order_id)
                if self.ledger is not None:
                    self.ledger.release_order(order.order_id)
                self._out.append(_new(OrderCancelled, (ts, symbol, order.order_id, account, order.qty_lots, "OCO")))
                continue
            self._execute(ts, market, order, False)
        if market.triggers.orders:
            self._fire_triggers(ts, market, TRIGGER_LAST)

    def _on_bracket(self, cmd: NewBracket) -> None:
        """Accept a bracket: its entry is placed now, its exits when the entry first fills.

        The entry is checked as a NewOrder; each exit as a NewOrder of the entry's size,
        forced reduce-only on the entry's position side, and never refused for triggering
        at once. A refusal rejects the entry and every exit (the others with
        ``OCO_LEG_REJECTED``); exits are not checked for margin or client-id clashes
        again until they are placed.
        """
        ts, account, symbol, entry, exits = cmd
        self._settles = True
        market = self.markets.get(symbol)
        if type(entry) is not NewOrder or type(exits) is not tuple or any(type(x) is not NewOrder for x in exits):
            self._out.append(_new(OrderRejected, (ts, symbol, account, None, 0, RejectReason.INVALID_BRACKET)))
            return
        orders = (entry,) + exits
        reasons: list[str | None] = [None] * len(orders)
        if market is None:
            reasons = [RejectReason.UNKNOWN_SYMBOL] * len(orders)
        elif entry.ts_ns != ts or entry.account_id != account or entry.symbol != symbol:
            reasons[0] = RejectReason.INVALID_BRACKET
        else:
            reasons[0] = self._new_order_problem(market, entry)
            coids = {entry.client_order_id} - {None}
            if not reasons[0] and not 1 <= len(exits) <= 3:
                reasons[0] = RejectReason.INVALID_BRACKET
            for i, x in enumerate(exits, 1):
                if any(reasons):
                    break
                if (
                    x.ts_ns != ts or x.account_id != account or x.symbol != symbol
                    or x.side != entry.side ^ 1 or x.order_type not in EXIT_TYPES
                    or x.position_side != entry.position_side
                ):
                    reasons[i] = RejectReason.INVALID_BRACKET
                    break
                reasons[i] = self._new_order_problem(market, self._exit_order(x, entry.qty_lots), exit_of_bracket=True)
                if x.client_order_id is not None:
                    if x.client_order_id in coids:
                        reasons[i] = RejectReason.DUPLICATE_CLIENT_ORDER_ID
                    coids.add(x.client_order_id)
        order_id = self.next_order_id
        if not any(reasons):
            assert market is not None
            reasons[0] = self._hold(market, entry, order_id)
        if any(reasons):
            for o, reason in zip(orders, reasons):
                self._out.append(
                    _new(OrderRejected, (ts, symbol, account, o.client_order_id, 0, reason or RejectReason.OCO_LEG_REJECTED))
                )
            return
        assert market is not None
        self.next_order_id = order_id + 1
        order = self._accept(market, entry, order_id)
        self.contingent.new_bracket(Bracket(order_id, account, symbol, entry.side ^ 1, entry.position_side, exits))
        if order is not None:
            self._execute(ts, market, order, entry.order_type == MARKET)
            if market.triggers.orders:
                self._fire_triggers(ts, market, TRIGGER_LAST)

    @staticmethod
    def _exit_order(x: NewOrder, qty: int) -> NewOrder:
        """A bracket exit as the order it is placed as: ``qty`` lots, reduce-only in
        one-way mode (in hedge mode its position side makes it a close)."""
        return x._replace(qty_lots=qty, reduce_only=x.position_side == 0)

    def _crosses_sibling(self, market: _Market, group: OcoGroup, order: Order, price: object) -> bool:
        """Whether moving an OCO leg to ``price`` would let it trade with another leg."""
        if type(price) is not int:
            return False
        book = market.book
        for i in group.leg_ids:
            other = book.orders.get(i)
            if other is not None and other is not order and other.side != order.side:
                if (price >= other.price_ticks) if order.side == BUY else (price <= other.price_ticks):
                    return True
        return False

    def _contingent_filled(
        self, ts: int, market: _Market, hits: list[tuple[int, int]], taker_id: int, groups: bool
    ) -> None:
        """A match just filled OCO legs or bracket entries: resolve the groups (cancel the
        siblings now, ``groups``), or note the entries' new fills (exits placed at command end)."""
        con = self.contingent
        for order_id, lots in hits:
            obj = con.watched.get(order_id)
            if type(obj) is OcoGroup:
                if groups:
                    self._resolve(ts, market, order_id, taker_id)
            elif obj is not None and not groups:
                obj.filled_lots += lots
                if obj not in con.grown:
                    con.grown.append(obj)

    def _resolve(self, ts: int, market: _Market, order_id: int, busy_id: int = 0) -> list[int]:
        """Leg ``order_id`` filled or triggered: cancel its group's other open legs
        (reason OCO); a bracket's exit ends the bracket and its entry's remainder is
        cancelled too, now (before the exit trades), or at command end when the entry is
        ``busy_id``, the taker of the match being reported. Returns the sibling ids not
        found open."""
        con = self.contingent
        group = con.watched.get(order_id)
        if type(group) is not OcoGroup:
            return []
        bracket = group.bracket
        symbol = market.instrument.symbol
        missing = [i for i in con.drop_group(group) if i != order_id and not self._cancel_open(ts, symbol, i, "OCO")]
        if missing and self._fired_waiting:
            # siblings the price already fired, waiting for their turn: they never trade
            waiting = self._fired_waiting
            fired = [i for i in missing if i in waiting]
            for i in fired:
                self._cancel_fired(ts, symbol, waiting.pop(i), "OCO")
            missing = [i for i in missing if i not in fired]
        if bracket is not None:
            if bracket.entry_id == busy_id:
                con.entry_cancels.append((symbol, bracket.entry_id, "OCO"))
            else:
                self._cancel_open(ts, symbol, bracket.entry_id, "OCO")
        return missing

    def _protected_lots(self, bracket: Bracket) -> int:
        """The size of the position a bracket's exits close (0 flat or the other way)."""
        ledger = self.ledger
        if ledger is None:
            return bracket.filled_lots
        acct = ledger.find_account(bracket.account_id, ledger.book_of(bracket.symbol).asset)
        pos = acct.positions.get((bracket.symbol, bracket.position_side)) if acct is not None else None
        if pos is None:
            return 0
        q = pos.qty_lots
        return max(0, q if bracket.exit_side == SELL else -q)

    def _protect(self, ts: int, market: _Market, pos: Position) -> None:
        """A position changed: the exits protecting it are cancelled when it is flat
        (reason POSITION_CLOSED, the bracket ends, its entry's remainder too) or shrunk
        to fit it. O(brackets on the position)."""
        con = self.contingent
        brackets = con.protecting.get((pos.account_id, pos.symbol, pos.position_side))
        if not brackets:
            return
        filling = self._filling
        for bracket in list(brackets):
            if filling and any(i in bracket.group.leg_ids for i, _ in filling):  # type: ignore[union-attr]
                continue  # one of its exits is filling: the OCO resolution right after cancels the rest
            room = self._protected_lots(bracket)
            if room == 0:
                group = bracket.group
                assert group is not None
                for i in con.drop_group(group):
                    self._cancel_open(ts, pos.symbol, i, "POSITION_CLOSED")
                con.entry_cancels.append((pos.symbol, bracket.entry_id, "POSITION_CLOSED"))
            else:
                self._size_exits(ts, market, bracket, room, grow=False)

    def _size_exits(self, ts: int, market: _Market, bracket: Bracket, lots: int, grow: bool) -> None:
        """Bring the open exits of a bracket to ``lots`` (only down unless ``grow``).

        A waiting exit is re-sized in place; a resting limit exit shrinks in place and
        grows through an amend (it loses its queue place, as any amend that grows)."""
        group = bracket.group
        assert group is not None
        symbol = market.instrument.symbol
        for i in list(group.leg_ids):
            stop = market.triggers.orders.get(i)
            if stop is not None:
                if stop.qty_lots == lots or (stop.qty_lots < lots and not grow):
                    continue
                stop.qty_lots = lots
                self._out.append(_new(OrderAmended, (ts, symbol, i, stop.account_id, stop.price_ticks, lots, lots, True)))
                continue
            order = market.book.orders.get(i)
            if order is None or order.leaves_lots == lots or (order.leaves_lots < lots and not grow):
                continue
            if order.leaves_lots > lots and not grow:
                continue  # the closing-order trim that follows a fill shrinks it (REDUCE_ONLY)
            filled = order.qty_lots - order.leaves_lots
            self._on_amend(AmendOrder(ts, order.account_id, symbol, i, order.price_ticks, filled + lots))

    def _settle_contingent(self, ts: int) -> None:
        """End of a command's matching: cancel the entries of finished brackets, place or
        grow the exits of entries that filled, and let exits that are already through
        their trigger fire (they protect the position). Repeats until quiet."""
        con = self.contingent
        while con.grown or con.entry_cancels:
            cancels, con.entry_cancels = con.entry_cancels, []
            for symbol, order_id, reason in cancels:
                self._cancel_open(ts, symbol, order_id, reason)
            grown, con.grown = con.grown, []
            for bracket in grown:
                if con.brackets.get(bracket.entry_id) is bracket:
                    self._place_exits(ts, bracket)

    def _place_exits(self, ts: int, bracket: Bracket) -> None:
        """Place a bracket's exits for the first time, or grow them, to the size the
        entry has filled (never above the position they close)."""
        market = self.markets[bracket.symbol]
        lots = min(bracket.filled_lots, self._protected_lots(bracket))
        if lots <= 0:
            return
        con = self.contingent
        if bracket.group is not None:
            self._size_exits(ts, market, bracket, lots, grow=True)
        else:
            ids: list[int] = []
            book_exits: list[Order] = []
            # waiting exits first: they hold nothing, while a resting limit exit's reduce-only
            # check counts the account's resting closing orders (and would count it)
            for x in sorted(bracket.exits, key=lambda x: x.order_type == LIMIT):
                order = self._exit_order(x._replace(ts_ns=ts), lots)
                coid = order.client_order_id
                if coid is not None and (order.account_id, coid) in self._client_ids:
                    reason: str | None = RejectReason.DUPLICATE_CLIENT_ORDER_ID
                else:
                    reason = self._hold(market, order, self.next_order_id, store=True)
                if reason:
                    self._reject(order, reason)
                    continue
                order_id = self.next_order_id
                self.next_order_id = order_id + 1
                book_order = self._accept(market, order, order_id, exit_of_bracket=True)
                ids.append(order_id)
                if book_order is not None:
                    book_exits.append(book_order)
            if not ids:
                con.end_bracket(bracket)  # no exit could be placed: the entry goes on alone
                return
            con.protect(bracket, con.new_group(bracket.account_id, bracket.symbol, ids, bracket))
            for order in book_exits:
                if con.watched.get(order.order_id) is bracket.group:
                    self._execute(ts, market, order, False)
        if market.triggers.orders:
            self._fire_triggers(ts, market, TRIGGER_LAST)
        if market.triggers.orders:
            self._fire_triggers(ts, market, TRIGGER_MARK)

    # ------------------------------------------------------------------ cancel / amend
    def _target_id(self, cmd: CancelOrder | AmendOrder) -> int:
        """The order a cancel / amend names: its order id, or with order id 0 the
        account's open order of that client order id (0 if none)."""
        if cmd.order_id == 0 and cmd.client_order_id is not None:
            return self._client_ids.get((cmd.account_id, cmd.client_order_id), 0)
        return cmd.order_id

    def _on_cancel(self, cmd: CancelOrder) -> None:
        """Cancel a resting or untriggered order of the commanding account.

        Cancelling one leg of an OCO group (or one exit of a bracket) cancels the whole
        group, the other legs with reason ``OCO`` (Binance cancels an order list whole)."""
        ts, account, symbol, order_id, coid = cmd
        market = self.markets.get(symbol)
        if market is None:
            return self._reject(cmd, RejectReason.UNKNOWN_SYMBOL, order_id)
        if order_id == 0 and coid is not None:
            order_id = self._client_ids.get((account, coid), 0)  # (as _target_id)
        book = market.book
        order = book.orders.get(order_id)
        watched = self.contingent.watched
        if order is not None and order.account_id == account and not (watched and order_id in watched):
            # a resting order linked to nothing (the common cancel): _cancel_internal's
            # resting case, inline
            leaves = order.leaves_lots
            level_lots = book.remove(order)
            if order.client_order_id is not None:
                self._client_ids.pop((order.account_id, order.client_order_id), None)
            if self.ledger is not None:
                self.ledger.release_order(order_id)
            out = self._out
            out.append(_cancelled((ts, symbol, order_id, order.account_id, leaves, "USER")))
            if self.emit_book_deltas:
                out.append(_book_delta((ts, symbol, order.side, order.price_ticks, level_lots)))
            return None
        order = order or market.triggers.orders.get(order_id)
        if order is None or order.account_id != cmd.account_id:
            return self._reject(cmd, RejectReason.UNKNOWN_ORDER, cmd.order_id)
        self._cancel_internal(cmd.ts_ns, cmd.symbol, order_id, "USER")
        group = self.contingent.watched.get(order_id)
        if type(group) is OcoGroup:
            for i in self.contingent.drop_group(group):
                if i != order_id:
                    self._cancel_open(cmd.ts_ns, cmd.symbol, i, "OCO")
        return None

    def _cancel_open(self, ts: int, symbol: str, order_id: int, reason: str) -> bool:
        """Cancel ``order_id`` if it is still open; whether it was."""
        if self._is_open(symbol, order_id):
            self._cancel_internal(ts, symbol, order_id, reason)
            return True
        return False

    def _cancel_fired(self, ts: int, symbol: str, stop: StopOrder, reason: str) -> None:
        """Cancel a waiting order already taken out of the trigger index (fired by the same
        price as an OCO sibling that went first)."""
        self._left(stop.order_id)
        self._forget_client_id(stop.account_id, stop.client_order_id)
        if self.ledger is not None:
            self.ledger.count_order(stop.account_id, symbol, -1, stop.order_id)
        self._out.append(_new(OrderCancelled, (ts, symbol, stop.order_id, stop.account_id, stop.qty_lots, reason)))

    def _forget_client_id(self, account: int, coid: str | None) -> None:
        if coid is not None:
            self._client_ids.pop((account, coid), None)

    def _on_amend(self, cmd: AmendOrder) -> None:
        """Change a resting limit order's price and/or total quantity (see AmendOrder)."""
        market = self.markets.get(cmd.symbol)
        if market is None:
            return self._reject(cmd, RejectReason.UNKNOWN_SYMBOL, cmd.order_id)
        book = market.book
        order_id = self._target_id(cmd)
        order = book.orders.get(order_id)
        if order is None or order.account_id != cmd.account_id:
            stop = market.triggers.orders.get(order_id)
            if stop is not None and stop.account_id == cmd.account_id:
                return self._reject(cmd, RejectReason.NOT_AMENDABLE, order_id)
            return self._reject(cmd, RejectReason.UNKNOWN_ORDER, cmd.order_id)
        price, qty = cmd.price_ticks, cmd.qty_lots
        group = self.contingent.watched.get(order_id)
        if type(group) is OcoGroup and self._crosses_sibling(market, group, order, price):
            return self._reject(cmd, RejectReason.INVALID_OCO, order_id)
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
        if inst.fill_value_atoms(price, qty) < inst.min_notional_atoms:
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
        book = market.book
        book.match(0, ANONYMOUS, side, qty, price, STP_NONE, fills)
        if fills:
            # the print consuming the venue's own replayed size is the venue's trade, already
            # on the tape: only fills of simulated orders are new (events and ledger)
            own = [f for f in fills if f[0].order_id]
            if len(own) != len(fills):
                if self.emit_book_deltas:
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

    def _on_collateral_index(self, cmd: CollateralIndex) -> None:
        """A collateral asset's index price moved: multi-assets accounts holding it are
        re-checked through the risk index (the end of :meth:`submit` reports them)."""
        ledger = self.ledger
        if ledger is None:
            return
        ts, asset, index = cmd
        if asset not in ledger.collateral:
            raise ValueError(f"collateral index at ts {ts}: no book for asset {asset!r}")
        if type(index) is not int or index <= 0:
            raise ValueError(f"collateral index at ts {ts} for {asset}: {index!r} is not a positive index_usd_e8")
        ledger.set_collateral_index(asset, index)

    def _on_collateral_rule(self, cmd: SetCollateralRule) -> None:
        """New buffers or haircut tiers for an asset (None keeps a field); every
        multi-assets account holding it is re-evaluated in this command."""
        ledger = self.ledger
        ts, asset = cmd.ts_ns, cmd.asset
        if ledger is None:
            self._out.append(_new(CommandRejected, (ts, 0, "SetCollateralRule", "NO_LEDGER")))
            return
        old = ledger.collateral.get(asset)
        if old is None:
            self._out.append(_new(CommandRejected, (ts, 0, "SetCollateralRule", "UNKNOWN_ASSET")))
            return
        rule = old.copy()
        if cmd.bid_buffer_e8 is not None:
            rule.bid_buffer_e8 = cmd.bid_buffer_e8
        if cmd.ask_buffer_e8 is not None:
            rule.ask_buffer_e8 = cmd.ask_buffer_e8
        if cmd.tiers is not None:
            rule.tiers = tuple(CollateralTier(u, r) for u, r in cmd.tiers)
        reason = ledger.set_collateral_rule(asset, rule)
        if reason:
            self._out.append(_new(CommandRejected, (ts, 0, "SetCollateralRule", reason)))
            return
        new = ledger.collateral[asset]
        self._out.append(
            _new(CollateralRuleSet, (ts, asset, new.index_usd_e8, new.bid_buffer_e8, new.ask_buffer_e8,
                                     tuple((u, r) for u, r in new.tiers)))
        )

    def _auto_exchange(self, ts: int) -> None:
        """Binance's auto-exchange of negative balances (the ledger decides; events here)."""
        ledger = self.ledger
        assert ledger is not None
        for conversion in ledger.settle_auto_exchange():
            self._emit_auto_exchange(ts, conversion)

    def _emit_auto_exchange(self, ts: int, conversion: tuple[int, str, int, str, int, str]) -> None:
        account_id, from_asset, from_atoms, to_asset, to_atoms, reason = conversion
        ledger = self.ledger
        assert ledger is not None
        out = self._out
        out.append(_new(AutoExchange, (ts, *conversion)))
        src = ledger.account(account_id, from_asset)
        dst = ledger.account(account_id, to_asset)
        out.append(_new(BalanceChanged, (ts, account_id, "AUTO_EXCHANGE", -from_atoms, src.wallet_atoms, from_asset)))
        out.append(_new(BalanceChanged, (ts, account_id, "AUTO_EXCHANGE", to_atoms, dst.wallet_atoms, to_asset)))

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
        market.prev_mark_subticks = market.mark_price_subticks
        market.mark_price_subticks = mark
        self._out.append(_new(MarkPriceUpdated, (ts, symbol, mark)))
        if self.ledger is not None:
            self.ledger.on_mark(symbol, mark)
            if self.liquidator is not None and self.ledger.fund_of(symbol).positions:
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
        acted = False  # a liquidation of this batch may have changed the scopes after it
        for kind, scope, balance, mm in ledger.evaluate_pending():
            if acted and kind == "LIQUIDATABLE":
                fresh = ledger.recheck_liquidatable(scope)
                if fresh is None:
                    continue  # made safe (or flat) by an earlier liquidation of the batch
                balance, mm = fresh
            ratio = ledger.margin_ratio_e8(balance, mm)
            if type(scope) is Portfolio:
                # a multi-assets account: balance and MM in 1e-8 USD; the symbol is the
                # instrument (or "@ASSET" collateral index) whose move found it
                sym = symbol if symbol in self.markets else ""
                fields = (ts, scope.account_id, "MULTI_ASSETS", symbol, 0, balance, mm, ratio)
            elif type(scope) is Position:
                fields = (ts, scope.account_id, "ISOLATED", scope.symbol, scope.position_side, balance, mm, ratio)
                sym = scope.symbol
            else:
                fields = (ts, scope.account_id, "CROSS", symbol, 0, balance, mm, ratio)  # type: ignore[union-attr]
                sym = symbol if symbol in self.markets else ""  # (a command naming no market)
            if kind == "LIQUIDATABLE":
                mark = self.markets[sym].mark_price_subticks if sym else 0
                append(_new(Liquidatable, fields + (mark,)))
                if self.liquidator is not None:
                    self.liquidator.liquidate(ts, scope, balance, mm, symbol if type(scope) is Portfolio else sym)
                    acted = True
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
            venue = self.venue
            rate = funding_rate_e8(
                0 if premium is None else premium,
                interest_e8=venue.funding_interest_e8,
                clamp_e8=venue.funding_clamp_e8,
                cap_e8=cap,
                premium_divisor=venue.funding_premium_divisor,
            )
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

    def _fund_changed(self, command: Command, book: AssetBook) -> None:
        """Record a change of one asset's insurance fund the liquidation engine did not
        explain (funding dust, unwinding, deficits of closes below bankruptcy); report any
        shortfall (an :class:`UncoveredLoss` naming the asset)."""
        ledger = self.ledger
        assert ledger is not None
        short = ledger.absorb_fund_shortfall(book.asset)
        name = type(command).__name__
        change = book.fund.wallet_atoms - self.fund_seen(book)
        if change:
            book.fund_history.append((command.ts_ns, book.fund.wallet_atoms, change, name))
        if short:
            book.fund_history.append((command.ts_ns, 0, 0, f"uncovered loss {short} atoms ({name})"))
            self._out.append(_new(UncoveredLoss, (command.ts_ns, short, book.uncovered_loss_atoms, name, book.asset)))
        self.set_fund_seen(book)

    def fund_seen(self, book: AssetBook) -> int:
        """The balance of ``book``'s insurance fund last recorded in its history."""
        return self._other_fund_seen[book.asset] if book.asset in self._other_fund_seen else self._fund_seen

    def set_fund_seen(self, book: AssetBook) -> None:
        """``book``'s insurance fund balance is recorded (by a liquidation, or here)."""
        if book.asset in self._other_fund_seen:
            self._other_fund_seen[book.asset] = book.fund.wallet_atoms
        else:
            self._fund_seen = book.fund.wallet_atoms

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
        self._left(order_id)
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
            if type(stop) is TrailingStop:
                market.trailing.remove(stop)
            self._forget_client_id(stop.account_id, stop.client_order_id)
            if ledger is not None:
                ledger.count_order(stop.account_id, symbol, -1, order_id)
            self._out.append(_new(OrderCancelled, (ts, symbol, order_id, stop.account_id, stop.qty_lots, reason)))

    def _emit_position(self, ts: int, pos: Position) -> None:
        if pos.account_id == 0:
            return  # the EXTERNAL mirror is not reported
        if self.contingent.protecting and pos.account_id > 0:
            self._protect(ts, self.markets[pos.symbol], pos)
        ledger = self.ledger
        assert ledger is not None
        self._out.append(
            _new(
                PositionChanged,
                (ts, pos.account_id, pos.symbol, pos.position_side, pos.qty_lots, pos.cost_atoms, pos.margin_atoms,
                 pos.realized_pnl_atoms, ledger.any_account(pos.account_id, self.markets[pos.symbol].asset).wallet_atoms),
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
        if type(cmd) is Deposit or type(cmd) is Withdraw:
            asset = cmd.asset  # None: the home asset (called without it, as before assets)
            move = ledger.deposit if type(cmd) is Deposit else ledger.withdraw
            reason = move(account, cmd.amount_atoms) if asset is None else move(account, cmd.amount_atoms, asset)
            if not reason:
                kind, amount = ("DEPOSIT", cmd.amount_atoms) if type(cmd) is Deposit else ("WITHDRAW", -cmd.amount_atoms)
                acct = ledger.account(account, asset)
                out.append(_new(BalanceChanged, (ts, account, kind, amount, acct.wallet_atoms, acct.asset)))
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
            reason = ledger.set_position_mode(account, bool(cmd.hedge_mode), cmd.asset)
            if not reason:
                mode = "HEDGE" if cmd.hedge_mode else "ONE_WAY"
                out.append(_new(SettingChanged, (ts, account, "", "POSITION_MODE", mode)))
        elif type(cmd) is SetCollateralMode:
            reason = ledger.set_collateral_mode(account, cmd.mode)
            if not reason:
                out.append(_new(SettingChanged, (ts, account, "", "COLLATERAL_MODE", cmd.mode)))
        else:
            assert type(cmd) is AdjustIsolatedMargin
            reason = ledger.adjust_isolated_margin(account, symbol, cmd.position_side, cmd.delta_atoms)
            if not reason:
                acct = ledger.account_for(account, symbol)
                pos = acct.positions[(symbol, cmd.position_side)]
                out.append(
                    _new(BalanceChanged, (ts, account, "ISOLATED_MARGIN", -cmd.delta_atoms, acct.wallet_atoms, acct.asset))
                )
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
                if type(s) is TrailingStop:  # (a line of its own: hashes without trailing stops keep)
                    put(
                        f"T {s.callback_rate_e8} {s.callback_ticks} {s.arm_subticks} {s.extreme_subticks} "
                        f"{s.fire_at_subticks}\n".encode()
                    )
        con = self.contingent
        for gid in sorted(con.groups):
            g = con.groups[gid]
            put(f"oco {gid} {g.account_id} {g.symbol} {g.leg_ids} {g.bracket.entry_id if g.bracket else 0}\n".encode())
        for eid in sorted(con.brackets):
            b = con.brackets[eid]
            put(f"bracket {eid} {b.filled_lots} {b.group.group_id if b.group else 0} {b.exits!r}\n".encode())
        if self.ledger is not None:
            for line in self.ledger.state_lines():
                put(line.encode())
        return h.hexdigest()

    def _check(self) -> None:
        """Check every book and trigger index, and the client-id index. O(state)."""
        if self._fired_waiting:
            from exsim.errors import StateError

            raise StateError(f"fired stops left waiting after a command: {sorted(self._fired_waiting)}")
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
        for m in self.markets.values():
            m.trailing._check(m.triggers.orders)
        self.contingent._check(self._is_open, self._protected_lots)

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

    # ------------------------------------------------------------------ the liquidation engine's interface
    # exsim.liquidation.interface.ExchangeForLiquidation, documented there: what the
    # liquidation engine may ask (with ``ledger``, ``open_order`` and ``set_fund_seen``
    # above). Each delegates to the step the exchange's own order path uses, so the
    # events of a liquidation are those of any order. (Structural: no import of it here.)
    @property
    def command_seq(self) -> int:
        """Commands submitted so far: the same value for every step of one command."""
        return self._cmd_seq

    def instrument(self, symbol: str) -> Instrument:
        """The instrument traded under ``symbol``."""
        return self.markets[symbol].instrument

    def previous_mark_subticks(self, symbol: str) -> int:
        """The mark before the last one of ``symbol`` (0: none yet)."""
        return self.markets[symbol].prev_mark_subticks

    def cancel_in_scope(self, ts: int, symbol: str, order_id: int) -> None:
        """Cancel an open order of a liquidated scope (reason ``LIQUIDATION``)."""
        self._cancel_internal(ts, symbol, order_id, "LIQUIDATION")

    def submit_liquidation_order(
        self,
        ts: int,
        symbol: str,
        account_id: int,
        side: int,
        qty_lots: int,
        limit_ticks: int | None,
        position_side: int = 0,
        label: str = "LIQUIDATION",
        liquidation: bool = True,
    ) -> tuple[int, int, list[tuple[int, int]]]:
        """A reduce-only IOC order (``limit_ticks`` None: market) through the book, no
        margin check; ``(order id, lots filled, each fill's (price ticks, lots))``."""
        market = self.markets[symbol]
        order_id = self.next_order_id
        self.next_order_id = order_id + 1
        order = Order(order_id, account_id, side, limit_ticks or 0, qty_lots, qty_lots, IOC, None, ts, True, position_side)
        self._accept_internal(ts, market, order, market_order=limit_ticks is None, label=label)
        fills = self._fills
        book = market.book
        if liquidation:
            self._liquidating_order_id = order_id  # its fills are booked as a liquidation's
        try:
            left = book.match(order_id, account_id, side, qty_lots, limit_ticks, STP_EXPIRE_MAKER, fills)
            order.leaves_lots = left
            filled = [(px, q) for _, px, q in fills]
            if fills or book.stp_expired:
                self._report_fills(ts, market, order, qty_lots, fills)
        finally:
            if liquidation:
                self._liquidating_order_id = 0
        if left:
            self._finish(order, ts, market, "IOC")
        return order_id, qty_lots - left, filled

    def report_transfer(self, ts: int, liquidated: Position, counterparty: Position) -> None:
        """Report a takeover or ADL the engine booked: both positions; a deleveraged
        account's resting closing orders trimmed to what it still holds."""
        self._emit_position(ts, liquidated)
        self._emit_position(ts, counterparty)
        if counterparty.account_id > 0:
            self._trim_closing_orders(ts, self.markets[counterparty.symbol], counterparty)

    def emit_auto_exchange(self, ts: int, conversion: tuple[int, str, int, str, int, str]) -> None:
        """Emit one auto-exchange conversion of the ledger, with both balances' changes."""
        self._emit_auto_exchange(ts, conversion)

    def emit_liquidation(self, ts: int, *fields: object) -> None:
        """Emit the ``Liquidation`` event (``ts``, then its other fields in order)."""
        self._emit_liquidation(ts, *fields)


__all__ = ["Exchange", "RejectReason", "TIF_NAMES", "TRIGGER_NAMES", "ORDER_TYPE_NAMES"]
