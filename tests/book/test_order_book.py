"""Specification of exsim.book.OrderBook: matching, resting, STP, replayed size, lazy levels.

Every book here is wrapped in :class:`Checked`, which runs ``OrderBook._check()`` after
every method call, so each test also pins the book's invariants at every step.
Fills are compared as ``(maker order id or 'anon', maker account, price_ticks, qty_lots)``.
"""

from __future__ import annotations

from typing import Any

import pytest

from exsim.book import CONSERVATIVE, PROPORTIONAL, Order, OrderBook
from exsim.book.orders import (
    ANONYMOUS,
    BUY,
    SELL,
    STP_EXPIRE_BOTH,
    STP_EXPIRE_MAKER,
    STP_EXPIRE_TAKER,
    STP_NONE,
)

ALICE, BOB, CAROL, DAVE = 1, 2, 3, 4


class Checked:
    """An OrderBook whose every method call is followed by ``_check()``."""

    def __init__(self, queue_model: str = CONSERVATIVE) -> None:
        self.book = OrderBook(queue_model)
        self.book._check()
        self._next_oid = 1000  # ids the helpers allocate when the test does not care

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.book, name)
        if not callable(attr):
            return attr

        def checked(*args: Any, **kwargs: Any) -> Any:
            result = attr(*args, **kwargs)
            self.book._check()
            return result

        return checked

    def __len__(self) -> int:
        return len(self.book)

    # -- helpers: one call per order, fills returned in comparable form
    def place(
        self, side: int, price: int, qty: int, account: int = ALICE, oid: int | None = None, stp: int = STP_NONE
    ) -> tuple[Order, list[tuple]]:
        """Send a GTC limit order; return the Order and its fills."""
        if oid is None:
            self._next_oid += 1
            oid = self._next_oid
        order = Order(oid, account, side, price, qty)
        fills: list = []
        self.limit(order, stp, fills)
        return order, comparable(fills)

    def take(
        self, side: int, qty: int, limit_px: int | None = None, account: int = BOB, stp: int = STP_NONE
    ) -> tuple[int, list[tuple]]:
        """Send an IOC/market taker; return (lots left, fills)."""
        fills: list = []
        left = self.match(999_999, account, side, qty, limit_px, stp, fills)
        return left, comparable(fills)

    def replay_trade(self, taker_side: int, qty: int, price: int) -> tuple[int, list[tuple]]:
        """A trade from the tape: anonymous taker, no STP."""
        fills: list = []
        left = self.match(0, ANONYMOUS, taker_side, qty, price, STP_NONE, fills)
        return left, comparable(fills)


def comparable(fills: list) -> list[tuple]:
    return [(m.order_id or "anon", m.account_id, px, q) for m, px, q in fills]


def live_queue(book: Checked, side: int, price: int) -> list[tuple]:
    """The live entries of one level in queue order as (id or 'anon', leaves)."""
    for lv in book.levels(side):
        if lv.price_ticks == price:
            return [(o.order_id or "anon", o.leaves_lots) for o in lv.live()]
    return []


@pytest.fixture
def book() -> Checked:
    return Checked(CONSERVATIVE)


@pytest.fixture
def prop_book() -> Checked:
    return Checked(PROPORTIONAL)


# ---------------------------------------------------------------------- empty book
class TestEmptyBook:
    def test_best_prices_are_none(self, book: Checked) -> None:
        """An empty book has no best bid and no best ask."""
        assert book.best_bid() is None
        assert book.best_ask() is None

    def test_views_are_empty(self, book: Checked) -> None:
        """Depth, level sizes, fillable lots and the order count are all zero/empty."""
        assert book.depth(BUY) == [] and book.depth(SELL) == []
        assert book.level_lots(BUY, 100) == 0 and book.anonymous_lots(SELL, 100) == 0
        assert book.fillable_lots(BUY, None, ALICE, STP_NONE, 5) == 0
        assert not book.would_take(BUY, 10**9) and not book.would_take(SELL, 0)
        assert len(book) == 0

    def test_market_order_gets_everything_back(self, book: Checked) -> None:
        """A market order against an empty side fills nothing and returns its whole size."""
        assert book.take(BUY, 7) == (7, [])

    def test_queue_model_is_validated(self) -> None:
        """An unknown queue model is a ValueError naming the accepted ones."""
        with pytest.raises(ValueError, match="conservative"):
            OrderBook("optimistic")


