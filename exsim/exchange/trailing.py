"""Trailing stop orders (``TRAILING_STOP_MARKET``) waiting for their callback.

The rules are Binance USDⓈ-M's (``POST /fapi/v1/order``, "New Order (TRADE)",
developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api):

* ``callbackRate`` is a percentage, min 0.1, max 10 ("1 for 1%"); here
  ``callback_rate_e8`` in parts per 1e8 (1 % = 1_000_000, so 100_000..10_000_000).
  ``callback_ticks`` is the callback as a fixed price distance instead (Bybit's
  ``trailingStop``), any positive number of ticks.
* ``activationPrice`` defaults to the latest price of the ``workingType`` (last trade or
  mark): the order is then active at once.
* It fires (a market order) when, for a SELL, the highest price since the order was
  placed is ``>=`` the activation price and the latest price is ``<=`` that highest
  price × (1 − callbackRate); for a BUY, the lowest price since placement is ``<=`` the
  activation price and the latest price is ``>=`` the lowest × (1 + callbackRate).
* "Order would immediately trigger" (code -2021) is the answer when a BUY's activation
  price is not below the latest price, or a SELL's not above it. exsim answers
  ``WOULD_IMMEDIATELY_TRIGGER``; a bracket's trailing exit is instead active at once.

Exactness: prices are compared in subticks (1e-8 of the quote asset; a last price of
``t`` ticks is ``t × subticks_per_tick``), so a mark between two ticks counts exactly.
The firing level is kept as the integer ``fire_at_subticks``: for a SELL the largest
integer ``s`` with ``s × 1e8 <= extreme × (1e8 − rate)`` (floor), for a BUY the smallest
with ``s × 1e8 >= extreme × (1e8 + rate)`` (ceiling); an integer price passes it exactly
when it passes the real product, so nothing is rounded in the decision. The trigger price
an :class:`~exsim.exchange.events.OrderTriggered` reports is that level on the tick grid,
the first tick price that fires: rounded down for a SELL, up for a BUY.

Cost: the orders of one instrument are kept per reference (last / mark) and direction,
with three cached bounds per list (the least advanced extreme, the nearest firing level,
the nearest activation price). A price that sets no new extreme, fires nothing and
activates nothing is told apart in O(1) per list; otherwise the list is walked, O(n) for
the n trailing orders of that instrument, reference and side.
"""

from __future__ import annotations

from typing import Final

from exsim.book.orders import TRAILING_STOP_MARKET
from exsim.errors import StateError
from exsim.exchange.triggers import FALLING, RISING, StopOrder
from exsim.units import ceil_div, floor_div, subticks_ceil_ticks, subticks_floor_ticks

#: Binance's callbackRate bounds, 0.1 % and 10 %, in parts per 1e8
MIN_CALLBACK_RATE_E8: Final = 100_000
MAX_CALLBACK_RATE_E8: Final = 10_000_000
RATE_ONE_E8: Final = 100_000_000
_FAR: Final = 1 << 80  # beyond any price in subticks: "no bound"


