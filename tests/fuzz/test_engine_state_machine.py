"""A hypothesis state machine over every command kind, every invariant checked after every rule.

The machine reuses :mod:`exsim.testing.stress`: :class:`~exsim.testing.stress.StressRun` builds the engine
(ledger with an insurance fund per asset, exchange with computed marks and funding,
liquidations, watched structures; the linear BTCUSDT, ETHUSDT and SOLUSDT beside the
inverse BTCUSD_PERP and ETHUSD_PERP, so every account has USDT, BTC and ETH wallets and
every invariant is checked per asset) and :class:`~exsim.testing.stress.StressDriver`'s generators build each
command from ``random.Random(seed)`` with a seed that hypothesis draws, so a failing
example shrinks to a short list of rules, each reproducible from its seed. One rule per
command kind (orders of every
type, market-maker quotes, cancels, amends, self-trade prevention, leverage, margin and
position modes, isolated margin moves, deposits, withdrawals, marks, index prices,
funding, replayed depth and trades, crashes, and an account winding down to switch
modes, money in an asset the account does not hold; and, issue 17, collateral index ticks,
haircut changes and collateral-mode switches, with 0 to 2 takers in multi-assets mode
drawn at the start: USDT / USDC / BTC wallets, auto-exchange), and a burst rule of the stress command's own weighted mix; each example starts
with 100 to 300 commands of that mix, so there are books, positions and waiting stops to
work on. Every command is checked as it runs (liquidations, and the O(state) checks);
the ``@invariant`` runs
:meth:`~exsim.testing.stress.StressChecker.check_state` with every structure's ``_check()``,
the full liquidation scan and the stop-order scan.

Bounded for CI: ``HYPOTHESIS_PROFILE=ci`` runs the settings below derandomized, a few
seconds on this project's machine; ``HYPOTHESIS_PROFILE=long`` runs more examples.
"""

from __future__ import annotations

import os
import random
from typing import Any, Callable

from hypothesis import settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from exsim.testing.stress import StressRun

LONG = os.environ.get("HYPOTHESIS_PROFILE") == "long"
SEEDS = st.integers(0, 2**32 - 1)


