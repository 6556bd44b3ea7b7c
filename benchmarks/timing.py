"""Timing that holds on a shared machine: CPU time beside wall time, alternating rounds, best-of.

The project's machine has two cores shared by several jobs, so wall-clock ratios measured
an hour apart swung threefold. What these helpers do instead (issue 21):

* every run is timed twice, with :func:`time.process_time` (CPU time of this process: what
  the code cost, whatever else the machine did) and :func:`time.perf_counter` (wall time,
  kept beside it for honesty);
* the runs being compared (exsim and its reference, or two exsim cases) take turns,
  round after round, in one process, the order flipped every round, so a change of load
  falls on both alike;
* the figure is taken from each side's **best** round (the least disturbed), never the
  last, and the spread (worst / best) is kept beside it, so a reader sees how noisy the
  round was.

:func:`record` puts a figure in pytest-benchmark's ``extra_info`` under its name, with its
target, whether it was met, and its spread; ``benchmarks/table.py`` reads them back.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from typing import Any

import attrs

#: rounds of every alternating comparison (issue 21: best of at least 5)
ROUNDS = 5


@attrs.frozen
class Timed:
    """One round of one run: CPU and wall seconds, and what the run returned."""

    cpu_s: float
    wall_s: float
    result: Any


def timed(run: Callable[[], Any]) -> Timed:
    """Run ``run()`` once after a garbage collection (outside the timing), timing it both ways."""
    gc.collect()
    w0, c0 = time.perf_counter(), time.process_time()
    result = run()
    c1, w1 = time.process_time(), time.perf_counter()
    return Timed(c1 - c0, w1 - w0, result)


@attrs.frozen
class Rounds:
    """Every round of one run, in order."""

    rounds: tuple[Timed, ...]

    @property
    def cpu(self) -> list[float]:
        return [r.cpu_s for r in self.rounds]

    @property
    def wall(self) -> list[float]:
        return [r.wall_s for r in self.rounds]

    @property
    def best_cpu_s(self) -> float:
        return min(self.cpu)

    @property
    def best_wall_s(self) -> float:
        return min(self.wall)

    @property
    def cpu_spread(self) -> float:
        """Worst round over best, CPU time (1.0: every round alike)."""
        return spread(self.cpu)

    @property
    def wall_spread(self) -> float:
        return spread(self.wall)

    @property
    def last(self) -> Any:
        """What the last round returned (for the end-state checks)."""
        return self.rounds[-1].result

    def summary(self, prefix: str) -> dict[str, float]:
        """Best and spread, CPU and wall, under ``prefix_...`` keys (for ``extra_info``)."""
        return {
            f"{prefix}_cpu_s_best": round(self.best_cpu_s, 4),
            f"{prefix}_cpu_spread": round(self.cpu_spread, 3),
            f"{prefix}_wall_s_best": round(self.best_wall_s, 4),
            f"{prefix}_wall_spread": round(self.wall_spread, 3),
        }


def spread(values: list[float]) -> float:
    """``max / min`` of positive values (1.0 when they are all alike)."""
    return max(values) / min(values)


#: what :func:`alternate` runs: a callable, timed whole, or ``(setup, run)``: ``setup()``
#: untimed before each round, then ``run(what setup returned)`` timed
Run = Callable[[], Any] | tuple[Callable[[], Any], Callable[[Any], Any]]


def alternate(runs: dict[str, Run], rounds: int = ROUNDS) -> dict[str, Rounds]:
    """Run each of ``runs`` once per round, taking turns, the order reversed every round.

    Round 0 runs them in the given order, round 1 in reverse, and so on: neither side
    always runs first (after the other's garbage) nor always last.
    """
    got: dict[str, list[Timed]] = {name: [] for name in runs}
    names = list(runs)
    for i in range(rounds):
        for name in names if i % 2 == 0 else reversed(names):
            run = runs[name]
            if isinstance(run, tuple):
                setup, body = run
                state = setup()
                got[name].append(timed(lambda: body(state)))
            else:
                got[name].append(timed(run))
    return {name: Rounds(tuple(t)) for name, t in got.items()}


def per_round(fn: Callable[..., float], *sides: Rounds) -> list[float]:
    """A figure computed round by round from the sides' CPU times (round i with round i)."""
    return [fn(*cpus) for cpus in zip(*(s.cpu for s in sides))]


def met(value: float, target: str) -> bool:
    """Whether ``value`` meets ``target``, written ``">= 0.5"`` or ``"<= 10"``."""
    op, _, bound = target.partition(" ")
    if op == ">=":
        return value >= float(bound)
    if op == "<=":
        return value <= float(bound)
    raise ValueError(f"a target is '>= N' or '<= N', not {target!r}")


def record(extra_info: dict[str, Any], name: str, value: float, target: str | None, spread_: float | None, digits: int = 3) -> str:
    """Put figure ``name`` in ``extra_info`` with its target, whether it is met, and its spread.

    ``target`` None: a figure that is reported, not judged (``name_target`` = ``"report"``).
    ``spread_`` None: a figure that does not vary between rounds (an exact byte count).
    Returns a one-line text for the printed summary.
    """
    extra_info[name] = round(value, digits)
    extra_info[f"{name}_target"] = target if target is not None else "report"
    ok = None if target is None else met(value, target)
    extra_info[f"{name}_met"] = ok
    if spread_ is not None:
        extra_info[f"{name}_spread"] = round(spread_, 3)
    verdict = "" if ok is None else f" (target {target}: {'met' if ok else 'NOT met'})"
    sp = "" if spread_ is None else f", spread {spread_:.2f}"
    return f"{name} = {value:,.{digits}f}{sp}{verdict}"