class TrailingStop(StopOrder):
    """A trailing stop not yet fired. Mutable entity, slotted.

    ``trigger_price_ticks`` is the activation price as given (0: the current price).
    ``arm_subticks``: the activation price in subticks, or the sentinel "any price" while
    a default activation waits for a first price. ``extreme_subticks`` is the highest
    (SELL) / lowest (BUY) price since placement once active, 0 before.
    """

    __slots__ = ("callback_rate_e8", "callback_ticks", "arm_subticks", "extreme_subticks", "fire_at_subticks")

    def __init__(
        self,
        order_id: int,
        account_id: int,
        side: int,
        qty_lots: int,
        activation_ticks: int,
        trigger_by: int,
        client_order_id: str | None,
        reduce_only: bool,
        ts_ns: int,
        position_side: int,
        tif: int,
        callback_rate_e8: int,
        callback_ticks: int,
        per_tick: int,
    ) -> None:
        super().__init__(
            order_id, account_id, side, TRAILING_STOP_MARKET, 0, qty_lots, activation_ticks, trigger_by,
            client_order_id, reduce_only, ts_ns, position_side, tif,
        )
        self.callback_rate_e8 = callback_rate_e8
        self.callback_ticks = callback_ticks * per_tick  # kept in subticks (named for the command field)
        if activation_ticks:
            self.arm_subticks = activation_ticks * per_tick
        else:
            self.arm_subticks = 0 if self.direction == FALLING else _FAR
        self.extreme_subticks = 0
        self.fire_at_subticks = 0

    def activate(self, price_subticks: int) -> None:
        """Start trailing from ``price_subticks`` (the activation was reached)."""
        self.extreme_subticks = price_subticks
        self.fire_at_subticks = self.fire_level(price_subticks)

    def fire_level(self, extreme: int) -> int:
        """The integer firing level for an extreme (see the module docstring). O(1).

        >>> s = TrailingStop(1, 1, 1, 5, 0, 0, None, False, 0, 0, 0, 1_000_000, 0, 10**7)
        >>> s.fire_level(50_000 * 10**8) == 49_500 * 10**8   # SELL 1 % under 50,000.0
        True
        """
        rate = self.callback_rate_e8
        if self.direction == FALLING:  # a SELL: fires on the way down
            if rate:
                return floor_div(extreme * (RATE_ONE_E8 - rate), RATE_ONE_E8)
            return extreme - self.callback_ticks
        if rate:
            return ceil_div(extreme * (RATE_ONE_E8 + rate), RATE_ONE_E8)
        return extreme + self.callback_ticks

    def trigger_ticks(self, per_tick: int) -> int:
        """The firing level on the tick grid: the first tick price that fires."""
        if self.direction == FALLING:
            return subticks_floor_ticks(self.fire_at_subticks, per_tick)
        return subticks_ceil_ticks(self.fire_at_subticks, per_tick)

    def __repr__(self) -> str:
        return (
            f"TrailingStop(id={self.order_id}, acct={self.account_id}, extreme={self.extreme_subticks}, "
            f"fire_at={self.fire_at_subticks})"
        )


class _Side:
    """The trailing orders of one reference and direction, with their cached bounds."""

    __slots__ = ("direction", "orders", "extreme_bound", "fire_bound", "arm_bound")

    def __init__(self, direction: int) -> None:
        self.direction = direction
        self.orders: list[TrailingStop] = []  # in order id order
        self._bounds()

    def _bounds(self) -> None:
        """Recompute the three bounds from the orders. O(n)."""
        falling = self.direction == FALLING
        ext = fire = arm = None
        for s in self.orders:
            if s.extreme_subticks:
                e, f = s.extreme_subticks, s.fire_at_subticks
                if falling:
                    ext = e if ext is None or e < ext else ext
                    fire = f if fire is None or f > fire else fire
                else:
                    ext = e if ext is None or e > ext else ext
                    fire = f if fire is None or f < fire else fire
            else:
                a = s.arm_subticks
                if falling:
                    arm = a if arm is None or a < arm else arm
                else:
                    arm = a if arm is None or a > arm else arm
        if falling:  # a SELL: new high above ext, fires at or below fire, arms at or above arm
            self.extreme_bound = _FAR if ext is None else ext
            self.fire_bound = -_FAR if fire is None else fire
            self.arm_bound = _FAR if arm is None else arm
        else:  # a BUY: new low below ext, fires at or above fire, arms at or below arm
            self.extreme_bound = -_FAR if ext is None else ext
            self.fire_bound = _FAR if fire is None else fire
            self.arm_bound = -_FAR if arm is None else arm

    def needs_walk(self, p: int) -> bool:
        """Whether price ``p`` can change or fire any order here. O(1)."""
        if self.direction == FALLING:
            return p > self.extreme_bound or p <= self.fire_bound or p >= self.arm_bound
        return p < self.extreme_bound or p >= self.fire_bound or p <= self.arm_bound

    def walk(self, p: int, fired: list[TrailingStop]) -> None:
        """Apply price ``p`` to every order; move the ones it fires to ``fired``. O(n)."""
        falling = self.direction == FALLING
        keep: list[TrailingStop] = []
        for s in self.orders:
            e = s.extreme_subticks
            if not e:
                if (p >= s.arm_subticks) if falling else (p <= s.arm_subticks):
                    s.activate(p)
                keep.append(s)
            elif (p > e) if falling else (p < e):
                s.activate(p)  # a new extreme: the firing level follows it
                keep.append(s)
            elif (p <= s.fire_at_subticks) if falling else (p >= s.fire_at_subticks):
                fired.append(s)
            else:
                keep.append(s)
        self.orders = keep
        self._bounds()


