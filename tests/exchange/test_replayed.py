"""Specification of replayed liquidity driven through exchange commands: anonymous L2 size
(SetReplayedLevel), the tape (ReplayedTrade), simulated orders queued among replayed size,
crossing replayed levels, and the two queue models.

Replayed size and the replayed aggressor are anonymous: order id 0, account 0, no fee,
no leaves. Queues are shown as ``(order id, 0 for replayed size; leaves)``.
"""

from __future__ import annotations

import pytest

from exsim.book.orders import IOC
from exsim.exchange import BookDelta, Exchange, Fill, OrderAccepted

from .harness import ALICE, BOB, BTC, BUY, SELL, SYM, Harness, P, maker_fee, taker_fee


@pytest.fixture
def h() -> Harness:
    return Harness(BTC)


class TestReplayedLevels:
    def test_set_level_creates_anonymous_size(self, h: Harness) -> None:
        """SetReplayedLevel puts anonymous size at a level: one BookDelta, no identified order."""
        assert h.level(BUY, P, 5) == [BookDelta(h.ts, SYM, BUY, P, 5)]
        assert h.queue(BUY, P) == [(0, 5)]
        assert h.ex.book(SYM).anonymous_lots(BUY, P) == 5 and len(h.ex.book(SYM)) == 0

    def test_set_level_changes_and_removes_size(self, h: Harness) -> None:
        """A later SetReplayedLevel replaces the level's replayed size; 0 removes it."""
        h.level(SELL, P, 5)
        assert h.level(SELL, P, 8) == [BookDelta(h.ts, SYM, SELL, P, 8)]
        assert h.level(SELL, P, 3) == [BookDelta(h.ts, SYM, SELL, P, 3)]
        assert h.level(SELL, P, 0) == [BookDelta(h.ts, SYM, SELL, P, 0)]
        assert h.depth(SELL) == []

    def test_replayed_size_does_not_touch_simulated_orders(self, h: Harness) -> None:
        """Setting a level's replayed size to 0 leaves the simulated orders at that level."""
        h.level(BUY, P, 5)
        h.new(ALICE, BUY, 3, P)
        assert h.level(BUY, P, 0) == [BookDelta(h.ts, SYM, BUY, P, 3)]
        assert h.queue(BUY, P) == [(1, 3)]

    def test_bad_replayed_values_are_errors(self, h: Harness) -> None:
        """A replayed level or trade with a bad side, price, size or symbol breaks the input contract: ValueError."""
        for args in ((2, P, 5), (BUY, 0, 5), (BUY, P, -1), (BUY, P, 1.5)):
            with pytest.raises(ValueError):
                h.level(*args)
        for args in ((BUY, P, 0), (SELL, -P, 2), (3, P, 2)):
            with pytest.raises(ValueError):
                h.tape(*args)
        with pytest.raises(ValueError, match="FOOUSDT"):
            h.level(BUY, P, 5, symbol="FOOUSDT")
        with pytest.raises(ValueError, match="FOOUSDT"):
            h.tape(BUY, P, 5, symbol="FOOUSDT")


