"""A funding settlement before any price (no mark, no trade) is a no-op, not a crash.

Funding is paid on open positions at the mark (or the last trade before the first mark).
Before any price, no position can be open: a position comes only from a fill, and a fill
sets the last price (a liquidation takeover needs a mark). So, as on a venue, such a
settlement pays nothing and changes nothing. A replay of funding rows that come before
the first price of their symbol runs through them (``tests/readers/test_bad_input_corpus.py``
``test_funding_rows_without_any_price``).
"""

from __future__ import annotations

from typing import Any

from exsim.exchange import Deposit, FundingPaid, FundingSettled, SettleFunding
from exsim.ledger import Ledger

from exchange.harness import ALICE, BOB, BTC, BUY, P, SELL, SYM, Harness

USDT = 100_000_000  # atoms


def _harness(**kwargs: Any) -> Harness:
    h = Harness(BTC, ledger=Ledger((BTC,)), **kwargs)
    for account in (ALICE, BOB):
        h.submit(Deposit(0, account, 10_000 * USDT))
    return h


def test_settlement_before_any_price_is_a_no_op() -> None:
    h = _harness()
    before = h.ex.state_hash()
    assert h.ex.mark_price_subticks(SYM) is None and h.ex.last_price(SYM) is None
    assert h.submit(SettleFunding(0, SYM, 10_000)) == []  # +0.01 %: nothing to pay, no event
    assert h.ex.state_hash() == before


def test_computed_settlement_before_any_price_is_a_no_op() -> None:
    """Computed funding (the replay's timer path) at the first funding time, before any price."""
    h = _harness(computed_marks=True, computed_funding=True)
    start = len(h.sink.events)
    h.ex.submit(SettleFunding(BTC.funding_interval_ns, SYM, None))  # on the funding grid
    h.check()
    assert h.sink.events[start:] == []
    assert h.ex.ledger is not None and all(a.funding_atoms == 0 for a in h.ex.ledger.accounts.values())


def test_after_a_fill_the_last_price_values_the_positions() -> None:
    """Once something has filled there is a price: the settlement pays at the last trade."""
    h = _harness()
    h.new(ALICE, SELL, 2, P)
    h.new(BOB, BUY, 2, P)  # Bob long 2 lots at P, Alice short; no mark yet
    assert h.ex.mark_price_subticks(SYM) is None and h.ex.last_price(SYM) == P
    events = h.submit(SettleFunding(0, SYM, 10_000))
    paid = {e.account_id: e.amount_atoms for e in events if type(e) is FundingPaid}
    notional = 2 * P * BTC.atoms_per_tick_lot
    assert paid == {BOB: -notional * 10_000 // 100_000_000, ALICE: notional * 10_000 // 100_000_000}
    settled = [e for e in events if type(e) is FundingSettled]
    assert len(settled) == 1 and settled[0].mark_price_subticks == P * BTC.subticks_per_tick
