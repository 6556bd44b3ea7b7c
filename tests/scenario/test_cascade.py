"""The liquidation cascade: invariants after every event, and metamorphic depth.

The cascade's depth is measured by how many accounts it liquidates and how far it takes
the mark. (The number of *generations* is reported too but is not monotone: a thinner
book can liquidate more accounts in each round and so need fewer rounds.)
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from exsim.errors import StateError
from exsim.exchange import Liquidation
from exsim.ledger import CROSS
from exsim.scenario.cli import resolve
from exsim.scenario.runner import ScenarioRun
from exsim.scenario.spec import Scenario, parse_scenario
from exsim.toml_fields import Source

BASE = resolve("cascade").read_text()


def variant(**changes: str | int) -> Scenario:
    """The built-in cascade with some ``key = value`` lines replaced (200 accounts)."""
    text = BASE
    changes.setdefault("accounts", 200)
    for key, value in changes.items():
        text, n = re.subn(rf"^{key} = .*$", f"{key} = {value}", text, flags=re.M)
        assert n == 1, key
    return parse_scenario(Source("cascade-variant.toml", text, None))


def outcome(scenario: Scenario, mode: str) -> tuple[int, int]:
    """(accounts liquidated, lowest mark in ticks)."""
    run = ScenarioRun(scenario, margin_mode=mode)
    s = run.run()
    marks = [m[2] for m in run.recorder.marks]
    return s["cascade"]["liquidated_accounts"], min(marks)


def deeper_or_equal(seq: list[tuple[int, int]]) -> bool:
    return all(a[0] <= b[0] and a[1] >= b[1] for a, b in zip(seq, seq[1:]))


@pytest.mark.parametrize("mode", ["isolated", "cross"])
@pytest.mark.parametrize("seed", [1, 2, 6])
def test_thinner_book_gives_a_deeper_cascade(seed: int, mode: str) -> None:
    results = [outcome(variant(seed=seed, depth=f'"{d}"'), mode) for d in (3000, 2500, 2000, 1500)]
    assert deeper_or_equal(results), results
    assert results[-1][0] > results[0][0] and results[-1][1] < results[0][1], results


@pytest.mark.parametrize("mode", ["isolated", "cross"])
@pytest.mark.parametrize("seed", [1, 2, 6])
def test_more_leverage_gives_a_deeper_cascade(seed: int, mode: str) -> None:
    levels = ("[5, 10, 20]", "[10, 20, 50]", "[10, 20, 50, 100]", "[20, 50, 100, 125]")
    results = [outcome(variant(seed=seed, leverages=lev), mode) for lev in levels]
    assert deeper_or_equal(results), results
    assert results[-1][0] > results[0][0] and results[-1][1] < results[0][1], results


class CheckedRun(ScenarioRun):
    """A run that checks, after every command, what the engine must never break."""

    checked = 0

    def _send(self, command: Any) -> None:
        super()._send(command)  # runs ledger._check() and exchange._check() (check_every_event)
        self.checked += 1
        for acct in self.ledger.accounts.values():
            for pos in acct.positions.values():
                if pos.isolated and pos.margin_atoms < 0:
                    raise StateError(f"negative isolated bucket {pos!r}")
        for m in self.exchange.markets.values():
            bid, ask = m.book.best_bid(), m.book.best_ask()
            if bid is not None and ask is not None and bid >= ask:
                raise StateError(f"crossed book {bid} >= {ask}")

    def _on_events(self, events: list[Any]) -> None:
        for e in events:
            if type(e) is Liquidation:
                self.check_liquidation(e)
        super()._on_events(events)

    def check_liquidation(self, e: Liquidation) -> None:
        acct = self.ledger.accounts[e.account_id]
        if e.scope == "ISOLATED":
            assert len(e.positions) == 1  # one bucket
        else:  # all cross positions of the account, in one step: none left open
            assert not [p for p in acct.positions.values() if not p.isolated and p.qty_lots and not e.partial]
            assert acct.margin_modes.get(e.symbol, CROSS) == CROSS
        for p in e.positions:  # never filled worse than bankruptcy
            if p.filled_lots:
                # average = notional / (lots × atoms per tick-lot), compared with bp exactly
                atpl = self.scenario.instrument(p.symbol).atoms_per_tick_lot
                at_bp = p.bankruptcy_price_ticks * p.filled_lots * atpl
                assert p.fill_notional_atoms >= at_bp if p.qty_lots > 0 else p.fill_notional_atoms <= at_bp, p


@pytest.mark.parametrize("mode", ["isolated", "cross"])
def test_cascade_keeps_every_invariant_after_every_event(mode: str) -> None:
    run = CheckedRun(variant(accounts=300), margin_mode=mode, check_every_event=True)
    s = run.run()
    assert s["liquidations"] > 10
    assert run.checked > s["liquidations"]
    assert run.ledger.money_atoms() == run.ledger.total_in_atoms - run.ledger.total_out_atoms


def test_same_cascade_same_hash() -> None:
    a = ScenarioRun(variant(), margin_mode="isolated").run()
    b = ScenarioRun(variant(), margin_mode="isolated").run()
    assert a["state_hash"] == b["state_hash"]
    assert a["cascade"] == b["cascade"]