# ---------------------------------------------------------------------- priority
class TestPriceTimePriority:
    def test_better_price_fills_first(self, book: Checked) -> None:
        """A buyer meets the lowest ask first, whatever the arrival order."""
        book.place(SELL, 102, 1, oid=1)
        book.place(SELL, 101, 1, oid=2)
        book.place(SELL, 103, 1, oid=3)
        assert book.take(BUY, 3)[1] == [(2, ALICE, 101, 1), (1, ALICE, 102, 1), (3, ALICE, 103, 1)]

    def test_same_price_fills_in_arrival_order(self, book: Checked) -> None:
        """At one price, the earliest order fills first (FIFO)."""
        book.place(BUY, 100, 2, account=ALICE, oid=1)
        book.place(BUY, 100, 2, account=CAROL, oid=2)
        book.place(BUY, 100, 2, account=ALICE, oid=3)
        assert book.take(SELL, 6)[1] == [(1, ALICE, 100, 2), (2, CAROL, 100, 2), (3, ALICE, 100, 2)]

    def test_best_prices_track_the_touch(self, book: Checked) -> None:
        """best_bid is the highest bid and best_ask the lowest ask."""
        for oid, (side, px) in enumerate([(BUY, 98), (BUY, 99), (BUY, 97), (SELL, 103), (SELL, 101)], 1):
            book.place(side, px, 1, oid=oid)
        assert (book.best_bid(), book.best_ask()) == (99, 101)
        assert book.depth(BUY) == [(99, 1), (98, 1), (97, 1)]
        assert book.depth(SELL) == [(101, 1), (103, 1)]


class TestPartialFills:
    def test_partially_filled_maker_keeps_the_front(self, book: Checked) -> None:
        """A maker filled in part keeps its place at the front with the rest open."""
        a, _ = book.place(SELL, 100, 10, oid=1)
        book.place(SELL, 100, 5, oid=2)
        assert book.take(BUY, 4)[1] == [(1, ALICE, 100, 4)]
        assert a.leaves_lots == 6 and a.filled_lots == 4
        assert live_queue(book, SELL, 100) == [(1, 6), (2, 5)]
        assert book.level_lots(SELL, 100) == 11

    def test_taker_spans_several_makers(self, book: Checked) -> None:
        """A taker larger than the first maker fills it and goes on into the next one."""
        book.place(SELL, 100, 3, oid=1)
        book.place(SELL, 100, 3, oid=2)
        left, fills = book.take(BUY, 4)
        assert left == 0
        assert fills == [(1, ALICE, 100, 3), (2, ALICE, 100, 1)]
        assert 1 not in book.orders and book.orders[2].leaves_lots == 2


# ---------------------------------------------------------------------- limit / market
class TestLimit:
    def test_non_crossing_limit_rests_and_returns_the_level_total(self, book: Checked) -> None:
        """A limit that does not cross rests; limit() returns the level's new total size."""
        fills: list = []
        assert book.limit(Order(1, ALICE, BUY, 99, 4), STP_NONE, fills) == 4
        assert book.limit(Order(2, ALICE, BUY, 99, 3), STP_NONE, fills) == 7
        assert fills == [] and book.best_bid() == 99

    def test_crossing_limit_matches_then_rests_the_remainder(self, book: Checked) -> None:
        """A limit that crosses takes what its price allows and rests the rest at its own price."""
        book.place(SELL, 100, 2, oid=1)
        book.place(SELL, 101, 2, oid=2)
        book.place(SELL, 103, 2, oid=3)
        order, fills = book.place(BUY, 101, 10, account=BOB, oid=4)
        assert fills == [(1, ALICE, 100, 2), (2, ALICE, 101, 2)]
        assert order.leaves_lots == 6 and book.orders[4] is order
        assert (book.best_bid(), book.best_ask()) == (101, 103)
        assert book.depth(BUY) == [(101, 6)]

    def test_fully_filled_limit_does_not_rest(self, book: Checked) -> None:
        """A limit filled completely returns 0 and leaves nothing on its side."""
        book.place(SELL, 100, 5, oid=1)
        fills: list = []
        assert book.limit(Order(2, BOB, BUY, 100, 5), STP_NONE, fills) == 0
        assert comparable(fills) == [(1, ALICE, 100, 5)]
        assert book.best_bid() is None and book.best_ask() is None and len(book) == 0

    def test_rest_queues_at_the_back_without_matching(self, book: Checked) -> None:
        """rest() (post-only path) joins the back of its level, creating or reviving the level."""
        book.place(BUY, 100, 1, oid=1)
        book.place(BUY, 99, 1, oid=2)
        book.cancel(2)  # 99 kept lazily, empty
        for oid, px in ((3, 100), (4, 99), (5, 98), (6, 101)):
            book.rest(Order(oid, CAROL, BUY, px, oid))
        assert book.depth(BUY) == [(101, 6), (100, 4), (99, 4), (98, 5)]
        assert book.queue_ahead_lots(book.orders[3]) == 1 and book.best_bid() == 101

    def test_would_take_tells_crossing(self, book: Checked) -> None:
        """would_take is true exactly when a limit at that price reaches the opposite touch."""
        book.place(SELL, 100, 1)
        book.place(BUY, 98, 1)
        assert book.would_take(BUY, 100) and book.would_take(BUY, 105) and not book.would_take(BUY, 99)
        assert book.would_take(SELL, 98) and not book.would_take(SELL, 99)


