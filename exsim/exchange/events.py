"""Events the exchange emits: immutable messages, created only after the state change they
describe is complete.

Every event is a ``NamedTuple`` whose first field is ``ts_ns``. Units are in the field
names (ticks, lots, atoms). Codes (side, order type, ...) are the ints of
:mod:`exsim.book.orders`; :func:`event_to_dict` turns an event into plain JSON-ready
data with those codes spelled out.

Building an event is a large part of the exchange's cost per command (2.4 events a
command on the reference workload), so each event class has a second constructor for the
hot path: ``Cls._of((ts_ns, ...))`` takes the fields as one tuple, in order, and checks
nothing. ``Cls(...)`` keeps the ``NamedTuple`` signature (keywords, defaults) for every
other use. ``tuple.__new__(Cls, (...))``, the exchange's older spelling, still works;
``_of`` is quicker (0.20 against 0.25 us here; a plain tuple is 0.07). Field order is
therefore part of each class's contract; tests pin it.

How: a ``NamedTuple`` class gets its signature from a ``__new__`` written in Python,
which every call goes through. :func:`_event` rebuilds the class without that
``__new__``, so the type's C-level constructor is ``tuple``'s (one iterable, no
Python frame), and gives the class a metaclass whose ``__call__`` runs the
``NamedTuple``'s ``__new__`` for ordinary calls. ``_of`` is ``type.__call__`` bound to
the class: it calls the C constructor directly, past the metaclass.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, TypeVar

from exsim.book.orders import ORDER_TYPE_NAMES, SIDE_NAMES, STP_NAMES, TIF_NAMES, TRIGGER_NAMES

POSITION_SIDE_NAMES = ("BOTH", "LONG", "SHORT")  # as exsim.ledger (events import no ledger code)

MAKER = 0
TAKER = 1
LIQUIDITY_NAMES = ("MAKER", "TAKER")


class _EventType(type):
    """The metaclass of event classes: ``Cls(...)`` with the ``NamedTuple`` signature."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        return cls._build(cls, *args, **kwargs)  # type: ignore[attr-defined]


def _getnewargs(self: tuple) -> tuple[tuple]:
    # pickle and copy rebuild an event with ``cls.__new__(cls, *these)``: tuple's
    # constructor, which takes the fields as one tuple
    return (tuple(self),)


_T = TypeVar("_T")


def _event(nt: type[_T]) -> type[_T]:
    """``nt`` (a ``NamedTuple`` class) rebuilt with tuple's C constructor and ``_of``.

    The rebuilt class has everything ``nt`` has (fields, ``_fields``, ``_make``,
    ``_replace``, ``_asdict``, methods, docstring) but its ``__new__``, kept as
    ``_build`` for :class:`_EventType` to call.
    """
    ns = {k: v for k, v in vars(nt).items() if k not in ("__new__", "__dict__", "__weakref__")}
    ns["_build"] = vars(nt)["__new__"]
    ns["__getnewargs__"] = _getnewargs
    ns["__qualname__"] = nt.__qualname__
    cls = _EventType(nt.__name__, (tuple,), ns)
    cls._of = type.__call__.__get__(cls)  # type: ignore[attr-defined]
    return cls  # type: ignore[return-value]


def fast_constructor(cls: type[_T]) -> Callable[[tuple], _T]:
    """``cls._of``, typed: builds a ``cls`` from a tuple of all its fields, in order, unchecked."""
    return cls._of  # type: ignore[attr-defined, no-any-return]


@_event
class OrderAccepted(NamedTuple):
    """An order passed the checks and entered the exchange (book or trigger index)."""

    ts_ns: int
    symbol: str
    order_id: int
    account_id: int
    client_order_id: str | None
    side: int
    order_type: int
    tif: int
    price_ticks: int  # 0 for market orders
    qty_lots: int
    trigger_price_ticks: int  # 0 unless a stop / take-profit order


@_event
class OrderRejected(NamedTuple):
    """A command was refused; ``reason`` is a code from :class:`~exsim.exchange.RejectReason`."""

    ts_ns: int
    symbol: str
    account_id: int
    client_order_id: str | None
    order_id: int  # the target of a cancel / amend, 0 for a new order
    reason: str


