"""The strategy API: a class with hooks, and the :class:`Context` it acts through.

Subclass :class:`Strategy` and override the hooks you need (a hook you leave alone costs
nothing: the replay does not even call it)::

    class Holder(Strategy):
        def on_start(self, ctx):
            self.symbol = ctx.default_symbol  # the run's first symbol (or --symbol)
            self.entry = None
            ctx.set_leverage(self.symbol, 125)
        def on_book(self, ctx, level):
            if self.entry is None and ctx.best_ask(self.symbol):
                self.entry = ctx.order(self.symbol, "buy", "0.5")  # a market order: no price

The guide with runnable examples is ``docs/strategies.md``.

What a strategy sees and when
-----------------------------
A hook runs after the exchange has applied the event it reports, so the book, positions
and margin read through the context include it; nothing later has happened yet. Orders
and settings a hook sends arrive at the exchange ``latency_ns`` later (a run parameter):
at the same timestamp with zero latency, after that timestamp's market data.

Sides, order types, times in force, trigger prices and position sides are names
(``"buy"``, ``"stop_market"``, ``"GTX"``, ``"mark"``, ``"long"``; any case), the str
enums :class:`Side`, :class:`OrderType`, :class:`TimeInForce`, :class:`Trigger`,
:class:`PositionSide`, or the engine's int codes. A price or a size is an int of ticks /
lots of the instrument, or decimal text / a ``Decimal`` in its units, converted exactly
(off-grid refused). The book and events speak ticks and lots, money int atoms (1e-8
USDT); ``ctx.price`` / ``ctx.qty`` / the position view's properties / ``ctx.equity()``
read them as ``Decimal``. Every order call returns an :class:`OrderHandle`, which
``cancel``, ``amend``, :class:`OwnFill` and ``ctx.handle_of(event)`` refer to. Mark and liquidation prices are finer than the tick (the venue computes
them): they are int **subticks** (1e-8 of the quote asset), ``ctx.mark_price(symbol)`` is
the exact ``Decimal`` and ``ctx.mark_price_ticks(symbol, "down" | "up" | "nearest")`` rounds
the mark to the tick grid in a direction you name (to place an order at it).

**Assets.** Money is in the margin asset of the instrument it belongs to: USDT for
``BTCUSDT``, BTC for the coin-margined (inverse) ``BTCUSD_PERP``, whose sizes are in
contracts (100 USD each) and whose position's ``entry_price`` is the harmonic mean Binance
shows. The account holds one wallet per asset (``ctx.balances()``); ``ctx.balance()``,
``ctx.equity()`` and ``ctx.available()`` read the home asset (the first symbol's margin
asset) or the one named (``ctx.equity("BTC")``), ``ctx.asset_of(symbol)`` says which, and
``ctx.usd_value("BTC", amount)`` converts at the mark of the run's BTC contract.

Hooks: ``on_start(ctx)``, ``on_trade(ctx, trade)`` (a replayed print:
:class:`~exsim.exchange.ReplayedTrade`), ``on_book(ctx, update)`` (a venue book update:
:class:`~exsim.exchange.SetReplayedLevels`, its ``levels`` as ``(side, price_ticks,
lots)``; synthetic liquidity is not reported), ``on_mark(ctx, mark)``
(:class:`~exsim.exchange.MarkPriceUpdated`), ``on_fill(ctx, fill)`` (:class:`OwnFill`),
``on_order(ctx, event)`` (accepted, rejected, cancelled, expired, amended, triggered),
``on_liquidation(ctx, liquidation)`` (:class:`~exsim.exchange.Liquidation`),
``on_funding(ctx, payment)`` (:class:`~exsim.exchange.FundingPaid`),
``on_funding_rate(ctx, settled)`` (:class:`~exsim.exchange.FundingSettled`, every
symbol's funding time, held or not),
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

from decimal import Decimal, localcontext
from enum import Enum
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Mapping, NamedTuple, Union

from exsim.book.orders import (
    BUY,
    FOK,
    GTC,
    GTX,
    IOC,
    LIMIT,
    MARKET,
    SELL,
    STOP_LIMIT,
    STOP_MARKET,
    TAKE_PROFIT_LIMIT,
    TAKE_PROFIT_MARKET,
    TRAILING_STOP_MARKET,
    TRIGGER_LAST,
    TRIGGER_MARK,
)
from exsim.errors import InputError
from exsim.exchange import (
    AdjustIsolatedMargin,
    AmendOrder,
    CancelOrder,
    NewBracket,
    NewOco,
    NewOrder,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderExpired,
    OrderRejected,
    OrderTriggered,
    RejectReason,
    SetLeverage,
    SetCollateralMode,
    SetMarginMode,
    SetPositionMode,
)
from exsim.ledger import BOTH, CROSS, ISOLATED, LONG, SHORT
from exsim.ledger.collateral import COLLATERAL_MODES, usd_e40_to_atoms_floor
from exsim.units import (
    ATOM_PLACES,
    format_subticks,
    subticks_ceil_ticks,
    subticks_floor_ticks,
    subticks_nearest_ticks,
    to_atoms,
    to_rate_e8,
)

if TYPE_CHECKING:
    from exsim.replay.interfaces import ReplayForContext

MARGIN_MODES = {"cross": CROSS, "isolated": ISOLATED}
_POSITION_MODES = {"hedge": True, "one-way": False, "one_way": False, "oneway": False}
ACCOUNT_ID = 1  # the strategy's account in a replay
_new = tuple.__new__  # builds a NamedTuple without its Python-level __new__ (hot path)
_new_object = object.__new__  # an instance without __init__ (OrderHandle._plain sets every slot)


#: ``ctx.mark_price_ticks`` roundings, each a units.py helper named by its direction
_MARK_ROUNDING = {"down": subticks_floor_ticks, "up": subticks_ceil_ticks, "nearest": subticks_nearest_ticks}


class StrategyError(InputError):
    """A strategy's hook raised: ``strategy holder.on_mark (examples/holder.py:42):
    ZeroDivisionError: ...`` (the original exception is its ``__cause__``)."""


# ---------------------------------------------------------------------- named values
class Side(str, Enum):
    """An order's side: ``"buy"`` / ``"sell"`` (a str: ``Side.BUY == "buy"``)."""

    BUY = "buy"
    SELL = "sell"


class OrderType(str, Enum):
    """An order's type (Binance's ``type``, in lower case)."""

    LIMIT = "limit"
    MARKET = "market"
    STOP_MARKET = "stop_market"
    STOP_LIMIT = "stop_limit"
    TAKE_PROFIT_MARKET = "take_profit_market"
    TAKE_PROFIT_LIMIT = "take_profit_limit"
    TRAILING_STOP_MARKET = "trailing_stop_market"


class TimeInForce(str, Enum):
    """Good till cancelled, immediate or cancel, fill or kill, post-only (Binance ``GTX``)."""

    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"
    GTX = "GTX"


class Trigger(str, Enum):
    """The price a stop / take-profit / trailing order watches (Binance ``workingType``):
    the last trade (``CONTRACT_PRICE``) or the mark (``MARK_PRICE``)."""

    LAST = "last"
    MARK = "mark"


class PositionSide(str, Enum):
    """``"both"`` in one-way mode; ``"long"`` / ``"short"`` in hedge mode."""

    BOTH = "both"
    LONG = "long"
    SHORT = "short"