class TestMarket:
    def test_market_sweeps_levels_and_returns_leftover(self, book: Checked) -> None:
        """A market order walks every ask level in price order and returns what it could not fill."""
        book.place(SELL, 101, 3, oid=1)
        book.place(SELL, 100, 2, oid=2)
        book.place(SELL, 105, 4, oid=3)
        book.place(BUY, 90, 9, oid=4)  # own side: untouched
        left, fills = book.take(BUY, 20)
        assert left == 11
        assert fills == [(2, ALICE, 100, 2), (1, ALICE, 101, 3), (3, ALICE, 105, 4)]
        assert book.best_ask() is None and book.depth(SELL) == [] and book.best_bid() == 90

    def test_ioc_limit_stops_at_its_price(self, book: Checked) -> None:
        """match() with a limit price never trades through it and leaves the worse levels alone."""
        book.place(BUY, 100, 2, oid=1)
        book.place(BUY, 99, 2, oid=2)
        book.place(BUY, 98, 2, oid=3)
        left, fills = book.take(SELL, 10, limit_px=99)
        assert (left, fills) == (6, [(1, ALICE, 100, 2), (2, ALICE, 99, 2)])
        assert book.depth(BUY) == [(98, 2)]

    def test_zero_quantity_takes_nothing(self, book: Checked) -> None:
        """match() for zero lots fills nothing and changes nothing."""
        book.place(SELL, 100, 1)
        assert book.take(BUY, 0) == (0, [])
        assert book.depth(SELL) == [(100, 1)]


# ---------------------------------------------------------------------- cancel / reduce
class TestCancel:
    def test_cancel_returns_open_lots(self, book: Checked) -> None:
        """cancel() removes a resting order and returns its open lots, after partial fills too."""
        book.place(SELL, 100, 10, oid=1)
        book.take(BUY, 3)
        assert book.cancel(1) == 7
        assert len(book) == 0 and book.best_ask() is None

    def test_cancel_of_unknown_id_returns_zero(self, book: Checked) -> None:
        """Cancelling an id that never rested, or already left, returns 0 and changes nothing."""
        book.place(SELL, 100, 1, oid=1)
        assert book.cancel(42) == 0
        assert book.cancel(1) == 1
        assert book.cancel(1) == 0
        book.place(SELL, 100, 1, oid=2)
        book.take(BUY, 1)
        assert book.cancel(2) == 0

    def test_cancel_keeps_the_others_in_order(self, book: Checked) -> None:
        """Cancelling a middle order leaves the queue order of the others unchanged."""
        for oid in (1, 2, 3):
            book.place(BUY, 100, oid, oid=oid)
        book.cancel(2)
        assert book.take(SELL, 10)[1] == [(1, ALICE, 100, 1), (3, ALICE, 100, 3)]

    def test_remove_is_cancel_by_object(self, book: Checked) -> None:
        """remove(order) takes the order out and zeroes its leaves."""
        a, _ = book.place(SELL, 100, 3, oid=1)
        book.place(SELL, 101, 3, oid=2)
        assert book.remove(a) == 0  # the lots left at its level
        assert a.leaves_lots == 0 and book.best_ask() == 101 and 1 not in book.orders

    def test_remove_returns_what_is_left_at_the_level(self, book: Checked) -> None:
        """remove(order) returns the level's remaining size, the L2 figure to report."""
        book.set_anonymous_lots(SELL, 100, 4)
        a, _ = book.place(SELL, 100, 3, oid=1)
        book.place(SELL, 100, 2, oid=2)
        assert book.remove(a) == 6


class TestQueueAhead:
    def test_queue_ahead_counts_live_size_in_front(self, book: Checked) -> None:
        """queue_ahead_lots sums the open lots of every entry ahead, replayed or identified."""
        book.place(SELL, 100, 3, oid=1)
        book.set_anonymous_lots(SELL, 100, 4)
        book.place(SELL, 100, 2, oid=2)
        c, _ = book.place(SELL, 100, 1, oid=3)
        book.cancel(2)
        assert book.queue_ahead_lots(c) == 7

    def test_queue_ahead_of_an_order_whose_level_is_gone_is_a_key_error(self, book: Checked) -> None:
        """Asking for the queue position of an order whose level has gone raises KeyError."""
        a, _ = book.place(SELL, 100, 3, oid=1)
        book.cancel(1)
        with pytest.raises(KeyError):
            book.queue_ahead_lots(a)

    def test_queue_ahead_of_a_cancelled_order_is_a_key_error(self, book: Checked) -> None:
        """Asking for the queue position of a cancelled order raises KeyError, even while others rest.

        BUG: queue_ahead_lots scans the deque by identity, and a cancelled order stays in it
        until it reaches the front or the deque is compacted (lazy deletion), so it is "found"
        and gets a plausible number (0 here) instead of the "not resting" KeyError.
        """
        a, _ = book.place(SELL, 100, 3, oid=1)
        book.place(SELL, 100, 3, oid=2)
        book.cancel(1)
        with pytest.raises(KeyError, match="order 1 is not resting"):
            book.queue_ahead_lots(a)


