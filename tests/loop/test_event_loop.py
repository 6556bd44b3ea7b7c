"""The event loop's contract: (ts_ns, priority, seq) order, lazy sources, timers, run limits."""

from __future__ import annotations

import itertools
from typing import Any, Callable, Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exsim.book.orders import BUY, SELL
from exsim.errors import InputError
from exsim.exchange.commands import (
    AmendOrder,
    ClearReplayedLevels,
    SetReplayedLevels,
    CancelOrder,
    NewOrder,
    ReplayedTrade,
    SetMarkPrice,
    SetReplayedLevel,
    SetSelfTradePrevention,
)
from exsim.exchange.events import BookDelta, MarkPriceUpdated, OrderAccepted
from exsim.loop import (
    PRIORITY,
    PRIORITY_COMMAND,
    PRIORITY_FUNDING,
    PRIORITY_MARK,
    PRIORITY_MARKET_DATA,
    PRIORITY_TIMER,
    EventLoop,
)
from exsim.loop import event_loop as event_loop_module


class FakeExchange:
    """Stands in for ``exsim.exchange.Exchange``: records commands, emits one event each."""

    def __init__(self, on_submit: Callable[[Any], None] | None = None) -> None:
        self.sinks: list[Callable[[list[Any]], None]] = []
        self.commands: list[Any] = []
        self._batch: list[Any] = []  # reused between commands, as the real exchange does
        self._on_submit = on_submit

    def submit(self, command: Any) -> None:
        self.commands.append(command)
        if self._on_submit is not None:
            self._on_submit(command)
        batch = self._batch
        batch.clear()
        if type(command) is SetMarkPrice:
            batch.append(MarkPriceUpdated(command.ts_ns, command.symbol, command.mark_price_subticks))
        elif type(command) is SetReplayedLevel:
            batch.append(BookDelta(command.ts_ns, command.symbol, command.side, command.price_ticks, command.lots))
        elif type(command) is NewOrder:
            batch.append(
                OrderAccepted(
                    command.ts_ns, command.symbol, len(self.commands), command.account_id,
                    command.client_order_id, command.side, command.order_type, command.tif,
                    command.price_ticks, command.qty_lots, command.trigger_price_ticks,
                )
            )
        for sink in self.sinks:
            sink(batch)

    def state_hash(self) -> str:
        return f"{len(self.commands):x}"


def order(ts: int, tag: str = "", account: int = 1) -> NewOrder:
    return NewOrder(ts, account, "BTCUSDT", BUY, 1, 100, client_order_id=tag or None)


def level(ts: int, price: int = 100, lots: int = 1) -> SetReplayedLevel:
    return SetReplayedLevel(ts, "BTCUSDT", SELL, price, lots)


def mark(ts: int, price: int = 100) -> SetMarkPrice:
    return SetMarkPrice(ts, "BTCUSDT", price)


def new_loop(**kwargs: Any) -> tuple[EventLoop, FakeExchange]:
    exchange = FakeExchange()
    return EventLoop(exchange, **kwargs), exchange


