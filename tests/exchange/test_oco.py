"""Specification of one-cancels-the-other groups (NewOco).

Legs are accepted all or none; the first fill (even partial) or trigger of one leg cancels
every other leg in the same command, with reason OCO, before anything else trades.
"""

from __future__ import annotations

from exsim.exchange import Fill, OrderAccepted, OrderCancelled, OrderRejected, OrderTriggered, RejectReason

from .contingent_harness import (
    ALICE, BOB, BUY, CAROL, P, SELL, SYM, market_with_liquidity, of, order, send_oco, stop,
)


def test_both_legs_are_accepted_together() -> None:
    """A take-profit limit and a stop-loss are accepted as two orders, in leg order."""
    h = market_with_liquidity()
    events = send_oco(h, order(SELL, 2, P + 1_000, coid="tp"), stop(SELL, 2, P - 1_000, coid="sl"))
    assert [(e.order_id, e.client_order_id) for e in of(events, OrderAccepted)] == [(1, "tp"), (2, "sl")]


def test_one_refused_leg_refuses_all() -> None:
    """A stop leg that would trigger at once refuses the group: the other leg OCO_LEG_REJECTED, nothing held."""
    h = market_with_liquidity()
    events = send_oco(h, order(SELL, 2, P + 1_000, coid="tp"), stop(SELL, 2, P + 10, coid="sl"))
    assert [(e.client_order_id, e.reason) for e in of(events, OrderRejected)] == [
        ("tp", RejectReason.OCO_LEG_REJECTED), ("sl", RejectReason.WOULD_IMMEDIATELY_TRIGGER)
    ]
    assert of(events, OrderAccepted) == [] and h.held(ALICE) == 0 and len(h.ex.book(SYM)) == 0


def test_fill_of_a_leg_cancels_the_other_in_the_same_command() -> None:
    """BOB lifts half the take-profit: the stop is cancelled (OCO) right after the fill."""
    h = market_with_liquidity()
    send_oco(h, order(SELL, 4, P + 1_000), stop(SELL, 4, P - 1_000))
    events = h.new(BOB, BUY, 2, P + 1_000)
    kinds = [type(e) for e in events]
    assert kinds.index(Fill) < kinds.index(OrderCancelled)
    (c,) = of(events, OrderCancelled)
    assert (c.order_id, c.reason, c.leaves_lots) == (2, "OCO", 4)
    assert h.ex.open_order(SYM, 1).leaves_lots == 2  # the filled leg keeps its remainder


def test_trigger_of_a_leg_cancels_the_other_before_it_trades() -> None:
    """The stop triggers: the take-profit is cancelled before the stop's market order fills."""
    h = market_with_liquidity()
    h.new(CAROL, BUY, 5, P - 2_000)
    send_oco(h, order(SELL, 2, P + 1_000), stop(SELL, 2, P - 1_000))
    events = h.tape(SELL, P - 1_000, 1)
    kinds = [type(e) for e in events]
    assert kinds.index(OrderTriggered) < kinds.index(OrderCancelled) < kinds.index(Fill)
    assert of(events, OrderCancelled)[0].order_id == 2  # the take-profit (CAROL's bid is order 1)


def test_two_legs_fired_by_one_price_trigger_only_the_first() -> None:
    """Two stops crossed by one print: the first (lowest id) triggers, the other is cancelled."""
    h = market_with_liquidity()
    send_oco(h, stop(SELL, 2, P - 1_000), stop(SELL, 2, P - 2_000))
    events = h.tape(SELL, P - 3_000, 1)
    assert [e.order_id for e in of(events, OrderTriggered)] == [1]
    assert [(e.order_id, e.reason) for e in of(events, OrderCancelled)] == [(2, "OCO")]


def test_resting_leg_filled_by_a_print_cancels_its_sibling_before_other_triggers() -> None:
    """A leg filled as maker by a replayed print cancels its sibling before a stop that print fires."""
    h = market_with_liquidity()
    h.submit(stop(BUY, 2, P + 1_000)._replace(account_id=CAROL))  # CAROL's BUY stop
    send_oco(h, order(SELL, 2, P + 1_000), stop(SELL, 2, P - 1_000))
    events = h.tape(BUY, P + 1_000, 2)
    cancelled = [i for i, e in enumerate(events) if type(e) is OrderCancelled and e.reason == "OCO"]
    fired = [i for i, e in enumerate(events) if type(e) is OrderTriggered]
    assert cancelled and fired and cancelled[0] < fired[0]