class TestQueueingBehindReplayedSize:
    def test_simulated_limit_queues_behind_replayed_size(self, h: Harness) -> None:
        """A simulated limit joins the back of a replayed level; a print smaller than the size ahead does not fill it."""
        h.level(BUY, P, 5)
        assert h.new(ALICE, BUY, 3, P) == [
            OrderAccepted(h.ts, SYM, 1, ALICE, None, BUY, 0, 0, P, 3, 0),
            BookDelta(h.ts, SYM, BUY, P, 8),
        ]
        assert h.queue(BUY, P) == [(0, 5), (1, 3)]
        assert h.ex.book(SYM).queue_ahead_lots(h.ex.open_order(SYM, 1)) == 5
        ev = h.tape(SELL, P, 4)
        # the print eating replayed size is the venue's own trade (it is on the tape): no
        # Fill, nothing for the ledger; the level shrinks
        assert ev == [BookDelta(h.ts, SYM, BUY, P, 4)]
        assert h.queue(BUY, P) == [(0, 1), (1, 3)]

    def test_print_beyond_the_size_ahead_fills_the_simulated_order_as_maker(self, h: Harness) -> None:
        """Once a print exceeds the replayed size ahead, the simulated order fills as maker against an anonymous taker."""
        h.level(BUY, P, 5)
        h.new(ALICE, BUY, 3, P)
        h.tape(SELL, P, 4)
        ev = h.tape(SELL, P, 3)
        t = h.ts
        assert ev == [
            # 1 lot of replayed size first (no event), then ALICE's order as maker
            # maker fee: 600000 * 2 * 10_000 * 20_000 / 1e8 = 2_400_000 atoms; anonymous taker pays none
            Fill(t, SYM, 1, P, 2, SELL, 0, 0, 0, 0, 1, ALICE, 1, maker_fee(P, 2)),
            BookDelta(t, SYM, BUY, P, 1),
        ]
        assert h.queue(BUY, P) == [(1, 1)] and h.ex.last_price(SYM) == P

    def test_without_book_deltas_a_print_still_fills_the_last_simulated_order(self) -> None:
        """Without book deltas, a print that takes the book's only simulated order whole
        reports its fill (the order leaves the book in the match, the fill stays); one that
        takes replayed size only reports nothing."""
        h = Harness(BTC, emit_book_deltas=False)
        h.level(BUY, P, 2)
        h.new(ALICE, BUY, 3, P)
        assert h.tape(SELL, P, 1) == []  # replayed size ahead only: the venue's own trade
        ev = h.tape(SELL, P, 4)
        t = h.ts
        assert ev == [Fill(t, SYM, 1, P, 3, SELL, 0, 0, 0, 0, 1, ALICE, 0, maker_fee(P, 3))]
        assert h.queue(BUY, P) == [] and h.ex.last_price(SYM) == P

    def test_print_stops_at_its_price(self, h: Harness) -> None:
        """A print consumes only levels at or better than its price; the rest of its size is dropped."""
        h.new(ALICE, SELL, 2, P)
        h.new(BOB, SELL, 2, P + 10)
        ev = h.tape(BUY, P + 5, 9)
        t = h.ts
        assert ev == [Fill(t, SYM, 1, P, 2, BUY, 0, 0, 0, 0, 1, ALICE, 0, maker_fee(P, 2)), BookDelta(t, SYM, SELL, P, 0)]
        assert h.depth(SELL) == [(P + 10, 2)] and h.ex.last_price(SYM) == P + 5

    def test_simulated_market_order_consumes_replayed_size(self, h: Harness) -> None:
        """A simulated market order takes replayed size like any maker: the maker side is anonymous."""
        h.level(SELL, P, 5)
        h.level(SELL, P + 1, 5)
        ev = h.new(ALICE, BUY, 7)
        t = h.ts
        assert ev == [
            OrderAccepted(t, SYM, 1, ALICE, None, BUY, 1, 0, 0, 7, 0),
            Fill(t, SYM, 1, P, 5, BUY, 1, ALICE, 2, taker_fee(P, 5), 0, 0, 0, 0),
            Fill(t, SYM, 2, P + 1, 2, BUY, 1, ALICE, 0, taker_fee(P + 1, 2), 0, 0, 0, 0),
            BookDelta(t, SYM, SELL, P, 0),
            BookDelta(t, SYM, SELL, P + 1, 3),
        ]
        assert h.ex.book(SYM).anonymous_lots(SELL, P + 1) == 3

    def test_simulated_limit_trades_with_replayed_size_then_with_simulated(self, h: Harness) -> None:
        """At one level replayed and simulated makers fill in arrival order."""
        h.new(BOB, SELL, 2, P)  # 1: first at the level
        h.level(SELL, P, 3)  # replayed size behind BOB's order
        ev = h.new(ALICE, BUY, 4, P, tif=IOC)
        fills = [(f.maker_order_id, f.maker_account_id, f.qty_lots) for f in ev if type(f) is Fill]
        assert fills == [(1, BOB, 2), (0, 0, 2)]
        assert h.queue(SELL, P) == [(0, 1)]

    def test_replayed_trade_sets_last_price_without_a_match(self, h: Harness) -> None:
        """A print that matches nothing emits nothing but still sets the last price."""
        h.new(ALICE, BUY, 2, P - 100)
        assert h.tape(SELL, P + 7, 2) == []  # a sell at P + 7 reaches no bid
        assert h.ex.last_price(SYM) == P + 7
        assert h.tape(BUY, P - 3, 1) == []
        assert h.ex.last_price(SYM) == P - 3


