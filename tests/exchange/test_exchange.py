"""Specification of exsim.exchange.Exchange: order types, time in force, fees, rejects,
cancels, amends and self-trade prevention, as exact event sequences.

Every command goes through :class:`Harness`, which calls ``Exchange._check()`` after it.
Prices are BTCUSDT ticks around ``P`` (60000.0 USDT), sizes lots of 0.001 BTC; fees are
computed by hand in :func:`taker_fee` / :func:`maker_fee` (see ``harness.py``).
"""

from __future__ import annotations

from typing import Any

import pytest

from exsim.book.orders import (
    FOK,
    GTC,
    GTX,
    IOC,
    LIMIT,
    MARKET,
    STOP_LIMIT,
    STOP_MARKET,
    STP_EXPIRE_BOTH,
    STP_EXPIRE_MAKER,
    STP_EXPIRE_TAKER,
    STP_NONE,
    TAKE_PROFIT_MARKET,
    TRIGGER_LAST,
)
from exsim.exchange import (
    AmendOrder,
    BookDelta,
    CancelOrder,
    Exchange,
    Fill,
    MarkPriceUpdated,
    NewOrder,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderExpired,
    OrderRejected,
    OrderTriggered,
    RejectReason,
)
from exsim.sinks import CountingSink

from .harness import (
    ALICE,
    BOB,
    BTC,
    BUY,
    CAROL,
    ETH,
    SELL,
    SYM,
    Harness,
    P,
    btc,
    maker_fee,
    taker_fee,
)


def accepted(t: int, oid: int, acct: int, side: int, qty: int, px: int = 0, otype: int | None = None,
             tif: int = GTC, coid: str | None = None, trigger: int = 0) -> OrderAccepted:
    """The OrderAccepted the exchange should emit (LIMIT with a price, MARKET without)."""
    if otype is None:
        otype = LIMIT if px else MARKET
    return OrderAccepted(t, SYM, oid, acct, coid, side, otype, tif, px, qty, trigger)


def rejected(t: int, acct: int, reason: str, order_id: int = 0, coid: str | None = None, symbol: str = SYM) -> OrderRejected:
    return OrderRejected(t, symbol, acct, coid, order_id, reason)


@pytest.fixture
def h() -> Harness:
    return Harness(BTC)