class TestReduce:
    def test_reduce_keeps_queue_priority(self, book: Checked) -> None:
        """A reduced order stays ahead of orders that arrived after it."""
        a, _ = book.place(SELL, 100, 10, oid=1)
        b, _ = book.place(SELL, 100, 5, account=CAROL, oid=2)
        book.reduce(a, 2)
        assert book.queue_ahead_lots(b) == 2
        assert book.level_lots(SELL, 100) == 7
        assert book.take(BUY, 3)[1] == [(1, ALICE, 100, 2), (2, CAROL, 100, 1)]

    def test_reduce_to_the_same_size_is_a_no_op(self, book: Checked) -> None:
        """Reducing to the current size changes nothing."""
        a, _ = book.place(BUY, 100, 4, oid=1)
        book.reduce(a, 4)
        assert book.depth(BUY) == [(100, 4)]


# ---------------------------------------------------------------------- STP
def stp_level(book: Checked) -> None:
    """Asks at 100: BOB 2 (id 1), ALICE 3 (id 2), CAROL 4 (id 3); at 101: ALICE 5 (id 4), BOB 6 (id 5)."""
    book.place(SELL, 100, 2, account=BOB, oid=1)
    book.place(SELL, 100, 3, account=ALICE, oid=2)
    book.place(SELL, 100, 4, account=CAROL, oid=3)
    book.place(SELL, 101, 5, account=ALICE, oid=4)
    book.place(SELL, 101, 6, account=BOB, oid=5)