#: name (lower case) -> the engine's int code, per field
_CODES: dict[str, dict[str, int]] = {
    "side": {"buy": BUY, "sell": SELL},
    "order_type": {
        "limit": LIMIT,
        "market": MARKET,
        "stop_market": STOP_MARKET,
        "stop_limit": STOP_LIMIT,
        "take_profit_market": TAKE_PROFIT_MARKET,
        "take_profit_limit": TAKE_PROFIT_LIMIT,
        "trailing_stop_market": TRAILING_STOP_MARKET,
    },
    "tif": {"gtc": GTC, "ioc": IOC, "fok": FOK, "gtx": GTX},
    "trigger": {"last": TRIGGER_LAST, "mark": TRIGGER_MARK},
    "position_side": {"both": BOTH, "long": LONG, "short": SHORT},
}
#: the names shown in errors (as the enums spell them)
_SHOWN = {
    "side": [m.value for m in Side],
    "order_type": [m.value for m in OrderType],
    "tif": [m.value for m in TimeInForce],
    "trigger": [m.value for m in Trigger],
    "position_side": [m.value for m in PositionSide],
}
#: int code -> name, per field (for the handle's readable fields)
_NAMES = {field: {code: name for name, code in table.items()} for field, table in _CODES.items()}
_NAMES["tif"] = {code: name.upper() for code, name in _NAMES["tif"].items()}
_STOP_TYPES = frozenset((STOP_MARKET, STOP_LIMIT, TAKE_PROFIT_MARKET, TAKE_PROFIT_LIMIT, TRAILING_STOP_MARKET))


def code_of(field: str, value: Any) -> int:
    """The engine's int code of a named value (``"buy"``, ``Side.BUY``, ``"MARK"``: case
    does not matter) or of an int code already; :class:`InputError` naming ``field`` and
    the allowed names otherwise. O(1).

    >>> code_of("side", "SELL"), code_of("order_type", OrderType.STOP_MARKET), code_of("tif", 3)
    (1, 2, 3)
    >>> code_of("trigger", "index")
    Traceback (most recent call last):
    ...
    exsim.errors.InputError: strategy: field 'trigger': 'index' is not one of 'last', 'mark'
    """
    table = _CODES[field]
    if isinstance(value, str):
        code = table.get(value.lower())
        if code is not None:
            return code
    elif type(value) is int and value in _NAMES[field]:
        return value
    allowed = ", ".join(map(repr, _SHOWN[field]))
    shown = value.value if isinstance(value, Enum) else value
    raise InputError(f"{shown!r} is not one of {allowed}", where="strategy", field=field)


#: a price or a size as a strategy gives it: int ticks / lots, or the instrument's units
#: as decimal text or a Decimal ("61000.5", Decimal("0.01"))
Amount = Union[int, str, Decimal]


class Trail(NamedTuple):
    """A trailing stop's terms (for :meth:`Context.bracket`'s ``trailing``): the callback
    as a rate in percent (``callback_rate="1"`` or ``"1%"`` = 1 %, Binance's
    ``callbackRate``) or as a price distance (``callback="50.0"``, or int ticks), and an
    optional activation price (None: active at once)."""

    callback_rate: str | Decimal | None = None
    callback: Amount | None = None
    activation: Amount | None = None
    trigger: Any = None  # "last" / "mark"; None: the bracket's trigger


# ---------------------------------------------------------------------- order handles
class OrderHandle:
    """One order of the strategy, as ``ctx.order`` / ``buy`` / ``sell`` / ``bracket`` /
    ``oco`` / ``trailing_stop`` return it; the context keeps it up to date from the
    order's events, before the strategy's hook sees them.

    ``client_order_id`` names it from the start (``cancel`` / ``amend`` work before the
    venue's ``order_id`` is known: 0 until ``OrderAccepted``). ``status`` is ``"new"``
    (sent), ``"open"`` (accepted: resting, partly filled or waiting for its trigger),
    ``"filled"``, ``"cancelled"``, ``"expired"`` or ``"rejected"`` (``reason`` says why,
    for the last three). ``filled_lots`` and the exact ``filled_cost_ticks_lots`` (sum
    of price x size of its fills) accumulate; ``avg_fill_price`` derives the average.
    The context forgets a handle once it is done (bounded memory): keep it yourself if
    you need it later.
    """

    __slots__ = (
        "client_order_id",
        "symbol",
        "side",
        "order_type",
        "qty_lots",
        "price_ticks",
        "trigger_price_ticks",
        "trigger_by",
        "position_side",
        "reduce_only",
        "order_id",
        "status",
        "reason",
        "triggered",
        "filled_lots",
        "filled_cost_ticks_lots",
        "tick_size",
        "lot_size",
        "bracket",
    )

    def __init__(self, order: NewOrder, tick_size: Decimal, lot_size: Decimal) -> None:
        self.client_order_id: str = str(order.client_order_id)
        self.symbol: str = order.symbol
        self.side: int = order.side
        self.order_type: int = order.order_type
        self.qty_lots: int = order.qty_lots
        self.price_ticks: int = order.price_ticks
        self.trigger_price_ticks: int = order.trigger_price_ticks
        self.trigger_by: int = order.trigger_by
        self.position_side: int = order.position_side
        self.reduce_only: bool = order.reduce_only
        self.order_id = 0
        self.status = "new"
        self.reason = ""
        self.triggered = False
        self.filled_lots = 0
        self.filled_cost_ticks_lots = 0
        self.tick_size = tick_size
        self.lot_size = lot_size
        self.bracket: BracketHandle | None = None

    @classmethod
    def _plain(cls, client_order_id: str, symbol: str, side: int, order_type: int, qty_lots: int, price_ticks: int,
               tick_size: Decimal, lot_size: Decimal) -> OrderHandle:
        """The handle ``__init__`` makes of :meth:`Context._plain`'s order (a market or GTC
        limit order, every other field at its default), from its values rather than read
        back from the ``NewOrder``: a strategy's usual order, built once per order."""
        h = _new_object(cls)
        h.client_order_id = client_order_id
        h.symbol = symbol
        h.side = side
        h.order_type = order_type
        h.qty_lots = qty_lots
        h.price_ticks = price_ticks
        h.trigger_price_ticks = 0
        h.trigger_by = TRIGGER_LAST
        h.position_side = BOTH
        h.reduce_only = False
        h.order_id = 0
        h.status = "new"
        h.reason = ""
        h.triggered = False
        h.filled_lots = 0
        h.filled_cost_ticks_lots = 0
        h.tick_size = tick_size
        h.lot_size = lot_size
        h.bracket = None
        return h

    @property
    def is_open(self) -> bool:
        """Sent or accepted, and not yet done."""
        return self.status == "new" or self.status == "open"

    @property
    def is_done(self) -> bool:
        """Filled, cancelled, expired or rejected: nothing more happens to it."""
        return not self.is_open

    @property
    def side_name(self) -> str:
        """``"buy"`` or ``"sell"``."""
        return _NAMES["side"][self.side]

    @property
    def type_name(self) -> str:
        """``"limit"``, ``"market"``, ``"stop_market"``, ... (:class:`OrderType`'s values)."""
        return _NAMES["order_type"][self.order_type]

    @property
    def trigger_name(self) -> str:
        """``"last"`` or ``"mark"``: the price a stop / take-profit / trailing order watches."""
        return _NAMES["trigger"][self.trigger_by]

    @property
    def leaves_lots(self) -> int:
        """What is still open (0 once done)."""
        return self.qty_lots - self.filled_lots if self.is_open else 0

    @property
    def qty(self) -> Decimal:
        """The order's size in the base asset (exact)."""
        return self.qty_lots * self.lot_size

    @property
    def filled(self) -> Decimal:
        """The filled size in the base asset (exact)."""
        return self.filled_lots * self.lot_size

    @property
    def price(self) -> Decimal | None:
        """The limit price (exact), None for a market / stop-market / trailing order."""
        return self.price_ticks * self.tick_size if self.price_ticks else None

    @property
    def trigger_price(self) -> Decimal | None:
        """The trigger (stop / take-profit) or activation (trailing) price, None without one."""
        return self.trigger_price_ticks * self.tick_size if self.trigger_price_ticks else None

    @property
    def avg_fill_price_ticks(self) -> Fraction | None:
        """The exact average fill price in ticks, None before a fill."""
        return Fraction(self.filled_cost_ticks_lots, self.filled_lots) if self.filled_lots else None

    @property
    def avg_fill_price(self) -> Decimal | None:
        """The average fill price in quote units (exact when the average is on the tick
        grid or a finite decimal; otherwise rounded half-even to 28 significant digits)."""
        return _decimal(self.avg_fill_price_ticks, self.tick_size)

    def __repr__(self) -> str:
        return (
            f"<OrderHandle {self.client_order_id} {self.symbol} {self.side_name} {self.type_name} "
            f"{self.status} filled {self.filled_lots}/{self.qty_lots} lots id {self.order_id}>"
        )


