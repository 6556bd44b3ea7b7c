"""Determinism is part of the API: the same commands give the same events and the same
``state_hash()``, in this process and in another one with a different hash seed.

Each stream test runs twice: on streams of every command kind, and on streams without
amends, so that the determinism checks still say something while an amend bug breaks
the full streams (see ``test_stress``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import exsim
from exsim.exchange import Exchange
from exsim.sinks import MemorySink

from . import streams
from .harness import ALICE, BOB, BTC, BUY, SELL, Harness, P

HERE = Path(__file__).resolve().parent
EXSIM_ROOT = Path(exsim.__file__).resolve().parents[1]  # the checkout under test
N_COMMANDS = 2_000
KINDS = pytest.mark.parametrize("kinds", [streams.ALL_KINDS, streams.NO_AMEND_KINDS], ids=["all_kinds", "no_amends"])


def replay(commands: list) -> tuple[list, str]:
    """Run ``commands`` on a fresh stress exchange; return (events, state hash)."""
    sink = MemorySink()
    ex = Exchange(streams.stress_instruments(), sinks=[sink])
    for cmd in commands:
        ex.submit(cmd)
    return sink.events, ex.state_hash()


def hashes_in_subprocess(seed: int, n: int, kinds: tuple[str, ...], hash_seed: str) -> str:
    code = (
        f"import sys; sys.path.insert(0, {str(HERE)!r}); import streams; "
        f"print(streams.run_hashes({seed}, {n}, {kinds!r}))"
    )
    env = dict(os.environ, PYTHONHASHSEED=hash_seed, PYTHONPATH=str(EXSIM_ROOT))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120, cwd="/")
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


class TestDeterminism:
    @KINDS
    def test_stream_mixes_every_command_kind(self, kinds: tuple[str, ...]) -> None:
        """The random stream contains every command kind it is asked for and every event type."""
        commands = streams.random_commands(7, N_COMMANDS, kinds)
        names = {"new": "NewOrder", "cancel": "CancelOrder", "amend": "AmendOrder", "stp": "SetSelfTradePrevention",
                 "level": "SetReplayedLevel", "trade": "ReplayedTrade", "mark": "SetMarkPrice"}
        assert {type(c).__name__ for c in commands} == {names[k] for k in kinds}
        events, _ = replay(commands)
        expected = {"OrderAccepted", "OrderRejected", "OrderCancelled", "OrderExpired", "OrderTriggered", "Fill",
                    "BookDelta", "MarkPriceUpdated"}
        if "amend" in kinds:
            expected.add("OrderAmended")
        assert {type(e).__name__ for e in events} == expected

    @KINDS
    def test_same_commands_same_events_and_hash(self, kinds: tuple[str, ...]) -> None:
        """Replaying one command list on two fresh exchanges gives equal event lists and state hashes."""
        commands = streams.random_commands(11, N_COMMANDS, kinds)
        events_a, hash_a = replay(commands)
        events_b, hash_b = replay(commands)
        assert events_a == events_b
        assert hash_a == hash_b
        assert len(events_a) > N_COMMANDS

    @KINDS
    def test_same_hash_in_another_process(self, kinds: tuple[str, ...]) -> None:
        """A separate interpreter with other PYTHONHASHSEEDs computes the same state and event hashes."""
        here = streams.run_hashes(5, N_COMMANDS, kinds)
        assert hashes_in_subprocess(5, N_COMMANDS, kinds, "0") == here
        assert hashes_in_subprocess(5, N_COMMANDS, kinds, "4242") == here

    @KINDS
    def test_different_commands_different_hash(self, kinds: tuple[str, ...]) -> None:
        """Different command streams end in different state hashes and event hashes."""
        a, b = streams.run_hashes(5, N_COMMANDS, kinds).split(), streams.run_hashes(6, N_COMMANDS, kinds).split()
        assert a[0] != b[0] and a[1] != b[1]

    def test_one_change_changes_the_hash(self) -> None:
        """Changing any part of the state (here one resting order's size) changes the hash."""
        h1, h2 = Harness(BTC), Harness(BTC)
        for h in (h1, h2):
            h.new(ALICE, BUY, 5, P)
            h.new(BOB, SELL, 3, P + 10)
        assert h1.ex.state_hash() == h2.ex.state_hash()
        h2.amend(ALICE, 1, P, 4)
        assert h1.ex.state_hash() != h2.ex.state_hash()

    def test_hash_ignores_the_path_to_an_equal_state(self) -> None:
        """Lazily kept empty levels and dead queue entries do not enter the hash."""
        h1, h2 = Harness(BTC), Harness(BTC)
        for h in (h1, h2):
            h.new(BOB, BUY, 3, P)
        h1.new(ALICE, BUY, 2, P - 10)  # behind the best bid: its emptied level is kept lazily
        h2.new(ALICE, SELL, 2, P + 50)
        h1.cancel(ALICE, 2)
        h2.cancel(ALICE, 2)
        h1.level(BUY, P - 20, 4)  # a replayed level that came and went
        h1.level(BUY, P - 20, 0)
        assert h1.ex.state_hash() == h2.ex.state_hash()
