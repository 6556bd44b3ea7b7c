"""Commands: what users, strategies and replays ask of the exchange. Immutable messages.

Every command is a ``NamedTuple`` whose first field is ``ts_ns`` (when it reaches the
exchange). Prices are ticks and sizes lots of the command's instrument; codes are the
ints of :mod:`exsim.book.orders`. Commands are validated by the exchange, which answers a
bad one with an :class:`~exsim.exchange.events.OrderRejected` event, never an exception.
"""

from __future__ import annotations

from typing import NamedTuple

from exsim.book.orders import GTC, LIMIT, STP_NONE, TRIGGER_LAST


class NewOrder(NamedTuple):
    """Place an order. ``price_ticks`` is ignored (0) for market types; ``trigger_price_ticks``
    is required for stop / take-profit types, which wait outside the book until the
    ``trigger_by`` price (last trade or mark) reaches it.

    ``TRAILING_STOP_MARKET`` (see :mod:`exsim.exchange.trailing`) takes exactly one of
    ``callback_rate_e8`` (the callback as a share of the extreme price, parts per 1e8:
    Binance ``callbackRate`` 1 (%) is 1_000_000; 0.1 %..10 % allowed) and
    ``callback_ticks`` (the callback as a price distance); its ``trigger_price_ticks`` is
    the activation price (0: active at once, from the current reference price) and
    ``price_ticks`` is 0.
    """

    ts_ns: int
    account_id: int
    symbol: str
    side: int
    qty_lots: int
    price_ticks: int = 0
    order_type: int = LIMIT
    tif: int = GTC
    client_order_id: str | None = None
    reduce_only: bool = False
    trigger_price_ticks: int = 0
    trigger_by: int = TRIGGER_LAST
    position_side: int = 0  # BOTH in one-way mode; LONG (1) / SHORT (2) in hedge mode
    callback_rate_e8: int = 0  # TRAILING_STOP_MARKET only: callback in parts per 1e8
    callback_ticks: int = 0  # TRAILING_STOP_MARKET only: callback as a price distance


class CancelOrder(NamedTuple):
    """Cancel a resting or untriggered order of this account.

    With ``order_id == 0`` the order is found by ``client_order_id`` among the account's
    open orders (Binance ``origClientOrderId``).
    """

    ts_ns: int
    account_id: int
    symbol: str
    order_id: int
    client_order_id: str | None = None


class AmendOrder(NamedTuple):
    """Change a resting order's price and/or total quantity (filled part included).

    A pure size reduction keeps queue priority; a price change or a size increase loses it
    (the order re-enters at the back of its new level, and may trade if it now crosses).
    With ``order_id == 0`` the order is found by ``client_order_id``.
    """

    ts_ns: int
    account_id: int
    symbol: str
    order_id: int
    price_ticks: int
    qty_lots: int
    client_order_id: str | None = None


class NewOco(NamedTuple):
    """One-cancels-the-other: two or more orders of one account and symbol.

    Accepted all or none: if one leg is refused, every leg gets an ``OrderRejected`` (the
    refused one with its reason, the others ``OCO_LEG_REJECTED``). When any leg fills
    (its first fill, even partial) or triggers, every other open leg is cancelled in the
    same command, before anything else trades (``OrderCancelled`` reason ``OCO``).
    The legs' own ``ts_ns`` / ``account_id`` / ``symbol`` must equal the command's.
    """

    ts_ns: int
    account_id: int
    symbol: str
    legs: tuple[NewOrder, ...]


class NewBracket(NamedTuple):
    """An entry order and 1..3 exits (stop, take-profit, trailing stop, limit take-profit).

    The exits are placed when the entry first fills, reduce-only, sized to the filled
    quantity (their ``qty_lots`` is ignored, 0 allowed), as one OCO group, and grow as
    the entry fills more. An entry that ends without a fill places none. Exits are on the
    entry's other side, with its position side.
    """

    ts_ns: int
    account_id: int
    symbol: str
    entry: NewOrder
    exits: tuple[NewOrder, ...]


class SetSelfTradePrevention(NamedTuple):
    """Choose how an account's orders behave when they would trade with each other."""

    ts_ns: int
    account_id: int
    stp_mode: int = STP_NONE


class SetReplayedLevel(NamedTuple):
    """Replayed L2 data: the venue's size at one price level is now ``lots`` (0 removes it)."""

    ts_ns: int
    symbol: str
    side: int
    price_ticks: int
    lots: int


class SetReplayedLevels(NamedTuple):
    """Replayed L2 data: one venue update of several levels, applied in order.

    ``levels`` is a tuple of ``(side, price_ticks, lots)``; each is applied as a
    :class:`SetReplayedLevel` would be, and stop orders are checked once at the end.
    """

    ts_ns: int
    symbol: str
    levels: tuple[tuple[int, int, int], ...]