# ---------------------------------------------------------------------- limit orders
class TestLimitOrders:
    def test_gtc_limit_that_does_not_cross_rests(self, h: Harness) -> None:
        """A GTC limit that does not cross is accepted and rests; the L2 level reports its size."""
        ev = h.new(ALICE, BUY, 5, P)
        t = h.ts
        assert ev == [accepted(t, 1, ALICE, BUY, 5, P), BookDelta(t, SYM, BUY, P, 5)]
        assert h.depth(BUY) == [(P, 5)] and h.depth(SELL) == []
        assert h.ex.open_order(SYM, 1).leaves_lots == 5

    def test_second_order_at_a_level_reports_the_level_total(self, h: Harness) -> None:
        """BookDelta carries the level's new total size, not the order's size."""
        h.new(ALICE, SELL, 5, P)
        ev = h.new(BOB, SELL, 3, P)
        assert ev[-1] == BookDelta(h.ts, SYM, SELL, P, 8)
        assert h.queue(SELL, P) == [(1, 5), (2, 3)]

    def test_crossing_limit_fills_partially_then_rests(self, h: Harness) -> None:
        """A crossing limit takes every level its price reaches, then rests the remainder at its price."""
        h.new(BOB, SELL, 3, P)
        h.new(BOB, SELL, 4, P + 10)
        h.new(BOB, SELL, 5, P + 20)
        ev = h.new(ALICE, BUY, 10, P + 10)
        t = h.ts
        assert ev == [
            accepted(t, 4, ALICE, BUY, 10, P + 10),
            # 600000 * 3 lots: notional 1.8e10 atoms; taker 9_000_000, maker 3_600_000
            Fill(t, SYM, 1, P, 3, BUY, 4, ALICE, 7, taker_fee(P, 3), 1, BOB, 0, maker_fee(P, 3)),
            # 600010 * 4 lots: notional 24_000_400_000 atoms; taker 12_000_200, maker 4_800_080
            Fill(t, SYM, 2, P + 10, 4, BUY, 4, ALICE, 3, taker_fee(P + 10, 4), 2, BOB, 0, maker_fee(P + 10, 4)),
            BookDelta(t, SYM, SELL, P, 0),
            BookDelta(t, SYM, SELL, P + 10, 0),
            BookDelta(t, SYM, BUY, P + 10, 3),
        ]
        assert (h.ex.book(SYM).best_bid(), h.ex.book(SYM).best_ask()) == (P + 10, P + 20)
        assert h.ex.open_order(SYM, 4).leaves_lots == 3
        assert h.ex.last_price(SYM) == P + 10

    def test_crossing_sell_limit_fills_best_bid_first(self, h: Harness) -> None:
        """A crossing sell meets the highest bid first and rests what its price does not reach."""
        h.new(BOB, BUY, 2, P - 10)
        h.new(CAROL, BUY, 2, P)
        ev = h.new(ALICE, SELL, 5, P - 5)
        t = h.ts
        assert ev == [
            accepted(t, 3, ALICE, SELL, 5, P - 5),
            Fill(t, SYM, 1, P, 2, SELL, 3, ALICE, 3, taker_fee(P, 2), 2, CAROL, 0, maker_fee(P, 2)),
            BookDelta(t, SYM, BUY, P, 0),
            BookDelta(t, SYM, SELL, P - 5, 3),
        ]
        assert h.depth(BUY) == [(P - 10, 2)]

    def test_ioc_remainder_expires_with_reason_ioc(self, h: Harness) -> None:
        """An IOC takes what its price allows and the unfilled remainder expires (reason IOC)."""
        h.new(BOB, SELL, 3, P)
        ev = h.new(ALICE, BUY, 5, P + 10, tif=IOC)
        t = h.ts
        assert ev == [
            accepted(t, 2, ALICE, BUY, 5, P + 10, tif=IOC),
            Fill(t, SYM, 1, P, 3, BUY, 2, ALICE, 2, taker_fee(P, 3), 1, BOB, 0, maker_fee(P, 3)),
            BookDelta(t, SYM, SELL, P, 0),
            OrderExpired(t, SYM, 2, ALICE, 2, "IOC"),
        ]
        assert h.depth(BUY) == [] and h.ex.open_order(SYM, 2) is None

    def test_ioc_that_does_not_cross_expires_whole(self, h: Harness) -> None:
        """An IOC that reaches no liquidity expires its whole size and never rests."""
        h.new(BOB, SELL, 3, P + 10)
        ev = h.new(ALICE, BUY, 5, P, tif=IOC)
        assert ev == [accepted(h.ts, 2, ALICE, BUY, 5, P, tif=IOC), OrderExpired(h.ts, SYM, 2, ALICE, 5, "IOC")]
        assert h.depth(BUY) == []

    def test_ioc_filled_completely_emits_no_expiry(self, h: Harness) -> None:
        """An IOC filled completely ends with its last fill (no OrderExpired)."""
        h.new(BOB, SELL, 5, P)
        ev = h.new(ALICE, BUY, 5, P, tif=IOC)
        t = h.ts
        assert ev == [
            accepted(t, 2, ALICE, BUY, 5, P, tif=IOC),
            Fill(t, SYM, 1, P, 5, BUY, 2, ALICE, 0, taker_fee(P, 5), 1, BOB, 0, maker_fee(P, 5)),
            BookDelta(t, SYM, SELL, P, 0),
        ]

    def test_fok_that_cannot_fill_completely_expires_without_fills(self, h: Harness) -> None:
        """A FOK whose size is not all available up to its price is accepted, then expires (FOK) untouched."""
        h.new(BOB, SELL, 3, P)
        h.new(BOB, SELL, 2, P + 10)
        before = h.depth(SELL)
        ev = h.new(ALICE, BUY, 5, P + 5, tif=FOK)  # only 3 lots at or below P + 5
        assert ev == [accepted(h.ts, 3, ALICE, BUY, 5, P + 5, tif=FOK), OrderExpired(h.ts, SYM, 3, ALICE, 5, "FOK")]
        ev = h.new(ALICE, BUY, 6, P + 10, tif=FOK)  # 5 lots up to P + 10, wants 6
        assert ev == [accepted(h.ts, 4, ALICE, BUY, 6, P + 10, tif=FOK), OrderExpired(h.ts, SYM, 4, ALICE, 6, "FOK")]
        assert h.depth(SELL) == before and h.ex.next_trade_id == 1

    def test_fok_that_can_fill_fills_completely(self, h: Harness) -> None:
        """A FOK whose size is available fills completely across levels, with no expiry."""
        h.new(BOB, SELL, 3, P)
        h.new(CAROL, SELL, 4, P + 10)
        ev = h.new(ALICE, BUY, 5, P + 10, tif=FOK)
        t = h.ts
        assert ev == [
            accepted(t, 3, ALICE, BUY, 5, P + 10, tif=FOK),
            Fill(t, SYM, 1, P, 3, BUY, 3, ALICE, 2, taker_fee(P, 3), 1, BOB, 0, maker_fee(P, 3)),
            Fill(t, SYM, 2, P + 10, 2, BUY, 3, ALICE, 0, taker_fee(P + 10, 2), 2, CAROL, 2, maker_fee(P + 10, 2)),
            BookDelta(t, SYM, SELL, P, 0),
            BookDelta(t, SYM, SELL, P + 10, 2),
        ]

    def test_post_only_that_would_take_is_rejected_without_consuming_an_id(self, h: Harness) -> None:
        """A post-only (GTX) order that would cross is rejected POST_ONLY_WOULD_TAKE and gets no order id."""
        h.new(BOB, SELL, 3, P)
        ev = h.new(ALICE, BUY, 2, P, tif=GTX, coid="po")
        assert ev == [rejected(h.ts, ALICE, RejectReason.POST_ONLY_WOULD_TAKE, coid="po")]
        assert h.depth(SELL) == [(P, 3)] and h.depth(BUY) == []
        ev = h.new(ALICE, BUY, 2, P - 10, tif=GTX, coid="po")  # the client id was never taken
        assert ev == [accepted(h.ts, 2, ALICE, BUY, 2, P - 10, tif=GTX, coid="po"), BookDelta(h.ts, SYM, BUY, P - 10, 2)]

    def test_post_only_sell_at_the_best_bid_is_rejected(self, h: Harness) -> None:
        """A post-only sell priced at the best bid would take, so it is rejected."""
        h.new(BOB, BUY, 3, P)
        assert h.new(ALICE, SELL, 2, P, tif=GTX) == [rejected(h.ts, ALICE, RejectReason.POST_ONLY_WOULD_TAKE)]
        assert h.new(ALICE, SELL, 2, P + 1, tif=GTX)[0] == accepted(h.ts, 2, ALICE, SELL, 2, P + 1, tif=GTX)


# ---------------------------------------------------------------------- market orders
class TestMarketOrders:
    def test_market_sweeps_levels_and_expires_the_rest_ioc(self, h: Harness) -> None:
        """A market order takes level after level; what the book cannot give expires with reason IOC."""
        h.new(BOB, SELL, 2, P)
        h.new(CAROL, SELL, 3, P + 1)
        h.new(BOB, SELL, 4, P + 2)
        ev = h.new(ALICE, BUY, 12)
        t = h.ts
        assert ev == [
            accepted(t, 4, ALICE, BUY, 12),  # price 0 for a market order
            Fill(t, SYM, 1, P, 2, BUY, 4, ALICE, 10, taker_fee(P, 2), 1, BOB, 0, maker_fee(P, 2)),
            Fill(t, SYM, 2, P + 1, 3, BUY, 4, ALICE, 7, taker_fee(P + 1, 3), 2, CAROL, 0, maker_fee(P + 1, 3)),
            Fill(t, SYM, 3, P + 2, 4, BUY, 4, ALICE, 3, taker_fee(P + 2, 4), 3, BOB, 0, maker_fee(P + 2, 4)),
            BookDelta(t, SYM, SELL, P, 0),
            BookDelta(t, SYM, SELL, P + 1, 0),
            BookDelta(t, SYM, SELL, P + 2, 0),
            OrderExpired(t, SYM, 4, ALICE, 3, "IOC"),
        ]
        assert h.ex.last_price(SYM) == P + 2

    def test_market_sell_fully_filled(self, h: Harness) -> None:
        """A market sell filled within the book leaves the rest of the level resting."""
        h.new(BOB, BUY, 5, P)
        ev = h.new(ALICE, SELL, 3)
        t = h.ts
        assert ev == [
            accepted(t, 2, ALICE, SELL, 3),
            Fill(t, SYM, 1, P, 3, SELL, 2, ALICE, 0, taker_fee(P, 3), 1, BOB, 2, maker_fee(P, 3)),
            BookDelta(t, SYM, BUY, P, 2),
        ]

    def test_market_into_empty_book_expires_no_liquidity(self, h: Harness) -> None:
        """A market order that finds the opposite side empty expires whole with reason NO_LIQUIDITY."""
        h.new(BOB, BUY, 5, P)  # same side: no liquidity for a buyer
        ev = h.new(ALICE, BUY, 4)
        assert ev == [accepted(h.ts, 2, ALICE, BUY, 4), OrderExpired(h.ts, SYM, 2, ALICE, 4, "NO_LIQUIDITY")]
        assert h.ex.last_price(SYM) is None

    def test_market_fok_that_cannot_fill_expires_fok(self, h: Harness) -> None:
        """A fill-or-kill market order larger than the book expires whole with reason FOK."""
        h.new(BOB, SELL, 2, P)
        ev = h.new(ALICE, BUY, 3, tif=FOK)
        assert ev == [accepted(h.ts, 2, ALICE, BUY, 3, tif=FOK), OrderExpired(h.ts, SYM, 2, ALICE, 3, "FOK")]
        assert h.depth(SELL) == [(P, 2)]


