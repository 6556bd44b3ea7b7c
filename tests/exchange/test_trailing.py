"""Specification of trailing stop orders (TRAILING_STOP_MARKET, Binance USDⓈ-M rules).

A SELL trailing stop follows the highest price since it was placed and fires when the
price falls back to that high × (1 − callback rate) (or the high less ``callback_ticks``);
a BUY one follows the lowest price and fires at low × (1 + rate). Prices here are BTCUSDT
ticks of 0.1 USDT: 500_000 is 50,000.0.
"""

from __future__ import annotations

from typing import Any

from exsim.book.orders import STOP_MARKET, TRAILING_STOP_MARKET, TRIGGER_LAST, TRIGGER_MARK
from exsim.exchange import NewOrder, OrderAccepted, OrderCancelled, OrderRejected, OrderTriggered, RejectReason

from .harness import ALICE, BTC, BUY, SELL, SYM, Harness

HIGH = 500_000  # 50,000.0
ONE_PCT = 1_000_000  # Binance callbackRate 1 (%), in parts per 1e8


def sub(ticks: int) -> int:
    return ticks * BTC.subticks_per_tick


def trail(h: Harness, side: int, *, rate: int = 0, ticks: int = 0, act: int = 0, by: int = TRIGGER_LAST,
          qty: int = 2, order_type: int = TRAILING_STOP_MARKET) -> list[Any]:
    return h.submit(NewOrder(0, ALICE, SYM, side, qty, 0, order_type, trigger_price_ticks=act, trigger_by=by,
                             callback_rate_e8=rate, callback_ticks=ticks))


def triggered(events: list[Any]) -> list[OrderTriggered]:
    return [e for e in events if type(e) is OrderTriggered]


def reasons(events: list[Any]) -> list[str]:
    return [e.reason for e in events if type(e) is OrderRejected]


def at(price: int) -> Harness:
    """An exchange whose last price is ``price``."""
    h = Harness(BTC)
    h.tape(BUY, price, 1)
    return h


class TestByRate:
    def test_sell_fires_one_percent_under_the_high(self) -> None:
        """A SELL 1 % trailing stop placed at 50,000.0 fires at 49,500.0 and not at 49,500.1."""
        h = at(HIGH)
        trail(h, SELL, rate=ONE_PCT)
        assert triggered(h.tape(SELL, 495_001, 1)) == []
        (t,) = triggered(h.tape(SELL, 495_000, 1))
        assert (t.order_id, t.trigger_price_ticks, t.reference_price_subticks, t.trigger_by) == (
            1, 495_000, sub(495_000), TRIGGER_LAST
        )

    def test_sell_level_follows_a_new_high(self) -> None:
        """After a high of 51,000.0 the 1 % SELL level is 50,490.0: 50,490.1 does not fire, 50,490.0 does."""
        h = at(HIGH)
        trail(h, SELL, rate=ONE_PCT)
        h.tape(BUY, 510_000, 1)
        assert triggered(h.tape(SELL, 504_901, 1)) == []
        (t,) = triggered(h.tape(SELL, 504_900, 1))
        assert t.trigger_price_ticks == 504_900

    def test_buy_fires_one_percent_above_the_low(self) -> None:
        """A BUY 1 % trailing stop placed at 50,000.0 fires at 50,500.0 and not at 50,499.9."""
        h = at(HIGH)
        trail(h, BUY, rate=ONE_PCT)
        assert triggered(h.tape(BUY, 504_999, 1)) == []
        (t,) = triggered(h.tape(BUY, 505_000, 1))
        assert t.trigger_price_ticks == 505_000

    def test_level_off_the_grid_is_compared_exactly(self) -> None:
        """From a high of 50,000.1 the 1 % level is 49,500.099: 49,500.1 does not fire, 49,500.0 does
        (and is the trigger price reported, the level rounded down to the tick for a SELL)."""
        h = at(500_001)
        trail(h, SELL, rate=ONE_PCT)
        assert triggered(h.tape(SELL, 495_001, 1)) == []
        (t,) = triggered(h.tape(SELL, 495_000, 1))
        assert t.trigger_price_ticks == 495_000

    def test_buy_level_off_the_grid_rounds_up(self) -> None:
        """From a low of 50,000.1 the 1 % BUY level is 50,500.101: 50,500.1 does not fire, 50,500.2 does."""
        h = at(500_001)
        trail(h, BUY, rate=ONE_PCT)
        assert triggered(h.tape(BUY, 505_001, 1)) == []
        (t,) = triggered(h.tape(BUY, 505_002, 1))
        assert t.trigger_price_ticks == 505_002


class TestByTicks:
    def test_sell_fires_a_price_distance_under_the_high(self) -> None:
        """A SELL stop trailing by 100 ticks (10.0) from 50,000.0 fires at 49,990.0, not 49,990.1."""
        h = at(HIGH)
        trail(h, SELL, ticks=100)
        assert triggered(h.tape(SELL, 499_901, 1)) == []
        (t,) = triggered(h.tape(SELL, 499_900, 1))
        assert t.trigger_price_ticks == 499_900

    def test_buy_fires_a_price_distance_above_a_new_low(self) -> None:
        """A BUY stop trailing by 100 ticks follows the low down to 49,000.0 and fires at 49,010.0."""
        h = at(HIGH)
        trail(h, BUY, ticks=100)
        h.tape(SELL, 490_000, 1)
        assert triggered(h.tape(BUY, 490_099, 1)) == []
        (t,) = triggered(h.tape(BUY, 490_100, 1))
        assert t.trigger_price_ticks == 490_100


