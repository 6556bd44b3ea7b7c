"""Specification of bracket orders (NewBracket): an entry whose exits are placed when it fills.

The exits are reduce-only, sized to what the entry has filled, one OCO group, grown as the
entry fills more; they go when the position they protect is flat (POSITION_CLOSED).
"""

from __future__ import annotations

from exsim.book.orders import TAKE_PROFIT_MARKET, TRAILING_STOP_MARKET, TRIGGER_MARK
from exsim.exchange import Fill, OrderAccepted, OrderAmended, OrderCancelled, OrderRejected, OrderTriggered, RejectReason

from ledger.harness import USDT

from .contingent_harness import ALICE, BOB, BUY, CAROL, P, SELL, SYM, market_with_liquidity, of, order, send_bracket, stop

TP = P + 1_000
SL = P - 1_000


def lots(h) -> int:  # type: ignore[no-untyped-def]
    """ALICE's position in lots (0 when flat)."""
    pos = h.pos(ALICE)
    return 0 if pos is None else pos.qty_lots


def long_bracket(h, qty: int = 10):  # type: ignore[no-untyped-def]
    """ALICE bids ``qty`` lots at P with a take-profit limit at TP and a stop at SL."""
    return send_bracket(h, order(BUY, qty, P, coid="entry"), order(SELL, 0, TP, coid="tp"), stop(SELL, 0, SL, coid="sl"))


def test_no_exit_before_the_entry_fills() -> None:
    """Only the entry is accepted while it rests unfilled."""
    h = market_with_liquidity()
    events = long_bracket(h)
    assert [e.client_order_id for e in of(events, OrderAccepted)] == ["entry"]


def test_exits_are_placed_at_the_first_fill_sized_to_it() -> None:
    """BOB sells 3 lots into the entry: a 3-lot reduce-only take-profit and stop appear."""
    h = market_with_liquidity()
    long_bracket(h)
    events = h.new(BOB, SELL, 3, P)
    exits = of(events, OrderAccepted)[1:]
    # the waiting stop is placed before the resting limit (order ids 3 and 4)
    assert [(e.client_order_id, e.side, e.qty_lots) for e in exits] == [("sl", SELL, 3), ("tp", SELL, 3)]
    assert all(h.ex.open_order(SYM, e.order_id).reduce_only for e in exits)


def test_exits_grow_with_the_entry() -> None:
    """Two more lots fill: both exits are amended to 5 lots."""
    h = market_with_liquidity()
    long_bracket(h)
    h.new(BOB, SELL, 3, P)
    events = h.new(BOB, SELL, 2, P)
    assert sorted((e.order_id, e.qty_lots) for e in of(events, OrderAmended)) == [(3, 5), (4, 5)]


def test_entry_cancelled_unfilled_places_nothing() -> None:
    """An entry cancelled before any fill places no exit and leaves no link."""
    h = market_with_liquidity()
    long_bracket(h)
    h.cancel(ALICE, 1)
    h.new(BOB, SELL, 3, P)
    assert not h.ex.contingent and h.pos(ALICE) is None or lots(h) == 0


def test_stop_exit_cancels_the_take_profit_and_the_entry_rest() -> None:
    """The mark stop fires: the take-profit and the entry's unfilled rest are cancelled (OCO)
    before the stop's market order trades (it sells to CAROL, not into ALICE's own bid)."""
    h = market_with_liquidity()
    send_bracket(h, order(BUY, 10, P), order(SELL, 0, TP), stop(SELL, 0, SL, trigger_by=TRIGGER_MARK))
    h.new(BOB, SELL, 3, P)
    h.new(CAROL, BUY, 10, SL - 500)
    events = h.mark(SL)
    assert [e.order_id for e in of(events, OrderTriggered)] == [3]
    kinds = [type(e) for e in events]
    assert kinds.index(OrderCancelled) < kinds.index(Fill)
    assert sorted((e.order_id, e.reason) for e in of(events, OrderCancelled)) == [(1, "OCO"), (4, "OCO")]
    assert lots(h) == 0 and not h.ex.contingent


