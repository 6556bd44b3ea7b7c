"""Stop and take-profit orders waiting outside the book for their trigger price.

Each waiting order watches one reference price (last trade or mark) in one direction:

============================  ================================
order                         fires when the reference price is
============================  ================================
BUY  stop (market / limit)    ``>=`` trigger (breakout up)
SELL stop (market / limit)    ``<=`` trigger (stop-loss down)
BUY  take-profit              ``<=`` trigger
SELL take-profit              ``>=`` trigger
BUY  trailing stop            ``>=`` its moving level
SELL trailing stop            ``<=`` its moving level
============================  ================================

Trailing stops (:mod:`exsim.exchange.trailing`) wait in ``orders`` too, so that lookups,
cancels and counts see every waiting order in one place, but their moving levels are
kept by the instrument's :class:`~exsim.exchange.trailing.TrailingIndex`, not in the
sorted lists here.

Per reference and direction a ``SortedList`` holds ``(key, order_id)`` with the key
growing away from firing, so a price update pops only the orders it crossed:
O(log N + k) for k fired. Orders fired by one update come out in submission order
(ascending order id), which is the documented tie rule.
"""

from __future__ import annotations

from typing import Final

from sortedcontainers import SortedList

from exsim.book.orders import (
    BUY,
    STOP_LIMIT,
    STOP_MARKET,
    TAKE_PROFIT_LIMIT,
    TAKE_PROFIT_MARKET,
    TRAILING_STOP_MARKET,
)
from exsim.errors import StateError

STOP_TYPES: Final = frozenset((STOP_MARKET, STOP_LIMIT, TAKE_PROFIT_MARKET, TAKE_PROFIT_LIMIT))
RISING: Final = 0  # fires when price >= trigger
FALLING: Final = 1  # fires when price <= trigger


def direction_of(side: int, order_type: int) -> int:
    """RISING or FALLING for a stop / take-profit order (see the module table).

    >>> direction_of(BUY, STOP_MARKET) == RISING
    True
    """
    is_stop = order_type in (STOP_MARKET, STOP_LIMIT, TRAILING_STOP_MARKET)
    return RISING if (side == BUY) == is_stop else FALLING


def fires(direction: int, trigger_ticks: int, price_ticks: int) -> bool:
    """Whether a reference price of ``price_ticks`` fires a trigger at ``trigger_ticks``."""
    return price_ticks >= trigger_ticks if direction == RISING else price_ticks <= trigger_ticks


class StopOrder:
    """A stop / take-profit order not yet triggered. Mutable entity, slotted."""

    __slots__ = (
        "order_id",
        "account_id",
        "side",
        "order_type",
        "price_ticks",
        "qty_lots",
        "trigger_price_ticks",
        "trigger_by",
        "direction",
        "client_order_id",
        "reduce_only",
        "ts_ns",
        "position_side",
        "tif",
    )

    def __init__(
        self,
        order_id: int,
        account_id: int,
        side: int,
        order_type: int,
        price_ticks: int,
        qty_lots: int,
        trigger_price_ticks: int,
        trigger_by: int,
        client_order_id: str | None,
        reduce_only: bool,
        ts_ns: int,
        position_side: int = 0,
        tif: int = 0,
    ) -> None:
        self.order_id = order_id
        self.account_id = account_id
        self.side = side
        self.order_type = order_type
        self.price_ticks = price_ticks
        self.qty_lots = qty_lots
        self.trigger_price_ticks = trigger_price_ticks
        self.trigger_by = trigger_by
        self.direction = direction_of(side, order_type)
        self.client_order_id = client_order_id
        self.reduce_only = reduce_only
        self.ts_ns = ts_ns
        self.position_side = position_side
        self.tif = tif  # applied when the order fires (GTC, IOC, FOK)

    def __repr__(self) -> str:
        return f"StopOrder(id={self.order_id}, acct={self.account_id}, trigger={self.trigger_price_ticks})"


class TriggerIndex:
    """Untriggered stop / take-profit orders of one instrument, indexed by trigger price."""

    __slots__ = ("orders", "_lists")

    def __init__(self) -> None:
        #: waiting orders by order id
        self.orders: dict[int, StopOrder] = {}
        # _lists[trigger_by][direction]: SortedList of (key, order_id); key = trigger for
        # RISING (fire smallest first), -trigger for FALLING (fire largest first)
        self._lists = ((SortedList(), SortedList()), (SortedList(), SortedList()))

    def __len__(self) -> int:
        return len(self.orders)

    def add(self, stop: StopOrder) -> None:
        """Start watching ``stop``. O(log N)."""
        self.orders[stop.order_id] = stop
        key = stop.trigger_price_ticks if stop.direction == RISING else -stop.trigger_price_ticks
        self._lists[stop.trigger_by][stop.direction].add((key, stop.order_id))

    def add_trailing(self, stop: StopOrder) -> None:
        """Hold a trailing stop among the waiting orders (its level lives elsewhere). O(1)."""
        self.orders[stop.order_id] = stop

    def remove(self, order_id: int) -> StopOrder | None:
        """Stop watching ``order_id``; return it, or None if it is not waiting. O(log N).

        A trailing stop is only dropped from ``orders``: the caller takes it out of the
        instrument's trailing index."""
        stop = self.orders.pop(order_id, None)
        if stop is not None and stop.order_type != TRAILING_STOP_MARKET:
            key = stop.trigger_price_ticks if stop.direction == RISING else -stop.trigger_price_ticks
            self._lists[stop.trigger_by][stop.direction].remove((key, order_id))
        return stop

    def pop_fired(self, trigger_by: int, price_ticks: int, falling_ticks: int | None = None) -> list[StopOrder]:
        """Remove and return the orders watching ``trigger_by`` that the price fires.

        RISING triggers fire at or below ``price_ticks``, FALLING ones at or above
        ``falling_ticks`` (default: the same). A mark between two ticks passes its floor
        and its ceiling (:func:`exsim.units.subticks_floor_ticks` / ``_ceil_ticks``), which
        is the exact comparison of the mark with each trigger. In ascending order id
        (submission order). O(log N + k).
        """
        if falling_ticks is None:
            falling_ticks = price_ticks
        rising, falling = self._lists[trigger_by]
        fired_ids: list[int] = []
        while rising and rising[0][0] <= price_ticks:
            fired_ids.append(rising.pop(0)[1])
        while falling and -falling[0][0] >= falling_ticks:
            fired_ids.append(falling.pop(0)[1])
        if not fired_ids:
            return []
        fired_ids.sort()
        pop = self.orders.pop
        return [pop(i) for i in fired_ids]

    def _check(self) -> None:
        """Every waiting order is in exactly its one list, with its key. O(N)."""
        listed: dict[int, tuple[int, int, int]] = {}
        for trigger_by, pair in enumerate(self._lists):
            for direction, lst in enumerate(pair):
                lst._check()
                for key, order_id in lst:
                    if order_id in listed:
                        raise StateError(f"stop order {order_id} listed twice")
                    listed[order_id] = (trigger_by, direction, key)
        if set(listed) != {i for i, s in self.orders.items() if s.order_type != TRAILING_STOP_MARKET}:
            raise StateError("trigger lists and the stop order index disagree")
        for order_id, (trigger_by, direction, key) in listed.items():
            stop = self.orders[order_id]
            want = stop.trigger_price_ticks if direction == RISING else -stop.trigger_price_ticks
            if (stop.trigger_by, stop.direction, want) != (trigger_by, direction, key):
                raise StateError(f"stop order {order_id} filed under the wrong key")
