"""Orders as Binance USDⓈ-M serves them: the order endpoints, the order registry, user data.

:class:`Orders` is the venue's order book-keeping (one per venue): it keeps every order of
every served account in Binance's view (``orderId``, ``clientOrderId``, status, executed
quantity, average price ...) and every fill as a user trade, updated from the engine's
events (:meth:`Orders.on_events`), and pushes ``ORDER_TRADE_UPDATE`` and ``TRADE_LITE``
to the account's user-data streams.

The endpoints (``POST/GET/DELETE/PUT /fapi/v1/order``, ``/batchOrders``,
``/allOpenOrders``, ``/openOrders``, ``/openOrder``, ``/allOrders``, ``/userTrades``)
check their parameters here, at the boundary, with Binance's error codes, send one exsim
command per order through :meth:`Venue.send`, and answer from the events of that command.
A refusal by the engine becomes Binance's error through :data:`REJECT_CODES`.

Binance's names and exsim's:

- order types: ``STOP`` / ``TAKE_PROFIT`` are exsim's ``STOP_LIMIT`` / ``TAKE_PROFIT_LIMIT``;
  ``workingType`` MARK_PRICE / CONTRACT_PRICE is the trigger reference (mark / last).
- ``selfTradePreventionMode`` is per order at Binance and per account in exsim (the
  taker's mode decides, at both): an order whose mode differs from the account's current
  one first sends :class:`~exsim.exchange.SetSelfTradePrevention`. A stop uses the mode
  the account has when it triggers.
- not simulated, refused with a message that says so: ``closePosition=true``,
  ``priceProtect=true``, ``priceMatch`` other than NONE.
- ``timeInForce=GTD``: a GTC order that a timer of the venue's loop cancels at its
  ``goodTillDate`` (rounded down to the second, as Binance does), reported EXPIRED.
- liquidations are reported as Binance reports them: the liquidation order with
  ``o``/``ot`` ``LIQUIDATION``, ``x`` ``CALCULATED``, client id ``autoclose-<ms>``; an
  auto-deleveraged counterparty's close with client id ``adl_autoclose``. The lots the
  insurance fund took over or that were deleveraged (no book fill in exsim) are reported
  as one more ``CALCULATED`` fill of the liquidation order at the bankruptcy price.
  These records (ADL closes, takeover fills) get order and trade ids of their own,
  counted from :data:`SYNTHETIC_ID_BASE` (the engine's ids stay the engine's).

Amounts are exact: prices on the instrument's tick, quantities on its lot, money in
atoms; the average price is the exact quote over quantity rounded half-even to the subtick
(1e-8 of the quote asset) by :func:`exsim.units.div_half_even`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any, Final

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
    STP_EXPIRE_BOTH,
    STP_EXPIRE_MAKER,
    STP_EXPIRE_TAKER,
    STP_NONE,
    TAKE_PROFIT_LIMIT,
    TAKE_PROFIT_MARKET,
    TRAILING_STOP_MARKET,
    TRIGGER_LAST,
    TRIGGER_MARK,
)
from exsim.errors import InputError
from exsim.exchange.commands import AmendOrder, CancelOrder, NewOrder, SetSelfTradePrevention
from exsim.exchange.events import (
    Fill,
    Liquidation,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderExpired,
    OrderRejected,
    OrderTriggered,
    PositionChanged,
)
from exsim.exchange.exchange import RejectReason
from exsim.exchange.trailing import MAX_CALLBACK_RATE_E8, MIN_CALLBACK_RATE_E8
from exsim.ledger.ledger import Reason as LedgerReason
from exsim.loop.event_loop import PRIORITY_COMMAND
from exsim.serve.binance import (
    CANCEL_REJECTED,
    GTX_ORDER_REJECT,
    ILLEGAL_CHARS,
    INVALID_CALLBACK_RATE,
    INVALID_CL_ORD_ID_LEN,
    INVALID_ORDER_TYPE,
    INVALID_POSITION_SIDE,
    INVALID_SIDE,
    INVALID_SYMBOL,
    INVALID_TIF,
    MANDATORY_PARAM_EMPTY_OR_MALFORMED,
    MARGIN_NOT_SUFFICIEN,
    MIN_NOTIONAL,
    NO_SUCH_ORDER,
    ORDER_WOULD_IMMEDIATELY_TRIGGER,
    PARAM_NOT_REQUIRED,
    POSITION_SIDE_NOT_MATCH,
    PRICE_LESS_THAN_ZERO,
    PRICE_NOT_INCREASED_BY_TICK_SIZE,
    QTY_GREATER_THAN_MAX_QTY,
    QTY_LESS_THAN_MIN_QTY,
    QTY_LESS_THAN_ZERO,
    QTY_NOT_INCREASED_BY_STEP_SIZE,
    REDUCE_ONLY_REJECT,
    SIGNED,
    STOP_PRICE_LESS_THAN_ZERO,
    UNKNOWN,
    BALANCE_NOT_SUFFICIENT,
    INVALID_LEVERAGE,
    INVALID_PARAMETER,
    BinanceError,
    Params,
    endpoint,
    illegal,
    mandatory,
    ms_of,
)
from exsim.units import (
    div_half_even,
    floor_div,
    format_atoms,
    format_lots,
    format_rate_e8,
    format_subticks,
    format_ticks,
    mul_div_floor,
    to_lots,
    to_ticks,
)

# Binance codes this module needs that binance.py does not name (facts of Binance's
# "Error Codes" page; kept here so the contract module stays as the lead merged it)
DUPLICATED_CLIENT_ORDER_ID: Final = -4116  # "ClientOrderId is duplicated."
MAX_LEVERAGE_RATIO: Final = -2027  # "Exceeded the maximum allowable position at current leverage."
MIN_LEVERAGE_RATIO: Final = -2028  # "Leverage is smaller than permitted: insufficient margin balance."
SAME_ORDER: Final = -5027  # "No need to modify the order."
INVALID_BATCH_PLACE_ORDER_SIZE: Final = -4081  # batch of more than 5 orders / 10 cancels
THERE_EXISTS_OPEN_ORDERS_OR_POSITION: Final = -4047

GTD_OUT_OF_RANGE: Final = -5040  # goodTillDate not in (now + 600 s, 253402300799000)
GTD_MIN_MS: Final = 600_000
GTD_MAX_MS: Final = 253_402_300_799_000

#: first id of the records exsim makes up for the user (ADL closes, takeover fills): far
#: above any engine order or trade id
SYNTHETIC_ID_BASE: Final = 1 << 52

TYPES: Final = ("LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET")
#: Binance order type -> exsim order type code
TYPE_CODES: Final = {
    "LIMIT": LIMIT,
    "MARKET": MARKET,
    "STOP": STOP_LIMIT,
    "STOP_MARKET": STOP_MARKET,
    "TAKE_PROFIT": TAKE_PROFIT_LIMIT,
    "TAKE_PROFIT_MARKET": TAKE_PROFIT_MARKET,
    "TRAILING_STOP_MARKET": TRAILING_STOP_MARKET,
}
_LIMIT_PRICED: Final = frozenset(("LIMIT", "STOP", "TAKE_PROFIT"))
_STOP_PRICED: Final = frozenset(("STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET"))
#: what a triggered order becomes
_TRIGGERED_TYPE: Final = {
    "STOP": "LIMIT",
    "TAKE_PROFIT": "LIMIT",
    "STOP_MARKET": "MARKET",
    "TAKE_PROFIT_MARKET": "MARKET",
    "TRAILING_STOP_MARKET": "MARKET",
}
TIFS: Final = ("GTC", "IOC", "FOK", "GTX", "GTD")
TIF_CODES: Final = {"GTC": GTC, "IOC": IOC, "FOK": FOK, "GTX": GTX}
SIDES: Final = ("BUY", "SELL")
POSITION_SIDES: Final = ("BOTH", "LONG", "SHORT")
WORKING_TYPES: Final = ("CONTRACT_PRICE", "MARK_PRICE")
STP_MODES: Final = ("NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH")
STP_CODES: Final = {"NONE": STP_NONE, "EXPIRE_TAKER": STP_EXPIRE_TAKER, "EXPIRE_MAKER": STP_EXPIRE_MAKER,
                    "EXPIRE_BOTH": STP_EXPIRE_BOTH}
RESP_TYPES: Final = ("ACK", "RESULT")
_CLIENT_ID: Final = re.compile(r"[.A-Z:/a-z0-9_-]{1,36}\Z")
_ALPHABET: Final = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

#: every exsim refusal (``OrderRejected.reason``: the exchange's RejectReason and the
#: ledger's Reason) -> Binance's code and message. {} in a message is filled by the caller.
REJECT_CODES: Final[dict[str, tuple[int, str]]] = {
    RejectReason.UNKNOWN_SYMBOL: (INVALID_SYMBOL, "Invalid symbol."),
    RejectReason.UNKNOWN_ORDER: (NO_SUCH_ORDER, "Order does not exist."),
    RejectReason.INVALID_ACCOUNT: (UNKNOWN, "Invalid account."),
    RejectReason.INVALID_SIDE: (INVALID_SIDE, "Invalid side."),
    RejectReason.INVALID_ORDER_TYPE: (INVALID_ORDER_TYPE, "Invalid orderType."),
    RejectReason.INVALID_TIF: (INVALID_TIF, "Invalid timeInForce."),
    RejectReason.INVALID_QTY: (QTY_LESS_THAN_ZERO, "Quantity less than or equal to zero."),
    RejectReason.QTY_BELOW_MIN: (QTY_LESS_THAN_MIN_QTY, "Quantity less than min quantity."),
    RejectReason.QTY_ABOVE_MAX: (QTY_GREATER_THAN_MAX_QTY, "Quantity greater than max quantity."),
    RejectReason.INVALID_PRICE: (PRICE_LESS_THAN_ZERO, "Price less than 0."),
    RejectReason.NOTIONAL_BELOW_MIN: (MIN_NOTIONAL, "Order's notional must be no smaller than {} (unless you choose reduce only)."),
    RejectReason.POST_ONLY_WOULD_TAKE: (
        GTX_ORDER_REJECT,
        "Due to the order could not be executed as maker, the Post Only order will be rejected. "
        "The order will not be recorded in the order history",
    ),
    RejectReason.INVALID_TRIGGER: (STOP_PRICE_LESS_THAN_ZERO, "Stop price less than zero."),
    RejectReason.WOULD_IMMEDIATELY_TRIGGER: (ORDER_WOULD_IMMEDIATELY_TRIGGER, "Order would immediately trigger."),
    RejectReason.DUPLICATE_CLIENT_ORDER_ID: (DUPLICATED_CLIENT_ORDER_ID, "ClientOrderId is duplicated."),
    RejectReason.AMEND_QTY_NOT_ABOVE_FILLED: (QTY_LESS_THAN_ZERO, "Quantity less than or equal to the executed quantity."),
    RejectReason.NOT_AMENDABLE: (INVALID_ORDER_TYPE, "Invalid orderType: only LIMIT orders can be modified."),
    RejectReason.INVALID_STP_MODE: (INVALID_PARAMETER, "Invalid selfTradePreventionMode."),
    RejectReason.INVALID_CALLBACK: (INVALID_CALLBACK_RATE, "Invalid callBackRate."),
    RejectReason.OCO_LEG_REJECTED: (UNKNOWN, "Another order of the same list was rejected."),
    RejectReason.INVALID_OCO: (UNKNOWN, "Invalid order list."),
    RejectReason.INVALID_BRACKET: (UNKNOWN, "Invalid order list."),
    LedgerReason.NO_ACCOUNT: (MARGIN_NOT_SUFFICIEN, "Margin is insufficient."),
    LedgerReason.INSUFFICIENT_MARGIN: (MARGIN_NOT_SUFFICIEN, "Margin is insufficient."),
    LedgerReason.INSUFFICIENT_BALANCE: (BALANCE_NOT_SUFFICIENT, "Balance is insufficient."),
    LedgerReason.REDUCE_ONLY_WOULD_INCREASE: (REDUCE_ONLY_REJECT, "ReduceOnly Order is rejected."),
    LedgerReason.LEVERAGE_ABOVE_BRACKET_MAX: (MAX_LEVERAGE_RATIO, "Exceeded the maximum allowable position at current leverage."),
    LedgerReason.LEVERAGE_BELOW_REQUIRED: (MIN_LEVERAGE_RATIO, "Leverage is smaller than permitted: insufficient margin balance."),
    LedgerReason.INVALID_LEVERAGE: (INVALID_LEVERAGE, "Leverage is not valid."),
    LedgerReason.NOTIONAL_ABOVE_MAX: (MAX_LEVERAGE_RATIO, "Exceeded the maximum allowable position at current leverage."),
    LedgerReason.POSITION_SIDE_MISMATCH: (POSITION_SIDE_NOT_MATCH, "Order's position side does not match user's setting."),
    LedgerReason.HAS_POSITION_OR_ORDERS: (THERE_EXISTS_OPEN_ORDERS_OR_POSITION, "There exists open orders or position."),
    LedgerReason.NO_ISOLATED_POSITION: (INVALID_PARAMETER, "No isolated position."),
    LedgerReason.INVALID_AMOUNT: (INVALID_PARAMETER, "Invalid amount."),
    LedgerReason.UNKNOWN_ASSET: (INVALID_PARAMETER, "Invalid asset."),
    LedgerReason.INVALID_COLLATERAL_MODE: (INVALID_PARAMETER, "Invalid multiAssetsMargin."),
    LedgerReason.ISOLATED_IN_MULTI_ASSETS: (INVALID_PARAMETER, "Isolated margin is not available in Multi-Assets mode."),
    LedgerReason.NO_INDEX_PRICE: (INVALID_PARAMETER, "The asset has no index price."),
}


def reject_error(reason: str, instrument: Any = None) -> BinanceError:
    """The Binance error for an exsim refusal ``reason`` (``-1000`` naming it if unknown).

    >>> reject_error("INSUFFICIENT_MARGIN").body()
    {'code': -2019, 'msg': 'Margin is insufficient.'}
    """
    code, msg = REJECT_CODES.get(reason, (UNKNOWN, f"Rejected by exsim: {reason}."))
    if "{}" in msg:
        figure = format_atoms(instrument.min_notional_atoms, 0) if instrument is not None else "the minimum"
        msg = msg.replace("{}", figure)
    return BinanceError(code, msg)


# --------------------------------------------------------------------------- parameters
class OrderSpec:
    """A new order as parsed from Binance's parameters: the exsim command's fields plus
    Binance's own (original type text, working type, STP mode, response type)."""

    __slots__ = (
        "symbol", "side", "type", "tif", "qty_lots", "price_ticks", "stop_ticks", "reduce_only", "position_side",
        "working_type", "client_order_id", "stp_mode", "resp_type", "callback_rate_e8", "activation_ticks", "algo",
        "gtd_ms",
    )

    def __init__(self, **fields: Any) -> None:
        fields.setdefault("algo", False)
        fields.setdefault("gtd_ms", 0)
        for name in self.__slots__:
            setattr(self, name, fields[name])

    def command(self, ts_ns: int, account_id: int) -> NewOrder:
        """The exsim :class:`~exsim.exchange.NewOrder` at ``ts_ns``."""
        trailing = self.type == "TRAILING_STOP_MARKET"
        return NewOrder(
            ts_ns,
            account_id,
            self.symbol,
            SIDES.index(self.side),
            self.qty_lots,
            self.price_ticks,
            TYPE_CODES[self.type],
            TIF_CODES["GTC" if self.tif == "GTD" else self.tif],  # GTD: GTC, cancelled at its date
            self.client_order_id,
            self.reduce_only,
            self.activation_ticks if trailing else self.stop_ticks,
            TRIGGER_MARK if self.working_type == "MARK_PRICE" else TRIGGER_LAST,
            POSITION_SIDES.index(self.position_side),
            self.callback_rate_e8,
            0,
        )


