"""Specification of stop / take-profit orders in the exchange: trigger direction, reference
price (last trade or mark), firing order, cascades, rejects and cancels.

Direction table (``exsim.exchange.triggers``): BUY stop and SELL take-profit fire when the
reference price rises to the trigger (``>=``); SELL stop and BUY take-profit when it falls
to it (``<=``). Fired orders enter the book in submission order (ascending id), each
``OrderTriggered`` immediately followed by what its order did.
"""

from __future__ import annotations

import pytest

from exsim.book.orders import (
    FOK,
    GTC,
    IOC,
    STOP_LIMIT,
    STOP_MARKET,
    TAKE_PROFIT_LIMIT,
    TAKE_PROFIT_MARKET,
    TRIGGER_LAST,
    TRIGGER_MARK,
    Order,
)
from exsim.exchange import (
    BookDelta,
    Fill,
    MarkPriceUpdated,
    OrderAccepted,
    OrderCancelled,
    OrderExpired,
    OrderRejected,
    OrderTriggered,
    RejectReason,
)
from exsim.exchange.triggers import StopOrder

from .harness import ALICE, BOB, BTC, BUY, CAROL, DAVE, SELL, SYM, Harness, P, maker_fee, taker_fee


def sub(ticks: int) -> int:
    """A tick price in subticks: the unit of an OrderTriggered's reference price."""
    return ticks * BTC.subticks_per_tick


@pytest.fixture
def h() -> Harness:
    """An exchange whose last price is P (a replayed print into an empty book)."""
    h = Harness(BTC)
    assert h.tape(BUY, P, 1) == []
    assert h.ex.last_price(SYM) == P
    return h


def stop_accepted(t: int, oid: int, acct: int, side: int, qty: int, otype: int, trigger: int, px: int = 0,
                  tif: int = GTC) -> OrderAccepted:
    return OrderAccepted(t, SYM, oid, acct, None, side, otype, tif, px, qty, trigger)


