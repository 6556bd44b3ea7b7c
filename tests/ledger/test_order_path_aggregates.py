"""The ledger's per-account aggregates on the order path, and the cheap mirror booking.

Issue 21: the order hold, the cross pool's re-file, the bad-debt check and the
exchange's closing-order trim ask O(1) questions of an account instead of walking its
positions and orders. These tests state what each aggregate is, that the ledger keeps
it through opens, closes, flips, cancels and amends, and that ``_check`` refuses a
ledger whose aggregate disagrees with what it counts. They also pin the mirror side's
booking (EXTERNAL's flat position reused, yet listed and hashed as a new one) and the
one-position cross pool's direct triggers (the same as the general path's).
"""

from __future__ import annotations

import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exsim.errors import StateError
from exsim.book.orders import STOP_LIMIT, STOP_MARKET
from exsim.ledger import EXTERNAL, ISOLATED, LONG, SHORT, Ledger, OrderHold, holds
from exsim.ledger.accounts import NO_ENTRIES, NO_ORDERS
from exsim.ledger.risk_index import DEFAULT_WARN_RATIO_E8, LIQUIDATION_RATIO_E8, _pool_triggers, cross_triggers

from .harness import ALICE, BOB, BTC, BUY, ETH, P, SELL, SYM, LedgerHarness, USDT, reasons


def funded(*accounts: int) -> LedgerHarness:
    h = LedgerHarness(BTC, ETH)
    for a in accounts:
        h.deposit(a, 100_000 * USDT)
    h.level(BUY, P - 1, 10**6)
    h.level(SELL, P + 1, 10**6)
    h.mark(P)
    return h


def cross_count(h: LedgerHarness, account: int) -> int:
    return sum(1 for p in h.acct(account).positions.values() if not p.isolated)


class TestCrossPositions:
    def test_counts_the_open_cross_positions_through_open_flip_and_close(self) -> None:
        h = funded(ALICE)
        assert h.acct(ALICE).cross_positions == 0
        h.new(ALICE, BUY, 2)
        assert h.acct(ALICE).cross_positions == 1
        h.new(ALICE, SELL, 5)  # flips through zero: still one position
        assert h.acct(ALICE).cross_positions == 1 == cross_count(h, ALICE)
        h.new(ALICE, BUY, 3)  # flat
        assert h.acct(ALICE).cross_positions == 0 == len(h.acct(ALICE).positions)

    def test_isolated_positions_are_not_counted(self) -> None:
        h = funded(ALICE)
        h.margin_mode(ALICE, ISOLATED)
        h.new(ALICE, BUY, 2)
        assert len(h.acct(ALICE).positions) == 1 and h.acct(ALICE).cross_positions == 0
        assert not h.ledger.risk.is_filed(h.acct(ALICE))  # nothing in the cross pool to watch

    def test_a_wrong_count_fails_the_check(self) -> None:
        h = funded(ALICE)
        h.new(ALICE, BUY, 2)
        h.acct(ALICE).cross_positions = 2
        with pytest.raises(StateError, match="cross positions"):
            h.ledger._check()

    def test_a_wallet_below_zero_backed_by_a_cross_position_is_not_bad_debt(self) -> None:
        ledger = Ledger([BTC])
        ledger.deposit(ALICE, 1_000 * USDT)
        ledger.apply_fill(ALICE, 0, SYM, BUY, 1, P, 0, 0)
        ledger.apply_fill(EXTERNAL, 0, SYM, SELL, 1, P, 0, 0)
        acct = ledger.accounts[ALICE]
        acct.wallet_atoms = -5
        assert ledger.cover_bad_debt(acct) == 0  # the cross position backs it
        ledger.apply_fill(ALICE, 0, SYM, SELL, 1, P, 0, 0)
        ledger.apply_fill(EXTERNAL, 0, SYM, BUY, 1, P, 0, 0)
        assert acct.cross_positions == 0 and ledger.cover_bad_debt(acct) == 5 and acct.wallet_atoms == 0