@_event
class OrderCancelled(NamedTuple):
    """A resting (or untriggered) order left the exchange before filling completely.

    ``reason``: ``USER`` (cancel command), ``STP`` (self-trade prevention cancelled the
    resting order), ``OCO`` (another leg of its OCO group, or of a bracket's exits, filled
    or triggered, or was cancelled), ``POSITION_CLOSED`` (the position a bracket's exits
    protect went flat), ``LIQUIDATION``, ``REDUCE_ONLY``; ``AMEND`` is never used (amends
    emit :class:`OrderAmended`). See ``docs/orders.md``.
    """

    ts_ns: int
    symbol: str
    order_id: int
    account_id: int
    leaves_lots: int
    reason: str


@_event
class OrderExpired(NamedTuple):
    """The unfilled remainder of an order ended by its own terms.

    ``reason``: ``IOC`` (remainder of an IOC/market order), ``FOK`` (could not fill
    completely), ``NO_LIQUIDITY`` (market order found the book empty), ``STP`` (self-trade
    prevention expired the incoming order).
    """

    ts_ns: int
    symbol: str
    order_id: int
    account_id: int
    leaves_lots: int
    reason: str


@_event
class OrderAmended(NamedTuple):
    """A resting order's price and/or total quantity changed.

    ``kept_priority`` is true only for a pure size reduction.
    """

    ts_ns: int
    symbol: str
    order_id: int
    account_id: int
    price_ticks: int
    qty_lots: int
    leaves_lots: int
    kept_priority: bool


@_event
class OrderTriggered(NamedTuple):
    """A stop / take-profit order's trigger was reached; it now enters the book.

    For a trailing stop ``trigger_price_ticks`` is its firing level on the tick grid (the
    first tick price that fires it: rounded down for a SELL, up for a BUY).

    ``reference_price_subticks``: the last trade or mark price that fired it, in subticks
    (1e-8 of the quote asset; a mark is finer than the tick)."""

    ts_ns: int
    symbol: str
    order_id: int
    account_id: int
    trigger_price_ticks: int
    reference_price_subticks: int
    trigger_by: int


@_event
class Fill(NamedTuple):
    """One match between a taker and a maker: the print on the tape and both sides' fills.

    The taker is on ``aggressor_side``, the maker on the other side. Either side may be
    anonymous replayed liquidity (order id 0, account 0, fee 0): a replayed trade that
    consumed only replayed size is a Fill with both sides anonymous. One event per match,
    rather than a trade plus two fills, keeps the emitted stream small; consumers that
    want one record per account read :meth:`taker` and :meth:`maker`.
    Fees are paid by the side's account, rounded up (against the trader).
    """

    ts_ns: int
    symbol: str
    trade_id: int
    price_ticks: int
    qty_lots: int
    aggressor_side: int
    taker_order_id: int
    taker_account_id: int
    taker_leaves_lots: int  # what the taker still has open after this fill
    taker_fee_atoms: int
    maker_order_id: int
    maker_account_id: int
    maker_leaves_lots: int  # what the maker still has open after this fill
    maker_fee_atoms: int

    def taker(self) -> "SideFill":
        """The taker's side of this match."""
        return SideFill(
            self.taker_order_id, self.taker_account_id, self.aggressor_side, TAKER, self.taker_leaves_lots, self.taker_fee_atoms
        )

    def maker(self) -> "SideFill":
        """The maker's side of this match."""
        return SideFill(
            self.maker_order_id, self.maker_account_id, self.aggressor_side ^ 1, MAKER, self.maker_leaves_lots, self.maker_fee_atoms
        )


class SideFill(NamedTuple):
    """One account's part of a :class:`Fill` (a view, not an emitted event)."""

    order_id: int
    account_id: int
    side: int
    liquidity: int  # MAKER or TAKER
    leaves_lots: int
    fee_atoms: int


@_event
class BookDelta(NamedTuple):
    """The new total size at one price level (0: the level is gone). L2, replayed + simulated."""

    ts_ns: int
    symbol: str
    side: int
    price_ticks: int
    lots: int


