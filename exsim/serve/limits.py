"""Binance's request-rate limits as ``exsim serve`` enforces them (no web library here).

Two counters, each over the current wall-clock minute (Binance's ``1M`` windows start on
the minute, and the ``X-MBX-*-1M`` headers say what is used of the current one):

* request **weight** per client IP: every request adds its endpoint's weight (1 for a path
  not served); past :data:`REQUEST_WEIGHT_PER_MINUTE` the request is refused with HTTP 429
  and code -1003. Header ``X-MBX-USED-WEIGHT-1M`` on every response.
* **orders** per account: every request of an endpoint that counts as an order adds 1; past
  :data:`ORDERS_PER_MINUTE` it is refused with HTTP 429 and code -1015. Header
  ``X-MBX-ORDER-COUNT-1M`` on those responses.

A limit of 0 counts (the headers still say the use) but never refuses: ``exsim serve
--weight-limit 0 --order-limit 0`` for benchmarks and load tests.

The limits are Binance USDⓈ-M's published defaults (``GET /fapi/v1/exchangeInfo`` →
``rateLimits``: REQUEST_WEIGHT 2400 / 1 MINUTE, ORDERS 1200 / 1 MINUTE and 300 / 10 SECOND);
:func:`rate_limits` is that list, for the market feed's exchangeInfo. The 10-second order
limit is published but not enforced (a bot that keeps under 1200/min and bursts 300 in
10 s is the rare case; said here so nobody relies on it).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from exsim.serve.binance import TOO_MANY_ORDERS, TOO_MANY_REQUESTS, BinanceError

REQUEST_WEIGHT_PER_MINUTE = 2400
ORDERS_PER_MINUTE = 1200
ORDERS_PER_10_SECONDS = 300
MINUTE_MS = 60_000


def rate_limits(
    weight_per_minute: int = REQUEST_WEIGHT_PER_MINUTE, orders_per_minute: int = ORDERS_PER_MINUTE
) -> list[dict[str, Any]]:
    """``exchangeInfo``'s ``rateLimits``, as Binance writes them.

    >>> [(r["rateLimitType"], r["intervalNum"], r["interval"], r["limit"]) for r in rate_limits()]
    [('REQUEST_WEIGHT', 1, 'MINUTE', 2400), ('ORDERS', 1, 'MINUTE', 1200), ('ORDERS', 10, 'SECOND', 300)]
    """
    return [
        {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": weight_per_minute},
        {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": orders_per_minute},
        {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": ORDERS_PER_10_SECONDS},
    ]


def wall_ms() -> int:
    """The wall clock in integer milliseconds (the rate windows and recvWindow use it)."""
    return time.time_ns() // 1_000_000


class MinuteCounter:
    """Counts per key over the current wall-clock minute; a new minute starts from zero.

    Memory: one entry per key seen in the current minute (entries of past minutes are
    dropped when a new minute is first counted). O(1) a count, O(keys) once a minute.

    >>> c = MinuteCounter(clock_ms=lambda: 61_000)
    >>> c.add("a", 5), c.add("a", 2), c.add("b", 1), c.used("a")
    (5, 7, 1, 7)
    """

    __slots__ = ("_clock_ms", "_minute", "_used")

    def __init__(self, clock_ms: Callable[[], int] = wall_ms) -> None:
        self._clock_ms = clock_ms
        self._minute = -1
        self._used: dict[Any, int] = {}

    def _roll(self) -> None:
        minute = self._clock_ms() // MINUTE_MS
        if minute != self._minute:
            self._minute = minute
            self._used = {}

    def add(self, key: Any, amount: int) -> int:
        """Count ``amount`` for ``key``; returns what ``key`` has used this minute."""
        self._roll()
        used = self._used.get(key, 0) + amount
        self._used[key] = used
        return used

    def used(self, key: Any) -> int:
        self._roll()
        return self._used.get(key, 0)


class RateLimits:
    """The server's two counters and their refusals (:class:`BinanceError`, HTTP 429)."""

    def __init__(
        self,
        weight_per_minute: int = REQUEST_WEIGHT_PER_MINUTE,
        orders_per_minute: int = ORDERS_PER_MINUTE,
        clock_ms: Callable[[], int] = wall_ms,
    ) -> None:
        self.weight_per_minute = weight_per_minute
        self.orders_per_minute = orders_per_minute
        self.weights = MinuteCounter(clock_ms)
        self.orders = MinuteCounter(clock_ms)

    def add_weight(self, ip: str, weight: int) -> int:
        """Count a request of ``weight`` from ``ip``; returns the weight used this minute
        (refused requests count too, as on Binance)."""
        return self.weights.add(ip, weight)

    def check_weight(self, used: int) -> None:
        """Refuse (429, -1003) past the weight limit (0: no limit)."""
        if self.weight_per_minute and used > self.weight_per_minute:
            raise BinanceError(
                TOO_MANY_REQUESTS,
                f"Too many requests; current limit is {self.weight_per_minute} requests per minute. "
                "Please use the websocket for live updates to avoid polling the API.",
            )

    def add_order(self, account_id: int) -> int:
        """Count one order of ``account_id``; refused past the limit (HTTP 429, -1015; 0: no limit)."""
        used = self.orders.add(account_id, 1)
        if self.orders_per_minute and used > self.orders_per_minute:
            raise BinanceError(
                TOO_MANY_ORDERS,
                f"Too many new orders; current limit is {self.orders_per_minute} orders per MINUTE.",
                http_status=429,
            )
        return used