def test_position_closed_otherwise_cancels_the_exits() -> None:
    """ALICE sells her 3 lots herself: the exits go with reason POSITION_CLOSED."""
    h = market_with_liquidity()
    long_bracket(h, qty=3)
    h.new(BOB, SELL, 3, P)
    h.new(CAROL, BUY, 10, P - 100)
    events = h.new(ALICE, SELL, 3, P - 100)
    assert sorted((e.order_id, e.reason) for e in of(events, OrderCancelled)) == [
        (3, "POSITION_CLOSED"), (4, "POSITION_CLOSED")
    ]
    assert not h.ex.contingent


def test_exits_shrink_with_the_position() -> None:
    """ALICE sells 1 of her 3 lots: the stop exit is cut to 2 lots (it never exceeds the position)."""
    h = market_with_liquidity()
    long_bracket(h, qty=3)
    h.new(BOB, SELL, 3, P)
    h.new(CAROL, BUY, 10, P - 100)
    h.new(ALICE, SELL, 1, 0)
    assert h.ex.open_order(SYM, 3).qty_lots == 2


def test_a_refused_exit_refuses_the_bracket() -> None:
    """An exit on the entry's own side refuses entry and exits: INVALID_BRACKET, the rest OCO_LEG_REJECTED."""
    h = market_with_liquidity()
    events = send_bracket(h, order(BUY, 3, P), stop(BUY, 0, P + 1_000))
    assert [e.reason for e in of(events, OrderRejected)] == [RejectReason.OCO_LEG_REJECTED, RejectReason.INVALID_BRACKET]
    assert not h.ex.contingent


def test_exit_already_through_its_trigger_fires_at_once() -> None:
    """A take-profit at or under the entry's fill price fires in the entry's command (not refused)."""
    h = market_with_liquidity()
    h.new(BOB, SELL, 5, P)
    h.new(CAROL, BUY, 5, P - 100)
    events = send_bracket(h, order(BUY, 3), order(SELL, 0, 0, TAKE_PROFIT_MARKET, trigger=P - 500))
    assert len(of(events, OrderTriggered)) == 1
    assert lots(h) == 0 and not h.ex.contingent


def test_trailing_exit_is_active_at_once() -> None:
    """A trailing exit (1 %) trails from the fill price at once: it fires at P × 0.99."""
    h = market_with_liquidity()
    h.new(BOB, SELL, 5, P)
    send_bracket(h, order(BUY, 3), order(SELL, 0, 0, TRAILING_STOP_MARKET, callback_rate_e8=1_000_000))
    h.new(CAROL, BUY, 5, P - 10_000)
    assert of(h.tape(SELL, P * 99 // 100 + 1, 1), OrderTriggered) == []
    (t,) = of(h.tape(SELL, P * 99 // 100, 1), OrderTriggered)
    assert t.trigger_price_ticks == 594_000


def test_liquidation_leaves_no_link() -> None:
    """A 100x bracket long liquidated by the mark: its exits are cancelled (LIQUIDATION) and no link is left."""
    h = market_with_liquidity()
    h.leverage(ALICE, 100)
    h.withdraw(ALICE, 1_000_000 * USDT - 8 * USDT)  # 8 USDT left: 0.01 BTC at 100x
    h.new(BOB, SELL, 10, P)
    send_bracket(h, order(BUY, 10), order(SELL, 0, P + 5_000), stop(SELL, 0, P - 5_000))
    assert lots(h) == 10 and h.ex.contingent
    h.new(CAROL, BUY, 50, P - 7_000)
    events = h.mark(P - 6_000)  # 600 USDT down on 0.01 BTC: 6 USDT lost, under maintenance
    assert {e.reason for e in of(events, OrderCancelled)} == {"LIQUIDATION"}
    assert lots(h) == 0 and not h.ex.contingent