class TestPriorityTable:
    def test_table_matches_the_design(self) -> None:
        """Market data 0, user commands (contingent ones too, the collateral mode) 1, mark price and
        collateral index / haircut changes 2; funding 3 and timers 4 as constants."""
        from exsim.exchange import commands

        assert dict(PRIORITY) == {
            SetReplayedLevel: 0,
            ClearReplayedLevels: 0,
            SetReplayedLevels: 0,
            ReplayedTrade: 0,
            NewOrder: 1,
            CancelOrder: 1,
            AmendOrder: 1,
            commands.NewOco: 1,
            commands.NewBracket: 1,
            SetSelfTradePrevention: 1,
            commands.Deposit: 1,
            commands.Withdraw: 1,
            commands.SetLeverage: 1,
            commands.SetMarginMode: 1,
            commands.SetPositionMode: 1,
            commands.AdjustIsolatedMargin: 1,
            SetMarkPrice: 2,
            commands.SetIndexPrice: 2,
            commands.SetCollateralMode: 1,
            commands.CollateralIndex: 2,
            commands.SetCollateralRule: 2,
            commands.SettleFunding: 3,
        }
        assert (PRIORITY_MARKET_DATA, PRIORITY_COMMAND, PRIORITY_MARK) == (0, 1, 2)
        assert (PRIORITY_FUNDING, PRIORITY_TIMER) == (3, 4)

    def test_table_is_read_only(self) -> None:
        """The module constant cannot be changed in place by a caller."""
        with pytest.raises(TypeError):
            PRIORITY[NewOrder] = 0  # type: ignore[index]

    def test_docstring_documents_every_entry(self) -> None:
        """The module docstring's table names every command type and both timer kinds."""
        doc = event_loop_module.__doc__ or ""
        for cls in PRIORITY:
            assert cls.__name__ in doc
        for text in ("funding", "strategy timers", "trigger", "liquidations"):
            assert text in doc

    def test_every_command_type_has_a_priority(self) -> None:
        """Every member of the Command union is ordered by the table."""
        from exsim.exchange import commands

        assert set(PRIORITY) == set(commands.Command.__args__)  # type: ignore[attr-defined]


class TestOrdering:
    def test_timestamps_first(self) -> None:
        """Items run by ts_ns whatever order they were scheduled in."""
        loop, ex = new_loop()
        for ts in (30, 10, 20):
            loop.schedule(order(ts))
        assert loop.run() == 3
        assert [c.ts_ns for c in ex.commands] == [10, 20, 30]

    def test_same_timestamp_follows_the_priority_table(self) -> None:
        """At one ts: market data, then user commands, then mark price, then funding, then timers."""
        loop, ex = new_loop()
        ran: list[str] = []
        loop.call_at(5, lambda lp, ts: ran.append("timer"))
        loop.call_at(5, lambda lp, ts: ran.append("funding"), priority=PRIORITY_FUNDING)
        for cmd in (
            mark(5),
            CancelOrder(5, 1, "BTCUSDT", 7),
            AmendOrder(5, 1, "BTCUSDT", 7, 100, 2),
            SetSelfTradePrevention(5, 1),
            order(5),
            ReplayedTrade(5, "BTCUSDT", BUY, 100, 1),
            level(5),
        ):
            loop.schedule(cmd)
        ex._on_submit = lambda c: ran.append(type(c).__name__)
        loop.run()
        assert ran == [
            "ReplayedTrade",
            "SetReplayedLevel",
            "CancelOrder",
            "AmendOrder",
            "SetSelfTradePrevention",
            "NewOrder",
            "SetMarkPrice",
            "funding",
            "timer",
        ]

    def test_ties_inside_a_priority_keep_input_order(self) -> None:
        """Equal (ts, priority) items run in the order they were scheduled."""
        loop, ex = new_loop()
        tags = [f"o{i}" for i in range(20)]
        for tag in tags:
            loop.schedule(order(7, tag))
        loop.run()
        assert [c.client_order_id for c in ex.commands] == tags

    def test_explicit_priority_overrides_the_table(self) -> None:
        """schedule(priority=...) places a command as if it were of another kind."""
        loop, ex = new_loop()
        loop.schedule(level(1))
        loop.schedule(order(1, "first"), priority=0)
        loop.schedule(mark(1), priority=0)
        loop.run()
        assert [type(c) for c in ex.commands] == [SetReplayedLevel, NewOrder, SetMarkPrice]

    def test_a_mixed_source_still_follows_the_table_at_one_timestamp(self) -> None:
        """A source listing an order before market data of the same ts runs the data first."""
        loop, ex = new_loop()
        loop.add_source([order(1, "a"), mark(1), level(1), order(2, "b"), level(2)], name="scenario")
        loop.run()
        assert [type(c).__name__ for c in ex.commands] == [
            "SetReplayedLevel", "NewOrder", "SetMarkPrice", "SetReplayedLevel", "NewOrder",
        ]

    def test_sources_merge_by_timestamp(self) -> None:
        """Two sources interleave by ts_ns."""
        loop, ex = new_loop()
        loop.add_source([level(1), level(4), level(6)], name="book")
        loop.add_source([mark(2), mark(3), mark(7)], name="marks")
        loop.run()
        assert [c.ts_ns for c in ex.commands] == [1, 2, 3, 4, 6, 7]

    def test_source_ties_go_in_the_order_sources_were_added(self) -> None:
        """Equal (ts, priority) items of two sources: earlier-added source first, then its order."""
        loop, ex = new_loop()
        loop.add_source([order(1, "b1"), order(5, "b2"), order(5, "b3")], name="b")
        loop.add_source([order(3, "a1"), order(5, "a2")], name="a")
        loop.run()
        assert [c.client_order_id for c in ex.commands] == ["b1", "a1", "b2", "b3", "a2"]

    def test_scheduled_commands_precede_source_items_of_the_same_kind_and_ts(self) -> None:
        """A command scheduled before the run entered the queue before a source's item of its ts."""
        loop, ex = new_loop()
        loop.add_source([order(4, "src")], name="s")
        loop.schedule(order(4, "scheduled"))
        loop.run()
        assert [c.client_order_id for c in ex.commands] == ["scheduled", "src"]

    def test_unknown_command_type_is_refused(self) -> None:
        """A command type missing from the table needs an explicit priority."""
        loop, _ = new_loop()
        with pytest.raises(InputError, match="no same-timestamp priority for tuple"):
            loop.schedule((5, "x"))
        loop.schedule((5, "x"), priority=3)
        assert loop.pending() == 1

    def test_custom_table(self) -> None:
        """priorities= replaces the default table."""
        loop, ex = new_loop(priorities={NewOrder: 0, SetMarkPrice: 1})
        loop.schedule(mark(1))
        loop.schedule(order(1))
        loop.run()
        assert [type(c) for c in ex.commands] == [NewOrder, SetMarkPrice]