# ---------------------------------------------------------------------- fees
class TestFees:
    def test_fees_by_hand_on_btc(self, h: Harness) -> None:
        """Taker pays ceil(notional * 50_000 / 1e8), maker ceil(notional * 20_000 / 1e8), in atoms."""
        h.new(BOB, SELL, 7, 600_123)
        fill = h.new(ALICE, BUY, 7, 600_123)[1]
        # notional = 600_123 ticks * 7 lots * 10_000 atoms = 42_008_610_000 atoms (420.0861 USDT)
        assert fill.taker_fee_atoms == 21_004_305  # 42_008_610_000 * 0.0005
        assert fill.maker_fee_atoms == 8_401_722  # 42_008_610_000 * 0.0002
        assert (fill.taker(), fill.maker()) == (
            (2, ALICE, BUY, 1, 0, 21_004_305),
            (1, BOB, SELL, 0, 0, 8_401_722),
        )

    def test_fees_round_up_against_the_trader(self) -> None:
        """A fee that is not a whole number of atoms is rounded up, for taker and maker alike."""
        h = Harness(ETH)  # tick 0.01, lot 0.001: 1_000 atoms per tick-lot, 20 USDT minimum
        h.new(BOB, SELL, 7, 300_001, symbol="ETHUSDT")
        fill = h.new(ALICE, BUY, 7, 300_001, symbol="ETHUSDT")[1]
        # notional = 300_001 * 7 * 1_000 = 2_100_007_000 atoms (21.00007 USDT)
        # taker: 2_100_007_000 * 50_000 / 1e8 = 1_050_003.5 -> 1_050_004
        # maker: 2_100_007_000 * 20_000 / 1e8 =   420_001.4 ->   420_002
        assert fill == Fill(h.ts, "ETHUSDT", 1, 300_001, 7, BUY, 2, ALICE, 0, 1_050_004, 1, BOB, 0, 420_002)

    def test_trade_ids_count_fills_across_commands(self, h: Harness) -> None:
        """Each match gets the next trade id, across orders and commands."""
        for i in range(3):
            h.new(BOB, SELL, 2, P + i)
        h.new(ALICE, BUY, 3, P + 1, tif=IOC)
        h.new(ALICE, BUY, 3, P + 2, tif=IOC)
        assert [f.trade_id for f in h.sink.of_type(Fill)] == [1, 2, 3, 4]


# ---------------------------------------------------------------------- rejects
NEW_ORDER_REJECTS: list[tuple[str, dict[str, Any], str]] = [
    ("unknown symbol", {"symbol": "FOOUSDT"}, RejectReason.UNKNOWN_SYMBOL),
    ("account zero", {"account_id": 0}, RejectReason.INVALID_ACCOUNT),
    ("negative account", {"account_id": -3}, RejectReason.INVALID_ACCOUNT),
    ("account as text", {"account_id": "1"}, RejectReason.INVALID_ACCOUNT),
    ("side 2", {"side": 2}, RejectReason.INVALID_SIDE),
    ("side as text", {"side": "BUY"}, RejectReason.INVALID_SIDE),
    ("qty zero", {"qty_lots": 0}, RejectReason.INVALID_QTY),
    ("negative qty", {"qty_lots": -5}, RejectReason.INVALID_QTY),
    ("fractional qty", {"qty_lots": 2.5}, RejectReason.INVALID_QTY),
    ("bool qty", {"qty_lots": True}, RejectReason.INVALID_QTY),
    ("qty above max", {"qty_lots": 1_000_001}, RejectReason.QTY_ABOVE_MAX),
    ("limit price zero", {"price_ticks": 0, "order_type": LIMIT}, RejectReason.INVALID_PRICE),
    ("negative limit price", {"price_ticks": -P}, RejectReason.INVALID_PRICE),
    ("float limit price", {"price_ticks": float(P)}, RejectReason.INVALID_PRICE),
    ("market with a price", {"order_type": MARKET}, RejectReason.INVALID_PRICE),
    ("stop market with a price", {"order_type": STOP_MARKET, "trigger_price_ticks": P + 5}, RejectReason.INVALID_PRICE),
    ("unknown tif", {"tif": 4}, RejectReason.INVALID_TIF),
    ("market post-only", {"order_type": MARKET, "price_ticks": 0, "tif": GTX}, RejectReason.INVALID_TIF),
    ("stop market post-only", {"order_type": STOP_MARKET, "price_ticks": 0, "tif": GTX, "trigger_price_ticks": P + 5},
     RejectReason.INVALID_TIF),
    ("unknown order type", {"order_type": 7}, RejectReason.INVALID_ORDER_TYPE),
    ("negative order type", {"order_type": -1}, RejectReason.INVALID_ORDER_TYPE),
    ("stop without trigger", {"order_type": STOP_MARKET, "price_ticks": 0}, RejectReason.INVALID_TRIGGER),
    ("negative trigger", {"order_type": STOP_LIMIT, "trigger_price_ticks": -1}, RejectReason.INVALID_TRIGGER),
    ("unknown trigger reference", {"order_type": STOP_LIMIT, "trigger_price_ticks": P + 5, "trigger_by": 2},
     RejectReason.INVALID_TRIGGER),
    ("limit with a trigger", {"trigger_price_ticks": P + 5}, RejectReason.INVALID_TRIGGER),
    # 1 lot at 60000.0 is 60 USDT < 100 USDT
    ("limit notional below min", {"qty_lots": 1}, RejectReason.NOTIONAL_BELOW_MIN),
    ("stop limit notional below min", {"qty_lots": 1, "order_type": STOP_LIMIT, "trigger_price_ticks": P + 5},
     RejectReason.NOTIONAL_BELOW_MIN),
]