class TrailingIndex:
    """The trailing stops of one instrument, per reference (last / mark) and direction."""

    __slots__ = ("_sides", "count")

    def __init__(self) -> None:
        # _sides[trigger_by][direction]
        self._sides = ((_Side(RISING), _Side(FALLING)), (_Side(RISING), _Side(FALLING)))
        self.count = 0

    def add(self, stop: TrailingStop, ref_subticks: int) -> None:
        """Start watching ``stop``; active at once from ``ref_subticks`` when its
        activation is the default (0) and there is a reference price. O(n) (bounds)."""
        if not stop.trigger_price_ticks and ref_subticks:
            stop.activate(ref_subticks)
        side = self._sides[stop.trigger_by][stop.direction]
        side.orders.append(stop)
        side._bounds()
        self.count += 1

    def activate_now(self, stop: TrailingStop, ref_subticks: int) -> None:
        """Make a watched ``stop`` active from ``ref_subticks`` (a bracket exit whose
        activation price has already passed). O(n)."""
        stop.activate(ref_subticks)
        self._sides[stop.trigger_by][stop.direction]._bounds()

    def remove(self, stop: TrailingStop) -> None:
        """Stop watching ``stop``. O(n)."""
        side = self._sides[stop.trigger_by][stop.direction]
        side.orders.remove(stop)
        side._bounds()
        self.count -= 1

    def update(self, trigger_by: int, price_subticks: int) -> list[TrailingStop]:
        """Apply a new reference price; remove and return the orders it fires (in order
        id order). O(1) when nothing moves, O(n) otherwise (module docstring)."""
        fired: list[TrailingStop] = []
        for side in self._sides[trigger_by]:
            if side.orders and side.needs_walk(price_subticks):
                side.walk(price_subticks, fired)
        if fired:
            self.count -= len(fired)
            if len(fired) > 1:
                fired.sort(key=lambda s: s.order_id)
        return fired

    def _check(self, orders: dict) -> None:
        """Every trailing stop in ``orders`` is listed once, under its reference and
        direction, with consistent state and bounds. O(n)."""
        seen = 0
        for trigger_by, pair in enumerate(self._sides):
            for direction, side in enumerate(pair):
                for s in side.orders:
                    seen += 1
                    if orders.get(s.order_id) is not s:
                        raise StateError(f"trailing stop {s.order_id} listed but not waiting")
                    if (s.trigger_by, s.direction) != (trigger_by, direction):
                        raise StateError(f"trailing stop {s.order_id} filed under the wrong list")
                    if s.extreme_subticks and s.fire_at_subticks != s.fire_level(s.extreme_subticks):
                        raise StateError(f"trailing stop {s.order_id}: firing level does not follow its extreme")
                ext, fire, arm = side.extreme_bound, side.fire_bound, side.arm_bound
                side._bounds()
                if (ext, fire, arm) != (side.extreme_bound, side.fire_bound, side.arm_bound):
                    raise StateError("trailing stop bounds are stale")
        if seen != self.count or seen != sum(1 for o in orders.values() if type(o) is TrailingStop):
            raise StateError("trailing stop count disagrees with the waiting orders")


__all__ = ["MAX_CALLBACK_RATE_E8", "MIN_CALLBACK_RATE_E8", "TrailingIndex", "TrailingStop"]