class CountingSource:
    """A generator-like source of ``n`` commands, one per ts, that counts what was read."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.read = 0

    def __iter__(self) -> Iterator[Any]:
        for i in range(self.n):
            self.read += 1
            yield SetMarkPrice(i, "BTCUSDT", 100 + (i & 7))


class TestSources:
    def test_a_million_item_generator_is_never_materialized(self) -> None:
        """The queue stays a few entries long and the source is read only as far as the run got."""
        source = CountingSource(1_000_000)
        most = 0
        loop: EventLoop

        def watch(_command: Any) -> None:
            nonlocal most
            most = max(most, loop.pending())

        exchange = FakeExchange(on_submit=watch)
        loop = EventLoop(exchange)
        loop.add_source(iter(source), name="big")
        loop.schedule(order(500))
        assert source.read == 0  # nothing read before the run
        assert loop.run(max_events=1000) == 1000
        assert source.read <= 1001
        loop.run()
        assert len(exchange.commands) == 1_000_001
        assert source.read == 1_000_000
        assert most <= 2
        assert loop.pending() == 0

    def test_timestamp_going_backwards_names_source_index_and_field(self) -> None:
        """The error names the source, the offending item's index and 'ts_ns'."""
        loop, ex = new_loop()
        loop.add_source([mark(1), mark(5), mark(9), mark(8)], name="marks.csv")
        with pytest.raises(InputError) as info:
            loop.run()
        err = info.value
        assert isinstance(err, ValueError)
        assert (err.where, err.field) == ("source 'marks.csv' item 3", "ts_ns")
        assert str(err) == (
            "source 'marks.csv' item 3: field 'ts_ns': 8 is before 9 of item 2; "
            "a source must be ordered by ts_ns"
        )
        assert [c.ts_ns for c in ex.commands] == [1, 5]

    def test_first_item_before_now_is_refused(self) -> None:
        """A source added after the loop passed its first timestamp is an error."""
        loop, _ = new_loop()
        loop.schedule(mark(10))
        loop.run()
        loop.add_source([mark(3)], name="late")
        with pytest.raises(InputError, match=r"source 'late' item 0: field 'ts_ns': 3 is before the loop's current time 10"):
            loop.run()

    def test_non_int_timestamp_is_refused(self) -> None:
        """A float or text ts_ns is an input error, not silently ordered."""
        loop, _ = new_loop()
        loop.add_source([mark(1), SetMarkPrice(2.5, "BTCUSDT", 1)], name="f")  # type: ignore[arg-type]
        with pytest.raises(InputError, match=r"source 'f' item 1: field 'ts_ns': expected an int"):
            loop.run()

    def test_source_item_without_priority_is_refused(self) -> None:
        """An item of a type the table lacks names the source and index."""
        loop, _ = new_loop()
        loop.add_source([mark(1), (2, "funding")], name="mixed")
        with pytest.raises(InputError, match=r"source 'mixed' item 1: field 'priority'"):
            loop.run()

    def test_source_priority_override(self) -> None:
        """add_source(priority=...) orders every item of the source by that priority."""
        loop, ex = new_loop()
        loop.add_source([(3, "funding-a"), (4, "funding-b")], name="funding", priority=PRIORITY_FUNDING)
        loop.call_at(3, lambda lp, ts: None)
        loop.schedule(mark(3))
        loop.run()
        assert ex.commands == [mark(3), (3, "funding-a"), (4, "funding-b")]

    def test_empty_and_exhausted_sources_leave_nothing_queued(self) -> None:
        """An empty source and a finished one leave the queue empty."""
        loop, ex = new_loop()
        loop.add_source([], name="empty")
        loop.add_source([mark(1)], name="one")
        assert loop.pending() == 2
        assert loop.run() == 1
        assert loop.pending() == 0
        loop._check()

    def test_many_items_at_one_timestamp(self) -> None:
        """A burst of equal timestamps is queued together and keeps its order per priority."""
        loop, ex = new_loop()
        burst = [order(1, f"o{i}") if i % 3 else level(1, price=100 + i) for i in range(30)]
        loop.add_source(burst + [mark(2)], name="burst")
        loop.run()
        expected = [c for c in burst if type(c) is SetReplayedLevel] + [c for c in burst if type(c) is NewOrder]
        assert ex.commands == expected + [mark(2)]