class TestStopMarketByLast:
    def test_buy_stop_waits_outside_the_book(self, h: Harness) -> None:
        """An accepted stop order emits no BookDelta and waits in the trigger index, not the book."""
        ev = h.new(ALICE, BUY, 6, order_type=STOP_MARKET, trigger=P + 10)
        assert ev == [stop_accepted(h.ts, 1, ALICE, BUY, 6, STOP_MARKET, P + 10)]
        assert len(h.ex.book(SYM)) == 0 and isinstance(h.ex.open_order(SYM, 1), StopOrder)

    def test_buy_stop_fires_when_a_trade_reaches_the_trigger(self, h: Harness) -> None:
        """A BUY stop-market fires on the trade that lifts last to its trigger, then takes the asks."""
        h.new(BOB, SELL, 4, P + 10)  # 1
        h.new(BOB, SELL, 5, P + 20)  # 2
        h.new(ALICE, BUY, 6, order_type=STOP_MARKET, trigger=P + 10)  # 3
        h.new(DAVE, BUY, 2, P + 9, tif=IOC)  # 4: no trade, last stays P
        assert isinstance(h.ex.open_order(SYM, 3), StopOrder)
        ev = h.new(DAVE, BUY, 2, P + 10, tif=IOC)  # 5: trades at P + 10
        t = h.ts
        assert ev == [
            OrderAccepted(t, SYM, 5, DAVE, None, BUY, 0, IOC, P + 10, 2, 0),
            Fill(t, SYM, 1, P + 10, 2, BUY, 5, DAVE, 0, taker_fee(P + 10, 2), 1, BOB, 2, maker_fee(P + 10, 2)),
            BookDelta(t, SYM, SELL, P + 10, 2),
            OrderTriggered(t, SYM, 3, ALICE, P + 10, sub(P + 10), TRIGGER_LAST),
            Fill(t, SYM, 2, P + 10, 2, BUY, 3, ALICE, 4, taker_fee(P + 10, 2), 1, BOB, 0, maker_fee(P + 10, 2)),
            Fill(t, SYM, 3, P + 20, 4, BUY, 3, ALICE, 0, taker_fee(P + 20, 4), 2, BOB, 1, maker_fee(P + 20, 4)),
            BookDelta(t, SYM, SELL, P + 10, 0),
            BookDelta(t, SYM, SELL, P + 20, 1),
        ]
        assert h.ex.open_order(SYM, 3) is None and h.ex.last_price(SYM) == P + 20

    def test_sell_stop_fires_when_a_trade_falls_to_the_trigger(self, h: Harness) -> None:
        """A SELL stop-market fires on the trade that drops last to its trigger, then hits the bids."""
        h.new(BOB, BUY, 5, P - 10)  # 1
        h.new(ALICE, SELL, 3, order_type=STOP_MARKET, trigger=P - 10)  # 2
        ev = h.new(CAROL, SELL, 2, P - 10)  # 3
        t = h.ts
        assert ev == [
            OrderAccepted(t, SYM, 3, CAROL, None, SELL, 0, GTC, P - 10, 2, 0),
            Fill(t, SYM, 1, P - 10, 2, SELL, 3, CAROL, 0, taker_fee(P - 10, 2), 1, BOB, 3, maker_fee(P - 10, 2)),
            BookDelta(t, SYM, BUY, P - 10, 3),
            OrderTriggered(t, SYM, 2, ALICE, P - 10, sub(P - 10), TRIGGER_LAST),
            Fill(t, SYM, 2, P - 10, 3, SELL, 2, ALICE, 0, taker_fee(P - 10, 3), 1, BOB, 0, maker_fee(P - 10, 3)),
            BookDelta(t, SYM, BUY, P - 10, 0),
        ]

    def test_sell_stop_ignores_a_rise(self, h: Harness) -> None:
        """A SELL stop does not fire when last moves away from its trigger."""
        h.new(ALICE, SELL, 3, order_type=STOP_MARKET, trigger=P - 10)
        assert h.tape(BUY, P + 50, 1) == []
        assert isinstance(h.ex.open_order(SYM, 1), StopOrder)

    def test_fired_stop_market_into_empty_book_expires_no_liquidity(self, h: Harness) -> None:
        """A fired stop-market that finds no liquidity expires whole with reason NO_LIQUIDITY."""
        h.new(ALICE, BUY, 3, order_type=STOP_MARKET, trigger=P + 10)
        ev = h.tape(BUY, P + 10, 1)
        t = h.ts
        assert ev == [
            OrderTriggered(t, SYM, 1, ALICE, P + 10, sub(P + 10), TRIGGER_LAST),
            OrderExpired(t, SYM, 1, ALICE, 3, "NO_LIQUIDITY"),
        ]
        assert h.ex.open_order(SYM, 1) is None


class TestTakeProfitByLast:
    def test_buy_take_profit_fires_on_a_fall(self, h: Harness) -> None:
        """A BUY take-profit fires when last falls to its trigger (and not on a rise)."""
        h.new(BOB, SELL, 4, P + 30)  # 1: liquidity for the fired order
        h.new(ALICE, BUY, 2, order_type=TAKE_PROFIT_MARKET, trigger=P - 10)  # 2
        assert h.tape(BUY, P + 5, 1) == []
        ev = h.tape(SELL, P - 10, 1)
        t = h.ts
        assert ev == [
            OrderTriggered(t, SYM, 2, ALICE, P - 10, sub(P - 10), TRIGGER_LAST),
            Fill(t, SYM, 1, P + 30, 2, BUY, 2, ALICE, 0, taker_fee(P + 30, 2), 1, BOB, 2, maker_fee(P + 30, 2)),
            BookDelta(t, SYM, SELL, P + 30, 2),
        ]

    def test_sell_take_profit_fires_on_a_rise(self, h: Harness) -> None:
        """A SELL take-profit fires when last rises to its trigger (and not on a fall)."""
        h.new(BOB, BUY, 4, P - 30)  # 1
        h.new(ALICE, SELL, 2, order_type=TAKE_PROFIT_MARKET, trigger=P + 10)  # 2
        assert h.tape(SELL, P - 5, 1) == []
        ev = h.tape(BUY, P + 12, 1)  # a print through the trigger fires it too
        t = h.ts
        assert ev == [
            OrderTriggered(t, SYM, 2, ALICE, P + 10, sub(P + 12), TRIGGER_LAST),
            Fill(t, SYM, 1, P - 30, 2, SELL, 2, ALICE, 0, taker_fee(P - 30, 2), 1, BOB, 2, maker_fee(P - 30, 2)),
            BookDelta(t, SYM, BUY, P - 30, 2),
        ]

    def test_take_profit_limit_rests_at_its_price(self, h: Harness) -> None:
        """A fired take-profit-limit that does not cross rests at its limit price as a GTC order."""
        h.new(ALICE, SELL, 2, P + 15, order_type=TAKE_PROFIT_LIMIT, trigger=P + 10)
        ev = h.tape(BUY, P + 10, 1)
        assert ev == [
            OrderTriggered(h.ts, SYM, 1, ALICE, P + 10, sub(P + 10), TRIGGER_LAST),
            BookDelta(h.ts, SYM, SELL, P + 15, 2),
        ]
        assert h.queue(SELL, P + 15) == [(1, 2)]