def _ticks(p: Params, name: str, tick_size: Decimal, code: int = PRICE_LESS_THAN_ZERO) -> int:
    value = p.decimal(name)
    try:
        ticks = to_ticks(value, tick_size, field=name)
    except InputError:
        raise BinanceError(PRICE_NOT_INCREASED_BY_TICK_SIZE, "Price not increased by tick size.") from None
    if ticks <= 0:
        raise BinanceError(code, "Stop price less than zero." if code == STOP_PRICE_LESS_THAN_ZERO else "Price less than 0.")
    return ticks


def _lots(p: Params, name: str, lot_size: Decimal) -> int:
    value = p.decimal(name)
    try:
        lots = to_lots(value, lot_size, field=name)
    except InputError:
        raise BinanceError(QTY_NOT_INCREASED_BY_STEP_SIZE, "Quantity not increased by step size.") from None
    if lots <= 0:
        raise BinanceError(QTY_LESS_THAN_ZERO, "Quantity less than or equal to zero.")
    return lots


def not_required(name: str, why: str = "") -> BinanceError:
    """-1106, Binance's words for a parameter that must not be sent (``why`` appended)."""
    return BinanceError(PARAM_NOT_REQUIRED, f"Parameter '{name}' sent when not required.{' ' + why if why else ''}")


def instrument_of(venue: Any, p: Params) -> Any:
    """The instrument named by ``symbol`` (-1102 missing, -1121 unknown)."""
    inst = venue.instruments.get(p.text("symbol"))
    if inst is None:
        raise BinanceError(INVALID_SYMBOL, "Invalid symbol.")
    return inst


def client_id_ok(name: str, value: str) -> str:
    """A client order id as Binance allows it (``^[.A-Z:/a-z0-9_-]{1,36}$``).

    >>> client_id_ok("newClientOrderId", "x" * 37)
    Traceback (most recent call last):
    ...
    exsim.serve.binance.BinanceError: -4015 Client order id length should be less than 36 chars
    """
    if len(value) > 36:
        raise BinanceError(INVALID_CL_ORD_ID_LEN, "Client order id length should be less than 36 chars")
    if not _CLIENT_ID.match(value):
        raise BinanceError(
            ILLEGAL_CHARS, f"Illegal characters found in parameter '{name}'; legal range is '^[\\.A-Z\\:/a-z0-9_-]{{1,36}}$'."
        )
    return value