class TestTimers:
    def test_one_shot_timers_fire_in_time_order(self) -> None:
        """call_at callbacks run by ts_ns and get (loop, ts_ns)."""
        loop, _ = new_loop()
        seen: list[tuple[EventLoop, int, str]] = []
        for ts, tag in ((30, "c"), (10, "a"), (20, "b")):
            loop.call_at(ts, lambda lp, t, tag=tag: seen.append((lp, t, tag)))
        assert loop.run() == 3
        assert seen == [(loop, 10, "a"), (loop, 20, "b"), (loop, 30, "c")]

    def test_periodic_timer_repeats(self) -> None:
        """call_every fires at start, start + interval, ... until the run stops."""
        loop, _ = new_loop()
        seen: list[int] = []
        timer = loop.call_every(100, 50, lambda lp, ts: seen.append(ts))
        assert loop.run(until_ns=320) == 5
        assert seen == [100, 150, 200, 250, 300]
        assert timer.ts_ns == 350 and timer.active

    def test_periodic_timer_can_cancel_itself(self) -> None:
        """A callback that cancels its own timer stops the repetition."""
        loop, _ = new_loop()
        seen: list[int] = []

        def tick(lp: EventLoop, ts: int) -> None:
            seen.append(ts)
            if len(seen) == 3:
                timer.cancel()

        timer = loop.call_every(0, 10, tick)
        assert loop.run() == 3
        assert seen == [0, 10, 20]
        assert loop.pending() == 0
        loop._check()

    def test_cancelled_timer_does_not_fire(self) -> None:
        """A cancelled one-shot timer is dropped and not counted."""
        loop, _ = new_loop()
        fired: list[int] = []
        timer = loop.call_at(5, lambda lp, ts: fired.append(ts))
        loop.call_at(6, lambda lp, ts: fired.append(ts))
        timer.cancel()
        timer.cancel()
        assert loop.pending() == 1
        loop._check()
        assert loop.run() == 1
        assert fired == [6]

    def test_a_cancelled_timer_does_not_move_the_clock(self) -> None:
        """A cancelled timer left queued past the last item does not advance now_ns to its time
        (a replay's end of data stays its last row's time, not the next funding time)."""
        loop, _ = new_loop()
        loop.call_at(5, lambda lp, ts: None)
        later = loop.call_at(8 * 3_600, lambda lp, ts: None)
        later.cancel()
        assert loop.run() == 1
        assert loop.now_ns == 5
        loop._check()

    def test_timer_scheduling_at_now_runs_after_higher_priority_items(self) -> None:
        """A command a timer schedules at its own ts runs after that ts's earlier-priority items."""
        loop, ex = new_loop()
        order_at_10 = order(10, "from-timer")
        loop.call_at(10, lambda lp, ts: lp.schedule(order_at_10))
        loop.schedule(mark(10))
        loop.schedule(level(10))
        loop.schedule(order(10, "user"))
        loop.schedule(level(11))
        loop.run()
        assert ex.commands == [level(10), order(10, "user"), mark(10), order_at_10, level(11)]

    def test_timer_may_schedule_timers_and_commands_later(self) -> None:
        """Callbacks can add future work, which then runs in order."""
        loop, ex = new_loop()
        seen: list[int] = []

        def first(lp: EventLoop, ts: int) -> None:
            lp.schedule(mark(ts + 5))
            lp.call_at(ts + 2, lambda lp2, t: seen.append(t))

        loop.call_at(1, first)
        assert loop.run() == 3
        assert seen == [3]
        assert ex.commands == [mark(6)]

    def test_scheduling_in_the_past_raises_value_error(self) -> None:
        """schedule / call_at / call_every before now_ns raise ValueError."""
        loop, _ = new_loop()
        errors: list[Exception] = []

        def late(lp: EventLoop, ts: int) -> None:
            for attempt in (
                lambda: lp.schedule(mark(ts - 1)),
                lambda: lp.call_at(ts - 1, late),
                lambda: lp.call_every(ts - 1, 5, late),
            ):
                try:
                    attempt()
                except ValueError as exc:
                    errors.append(exc)

        loop.call_at(100, late)
        loop.run()
        assert len(errors) == 3
        assert "99 is before the loop's current time 100" in str(errors[0])
        assert loop.pending() == 0

    def test_bad_interval_and_priority_are_refused(self) -> None:
        """A non-positive interval or a negative priority is an input error."""
        loop, _ = new_loop()
        with pytest.raises(InputError, match="interval_ns"):
            loop.call_every(0, 0, lambda lp, ts: None)
        with pytest.raises(InputError, match="priority"):
            loop.call_at(0, lambda lp, ts: None, priority=-1)

    def test_funding_timer_runs_before_strategy_timer(self) -> None:
        """A priority-3 timer at a ts runs before a default (4) one at that ts."""
        loop, _ = new_loop()
        seen: list[str] = []
        loop.call_at(8, lambda lp, ts: seen.append("strategy"))
        loop.call_every(8, 8, lambda lp, ts: seen.append("funding"), priority=PRIORITY_FUNDING)
        loop.run(until_ns=16)
        assert seen == ["funding", "strategy", "funding"]