class TestClosingHolds:
    def test_counts_closing_holds_as_they_rest_shrink_and_go(self) -> None:
        h = funded(ALICE)
        h.new(ALICE, BUY, 4)
        h.new(ALICE, SELL, 2, P + 100, reduce_only=True)
        rid = h.last_order_id()
        h.new(ALICE, SELL, 2, P + 200)  # an ordinary sell: not closing
        assert h.acct(ALICE).closing_holds == 1
        h.new(ALICE, SELL, 3)  # the position shrinks to 1: the reduce-only order is trimmed to it
        assert h.ex.book(SYM).orders[rid].leaves_lots == 1 and h.acct(ALICE).closing_holds == 1
        h.new(ALICE, SELL, 1)  # flat: the reduce-only order is cancelled
        assert rid not in h.ex.book(SYM).orders and h.acct(ALICE).closing_holds == 0

    def test_hedge_closes_are_counted_and_released(self) -> None:
        h = funded(ALICE)
        h.hedge(ALICE)
        h.new(ALICE, BUY, 3, pside=LONG)
        h.new(ALICE, SELL, 3, P + 100, pside=LONG)  # closes the long: holds the fee only
        oid = h.last_order_id()
        assert h.ledger.holds[oid].closing and h.acct(ALICE).closing_holds == 1
        h.new(ALICE, SELL, 2, P + 100, pside=SHORT)  # opens a short: not closing
        assert len(h.acct(ALICE).order_ids) == 2
        assert h.acct(ALICE).closing_holds == 1
        h.cancel(ALICE, oid)
        assert h.acct(ALICE).closing_holds == 0

    def test_a_wrong_count_fails_the_check(self) -> None:
        h = funded(ALICE)
        h.new(ALICE, BUY, 2)
        h.new(ALICE, SELL, 2, P + 100, reduce_only=True)
        assert h.acct(ALICE).closing_holds == 1
        h.acct(ALICE).closing_holds = 0
        with pytest.raises(StateError, match="closing holds"):
            h.ledger._check()


class TestOrderHold:
    @pytest.mark.parametrize("side", [BUY, SELL])
    @pytest.mark.parametrize("pside", [0, LONG, SHORT])
    @pytest.mark.parametrize("reduce_only", [False, True])
    @pytest.mark.parametrize("closing", [False, True])
    @pytest.mark.parametrize("may_rest", [False, True])
    def test_reads_back_every_attribute_it_was_given(
        self, side: int, pside: int, reduce_only: bool, closing: bool, may_rest: bool
    ) -> None:
        hold = OrderHold(7, SYM, 123, 4, closing, side, reduce_only, pside, 456, may_rest)
        assert (hold.account_id, hold.symbol, hold.held_atoms, hold.open_lots, hold.notional_atoms) == (7, SYM, 123, 4, 456)
        assert (hold.side, hold.position_side, hold.reduce_only, hold.closing, hold.may_rest) == (
            side, pside, reduce_only, closing, may_rest,
        )

    @pytest.mark.parametrize("flags", [0, 1, 0b111111])
    def test_a_packed_hold_unpacks_to_its_figures_even_at_their_widest(self, flags: int) -> None:
        lots, held, notional = holds.LOTS_MASK, holds.HELD_MASK, holds.NOTIONAL_MASK
        assert holds.fits(lots, held, notional) and not holds.fits(lots + 1, 0, 0)
        assert not holds.fits(0, held + 1, 0) and not holds.fits(0, 0, notional + 1)
        for figures in ((lots, held, notional), (1, 2, 3), (0, 0, 0)):
            packed = holds.pack(10**12, 2, flags, *figures)
            hold = OrderHold.unpack(packed, ["A", "B", SYM])
            assert (hold.account_id, hold.symbol, hold.flags) == (10**12, SYM, flags)
            assert (hold.open_lots, hold.held_atoms, hold.notional_atoms) == figures

    def test_a_resting_order_holds_one_small_int(self) -> None:
        """The ledger stores one int per resting order (60 B for an account id below 2^24)."""
        h = funded(ALICE)
        h.new(ALICE, BUY, 2, P - 100)
        packed = h.ledger._holds[h.last_order_id()]
        assert type(packed) is int and sys.getsizeof(packed) <= 60
        assert h.ledger.hold(h.last_order_id()) == h.ledger.holds[h.last_order_id()]

    def test_an_order_beyond_the_fields_is_refused(self) -> None:
        """A closing order skips the bracket cap that refuses such an opening first."""
        ledger = Ledger([BTC])
        ledger.deposit(ALICE, 10**30)
        ledger.apply_fill(ALICE, 0, SYM, BUY, 10, P, 0, 0)
        ledger.apply_fill(EXTERNAL, 0, SYM, SELL, 10, P, 0, 0)
        too_big = holds.NOTIONAL_MASK + 1
        assert ledger.hold_for_order(1, ALICE, SYM, SELL, 10, too_big, True, 0) == "NOTIONAL_ABOVE_MAX"
        assert not ledger._holds and ledger.accounts[ALICE].held_atoms == 0
        assert ledger.hold_for_order(1, ALICE, SYM, SELL, 10, too_big - 1, True, 0) is None
        assert ledger.hold(1).notional_atoms == too_big - 1  # type: ignore[union-attr]