class TestNewOrderRejects:
    @pytest.mark.parametrize("fields, reason", [c[1:] for c in NEW_ORDER_REJECTS], ids=[c[0] for c in NEW_ORDER_REJECTS])
    def test_bad_new_order_is_rejected_with_its_reason(self, h: Harness, fields: dict[str, Any], reason: str) -> None:
        """A new order with one bad field is rejected with that field's reason, echoing the client id, no id used."""
        base = NewOrder(0, ALICE, SYM, BUY, 5, P, LIMIT, GTC, "cid", False, 0, TRIGGER_LAST)
        cmd = base._replace(**fields)
        ev = h.submit(cmd)
        assert ev == [OrderRejected(h.ts, cmd.symbol, cmd.account_id, "cid", 0, reason)]
        assert h.ex.next_order_id == 1
        assert h.new(ALICE, BUY, 5, P, coid="cid")[0] == accepted(h.ts, 1, ALICE, BUY, 5, P, coid="cid")

    def test_qty_below_instrument_minimum(self) -> None:
        """An order smaller than the instrument's min_qty_lots is rejected QTY_BELOW_MIN."""
        h = Harness(btc(min_qty_lots=5, min_notional_atoms=0))
        assert h.new(ALICE, BUY, 4, P) == [rejected(h.ts, ALICE, RejectReason.QTY_BELOW_MIN)]
        assert h.new(ALICE, BUY, 4) == [rejected(h.ts, ALICE, RejectReason.QTY_BELOW_MIN)]
        assert h.new(ALICE, BUY, 5, P)[0] == accepted(h.ts, 1, ALICE, BUY, 5, P)

    def test_notional_exactly_at_the_minimum_is_accepted(self, h: Harness) -> None:
        """A limit whose notional equals min_notional (100 USDT) is accepted; one tick less is not."""
        # 500_000 ticks * 2 lots * 10_000 = 1e10 atoms = 100 USDT exactly
        assert h.new(ALICE, BUY, 2, 500_000)[0] == accepted(h.ts, 1, ALICE, BUY, 2, 500_000)
        assert h.new(ALICE, BUY, 2, 499_999) == [rejected(h.ts, ALICE, RejectReason.NOTIONAL_BELOW_MIN)]

    def test_duplicate_client_id_while_the_first_is_open(self, h: Harness) -> None:
        """A client id an open order of the same account uses is rejected; another account may use it."""
        h.new(ALICE, BUY, 2, P, coid="x")
        assert h.new(ALICE, SELL, 2, P + 50, coid="x") == [
            rejected(h.ts, ALICE, RejectReason.DUPLICATE_CLIENT_ORDER_ID, coid="x")
        ]
        assert h.new(BOB, SELL, 2, P + 50, coid="x")[0] == accepted(h.ts, 2, BOB, SELL, 2, P + 50, coid="x")

    def test_client_id_stays_taken_while_partially_filled(self, h: Harness) -> None:
        """An order filled in part still holds its client id."""
        h.new(ALICE, SELL, 5, P, coid="x")
        h.new(BOB, BUY, 2, P)
        assert h.new(ALICE, SELL, 2, P, coid="x")[0].reason == RejectReason.DUPLICATE_CLIENT_ORDER_ID

    def test_client_id_is_free_again_after_the_first_order_fills(self, h: Harness) -> None:
        """Once the order using a client id is filled completely, the id can be used again."""
        h.new(ALICE, SELL, 2, P, coid="x")
        h.new(BOB, BUY, 2, P)
        assert h.new(ALICE, SELL, 2, P, coid="x")[0] == accepted(h.ts, 3, ALICE, SELL, 2, P, coid="x")

    def test_client_id_is_free_again_after_the_taker_fills(self, h: Harness) -> None:
        """A taker filled completely on arrival frees its client id at once."""
        h.new(BOB, SELL, 4, P)
        h.new(ALICE, BUY, 2, P, coid="x")
        assert h.new(ALICE, BUY, 2, P, coid="x")[0] == accepted(h.ts, 3, ALICE, BUY, 2, P, coid="x")

    def test_client_id_is_free_again_after_cancel(self, h: Harness) -> None:
        """Once the order using a client id is cancelled, the id can be used again."""
        h.new(ALICE, BUY, 2, P, coid="x")
        h.cancel(ALICE, 1)
        assert h.new(ALICE, BUY, 2, P, coid="x")[0] == accepted(h.ts, 2, ALICE, BUY, 2, P, coid="x")

    def test_client_id_is_free_again_after_expiry(self, h: Harness) -> None:
        """An IOC / FOK that expires frees its client id."""
        h.new(ALICE, BUY, 2, P, tif=IOC, coid="x")
        h.new(ALICE, BUY, 2, P, tif=FOK, coid="x")
        assert h.new(ALICE, BUY, 2, P, coid="x")[0] == accepted(h.ts, 3, ALICE, BUY, 2, P, coid="x")


class TestCancel:
    def test_cancel_resting_order(self, h: Harness) -> None:
        """Cancelling a resting order reports its open size (reason USER) and the level's new size."""
        h.new(ALICE, BUY, 5, P)
        h.new(BOB, BUY, 3, P)
        assert h.cancel(ALICE, 1) == [OrderCancelled(h.ts, SYM, 1, ALICE, 5, "USER"), BookDelta(h.ts, SYM, BUY, P, 3)]
        assert h.queue(BUY, P) == [(2, 3)] and h.ex.open_order(SYM, 1) is None

    def test_cancel_partially_filled_order_reports_leaves(self, h: Harness) -> None:
        """A partially filled order is cancelled with only what is still open."""
        h.new(ALICE, SELL, 5, P)
        h.new(BOB, BUY, 2, P)
        assert h.cancel(ALICE, 1) == [OrderCancelled(h.ts, SYM, 1, ALICE, 3, "USER"), BookDelta(h.ts, SYM, SELL, P, 0)]
        assert h.depth(SELL) == []

    def test_cancel_unknown_order(self, h: Harness) -> None:
        """Cancelling an id that was never used is rejected UNKNOWN_ORDER, echoing the id."""
        assert h.cancel(ALICE, 99) == [rejected(h.ts, ALICE, RejectReason.UNKNOWN_ORDER, order_id=99)]

    def test_cancel_other_accounts_order(self, h: Harness) -> None:
        """An account cannot cancel another account's order: UNKNOWN_ORDER, the order stays."""
        h.new(ALICE, BUY, 5, P)
        assert h.cancel(BOB, 1) == [rejected(h.ts, BOB, RejectReason.UNKNOWN_ORDER, order_id=1)]
        assert h.queue(BUY, P) == [(1, 5)]

    def test_cancel_twice(self, h: Harness) -> None:
        """The second cancel of the same order is rejected UNKNOWN_ORDER."""
        h.new(ALICE, BUY, 5, P)
        h.cancel(ALICE, 1)
        assert h.cancel(ALICE, 1) == [rejected(h.ts, ALICE, RejectReason.UNKNOWN_ORDER, order_id=1)]

    def test_cancel_filled_order(self, h: Harness) -> None:
        """A filled order is no longer open: cancelling it is rejected UNKNOWN_ORDER."""
        h.new(ALICE, SELL, 2, P)
        h.new(BOB, BUY, 2, P)
        assert h.cancel(ALICE, 1) == [rejected(h.ts, ALICE, RejectReason.UNKNOWN_ORDER, order_id=1)]

    def test_cancel_unknown_symbol(self, h: Harness) -> None:
        """A cancel for an unknown symbol is rejected UNKNOWN_SYMBOL with that symbol."""
        h.new(ALICE, BUY, 5, P)
        assert h.cancel(ALICE, 1, symbol="FOOUSDT") == [
            rejected(h.ts, ALICE, RejectReason.UNKNOWN_SYMBOL, order_id=1, symbol="FOOUSDT")
        ]

    def test_cancel_in_the_wrong_symbol(self) -> None:
        """An order id is looked up in the cancel's own symbol only."""
        h = Harness(BTC, ETH)
        h.new(ALICE, BUY, 5, P)
        assert h.cancel(ALICE, 1, symbol="ETHUSDT") == [
            rejected(h.ts, ALICE, RejectReason.UNKNOWN_ORDER, order_id=1, symbol="ETHUSDT")
        ]