class BracketHandle:
    """What :meth:`Context.bracket` returns: the ``entry`` handle and its exits' handles
    (``stop``, ``take_profit``, ``trailing``: None for an exit not asked for). The exits
    are placed by the venue when the entry first fills (until then their status is
    ``"new"``); if the entry ends unfilled they end ``"cancelled"`` (reason
    ``"ENTRY_NOT_FILLED"``) without ever reaching the book."""

    __slots__ = ("entry", "stop", "take_profit", "trailing")

    def __init__(self, entry: OrderHandle, stop: OrderHandle | None, take_profit: OrderHandle | None, trailing: OrderHandle | None) -> None:
        self.entry = entry
        self.stop = stop
        self.take_profit = take_profit
        self.trailing = trailing

    @property
    def exits(self) -> list[OrderHandle]:
        """The exits asked for: stop, take-profit, trailing (in that order)."""
        return [h for h in (self.stop, self.take_profit, self.trailing) if h is not None]

    @property
    def is_open(self) -> bool:
        """The entry or one of the exits is not done yet."""
        return self.entry.is_open or any(h.is_open for h in self.exits)

    def __repr__(self) -> str:
        return f"<BracketHandle entry {self.entry!r} exits {self.exits!r}>"


def _decimal(value: Fraction | int | None, unit: Decimal) -> Decimal | None:
    """``value`` x ``unit`` as a Decimal: exact for ints; a Fraction is divided at 28
    significant digits, half-even (exact whenever it is a finite decimal that fits)."""
    if value is None:
        return None
    if type(value) is int:
        return value * unit
    assert isinstance(value, Fraction)
    with localcontext() as dc:
        dc.prec = 28
        return Decimal(value.numerator) * unit / Decimal(value.denominator)


class OwnFill(NamedTuple):
    """One fill of the strategy's order, seen from its side (``handle``: the order's
    :class:`OrderHandle`, already updated with this fill; None for an order the strategy
    did not send — the venue's liquidation orders)."""

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
    client_order_id: str | None = None
    handle: OrderHandle | None = None

    @property
    def side_name(self) -> str:
        """``"buy"`` or ``"sell"``."""
        return _NAMES["side"][self.side]

    @property
    def price(self) -> Decimal | None:
        """The fill price in quote units (exact; None for a fill with no handle)."""
        return None if self.handle is None else self.price_ticks * self.handle.tick_size

    @property
    def qty(self) -> Decimal | None:
        """The fill size in the base asset (exact; None for a fill with no handle)."""
        return None if self.handle is None else self.qty_lots * self.handle.lot_size

    @property
    def fee(self) -> Decimal:
        """The fee paid, USDT (negative: a rebate)."""
        return usdt(self.fee_atoms)


class PositionView(NamedTuple):
    """A position as the strategy reads it (a copy: it does not change afterwards).

    The integer fields are the engine's; the properties give the same figures as exact
    ``Decimal`` in the instrument's units (``qty``, ``entry_price``, ``upnl``, ...)."""

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
    tick_size: Decimal = Decimal(0)
    lot_size: Decimal = Decimal(0)
    #: the asset every amount of this position is in (the instrument's margin asset: USDT
    #: for BTCUSDT, BTC for the inverse BTCUSD_PERP)
    asset: str = "USDT"

    @property
    def qty(self) -> Decimal:
        """Signed size in the base asset (+ long, - short), exact; for an inverse
        instrument in contracts."""
        return self.qty_lots * self.lot_size

    @property
    def side(self) -> str:
        """``"long"`` or ``"short"``."""
        return "long" if self.qty_lots > 0 else "short"

    @property
    def entry_price(self) -> Decimal:
        """The average entry price (exact when finite; else 28 significant digits, half-even);
        for an inverse position the harmonic one Binance shows (size / Σ coin values)."""
        value = _decimal(self.entry_price_ticks, self.tick_size)
        assert value is not None
        return value

    @property
    def upnl(self) -> Decimal:
        """Unrealized PnL at the current mark, in :attr:`asset` (exact)."""
        return usdt(self.upnl_atoms)

    @property
    def realized_pnl(self) -> Decimal:
        """PnL realized on this position so far, in :attr:`asset` (exact)."""
        return usdt(self.realized_pnl_atoms)

    @property
    def margin(self) -> Decimal:
        """The isolated bucket, in :attr:`asset` (0 for cross)."""
        return usdt(self.margin_atoms)

    @property
    def maint_margin(self) -> Decimal:
        """Maintenance margin at the current mark, in :attr:`asset`."""
        return usdt(self.maint_margin_atoms)


def usdt(atoms: int) -> Decimal:
    """Atoms (1e-8 of an asset: USDT, or BTC for a coin-margined wallet) as an exact ``Decimal``.

    >>> usdt(123_456_789)
    Decimal('1.23456789')
    """
    return Decimal(atoms).scaleb(-ATOM_PLACES)


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

    def on_funding_rate(self, ctx: Context, settled: Any) -> None:
        """A funding time of one of the run's symbols passed, held or not
        (:class:`~exsim.exchange.FundingSettled`: ``symbol``, ``rate_e8`` — parts per 1e8,
        + longs pay shorts —, ``mark_price_subticks``); ``ctx.funding_rate(symbol)`` reads
        it as a Decimal afterwards."""

    def on_timer(self, ctx: Context, name: str) -> None:
        """A timer set with :meth:`Context.call_at` / :meth:`Context.call_every` fired."""

    def on_bar(self, ctx: Context, bar: Any) -> None:
        """A bar closed (:class:`~exsim.replay.bars.Bar`): one of :meth:`Context.subscribe_bars`,
        or a bar of a bar file (``bar.from_file``), at its close time (``docs/bars.md``)."""

    def on_end(self, ctx: Context) -> None:
        """Once, after the last event."""


