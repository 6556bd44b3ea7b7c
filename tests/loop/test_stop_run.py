"""``stop_run``: a timer that ends the loop's run where it fires (exsim serve stops its
replay so at the data's end)."""

from __future__ import annotations

from typing import Any

from exsim.book.orders import BUY
from exsim.exchange.commands import NewOrder
from exsim.loop import PRIORITY_TIMER, EventLoop
from exsim.loop.event_loop import stop_run


class FakeExchange:
    """Records the commands the loop dispatches."""

    def __init__(self) -> None:
        self.commands: list[Any] = []

    def submit(self, command: Any) -> None:
        self.commands.append(command)


def order(ts: int, tag: str) -> NewOrder:
    return NewOrder(ts, 1, "BTCUSDT", BUY, 1, 100, client_order_id=tag)


class TestStopRun:
    def test_a_stop_run_timer_ends_the_run_with_the_clock_at_its_time(self) -> None:
        """run() returns after the stop timer, its clock at the timer's time whatever until_ns; the rest waits."""
        ex = FakeExchange()
        loop = EventLoop(ex)
        for ts in (10, 20, 30):
            loop.schedule(order(ts, f"o{ts}"))
        loop.call_at(20, stop_run, priority=PRIORITY_TIMER + 2)
        assert loop.run(until_ns=1_000) == 3  # o10, o20, the stop
        assert loop.now_ns == 20 and [c.client_order_id for c in ex.commands] == ["o10", "o20"]
        loop.run(until_ns=1_000)
        assert loop.now_ns == 1_000 and [c.client_order_id for c in ex.commands] == ["o10", "o20", "o30"]
        loop._check()

    def test_items_at_the_stop_time_with_a_lower_priority_run_first(self) -> None:
        """Everything queued at the stop's time before its priority runs before the run ends."""
        ex = FakeExchange()
        loop = EventLoop(ex)
        loop.call_at(5, stop_run, priority=PRIORITY_TIMER + 2)
        loop.call_at(5, lambda lp, ts: lp.schedule(order(5, "late")), priority=PRIORITY_TIMER)
        loop.run()
        assert loop.now_ns == 5 and [c.client_order_id for c in ex.commands] == ["late"]
