"""The Binance USDⓈ-M futures API as exsim serves it: errors, parameters, the endpoint table.

This module is the contract between the venue (``exsim.serve.venue`` and the components
it builds: the market feed, the order book-keeping, the account feed) and the web server
(``exsim.serve.app``). It imports no web library: handlers are plain functions of the venue,
the caller's account and the request's parameters, and return JSON-ready values (str, int,
bool, None, list, dict) or raise :class:`BinanceError`.

Numbers are sent as Binance sends them: prices, quantities and amounts as decimal *text*
(``"61800.10"``), times as integer milliseconds, ids as integers.

Error codes and messages are Binance's own (facts of its public API, "Error Codes" page of
the USDⓈ-M futures documentation); the HTTP status is 400 unless the code says otherwise
(429 for rate limits, 401 for keys and signatures, 404 for unknown paths, 503 for unknown
execution state).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

import attrs

from exsim.units import floor_div

#: Binance's error codes used by exsim (name -> code)
UNKNOWN = -1000
DISCONNECTED = -1001
UNAUTHORIZED = -1002
TOO_MANY_REQUESTS = -1003
UNEXPECTED_RESP = -1006
TIMEOUT = -1007
INVALID_MESSAGE = -1013
UNKNOWN_ORDER_COMPOSITION = -1014
TOO_MANY_ORDERS = -1015
INVALID_TIMESTAMP = -1021
INVALID_SIGNATURE = -1022
ILLEGAL_CHARS = -1100
TOO_MANY_PARAMETERS = -1101
MANDATORY_PARAM_EMPTY_OR_MALFORMED = -1102
UNKNOWN_PARAM = -1103
UNREAD_PARAMETERS = -1104
PARAM_EMPTY = -1105
PARAM_NOT_REQUIRED = -1106
BAD_PRECISION = -1111
INVALID_TIF = -1115
INVALID_ORDER_TYPE = -1116
INVALID_SIDE = -1117
INVALID_SYMBOL = -1121
INVALID_LISTEN_KEY = -1125
INVALID_PARAMETER = -1130
NEW_ORDER_REJECTED = -2010
CANCEL_REJECTED = -2011
NO_SUCH_ORDER = -2013
BAD_API_KEY_FMT = -2014
REJECTED_MBX_KEY = -2015
BALANCE_NOT_SUFFICIENT = -2018
MARGIN_NOT_SUFFICIEN = -2019  # (Binance's own spelling of the name)
UNABLE_TO_FILL = -2020
ORDER_WOULD_IMMEDIATELY_TRIGGER = -2021
REDUCE_ONLY_REJECT = -2022
POSITION_NOT_SUFFICIENT = -2024
MAX_OPEN_ORDER_EXCEEDED = -2025
INVALID_ORDER_STATUS = -4000
PRICE_LESS_THAN_ZERO = -4001
PRICE_GREATER_THAN_MAX_PRICE = -4002
QTY_LESS_THAN_ZERO = -4003
QTY_LESS_THAN_MIN_QTY = -4004
QTY_GREATER_THAN_MAX_QTY = -4005
STOP_PRICE_LESS_THAN_ZERO = -4006
PRICE_LESS_THAN_MIN_PRICE = -4013
PRICE_NOT_INCREASED_BY_TICK_SIZE = -4014
INVALID_CL_ORD_ID_LEN = -4015
QTY_NOT_INCREASED_BY_STEP_SIZE = -4023
INVALID_LEVERAGE = -4028
NO_NEED_TO_CHANGE_MARGIN_TYPE = -4046
THERE_EXISTS_OPEN_ORDERS = -4047
THERE_EXISTS_QUANTITY = -4048
NO_NEED_TO_CHANGE_POSITION_SIDE = -4059
INVALID_POSITION_SIDE = -4060
POSITION_SIDE_NOT_MATCH = -4061
REDUCE_ONLY_CONFLICT = -4062
POSITION_SIDE_CHANGE_EXISTS_OPEN_ORDERS = -4067
POSITION_SIDE_CHANGE_EXISTS_QUANTITY = -4068
INVALID_CALLBACK_RATE = -4082  # (Binance: "Invalid callBackRate")
MIN_NOTIONAL = -4164
GTX_ORDER_REJECT = -5022
FOK_ORDER_REJECT = -5021
BAD_INTERVAL = -1120  # (added by the market slice: /klines with an interval not served)
# (added by the account slice)
BAD_ACCOUNT = -1109
START_TIME_GREATER_THAN_END_TIME = -1023
MAX_LEVERAGE_RATIO = -2027  # "Exceeded the maximum allowable position at current leverage."
MIN_LEVERAGE_RATIO = -2028  # "Leverage is smaller than permitted: insufficient margin balance."
ADD_ISOLATED_MARGIN_REJECT = -4049
CROSS_BALANCE_INSUFFICIENT = -4050
ISOLATED_BALANCE_INSUFFICIENT = -4051
ADD_ISOLATED_MARGIN_NO_POSITION_REJECT = -4054
AMOUNT_MUST_BE_POSITIVE = -4055
# (added for Multi-Assets mode, issue 17; names and messages as Binance's error-code page gives them)
ISOLATED_REJECT_WITH_JOINT_MARGIN = -4167
JOINT_MARGIN_REJECT_WITH_ISOLATED = -4168
JOINT_MARGIN_REJECT_WITH_MB = -4169
JOINT_MARGIN_REJECT_WITH_OPEN_ORDER = -4170
NO_NEED_TO_CHANGE_JOINT_MARGIN = -4171

#: the HTTP status of a code whose status is not 400
_STATUS = {
    UNKNOWN: 500,
    DISCONNECTED: 500,
    UNAUTHORIZED: 401,
    TOO_MANY_REQUESTS: 429,
    TIMEOUT: 503,
    INVALID_SIGNATURE: 401,
    BAD_API_KEY_FMT: 401,
    REJECTED_MBX_KEY: 401,
}


class BinanceError(Exception):
    """A request refused the way Binance refuses it: ``{"code": code, "msg": msg}`` with an
    HTTP status (400 unless the code has its own, see ``_STATUS``; ``http_status`` wins).

    >>> e = BinanceError(INVALID_SYMBOL, "Invalid symbol.")
    >>> e.body(), e.http_status
    ({'code': -1121, 'msg': 'Invalid symbol.'}, 400)
    """

    def __init__(self, code: int, msg: str, http_status: int | None = None) -> None:
        super().__init__(f"{code} {msg}")
        self.code = code
        self.msg = msg
        self.http_status = http_status if http_status is not None else _STATUS.get(code, 400)

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "msg": self.msg}


def mandatory(name: str) -> BinanceError:
    """-1102, Binance's words for a parameter missing or empty."""
    return BinanceError(
        MANDATORY_PARAM_EMPTY_OR_MALFORMED, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
    )