class TestRun:
    def test_until_is_inclusive_and_a_later_run_continues(self) -> None:
        """run(until_ns) runs items at until_ns, stops before later ones, and run() resumes."""
        loop, ex = new_loop()
        loop.add_source([mark(t) for t in (1, 2, 3, 4, 5)], name="m")
        assert loop.run(until_ns=3) == 3
        assert [c.ts_ns for c in ex.commands] == [1, 2, 3]
        assert loop.now_ns == 3
        assert loop.run(until_ns=3) == 0
        assert loop.run() == 2
        assert [c.ts_ns for c in ex.commands] == [1, 2, 3, 4, 5]

    def test_clock_reaches_until(self) -> None:
        """After run(until_ns) drains everything up to it, now_ns is until_ns."""
        loop, _ = new_loop()
        loop.schedule(mark(5))
        loop.schedule(mark(50))
        loop.run(until_ns=20)
        assert loop.now_ns == 20
        with pytest.raises(ValueError):
            loop.schedule(mark(19))

    def test_max_events_counts_commands_and_timers(self) -> None:
        """max_events stops after that many dispatches; run returns the count."""
        loop, ex = new_loop()
        loop.call_every(0, 1, lambda lp, ts: None)
        loop.add_source((mark(t) for t in range(100)), name="m")
        assert loop.run(max_events=7) == 7
        assert loop.run(max_events=0) == 0
        assert loop.run(until_ns=9) == 20 - 7
        assert len(ex.commands) == 10

    def test_now_starts_at_start_ns(self) -> None:
        """now_ns is start_ns before the run and the ts of the item running during it."""
        loop, _ = new_loop(start_ns=1_000)
        assert loop.now_ns == 1_000
        seen: list[int] = []
        loop.call_at(1_500, lambda lp, ts: seen.append(lp.now_ns))
        loop.run()
        assert seen == [1_500] and loop.now_ns == 1_500

    def test_exchange_sinks_receive_each_batch(self) -> None:
        """The loop only submits; the exchange pushes its events to its sinks."""
        from exsim.sinks import MemorySink

        loop, ex = new_loop()
        sink = MemorySink()
        ex.sinks.append(sink)
        loop.add_source([level(1), order(2), mark(3)], name="s")
        loop.run()
        assert [type(e).__name__ for e in sink.events] == ["BookDelta", "OrderAccepted", "MarkPriceUpdated"]