class TestActivation:
    def test_not_reached_never_fires(self) -> None:
        """A SELL trailing stop activating at 52,000.0 never fires while the high stays below it."""
        h = at(HIGH)
        trail(h, SELL, rate=ONE_PCT, act=520_000)
        for px in (510_000, 519_999, 480_000, 400_000):
            assert triggered(h.tape(SELL, px, 1)) == []
        assert h.ex.open_order(SYM, 1) is not None

    def test_trails_from_the_activation_on(self) -> None:
        """Activated at 51,000.0, then a high of 51,200.0: it fires at 51,200.0 × 0.99 = 50,688.0."""
        h = at(HIGH)
        trail(h, SELL, rate=ONE_PCT, act=510_000)
        h.tape(BUY, 510_000, 1)
        h.tape(BUY, 512_000, 1)
        assert triggered(h.tape(SELL, 506_881, 1)) == []
        (t,) = triggered(h.tape(SELL, 506_880, 1))
        assert t.trigger_price_ticks == 506_880

    def test_sell_activation_at_or_under_the_price_is_refused(self) -> None:
        """A SELL's activation price must be above the latest price (Binance -2021)."""
        h = at(HIGH)
        assert reasons(trail(h, SELL, rate=ONE_PCT, act=HIGH)) == [RejectReason.WOULD_IMMEDIATELY_TRIGGER]
        assert reasons(trail(h, SELL, rate=ONE_PCT, act=HIGH - 1)) == [RejectReason.WOULD_IMMEDIATELY_TRIGGER]

    def test_buy_activation_at_or_above_the_price_is_refused(self) -> None:
        """A BUY's activation price must be below the latest price (Binance -2021)."""
        h = at(HIGH)
        assert reasons(trail(h, BUY, rate=ONE_PCT, act=HIGH)) == [RejectReason.WOULD_IMMEDIATELY_TRIGGER]

    def test_default_activation_waits_for_a_first_price(self) -> None:
        """With no price yet, a default activation starts trailing at the first trade."""
        h = Harness(BTC)
        trail(h, BUY, ticks=10)
        h.tape(SELL, HIGH, 1)
        assert triggered(h.tape(BUY, HIGH + 9, 1)) == []
        assert len(triggered(h.tape(BUY, HIGH + 10, 1))) == 1

    def test_accepted_reports_the_activation_price_given(self) -> None:
        """OrderAccepted carries the activation price as given (0: the current price)."""
        h = at(HIGH)
        (acc,) = [e for e in trail(h, SELL, rate=ONE_PCT, act=510_000) if type(e) is OrderAccepted]
        assert (acc.order_type, acc.trigger_price_ticks, acc.price_ticks) == (TRAILING_STOP_MARKET, 510_000, 0)


class TestReference:
    def test_by_mark_ignores_trades(self) -> None:
        """A mark-triggered trailing stop is not moved or fired by trades."""
        h = at(HIGH)
        h.mark(HIGH)
        trail(h, SELL, rate=ONE_PCT, by=TRIGGER_MARK)
        assert triggered(h.tape(SELL, 400_000, 1)) == []
        assert h.ex.open_order(SYM, 1) is not None

    def test_by_mark_compares_the_fine_mark_exactly(self) -> None:
        """From a mark high of 50,000.0, a mark of 49,500.00000001 does not fire; 49,500.0 does."""
        h = at(HIGH)
        h.mark(HIGH)
        trail(h, SELL, rate=ONE_PCT, by=TRIGGER_MARK)
        assert triggered(h.mark_subticks(sub(495_000) + 1)) == []
        (t,) = triggered(h.mark(495_000))
        assert (t.trigger_by, t.reference_price_subticks, t.trigger_price_ticks) == (TRIGGER_MARK, sub(495_000), 495_000)

    def test_by_last_ignores_marks(self) -> None:
        """A last-triggered trailing stop is not fired by the mark."""
        h = at(HIGH)
        trail(h, SELL, rate=ONE_PCT)
        assert triggered(h.mark(400_000)) == []


class TestRefusals:
    def test_rate_below_a_tenth_of_a_percent(self) -> None:
        """callbackRate below 0.1 % is refused."""
        assert reasons(trail(at(HIGH), SELL, rate=99_999)) == [RejectReason.INVALID_CALLBACK]

    def test_rate_above_ten_percent(self) -> None:
        """callbackRate above 10 % is refused; 10 % itself is accepted."""
        h = at(HIGH)
        assert reasons(trail(h, SELL, rate=10_000_001)) == [RejectReason.INVALID_CALLBACK]
        assert reasons(trail(h, SELL, rate=10_000_000)) == []

    def test_exactly_one_callback(self) -> None:
        """Both a rate and ticks, or neither, is refused."""
        h = at(HIGH)
        assert reasons(trail(h, SELL, rate=ONE_PCT, ticks=10)) == [RejectReason.INVALID_CALLBACK]
        assert reasons(trail(h, SELL)) == [RejectReason.INVALID_CALLBACK]

    def test_callback_on_another_type(self) -> None:
        """A callback on a plain stop order is refused."""
        h = at(HIGH)
        events = h.submit(NewOrder(0, ALICE, SYM, SELL, 2, 0, STOP_MARKET, trigger_price_ticks=490_000,
                                   callback_rate_e8=ONE_PCT))
        assert reasons(events) == [RejectReason.INVALID_CALLBACK]


class TestCancel:
    def test_cancelled_trailing_stop_never_fires(self) -> None:
        """A cancelled trailing stop leaves the exchange and a later drop fires nothing."""
        h = at(HIGH)
        trail(h, SELL, rate=ONE_PCT)
        assert [type(e) for e in h.cancel(ALICE, 1)] == [OrderCancelled]
        assert triggered(h.tape(SELL, 400_000, 1)) == []