def parse_new_order(p: Params, instrument: Any, hedge_mode: bool) -> OrderSpec:
    """Check a new order's parameters as Binance does and return them as exsim units.

    Raises :class:`BinanceError`: -1102 missing, -1117 side, -1116 type, -1115 time in
    force, -4060 position side, -4014 price off the tick, -4023 quantity off the step,
    -4003 / -4001 / -4006 not positive, -4082 callback rate, -1106 a parameter that does
    not apply (or a feature exsim does not simulate: the message says so), -4015 / -1100
    client order id, -1130 other bad values.
    """
    side = p.choice("side", SIDES, code=INVALID_SIDE)
    otype = p.choice("type", TYPES, code=INVALID_ORDER_TYPE)
    pside = p.choice("positionSide", POSITION_SIDES, default="BOTH", code=INVALID_POSITION_SIDE)
    if p.boolean("closePosition"):
        raise not_required("closePosition", "exsim does not simulate closePosition orders: send quantity with reduceOnly.")
    if p.boolean("priceProtect"):
        raise not_required("priceProtect", "exsim does not simulate price protection.")
    if p.text("priceMatch", "NONE") != "NONE":
        raise not_required("priceMatch", "exsim does not simulate priceMatch.")
    if p.has("reduceOnly") and hedge_mode:
        raise not_required("reduceOnly")
    reduce_only = p.boolean("reduceOnly")
    if otype in _LIMIT_PRICED:
        tif = p.choice("timeInForce", TIFS, code=INVALID_TIF)
    else:
        tif = p.choice("timeInForce", TIFS, default="GTC", code=INVALID_TIF)
    gtd_ms = 0
    if tif == "GTD":
        if otype == "MARKET":
            raise BinanceError(INVALID_TIF, "Invalid timeInForce: GTD is for orders that rest.")
        gtd_ms = p.integer("goodTillDate")
        gtd_ms = floor_div(gtd_ms, 1000) * 1000  # Binance: rounded down to the second
    elif p.has("goodTillDate"):
        raise not_required("goodTillDate")
    qty = _lots(p, "quantity", instrument.lot_size)
    if otype in _LIMIT_PRICED:
        price = _ticks(p, "price", instrument.tick_size)
    elif p.has("price"):
        raise not_required("price")
    else:
        price = 0
    if otype in _STOP_PRICED:
        stop = _ticks(p, "stopPrice", instrument.tick_size, STOP_PRICE_LESS_THAN_ZERO)
    elif p.has("stopPrice"):
        raise not_required("stopPrice")
    else:
        stop = 0
    working = p.choice("workingType", WORKING_TYPES, default="CONTRACT_PRICE")
    rate_e8 = activation = 0
    if otype == "TRAILING_STOP_MARKET":
        rate = p.decimal("callbackRate")
        scaled = rate * 1_000_000  # 1 (%) = 1_000_000 e8
        if scaled != scaled.to_integral_value() or not MIN_CALLBACK_RATE_E8 <= int(scaled) <= MAX_CALLBACK_RATE_E8:
            raise BinanceError(INVALID_CALLBACK_RATE, "Invalid callBackRate.")
        rate_e8 = int(scaled)
        if p.has("activationPrice"):
            activation = _ticks(p, "activationPrice", instrument.tick_size)
    else:
        for name in ("callbackRate", "activationPrice"):
            if p.has(name):
                raise not_required(name)
    coid = p.optional("newClientOrderId")
    if coid is not None:
        client_id_ok("newClientOrderId", coid)
    stp = p.choice("selfTradePreventionMode", STP_MODES, default="NONE")
    resp = p.choice("newOrderRespType", RESP_TYPES, default="ACK")
    return OrderSpec(
        symbol=instrument.symbol, side=side, type=otype, tif=tif, qty_lots=qty, price_ticks=price, stop_ticks=stop,
        reduce_only=reduce_only, position_side=pside, working_type=working, client_order_id=coid, stp_mode=stp,
        resp_type=resp, callback_rate_e8=rate_e8, activation_ticks=activation, gtd_ms=gtd_ms,
    )


def batch_params(p: Params, name: str, most: int) -> list[Any]:
    """The JSON list a batch endpoint takes in ``name`` (-1102 missing / malformed, -4081
    more than ``most``). Numbers keep their text (``json`` parses them as strings)."""
    text = p.text(name)
    try:
        items = json.loads(text, parse_float=str, parse_int=str)
    except ValueError:
        raise mandatory(name) from None
    if type(items) is not list or not items:
        raise mandatory(name)
    if len(items) > most:
        raise BinanceError(INVALID_BATCH_PLACE_ORDER_SIZE, f"Batch order size should be no more than {most}.")
    return items


def _text_params(item: Any, name: str) -> Params:
    """One batch entry (a JSON object) as Params of text values."""
    if type(item) is not dict:
        raise mandatory(name)
    values: dict[str, str] = {}
    for k, v in item.items():
        if type(v) is bool:
            values[str(k)] = "true" if v else "false"
        elif v is None:
            values[str(k)] = ""
        elif type(v) in (dict, list):
            raise illegal(str(k), json.dumps(v), "a text value")
        else:
            values[str(k)] = str(v)
    return Params(values)


# --------------------------------------------------------------------------- the registry
class OrderView:
    """One order as Binance shows it. Mutable entity, updated from the engine's events.

    Units: ``*_ticks`` ticks, ``*_lots`` lots, ``quote_ticks_lots`` the exact sum of
    price × lots of its fills (× ``atoms_per_tick_lot`` = quote atoms), ``*_ns`` ns.
    """

    __slots__ = (
        "order_id", "account_id", "symbol", "client_order_id", "side", "type", "orig_type", "tif", "price_ticks",
        "stop_ticks", "qty_lots", "filled_lots", "quote_ticks_lots", "status", "reduce_only", "position_side",
        "working_type", "stp_mode", "time_ns", "update_ns", "callback_rate_e8", "activation_ticks", "expiry_reason",
        "liquidation", "algo", "algo_status", "trigger_ns", "gtd_ms",
    )

    def __init__(self, order_id: int, account_id: int, symbol: str, client_order_id: str, side: str, otype: str,
                 tif: str, price_ticks: int, stop_ticks: int, qty_lots: int, reduce_only: bool, position_side: str,
                 working_type: str, stp_mode: str, time_ns: int, callback_rate_e8: int = 0, activation_ticks: int = 0,
                 liquidation: bool = False) -> None:
        self.order_id = order_id
        self.account_id = account_id
        self.symbol = symbol
        self.client_order_id = client_order_id
        self.side = side
        self.type = otype
        self.orig_type = otype
        self.tif = tif
        self.price_ticks = price_ticks
        self.stop_ticks = stop_ticks
        self.qty_lots = qty_lots
        self.filled_lots = 0
        self.quote_ticks_lots = 0
        self.status = "NEW"
        self.reduce_only = reduce_only
        self.position_side = position_side
        self.working_type = working_type
        self.stp_mode = stp_mode
        self.time_ns = time_ns
        self.update_ns = time_ns
        self.callback_rate_e8 = callback_rate_e8
        self.activation_ticks = activation_ticks
        self.expiry_reason = 0
        self.liquidation = liquidation
        self.algo = False  # placed through /fapi/v1/algoOrder: a conditional order of the Algo Service
        self.algo_status = ""  # NEW, TRIGGERED, FINISHED, CANCELED, EXPIRED, REJECTED (algo orders only)
        self.trigger_ns = 0  # when its trigger fired (0: not yet)
        self.gtd_ms = 0  # GTD: when it expires (ms), 0 for the other times in force

    @property
    def in_engine(self) -> bool:
        """Whether Binance's matching engine (the /fapi/v1/order endpoints) knows the
        order: every order but an algo order not yet triggered."""
        return not self.algo or self.trigger_ns != 0

    @property
    def is_open(self) -> bool:
        return self.status == "NEW" or self.status == "PARTIALLY_FILLED"

    def fill(self, price_ticks: int, lots: int, ts_ns: int) -> None:
        """Book a fill of ``lots`` at ``price_ticks``."""
        self.filled_lots += lots
        self.quote_ticks_lots += price_ticks * lots
        self.status = "FILLED" if self.filled_lots >= self.qty_lots else "PARTIALLY_FILLED"
        self.update_ns = ts_ns


def avg_price(inst: Any, quote_ticks_lots: int, lots: int) -> str:
    """Average fill price: the exact quote over the lots, half-even to the subtick, shown
    with at least the tick's decimals; "0" before the first fill.

    >>> class I: subticks_per_tick, tick_places = 10_000_000, 1
    >>> avg_price(I, 600_000 * 1 + 600_001 * 2, 3), avg_price(I, 0, 0)
    ('60000.06666667', '0')
    """
    if not lots:
        return "0"
    return format_subticks(div_half_even(quote_ticks_lots * inst.subticks_per_tick, lots), inst.tick_places)


def order_json(view: OrderView, inst: Any, *, ack: bool = False, with_time: bool = True) -> dict[str, Any]:
    """An order as ``GET /fapi/v1/order`` shows it (``POST`` adds ``cumQty`` and drops
    ``time``); ``ack`` shows it as at its acceptance (``newOrderRespType=ACK``)."""
    filled = 0 if ack else view.filled_lots
    quote = 0 if ack else view.quote_ticks_lots
    tick, lot = inst.tick_size, inst.lot_size
    out: dict[str, Any] = {
        "avgPrice": avg_price(inst, quote, filled),
        "clientOrderId": view.client_order_id,
        "cumQuote": format_atoms(quote * inst.atoms_per_tick_lot, 0),
        "executedQty": format_lots(filled, lot),
        "orderId": view.order_id,
        "origQty": format_lots(view.qty_lots, lot),
        "origType": view.orig_type,
        "price": format_ticks(view.price_ticks, tick) if view.price_ticks else "0",
        "reduceOnly": view.reduce_only,
        "side": view.side,
        "positionSide": view.position_side,
        "status": "NEW" if ack else view.status,
        "stopPrice": format_ticks(view.stop_ticks, tick) if view.stop_ticks else "0",
        "closePosition": False,
        "symbol": view.symbol,
        "timeInForce": view.tif,
        "type": view.orig_type if ack else view.type,
        "updateTime": ms_of(view.time_ns if ack else view.update_ns),
        "workingType": view.working_type,
        "priceProtect": False,
        "priceMatch": "NONE",
        "selfTradePreventionMode": view.stp_mode,
        "goodTillDate": view.gtd_ms,
    }
    if with_time:
        out["time"] = ms_of(view.time_ns)
    else:
        out["cumQty"] = out["executedQty"]
    if view.orig_type == "TRAILING_STOP_MARKET":
        if view.activation_ticks:
            out["activatePrice"] = format_ticks(view.activation_ticks, tick)
        out["priceRate"] = _percent(view.callback_rate_e8)
    return out