# ---------------------------------------------------------------------- amend
class TestAmend:
    def test_size_down_keeps_queue_priority(self, h: Harness) -> None:
        """Reducing size at the same price keeps the order's place: an aggressor fills it first."""
        h.new(ALICE, SELL, 5, P)
        h.new(BOB, SELL, 5, P)
        ev = h.amend(ALICE, 1, P, 3)
        assert ev == [OrderAmended(h.ts, SYM, 1, ALICE, P, 3, 3, True), BookDelta(h.ts, SYM, SELL, P, 8)]
        assert h.queue(SELL, P) == [(1, 3), (2, 5)]
        fills = h.new(CAROL, BUY, 4)[1:3]
        assert [(f.maker_order_id, f.qty_lots, f.maker_leaves_lots) for f in fills] == [(1, 3, 0), (2, 1, 4)]

    def test_size_up_loses_queue_priority(self, h: Harness) -> None:
        """Increasing size re-queues the order at the back of its level: the order behind it fills first."""
        h.new(ALICE, SELL, 5, P)
        h.new(BOB, SELL, 5, P)
        ev = h.amend(ALICE, 1, P, 7)
        assert ev == [OrderAmended(h.ts, SYM, 1, ALICE, P, 7, 7, False), BookDelta(h.ts, SYM, SELL, P, 12)]
        assert h.queue(SELL, P) == [(2, 5), (1, 7)]
        fills = h.new(CAROL, BUY, 6)[1:3]
        assert [(f.maker_order_id, f.qty_lots, f.maker_leaves_lots) for f in fills] == [(2, 5, 0), (1, 1, 6)]

    def test_price_change_requeues_behind_the_new_level(self, h: Harness) -> None:
        """A price change moves the order to the back of its new level and updates both levels."""
        h.new(ALICE, SELL, 5, P)
        h.new(BOB, SELL, 5, P)
        h.new(CAROL, SELL, 4, P + 10)
        ev = h.amend(ALICE, 1, P + 10, 5)
        t = h.ts
        assert ev == [
            OrderAmended(t, SYM, 1, ALICE, P + 10, 5, 5, False),
            BookDelta(t, SYM, SELL, P, 5),
            BookDelta(t, SYM, SELL, P + 10, 9),
        ]
        assert h.queue(SELL, P) == [(2, 5)]
        assert h.queue(SELL, P + 10) == [(3, 4), (1, 5)]

    def test_price_change_of_a_lone_order_moves_the_level(self, h: Harness) -> None:
        """An order alone at its level moved to a new price empties the old level."""
        h.new(ALICE, BUY, 5, P)
        ev = h.amend(ALICE, 1, P - 10, 5)
        t = h.ts
        assert ev == [
            OrderAmended(t, SYM, 1, ALICE, P - 10, 5, 5, False),
            BookDelta(t, SYM, BUY, P, 0),
            BookDelta(t, SYM, BUY, P - 10, 5),
        ]
        assert h.depth(BUY) == [(P - 10, 5)]

    def test_price_change_that_crosses_trades_at_once(self, h: Harness) -> None:
        """An amend to a crossing price trades immediately as a taker and rests the remainder."""
        h.new(BOB, BUY, 4, P)
        h.new(ALICE, SELL, 6, P + 10)
        ev = h.amend(ALICE, 2, P, 6)
        t = h.ts
        assert ev == [
            OrderAmended(t, SYM, 2, ALICE, P, 6, 6, False),
            BookDelta(t, SYM, SELL, P + 10, 0),
            Fill(t, SYM, 1, P, 4, SELL, 2, ALICE, 2, taker_fee(P, 4), 1, BOB, 0, maker_fee(P, 4)),
            BookDelta(t, SYM, BUY, P, 0),
            BookDelta(t, SYM, SELL, P, 2),
        ]
        assert h.ex.open_order(SYM, 2).leaves_lots == 2 and h.ex.last_price(SYM) == P

    def test_amend_that_fills_completely_frees_the_client_id(self, h: Harness) -> None:
        """An amended order filled completely on re-entry is gone and its client id is free."""
        h.new(BOB, BUY, 4, P)
        h.new(ALICE, SELL, 3, P + 10, coid="x")
        ev = h.amend(ALICE, 2, P, 3)
        assert [type(e) for e in ev] == [OrderAmended, BookDelta, Fill, BookDelta]
        assert h.ex.open_order(SYM, 2) is None
        assert h.new(ALICE, SELL, 2, P + 10, coid="x")[0].order_id == 3

    def test_amend_of_partially_filled_order_counts_the_filled_part(self, h: Harness) -> None:
        """Amend quantity is the new total: leaves = qty - filled, and it must exceed what is filled."""
        h.new(ALICE, SELL, 10, P)
        h.new(BOB, BUY, 4, P)
        assert h.amend(ALICE, 1, P, 4) == [rejected(h.ts, ALICE, RejectReason.AMEND_QTY_NOT_ABOVE_FILLED, order_id=1)]
        assert h.amend(ALICE, 1, P, 3) == [rejected(h.ts, ALICE, RejectReason.AMEND_QTY_NOT_ABOVE_FILLED, order_id=1)]
        assert h.ex.open_order(SYM, 1).leaves_lots == 6
        assert h.amend(ALICE, 1, P, 5) == [OrderAmended(h.ts, SYM, 1, ALICE, P, 5, 1, True), BookDelta(h.ts, SYM, SELL, P, 1)]

    def test_amend_of_stop_order_is_not_amendable(self, h: Harness) -> None:
        """A waiting stop order cannot be amended: NOT_AMENDABLE, and it keeps waiting."""
        h.new(ALICE, BUY, 2, order_type=STOP_MARKET, trigger=P + 10)
        assert h.amend(ALICE, 1, P, 3) == [rejected(h.ts, ALICE, RejectReason.NOT_AMENDABLE, order_id=1)]
        assert h.ex.open_order(SYM, 1).qty_lots == 2

    def test_post_only_amend_that_would_take_is_rejected(self, h: Harness) -> None:
        """A post-only order amended to a crossing price is rejected POST_ONLY_WOULD_TAKE and left as it was."""
        h.new(BOB, BUY, 3, P)
        h.new(ALICE, SELL, 3, P + 10, tif=GTX)
        assert h.amend(ALICE, 2, P, 3) == [rejected(h.ts, ALICE, RejectReason.POST_ONLY_WOULD_TAKE, order_id=2)]
        assert h.queue(SELL, P + 10) == [(2, 3)] and h.depth(BUY) == [(P, 3)]

    def test_post_only_amend_that_does_not_cross_is_applied(self, h: Harness) -> None:
        """A post-only order may be repriced as long as it stays passive."""
        h.new(BOB, BUY, 3, P)
        h.new(ALICE, SELL, 3, P + 10, tif=GTX)
        assert h.amend(ALICE, 2, P + 1, 3)[0] == OrderAmended(h.ts, SYM, 2, ALICE, P + 1, 3, 3, False)

    @pytest.mark.parametrize(
        "price, qty, reason",
        [
            (0, 5, RejectReason.INVALID_PRICE),
            (-P, 5, RejectReason.INVALID_PRICE),
            (float(P), 5, RejectReason.INVALID_PRICE),
            (P, 0, RejectReason.INVALID_QTY),
            (P, -2, RejectReason.INVALID_QTY),
            (P, 2.0, RejectReason.INVALID_QTY),
            (P, 1_000_001, RejectReason.QTY_ABOVE_MAX),
            (P, 1, RejectReason.NOTIONAL_BELOW_MIN),  # 60 USDT < 100 USDT
        ],
    )
    def test_bad_amend_values_are_rejected(self, h: Harness, price: Any, qty: Any, reason: str) -> None:
        """An amend with a bad price or quantity is rejected with its reason; the order is untouched."""
        h.new(ALICE, BUY, 5, P)
        assert h.amend(ALICE, 1, price, qty) == [rejected(h.ts, ALICE, reason, order_id=1)]
        assert h.queue(BUY, P) == [(1, 5)]

    def test_amend_below_min_qty_is_rejected(self) -> None:
        """An amend to a total below the instrument's min_qty_lots is rejected QTY_BELOW_MIN, as a new order is."""
        h = Harness(btc(min_qty_lots=3, min_notional_atoms=0))
        h.new(ALICE, BUY, 5, P)
        assert h.amend(ALICE, 1, P, 2) == [rejected(h.ts, ALICE, RejectReason.QTY_BELOW_MIN, order_id=1)]
        assert h.queue(BUY, P) == [(1, 5)]

    def test_amend_unknown_or_foreign_order(self, h: Harness) -> None:
        """Amending an unknown id or another account's order is rejected UNKNOWN_ORDER."""
        h.new(ALICE, BUY, 5, P)
        assert h.amend(ALICE, 7, P, 4) == [rejected(h.ts, ALICE, RejectReason.UNKNOWN_ORDER, order_id=7)]
        assert h.amend(BOB, 1, P, 4) == [rejected(h.ts, BOB, RejectReason.UNKNOWN_ORDER, order_id=1)]
        assert h.queue(BUY, P) == [(1, 5)]

    def test_amend_of_another_accounts_stop_order_is_unknown(self, h: Harness) -> None:
        """Another account's stop order is not this account's open order: UNKNOWN_ORDER, as for a cancel."""
        h.new(ALICE, BUY, 2, order_type=STOP_MARKET, trigger=P + 10)
        assert h.cancel(BOB, 1) == [rejected(h.ts, BOB, RejectReason.UNKNOWN_ORDER, order_id=1)]
        assert h.amend(BOB, 1, P, 3) == [rejected(h.ts, BOB, RejectReason.UNKNOWN_ORDER, order_id=1)]

    def test_amend_unknown_symbol(self, h: Harness) -> None:
        """An amend for an unknown symbol is rejected UNKNOWN_SYMBOL."""
        assert h.amend(ALICE, 1, P, 4, symbol="FOOUSDT") == [
            rejected(h.ts, ALICE, RejectReason.UNKNOWN_SYMBOL, order_id=1, symbol="FOOUSDT")
        ]


