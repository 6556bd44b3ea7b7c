"""TripBook on the exchange's own events: ADL, the fund's takeover, hedge mode, and the
invariant that catches trips drifting from the ledger."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from exsim.exchange import Fill, IndexPriceUpdated, OrderAccepted, PositionChanged
from exsim.ledger import LONG, SHORT
from exsim.results.trips import Trip, TripBook, TripMismatch
from liquidation import test_adl
from liquidation.harness import BUY, SELL, LiqHarness, fixed


def follow(h: LiqHarness) -> tuple[TripBook, list[Trip]]:
    """A TripBook fed every later command's events of the harness; the trips it closes."""
    insts = h.instruments
    book = TripBook({i.symbol: i.atoms_per_tick_lot for i in insts}, {i.symbol: i.lot_size_e8 for i in insts})
    closed: list[Trip] = []
    submit = h.submit

    def fed(command: Any, same_ts: bool = False) -> list[Any]:
        events = submit(command, same_ts)
        closed.extend(book.on_events(events)[1])
        book._check()
        return events

    h.submit = fed  # type: ignore[method-assign]
    return book, closed


def agrees_with_ledger(book: TripBook, h: LiqHarness) -> None:
    for aid, acct in h.ledger.accounts.items():
        book.check(aid, acct.realized_pnl_atoms, acct.fees_atoms, acct.funding_atoms)