def _percent(rate_e8: int) -> str:
    """A callback rate in e8 of 1 as Binance's percent text (1_000_000 -> "1")."""
    return format_rate_e8(rate_e8 * 100)


class _Account:
    """One served account's orders and trades."""

    __slots__ = ("orders", "open", "by_client", "trades")

    def __init__(self) -> None:
        self.orders: dict[int, OrderView] = {}  # every order, by id
        self.open: dict[int, OrderView] = {}
        self.by_client: dict[str, OrderView] = {}  # the latest order with this client id
        self.trades: list[dict[str, Any]] = []  # userTrades records, in the engine's order


class Orders:
    """The venue's order registry and user-data publisher (see the module docstring)."""

    def __init__(self, venue: Any) -> None:
        self.venue = venue
        self.accounts: dict[int, _Account] = {}
        #: extras of orders sent and not yet accepted: (account, client id) -> spec
        self._pending: dict[tuple[int, str], OrderSpec] = {}
        self._seq = 0  # generated client ids
        self._synthetic = SYNTHETIC_ID_BASE
        #: per (account, symbol, position side): [qty_lots, cost_atoms, realized_pnl_atoms]
        self._positions: dict[tuple[int, str, int], list[int]] = {}
        #: realized PnL and lots of position changes no fill explains (liquidation
        #: takeovers, ADL), waiting for the command's Liquidation event
        self._unexplained: dict[tuple[int, str, int], list[int]] = {}
        self._triggered: set[int] = set()  # orders triggered in the current batch
        self._gtd_expiring: set[int] = set()  # GTD orders being cancelled at their date
        self._countdowns: dict[tuple[int, str], Any] = {}  # (account, symbol) -> its countdownCancelAll timer
        self._handlers: dict[type, Callable[[Any], None]] = {
            OrderAccepted: self._on_accepted,
            Fill: self._on_fill,
            OrderCancelled: self._on_cancelled,
            OrderExpired: self._on_expired,
            OrderAmended: self._on_amended,
            OrderTriggered: self._on_triggered,
            OrderRejected: self._on_rejected,
            PositionChanged: self._on_position,
            Liquidation: self._on_liquidation,
        }

    # ------------------------------------------------------------------ lookups
    def account(self, account_id: int) -> _Account:
        acct = self.accounts.get(account_id)
        if acct is None:
            acct = self.accounts[account_id] = _Account()
        return acct

    def find(self, account_id: int, symbol: str, order_id: int | None, client_id: str | None,
             algo: bool = False) -> OrderView | None:
        """An order of the account on ``symbol`` by id or client id, or None: with
        ``algo`` an algo order (by algoId / clientAlgoId), else an order the matching
        engine knows."""
        acct = self.accounts.get(account_id)
        if acct is None:
            return None
        view = acct.orders.get(order_id) if order_id is not None else acct.by_client.get(client_id or "")
        if view is None or view.symbol != symbol:
            return None
        if (algo and not view.algo) or (not algo and not view.in_engine):
            return None
        return view

    def new_client_id(self, account_id: int) -> str:
        """A client order id as Binance makes one (22 letters and digits), deterministic:
        drawn from the account and a counter, so step-mode runs repeat exactly."""
        self._seq += 1
        n = int.from_bytes(hashlib.sha256(f"exsim:{account_id}:{self._seq}".encode()).digest()[:17], "big")
        chars = []
        for _ in range(22):
            n, r = divmod(n, 62)
            chars.append(_ALPHABET[r])
        return "".join(chars)

    def _expire_at(self, view: OrderView) -> None:
        """Cancel a GTD order at its date, in the replay's timeline: a timer of the venue's
        loop at ``goodTillDate`` sends the cancel (a command's priority) if the order is
        still open then, so a stepped venue expires it at exactly that time."""
        venue = self.venue
        account, symbol, order_id = view.account_id, view.symbol, view.order_id

        def expire(loop: Any, ts: int) -> None:
            if view.is_open:
                self._gtd_expiring.add(order_id)
                venue.replay.submit_command(CancelOrder(ts, account, symbol, order_id))

        venue.loop.call_at(max(view.gtd_ms * 1_000_000, venue.now_ns), expire, priority=PRIORITY_COMMAND)

    def countdown(self, account_id: int, symbol: str, countdown_ms: int) -> None:
        """``countdownCancelAll``: in ``countdown_ms`` of venue time, cancel every open
        order of the account on ``symbol`` (algo orders too), unless called again before
        (each call restarts the countdown; 0 stops it). A timer of the replay's loop."""
        venue = self.venue
        key = (account_id, symbol)
        timer = self._countdowns.pop(key, None)
        if timer is not None:
            timer.cancel()
        if not countdown_ms:
            return

        def cancel_all(loop: Any, ts: int) -> None:
            self._countdowns.pop(key, None)
            acct = self.accounts.get(account_id)
            for view in [v for v in (acct.open.values() if acct else ()) if v.symbol == symbol and not v.liquidation]:
                if view.is_open:  # (an OCO sibling may have gone with an earlier one)
                    venue.replay.submit_command(CancelOrder(ts, account_id, symbol, view.order_id))

        self._countdowns[key] = venue.loop.call_at(
            venue.now_ns + countdown_ms * 1_000_000, cancel_all, priority=PRIORITY_COMMAND
        )

    def _next_synthetic(self) -> int:
        self._synthetic += 1
        return self._synthetic

    # ------------------------------------------------------------------ engine events
    def on_events(self, events: list[Any]) -> None:
        """Update the registry from one engine batch and push the user-data events.
        O(len(events)); market events cost one dict lookup each."""
        if not self.accounts:
            return  # no API order yet: nothing of the batch can be an account's
        get = self._handlers.get  # hot: every engine batch of the replay comes here
        for ev in events:
            h = get(type(ev))
            if h is not None:
                h(ev)
        if self._unexplained:
            self._unexplained.clear()
        if self._triggered:
            self._triggered.clear()

    def on_clock(self, now_ns: int) -> None:
        """Nothing to do on the clock (GTD orders expire by a timer of the replay's loop)."""

    def on_end(self, now_ns: int) -> None:
        """Nothing to flush at the end of data."""

    def _on_accepted(self, ev: OrderAccepted) -> None:
        account = ev.account_id
        if account <= 0:
            return  # the insurance fund's unwinding orders
        coid = ev.client_order_id
        spec = self._pending.pop((account, coid), None) if coid is not None else None
        inst = self.venue.instruments[ev.symbol]
        if spec is not None:
            view = OrderView(
                ev.order_id, account, ev.symbol, coid, spec.side, spec.type, spec.tif, spec.price_ticks, spec.stop_ticks,
                spec.qty_lots, spec.reduce_only, spec.position_side, spec.working_type, spec.stp_mode, ev.ts_ns,
                spec.callback_rate_e8, spec.activation_ticks,
            )
            if spec.algo:
                view.algo = True
                view.algo_status = "NEW"
            if spec.gtd_ms:
                view.gtd_ms = spec.gtd_ms
                self._expire_at(view)
        elif coid == "LIQUIDATION":
            pside = self._liquidated_side(account, ev.symbol, ev.side)
            view = OrderView(
                ev.order_id, account, ev.symbol, f"autoclose-{ms_of(ev.ts_ns)}", SIDES[ev.side], "LIQUIDATION", "IOC",
                ev.price_ticks, 0, ev.qty_lots, True, pside, "CONTRACT_PRICE", "NONE", ev.ts_ns, liquidation=True,
            )
        else:  # an order sent around the API (a strategy's): shown as exsim describes it
            otype = ("LIMIT", "MARKET", "STOP_MARKET", "STOP", "TAKE_PROFIT_MARKET", "TAKE_PROFIT",
                     "TRAILING_STOP_MARKET")[ev.order_type]
            view = OrderView(
                ev.order_id, account, ev.symbol, coid or f"exsim-{ev.order_id}", SIDES[ev.side], otype,
                ("GTC", "IOC", "FOK", "GTX")[ev.tif], ev.price_ticks,
                ev.trigger_price_ticks if otype != "TRAILING_STOP_MARKET" else 0, ev.qty_lots, False, "BOTH",
                "CONTRACT_PRICE", "NONE", ev.ts_ns,
            )
        acct = self.account(account)
        acct.orders[view.order_id] = view
        acct.open[view.order_id] = view
        acct.by_client[view.client_order_id] = view
        if view.algo:
            self._publish_algo(view, inst, ev.ts_ns)
        elif not view.liquidation:
            self._publish(view, inst, ev.ts_ns, "NEW")

    def _liquidated_side(self, account: int, symbol: str, side: int) -> str:
        """The position side a liquidation order of ``side`` closes (the one that is open)."""
        for pside in (1, 2) if side == SELL else (2, 1):
            pos = self._positions.get((account, symbol, pside))
            if pos is not None and pos[0]:
                return POSITION_SIDES[pside]
        return "BOTH"

    def _view(self, account: int, order_id: int) -> OrderView | None:
        if account <= 0 or not order_id:
            return None
        acct = self.accounts.get(account)
        return acct.orders.get(order_id) if acct is not None else None

    def _on_fill(self, ev: Fill) -> None:
        if ev.taker_account_id <= 0 and ev.maker_account_id <= 0:
            return  # the replayed tape against replayed size: most fills of a replay
        for account, order_id, side, maker, fee in (
            (ev.taker_account_id, ev.taker_order_id, ev.aggressor_side, False, ev.taker_fee_atoms),
            (ev.maker_account_id, ev.maker_order_id, ev.aggressor_side ^ 1, True, ev.maker_fee_atoms),
        ):
            view = self._view(account, order_id)
            if view is None:
                continue
            inst = self.venue.instruments[ev.symbol]
            pside = POSITION_SIDES.index(view.position_side)
            rp = self._realize(account, ev.symbol, pside, side, ev.qty_lots, ev.price_ticks, inst.atoms_per_tick_lot)
            view.fill(ev.price_ticks, ev.qty_lots, ev.ts_ns)
            if not view.is_open:
                self.accounts[account].open.pop(order_id, None)
            self._trade(view, inst, ev.ts_ns, ev.trade_id, ev.price_ticks, ev.qty_lots, fee, rp, maker)
            if view.algo and not view.is_open:
                view.algo_status = "FINISHED"
                self._publish_algo(view, inst, ev.ts_ns)

    def _trade(self, view: OrderView, inst: Any, ts: int, trade_id: int, px: int, lots: int, fee: int, rp: int,
               maker: bool) -> None:
        """Record one fill of ``view`` as a user trade and push it."""
        quote = px * lots * inst.atoms_per_tick_lot
        self.accounts[view.account_id].trades.append({
            "buyer": view.side == "BUY",
            "commission": format_atoms(fee, 0),
            "commissionAsset": inst.quote,
            "id": trade_id,
            "maker": maker,
            "orderId": view.order_id,
            "price": format_ticks(px, inst.tick_size),
            "qty": format_lots(lots, inst.lot_size),
            "quoteQty": format_atoms(quote, 0),
            "realizedPnl": format_atoms(rp, 0),
            "side": view.side,
            "positionSide": view.position_side,
            "symbol": view.symbol,
            "time": ms_of(ts),
        })
        execution = "CALCULATED" if view.liquidation else "TRADE"
        self._publish(view, inst, ts, execution, last=(px, lots, fee, rp, trade_id, maker))
        if not view.liquidation:
            self.venue.publish_user(view.account_id, {
                "e": "TRADE_LITE",
                "E": ms_of(ts),
                "T": ms_of(ts),
                "s": view.symbol,
                "q": format_lots(view.qty_lots, inst.lot_size),
                "p": format_ticks(view.price_ticks, inst.tick_size) if view.price_ticks else "0",
                "m": maker,
                "c": view.client_order_id,
                "S": view.side,
                "L": format_ticks(px, inst.tick_size),
                "l": format_lots(lots, inst.lot_size),
                "t": trade_id,
                "i": view.order_id,
            })

    def _realize(self, account: int, symbol: str, pside: int, side: int, lots: int, px: int, atpl: int) -> int:
        """Apply one fill to the mirror of the position and return its realized PnL in
        atoms, exactly as the ledger books it (``Ledger._close``: the closed share of the
        entry cost rounded down)."""
        key = (account, symbol, pside)
        pos = self._positions.get(key)
        if pos is None:
            pos = self._positions[key] = [0, 0, 0]
        q0, cost = pos[0], pos[1]
        dq = lots if side == BUY else -lots
        if q0 == 0 or (q0 > 0) == (dq > 0):
            pos[0] = q0 + dq
            pos[1] = cost + lots * px * atpl
            return 0
        size = abs(q0)
        close = min(lots, size)
        share = cost if close == size else mul_div_floor(cost, close, size)
        value = close * px * atpl
        pnl = value - share if q0 > 0 else share - value
        rest = lots - close
        if rest:
            pos[0] = rest if dq > 0 else -rest
            pos[1] = rest * px * atpl
        else:
            pos[0] = q0 + (close if dq > 0 else -close)
            pos[1] = cost - share
        pos[2] += pnl
        return pnl

    def _on_position(self, ev: PositionChanged) -> None:
        """The engine's position is the truth: resync the mirror; a change no fill
        explained (a liquidation's takeover or ADL) waits for the Liquidation event."""
        if ev.account_id <= 0:
            return
        key = (ev.account_id, ev.symbol, ev.position_side)
        pos = self._positions.get(key)
        if pos is None:
            pos = self._positions[key] = [0, 0, 0]
        dq = ev.qty_lots - pos[0]
        drp = ev.realized_pnl_atoms - pos[2]
        if dq or drp:
            un = self._unexplained.get(key)
            if un is None:
                un = self._unexplained[key] = [0, 0]
            un[0] += abs(dq)
            un[1] += drp
        pos[0], pos[1], pos[2] = ev.qty_lots, ev.cost_atoms, ev.realized_pnl_atoms

    def _on_liquidation(self, ev: Liquidation) -> None:
        """Report the lots of a liquidation that did not trade in the book (taken over by
        the insurance fund or deleveraged) as a CALCULATED fill at the bankruptcy price,
        and each deleveraged counterparty's close as an ``adl_autoclose`` order."""
        for lp in ev.positions:
            view = self._view(ev.account_id, lp.order_id)
            if view is None:
                continue
            inst = self.venue.instruments[lp.symbol]
            rest = lp.taken_over_lots + lp.adl_lots
            if rest:
                un = self._unexplained.pop((ev.account_id, lp.symbol, lp.position_side), [0, 0])
                view.qty_lots = max(view.qty_lots, view.filled_lots + rest)
                view.fill(lp.bankruptcy_price_ticks, rest, ev.ts_ns)
                self._trade(view, inst, ev.ts_ns, self._next_synthetic(), lp.bankruptcy_price_ticks, rest, 0, un[1], False)
            self.accounts[ev.account_id].open.pop(view.order_id, None)
            if view.is_open:  # a partial liquidation's unfilled remainder
                view.status = "EXPIRED"
                view.update_ns = ev.ts_ns
                view.expiry_reason = 2
                self._publish(view, inst, ev.ts_ns, "EXPIRED")
        for adl in ev.adl:
            if adl.account_id <= 0:
                continue
            inst = self.venue.instruments[adl.symbol]
            un = self._unexplained.pop((adl.account_id, adl.symbol, adl.position_side), [0, 0])
            side = "BUY" if ev_closes_long(ev, adl) else "SELL"
            view = OrderView(
                self._next_synthetic(), adl.account_id, adl.symbol, "adl_autoclose", side, "LIQUIDATION", "IOC",
                adl.price_ticks, 0, adl.qty_lots, True, POSITION_SIDES[adl.position_side], "CONTRACT_PRICE", "NONE",
                ev.ts_ns, liquidation=True,
            )
            acct = self.account(adl.account_id)
            acct.orders[view.order_id] = view
            view.fill(adl.price_ticks, adl.qty_lots, ev.ts_ns)
            self._trade(view, inst, ev.ts_ns, self._next_synthetic(), adl.price_ticks, adl.qty_lots, 0, un[1], False)

    def _end(self, ev: Any, status: str, execution: str, expiry: int) -> None:
        view = self._view(ev.account_id, ev.order_id)
        if view is None or not view.is_open or view.liquidation:
            return  # (a liquidation order's remainder is reported with the Liquidation event)
        view.status = status
        view.update_ns = ev.ts_ns
        view.expiry_reason = expiry
        self.accounts[ev.account_id].open.pop(ev.order_id, None)
        inst = self.venue.instruments[ev.symbol]
        if view.algo:
            if type(ev) is OrderRejected:  # refused by the matching engine at its trigger
                view.algo_status = "REJECTED"
            elif not view.trigger_ns:  # it never reached the matching engine
                view.algo_status = "CANCELED" if status == "CANCELED" else "EXPIRED"
                self._publish_algo(view, inst, ev.ts_ns)
                return
            else:
                view.algo_status = "FINISHED"
            self._publish_algo(view, inst, ev.ts_ns)
        self._publish(view, inst, ev.ts_ns, execution)

    def _on_cancelled(self, ev: OrderCancelled) -> None:
        reason = ev.reason
        if ev.order_id in self._gtd_expiring:
            self._gtd_expiring.discard(ev.order_id)
            self._end(ev, "EXPIRED", "EXPIRED", 0)
        elif reason == "STP":
            self._end(ev, "EXPIRED_IN_MATCH", "EXPIRED", 1)
        elif reason == "LIQUIDATION":
            self._end(ev, "EXPIRED", "EXPIRED", 5)
        elif reason == "REDUCE_ONLY":
            self._end(ev, "EXPIRED", "EXPIRED", 4)
        else:
            self._end(ev, "CANCELED", "CANCELED", 0)

    def _on_expired(self, ev: OrderExpired) -> None:
        view = self._view(ev.account_id, ev.order_id)
        if view is None:
            return
        reason = ev.reason
        if reason == "STP":
            self._end(ev, "EXPIRED_IN_MATCH", "EXPIRED", 3 if view.tif == "IOC" else 1)
        elif reason == "FOK":
            self._end(ev, "EXPIRED", "EXPIRED", 10)
        elif view.type == "MARKET":
            self._end(ev, "EXPIRED", "EXPIRED", 9)
        else:
            self._end(ev, "EXPIRED", "EXPIRED", 2)

    def _on_amended(self, ev: OrderAmended) -> None:
        view = self._view(ev.account_id, ev.order_id)
        if view is None:
            return
        view.price_ticks = ev.price_ticks
        view.qty_lots = ev.qty_lots
        view.update_ns = ev.ts_ns
        self._publish(view, self.venue.instruments[ev.symbol], ev.ts_ns, "AMENDMENT")

    def _on_triggered(self, ev: OrderTriggered) -> None:
        view = self._view(ev.account_id, ev.order_id)
        if view is None:
            return
        view.type = _TRIGGERED_TYPE.get(view.orig_type, view.type)
        view.update_ns = ev.ts_ns
        view.trigger_ns = ev.ts_ns
        self._triggered.add(ev.order_id)
        inst = self.venue.instruments[ev.symbol]
        if view.algo:
            view.algo_status = "TRIGGERED"
            self._publish_algo(view, inst, ev.ts_ns)
        self._publish(view, inst, ev.ts_ns, "NEW")

    def _on_rejected(self, ev: OrderRejected) -> None:
        # a waiting order refused at its trigger (margin) expires; other refusals with an
        # order id (a cancel or an amend refused) leave their order as it is
        if ev.order_id and ev.order_id in self._triggered:
            self._end(ev, "EXPIRED", "EXPIRED", 0)

    # ------------------------------------------------------------------ user data
    def _publish(self, view: OrderView, inst: Any, ts: int, execution: str,
                 last: tuple[int, int, int, int, int, bool] | None = None) -> None:
        if not view.in_engine:
            return  # an algo order shows in ORDER_TRADE_UPDATE once it is triggered
        tick, lot = inst.tick_size, inst.lot_size
        px = lots = fee = rp = trade_id = 0
        maker = False
        if last is not None:
            px, lots, fee, rp, trade_id, maker = last
        bids, asks = self._open_notional(view.account_id, view.symbol, inst)
        o: dict[str, Any] = {
            "s": view.symbol,
            "c": view.client_order_id,
            "S": view.side,
            "o": view.type,
            "f": view.tif,
            "q": format_lots(view.qty_lots, lot),
            "p": format_ticks(view.price_ticks, tick) if view.price_ticks else "0",
            "ap": avg_price(inst, view.quote_ticks_lots, view.filled_lots),
            "sp": format_ticks(view.stop_ticks, tick) if view.stop_ticks else "0",
            "x": execution,
            "X": view.status,
            "i": view.order_id,
            "l": format_lots(lots, lot),
            "z": format_lots(view.filled_lots, lot),
            "L": format_ticks(px, tick) if px else "0",
        }
        if last is not None:
            o["N"] = inst.quote
            o["n"] = format_atoms(fee, 0)
        o.update({
            "T": ms_of(ts),
            "t": trade_id,
            "b": bids,
            "a": asks,
            "m": maker,
            "R": view.reduce_only,
            "wt": view.working_type,
            "ot": view.orig_type,
            "ps": view.position_side,
            "cp": False,
            "rp": format_atoms(rp, 0),
            "pP": False,
            "si": 0,
            "ss": 0,
            "V": view.stp_mode,
            "pm": "NONE",
            "gtd": view.gtd_ms,
            "er": str(view.expiry_reason),
        })
        if view.orig_type == "TRAILING_STOP_MARKET":
            if view.activation_ticks:
                o["AP"] = format_ticks(view.activation_ticks, tick)
            o["cr"] = _percent(view.callback_rate_e8)
        self.venue.publish_user(view.account_id, {"e": "ORDER_TRADE_UPDATE", "E": ms_of(ts), "T": ms_of(ts), "o": o})

    def _publish_algo(self, view: OrderView, inst: Any, ts: int) -> None:
        """Push an ``ALGO_UPDATE`` (Binance's Algo Service event for conditional orders)."""
        tick, lot = inst.tick_size, inst.lot_size
        o: dict[str, Any] = {
            "caid": view.client_order_id,
            "aid": view.order_id,
            "at": "CONDITIONAL",
            "o": view.orig_type,
            "s": view.symbol,
            "S": view.side,
            "ps": view.position_side,
            "f": view.tif,
            "q": format_lots(view.qty_lots, lot),
            "X": view.algo_status,
            "ai": str(view.order_id) if view.trigger_ns else "",
            "tp": format_ticks(view.stop_ticks, tick) if view.stop_ticks else "0",
            "p": format_ticks(view.price_ticks, tick) if view.price_ticks else "0",
            "V": view.stp_mode,
            "wt": view.working_type,
            "pm": "NONE",
            "cp": False,
            "pP": False,
            "R": view.reduce_only,
            "tt": ms_of(view.trigger_ns) if view.trigger_ns else 0,
            "gtd": view.gtd_ms,
        }
        if view.trigger_ns:
            o["ap"] = avg_price(inst, view.quote_ticks_lots, view.filled_lots)
            o["aq"] = format_lots(view.filled_lots, lot)
            o["act"] = view.type
        if view.orig_type == "TRAILING_STOP_MARKET":
            if view.activation_ticks:
                o["AP"] = format_ticks(view.activation_ticks, tick)
            o["cr"] = _percent(view.callback_rate_e8)
        self.venue.publish_user(view.account_id, {"e": "ALGO_UPDATE", "T": ms_of(ts), "E": ms_of(ts), "o": o})

    def _open_notional(self, account: int, symbol: str, inst: Any) -> tuple[str, str]:
        """Binance's ``b`` / ``a``: the notional of the account's open priced orders on
        ``symbol``, bids and asks. O(open orders of the account)."""
        acct = self.accounts.get(account)
        bids = asks = 0
        if acct is not None:
            for v in acct.open.values():
                if v.symbol == symbol and v.price_ticks and not v.liquidation:
                    n = v.price_ticks * (v.qty_lots - v.filled_lots)
                    if v.side == "BUY":
                        bids += n
                    else:
                        asks += n
        atpl = inst.atoms_per_tick_lot
        return format_atoms(bids * atpl, 0), format_atoms(asks * atpl, 0)

    # ------------------------------------------------------------------ commands
    async def place(self, account_id: int, spec: OrderSpec) -> dict[str, Any]:
        """Send one new order; its Binance response, or the BinanceError of its refusal."""
        venue = self.venue
        inst = venue.instruments[spec.symbol]
        if spec.client_order_id is None:
            spec.client_order_id = self.new_client_id(account_id)
        key = (account_id, spec.client_order_id)
        acct = self.account(account_id)  # (registered before its first order: on_events skips until then)
        if key in self._pending or (spec.client_order_id in acct.by_client and acct.by_client[spec.client_order_id].is_open):
            raise reject_error(RejectReason.DUPLICATE_CLIENT_ORDER_ID)
        if spec.gtd_ms and not ms_of(venue.now_ns) + GTD_MIN_MS < spec.gtd_ms < GTD_MAX_MS:
            raise BinanceError(
                GTD_OUT_OF_RANGE,
                "goodTillDate must be greater than the current time plus 600 seconds and smaller than 253402300799000.",
            )
        stp = STP_CODES[spec.stp_mode]
        if venue.exchange.stp_modes.get(account_id, STP_NONE) != stp:
            await venue.send(lambda ts: SetSelfTradePrevention(ts, account_id, stp))
        self._pending[key] = spec
        try:
            events = await venue.send(lambda ts: spec.command(ts, account_id))
        finally:
            self._pending.pop(key, None)
        for ev in events:
            if type(ev) is OrderRejected and ev.order_id == 0 and ev.client_order_id == spec.client_order_id:
                raise reject_error(ev.reason, inst)
            if type(ev) is OrderAccepted and ev.account_id == account_id and ev.client_order_id == spec.client_order_id:
                view = self.accounts[account_id].orders[ev.order_id]
                return order_json(view, inst, ack=spec.resp_type == "ACK", with_time=False)
        raise BinanceError(UNKNOWN, "The order was neither accepted nor rejected (no event).", http_status=503)

    async def cancel(self, account_id: int, view: OrderView) -> dict[str, Any]:
        """Cancel an open order; its Binance response (-2011 if it is not open)."""
        venue = self.venue
        inst = venue.instruments[view.symbol]
        if not view.is_open:
            raise BinanceError(CANCEL_REJECTED, "Unknown order sent.")
        events = await venue.send(lambda ts: CancelOrder(ts, account_id, view.symbol, view.order_id))
        for ev in events:
            if type(ev) is OrderRejected and ev.order_id == view.order_id:
                raise BinanceError(CANCEL_REJECTED, "Unknown order sent.")
        return order_json(view, inst, with_time=False)

    async def amend(self, account_id: int, view: OrderView, side: str, qty_lots: int, price_ticks: int) -> dict[str, Any]:
        """Modify a LIMIT order (``PUT /fapi/v1/order``), as Binance: the order is
        cancelled when the new quantity is not above what has filled; -5027 when nothing
        changes."""
        venue = self.venue
        inst = venue.instruments[view.symbol]
        if not view.is_open:
            raise BinanceError(NO_SUCH_ORDER, "Order does not exist.")
        if view.orig_type != "LIMIT":
            raise reject_error(RejectReason.NOT_AMENDABLE)
        if side != view.side:
            raise BinanceError(INVALID_SIDE, "Invalid side: the order's side cannot be changed.")
        if qty_lots == view.qty_lots and price_ticks == view.price_ticks:
            raise BinanceError(SAME_ORDER, "No need to modify the order.")
        if view.filled_lots and qty_lots <= view.filled_lots:
            return await self.cancel(account_id, view)
        events = await venue.send(lambda ts: AmendOrder(ts, account_id, view.symbol, view.order_id, price_ticks, qty_lots))
        for ev in events:
            if type(ev) is OrderRejected and ev.order_id == view.order_id:
                if ev.reason == RejectReason.POST_ONLY_WOULD_TAKE:
                    return await self.cancel(account_id, view)  # Binance cancels such a GTX order
                raise reject_error(ev.reason, inst)
        return order_json(view, inst, with_time=False)