def illegal(name: str, value: str, expected: str) -> BinanceError:
    """-1130 for a parameter whose value is not what it must be (the message names both)."""
    return BinanceError(INVALID_PARAMETER, f"Data sent for parameter '{name}' is not valid: {value!r} ({expected}).")


_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?\Z")
_INTEGER = re.compile(r"-?[0-9]{1,19}\Z")


@attrs.define
class Params:
    """A request's parameters (query string and form body merged, text values), read with
    typed getters that raise Binance's errors naming the parameter.

    >>> p = Params({"symbol": "BTCUSDT", "quantity": "0.010", "reduceOnly": "true"})
    >>> p.text("symbol"), p.decimal("quantity"), p.boolean("reduceOnly"), p.integer("limit", default=500)
    ('BTCUSDT', Decimal('0.010'), True, 500)
    >>> p.text("side")
    Traceback (most recent call last):
    ...
    exsim.serve.binance.BinanceError: -1102 Mandatory parameter 'side' was not sent, was empty/null, or malformed.
    """

    values: dict[str, str]

    def has(self, name: str) -> bool:
        return self.values.get(name, "") != ""

    def text(self, name: str, default: str | None = None) -> str:
        value = self.values.get(name, "")
        if value == "":
            if default is None:
                raise mandatory(name)
            return default
        return value

    def optional(self, name: str) -> str | None:
        value = self.values.get(name, "")
        return value if value != "" else None

    def decimal(self, name: str, default: Decimal | None = None) -> Decimal:
        value = self.values.get(name, "")
        if value == "":
            if default is None:
                raise mandatory(name)
            return default
        if not _DECIMAL.match(value):
            raise illegal(name, value, "a decimal number")
        try:
            return Decimal(value)
        except InvalidOperation:  # (cannot happen after the pattern; kept for safety)
            raise illegal(name, value, "a decimal number") from None

    def integer(self, name: str, default: int | None = None) -> int:
        value = self.values.get(name, "")
        if value == "":
            if default is None:
                raise mandatory(name)
            return default
        if not _INTEGER.match(value):
            raise illegal(name, value, "a whole number")
        return int(value)

    def boolean(self, name: str, default: bool = False) -> bool:
        value = self.values.get(name, "")
        if value == "":
            return default
        low = value.lower()
        if low not in ("true", "false"):
            raise illegal(name, value, "true or false")
        return low == "true"

    def choice(self, name: str, options: Iterable[str], default: str | None = None, code: int = INVALID_PARAMETER) -> str:
        """One of ``options`` (exact, Binance's upper-case names); ``code`` is the error to
        give for another value (-1116 for an order type, -1115 for a time in force ...)."""
        value = self.text(name, default)
        opts = tuple(options)
        if value not in opts:
            raise BinanceError(code, f"Invalid {name} {value!r}: expected one of {', '.join(opts)}.")
        return value