class TestFiringOrder:
    def test_orders_fired_together_execute_in_submission_order(self, h: Harness) -> None:
        """Orders fired by one print run in ascending order id, each trigger event followed by its fills."""
        h.new(CAROL, SELL, 2, P + 20)  # 1
        h.new(CAROL, SELL, 2, P + 30)  # 2
        h.new(ALICE, BUY, 2, order_type=STOP_MARKET, trigger=P + 10)  # 3: the higher trigger, the lower id
        h.new(BOB, BUY, 2, order_type=STOP_MARKET, trigger=P + 5)  # 4: the lower trigger, the higher id
        ev = h.tape(BUY, P + 10, 1)
        t = h.ts
        assert ev == [
            OrderTriggered(t, SYM, 3, ALICE, P + 10, sub(P + 10), TRIGGER_LAST),
            Fill(t, SYM, 1, P + 20, 2, BUY, 3, ALICE, 0, taker_fee(P + 20, 2), 1, CAROL, 0, maker_fee(P + 20, 2)),
            BookDelta(t, SYM, SELL, P + 20, 0),
            OrderTriggered(t, SYM, 4, BOB, P + 5, sub(P + 10), TRIGGER_LAST),
            Fill(t, SYM, 2, P + 30, 2, BUY, 4, BOB, 0, taker_fee(P + 30, 2), 2, CAROL, 0, maker_fee(P + 30, 2)),
            BookDelta(t, SYM, SELL, P + 30, 0),
        ]

    def test_cascade_one_fired_stop_fires_another(self, h: Harness) -> None:
        """A fired stop's own trades move last through a second stop's trigger, which then fires too."""
        h.new(BOB, BUY, 2, P - 10)  # 1
        h.new(BOB, BUY, 4, P - 30)  # 2
        h.new(ALICE, SELL, 3, order_type=STOP_MARKET, trigger=P - 5)  # 3
        h.new(DAVE, SELL, 3, order_type=STOP_MARKET, trigger=P - 20)  # 4
        ev = h.tape(SELL, P - 5, 1)  # no bid at or above P - 5: nothing trades, last = P - 5
        t = h.ts
        assert ev == [
            OrderTriggered(t, SYM, 3, ALICE, P - 5, sub(P - 5), TRIGGER_LAST),
            Fill(t, SYM, 1, P - 10, 2, SELL, 3, ALICE, 1, taker_fee(P - 10, 2), 1, BOB, 0, maker_fee(P - 10, 2)),
            Fill(t, SYM, 2, P - 30, 1, SELL, 3, ALICE, 0, taker_fee(P - 30, 1), 2, BOB, 3, maker_fee(P - 30, 1)),
            BookDelta(t, SYM, BUY, P - 10, 0),
            BookDelta(t, SYM, BUY, P - 30, 3),
            OrderTriggered(t, SYM, 4, DAVE, P - 20, sub(P - 30), TRIGGER_LAST),
            Fill(t, SYM, 3, P - 30, 3, SELL, 4, DAVE, 0, taker_fee(P - 30, 3), 2, BOB, 0, maker_fee(P - 30, 3)),
            BookDelta(t, SYM, BUY, P - 30, 0),
        ]
        assert len(h.ex.markets[SYM].triggers) == 0 and h.ex.last_price(SYM) == P - 30

    def test_stop_triggered_by_an_amend_that_trades(self, h: Harness) -> None:
        """An amend that trades moves last and fires the stops it crosses, in the same command."""
        h.new(BOB, SELL, 2, P + 10)  # 1
        h.new(BOB, SELL, 2, P + 20)  # 2
        h.new(CAROL, BUY, 2, P - 10)  # 3
        h.new(ALICE, BUY, 2, order_type=STOP_MARKET, trigger=P + 10)  # 4
        ev = h.amend(CAROL, 3, P + 10, 2)
        t = h.ts
        assert [type(e).__name__ for e in ev] == [
            "OrderAmended", "BookDelta", "Fill", "BookDelta", "OrderTriggered", "Fill", "BookDelta",
        ]
        assert ev[4] == OrderTriggered(t, SYM, 4, ALICE, P + 10, sub(P + 10), TRIGGER_LAST)
        assert ev[5] == Fill(t, SYM, 2, P + 20, 2, BUY, 4, ALICE, 0, taker_fee(P + 20, 2), 2, BOB, 0, maker_fee(P + 20, 2))