# ---------------------------------------------------------------------- self-trade prevention
class TestSelfTradePrevention:
    @pytest.fixture
    def book(self, h: Harness) -> Harness:
        """Asks: BOB 2 @ P (1), ALICE 3 @ P (2), BOB 5 @ P+1 (3)."""
        h.new(BOB, SELL, 2, P)
        h.new(ALICE, SELL, 3, P)
        h.new(BOB, SELL, 5, P + 1)
        return h

    def test_setting_a_mode_emits_nothing(self, h: Harness) -> None:
        """A valid SetSelfTradePrevention changes state silently."""
        assert h.stp(ALICE, STP_EXPIRE_TAKER) == []
        assert h.ex.stp_modes == {ALICE: STP_EXPIRE_TAKER}
        assert h.stp(ALICE, STP_NONE) == [] and h.ex.stp_modes == {}

    def test_invalid_mode_is_rejected(self, h: Harness) -> None:
        """An unknown STP mode is rejected INVALID_STP_MODE (no symbol) and changes nothing."""
        h.stp(ALICE, STP_EXPIRE_MAKER)
        assert h.stp(ALICE, 4) == [OrderRejected(h.ts, "", ALICE, None, 0, RejectReason.INVALID_STP_MODE)]
        assert h.ex.stp_modes == {ALICE: STP_EXPIRE_MAKER}

    def test_invalid_account_is_rejected(self, h: Harness) -> None:
        """STP for account 0 (replayed liquidity) or a negative id is rejected INVALID_ACCOUNT, like orders."""
        assert h.stp(0, STP_EXPIRE_TAKER) == [OrderRejected(h.ts, "", 0, None, 0, RejectReason.INVALID_ACCOUNT)]
        assert h.stp(-1, STP_EXPIRE_TAKER) == [OrderRejected(h.ts, "", -1, None, 0, RejectReason.INVALID_ACCOUNT)]
        assert h.ex.stp_modes == {}

    def test_expire_taker(self, book: Harness) -> None:
        """EXPIRE_TAKER: the taker fills others' orders ahead, then its remainder expires (STP); its resting order stays."""
        h = book
        h.stp(ALICE, STP_EXPIRE_TAKER)
        ev = h.new(ALICE, BUY, 6, P + 10)
        t = h.ts
        assert ev == [
            accepted(t, 4, ALICE, BUY, 6, P + 10),
            Fill(t, SYM, 1, P, 2, BUY, 4, ALICE, 4, taker_fee(P, 2), 1, BOB, 0, maker_fee(P, 2)),
            BookDelta(t, SYM, SELL, P, 3),
            OrderExpired(t, SYM, 4, ALICE, 4, "STP"),
        ]
        assert h.queue(SELL, P) == [(2, 3)] and h.depth(SELL) == [(P, 3), (P + 1, 5)]
        assert h.depth(BUY) == []

    def test_expire_taker_without_fills(self, book: Harness) -> None:
        """EXPIRE_TAKER with its own order at the front: nothing trades, the taker expires whole."""
        h = book
        h.cancel(BOB, 1)
        h.stp(ALICE, STP_EXPIRE_TAKER)
        ev = h.new(ALICE, BUY, 6, P + 10, tif=IOC)
        assert ev == [accepted(h.ts, 4, ALICE, BUY, 6, P + 10, tif=IOC), OrderExpired(h.ts, SYM, 4, ALICE, 6, "STP")]
        assert h.queue(SELL, P) == [(2, 3)]

    def test_expire_maker(self, book: Harness) -> None:
        """EXPIRE_MAKER: the own resting order is cancelled (STP, its open size) and matching goes on."""
        h = book
        h.stp(ALICE, STP_EXPIRE_MAKER)
        ev = h.new(ALICE, BUY, 6, P + 10)
        t = h.ts
        assert ev == [
            accepted(t, 4, ALICE, BUY, 6, P + 10),
            Fill(t, SYM, 1, P, 2, BUY, 4, ALICE, 4, taker_fee(P, 2), 1, BOB, 0, maker_fee(P, 2)),
            Fill(t, SYM, 2, P + 1, 4, BUY, 4, ALICE, 0, taker_fee(P + 1, 4), 3, BOB, 1, maker_fee(P + 1, 4)),
            OrderCancelled(t, SYM, 2, ALICE, 3, "STP"),
            BookDelta(t, SYM, SELL, P, 0),
            BookDelta(t, SYM, SELL, P + 1, 1),
        ]
        assert h.depth(SELL) == [(P + 1, 1)] and h.ex.open_order(SYM, 2) is None

    def test_expire_maker_of_partially_filled_order_reports_its_leaves(self, book: Harness) -> None:
        """The STP cancel of a partially filled own order reports only what it still had open."""
        h = book
        h.cancel(BOB, 1)
        h.new(CAROL, BUY, 2, P)  # fills 2 of ALICE's 3
        h.stp(ALICE, STP_EXPIRE_MAKER)
        ev = h.new(ALICE, BUY, 2, P + 1)
        t = h.ts
        assert ev == [
            accepted(t, 5, ALICE, BUY, 2, P + 1),
            Fill(t, SYM, 2, P + 1, 2, BUY, 5, ALICE, 0, taker_fee(P + 1, 2), 3, BOB, 3, maker_fee(P + 1, 2)),
            OrderCancelled(t, SYM, 2, ALICE, 1, "STP"),
            BookDelta(t, SYM, SELL, P + 1, 3),
            BookDelta(t, SYM, SELL, P, 0),
        ]

    def test_expire_maker_then_rest(self, book: Harness) -> None:
        """EXPIRE_MAKER with nothing else to take: own order cancelled, the GTC remainder rests."""
        h = book
        h.cancel(BOB, 1)
        h.cancel(BOB, 3)
        h.stp(ALICE, STP_EXPIRE_MAKER)
        ev = h.new(ALICE, BUY, 4, P)
        t = h.ts
        assert ev == [
            accepted(t, 4, ALICE, BUY, 4, P),
            OrderCancelled(t, SYM, 2, ALICE, 3, "STP"),
            BookDelta(t, SYM, SELL, P, 0),
            BookDelta(t, SYM, BUY, P, 4),
        ]

    def test_expire_both(self, book: Harness) -> None:
        """EXPIRE_BOTH: the own resting order is cancelled and the taker's remainder expires, both STP."""
        h = book
        h.stp(ALICE, STP_EXPIRE_BOTH)
        ev = h.new(ALICE, BUY, 6, P + 10)
        t = h.ts
        assert ev == [
            accepted(t, 4, ALICE, BUY, 6, P + 10),
            Fill(t, SYM, 1, P, 2, BUY, 4, ALICE, 4, taker_fee(P, 2), 1, BOB, 0, maker_fee(P, 2)),
            OrderCancelled(t, SYM, 2, ALICE, 3, "STP"),
            BookDelta(t, SYM, SELL, P, 0),
            OrderExpired(t, SYM, 4, ALICE, 4, "STP"),
        ]
        assert h.depth(SELL) == [(P + 1, 5)] and h.depth(BUY) == []

    def test_none_trades_with_itself(self, book: Harness) -> None:
        """With STP_NONE (the default) an account's orders trade with each other, paying both fees."""
        h = book
        h.cancel(BOB, 1)
        ev = h.new(ALICE, BUY, 3, P)
        t = h.ts
        assert ev == [
            accepted(t, 4, ALICE, BUY, 3, P),
            Fill(t, SYM, 1, P, 3, BUY, 4, ALICE, 0, taker_fee(P, 3), 2, ALICE, 0, maker_fee(P, 3)),
            BookDelta(t, SYM, SELL, P, 0),
        ]

    def test_mode_back_to_none_trades_again(self, book: Harness) -> None:
        """Setting STP_NONE after another mode lets the account trade with itself again."""
        h = book
        h.cancel(BOB, 1)
        h.stp(ALICE, STP_EXPIRE_TAKER)
        h.stp(ALICE, STP_NONE)
        assert h.new(ALICE, BUY, 3, P)[1].maker_account_id == ALICE

    def test_mode_is_per_account(self, book: Harness) -> None:
        """One account's STP mode does not affect another account's orders."""
        h = book
        h.stp(ALICE, STP_EXPIRE_TAKER)
        ev = h.new(BOB, BUY, 4, P)  # BOB has no STP: meets its own order 1, then ALICE's
        assert [(f.maker_order_id, f.qty_lots) for f in ev if type(f) is Fill] == [(1, 2), (2, 2)]

    def test_stp_applies_to_fok_feasibility(self, book: Harness) -> None:
        """A FOK that could only fill by trading with itself under EXPIRE_TAKER expires (FOK) untouched."""
        h = book
        h.stp(ALICE, STP_EXPIRE_TAKER)
        ev = h.new(ALICE, BUY, 4, P + 1, tif=FOK)
        assert ev == [accepted(h.ts, 4, ALICE, BUY, 4, P + 1, tif=FOK), OrderExpired(h.ts, SYM, 4, ALICE, 4, "FOK")]
        assert h.queue(SELL, P) == [(1, 2), (2, 3)]