class TestLiquidationAndAdl:
    def test_a_deleveraged_position_ends_by_adl_and_the_bankrupt_one_by_liquidation(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """BitMEX's ADL example: account 2's long of 10 is closed at 650 by ADL; the bankrupt short by liquidation."""
        built: list[tuple[TripBook, list[Trip]]] = []
        real = LiqHarness.__init__

        def init(self: LiqHarness, *a: Any, **k: Any) -> None:
            real(self, *a, **k)
            built.append(follow(self))

        monkeypatch.setattr(LiqHarness, "__init__", init)
        h = test_adl.bitmex_world()
        book, closed = built[0]
        h.mark(700)
        by_account = {t.account_id: t for t in closed}
        assert by_account[2].exit_reason == "adl" and by_account[2].exit_value_atoms == 10 * 650 * h.instruments[0].atoms_per_tick_lot
        assert by_account[7].exit_reason == "liquidation" and not by_account[7].long
        assert 5 not in by_account and book.open[(5, h.sym, 0)].qty_lots == 10  # half deleveraged, still open
        assert book.tally(2).adl == 1 and book.tally(7).liquidations == 1
        agrees_with_ledger(book, h)


class TestHedgeMode:
    def test_long_and_short_of_one_symbol_are_separate_trips(self) -> None:
        """Hedge mode: a LONG and a SHORT position of one account are two trips, each closed on its own side."""
        h = LiqHarness(fixed(tick_size="1", lot_size="1"))
        book, closed = follow(h)
        h.mark(500)
        h.account(1, 100_000, hedge=True)
        h.account(2, 100_000)
        h.rest(2, SELL, 10, 500)
        h.order(1, BUY, 10, 500, pside=LONG)
        h.rest(2, BUY, 4, 500)
        h.order(1, SELL, 4, 500, pside=SHORT)
        assert set(book.open) >= {(1, h.sym, LONG), (1, h.sym, SHORT)}
        h.rest(2, SELL, 4, 490)
        h.order(1, BUY, 4, 490, pside=SHORT, reduce_only=False)  # closes the SHORT at a 40 gain
        (short,) = [t for t in closed if t.account_id == 1]
        assert (short.position_side, short.long, short.realized_atoms) == (SHORT, False, 40 * h.instruments[0].atoms_per_tick_lot)
        assert (1, h.sym, LONG) in book.open
        agrees_with_ledger(book, h)


class TestInvariant:
    def test_a_position_change_no_fill_explains_is_a_broken_invariant(self) -> None:
        """A PositionChanged the trips cannot reach raises TripMismatch, naming account and symbol."""
        book = TripBook({"BTCUSDT": 1}, {"BTCUSDT": 1})
        with pytest.raises(TripMismatch, match="account 1 BTCUSDT"):
            book.on_events([PositionChanged(1, 1, "BTCUSDT", 0, 5, 500, 0, 0, 0)])

    def test_a_fill_its_position_change_does_not_match_is_not_booked(self) -> None:
        """One fill checked against a position change it does not give (here: 3 lots at 100, the
        ledger says 3 lots at cost 301) raises TripMismatch and books nothing of it: the
        position, its trip and the account's figures are those before the batch."""
        from exsim.exchange import Fill, OrderAccepted

        book = TripBook({"X": 1}, {"X": 1})
        book.on_events([OrderAccepted(1, "X", 10, 1, "in", 0, 1, 0, 0, 2, 0), Fill(1, "X", 1, 100, 2, 0, 10, 1, 0, 2, 0, 0, 0, 0),
                        PositionChanged(1, 1, "X", 0, 2, 200, 0, 0, 0)])
        before = (attrs.asdict(book.held[(1, "X", 0)]), attrs.asdict(book.open[(1, "X", 0)]), attrs.asdict(book.tally(1)))
        with pytest.raises(TripMismatch, match="the ledger says"):
            book.on_events([OrderAccepted(2, "X", 11, 1, "add", 0, 1, 0, 0, 1, 0), Fill(2, "X", 2, 100, 1, 0, 11, 1, 0, 1, 0, 0, 0, 0),
                            PositionChanged(2, 1, "X", 0, 3, 301, 0, 0, 0)])
        assert (attrs.asdict(book.held[(1, "X", 0)]), attrs.asdict(book.open[(1, "X", 0)]), attrs.asdict(book.tally(1))) == before

    def test_totals_that_differ_from_the_ledger_raise(self) -> None:
        """check() compares realized PnL, fees and funding with the ledger's, to the atom."""
        book = TripBook({"BTCUSDT": 1}, {"BTCUSDT": 1})
        with pytest.raises(TripMismatch, match="the ledger says"):
            book.check(1, 1, 0, 0)


class TestExitReasons:
    """The closing order's type, from its OrderAccepted, names how a trip ended (events built by hand:
    one account, tick x lot = 1 atom)."""

    @staticmethod
    def round_trip(close_type: int) -> Trip:
        from exsim.exchange import Fill, OrderAccepted

        book = TripBook({"X": 1}, {"X": 1})
        opening = [
            OrderAccepted(1, "X", 10, 1, "in", 0, 0, 0, 100, 2, 0),
            Fill(1, "X", 1, 100, 2, 0, 10, 1, 0, 3, 0, 0, 0, 0),
            PositionChanged(1, 1, "X", 0, 2, 200, 0, 0, 0),
        ]
        assert book.on_events(opening)[1] == []
        closing = [
            OrderAccepted(2, "X", 11, 1, "out", 1, close_type, 0, 0, 2, 0),
            Fill(2, "X", 2, 130, 2, 1, 11, 1, 0, 4, 0, 0, 0, 0),
            PositionChanged(2, 1, "X", 0, 0, 0, 0, 60, 0),
        ]
        records, (trip,) = book.on_events(closing)
        assert records[0].client_order_id == "out" and records[0].realized_atoms == 60
        book.check(1, 60, 7, 0)
        return trip

    @pytest.mark.parametrize(
        ("order_type", "reason"),
        [(0, "limit"), (1, "market"), (2, "stop"), (3, "stop"), (4, "take_profit"), (5, "take_profit"), (6, "trailing_stop")],
    )
    def test_the_closing_order_type_names_the_exit(self, order_type: int, reason: str) -> None:
        """LIMIT, MARKET, STOP_*, TAKE_PROFIT_* and TRAILING_STOP_MARKET (6) each name their exit."""
        trip = self.round_trip(order_type)
        assert (trip.exit_reason, trip.realized_atoms, trip.fees_atoms, trip.net_atoms) == (reason, 60, 7, 53)


class TestWithoutRecords:
    def test_without_fill_records_the_trips_and_tallies_are_the_same(self) -> None:
        """on_events(records=False) (a run writing no fills.csv) returns no FillRecord, and the
        book's trips, positions and account figures are those of a book that builds them."""
        from exsim.exchange import Fill, OrderAccepted

        batches = [
            [OrderAccepted(1, "X", 10, 1, "in", 0, 1, 0, 0, 3, 0), Fill(1, "X", 1, 100, 3, 0, 10, 1, 0, 2, 0, 0, 0, 0),
             PositionChanged(1, 1, "X", 0, 3, 300, 0, 0, 0)],
            [OrderAccepted(2, "X", 11, 1, "flip", 1, 1, 0, 0, 5, 0), Fill(2, "X", 2, 90, 5, 1, 11, 1, 0, 4, 0, 0, 0, 0),
             PositionChanged(2, 1, "X", 0, -2, 180, 0, -30, 0)],
            [OrderAccepted(3, "X", 12, 1, "out", 0, 0, 0, 95, 2, 0), Fill(3, "X", 3, 95, 2, 0, 12, 1, 0, 1, 0, 0, 0, 0),
             PositionChanged(3, 1, "X", 0, 0, 0, 0, -40, 0)],
        ]
        with_records, without = TripBook({"X": 1}, {"X": 1}), TripBook({"X": 1}, {"X": 1})
        for events in batches:
            records, closed = with_records.on_events(events)
            none, closed_too = without.on_events(events, records=False)
            assert len(records) == 1 and none == []
            assert [attrs.asdict(t) for t in closed] == [attrs.asdict(t) for t in closed_too]
        assert attrs.asdict(with_records.tally(1)) == attrs.asdict(without.tally(1)) and without.tally(1).closed == 2
        assert {k: attrs.asdict(h) for k, h in with_records.held.items()} == {k: attrs.asdict(h) for k, h in without.held.items()}
        assert with_records.open == without.open == {}


class TestOrderFilledAtOnce:
    """The usual batch — an order accepted and filled completely on arrival against an account
    not followed, then its position change — is booked in one step: exactly what the
    general pass over the same events books (events built by hand: tick x lot = 1 atom)."""

    BATCHES = [  # open 3 at 100 (market), add 2 at 110 (limit), flip to -2 at 90 (a stop), close at 95 (market)
        [OrderAccepted(1, "X", 10, 1, "in", 0, 1, 0, 0, 3, 0), Fill(1, "X", 1, 100, 3, 0, 10, 1, 0, 2, 0, 0, 0, 0),
         PositionChanged(1, 1, "X", 0, 3, 300, 0, 0, 0)],
        [OrderAccepted(2, "X", 11, 1, "add", 0, 0, 0, 110, 2, 0), Fill(2, "X", 2, 110, 2, 0, 11, 1, 0, 1, 0, 0, 0, 0),
         PositionChanged(2, 1, "X", 0, 5, 520, 0, 0, 0)],
        [OrderAccepted(3, "X", 12, 1, "flip", 1, 2, 0, 0, 7, 95), Fill(3, "X", 3, 90, 7, 1, 12, 1, 0, 5, 0, 0, 0, 0),
         PositionChanged(3, 1, "X", 0, -2, 180, 0, -70, 0)],
        [OrderAccepted(4, "X", 13, 1, "out", 0, 1, 0, 0, 2, 0), Fill(4, "X", 4, 95, 2, 0, 13, 1, 0, 1, 0, 0, 0, 0),
         PositionChanged(4, 1, "X", 0, 0, 0, 0, -80, 0)],
    ]

    @staticmethod
    def state(book: TripBook) -> tuple[Any, ...]:
        return ({k: attrs.asdict(h) for k, h in book.held.items()}, {k: attrs.asdict(t) for k, t in book.open.items()},
                {a: attrs.asdict(t) for a, t in book.tallies.items()}, dict(book.orders), book.trips_closed)

    @pytest.mark.parametrize("only_account", [1, None])
    def test_it_books_what_the_general_pass_books(self, only_account: int | None) -> None:
        """Each batch alone (one step) and with an event the trips do not read appended (the
        general pass): the same records, trips, positions, tallies and working orders."""
        one_step, general = TripBook({"X": 1}, {"X": 1}, only_account), TripBook({"X": 1}, {"X": 1}, only_account)
        for events in self.BATCHES:
            records, closed = one_step.on_events(events)
            records_too, closed_too = general.on_events([*events, IndexPriceUpdated(events[0].ts_ns, "X", 1)])
            assert [attrs.asdict(r) for r in records] == [attrs.asdict(r) for r in records_too]
            assert [attrs.asdict(t) for t in closed] == [attrs.asdict(t) for t in closed_too]
            assert self.state(one_step) == self.state(general)
        assert one_step.tally(1).by_reason == {"stop": 1, "market": 1} and one_step.open == {}
        one_step.check(1, -80, 9, 0)

    def test_an_order_accepted_again_and_filled_at_once_leaves_no_working_entry(self) -> None:
        """A stop accepted earlier (a working entry), accepted again when it triggers and
        filled at once: its entry goes, and the close is named by its type, as the general
        pass does it."""
        book = TripBook({"X": 1}, {"X": 1})
        book.on_events(self.BATCHES[0])
        book.on_events([OrderAccepted(2, "X", 20, 1, "sl", 1, 2, 0, 0, 3, 95)])
        assert book.orders == {20: (2, "sl")}
        _, (trip,) = book.on_events([OrderAccepted(3, "X", 20, 1, "sl", 1, 2, 0, 0, 3, 95), Fill(3, "X", 2, 95, 3, 1, 20, 1, 0, 1, 0, 0, 0, 0),
                                     PositionChanged(3, 1, "X", 0, 0, 0, 0, -15, 0)])
        assert book.orders == {} and (trip.exit_reason, trip.realized_atoms) == ("stop", -15)