class TestStopLimit:
    def test_stop_limit_rests_after_trigger(self, h: Harness) -> None:
        """A fired BUY stop-limit whose price does not cross rests in the book at its limit price."""
        ev = h.new(ALICE, BUY, 3, P + 5, order_type=STOP_LIMIT, trigger=P + 10)
        assert ev == [stop_accepted(h.ts, 1, ALICE, BUY, 3, STOP_LIMIT, P + 10, px=P + 5)]
        ev = h.tape(BUY, P + 10, 1)
        assert ev == [
            OrderTriggered(h.ts, SYM, 1, ALICE, P + 10, sub(P + 10), TRIGGER_LAST),
            BookDelta(h.ts, SYM, BUY, P + 5, 3),
        ]
        rested = h.ex.open_order(SYM, 1)
        assert isinstance(rested, Order) and (rested.price_ticks, rested.leaves_lots) == (P + 5, 3)

    def test_stop_limit_that_crosses_after_trigger_trades_then_rests(self, h: Harness) -> None:
        """A fired stop-limit takes the liquidity its price reaches and rests the remainder."""
        h.new(BOB, SELL, 2, P + 12)  # 1
        h.new(BOB, SELL, 2, P + 20)  # 2
        h.new(ALICE, BUY, 5, P + 15, order_type=STOP_LIMIT, trigger=P + 10)  # 3
        ev = h.tape(BUY, P + 10, 1)
        t = h.ts
        assert ev == [
            OrderTriggered(t, SYM, 3, ALICE, P + 10, sub(P + 10), TRIGGER_LAST),
            Fill(t, SYM, 1, P + 12, 2, BUY, 3, ALICE, 3, taker_fee(P + 12, 2), 1, BOB, 0, maker_fee(P + 12, 2)),
            BookDelta(t, SYM, SELL, P + 12, 0),
            BookDelta(t, SYM, BUY, P + 15, 3),
        ]

    def test_stop_limit_keeps_its_time_in_force_ioc(self, h: Harness) -> None:
        """A fired IOC stop-limit that cannot trade expires (IOC) instead of resting as GTC."""
        ev = h.new(ALICE, BUY, 3, P - 5, order_type=STOP_LIMIT, tif=IOC, trigger=P + 10)
        assert ev == [stop_accepted(h.ts, 1, ALICE, BUY, 3, STOP_LIMIT, P + 10, px=P - 5, tif=IOC)]
        ev = h.tape(BUY, P + 10, 1)
        assert ev == [
            OrderTriggered(h.ts, SYM, 1, ALICE, P + 10, sub(P + 10), TRIGGER_LAST),
            OrderExpired(h.ts, SYM, 1, ALICE, 3, "IOC"),
        ]
        assert h.depth(BUY) == []

    def test_stop_market_keeps_its_time_in_force_fok(self, h: Harness) -> None:
        """A fired FOK stop-market that cannot fill completely expires (FOK) without trading."""
        h.new(BOB, SELL, 2, P + 20)  # 1: 2 of the 3 lots it wants
        h.new(ALICE, BUY, 3, order_type=STOP_MARKET, tif=FOK, trigger=P + 10)  # 2
        ev = h.tape(BUY, P + 10, 1)
        assert ev == [
            OrderTriggered(h.ts, SYM, 2, ALICE, P + 10, sub(P + 10), TRIGGER_LAST),
            OrderExpired(h.ts, SYM, 2, ALICE, 3, "FOK"),
        ]
        assert h.depth(SELL) == [(P + 20, 2)]