class TestSelfTradePrevention:
    def test_stp_none_trades_with_itself(self, book: Checked) -> None:
        """Without STP an account's taker fills against its own resting order."""
        stp_level(book)
        left, fills = book.take(BUY, 3, account=ALICE, stp=STP_NONE)
        assert (left, fills) == (0, [(1, BOB, 100, 2), (2, ALICE, 100, 1)])
        assert not book.taker_stp_expired and book.stp_expired == []

    def test_expire_taker_stops_at_the_own_order(self, book: Checked) -> None:
        """EXPIRE_TAKER fills the other accounts' orders ahead, then stops; the own order stays."""
        stp_level(book)
        left, fills = book.take(BUY, 20, account=ALICE, stp=STP_EXPIRE_TAKER)
        assert (left, fills) == (18, [(1, BOB, 100, 2)])
        assert book.taker_stp_expired and book.stp_expired == []
        assert book.orders[2].leaves_lots == 3 and book.best_ask() == 100

    def test_expire_taker_limit_does_not_rest(self, book: Checked) -> None:
        """A limit expired by EXPIRE_TAKER does not rest its remainder."""
        stp_level(book)
        order, fills = book.place(BUY, 101, 20, account=ALICE, oid=9, stp=STP_EXPIRE_TAKER)
        assert fills == [(1, BOB, 100, 2)] and order.leaves_lots == 18
        assert 9 not in book.orders and book.best_bid() is None

    def test_expire_maker_cancels_own_orders_and_goes_on(self, book: Checked) -> None:
        """EXPIRE_MAKER cancels every own order it meets and keeps filling the others."""
        stp_level(book)
        left, fills = book.take(BUY, 20, account=ALICE, stp=STP_EXPIRE_MAKER)
        assert fills == [(1, BOB, 100, 2), (3, CAROL, 100, 4), (5, BOB, 101, 6)]
        assert left == 8
        assert [(m.order_id, lots) for m, lots in book.stp_expired] == [(2, 3), (4, 5)]
        assert not book.taker_stp_expired
        assert len(book) == 0 and book.best_ask() is None

    def test_expire_maker_limit_rests_remainder(self, book: Checked) -> None:
        """A limit under EXPIRE_MAKER rests what is left after cancelling own orders."""
        stp_level(book)
        order, _ = book.place(BUY, 100, 10, account=ALICE, oid=9, stp=STP_EXPIRE_MAKER)
        assert order.leaves_lots == 4 and book.best_bid() == 100 and book.best_ask() == 101
        assert 2 not in book.orders and book.orders[4].leaves_lots == 5

    def test_expire_both_cancels_the_first_own_order_and_stops(self, book: Checked) -> None:
        """EXPIRE_BOTH cancels the first own order met, expires the taker and leaves the rest."""
        stp_level(book)
        left, fills = book.take(BUY, 20, account=ALICE, stp=STP_EXPIRE_BOTH)
        assert (left, fills) == (18, [(1, BOB, 100, 2)])
        assert [(m.order_id, lots) for m, lots in book.stp_expired] == [(2, 3)]
        assert book.taker_stp_expired
        assert 4 in book.orders and live_queue(book, SELL, 100) == [(3, 4)]

    def test_expire_both_emptying_the_level_drops_it(self, book: Checked) -> None:
        """When the cancelled own order was the level's last entry, the level goes and the next is best."""
        book.place(SELL, 100, 3, account=ALICE, oid=1)
        book.place(SELL, 101, 3, account=BOB, oid=2)
        left, fills = book.take(BUY, 5, account=ALICE, stp=STP_EXPIRE_BOTH)
        assert (left, fills) == (5, []) and book.best_ask() == 101

    @pytest.mark.parametrize("stp", [STP_EXPIRE_TAKER, STP_EXPIRE_MAKER, STP_EXPIRE_BOTH])
    def test_other_accounts_trade_freely(self, book: Checked, stp: int) -> None:
        """STP only concerns the taker's own account: a fourth account fills everyone's orders."""
        stp_level(book)
        left, fills = book.take(BUY, 20, account=DAVE, stp=stp)
        assert left == 0
        assert fills == [(1, BOB, 100, 2), (2, ALICE, 100, 3), (3, CAROL, 100, 4), (4, ALICE, 101, 5), (5, BOB, 101, 6)]
        assert not book.taker_stp_expired and book.stp_expired == []

    @pytest.mark.parametrize("stp", [STP_EXPIRE_TAKER, STP_EXPIRE_BOTH])
    def test_orders_ahead_of_the_own_one_still_trade(self, book: Checked, stp: int) -> None:
        """With a stopping mode, CAROL's taker fills BOB's and ALICE's orders before reaching her own."""
        stp_level(book)
        left, fills = book.take(BUY, 20, account=CAROL, stp=stp)
        assert (left, fills) == (15, [(1, BOB, 100, 2), (2, ALICE, 100, 3)])
        assert book.taker_stp_expired

    @pytest.mark.parametrize("stp", [STP_EXPIRE_TAKER, STP_EXPIRE_MAKER, STP_EXPIRE_BOTH])
    def test_anonymous_size_never_triggers_stp(self, book: Checked, stp: int) -> None:
        """Replayed size belongs to no account, so it trades with every STP mode."""
        book.set_anonymous_lots(SELL, 100, 5)
        assert book.take(BUY, 5, account=ALICE, stp=stp) == (0, [("anon", ANONYMOUS, 100, 5)])

    @pytest.mark.parametrize("stp", [STP_NONE, STP_EXPIRE_TAKER, STP_EXPIRE_MAKER, STP_EXPIRE_BOTH])
    @pytest.mark.parametrize("want", [1, 2, 5, 9, 13, 20])
    @pytest.mark.parametrize("limit_px", [None, 100, 101])
    def test_fillable_lots_agrees_with_match(self, stp: int, want: int, limit_px: int | None) -> None:
        """fillable_lots (the fill-or-kill test) predicts exactly what match then fills."""
        book = Checked()
        stp_level(book)
        predicted = book.fillable_lots(BUY, limit_px, ALICE, stp, want)
        left, _ = book.take(BUY, want, limit_px=limit_px, account=ALICE, stp=stp)
        assert predicted == want - left