@_event
class MarkPriceUpdated(NamedTuple):
    """A new mark price for an instrument, in subticks (1e-8 of the quote asset: the
    venue's mark is finer than the tick)."""

    ts_ns: int
    symbol: str
    mark_price_subticks: int


@_event
class CommandRejected(NamedTuple):
    """An account command (deposit, withdrawal, leverage, modes, margin move) was refused."""

    ts_ns: int
    account_id: int
    command: str  # the command's class name
    reason: str


@_event
class BalanceChanged(NamedTuple):
    """Money entered or left an account's cross wallet (deposit, withdrawal, margin move)."""

    ts_ns: int
    account_id: int
    kind: str  # DEPOSIT, WITHDRAW, ISOLATED_MARGIN
    amount_atoms: int  # signed: + into the wallet
    wallet_atoms: int  # the wallet afterwards
    asset: str = ""  # the wallet's asset (atoms are 1e-8 of it)


@_event
class SettingChanged(NamedTuple):
    """An account setting changed: LEVERAGE, MARGIN_MODE (CROSS/ISOLATED) or POSITION_MODE."""

    ts_ns: int
    account_id: int
    symbol: str  # "" for account-wide settings
    setting: str
    value: str


@_event
class PositionChanged(NamedTuple):
    """A position after a fill, margin move or funding: size, exact entry cost, bucket.

    ``qty_lots`` is signed (+ long, − short); 0 means the position is closed.
    ``realized_pnl_atoms`` is the position's cumulative realized PnL (fees excluded).
    """

    ts_ns: int
    account_id: int
    symbol: str
    position_side: int
    qty_lots: int
    cost_atoms: int
    margin_atoms: int  # the isolated bucket; 0 for cross
    realized_pnl_atoms: int
    wallet_atoms: int  # the account's cross wallet afterwards


@_event
class MarginCall(NamedTuple):
    """A scope's margin ratio (maintenance margin / margin balance) reached the warning level.

    ``scope`` is ``ISOLATED`` (one bucket: ``symbol`` and ``position_side`` name it) or
    ``CROSS`` (the account's cross pool: ``symbol`` is the instrument whose mark moved or
    "" when a fill or transfer caused it).
    """

    ts_ns: int
    account_id: int
    scope: str
    symbol: str
    position_side: int
    margin_balance_atoms: int
    maint_margin_atoms: int
    margin_ratio_e8: int


@_event
class Liquidatable(NamedTuple):
    """A scope's margin balance is at or below its maintenance margin: it must be liquidated.

    Same fields as :class:`MarginCall`; ``mark_price_subticks`` is the mark (1e-8 of the quote asset) of ``symbol``
    at that moment (0 when none is known).
    """

    ts_ns: int
    account_id: int
    scope: str
    symbol: str
    position_side: int
    margin_balance_atoms: int
    maint_margin_atoms: int
    margin_ratio_e8: int
    mark_price_subticks: int


@_event
class IndexPriceUpdated(NamedTuple):
    """A new index price for an instrument, in subticks (1e-8 of the quote asset)."""

    ts_ns: int
    symbol: str
    index_price_subticks: int


@_event
class FundingPaid(NamedTuple):
    """One position's funding at a funding time: + received, − paid (rounded down)."""

    ts_ns: int
    account_id: int
    symbol: str
    position_side: int
    rate_e8: int
    mark_price_subticks: int
    amount_atoms: int


@_event
class FundingSettled(NamedTuple):
    """A funding settlement of one instrument: totals, and the rounding dust to the fund."""

    ts_ns: int
    symbol: str
    rate_e8: int
    mark_price_subticks: int
    positions: int
    paid_atoms: int
    received_atoms: int
    dust_atoms: int  # credited to the insurance fund


