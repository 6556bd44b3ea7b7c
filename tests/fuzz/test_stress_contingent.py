"""The stress run with trailing stops, OCO pairs and brackets: runs clean, exercises them,
and its checker catches an orphan exit and an OCO group with two filled legs."""

from __future__ import annotations

from typing import Any

from exsim.book.orders import TRAILING_STOP_MARKET
from exsim.exchange import Fill, NewBracket, NewOco, OrderAccepted, OrderCancelled, OrderTriggered
from exsim.testing.stress import InvariantViolation, StressRun

EVENTS = 12_000


def watch_events(run: StressRun) -> tuple[list[str], set[int], list[int]]:
    """The reasons of every OrderCancelled, the ids of accepted trailing stops, the ids of
    triggered orders."""
    reasons: list[str] = []
    trailing: set[int] = set()
    triggered: list[int] = []

    def sink(events: list[Any]) -> None:
        for e in events:
            t = type(e)
            if t is OrderCancelled:
                reasons.append(e.reason)
            elif t is OrderAccepted and e.order_type == TRAILING_STOP_MARKET:
                trailing.add(e.order_id)
            elif t is OrderTriggered:
                triggered.append(e.order_id)

    run.exchange.sinks.append(sink)
    return reasons, trailing, triggered


def test_contingent_kinds_run_clean_and_are_exercised() -> None:
    """12,000 events with every contingent kind: clean, with OCO cancels and trailing stops fired."""
    run = StressRun(seed=7)
    cancelled, trailing, triggered = watch_events(run)
    result = run.run(EVENTS)
    assert result.violation is None, result.violation
    assert run.command_counts[NewOco] > 50 and run.command_counts[NewBracket] > 50
    assert cancelled.count("OCO") > 20
    assert len(trailing.intersection(triggered)) > 5


def test_without_contingent_kinds_none_is_drawn() -> None:
    """--no-contingent draws no NewOco, no NewBracket and no trailing stop."""
    run = StressRun(seed=7, contingent=False)
    result = run.run(4_000)
    assert result.violation is None
    assert run.command_counts[NewOco] == run.command_counts[NewBracket] == 0
    assert not any(m.trailing.count for m in run.exchange.markets.values())


def test_an_exit_left_without_its_group_is_an_orphan() -> None:
    """A bracket whose exit group is unlinked behind the exchange's back is reported at once."""
    run = StressRun(seed=7)
    broken: list[int] = []

    def before(r: StressRun, command: Any) -> None:
        con = r.exchange.contingent
        if not broken and con.protecting:
            bracket = next(iter(con.protecting.values()))[0]
            del con.groups[bracket.group.group_id]  # the exits stay, their group is gone
            broken.append(r.submitted)

    run.before_command = before
    result = run.run(EVENTS)
    assert broken
    assert result.violation_invariant == "contingent orders _check()"
    assert "orphan" in (result.violation or "") or "group" in (result.violation or "")


def test_two_filled_legs_of_one_group_are_reported() -> None:
    """Fills of two legs of one OCO group break the invariant, whenever they come."""
    run = StressRun(seed=7)
    run.exchange.contingent.leg_group.update({10: 1, 11: 1})  # type: ignore[attr-defined]
    fill = Fill(0, "BTCUSDT", 1, 600_000, 1, 0, 10, 3, 0, 0, 0, 0, 0, 0)
    run.checker._fills = [fill]
    run.checker._check_oco_fills()
    run.checker._fills = [fill._replace(taker_order_id=0, maker_order_id=11)]
    try:
        run.checker._check_oco_fills()
    except InvariantViolation as exc:
        assert exc.invariant == "an OCO group never has two legs with fills"
    else:
        raise AssertionError("two filled legs were not reported")