def ev_closes_long(ev: Liquidation, adl: Any) -> bool:
    """Whether an ADL counterparty buys (it was short: the liquidated position was long)."""
    for lp in ev.positions:
        if lp.symbol == adl.symbol and lp.adl_lots:
            return lp.qty_lots > 0
    return False


# --------------------------------------------------------------------------- endpoints
def _orders(venue: Any) -> Orders:
    return venue.orders  # type: ignore[no-any-return]


def _hedge(venue: Any, account_id: int) -> bool:
    acct = venue.ledger.accounts.get(account_id)
    return bool(acct is not None and acct.hedge_mode)


def _target(venue: Any, account_id: int, p: Params, inst: Any, missing: int) -> OrderView:
    """The order named by ``orderId`` or ``origClientOrderId`` (-1102 if neither;
    ``missing`` (-2011 / -2013) if there is no such order)."""
    if not p.has("orderId") and not p.has("origClientOrderId"):
        raise BinanceError(
            MANDATORY_PARAM_EMPTY_OR_MALFORMED, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!"
        )
    order_id = p.integer("orderId") if p.has("orderId") else None
    view = _orders(venue).find(account_id, inst.symbol, order_id, p.optional("origClientOrderId"))
    if view is None:
        raise BinanceError(missing, "Unknown order sent." if missing == CANCEL_REJECTED else "Order does not exist.")
    return view