class TestCrossingReplayedLevel:
    def test_crossing_level_clears_stale_replayed_size_and_trades_with_simulated_orders(self, h: Harness) -> None:
        """A replayed bid through the asks clears stale replayed asks up to its price, fills simulated asks, rests the rest."""
        h.level(SELL, P, 5)
        h.level(SELL, P + 10, 4)
        h.new(ALICE, SELL, 3, P + 5)  # 1
        h.level(SELL, P + 20, 6)  # beyond the new bid: stays
        ev = h.level(BUY, P + 10, 6)
        t = h.ts
        assert ev == [
            BookDelta(t, SYM, SELL, P, 0),
            BookDelta(t, SYM, SELL, P + 10, 0),
            Fill(t, SYM, 1, P + 5, 3, BUY, 0, 0, 0, 0, 1, ALICE, 0, maker_fee(P + 5, 3)),
            BookDelta(t, SYM, SELL, P + 5, 0),
            BookDelta(t, SYM, BUY, P + 10, 3),
        ]
        assert h.depth(BUY) == [(P + 10, 3)] and h.depth(SELL) == [(P + 20, 6)]
        assert h.ex.last_price(SYM) == P + 5

    def test_crossing_level_keeps_simulated_orders_it_does_not_reach(self, h: Harness) -> None:
        """Simulated asks larger than the replayed bid keep the rest, and the bid does not rest."""
        h.new(ALICE, SELL, 5, P)  # 1
        ev = h.level(BUY, P, 2)
        t = h.ts
        assert ev == [
            Fill(t, SYM, 1, P, 2, BUY, 0, 0, 0, 0, 1, ALICE, 3, maker_fee(P, 2)),
            BookDelta(t, SYM, SELL, P, 3),
            BookDelta(t, SYM, BUY, P, 0),
        ]
        assert h.depth(BUY) == [] and h.queue(SELL, P) == [(1, 3)]

    def test_crossing_ask_clears_stale_bids(self, h: Harness) -> None:
        """A replayed ask at or below replayed bids clears them and rests when no simulated bid is in the way."""
        h.level(BUY, P, 4)
        h.level(BUY, P - 10, 4)
        h.new(ALICE, BUY, 2, P - 20)
        ev = h.level(SELL, P - 10, 7)
        t = h.ts
        assert ev == [BookDelta(t, SYM, BUY, P, 0), BookDelta(t, SYM, BUY, P - 10, 0), BookDelta(t, SYM, SELL, P - 10, 7)]
        assert h.depth(BUY) == [(P - 20, 2)] and h.depth(SELL) == [(P - 10, 7)]


class TestQueueModels:
    def scenario(self, queue_model: str) -> Harness:
        """Replayed 10 ahead of ALICE's 2, then 6 more behind her, then the level drops by 4."""
        h = Harness(BTC, queue_model=queue_model)
        h.level(BUY, P, 10)
        h.new(ALICE, BUY, 2, P)
        h.level(BUY, P, 16)
        assert h.queue(BUY, P) == [(0, 10), (1, 2), (0, 6)]
        assert h.level(BUY, P, 12) == [BookDelta(h.ts, SYM, BUY, P, 14)]
        return h

    def test_conservative_takes_decreases_from_behind(self) -> None:
        """CONSERVATIVE (the default): a replayed decrease comes from behind; the size ahead stays 10."""
        h = self.scenario("conservative")
        assert h.queue(BUY, P) == [(0, 10), (1, 2), (0, 2)]
        ev = h.tape(SELL, P, 9)
        assert [type(e) for e in ev] == [BookDelta]  # 9 of the 10 replayed lots ahead: ALICE not reached
        assert h.queue(BUY, P) == [(0, 1), (1, 2), (0, 2)]

    def test_proportional_advances_the_queue(self) -> None:
        """PROPORTIONAL: a decrease is spread over the replayed chunks by size, so ALICE moves up."""
        h = self.scenario("proportional")
        # 4 lots over chunks of 10 and 6: floor(4*10/16) = 2 ahead, floor(4*6/16) = 1 behind, 1 more from the back
        assert h.queue(BUY, P) == [(0, 8), (1, 2), (0, 4)]
        ev = h.tape(SELL, P, 9)
        t = h.ts
        assert ev == [  # 8 replayed lots ahead go first (no event), then 1 of ALICE's 2
            Fill(t, SYM, 1, P, 1, SELL, 0, 0, 0, 0, 1, ALICE, 1, maker_fee(P, 1)),
            BookDelta(t, SYM, BUY, P, 5),
        ]

    def test_decrease_below_the_size_ahead_shrinks_it_in_both_models(self) -> None:
        """When the venue's whole level is smaller than the replayed size ahead, that size shrinks in any model."""
        for model in ("conservative", "proportional"):
            h = Harness(BTC, queue_model=model)
            h.level(BUY, P, 10)
            h.new(ALICE, BUY, 2, P)
            h.level(BUY, P, 3)
            assert h.queue(BUY, P) == [(0, 3), (1, 2)], model

    def test_unknown_queue_model_is_refused(self) -> None:
        """An unknown queue model is a ValueError at construction."""
        with pytest.raises(ValueError, match="proportional"):
            Exchange([BTC], queue_model="optimistic")