class EngineMachine(RuleBasedStateMachine):
    """The whole engine driven one command per rule; every invariant after every rule."""

    def __init__(self) -> None:
        super().__init__()
        self.run: StressRun | None = None

    @initialize(
        seed=st.integers(0, 2**16), accounts=st.integers(4, 10), warmup=st.integers(100, 300), multi=st.integers(0, 2)
    )
    def build(self, seed: int, accounts: int, warmup: int, multi: int) -> None:
        """The engine funded and configured (``multi`` takers in multi-assets mode), then
        ``warmup`` commands of the stress mix (books, positions and waiting stops to work on)."""
        self.run = StressRun(seed=seed, accounts=accounts, multi_assets=multi)  # every command fully checked too
        for command in self.run.driver.setup_commands():
            self.submit(command)
        for _ in range(warmup):
            self.submit(self.run.driver.next_command())

    # ------------------------------------------------------------------ plumbing
    def submit(self, command: Any) -> None:
        run = self.run
        assert run is not None
        run.driver.ts_ns += 1_000_000
        run.submit(command._replace(ts_ns=run.driver.ts_ns))

    def draw(self, gen: Callable[[random.Random], Any], seed: int) -> None:
        """Submit what ``gen`` builds from ``random.Random(seed)``, then the rest of any plan
        it started (crash, wind-down)."""
        run = self.run
        assert run is not None
        command = gen(random.Random(seed))
        if command is not None:
            self.submit(command)
        while run.driver.plan:
            self.submit(run.driver.plan.popleft())

    @property
    def driver(self) -> Any:
        assert self.run is not None
        return self.run.driver

    @rule(seed=SEEDS, n=st.integers(1, 40))
    def burst(self, seed: int, n: int) -> None:
        """``n`` commands of the stress command's own weighted mix (plans included)."""
        rnd = random.Random(seed)
        for _ in range(n):
            self.submit(self.driver.next_command(rnd))

    # ------------------------------------------------------------------ orders
    @rule(seed=SEEDS)
    def new_order(self, seed: int) -> None:
        self.draw(self.driver.gen_new_order, seed)

    @rule(seed=SEEDS)
    def quote(self, seed: int) -> None:
        self.draw(self.driver.gen_quote, seed)

    @rule(seed=SEEDS)
    def cancel(self, seed: int) -> None:
        self.draw(self.driver.gen_cancel, seed)

    @rule(seed=SEEDS)
    def amend(self, seed: int) -> None:
        self.draw(self.driver.gen_amend, seed)

    @rule(seed=SEEDS)
    def self_trade_prevention(self, seed: int) -> None:
        self.draw(self.driver.gen_stp, seed)

    # ------------------------------------------------------------------ accounts
    @rule(seed=SEEDS)
    def deposit(self, seed: int) -> None:
        self.draw(self.driver.gen_deposit, seed)

    @rule(seed=SEEDS)
    def withdraw(self, seed: int) -> None:
        self.draw(self.driver.gen_withdraw, seed)

    @rule(seed=SEEDS)
    def money_in_an_asset_not_held(self, seed: int) -> None:
        """A deposit in an asset nothing settles in, or a withdrawal of a coin never held: refused."""
        self.draw(self.driver.gen_asset_probe, seed)

    @rule(seed=SEEDS)
    def leverage(self, seed: int) -> None:
        self.draw(self.driver.gen_leverage, seed)

    @rule(seed=SEEDS)
    def margin_mode(self, seed: int) -> None:
        self.draw(self.driver.gen_margin_mode, seed)

    @rule(seed=SEEDS)
    def position_mode(self, seed: int) -> None:
        self.draw(self.driver.gen_position_mode, seed)

    @rule(seed=SEEDS)
    def adjust_isolated_margin(self, seed: int) -> None:
        self.draw(self.driver.gen_adjust_margin, seed)

    @rule(seed=SEEDS)
    def wind_down(self, seed: int) -> None:
        self.draw(self.driver.gen_wind_down, seed)

    # ------------------------------------------------------------------ multi-assets (issue 17)
    @rule(seed=SEEDS)
    def collateral_index(self, seed: int) -> None:
        """A collateral index tick (a coin following its market, sometimes crashing; a stablecoin)."""
        self.draw(self.driver.gen_collateral_index, seed)

    @rule(seed=SEEDS)
    def haircut_change(self, seed: int) -> None:
        """New buffers or haircut tiers for an asset (some refused)."""
        self.draw(self.driver.gen_collateral_rule, seed)

    @rule(seed=SEEDS)
    def collateral_mode(self, seed: int) -> None:
        """A switch between single-asset and multi-assets mode (refused while anything is held)."""
        self.draw(self.driver.gen_collateral_mode, seed)

    # ------------------------------------------------------------------ market data
    @rule(seed=SEEDS)
    def mark(self, seed: int) -> None:
        self.draw(self.driver.gen_mark, seed)

    @rule(seed=SEEDS)
    def index(self, seed: int) -> None:
        self.draw(self.driver.gen_index, seed)

    @rule(seed=SEEDS)
    def crash(self, seed: int) -> None:
        self.draw(self.driver.gen_crash, seed)

    @rule(seed=SEEDS)
    def funding(self, seed: int) -> None:
        self.draw(self.driver.gen_funding, seed)

    @rule(seed=SEEDS)
    def replayed_levels(self, seed: int) -> None:
        self.draw(self.driver.gen_replayed_levels, seed)

    @rule(seed=SEEDS)
    def clear_replayed(self, seed: int) -> None:
        self.draw(self.driver.gen_clear_replayed, seed)

    @rule(seed=SEEDS)
    def replayed_trade(self, seed: int) -> None:
        self.draw(self.driver.gen_replayed_trade, seed)

    # ------------------------------------------------------------------ invariants
    @invariant()
    def every_invariant_holds(self) -> None:
        """Every structure's _check(), the full liquidation and stop scans (all of them: no sweep skipping)."""
        if self.run is not None:
            self.run.checker.check_state()


EngineMachine.TestCase.settings = settings(
    EngineMachine.TestCase.settings,
    max_examples=300 if LONG else 60,
    stateful_step_count=80 if LONG else 50,
    deadline=None,
)
TestEngineStateMachine = EngineMachine.TestCase
TestEngineStateMachine.__doc__ = "Random command sequences of every kind keep every engine invariant after every step."