def test_two_limit_legs_on_one_side_are_refused() -> None:
    """One sweep could fill both: two limit legs on the same side are INVALID_OCO."""
    h = market_with_liquidity()
    events = send_oco(h, order(BUY, 2, P - 1_000), order(BUY, 2, P - 2_000))
    assert [e.reason for e in of(events, OrderRejected)] == [RejectReason.OCO_LEG_REJECTED, RejectReason.INVALID_OCO]


def test_crossing_limit_legs_are_refused() -> None:
    """A buy leg at or above the sell leg would trade with it: INVALID_OCO."""
    h = market_with_liquidity()
    events = send_oco(h, order(SELL, 2, P + 1_000), order(BUY, 2, P + 1_000))
    assert RejectReason.INVALID_OCO in [e.reason for e in of(events, OrderRejected)]


def test_cancelling_one_leg_cancels_the_group() -> None:
    """Cancelling a leg cancels the others (reason OCO), as Binance cancels an order list whole."""
    h = market_with_liquidity()
    send_oco(h, order(SELL, 2, P + 1_000), stop(SELL, 2, P - 1_000))
    events = h.cancel(ALICE, 1)
    assert [(e.order_id, e.reason) for e in of(events, OrderCancelled)] == [(1, "USER"), (2, "OCO")]
    assert h.held(ALICE) == 0


def test_duplicate_client_ids_among_legs_are_refused() -> None:
    """Two legs with one client order id: DUPLICATE_CLIENT_ORDER_ID, nothing accepted."""
    h = market_with_liquidity()
    events = send_oco(h, order(SELL, 2, P + 1_000, coid="x"), stop(SELL, 2, P - 1_000, coid="x"))
    assert RejectReason.DUPLICATE_CLIENT_ORDER_ID in [e.reason for e in of(events, OrderRejected)]
    assert of(events, OrderAccepted) == []


def test_never_both_fill_when_a_leg_is_marketable() -> None:
    """A leg that fills at once as a taker cancels the later book leg before it reaches the book."""
    h = market_with_liquidity()
    h.new(BOB, SELL, 5, P + 500)
    events = send_oco(h, order(BUY, 2, P + 500), order(SELL, 2, P + 2_000))
    assert [(e.order_id, e.reason) for e in of(events, OrderCancelled)] == [(3, "OCO")]
    assert h.ex.open_order(SYM, 3) is None


def test_take_profit_and_stop_each_the_size_of_the_position() -> None:
    """A reduce-only take-profit limit and a reduce-only stop, each closing the whole position, are accepted together."""
    h = market_with_liquidity()
    h.new(BOB, SELL, 4, P)
    h.new(ALICE, BUY, 4, P)
    events = send_oco(h, order(SELL, 4, P + 1_000, reduce_only=True), stop(SELL, 4, P - 1_000, reduce_only=True))
    assert len(of(events, OrderAccepted)) == 2 and of(events, OrderRejected) == []


def test_a_leg_filled_as_maker_by_an_earlier_stop_cancels_a_sibling_the_same_price_fired() -> None:
    """One print fires CAROL's take-profit buy and ALICE's stop-loss leg; CAROL's (the lower
    id) goes first and lifts ALICE's take-profit leg as maker: the stop-loss, already fired
    and waiting its turn, is cancelled (OCO) and never trades (found by ``exsim.stress``
    seed 3: both legs of a group used to fill)."""
    from exsim.book.orders import TAKE_PROFIT_MARKET

    h = market_with_liquidity()
    h.new(BOB, BUY, 5, P - 2_000)  # a bid for the stop-loss to hit, were it to trade
    h.submit(order(BUY, 2, 0, TAKE_PROFIT_MARKET, trigger=P - 500)._replace(account_id=CAROL))
    send_oco(h, order(SELL, 2, P + 1_000), stop(SELL, 2, P - 1_000))
    events = h.tape(SELL, P - 1_000, 1)
    assert [e.order_id for e in of(events, OrderTriggered)] == [2]  # the stop-loss never gets its turn
    assert [(e.order_id, e.reason) for e in of(events, OrderCancelled)] == [(4, "OCO")]
    assert {e.maker_order_id for e in of(events, Fill)} == {3}  # only the take-profit leg traded