# ---------------------------------------------------------------------- replayed size
class TestReplayedSize:
    def test_set_anonymous_lots_returns_the_change(self, book: Checked) -> None:
        """set_anonymous_lots reports the signed change and the views follow it."""
        assert book.set_anonymous_lots(BUY, 99, 10) == 10
        assert book.set_anonymous_lots(BUY, 99, 4) == -6
        assert book.set_anonymous_lots(BUY, 99, 4) == 0
        assert book.anonymous_lots(BUY, 99) == 4 and book.level_lots(BUY, 99) == 4
        assert book.best_bid() == 99 and len(book) == 0

    def test_zero_on_a_missing_level_creates_nothing(self, book: Checked) -> None:
        """Setting zero replayed size where there is no level is a no-op."""
        assert book.set_anonymous_lots(SELL, 100, 0) == 0
        assert book.best_ask() is None and book.depth(SELL) == []

    def test_zero_removes_a_purely_anonymous_level(self, book: Checked) -> None:
        """Setting a replayed-only level to zero removes it from the book."""
        book.set_anonymous_lots(SELL, 100, 5)
        book.set_anonymous_lots(SELL, 101, 5)
        book.set_anonymous_lots(SELL, 100, 0)
        assert book.best_ask() == 101 and book.depth(SELL) == [(101, 5)]

    def test_identified_order_queues_behind_replayed_size(self, book: Checked) -> None:
        """An order joining a level waits behind the replayed size already there."""
        book.set_anonymous_lots(SELL, 100, 10)
        mine, _ = book.place(SELL, 100, 5, oid=1)
        assert book.queue_ahead_lots(mine) == 10
        assert book.level_lots(SELL, 100) == 15 and book.anonymous_lots(SELL, 100) == 10

    def test_replayed_trade_consumes_size_ahead_then_fills_the_order(self, book: Checked) -> None:
        """A tape trade at the level first shrinks the replayed size ahead, then fills the order."""
        book.set_anonymous_lots(SELL, 100, 10)
        mine, _ = book.place(SELL, 100, 5, oid=1)
        assert book.replay_trade(BUY, 6, 100) == (0, [("anon", ANONYMOUS, 100, 6)])
        assert book.queue_ahead_lots(mine) == 4 and book.anonymous_lots(SELL, 100) == 4
        assert book.replay_trade(BUY, 6, 100) == (0, [("anon", ANONYMOUS, 100, 4), (1, ALICE, 100, 2)])
        assert mine.leaves_lots == 3 and book.queue_ahead_lots(mine) == 0

    def test_increase_joins_the_back(self, book: Checked) -> None:
        """Replayed size added after an order queues behind it."""
        book.set_anonymous_lots(BUY, 99, 3)
        mine, _ = book.place(BUY, 99, 2, oid=1)
        book.set_anonymous_lots(BUY, 99, 10)
        assert book.queue_ahead_lots(mine) == 3
        assert live_queue(book, BUY, 99) == [("anon", 3), (1, 2), ("anon", 7)]

    def test_increase_grows_a_live_anonymous_tail(self, book: Checked) -> None:
        """An increase when the level ends in replayed size grows that chunk (one fill, not two)."""
        book.set_anonymous_lots(SELL, 100, 3)
        book.set_anonymous_lots(SELL, 100, 8)
        assert live_queue(book, SELL, 100) == [("anon", 8)]
        assert book.take(BUY, 8)[1] == [("anon", ANONYMOUS, 100, 8)]

    def test_conservative_decrease_comes_from_behind(self, book: Checked) -> None:
        """Under CONSERVATIVE a decrease is taken from the back: the order's size ahead is untouched."""
        book.set_anonymous_lots(SELL, 100, 10)
        mine, _ = book.place(SELL, 100, 5, oid=1)
        book.set_anonymous_lots(SELL, 100, 16)  # 10 ahead, 6 behind
        book.set_anonymous_lots(SELL, 100, 12)
        assert book.queue_ahead_lots(mine) == 10
        assert live_queue(book, SELL, 100) == [("anon", 10), (1, 5), ("anon", 2)]

    def test_conservative_decrease_beyond_the_back_reaches_the_front(self, book: Checked) -> None:
        """Once the size behind is gone, a CONSERVATIVE decrease eats into the size ahead."""
        book.set_anonymous_lots(SELL, 100, 10)
        mine, _ = book.place(SELL, 100, 5, oid=1)
        book.set_anonymous_lots(SELL, 100, 16)
        book.set_anonymous_lots(SELL, 100, 4)
        assert book.queue_ahead_lots(mine) == 4
        assert live_queue(book, SELL, 100) == [("anon", 4), (1, 5)]

    def test_proportional_decrease_advances_the_order(self, prop_book: Checked) -> None:
        """Under PROPORTIONAL each chunk loses floor(decrease * chunk / total), remainder from the back."""
        book = prop_book
        book.set_anonymous_lots(SELL, 100, 10)
        mine, _ = book.place(SELL, 100, 5, oid=1)
        book.set_anonymous_lots(SELL, 100, 16)  # chunks 10 (ahead) and 6 (behind)
        book.set_anonymous_lots(SELL, 100, 12)  # -4: floor(40/16)=2, floor(24/16)=1, remainder 1 from the back
        assert book.queue_ahead_lots(mine) == 8
        assert live_queue(book, SELL, 100) == [("anon", 8), (1, 5), ("anon", 4)]

    def test_proportional_remainder_comes_from_the_back(self, prop_book: Checked) -> None:
        """When every floor share is zero, the whole decrease is taken from the back-most chunks."""
        book = prop_book
        book.set_anonymous_lots(BUY, 99, 3)
        a, _ = book.place(BUY, 99, 1, oid=1)
        book.set_anonymous_lots(BUY, 99, 6)
        b, _ = book.place(BUY, 99, 1, oid=2)
        book.set_anonymous_lots(BUY, 99, 9)  # chunks 3, 3, 3
        book.set_anonymous_lots(BUY, 99, 5)  # -4: shares floor(12/9)=1 each, remainder 1 from the back
        assert live_queue(book, BUY, 99) == [("anon", 2), (1, 1), ("anon", 2), (2, 1), ("anon", 1)]
        assert (book.queue_ahead_lots(a), book.queue_ahead_lots(b)) == (2, 5)

    def test_proportional_to_zero_clears_every_chunk(self, prop_book: Checked) -> None:
        """Setting replayed size to zero removes every anonymous chunk and keeps the orders."""
        book = prop_book
        book.set_anonymous_lots(SELL, 100, 7)
        book.place(SELL, 100, 2, oid=1)
        book.set_anonymous_lots(SELL, 100, 9)
        book.set_anonymous_lots(SELL, 100, 0)
        assert live_queue(book, SELL, 100) == [(1, 2)]

    def test_replayed_trade_ignores_stp(self, book: Checked) -> None:
        """A replayed trade fills identified orders of every account (it is a match by ANONYMOUS)."""
        book.place(BUY, 100, 2, account=ALICE, oid=1)
        book.place(BUY, 100, 2, account=BOB, oid=2)
        assert book.replay_trade(SELL, 3, 100) == (0, [(1, ALICE, 100, 2), (2, BOB, 100, 1)])