#: what an OCO leg may give, besides ``side`` and ``qty`` (``Context.order``'s keywords)
_LEG_KEYS = frozenset(
    ("price", "order_type", "tif", "reduce_only", "client_order_id", "trigger_price", "trigger", "position_side", "callback_rate", "callback")
)


class Context:
    """The strategy's door to the simulated venue: read state, send commands."""

    def __init__(self, replay: ReplayForContext, account_id: int) -> None:
        self._replay = replay
        self.account_id = account_id
        self._next_client_id = 0
        #: the handles of the orders not done yet, by client order id (insertion order:
        #: oldest first) and, once accepted, by the venue's order id
        self._live: dict[str, OrderHandle] = {}
        self._by_order_id: dict[int, OrderHandle] = {}
        #: (event, handle) of the order event being delivered (for handle_of)
        self._event_handle: tuple[Any, OrderHandle | None] | None = None
        self._funding_e8: dict[str, int] = {}  # symbol -> the last settled funding rate

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

    def price(self, symbol: str, price_ticks: int | Fraction) -> Decimal:
        """Ticks as a price in the quote asset: exact for int ticks (a ``Fraction``, such as
        an average entry, is divided at 28 significant digits, half-even)."""
        value = _decimal(price_ticks, self.instrument(symbol).tick_size)
        assert value is not None
        return value

    def qty(self, symbol: str, qty_lots: int) -> Decimal:
        """Lots as a size in the base asset (exact)."""
        return qty_lots * self.instrument(symbol).lot_size

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

    def funding_rate(self, symbol: str) -> Decimal | None:
        """The last funding rate settled on ``symbol`` as a fraction (``Decimal("0.0001")``
        = 0.01 % per interval; positive: longs pay shorts), None before the first."""
        rate = self._funding_e8.get(symbol)
        return None if rate is None else Decimal(rate).scaleb(-8)

    def funding_rate_e8(self, symbol: str) -> int | None:
        """The last funding rate settled on ``symbol`` in parts per 1e8, None before the first."""
        return self._funding_e8.get(symbol)

    def book(self, symbol: str) -> Any:
        """The order book (read it: ``depth``, ``levels``, ``queue_ahead_lots``; never change it)."""
        return self._replay.exchange.book(symbol)

    # ------------------------------------------------------------------ orders
    def order(
        self,
        symbol: str,
        side: Any,
        qty: Amount,
        price: Amount | None = None,
        *,
        order_type: Any = None,
        tif: Any = GTC,
        reduce_only: bool = False,
        client_order_id: str | None = None,
        trigger_price: Amount = 0,
        trigger: Any = TRIGGER_LAST,
        position_side: Any = BOTH,
        callback_rate: str | Decimal | None = None,
        callback: Amount | None = None,
        trigger_price_ticks: int | None = None,
        trigger_by: Any = None,
    ) -> OrderHandle:
        """Send any order; returns its :class:`OrderHandle`.

        ``side`` ``"buy"`` / ``"sell"``; ``qty`` and ``price`` int lots / ticks, or decimal
        text / ``Decimal`` in the instrument's units (exact: off-grid is refused);
        ``order_type`` one of :class:`OrderType`'s names (default ``"limit"`` with a price,
        ``"market"`` without); ``tif`` ``"GTC"`` / ``"IOC"`` / ``"FOK"`` / ``"GTX"``;
        ``trigger_price`` the stop / take-profit trigger (the activation price of a
        trailing stop, 0: at once) watched on ``trigger`` ``"last"`` / ``"mark"``;
        ``callback_rate`` (percent) or ``callback`` (a price distance) for a trailing stop;
        ``position_side`` ``"long"`` / ``"short"`` in hedge mode. Int codes of
        :mod:`exsim.book.orders` work too (``trigger_price_ticks`` / ``trigger_by`` are
        the older names of ``trigger_price`` / ``trigger``)."""
        if trigger_price_ticks is not None:
            trigger_price = trigger_price_ticks
        if trigger_by is not None:
            trigger = trigger_by
        cmd = self._new_order(
            symbol, side, qty, price, order_type, tif, reduce_only, client_order_id, trigger_price, trigger,
            position_side, callback_rate, callback,
        )
        handle = self._track(cmd)
        self._send(cmd)
        return handle

    def buy(self, symbol: str, qty: Amount, price: Amount | None = None, **kw: Any) -> OrderHandle:
        """A market buy (``price`` None) or a GTC limit buy; ``post_only=True`` for GTX.
        Other keywords as :meth:`order`'s."""
        if not kw and type(qty) is int and (price is None or type(price) is int):
            return self._plain(symbol, BUY, qty, price)
        return self._simple(symbol, BUY, qty, price, **kw)

    def sell(self, symbol: str, qty: Amount, price: Amount | None = None, **kw: Any) -> OrderHandle:
        """A market sell (``price`` None) or a GTC limit sell; ``post_only=True`` for GTX.
        Other keywords as :meth:`order`'s."""
        if not kw and type(qty) is int and (price is None or type(price) is int):
            return self._plain(symbol, SELL, qty, price)
        return self._simple(symbol, SELL, qty, price, **kw)

    def _plain(self, symbol: str, side: int, qty_lots: int, price_ticks: int | None) -> OrderHandle:
        """:meth:`buy` / :meth:`sell` with int lots (and ticks) and no other option: the
        :class:`NewOrder` :meth:`order` makes of them (a market order, or a GTC limit order;
        every other field at its default), built in one step — a strategy's usual order."""
        replay = self._replay
        market = replay.exchange.markets.get(symbol)
        if market is None:  # (the error order() gives)
            return self._simple(symbol, side, qty_lots, price_ticks)
        self._next_client_id += 1
        client_order_id = f"s{self._next_client_id}"
        loop = replay.loop
        order_type = MARKET if price_ticks is None else LIMIT
        if price_ticks is None:
            price_ticks = 0
        cmd = _new(NewOrder, (
            loop.now_ns + replay.config.latency_ns, self.account_id, symbol, side, qty_lots, price_ticks, order_type, GTC,
            client_order_id, False, 0, TRIGGER_LAST, BOTH, 0, 0,
        ))
        inst = market.instrument
        handle = self._live[client_order_id] = OrderHandle._plain(  # (_track, inlined)
            client_order_id, symbol, side, order_type, qty_lots, price_ticks, inst.tick_size, inst.lot_size)
        self._send(cmd)
        return handle

    def _simple(self, symbol: str, side: int, qty: Amount, price: Amount | None, post_only: bool = False, **kw: Any) -> OrderHandle:
        if price is None:
            return self.order(symbol, side, qty, None, order_type=kw.pop("order_type", MARKET), **kw)
        tif = GTX if post_only else kw.pop("tif", GTC)
        return self.order(symbol, side, qty, price, tif=tif, **kw)

    def trailing_stop(
        self,
        symbol: str,
        side: Any,
        qty: Amount,
        *,
        callback_rate: str | Decimal | None = None,
        callback: Amount | None = None,
        activation: Amount | None = None,
        trigger: Any = TRIGGER_LAST,
        reduce_only: bool | None = None,
        position_side: Any = BOTH,
        client_order_id: str | None = None,
    ) -> OrderHandle:
        """A trailing stop (Binance ``TRAILING_STOP_MARKET``): from its activation price
        (``activation``; None: at once) it follows the best ``trigger`` price (``"last"``
        / ``"mark"``) in the position's favour and fires a market ``side`` order when the
        price comes back by the callback: ``callback_rate`` in percent (``"1"`` or ``"1%"``
        = 1 %; Binance allows 0.1 to 10) or ``callback``, a price distance. Reduce-only in
        one-way mode unless ``reduce_only=False`` (in hedge mode, a ``position_side``
        order on the other side closes). See docs/orders.md for the venue's rules."""
        if reduce_only is None:
            reduce_only = code_of("position_side", position_side) == BOTH
        return self.order(
            symbol, side, qty, None, order_type=TRAILING_STOP_MARKET, reduce_only=reduce_only,
            client_order_id=client_order_id, trigger_price=activation or 0, trigger=trigger,
            position_side=position_side, callback_rate=callback_rate, callback=callback,
        )

    def bracket(
        self,
        symbol: str,
        side: Any,
        qty: Amount,
        price: Amount | None = None,
        *,
        stop: Amount | None = None,
        take_profit: Amount | None = None,
        trailing: Trail | Mapping[str, Any] | str | Decimal | None = None,
        trigger: Any = TRIGGER_LAST,
        take_profit_type: str = "market",
        tif: Any = GTC,
        position_side: Any = BOTH,
        client_order_id: str | None = None,
    ) -> BracketHandle:
        """An entry with its exits, in one command (``NewBracket``): the entry is a limit
        order at ``price`` (a market order when None); when it first fills the venue places
        the exits on the other side, reduce-only, sized to what has filled (and grown as it
        fills more), as one OCO group (the first to fill or trigger cancels the others):

        * ``stop``: a stop-market at that trigger price;
        * ``take_profit``: a take-profit-market at that trigger price (``take_profit_type=
          "limit"``: a reduce-only limit order resting at that price instead, a maker exit);
        * ``trailing``: a trailing stop — a :class:`Trail` (or a dict of its fields), or a
          rate in percent (``"1%"``) for ``Trail(callback_rate=...)``.

        Stop and take-profit watch ``trigger`` (``"last"`` / ``"mark"``; the trailing stop
        too unless its ``Trail`` says otherwise). An exit that would fire at once when
        placed fires (it protects the position). When the position goes flat, the exits
        left are cancelled (``POSITION_CLOSED``). Returns a :class:`BracketHandle`."""
        if take_profit_type not in ("market", "limit"):
            raise InputError(f"{take_profit_type!r} is not one of 'market', 'limit'", where="strategy", field="take_profit_type")
        if stop is None and take_profit is None and trailing is None:
            raise InputError("a bracket needs at least one exit: stop, take_profit or trailing", where="strategy", field="bracket")
        entry = self._new_order(
            symbol, side, qty, price, None, tif, False, client_order_id, 0, TRIGGER_LAST, position_side, None, None
        )
        cid = entry.client_order_id
        exit_side = entry.side ^ 1
        exits: list[NewOrder] = []
        found: list[NewOrder | None] = []
        tp_limit = take_profit_type == "limit"
        for suffix, level, otype in (("sl", stop, STOP_MARKET), ("tp", take_profit, LIMIT if tp_limit else TAKE_PROFIT_MARKET)):
            if level is None:
                found.append(None)
                continue
            if otype == LIMIT:  # rests at the price
                leg = self._new_order(symbol, exit_side, 0, level, LIMIT, GTC, True, f"{cid}.{suffix}", 0, TRIGGER_LAST, entry.position_side, None, None)
            else:
                leg = self._new_order(
                    symbol, exit_side, 0, None, otype, GTC, True, f"{cid}.{suffix}", level, trigger, entry.position_side, None, None
                )
            exits.append(leg)
            found.append(leg)
        if trailing is None:
            found.append(None)
        else:
            if isinstance(trailing, Trail):
                trail = trailing
            elif isinstance(trailing, Mapping):
                unknown = set(trailing) - set(Trail._fields)
                if unknown:
                    raise InputError(f"unknown {', '.join(sorted(unknown))}; expected some of {', '.join(Trail._fields)}", where="strategy", field="trailing")
                trail = Trail(**trailing)
            else:
                trail = Trail(callback_rate=trailing)
            leg = self._new_order(
                symbol, exit_side, 0, None, TRAILING_STOP_MARKET, GTC, True, f"{cid}.ts", trail.activation or 0,
                trigger if trail.trigger is None else trail.trigger,
                entry.position_side, trail.callback_rate, trail.callback,
            )
            exits.append(leg)
            found.append(leg)
        entry_handle = self._track(entry)
        stop_h, tp_h, trail_h = (None if leg is None else self._track(leg) for leg in found)
        handle = BracketHandle(entry_handle, stop_h, tp_h, trail_h)
        for h in (entry_handle, stop_h, tp_h, trail_h):
            if h is not None:
                h.bracket = handle
        self._send(NewBracket(entry.ts_ns, self.account_id, symbol, entry, tuple(exits)))
        return handle

    def oco(self, symbol: str, *legs: Mapping[str, Any]) -> tuple[OrderHandle, ...]:
        """Two or more orders on ``symbol``, one-cancels-the-other (``NewOco``): each leg
        a dict of :meth:`order`'s arguments (``side``, ``qty``, ``price``, ``order_type``,
        ``trigger_price``, ``trigger``, ``reduce_only``, ...). The venue accepts all or
        none; when any leg fills (even partly) or triggers, the others are cancelled in
        the same command (reason ``OCO``), so two legs never both fill. Returns the legs'
        handles, in order."""
        if len(legs) < 2:
            raise InputError(f"an OCO needs two or more legs, got {len(legs)}", where="strategy", field="legs")
        orders = []
        for i, leg in enumerate(legs):
            args = dict(leg)
            try:
                side, qty = args.pop("side"), args.pop("qty")
            except KeyError as exc:
                raise InputError(f"leg {i + 1} has no {exc.args[0]!r}", where="strategy", field="legs") from None
            unknown = set(args) - _LEG_KEYS
            if unknown:
                raise InputError(
                    f"leg {i + 1}: unknown {', '.join(sorted(unknown))}; expected some of {', '.join(sorted(_LEG_KEYS))}",
                    where="strategy",
                    field="legs",
                )
            orders.append(
                self._new_order(
                    symbol, side, qty, args.get("price"), args.get("order_type"), args.get("tif", GTC),
                    bool(args.get("reduce_only", False)), args.get("client_order_id"), args.get("trigger_price", 0),
                    args.get("trigger", TRIGGER_LAST), args.get("position_side", BOTH), args.get("callback_rate"),
                    args.get("callback"),
                )
            )
        coids = [o.client_order_id for o in orders]
        if len(set(coids)) < len(coids):  # each leg's handle is found by its client id
            raise InputError(f"the legs share a client_order_id ({', '.join(map(repr, coids))})", where="strategy", field="legs")
        handles = tuple(self._track(o) for o in orders)
        self._send(NewOco(orders[0].ts_ns, self.account_id, symbol, tuple(orders)))
        return handles

    def cancel(self, handle: OrderHandle | str, order_id: int | None = None) -> None:
        """Cancel an order: ``ctx.cancel(handle)`` (works before the venue's id is known:
        sent with the client order id) or ``ctx.cancel(symbol, order_id)``."""
        if isinstance(handle, OrderHandle):
            self._send(CancelOrder(self._arrival_ns(), self.account_id, handle.symbol, handle.order_id, handle.client_order_id))
        else:
            if order_id is None:
                raise InputError("cancel takes an OrderHandle, or a symbol and an order id", where="strategy", field="order_id")
            self._send(CancelOrder(self._arrival_ns(), self.account_id, handle, order_id))

    def cancel_all(self, symbol: str | None = None) -> int:
        """Cancel every open order (resting or waiting for its trigger) of ``symbol`` (None:
        of every symbol); returns how many cancels were sent. O(open orders)."""
        sent = 0
        for acct in self._accounts():
            for oid, sym in list(acct.order_ids.items()):
                if symbol is None or sym == symbol:
                    self._send(CancelOrder(self._arrival_ns(), self.account_id, sym, oid))
                    sent += 1
        return sent

    def amend(
        self,
        handle: OrderHandle | str,
        order_id: int | None = None,
        price_ticks: int | None = None,
        qty_lots: int | None = None,
        *,
        price: Amount | None = None,
        qty: Amount | None = None,
    ) -> None:
        """Change a resting limit order's price and/or total size: ``ctx.amend(handle,
        price=..., qty=...)`` (what is not given stays) or ``ctx.amend(symbol, order_id,
        price_ticks, qty_lots)``. A pure size reduction keeps queue priority."""
        if isinstance(handle, OrderHandle):
            symbol = handle.symbol
            price_t = handle.price_ticks if price is None else self._ticks(symbol, price, "price")
            qty_l = handle.qty_lots if qty is None else self._lots(symbol, qty, "qty")
            self._send(AmendOrder(self._arrival_ns(), self.account_id, symbol, handle.order_id, price_t, qty_l, handle.client_order_id))
            return
        if order_id is None:
            raise InputError("amend takes an OrderHandle, or a symbol and an order id", where="strategy", field="order_id")
        price_t = price_ticks if price is None else self._ticks(handle, price, "price")
        qty_l = qty_lots if qty is None else self._lots(handle, qty, "qty")
        if price_t is None or qty_l is None:
            raise InputError("amend by order id needs both the price and the size", where="strategy", field="amend")
        self._send(AmendOrder(self._arrival_ns(), self.account_id, handle, order_id, price_t, qty_l))

    def handle_of(self, event: Any) -> OrderHandle | None:
        """The :class:`OrderHandle` an order event or a fill refers to (in ``on_order`` /
        ``on_fill``), or None for an order the strategy did not send (a liquidation)."""
        seen = self._event_handle
        if seen is not None and seen[0] is event:
            return seen[1]
        handle = getattr(event, "handle", None)
        if handle is not None:
            return handle  # type: ignore[no-any-return]
        oid = getattr(event, "order_id", 0)
        if oid and oid in self._by_order_id:
            return self._by_order_id[oid]
        cid = getattr(event, "client_order_id", None)
        return self._live.get(cid) if cid is not None else None

    def orders(self, symbol: str | None = None) -> list[OrderHandle]:
        """The handles of the orders not done yet (sent, resting, waiting for a trigger, or a
        bracket's exits not yet placed), oldest first. O(live orders)."""
        return [h for h in self._live.values() if symbol is None or h.symbol == symbol]

    def open_orders(self, symbol: str | None = None) -> list[int]:
        """Ids of the account's open orders (resting or waiting for a trigger), oldest first."""
        ids = [oid for acct in self._accounts() for oid, s in acct.order_ids.items() if symbol is None or s == symbol]
        return sorted(ids) if len(self._accounts()) > 1 else ids

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
        acct = self._account_of(symbol)
        return int(ledger.leverage(acct, symbol)) if acct is not None else int(ledger.default_leverage)

    def margin_mode(self, symbol: str) -> str:
        """``"isolated"`` or ``"cross"``: the account's margin mode on ``symbol`` now."""
        acct = self._account_of(symbol)
        mode = self._replay.ledger.margin_mode(acct, symbol) if acct is not None else MARGIN_MODES["cross"]
        return "isolated" if mode == MARGIN_MODES["isolated"] else "cross"

    def add_margin(self, symbol: str, amount_atoms: int, position_side: Any = 0) -> None:
        """Move margin from the wallet into the isolated bucket."""
        pside = code_of("position_side", position_side)
        self._send(AdjustIsolatedMargin(self._arrival_ns(), self.account_id, symbol, pside, amount_atoms))

    def remove_margin(self, symbol: str, amount_atoms: int, position_side: Any = 0) -> None:
        """Move margin out of the isolated bucket (refused below initial margin)."""
        pside = code_of("position_side", position_side)
        self._send(AdjustIsolatedMargin(self._arrival_ns(), self.account_id, symbol, pside, -amount_atoms))

    def set_position_mode(self, mode: str) -> None:
        """``"hedge"`` (a long and a short position per symbol: orders then name their
        ``position_side`` ``"long"`` / ``"short"``) or ``"one-way"`` (one position per
        symbol, ``"both"``), for the whole account. The venue refuses it while the account
        holds a position or an open order (a note in the run's story says so)."""
        if not isinstance(mode, str) or mode.lower() not in _POSITION_MODES:
            raise InputError(f"{mode!r} is not one of 'hedge', 'one-way'", where="strategy", field="position_mode")
        self._send(SetPositionMode(self._arrival_ns(), self.account_id, _POSITION_MODES[mode.lower()]))

    def position_mode(self) -> str:
        """``"hedge"`` or ``"one-way"``: the account's position mode now."""
        acct = self._account()
        return "hedge" if acct is not None and acct.hedge_mode else "one-way"

    # ------------------------------------------------------------------ account
    def position(self, symbol: str, position_side: Any = 0) -> PositionView | None:
        """The open position (``position_side`` ``"long"`` / ``"short"`` in hedge mode), or
        None when flat. O(1)."""
        pside = position_side if type(position_side) is int else code_of("position_side", position_side)
        acct = self._account_of(symbol)
        pos = acct.positions.get((symbol, pside)) if acct is not None else None
        if pos is None or not pos.qty_lots:
            return None
        ledger = self._replay.ledger
        _, upnl, mm = ledger.position_figures(pos)
        inst = ledger.instruments[symbol]
        entry = inst.entry_price_ticks(pos.qty_lots, pos.cost_atoms)  # (inverse: the harmonic mean)
        assert entry is not None
        return PositionView(
            symbol, pside, pos.qty_lots, entry, pos.isolated, pos.leverage, pos.margin_atoms, upnl, mm, pos.realized_pnl_atoms,
            inst.tick_size, inst.lot_size, inst.margin_asset,
        )

    def positions(self) -> list[PositionView]:
        """Every open position of the account (each symbol and side), in the order they
        were first opened. O(positions)."""
        views = (self.position(sym, pside) for acct in self._accounts() for sym, pside in list(acct.positions))
        return [v for v in views if v is not None]

    @property
    def wallet_atoms(self) -> int:
        """The home asset's wallet (see :meth:`balance` for another asset)."""
        acct = self._account()
        return acct.wallet_atoms if acct is not None else 0

    @property
    def home_asset(self) -> str:
        """The run's home asset: what a bare ``--deposit 1000`` is in, and what :meth:`balance`
        and friends mean without an ``asset`` (the first symbol's margin asset)."""
        return str(self._replay.ledger.home_asset)

    def assets(self) -> list[str]:
        """The settlement assets of the run (the home asset first). A wallet in each is
        separate: a BTCUSD_PERP position is margined by the BTC wallet only."""
        return list(self._replay.ledger.assets)

    def asset_of(self, symbol: str) -> str:
        """The asset ``symbol``'s margin, PnL, fees and funding are in (BTC for BTCUSD_PERP)."""
        return str(self._replay.ledger.instruments[symbol].margin_asset)

    def equity_atoms(self, asset: str | None = None) -> int:
        """Wallet + isolated buckets + unrealized PnL of every position of ``asset`` (None:
        the home asset), at the marks, in atoms of that asset."""
        acct = self._account(asset)
        return self._replay.ledger.equity_atoms(acct) if acct is not None else 0

    def available_atoms(self, asset: str | None = None) -> int:
        """What a new order of an instrument settling in ``asset`` (None: the home asset) can
        still use, in atoms of that asset. In multi-assets mode the whole account's available
        for order (USD) at the asset's ask rate, rounded down — the same in every asset,
        held or not (:func:`exsim.ledger.collateral.usd_e40_to_atoms_floor`)."""
        acct = self._account(asset)
        if acct is not None:
            return int(self._replay.ledger.available_atoms(acct))
        ledger = self._replay.ledger
        name = asset or ledger.home_asset
        if ledger.portfolio(self.account_id) is None or name not in ledger.collateral:
            return 0
        figures = ledger.portfolio_figures(self.account_id)
        return int(usd_e40_to_atoms_floor(figures.available_usd_e40, ledger.collateral[name]))

    def collateral_mode(self) -> str:
        """``"single-asset"`` (each asset's wallet margins its own contracts) or
        ``"multi-assets"`` (every wallet is collateral for every contract, at its index
        through buffers and haircuts): the account's collateral mode now."""
        return str(self._replay.ledger.collateral_mode(self.account_id))

    def account_figures(self) -> Any:
        """The multi-assets account's figures now (:class:`exsim.ledger.collateral.AccountFigures`:
        ``equity_usd_e40``, ``initial_usd_e40``, ``maint_usd_e40``, ``available_usd_e40``,
        ``margin_ratio_e8()``, and per asset ``assets``: equity, value, haircut, margin in
        USD), exact in 1e-40 USD; None in single-asset mode. O(assets + positions)."""
        ledger = self._replay.ledger
        if ledger.portfolio(self.account_id) is None:
            return None
        return ledger.portfolio_figures(self.account_id)

    def set_collateral_mode(self, mode: str) -> None:
        """Ask the venue for ``"multi-assets"`` or ``"single-asset"`` collateral (refused with a
        position or an open order, with an isolated symbol in multi-assets, or while a held
        asset has no index price: a note in the run's story says so)."""
        if mode not in COLLATERAL_MODES:
            raise InputError(f"{mode!r} is not one of {', '.join(COLLATERAL_MODES)}", where="strategy", field="collateral_mode")
        self._send(SetCollateralMode(self._arrival_ns(), self.account_id, mode))

    def balance(self, asset: str | None = None) -> Decimal:
        """The wallet (cross) balance in ``asset`` (None: the home asset), exact."""
        acct = self._account(asset)
        return usdt(acct.wallet_atoms if acct is not None else 0)

    def balances(self) -> dict[str, Decimal]:
        """The wallet of every asset the account holds: ``{"USDT": ..., "BTC": ...}``."""
        return {acct.asset: usdt(acct.wallet_atoms) for acct in self._accounts()}

    def equity(self, asset: str | None = None) -> Decimal:
        """Wallet + isolated buckets + unrealized PnL of every position of ``asset`` (None:
        the home asset) at the marks, in that asset."""
        return usdt(self.equity_atoms(asset))

    def available(self, asset: str | None = None) -> Decimal:
        """What a new order of an instrument settling in ``asset`` (None: the home asset)
        can still use as margin, in that asset."""
        return usdt(self.available_atoms(asset))

    def usd_value(self, asset: str, amount: Decimal | int | str) -> Decimal | None:
        """``amount`` of ``asset`` in USD now: a stablecoin at 1, a coin at the mark of the
        run's instrument that prices it (:class:`exsim.results.assets.UsdPricer`); None when
        nothing prices it yet. Rounded down to 1e-8 USD."""
        from exsim.results.assets import UsdPricer

        pricer = UsdPricer(self._replay.instruments, self._replay.exchange.mark_price_subticks)
        atoms = to_atoms(str(amount), field="amount", where="strategy")
        v = pricer.usd_atoms(asset, atoms)
        return None if v is None else usdt(v)

    def margin_ratio_e8(self, symbol: str, position_side: Any = 0) -> int | None:
        """Maintenance margin / margin balance (parts per 1e8) of the scope holding the
        position — its isolated bucket or the cross pool; liquidation at 1e8 (100 %)."""
        pside = position_side if type(position_side) is int else code_of("position_side", position_side)
        figures = self._replay.margin_figures(symbol, pside)
        if figures is None:
            return None
        balance, mm = figures
        return int(self._replay.ledger.margin_ratio_e8(balance, mm))

    def margin_ratio(self, symbol: str, position_side: Any = 0) -> Decimal | None:
        """The margin ratio as a fraction (``Decimal("0.0123")``: 1.23 %; liquidation at
        1), None when flat."""
        ratio = self.margin_ratio_e8(symbol, position_side)
        return None if ratio is None else Decimal(ratio).scaleb(-8)

    def liquidation_price_subticks(self, symbol: str, position_side: Any = 0) -> int | None:
        """The mark (subticks) at which the position would be liquidated (others at their
        marks), or None: the highest for a long, the lowest for a short."""
        pside = position_side if type(position_side) is int else code_of("position_side", position_side)
        return self._replay.liquidation_price_subticks(symbol, pside)

    def liquidation_price(self, symbol: str, position_side: Any = 0) -> Decimal | None:
        """The liquidation price (a mark, finer than the tick) as an exact ``Decimal``, None
        without one."""
        lp = self.liquidation_price_subticks(symbol, position_side)
        return None if lp is None else Decimal(format_subticks(lp))

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
    def _ticks(self, symbol: str, value: Amount, field: str) -> int:
        """Int ticks as they are; text / Decimal converted exactly (off-grid refused)."""
        if type(value) is int:
            return value
        return int(self.instrument(symbol).ticks(value, where="strategy", field=field))  # type: ignore[arg-type]

    def _lots(self, symbol: str, value: Amount, field: str) -> int:
        """Int lots as they are; text / Decimal converted exactly (off-grid refused)."""
        if type(value) is int:
            return value
        return int(self.instrument(symbol).lots(value, where="strategy", field=field))  # type: ignore[arg-type]

    def _callback_rate_e8(self, rate: str | Decimal) -> int:
        """A trailing callback in percent ("1", "1%", Decimal("0.5")) as parts per 1e8 of
        the price (1 % = 1_000_000), exact: more than 6 decimals of percent are refused."""
        text = rate[:-1] if isinstance(rate, str) and rate.endswith("%") else rate
        percent_e8 = to_rate_e8(text, field="callback_rate", where="strategy")
        rate_e8, rest = divmod(percent_e8, 100)
        if rest or rate_e8 <= 0:
            raise InputError(f"{rate!r} is not a positive percentage with at most 6 decimals", where="strategy", field="callback_rate")
        return rate_e8

    def _new_order(
        self,
        symbol: str,
        side: Any,
        qty: Amount,
        price: Amount | None,
        order_type: Any,
        tif: Any,
        reduce_only: bool,
        client_order_id: str | None,
        trigger_price: Amount,
        trigger: Any,
        position_side: Any,
        callback_rate: str | Decimal | None,
        callback: Amount | None,
    ) -> NewOrder:
        """The ``NewOrder`` of :meth:`order`'s arguments (names checked, amounts exact)."""
        if symbol not in self._replay.exchange.markets:
            raise InputError(f"{symbol!r} is not one of the run's symbols ({', '.join(self.symbols)})", where="strategy", field="symbol")
        side_c = side if type(side) is int and side in (BUY, SELL) else code_of("side", side)
        if order_type is None:
            otype = MARKET if price is None else LIMIT
        else:
            otype = order_type if type(order_type) is int and 0 <= order_type <= TRAILING_STOP_MARKET else code_of("order_type", order_type)
        tif_c = tif if type(tif) is int and 0 <= tif <= GTX else code_of("tif", tif)
        trig_c = trigger if type(trigger) is int and trigger in (TRIGGER_LAST, TRIGGER_MARK) else code_of("trigger", trigger)
        pside = position_side if type(position_side) is int and 0 <= position_side <= SHORT else code_of("position_side", position_side)
        qty_lots = self._lots(symbol, qty, "qty")
        price_ticks = 0 if price is None else self._ticks(symbol, price, "price")
        trigger_ticks = self._ticks(symbol, trigger_price, "trigger_price")
        rate_e8 = 0 if callback_rate is None else self._callback_rate_e8(callback_rate)
        callback_ticks = 0 if callback is None else self._ticks(symbol, callback, "callback")
        if otype == TRAILING_STOP_MARKET and (rate_e8 > 0) == (callback_ticks > 0):
            raise InputError(
                "a trailing stop needs exactly one of callback_rate (percent) and callback (a price distance)",
                where="strategy",
                field="callback",
            )
        if client_order_id is None:
            self._next_client_id += 1
            client_order_id = f"s{self._next_client_id}"
        elif client_order_id in self._live:
            raise InputError(f"client order id {client_order_id!r} is already in use by an open order", where="strategy", field="client_order_id")
        return NewOrder(
            self._arrival_ns(), self.account_id, symbol, side_c, qty_lots, price_ticks, otype, tif_c, client_order_id,
            bool(reduce_only), trigger_ticks, trig_c, pside, rate_e8, callback_ticks,
        )

    def _track(self, order: NewOrder) -> OrderHandle:
        """A new handle for ``order``, live until the order is done."""
        inst = self.instrument(order.symbol)
        handle = OrderHandle(order, inst.tick_size, inst.lot_size)
        self._live[handle.client_order_id] = handle
        return handle

    def _done(self, handle: OrderHandle, status: str, reason: str = "") -> None:
        """``handle`` is done: forgotten by the context; a bracket entry that ends unfilled
        takes its exits (never placed) with it."""
        handle.status = status
        handle.reason = reason
        self._live.pop(handle.client_order_id, None)
        self._by_order_id.pop(handle.order_id, None)
        group = handle.bracket
        if group is not None and handle is group.entry and not handle.filled_lots:
            for leg in group.exits:
                if leg.status == "new":
                    self._done(leg, "cancelled", "ENTRY_NOT_FILLED")

    def _order_event(self, e: Any) -> OrderHandle | None:
        """Bring the handle an order event of this account refers to up to date; returns it
        (None: not the strategy's order). Called by the replay before the hooks."""
        t = type(e)
        if t is OrderAccepted:
            handle = self._live.get(e.client_order_id) if e.client_order_id is not None else None
            if handle is not None and not handle.order_id:
                handle.order_id = e.order_id
                handle.status = "open"
                handle.qty_lots = e.qty_lots
                self._by_order_id[e.order_id] = handle
        elif t is OrderRejected:
            if e.order_id:
                handle = self._by_order_id.get(e.order_id)
                acct = self._account()
                if handle is not None and (acct is None or e.order_id not in acct.order_ids):
                    self._done(handle, "rejected", e.reason)  # (a stop refused when it triggered)
                elif handle is not None:
                    handle.reason = e.reason  # a cancel / amend refused: the order stays
            else:
                handle = self._live.get(e.client_order_id) if e.client_order_id is not None else None
                # UNKNOWN_ORDER refuses a cancel / amend, never a new order: a bracket exit
                # cancelled before the entry filled (not placed yet) stays "new"
                if handle is not None and handle.status == "new" and e.reason != RejectReason.UNKNOWN_ORDER:
                    self._done(handle, "rejected", e.reason)
                elif handle is not None:
                    handle.reason = e.reason
        elif t is OrderCancelled or t is OrderExpired:
            handle = self._by_order_id.get(e.order_id)
            if handle is not None:
                self._done(handle, "cancelled" if t is OrderCancelled else "expired", e.reason)
        elif t is OrderAmended:
            handle = self._by_order_id.get(e.order_id)
            if handle is not None:
                handle.price_ticks = e.price_ticks
                handle.qty_lots = e.qty_lots
        elif t is OrderTriggered:
            handle = self._by_order_id.get(e.order_id)
            if handle is not None:
                handle.triggered = True
        else:
            handle = None
        return handle

    def _filled_at_once(self, accepted: OrderAccepted, price_ticks: int, qty_lots: int) -> OrderHandle | None:
        """:meth:`_order_event` of ``accepted`` then :meth:`_fill` of the fill that completes
        the order (one batch, nothing in between: no ``on_order`` hook), for the usual
        market order; the handle ends as those two leave it, without the by-order-id
        entry the fill would remove at once. None, with nothing changed, when the batch is
        not that (no live handle of this client id, or one accepted already): the replay
        then takes the two events one by one."""
        cid = accepted.client_order_id
        handle = self._live.get(cid) if cid is not None else None
        if handle is None or handle.order_id:
            return None
        handle.order_id = accepted.order_id
        handle.qty_lots = accepted.qty_lots
        handle.filled_lots += qty_lots
        handle.filled_cost_ticks_lots += price_ticks * qty_lots
        self._done(handle, "filled")
        return handle

    def _fill(self, order_id: int, price_ticks: int, qty_lots: int, leaves_lots: int) -> OrderHandle | None:
        """Add one fill to its order's handle (None: not the strategy's order)."""
        handle = self._by_order_id.get(order_id)
        if handle is not None:
            handle.filled_lots += qty_lots
            handle.filled_cost_ticks_lots += price_ticks * qty_lots
            if not leaves_lots:
                self._done(handle, "filled")
        return handle

    def _account(self, asset: str | None = None) -> Any:
        """The account's wallet in ``asset`` (None: the run's home asset), or None."""
        ledger = self._replay.ledger
        return ledger.find_account(self.account_id, asset or ledger.home_asset)

    def _account_of(self, symbol: str) -> Any:
        """The account's wallet in the margin asset of ``symbol``, or None."""
        ledger = self._replay.ledger
        return ledger.find_account(self.account_id, ledger.instruments[symbol].margin_asset)

    def _accounts(self) -> list[Any]:
        """The account's wallets, one per asset it holds, in the ledger's asset order."""
        ledger = self._replay.ledger
        return [a for a in (ledger.find_account(self.account_id, asset) for asset in ledger.assets) if a is not None]

    def _arrival_ns(self) -> int:
        return self.now_ns + self._replay.config.latency_ns

    def _send(self, command: Any) -> None:
        self._replay.loop.schedule(command)
        self._replay.commands_sent += 1