class TestOrderList:
    def test_lists_open_orders_in_arrival_order_and_prunes_those_that_left(self) -> None:
        h = funded(ALICE)
        ids = []
        for i in range(40):
            assert not reasons(h.new(ALICE, BUY, 2, P - 100 - i))
            ids.append(h.last_order_id())
        acct = h.acct(ALICE)
        assert list(acct.order_ids) == ids and acct.order_count == 40
        for oid in ids[:30]:
            h.cancel(ALICE, oid)
        # ids of orders that left go once they are most of the list: it stays O(open orders)
        assert list(acct.order_ids) == ids[30:] and acct.order_count == 10
        assert len(acct.order_list) <= 2 * 10 + 8
        for oid in ids[30:]:
            h.cancel(ALICE, oid)
        assert acct.order_ids is NO_ENTRIES and acct.order_list is NO_ORDERS and acct.order_count == 0

    def test_a_stop_that_triggers_is_listed_again_last(self) -> None:
        """As the dict it replaces (deleted and inserted again): the triggered stop arrives
        again after the orders placed while it waited."""
        h = funded(ALICE)
        assert not reasons(h.new(ALICE, SELL, 2, trigger=P - 50, order_type=STOP_MARKET))
        stop = h.last_order_id()
        assert not reasons(h.new(ALICE, BUY, 2, P - 100))
        bid = h.last_order_id()
        assert list(h.acct(ALICE).order_ids) == [stop, bid]
        assert not reasons(h.new(ALICE, SELL, 2, P + 300, trigger=P - 2, order_type=STOP_LIMIT))  # rests when it fires
        stop_limit = h.last_order_id()
        h.mark(P)
        h.tape(SELL, P - 2, 1)  # the last price reaches the stop limit's trigger, not the other's
        assert stop_limit in h.ex.book(SYM).orders
        assert list(h.acct(ALICE).order_ids) == [stop, bid, stop_limit]
        assert h.acct(ALICE).order_ids[stop_limit] == SYM and h.ledger.hold(stop_limit) is not None

    def test_a_wrong_count_fails_the_check(self) -> None:
        h = funded(ALICE)
        assert not reasons(h.new(ALICE, BUY, 2, P - 100))
        h.acct(ALICE).order_count = 2
        with pytest.raises(StateError, match="counts 2"):
            h.ledger._check()


class TestMarketOrdersHoldNothing:
    def test_a_market_order_is_checked_with_the_same_verdict_and_holds_nothing(self) -> None:
        h = funded(ALICE)
        h.new(ALICE, BUY, 2)
        assert h.pos(ALICE) is not None and h.held(ALICE) == 0 and not h.ledger._holds
        assert h.acct(ALICE).order_count == 0
        h.withdraw(ALICE, h.wallet(ALICE) - 10 * USDT)
        events = h.new(ALICE, BUY, 10**4)  # far more than 10 USDT can margin
        assert reasons(events) == ["INSUFFICIENT_MARGIN"]

    def test_held_and_stored_alike_the_hold_for_an_order_that_executes_now(self) -> None:
        """The ledger's check alone gives the verdict: the same with and without storing."""
        for store in (True, False):
            ledger = Ledger([BTC])
            ledger.deposit(ALICE, 100 * USDT)
            for notional in (10 * USDT, 10**4 * USDT, 5_000 * USDT):
                got = ledger.hold_for_order(7, ALICE, SYM, BUY, 3, notional, False, 0, False, store)
                if got is None:
                    ledger.release_order(7)
                assert got == (None if notional == 10 * USDT else "INSUFFICIENT_MARGIN")
            assert not ledger._holds and ledger.accounts[ALICE].held_atoms == 0