@_event
class Liquidation(NamedTuple):
    """A completed liquidation of one scope, with everything needed to explain it.

    ``positions`` holds one :class:`~exsim.liquidation.LiquidatedPosition` per position
    closed (qty, mark, bankruptcy price, lots filled through the book and their notional,
    lots taken over by the insurance fund, lots auto-deleveraged); ``adl`` one
    :class:`~exsim.liquidation.AdlFill` per deleveraged counterparty with its rank.
    ``explanation`` says it in one line.
    """

    ts_ns: int
    account_id: int
    scope: str  # ISOLATED or CROSS
    symbol: str  # the bucket's instrument, or the instrument whose mark triggered a pool
    margin_balance_atoms: int  # at the trigger
    maint_margin_atoms: int  # at the trigger
    positions: tuple  # of LiquidatedPosition
    clearance_fee_atoms: int
    insurance_fund_change_atoms: int
    insurance_fund_atoms: int  # the fund's balance afterwards
    uncovered_loss_atoms: int  # what nobody could absorb (0 normally)
    adl: tuple  # of AdlFill
    explanation: str
    partial: bool  # True: positions were only reduced to a lower bracket and the scope survives


@_event
class UncoveredLoss(NamedTuple):
    """A loss nobody could absorb (the insurance fund ran dry): reported, never hidden."""

    ts_ns: int
    amount_atoms: int
    total_atoms: int  # all uncovered losses so far (of this asset)
    cause: str  # the command during which it arose
    asset: str = ""  # the asset whose insurance fund ran dry


@_event
class AutoExchange(NamedTuple):
    """Multi-assets mode converted ``from_atoms`` of the trader's ``from_asset`` into
    ``to_atoms`` of ``to_asset`` to buy back a negative balance, through the venue's
    exchange desk (sold at index × (1 − bid buffer), bought at index × (1 + ask buffer)).
    ``reason``: ``THRESHOLD`` (a USDⓈ balance below −10,000 USD), ``LIQUIDATION`` or
    ``NEGATIVE_BALANCE`` (no position or order left and a loan to value of 1 or more)."""

    ts_ns: int
    account_id: int
    from_asset: str
    from_atoms: int
    to_asset: str
    to_atoms: int
    reason: str


@_event
class CollateralRuleSet(NamedTuple):
    """How ``asset`` converts in multi-assets mode from now on (after a SetCollateralRule)."""

    ts_ns: int
    asset: str
    index_usd_e8: int
    bid_buffer_e8: int
    ask_buffer_e8: int
    tiers: tuple  # ((upto_atoms | None, value_ratio_e8), ...)


Event = (
    OrderAccepted
    | OrderRejected
    | OrderCancelled
    | OrderExpired
    | OrderAmended
    | OrderTriggered
    | Fill
    | BookDelta
    | MarkPriceUpdated
    | CommandRejected
    | BalanceChanged
    | SettingChanged
    | PositionChanged
    | MarginCall
    | Liquidatable
    | FundingPaid
    | FundingSettled
    | IndexPriceUpdated
    | Liquidation
    | UncoveredLoss
    | AutoExchange
    | CollateralRuleSet
)

_CODE_FIELDS: dict[str, tuple[str, ...]] = {
    "side": SIDE_NAMES,
    "aggressor_side": SIDE_NAMES,
    "order_type": ORDER_TYPE_NAMES,
    "tif": TIF_NAMES,
    "liquidity": LIQUIDITY_NAMES,
    "trigger_by": TRIGGER_NAMES,
    "stp_mode": STP_NAMES,
    "position_side": POSITION_SIDE_NAMES,
}


def event_to_dict(event: Event) -> dict[str, Any]:
    """Plain, JSON-ready dict of an event: ``{"event": ClassName, field: value, ...}``.

    Integer codes become their names (``side: "BUY"``); numbers stay fixed-point ints.

    >>> event_to_dict(BookDelta(5, "BTCUSDT", 0, 1000, 3))
    {'event': 'BookDelta', 'ts_ns': 5, 'symbol': 'BTCUSDT', 'side': 'BUY', 'price_ticks': 1000, 'lots': 3}
    """
    out: dict[str, Any] = {"event": type(event).__name__}
    out.update(_fields_to_dict(event))
    return out


def _fields_to_dict(record: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in zip(record._fields, record):
        names = _CODE_FIELDS.get(name)
        if names is not None:
            value = names[value]
        elif type(value) is tuple and value and hasattr(value[0], "_fields"):
            value = [_fields_to_dict(v) for v in value]  # nested records (Liquidation)
        out[name] = value
    return out