class TestMarkTriggers:
    def test_mark_fires_mark_orders_only(self, h: Harness) -> None:
        """SetMarkPrice fires orders triggered by mark; an order watching last at the same trigger waits."""
        h.mark(P)
        h.new(ALICE, SELL, 2, P - 5, order_type=STOP_LIMIT, trigger=P - 10, trigger_by=TRIGGER_MARK)  # 1
        h.new(BOB, SELL, 2, P - 5, order_type=STOP_LIMIT, trigger=P - 10, trigger_by=TRIGGER_LAST)  # 2
        ev = h.mark(P - 10)
        t = h.ts
        assert ev == [
            MarkPriceUpdated(t, SYM, sub(P - 10)),
            OrderTriggered(t, SYM, 1, ALICE, P - 10, sub(P - 10), TRIGGER_MARK),
            BookDelta(t, SYM, SELL, P - 5, 2),
        ]
        assert isinstance(h.ex.open_order(SYM, 2), StopOrder)
        ev = h.tape(SELL, P - 10, 1)  # nothing to hit (no bids); last = P - 10 fires BOB's
        assert ev == [
            OrderTriggered(h.ts, SYM, 2, BOB, P - 10, sub(P - 10), TRIGGER_LAST),
            BookDelta(h.ts, SYM, SELL, P - 5, 4),
        ]

    def test_last_does_not_fire_mark_orders(self, h: Harness) -> None:
        """A trade through a mark-triggered order's trigger leaves it waiting; only the mark fires it."""
        h.mark(P)
        h.new(ALICE, BUY, 2, P - 50, order_type=STOP_LIMIT, trigger=P + 10, trigger_by=TRIGGER_MARK)
        assert h.tape(BUY, P + 20, 1) == []
        assert isinstance(h.ex.open_order(SYM, 1), StopOrder)
        assert h.mark(P + 9) == [MarkPriceUpdated(h.ts, SYM, sub(P + 9))]
        assert h.mark(P + 11)[1] == OrderTriggered(h.ts, SYM, 1, ALICE, P + 10, sub(P + 11), TRIGGER_MARK)

    def test_mark_fired_order_trades_fire_last_orders(self, h: Harness) -> None:
        """Trades of an order the mark fired move last and fire last-triggered orders in the same command."""
        h.mark(P)
        h.new(BOB, BUY, 2, P - 20)  # 1
        h.new(BOB, BUY, 2, P - 30)  # 2
        h.new(ALICE, SELL, 2, order_type=STOP_MARKET, trigger=P - 10, trigger_by=TRIGGER_MARK)  # 3
        h.new(CAROL, SELL, 2, order_type=STOP_MARKET, trigger=P - 15, trigger_by=TRIGGER_LAST)  # 4
        ev = h.mark(P - 10)
        t = h.ts
        assert ev == [
            MarkPriceUpdated(t, SYM, sub(P - 10)),
            OrderTriggered(t, SYM, 3, ALICE, P - 10, sub(P - 10), TRIGGER_MARK),
            Fill(t, SYM, 1, P - 20, 2, SELL, 3, ALICE, 0, taker_fee(P - 20, 2), 1, BOB, 0, maker_fee(P - 20, 2)),
            BookDelta(t, SYM, BUY, P - 20, 0),
            OrderTriggered(t, SYM, 4, CAROL, P - 15, sub(P - 20), TRIGGER_LAST),
            Fill(t, SYM, 2, P - 30, 2, SELL, 4, CAROL, 0, taker_fee(P - 30, 2), 2, BOB, 0, maker_fee(P - 30, 2)),
            BookDelta(t, SYM, BUY, P - 30, 0),
        ]

    def test_mark_orders_wait_until_a_first_mark(self) -> None:
        """Without any mark yet, a mark-triggered order is accepted whatever its trigger and waits."""
        h = Harness(BTC)
        assert h.new(ALICE, BUY, 2, order_type=STOP_MARKET, trigger=1, trigger_by=TRIGGER_MARK)[0].order_id == 1
        assert h.mark(P) == [
            MarkPriceUpdated(h.ts, SYM, sub(P)),
            OrderTriggered(h.ts, SYM, 1, ALICE, 1, sub(P), TRIGGER_MARK),
            OrderExpired(h.ts, SYM, 1, ALICE, 2, "NO_LIQUIDITY"),
        ]

    def test_bad_mark_price_is_an_error(self, h: Harness) -> None:
        """A non-positive mark price or an unknown symbol breaks the input contract: ValueError."""
        with pytest.raises(ValueError):
            h.mark(0)
        with pytest.raises(ValueError, match="FOOUSDT"):
            h.mark_subticks(sub(P), symbol="FOOUSDT")