class TestExternalMirror:
    def test_a_reopened_mirror_position_is_listed_as_a_new_one(self) -> None:
        """EXTERNAL's position object is reused across a round trip, but what is listed and
        hashed is what a fresh position would show."""
        ledger = Ledger([BTC])
        ledger.deposit(ALICE, 1_000 * USDT)
        for side, px in ((BUY, P), (SELL, P + 50)):  # ALICE buys, then sells at a profit
            ledger.apply_fill(ALICE, 0, SYM, side, 2, px, 0, 0)
            ledger.apply_fill(EXTERNAL, 0, SYM, side ^ 1, 2, px, 0, 0)
        ext = ledger.external
        assert not ext.positions and ext.realized_pnl_atoms == -50 * 2 * 10_000
        parked = ledger.book().external_flat[(SYM, 0)]
        ledger.apply_fill(ALICE, 0, SYM, BUY, 3, P, 0, 0)
        pos = ledger.apply_fill(EXTERNAL, 0, SYM, SELL, 3, P, 0, 0)
        assert pos is parked and ext.positions[(SYM, 0)] is pos
        assert (pos.qty_lots, pos.cost_atoms, pos.margin_atoms, pos.realized_pnl_atoms, pos.fees_atoms, pos.funding_atoms) == (
            -3, 3 * P * 10_000, 0, 0, 0, 0,
        )
        assert not pos.isolated and pos.leverage == ledger.default_leverage and ext.cross_positions == 1

        fresh = Ledger([BTC])  # the same state reached without the round trip
        fresh.deposit(ALICE, 1_000 * USDT)
        fresh.apply_fill(ALICE, 0, SYM, BUY, 3, P, 0, 0)
        fresh.apply_fill(EXTERNAL, 0, SYM, SELL, 3, P, 0, 0)
        mine = [line for line in ledger.state_lines() if line.startswith(" P ")]
        assert mine == [line for line in fresh.state_lines() if line.startswith(" P ")]
        ledger._check()

    def test_the_mirror_books_no_fee_and_watches_nothing(self) -> None:
        ledger = Ledger([BTC])
        ledger.deposit(ALICE, 1_000 * USDT)
        ledger.apply_fill(ALICE, 0, SYM, BUY, 1, P, 30, 0)
        ledger.apply_fill(EXTERNAL, 0, SYM, SELL, 1, P, 30, 0)
        assert ledger.external.fees_atoms == 0 and ledger.external.wallet_atoms == 0
        assert ledger.fee_pool_atoms == 30 and not ledger.external.risk_seq
        ledger._check()


    def test_the_direct_mirror_call_books_as_apply_fill_does(self) -> None:
        """The exchange books the mirror side with ``apply_external_fill`` (one call, no
        dispatch): round trips, a flip and a partial close leave the same state as
        ``apply_fill(EXTERNAL, ...)``."""
        fills = [(BUY, 2, P), (SELL, 5, P + 30), (BUY, 1, P - 7), (BUY, 2, P + 11), (SELL, 4, P)]
        ledgers = []
        for direct in (False, True):
            ledger = Ledger([BTC])
            ledger.deposit(ALICE, 1_000 * USDT)
            for side, qty, px in fills:
                ledger.apply_fill(ALICE, 0, SYM, side, qty, px, 3, 0)
                if direct:
                    ledger.apply_external_fill(SYM, side ^ 1, qty, px, 0)
                else:
                    ledger.apply_fill(EXTERNAL, 0, SYM, side ^ 1, qty, px, 0, 0)
            ledger._check()
            ledgers.append(list(ledger.state_lines()))
        assert ledgers[0] == ledgers[1]