# --------------------------------------------------------------------------- the venue, as handlers see it
class VenueView(Protocol):
    """What endpoint handlers may use of the venue (``exsim.serve.venue.Venue`` provides it).

    ``now_ns``: the venue's clock (the replay's simulated time). ``instruments``: symbol ->
    :class:`~exsim.instruments.Instrument`. ``exchange``, ``ledger``: the engine's. ``market``,
    ``orders``, ``account``: the components (``exsim.serve.market.MarketFeed``,
    ``exsim.serve.orders.Orders``, ``exsim.serve.account.AccountFeed``).
    """

    now_ns: int
    instruments: dict[str, Any]
    exchange: Any
    ledger: Any
    market: Any
    orders: Any
    account: Any

    def send(self, make: Callable[[int], Any]) -> Awaitable[list[Any]]: ...

    def publish_market(self, stream: str, payload: dict[str, Any]) -> None: ...

    def wants(self, stream: str) -> bool: ...

    def publish_user(self, account_id: int, payload: dict[str, Any]) -> None: ...


#: a handler: (venue, account id or None for public endpoints, parameters) -> JSON value,
#: or an awaitable of one (handlers that send commands to the exchange are async)
Handler = Callable[[Any, "int | None", Params], Any]

NONE = "NONE"  # public
USER_STREAM = "USER_STREAM"  # API key, no signature (listenKey)
SIGNED = "SIGNED"  # API key, timestamp, signature (TRADE and USER_DATA)
SECURITIES = (NONE, USER_STREAM, SIGNED)


@attrs.frozen
class Endpoint:
    """One served path: ``method`` and ``path`` (``/fapi/v1/order``), its security, its
    request weight (counted against ``X-MBX-USED-WEIGHT-1M``) and its handler.
    ``weight`` may be a function of the parameters (``/depth``'s depends on ``limit``)."""

    method: str
    path: str
    security: str
    weight: int | Callable[[Params], int]
    handler: Handler
    counts_as_order: bool = False  # counted against the order-rate limit

    def weight_of(self, params: Params) -> int:
        w = self.weight
        return w if type(w) is int else w(params)  # type: ignore[operator,return-value]


#: every served path: (method, path) -> Endpoint. Filled by the modules that define handlers
#: (``@endpoint(...)``); the venue module imports them all.
ENDPOINTS: dict[tuple[str, str], Endpoint] = {}


def endpoint(
    method: str, path: str, *, security: str, weight: int | Callable[[Params], int] = 1, counts_as_order: bool = False
) -> Callable[[Handler], Handler]:
    """Register a handler for ``method path`` (once: a second registration is a bug)."""
    if security not in SECURITIES:
        raise ValueError(f"security {security!r} is not one of {SECURITIES}")

    def register(handler: Handler) -> Handler:
        key = (method, path)
        if key in ENDPOINTS:
            raise ValueError(f"{method} {path} is registered twice")
        ENDPOINTS[key] = Endpoint(method, path, security, weight, handler, counts_as_order)
        return handler

    return register


def ms_of(ts_ns: int) -> int:
    """Milliseconds of a nanosecond time, rounded down (Binance's times are ms).

    >>> ms_of(1_641_000_000_123_999_999)
    1641000000123
    """
    return floor_div(ts_ns, 1_000_000)