class TestTriggerRejects:
    @pytest.mark.parametrize(
        "side, otype, trigger",
        [
            (BUY, STOP_MARKET, P),  # fires at >= P
            (BUY, STOP_MARKET, P - 1),
            (SELL, STOP_MARKET, P),  # fires at <= P
            (SELL, STOP_LIMIT, P + 1),
            (BUY, TAKE_PROFIT_MARKET, P),  # fires at <= P
            (BUY, TAKE_PROFIT_LIMIT, P + 1),
            (SELL, TAKE_PROFIT_MARKET, P),  # fires at >= P
            (SELL, TAKE_PROFIT_MARKET, P - 1),
        ],
    )
    def test_would_immediately_trigger_by_last(self, h: Harness, side: int, otype: int, trigger: int) -> None:
        """A trigger the last price has already reached is rejected WOULD_IMMEDIATELY_TRIGGER; no id is used."""
        px = P if otype in (STOP_LIMIT, TAKE_PROFIT_LIMIT) else 0
        ev = h.new(ALICE, side, 2, px, order_type=otype, trigger=trigger, coid="s")
        assert ev == [OrderRejected(h.ts, SYM, ALICE, "s", 0, RejectReason.WOULD_IMMEDIATELY_TRIGGER)]
        assert h.ex.next_order_id == 1

    @pytest.mark.parametrize(
        "side, otype, trigger",
        [
            (BUY, STOP_MARKET, P + 1),
            (SELL, STOP_MARKET, P - 1),
            (BUY, TAKE_PROFIT_MARKET, P - 1),
            (SELL, TAKE_PROFIT_MARKET, P + 1),
        ],
    )
    def test_one_tick_away_is_accepted(self, h: Harness, side: int, otype: int, trigger: int) -> None:
        """A trigger one tick on the not-yet-reached side of last is accepted."""
        assert h.new(ALICE, side, 2, order_type=otype, trigger=trigger)[0].order_id == 1

    def test_would_immediately_trigger_by_mark(self, h: Harness) -> None:
        """A mark-triggered order is checked against the mark, not the last price."""
        h.mark(P + 100)
        ev = h.new(ALICE, BUY, 2, order_type=STOP_MARKET, trigger=P + 50, trigger_by=TRIGGER_MARK)
        assert ev == [OrderRejected(h.ts, SYM, ALICE, None, 0, RejectReason.WOULD_IMMEDIATELY_TRIGGER)]
        # the same trigger by last (P) is fine
        assert h.new(ALICE, BUY, 2, order_type=STOP_MARKET, trigger=P + 50)[0].order_id == 1