class TestRiskIndexUpkeep:
    def test_a_heap_left_with_no_live_entry_is_emptied(self) -> None:
        """A pool that opens and goes flat over and over leaves no stale entry behind: a
        heap whose last live entry is withdrawn holds nothing (every entry in it was stale)."""
        h = funded(ALICE)
        heaps = h.ledger.risk._lists[SYM]
        for _ in range(5):
            h.new(ALICE, SELL, 2)  # a short pool: watched upward
            assert sum(heap.live for heap in heaps) == 1 and sum(len(heap.entries) for heap in heaps) == 1
            h.new(ALICE, BUY, 2)  # flat: forgotten
            assert [heap.entries for heap in heaps] == [[], []] and not h.acct(ALICE).risk_seq
        h.ledger.risk._check()

    @pytest.mark.parametrize("symbol", ["BTCUSDT", "ETHUSDT", "BTCUSD_PERP"])
    def test_the_inlined_bracket_lookup_finds_bracket_for_s_bracket(self, symbol: str) -> None:
        """The pool's fixed point looks brackets up by bisecting ``BracketTable.floors``:
        the same bracket as ``bracket_for`` at, just below and just above every floor."""
        from bisect import bisect_right

        from exsim.instruments import get_instrument

        table = get_instrument(symbol).brackets
        assert table.floors == tuple(b.floor_atoms for b in table.brackets)
        for floor in table.floors:
            for n in (floor - 1, floor, floor + 1, 2 * floor + 1):
                if n >= 0:
                    assert table.brackets[bisect_right(table.floors, n) - 1] is table.bracket_for(n)


class TestOnePositionPoolTriggers:
    @settings(max_examples=150, deadline=None)
    @given(
        qty=st.integers(-3_000, 3_000).filter(bool),
        entry=st.integers(100_000, 1_000_000),
        mark=st.integers(100_000, 1_000_000),
        wallet_usdt=st.integers(1, 2_000_000),
        warned=st.booleans(),
        inverse=st.booleans(),
    )
    def test_equal_the_general_paths(self, qty: int, entry: int, mark: int, wallet_usdt: int, warned: bool, inverse: bool) -> None:
        """A one-position pool's triggers computed directly equal the shared-slack path's
        (its share is the whole slack) — linear and inverse, long and short, near and far."""
        from exsim.instruments import get_instrument

        inst = get_instrument("BTCUSD_PERP") if inverse else BTC
        ledger = Ledger([inst])
        ledger.deposit(ALICE, wallet_usdt * USDT // 100, inst.margin_asset)
        ledger.apply_fill(ALICE, 0, inst.symbol, BUY if qty > 0 else SELL, abs(qty), entry, 0, 0)
        ledger.apply_fill(EXTERNAL, 0, inst.symbol, SELL if qty > 0 else BUY, abs(qty), entry, 0, 0)
        ledger.on_mark(inst.symbol, mark * inst.subticks_per_tick)
        acct = ledger.account(ALICE, inst.margin_asset)
        ratio = LIQUIDATION_RATIO_E8 if warned else DEFAULT_WARN_RATIO_E8
        assert acct.cross_positions == 1
        assert cross_triggers(ledger, acct, ratio) == _pool_triggers(ledger, acct, ratio)


def test_two_accounts_trading_keep_every_aggregate() -> None:
    """A longer mixed run: every command is followed by the harness's full check, which
    recounts both aggregates."""
    h = funded(ALICE, BOB)
    h.margin_mode(BOB, ISOLATED)
    most_closing = 0
    for i in range(12):
        side = BUY if i % 3 else SELL
        h.new(ALICE, side, 1 + i % 4)
        h.new(BOB, side ^ 1, 1 + i % 3)
        pos = h.ledger.accounts[ALICE].positions.get((SYM, 0))
        if pos is not None and abs(pos.qty_lots) >= 2:  # (two lots clear the minimum notional)
            q = pos.qty_lots
            h.new(ALICE, SELL if q > 0 else BUY, 2, P + (100 if q > 0 else -100), reduce_only=True)
            most_closing = max(most_closing, h.acct(ALICE).closing_holds)
    assert most_closing >= 1  # the run did rest closing orders
    assert h.acct(ALICE).cross_positions == cross_count(h, ALICE)
    assert h.acct(BOB).cross_positions == 0


def test_the_ledger_numbers_order_sides_as_the_book_does() -> None:
    """The ledger names the sides itself (it imports nothing from the book): the same numbers."""
    from exsim.book import orders
    from exsim.ledger import accounts

    assert (accounts.BUY, accounts.SELL) == (orders.BUY, orders.SELL)


def test_the_ledger_imports_nothing_from_the_book() -> None:
    """DESIGN.md's one-way pipeline: the ledger knows nothing of the order book."""
    import ast
    from pathlib import Path

    import exsim.ledger

    for path in Path(exsim.ledger.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            assert not any(n == "exsim.book" or n.startswith("exsim.book.") for n in names), (path.name, names)