# ---------------------------------------------------------------------- the exchange object
class TestEventFields:
    def test_field_order_of_emitted_events(self) -> None:
        """The exchange builds events positionally (tuple.__new__), so each class's field order is pinned here."""
        assert OrderAccepted._fields == (
            "ts_ns", "symbol", "order_id", "account_id", "client_order_id", "side", "order_type", "tif",
            "price_ticks", "qty_lots", "trigger_price_ticks",
        )
        assert OrderRejected._fields == ("ts_ns", "symbol", "account_id", "client_order_id", "order_id", "reason")
        assert OrderCancelled._fields == ("ts_ns", "symbol", "order_id", "account_id", "leaves_lots", "reason")
        assert OrderExpired._fields == ("ts_ns", "symbol", "order_id", "account_id", "leaves_lots", "reason")
        assert OrderAmended._fields == (
            "ts_ns", "symbol", "order_id", "account_id", "price_ticks", "qty_lots", "leaves_lots", "kept_priority",
        )
        assert OrderTriggered._fields == (
            "ts_ns", "symbol", "order_id", "account_id", "trigger_price_ticks", "reference_price_subticks", "trigger_by",
        )
        assert Fill._fields == (
            "ts_ns", "symbol", "trade_id", "price_ticks", "qty_lots", "aggressor_side",
            "taker_order_id", "taker_account_id", "taker_leaves_lots", "taker_fee_atoms",
            "maker_order_id", "maker_account_id", "maker_leaves_lots", "maker_fee_atoms",
        )
        assert BookDelta._fields == ("ts_ns", "symbol", "side", "price_ticks", "lots")
        assert MarkPriceUpdated._fields == ("ts_ns", "symbol", "mark_price_subticks")

    def test_emitted_events_read_by_name(self, h: Harness) -> None:
        """Fields read by name carry what their names say (a positional slip would show here)."""
        h.new(BOB, SELL, 3, P, coid="m")
        acc, fill = h.new(ALICE, BUY, 2, P + 1, coid="t")[:2]
        assert (acc.order_id, acc.account_id, acc.client_order_id, acc.price_ticks, acc.qty_lots) == (2, ALICE, "t", P + 1, 2)
        assert (fill.price_ticks, fill.qty_lots, fill.aggressor_side) == (P, 2, BUY)
        assert (fill.taker_order_id, fill.taker_account_id, fill.taker_leaves_lots) == (2, ALICE, 0)
        assert (fill.maker_order_id, fill.maker_account_id, fill.maker_leaves_lots) == (1, BOB, 1)
        assert (fill.taker_fee_atoms, fill.maker_fee_atoms) == (6_000_000, 2_400_000)  # 1.2e10 atoms * 5e-4 / 2e-4