def _amend_args(p: Params, inst: Any) -> tuple[str, int, int]:
    if p.text("priceMatch", "NONE") != "NONE":
        raise not_required("priceMatch", "exsim does not simulate priceMatch.")
    side = p.choice("side", SIDES, code=INVALID_SIDE)
    return side, _lots(p, "quantity", inst.lot_size), _ticks(p, "price", inst.tick_size)


@endpoint("POST", "/fapi/v1/order", security=SIGNED, weight=0, counts_as_order=True)
async def new_order(venue: Any, account_id: int, p: Params) -> dict[str, Any]:
    """Place an order (every type of :data:`TYPES`)."""
    inst = instrument_of(venue, p)
    spec = parse_new_order(p, inst, _hedge(venue, account_id))
    return await _orders(venue).place(account_id, spec)


@endpoint("GET", "/fapi/v1/order", security=SIGNED, weight=1)
def query_order(venue: Any, account_id: int, p: Params) -> dict[str, Any]:
    """One order of the account, open or not (-2013 if unknown)."""
    inst = instrument_of(venue, p)
    return order_json(_target(venue, account_id, p, inst, NO_SUCH_ORDER), inst)


@endpoint("DELETE", "/fapi/v1/order", security=SIGNED, weight=1)
async def cancel_order(venue: Any, account_id: int, p: Params) -> dict[str, Any]:
    """Cancel an open order (-2011 if unknown or not open)."""
    inst = instrument_of(venue, p)
    view = _target(venue, account_id, p, inst, CANCEL_REJECTED)
    return await _orders(venue).cancel(account_id, view)


