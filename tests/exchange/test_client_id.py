"""Specification of cancel / amend by client order id (Binance ``origClientOrderId``):
with ``order_id == 0`` the order is the account's open order of that client order id."""

from __future__ import annotations

from exsim.exchange import AmendOrder, CancelOrder, OrderAmended, OrderCancelled, OrderRejected, RejectReason

from .harness import ALICE, BOB, BTC, BUY, SYM, Harness, P


def test_cancel_by_client_order_id() -> None:
    """CancelOrder(order_id=0, client_order_id='a') cancels ALICE's order 'a'."""
    h = Harness(BTC)
    h.new(ALICE, BUY, 2, P, coid="a")
    (c,) = h.submit(CancelOrder(0, ALICE, SYM, 0, "a"))[:1]
    assert (type(c), c.order_id, c.reason) == (OrderCancelled, 1, "USER")


def test_amend_by_client_order_id() -> None:
    """AmendOrder(order_id=0, client_order_id='a') amends ALICE's order 'a'."""
    h = Harness(BTC)
    h.new(ALICE, BUY, 2, P, coid="a")
    (a,) = [e for e in h.submit(AmendOrder(0, ALICE, SYM, 0, P, 3, "a")) if type(e) is OrderAmended]
    assert (a.order_id, a.qty_lots) == (1, 3)


def test_client_id_of_another_account_is_unknown() -> None:
    """BOB cannot cancel ALICE's order through her client order id."""
    h = Harness(BTC)
    h.new(ALICE, BUY, 2, P, coid="a")
    (r,) = h.submit(CancelOrder(0, BOB, SYM, 0, "a"))
    assert (type(r), r.reason, r.client_order_id) == (OrderRejected, RejectReason.UNKNOWN_ORDER, "a")


def test_client_id_of_a_closed_order_is_unknown() -> None:
    """Once the order is cancelled its client order id names nothing."""
    h = Harness(BTC)
    h.new(ALICE, BUY, 2, P, coid="a")
    h.cancel(ALICE, 1)
    (r,) = h.submit(CancelOrder(0, ALICE, SYM, 0, "a"))
    assert r.reason == RejectReason.UNKNOWN_ORDER


def test_order_id_wins_over_client_id() -> None:
    """A non-zero order id is used as given (the client order id is then only echoed)."""
    h = Harness(BTC)
    h.new(ALICE, BUY, 2, P, coid="a")
    h.new(ALICE, BUY, 2, P - 1, coid="b")
    (c,) = h.submit(CancelOrder(0, ALICE, SYM, 2, "a"))[:1]
    assert c.order_id == 2