# -- property: any interleaving of sources dispatches in (ts, priority, seq) order ------

_KINDS = (level, order, mark)


def _reference_order(scheduled: list[Any], sources: list[list[Any]]) -> list[Any]:
    """Naive merge: everything known up front, sorted by (ts, priority, entry order).

    Entry order: scheduled commands (scheduled before the run) first, then the sources in
    the order they were added, each in its own order.
    """
    items = list(scheduled) + [c for src in sources for c in src]
    keyed = [(c.ts_ns, PRIORITY[type(c)], i, c) for i, c in enumerate(items)]
    keyed.sort(key=lambda k: k[:3])
    return [k[3] for k in keyed]


_stream = st.lists(st.tuples(st.integers(0, 6), st.integers(0, 2)), max_size=12)


class TestOrderProperty:
    @given(
        streams=st.lists(_stream, min_size=1, max_size=5),
        scheduled=_stream,
        chunks=st.lists(st.integers(0, 8), max_size=6),
    )
    def test_any_interleaving_dispatches_sorted(
        self, streams: list[list[tuple[int, int]]], scheduled: list[tuple[int, int]], chunks: list[int]
    ) -> None:
        """Sources of any content merge into a (ts, priority, seq)-sorted dispatch, however the run is split."""
        counter = itertools.count()

        def make(ts: int, kind: int) -> Any:
            n = next(counter)  # every command distinct, so the order is fully observable
            return _KINDS[kind](ts, **({"tag": f"c{n}"} if kind == 1 else {"price": 100 + n}))

        sources = [[make(ts, k) for ts, k in sorted(s, key=lambda x: x[0])] for s in streams]
        commands = [make(ts, k) for ts, k in scheduled]
        loop, ex = new_loop()
        for i, src in enumerate(sources):
            loop.add_source(iter(src), name=f"s{i}")
        for cmd in commands:
            loop.schedule(cmd)
        for step in chunks:  # split the run at arbitrary points: it must not matter
            loop.run(max_events=step)
            loop._check()
        loop.run()
        loop._check()
        assert ex.commands == _reference_order(commands, sources)
        keys = [(c.ts_ns, PRIORITY[type(c)]) for c in ex.commands]
        assert keys == sorted(keys)
        assert loop.pending() == 0