@endpoint("PUT", "/fapi/v1/order", security=SIGNED, weight=1, counts_as_order=True)
async def modify_order(venue: Any, account_id: int, p: Params) -> dict[str, Any]:
    """Modify a LIMIT order's price and quantity."""
    inst = instrument_of(venue, p)
    view = _target(venue, account_id, p, inst, NO_SUCH_ORDER)
    side, qty, price = _amend_args(p, inst)
    return await _orders(venue).amend(account_id, view, side, qty, price)


@endpoint("POST", "/fapi/v1/batchOrders", security=SIGNED, weight=5, counts_as_order=True)
async def new_batch(venue: Any, account_id: int, p: Params) -> list[Any]:
    """Up to 5 orders, each answered by its order or its error, in order."""
    async def one(item: Any) -> Any:
        q = _text_params(item, "batchOrders")
        return await _orders(venue).place(account_id, parse_new_order(q, instrument_of(venue, q), _hedge(venue, account_id)))

    return await _each(batch_params(p, "batchOrders", 5), one)


@endpoint("PUT", "/fapi/v1/batchOrders", security=SIGNED, weight=5, counts_as_order=True)
async def modify_batch(venue: Any, account_id: int, p: Params) -> list[Any]:
    """Up to 5 modifications, each answered by its order or its error."""
    async def one(item: Any) -> Any:
        q = _text_params(item, "batchOrders")
        inst = instrument_of(venue, q)
        view = _target(venue, account_id, q, inst, NO_SUCH_ORDER)
        side, qty, price = _amend_args(q, inst)
        return await _orders(venue).amend(account_id, view, side, qty, price)

    return await _each(batch_params(p, "batchOrders", 5), one)


@endpoint("DELETE", "/fapi/v1/batchOrders", security=SIGNED, weight=1)
async def cancel_batch(venue: Any, account_id: int, p: Params) -> list[Any]:
    """Cancel up to 10 orders by ``orderIdList`` or ``origClientOrderIdList``."""
    inst = instrument_of(venue, p)
    if p.has("orderIdList"):
        keys = [("orderId", str(k)) for k in batch_params(p, "orderIdList", 10)]
    elif p.has("origClientOrderIdList"):
        keys = [("origClientOrderId", str(k)) for k in batch_params(p, "origClientOrderIdList", 10)]
    else:
        raise BinanceError(
            MANDATORY_PARAM_EMPTY_OR_MALFORMED,
            "Param 'origClientOrderIdList' or 'orderIdList' must be sent, but both were empty/null!",
        )
    async def one(key: tuple[str, str]) -> Any:
        view = _target(venue, account_id, Params({"symbol": inst.symbol, key[0]: key[1]}), inst, CANCEL_REJECTED)
        return await _orders(venue).cancel(account_id, view)

    return await _each(keys, one)


async def _each(items: list[Any], one: Callable[[Any], Awaitable[Any]]) -> list[Any]:
    """A batch's answers, in order: each item's result, or its error's body (Binance answers
    a batch item by item; one refused item does not stop the others)."""
    out: list[Any] = []
    for item in items:
        try:
            out.append(await one(item))
        except BinanceError as exc:
            out.append(exc.body())
    return out


@endpoint("DELETE", "/fapi/v1/allOpenOrders", security=SIGNED, weight=1)
async def cancel_all(venue: Any, account_id: int, p: Params) -> dict[str, Any]:
    """Cancel every open order of the account on ``symbol``."""
    inst = instrument_of(venue, p)
    orders = _orders(venue)
    acct = orders.accounts.get(account_id)
    for view in [v for v in (acct.open.values() if acct else ())
                 if v.symbol == inst.symbol and not v.liquidation and v.in_engine]:
        if view.is_open:  # (an OCO sibling may have gone with an earlier cancel)
            try:
                await orders.cancel(account_id, view)
            except BinanceError:
                pass  # it filled or left while we were cancelling the others
    return {"code": 200, "msg": "The operation of cancel all open order is done."}


@endpoint("POST", "/fapi/v1/countdownCancelAll", security=SIGNED, weight=10)
def countdown_cancel_all(venue: Any, account_id: int, p: Params) -> dict[str, Any]:
    """Binance's dead man's switch: cancel the symbol's open orders after ``countdownTime``
    ms of venue time unless called again (0 stops the countdown)."""
    inst = instrument_of(venue, p)
    countdown = p.integer("countdownTime")
    if countdown < 0:
        raise illegal("countdownTime", str(countdown), "a whole number of milliseconds >= 0")
    _orders(venue).countdown(account_id, inst.symbol, countdown)
    return {"symbol": inst.symbol, "countdownTime": str(countdown)}


@endpoint("GET", "/fapi/v1/openOrders", security=SIGNED, weight=lambda p: 1 if p.has("symbol") else 40)
def open_orders(venue: Any, account_id: int, p: Params) -> list[dict[str, Any]]:
    """The account's open orders (on ``symbol`` if given), oldest first."""
    symbol = instrument_of(venue, p).symbol if p.has("symbol") else None
    acct = _orders(venue).accounts.get(account_id)
    views = [v for v in (acct.open.values() if acct else ()) if (symbol is None or v.symbol == symbol) and v.in_engine]
    return [order_json(v, venue.instruments[v.symbol]) for v in sorted(views, key=lambda v: v.order_id)]


@endpoint("GET", "/fapi/v1/openOrder", security=SIGNED, weight=1)
def open_order(venue: Any, account_id: int, p: Params) -> dict[str, Any]:
    """One open order (-2013 if it is not open)."""
    inst = instrument_of(venue, p)
    view = _target(venue, account_id, p, inst, NO_SUCH_ORDER)
    if not view.is_open:
        raise BinanceError(NO_SUCH_ORDER, "Order does not exist.")
    return order_json(view, inst)


def _window(p: Params) -> tuple[int | None, int | None, int]:
    start = p.integer("startTime") if p.has("startTime") else None
    end = p.integer("endTime") if p.has("endTime") else None
    limit = p.integer("limit", default=500)
    if not 1 <= limit <= 1000:
        raise illegal("limit", str(limit), "1..1000")
    return start, end, limit


@endpoint("GET", "/fapi/v1/allOrders", security=SIGNED, weight=5)
def all_orders(venue: Any, account_id: int, p: Params) -> list[dict[str, Any]]:
    """Every order of the account on ``symbol`` (from ``orderId`` if given, else the
    latest ``limit`` in the time window), oldest first."""
    inst = instrument_of(venue, p)
    start, end, limit = _window(p)
    acct = _orders(venue).accounts.get(account_id)
    views = [v for v in (acct.orders.values() if acct else ()) if v.symbol == inst.symbol and v.in_engine]
    if p.has("orderId"):
        first = p.integer("orderId")
        views = [v for v in views if v.order_id >= first]
    views = [v for v in views if (start is None or ms_of(v.time_ns) >= start) and (end is None or ms_of(v.time_ns) <= end)]
    views.sort(key=lambda v: (v.time_ns, v.order_id))
    views = views[:limit] if p.has("orderId") or start is not None else views[-limit:]
    return [order_json(v, inst) for v in views]