class ClearReplayedLevels(NamedTuple):
    """Replayed L2 data: drop every replayed size on ``side`` (BUY, SELL, or -1 for both).

    A venue snapshot starts with this; its levels follow as ``SetReplayedLevel``.
    Simulated orders stay where they are.
    """

    ts_ns: int
    symbol: str
    side: int


class ReplayedTrade(NamedTuple):
    """Replayed tape: an anonymous aggressor traded ``qty_lots`` up to ``price_ticks``.

    It consumes the book in queue order like any taker, so simulated orders queued behind
    replayed size fill only once that size is gone.
    """

    ts_ns: int
    symbol: str
    aggressor_side: int
    price_ticks: int
    qty_lots: int


class SetMarkPrice(NamedTuple):
    """A new mark price (replayed or computed) for an instrument, in subticks (1e-8 of
    the quote asset, :func:`exsim.units.to_subticks`): marks are finer than the tick."""

    ts_ns: int
    symbol: str
    mark_price_subticks: int


class Deposit(NamedTuple):
    """Credit an account's cross wallet with ``amount_atoms`` (> 0) of ``asset`` (atoms:
    1e-8 of it; None: the ledger's home asset). Creates the account's wallet in it."""

    ts_ns: int
    account_id: int
    amount_atoms: int
    asset: str | None = None


class Withdraw(NamedTuple):
    """Debit the cross wallet in ``asset`` (None: home); refused if it would leave cross
    margin short (or the account never held the asset: NO_ACCOUNT)."""

    ts_ns: int
    account_id: int
    amount_atoms: int
    asset: str | None = None


class SetLeverage(NamedTuple):
    """Set an account's leverage on one instrument (see :meth:`Ledger.set_leverage`)."""

    ts_ns: int
    account_id: int
    symbol: str
    leverage: int


class SetMarginMode(NamedTuple):
    """Switch one instrument between CROSS (0) and ISOLATED (1); refused with a position or orders."""

    ts_ns: int
    account_id: int
    symbol: str
    margin_mode: int


class SetPositionMode(NamedTuple):
    """One-way (False) or hedge mode (True) of the account's wallet in ``asset`` (None: the
    home asset; a USDⓈ-M and a COIN-M wallet each have their own, as on Binance); refused
    with any position or open order there."""

    ts_ns: int
    account_id: int
    hedge_mode: bool
    asset: str | None = None


class AdjustIsolatedMargin(NamedTuple):
    """Move ``delta_atoms`` into (+) or out of (−) an isolated position's bucket."""

    ts_ns: int
    account_id: int
    symbol: str
    position_side: int
    delta_atoms: int


class SetIndexPrice(NamedTuple):
    """A new index (spot) price in subticks (1e-8 of the quote asset). With computed mark
    prices it also moves the mark."""

    ts_ns: int
    symbol: str
    index_price_subticks: int


class SettleFunding(NamedTuple):
    """Funding time: every open position of ``symbol`` pays or receives ``Q × mark × rate``.

    ``rate_e8`` is the funding rate in parts per 1e8 (0.01 % = 10_000), replayed; None
    computes it from the premium index averaged since the last funding (exchange built
    with ``computed_funding=True``). Positive: longs pay shorts. Positions are valued at
    the current mark.
    """

    ts_ns: int
    symbol: str
    rate_e8: int | None = None


class SetCollateralMode(NamedTuple):
    """Switch a trader between ``"single-asset"`` and ``"multi-assets"`` collateral mode
    (Binance Multi-Assets Mode: every asset's wallet backs one cross pool, valued with
    haircuts). Refused with any position or open order, or an instrument set to isolated
    margin. Emits ``SettingChanged(..., "COLLATERAL_MODE", mode)``."""

    ts_ns: int
    account_id: int
    mode: str


class CollateralIndex(NamedTuple):
    """A collateral asset's index price, USD per coin × 1e8 (``index_usd_e8``): what its
    balance is worth in multi-assets mode before the buffers and haircuts."""

    ts_ns: int
    asset: str
    index_usd_e8: int


class SetCollateralRule(NamedTuple):
    """Change how an asset converts in multi-assets mode (a haircut shock): the bid and
    ask buffers (e8) and the marginal value-ratio tiers (``((upto_atoms | None,
    value_ratio_e8), ...)``). None keeps a field. Emits ``CollateralRuleSet``."""

    ts_ns: int
    asset: str
    bid_buffer_e8: int | None = None
    ask_buffer_e8: int | None = None
    tiers: tuple | None = None


Command = (
    NewOrder
    | CancelOrder
    | AmendOrder
    | SetSelfTradePrevention
    | SetReplayedLevel
    | SetReplayedLevels
    | ClearReplayedLevels
    | ReplayedTrade
    | SetMarkPrice
    | Deposit
    | Withdraw
    | SetLeverage
    | SetMarginMode
    | SetPositionMode
    | AdjustIsolatedMargin
    | SetIndexPrice
    | SettleFunding
    | NewOco
    | NewBracket
    | SetCollateralMode
    | CollateralIndex
    | SetCollateralRule
)
