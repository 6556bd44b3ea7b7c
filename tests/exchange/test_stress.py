"""Seeded random stress: thousands of commands of every kind over two instruments and
five accounts (random STP modes), with ``Exchange._check()`` and the event auditor
(``streams.Auditor``) after every command.

The auditor re-derives from the events alone each order's open and filled size, the L2
book and the fees, checks them against the exchange after every command, and at the end
(and every 500 commands) checks conservation of size for every order:
``qty = filled (sum of its fills) + expired / cancelled leaves + still open leaves``.
It also checks that no waiting stop order's trigger has been reached by its reference
price (a stop must fire in the command that reaches its trigger).
"""

from __future__ import annotations

import pytest

from exsim.exchange import Exchange

from . import streams

SEEDS = (1, 2, 3)
N_COMMANDS = 5_000


def run_stress(seed: int, kinds: tuple[str, ...] = streams.ALL_KINDS, queue_model: str = "conservative") -> streams.Auditor:
    ex = Exchange(streams.stress_instruments(), queue_model=queue_model)
    auditor = streams.Auditor(ex)
    ex.sinks.append(auditor)
    driver = streams.RandomDriver(ex, seed, kinds)
    for i in range(N_COMMANDS):
        cmd = driver.next_command()
        try:
            ex.submit(cmd)
            ex._check()
            auditor.after_command()
            if i % 500 == 499:
                auditor.full_check()
        except Exception as exc:
            raise AssertionError(f"seed {seed}, command {i}: {cmd!r}") from exc
    auditor.full_check()
    return auditor


class TestRandomStress:
    @pytest.mark.parametrize("seed", SEEDS)
    def test_every_command_kind(self, seed: int) -> None:
        """Every invariant holds after each of 5000 random commands of every kind (conservative queue)."""
        auditor = run_stress(seed)
        # the stream really exercised the interesting paths
        for name in ("Fill", "OrderAmended", "OrderTriggered", "OrderCancelled", "OrderExpired", "OrderRejected"):
            assert auditor.counts.get(name, 0) > 50, name

    @pytest.mark.parametrize("seed", SEEDS)
    def test_every_command_kind_proportional_queue(self, seed: int) -> None:
        """The same holds with the proportional queue model."""
        run_stress(seed + 100, queue_model="proportional")

    @pytest.mark.parametrize("seed", SEEDS)
    def test_without_amends(self, seed: int) -> None:
        """Every invariant holds on streams without amends (isolates the amend path)."""
        run_stress(seed, kinds=streams.NO_AMEND_KINDS)

    @pytest.mark.parametrize("seed", SEEDS)
    def test_without_replayed_levels(self, seed: int) -> None:
        """Every invariant holds on streams without replayed levels (isolates the SetReplayedLevel path)."""
        run_stress(seed, kinds=tuple(k for k in streams.ALL_KINDS if k != "level"))

    @pytest.mark.parametrize("seed", SEEDS)
    def test_without_amends_or_replayed_levels(self, seed: int) -> None:
        """Every invariant holds on streams with neither amends nor replayed levels."""
        run_stress(seed, kinds=tuple(k for k in streams.NO_AMEND_KINDS if k != "level"))