@endpoint("GET", "/fapi/v1/userTrades", security=SIGNED, weight=5)
def user_trades(venue: Any, account_id: int, p: Params) -> list[dict[str, Any]]:
    """The account's trades on ``symbol`` (``orderId``, ``fromId``, time window, ``limit``)."""
    inst = instrument_of(venue, p)
    start, end, limit = _window(p)
    acct = _orders(venue).accounts.get(account_id)
    trades = [t for t in (acct.trades if acct else ()) if t["symbol"] == inst.symbol]
    if p.has("orderId"):
        order_id = p.integer("orderId")
        trades = [t for t in trades if t["orderId"] == order_id]
    if p.has("fromId"):
        from_id = p.integer("fromId")
        trades = [t for t in trades if t["id"] >= from_id]
    trades = [t for t in trades if (start is None or t["time"] >= start) and (end is None or t["time"] <= end)]
    trades = trades[:limit] if p.has("fromId") or start is not None else trades[-limit:]
    return [dict(t) for t in trades]


# --------------------------------------------------------------------------- algo (conditional) orders
ALGO_TYPES: Final = ("STOP_MARKET", "TAKE_PROFIT_MARKET", "STOP", "TAKE_PROFIT", "TRAILING_STOP_MARKET")
#: the Algo Service's parameter names -> the order endpoint's
_ALGO_RENAMES: Final = {"triggerPrice": "stopPrice", "activatePrice": "activationPrice", "clientAlgoId": "newClientOrderId"}


def parse_algo_order(p: Params, instrument: Any, hedge_mode: bool) -> OrderSpec:
    """Check a ``POST /fapi/v1/algoOrder`` (``algoType=CONDITIONAL``): the same rules as
    a new order, with the Algo Service's names (``triggerPrice``, ``activatePrice``,
    ``clientAlgoId``) and its default time in force (GTC)."""
    p.choice("algoType", ("CONDITIONAL",))
    otype = p.choice("type", ALGO_TYPES, code=INVALID_ORDER_TYPE)
    values = dict(p.values)
    for theirs, ours in _ALGO_RENAMES.items():
        if ours in values and values[ours] != "":
            raise not_required(ours, f"The Algo Service takes '{theirs}'.")
        if theirs in values:
            values[ours] = values.pop(theirs)
    if otype in _LIMIT_PRICED and not values.get("timeInForce"):
        values["timeInForce"] = "GTC"
    if otype in _STOP_PRICED and not values.get("stopPrice"):
        raise mandatory("triggerPrice")
    values.pop("algoType", None)
    spec = parse_new_order(Params(values), instrument, hedge_mode)
    spec.algo = True
    return spec


def algo_json(view: OrderView, inst: Any) -> dict[str, Any]:
    """An algo order as ``/fapi/v1/algoOrder`` shows it."""
    tick, lot = inst.tick_size, inst.lot_size
    out: dict[str, Any] = {
        "algoId": view.order_id,
        "clientAlgoId": view.client_order_id,
        "algoType": "CONDITIONAL",
        "orderType": view.orig_type,
        "symbol": view.symbol,
        "side": view.side,
        "positionSide": view.position_side,
        "timeInForce": view.tif,
        "quantity": format_lots(view.qty_lots, lot),
        "algoStatus": view.algo_status,
        "actualOrderId": str(view.order_id) if view.trigger_ns else "",
        "actualPrice": avg_price(inst, view.quote_ticks_lots, view.filled_lots),
        "executedQty": format_lots(view.filled_lots, lot),
        "triggerPrice": format_ticks(view.stop_ticks, tick) if view.stop_ticks else "0",
        "price": format_ticks(view.price_ticks, tick) if view.price_ticks else "0",
        "icebergQuantity": None,
        "selfTradePreventionMode": view.stp_mode,
        "workingType": view.working_type,
        "priceMatch": "NONE",
        "closePosition": False,
        "priceProtect": False,
        "reduceOnly": view.reduce_only,
        "createTime": ms_of(view.time_ns),
        "updateTime": ms_of(view.update_ns),
        "triggerTime": ms_of(view.trigger_ns) if view.trigger_ns else 0,
        "goodTillDate": view.gtd_ms,
    }
    if view.orig_type == "TRAILING_STOP_MARKET":
        out["activatePrice"] = format_ticks(view.activation_ticks, tick) if view.activation_ticks else ""
        out["callbackRate"] = _percent(view.callback_rate_e8)
    return out


def _algo_target(venue: Any, account_id: int, p: Params, missing: int) -> OrderView:
    """The algo order named by ``algoId`` or ``clientAlgoId`` (on any symbol)."""
    if not p.has("algoId") and not p.has("clientAlgoId"):
        raise BinanceError(
            MANDATORY_PARAM_EMPTY_OR_MALFORMED, "Param 'clientAlgoId' or 'algoId' must be sent, but both were empty/null!"
        )
    acct = _orders(venue).accounts.get(account_id)
    view = None
    if acct is not None:
        view = acct.orders.get(p.integer("algoId")) if p.has("algoId") else acct.by_client.get(p.text("clientAlgoId"))
    if view is None or not view.algo:
        raise BinanceError(missing, "Unknown order sent." if missing == CANCEL_REJECTED else "Order does not exist.")
    return view


@endpoint("POST", "/fapi/v1/algoOrder", security=SIGNED, weight=0, counts_as_order=True)
async def new_algo_order(venue: Any, account_id: int, p: Params) -> dict[str, Any]:
    """Place a conditional order through the Algo Service (Binance's path for STOP,
    STOP_MARKET, TAKE_PROFIT, TAKE_PROFIT_MARKET and TRAILING_STOP_MARKET since 2025-12)."""
    inst = instrument_of(venue, p)
    spec = parse_algo_order(p, inst, _hedge(venue, account_id))
    await _orders(venue).place(account_id, spec)
    view = _orders(venue).accounts[account_id].by_client[spec.client_order_id]  # type: ignore[index]
    return algo_json(view, inst)


@endpoint("DELETE", "/fapi/v1/algoOrder", security=SIGNED, weight=1)
async def cancel_algo_order(venue: Any, account_id: int, p: Params) -> dict[str, Any]:
    """Cancel an algo order not yet triggered (-2011 otherwise)."""
    view = _algo_target(venue, account_id, p, CANCEL_REJECTED)
    if view.trigger_ns or not view.is_open:
        raise BinanceError(CANCEL_REJECTED, "Unknown order sent.")
    await _orders(venue).cancel(account_id, view)
    return {"algoId": view.order_id, "clientAlgoId": view.client_order_id, "code": "200", "msg": "success"}


@endpoint("GET", "/fapi/v1/algoOrder", security=SIGNED, weight=1)
def query_algo_order(venue: Any, account_id: int, p: Params) -> dict[str, Any]:
    """One algo order of the account (-2013 if unknown)."""
    view = _algo_target(venue, account_id, p, NO_SUCH_ORDER)
    return algo_json(view, venue.instruments[view.symbol])


@endpoint("GET", "/fapi/v1/openAlgoOrders", security=SIGNED, weight=lambda p: 1 if p.has("symbol") else 40)
def open_algo_orders(venue: Any, account_id: int, p: Params) -> list[dict[str, Any]]:
    """The account's algo orders not yet triggered (on ``symbol`` if given), oldest first."""
    symbol = instrument_of(venue, p).symbol if p.has("symbol") else None
    acct = _orders(venue).accounts.get(account_id)
    views = [v for v in (acct.open.values() if acct else ())
             if v.algo and not v.trigger_ns and (symbol is None or v.symbol == symbol)]
    return [algo_json(v, venue.instruments[v.symbol]) for v in sorted(views, key=lambda v: v.order_id)]


@endpoint("GET", "/fapi/v1/allAlgoOrders", security=SIGNED, weight=5)
def all_algo_orders(venue: Any, account_id: int, p: Params) -> list[dict[str, Any]]:
    """Every algo order of the account on ``symbol`` (from ``algoId`` if given), oldest first."""
    inst = instrument_of(venue, p)
    start, end, limit = _window(p)
    acct = _orders(venue).accounts.get(account_id)
    views = [v for v in (acct.orders.values() if acct else ()) if v.algo and v.symbol == inst.symbol]
    if p.has("algoId"):
        first = p.integer("algoId")
        views = [v for v in views if v.order_id >= first]
    views = [v for v in views if (start is None or ms_of(v.time_ns) >= start) and (end is None or ms_of(v.time_ns) <= end)]
    views = views[:limit] if p.has("algoId") or start is not None else views[-limit:]
    return [algo_json(v, inst) for v in views]


@endpoint("DELETE", "/fapi/v1/algoOpenOrders", security=SIGNED, weight=1)
async def cancel_all_algo(venue: Any, account_id: int, p: Params) -> dict[str, Any]:
    """Cancel every algo order of the account on ``symbol`` not yet triggered."""
    inst = instrument_of(venue, p)
    orders = _orders(venue)
    acct = orders.accounts.get(account_id)
    for view in [v for v in (acct.open.values() if acct else ()) if v.symbol == inst.symbol and v.algo and not v.trigger_ns]:
        if view.is_open:
            try:
                await orders.cancel(account_id, view)
            except BinanceError:
                pass  # it triggered or left meanwhile
    return {"code": 200, "msg": "The operation of cancel all open order is done."}


__all__ = ["ALGO_TYPES", "REJECT_CODES", "algo_json", "parse_algo_order", "Orders", "OrderSpec", "OrderView", "order_json", "parse_new_order", "reject_error"]