# ---------------------------------------------------------------------- lazy levels / compaction
class TestLazyLevels:
    def test_emptied_level_is_kept_lazily_and_reused(self, book: Checked) -> None:
        """An emptied non-best level stays (empty) and comes back to life for the next order there."""
        book.place(BUY, 100, 1, oid=1)
        book.place(BUY, 99, 1, oid=2)
        book.cancel(2)
        assert book.depth(BUY) == [(100, 1)] and book._empty[BUY] == 1
        book.place(BUY, 99, 4, oid=3)
        assert book.depth(BUY) == [(100, 1), (99, 4)] and book._empty[BUY] == 0
        assert book.queue_ahead_lots(book.orders[3]) == 0

    def test_replayed_size_revives_an_empty_level(self, book: Checked) -> None:
        """set_anonymous_lots on a lazily kept empty level brings it back."""
        book.place(SELL, 100, 1, oid=1)
        book.place(SELL, 101, 1, oid=2)
        book.cancel(2)
        book.set_anonymous_lots(SELL, 101, 6)
        assert book.depth(SELL) == [(100, 1), (101, 6)]

    def test_emptied_best_level_is_dropped_with_empties_behind_it(self, book: Checked) -> None:
        """Emptying the best level drops it and every empty level up to the next live one."""
        for i in range(10):
            book.place(SELL, 100 + i, 1, oid=i + 1)
        for oid in (2, 3, 4, 5):  # 101..104 emptied, kept lazily
            book.cancel(oid)
        assert book._empty[SELL] == 4
        book.take(BUY, 1)  # empties 100
        assert book.best_ask() == 105 and book._empty[SELL] == 0
        assert book.depth(SELL, 100) == [(105 + i, 1) for i in range(5)]

    def test_market_order_sweeps_across_empty_levels(self, book: Checked) -> None:
        """Lazily kept empty levels between live ones do not stop or confuse a sweep."""
        for i in range(10):
            book.place(BUY, 100 - i, 1, oid=i + 1)
        for oid in (2, 4, 6, 8):
            book.cancel(oid)
        left, fills = book.take(SELL, 10)
        assert left == 4 and [f[2] for f in fills] == [100, 98, 96, 94, 92, 91]
        assert book.best_bid() is None

    def test_many_empty_levels_are_swept(self, book: Checked) -> None:
        """Over 200 levels emptied worst-first are swept in bulk; depth only ever shows live levels."""
        n = 250
        for i in range(n):
            book.place(SELL, 1000 + i, 1, oid=i + 1)
        assert len(book._keys[SELL]) == n
        swept = False
        for i in reversed(range(1, n)):  # keep the best (oid 1 at 1000)
            book.cancel(i + 1)
            if len(book._keys[SELL]) < n:
                swept = True
            assert book.depth(SELL, 3) == [(1000 + j, 1) for j in range(min(3, i))]
        assert swept
        assert book._empty[SELL] <= 64
        assert book.depth(SELL, n) == [(1000, 1)]
        book.cancel(1)
        assert book.best_ask() is None and book.depth(SELL, n) == [] and len(book._keys[SELL]) == 0

    def test_depth_skips_empty_levels_and_respects_n(self, book: Checked) -> None:
        """depth(n) lists the n best live levels, skipping empty ones in between."""
        for i in range(8):
            book.place(BUY, 100 - i, i + 1, oid=i + 1)
        book.cancel(2)
        book.cancel(3)
        assert book.depth(BUY, 3) == [(100, 1), (97, 4), (96, 5)]
        assert [lv.price_ticks for lv in book.levels(BUY)] == [100, 97, 96, 95, 94, 93]