class TestExchangeObject:
    def test_duplicate_instrument_is_refused(self) -> None:
        """Giving one instrument twice is a ValueError naming it."""
        with pytest.raises(ValueError, match="BTCUSDT"):
            Exchange([BTC, BTC])

    def test_sinks_get_one_batch_per_command_with_events(self, h: Harness) -> None:
        """Each command's events reach every sink in one batch; a command without events calls no sink."""
        calls: list[int] = []
        counter = CountingSink()
        h.ex.sinks.extend([lambda batch: calls.append(len(batch)), counter])
        h.new(ALICE, BUY, 5, P)
        h.stp(ALICE, STP_EXPIRE_MAKER)  # no events
        h.new(BOB, SELL, 5, P)
        assert calls == [2, 3]
        assert counter.as_dict() == {"BookDelta": 2, "Fill": 1, "OrderAccepted": 2}

    def test_book_deltas_can_be_turned_off(self) -> None:
        """With emit_book_deltas=False the stream is the same minus every BookDelta."""
        with_deltas = Harness(BTC)
        without = Harness(BTC, emit_book_deltas=False)
        for hh in (with_deltas, without):
            hh.new(BOB, SELL, 3, P)
            hh.new(ALICE, BUY, 5, P + 1)
            hh.amend(ALICE, 2, P - 1, 4)
            hh.cancel(ALICE, 2)
            hh.level(SELL, P + 5, 7)
            hh.new(CAROL, BUY, 3)
        assert [e for e in with_deltas.sink.events if type(e) is not BookDelta] == without.sink.events
        assert with_deltas.ex.state_hash() == without.ex.state_hash()

    def test_open_order_and_prices_before_any_trade(self, h: Harness) -> None:
        """Before any trade or mark, last and mark prices are None; open_order finds resting and waiting orders."""
        assert h.ex.last_price(SYM) is None and h.ex.mark_price_subticks(SYM) is None
        h.new(ALICE, BUY, 5, P)
        h.new(ALICE, SELL, 2, order_type=TAKE_PROFIT_MARKET, trigger=P + 100)
        assert h.ex.open_order(SYM, 1).price_ticks == P
        assert h.ex.open_order(SYM, 2).trigger_price_ticks == P + 100
        assert h.ex.open_order(SYM, 3) is None
        assert "1 resting, 1 waiting" in h.ex.describe()

    def test_commands_are_not_mutated(self, h: Harness) -> None:
        """Submitting a command leaves it as it was (commands are immutable messages)."""
        cmd = NewOrder(1, ALICE, SYM, BUY, 5, P)
        h.ex.submit(cmd)
        assert cmd == NewOrder(1, ALICE, SYM, BUY, 5, P)
        cancel = CancelOrder(2, ALICE, SYM, 1)
        amend = AmendOrder(2, ALICE, SYM, 1, P, 4)
        h.ex.submit(amend)
        h.ex.submit(cancel)
        assert (amend.qty_lots, cancel.order_id) == (4, 1)