class TestCancelStop:
    def test_cancel_waiting_stop(self, h: Harness) -> None:
        """Cancelling a waiting stop reports its whole size (USER), no BookDelta; it never fires afterwards."""
        h.new(BOB, SELL, 4, P + 20)
        h.new(ALICE, BUY, 3, order_type=STOP_MARKET, trigger=P + 10, coid="s")
        assert h.cancel(ALICE, 2) == [OrderCancelled(h.ts, SYM, 2, ALICE, 3, "USER")]
        assert h.tape(BUY, P + 10, 1) == []
        assert h.depth(SELL) == [(P + 20, 4)]
        assert h.new(ALICE, BUY, 3, order_type=STOP_MARKET, trigger=P + 30, coid="s")[0].order_id == 3

    def test_cancel_other_accounts_stop(self, h: Harness) -> None:
        """Another account cannot cancel a waiting stop: UNKNOWN_ORDER, it keeps waiting."""
        h.new(ALICE, BUY, 3, order_type=STOP_MARKET, trigger=P + 10)
        assert h.cancel(BOB, 1) == [OrderRejected(h.ts, SYM, BOB, None, 1, RejectReason.UNKNOWN_ORDER)]
        assert isinstance(h.ex.open_order(SYM, 1), StopOrder)

    def test_client_id_of_a_waiting_stop_is_taken(self, h: Harness) -> None:
        """A waiting stop holds its client id until it fires and finishes."""
        h.new(ALICE, BUY, 3, order_type=STOP_MARKET, trigger=P + 10, coid="s")
        assert h.new(ALICE, BUY, 3, P - 10, coid="s")[0].reason == RejectReason.DUPLICATE_CLIENT_ORDER_ID
        h.tape(BUY, P + 10, 1)  # fires into an empty book: expires
        assert h.new(ALICE, BUY, 3, P - 10, coid="s")[0].order_id == 2


class TestTriggersFromReplayedData:
    def test_replayed_trade_fires_stops(self, h: Harness) -> None:
        """A replayed print sets last and fires the stops it reaches even when nothing matched."""
        h.new(ALICE, SELL, 2, P + 5, order_type=STOP_LIMIT, trigger=P - 10)
        ev = h.tape(SELL, P - 10, 1)
        assert ev == [OrderTriggered(h.ts, SYM, 1, ALICE, P - 10, sub(P - 10), TRIGGER_LAST), BookDelta(h.ts, SYM, SELL, P + 5, 2)]

    def test_replayed_level_that_trades_fires_stops(self, h: Harness) -> None:
        """A crossing SetReplayedLevel that trades with a simulated order moves last and fires the stops it reaches."""
        h.new(ALICE, SELL, 2, P + 10)  # 1: in the way of the replayed bid
        h.new(CAROL, SELL, 5, P + 20)  # 2: liquidity for the stop
        h.new(BOB, BUY, 2, order_type=STOP_MARKET, trigger=P + 10)  # 3
        ev = h.level(BUY, P + 10, 2)
        t = h.ts
        assert ev == [
            Fill(t, SYM, 1, P + 10, 2, BUY, 0, 0, 0, 0, 1, ALICE, 0, maker_fee(P + 10, 2)),
            BookDelta(t, SYM, SELL, P + 10, 0),
            BookDelta(t, SYM, BUY, P + 10, 0),
            OrderTriggered(t, SYM, 3, BOB, P + 10, sub(P + 10), TRIGGER_LAST),
            Fill(t, SYM, 2, P + 20, 2, BUY, 3, BOB, 0, taker_fee(P + 20, 2), 2, CAROL, 3, maker_fee(P + 20, 2)),
            BookDelta(t, SYM, SELL, P + 20, 3),
        ]