class TestCompaction:
    def test_many_cancels_inside_one_level_compact_its_queue(self, book: Checked) -> None:
        """Cancelling most orders of a long level drops the dead entries and keeps FIFO order."""
        orders = [book.place(SELL, 100, 1 + i % 3, oid=i + 1)[0] for i in range(120)]
        survivors = [o for i, o in enumerate(orders) if i % 10 == 3]
        for o in orders:
            if o not in survivors:
                book.cancel(o.order_id)
        (lv,) = book.levels(SELL)
        assert lv.count == len(survivors) and len(lv.queue) <= 2 * lv.count + 16
        ahead = 0
        for o in survivors:
            assert book.queue_ahead_lots(o) == ahead
            ahead += o.leaves_lots
        left, fills = book.take(BUY, 1000)
        assert [f[0] for f in fills] == [o.order_id for o in survivors]

    def test_dead_anonymous_chunks_are_compacted(self, book: Checked) -> None:
        """Replayed chunks emptied by decreases leave the queue like cancelled orders do."""
        keep, _ = book.place(BUY, 99, 1, oid=1)
        for i in range(40):
            book.set_anonymous_lots(BUY, 99, 2)  # a fresh chunk behind the previous order
            book.place(BUY, 99, 1, oid=100 + i)
            book.cancel(100 + i)
            book.set_anonymous_lots(BUY, 99, 0)
        (lv,) = book.levels(BUY)
        assert lv.count == 1 and len(lv.queue) <= 2 * lv.count + 16
        assert book.queue_ahead_lots(keep) == 0


# ---------------------------------------------------------------------- regressions
class TestLazyDeletionIsInvisible:
    """Lazy deletion is an implementation detail: what a book does must not depend on it."""

    def test_increase_after_a_cancelled_tail_grows_the_live_anonymous_tail(self, book: Checked) -> None:
        """Replayed size added when the level's last *live* entry is replayed size grows that chunk.

        Regression: set_anonymous_lots used to look at ``queue[-1]``, which may be a cancelled
        order still in the deque (lazy deletion), and append a separate chunk; the taker below
        then got two anonymous fills (5 and 3) where the same book without the dead entry gives one.
        """
        book.set_anonymous_lots(SELL, 100, 5)
        book.place(SELL, 100, 2, oid=1)
        book.cancel(1)  # the level now holds only the replayed 5 (plus a dead entry at the back)
        book.set_anonymous_lots(SELL, 100, 8)
        assert live_queue(book, SELL, 100) == [("anon", 8)]
        assert book.take(BUY, 8)[1] == [("anon", ANONYMOUS, 100, 8)]

    def test_same_live_queue_same_result_whatever_was_compacted(self) -> None:
        """Two books with the same live queue react identically to an increase and a taker.

        Regression (same bug as above): the book whose dead entries had been compacted merged
        the increase into its anonymous tail, the other appended a new chunk, so fills differed.
        """
        results = []
        for cancelled in (1, 18):  # the 18th cancel compacts the level's deque: no dead entry is left
            book = Checked()
            book.set_anonymous_lots(SELL, 100, 5)
            for oid in range(1, cancelled + 1):
                book.place(SELL, 100, 1, oid=oid)
            for oid in range(1, cancelled + 1):
                book.cancel(oid)
            assert live_queue(book, SELL, 100) == [("anon", 5)]
            (lv,) = book.levels(SELL)
            assert len(lv.queue) == (2 if cancelled == 1 else 1)  # with / without the dead entry
            book.set_anonymous_lots(SELL, 100, 8)
            results.append((live_queue(book, SELL, 100), book.take(BUY, 8)[1]))
        assert results[0] == results[1]


class TestStpStateAfterLimit:
    def test_non_crossing_limit_leaves_no_stale_stp_outcome(self, book: Checked) -> None:
        """After a limit that does not cross, stp_expired is empty and taker_stp_expired false.

        Regression: limit() is match() + rest(), but when it did not cross it skipped match()
        and so kept the previous match's STP outcome in both attributes.
        """
        book.place(SELL, 100, 3, account=ALICE, oid=1)
        book.place(SELL, 101, 3, account=ALICE, oid=2)
        book.take(BUY, 5, account=ALICE, stp=STP_EXPIRE_BOTH)
        assert book.taker_stp_expired and len(book.stp_expired) == 1
        order, fills = book.place(BUY, 90, 1, account=ALICE, oid=3, stp=STP_EXPIRE_BOTH)
        assert fills == [] and book.orders[3] is order
        assert book.stp_expired == []
        assert not book.taker_stp_expired
