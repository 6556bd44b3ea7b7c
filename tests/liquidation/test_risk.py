"""exsim.liquidation.risk: a scope's maintenance margin attributed to its positions, checked.

hedged-pair in cross at the start: BTCUSDT long 0.1 at 60,000 and ETHUSDT short 2 at 3,000
(MMR 0.4 % each: MM 24 + 24 = 48) in one pool of 1,200.
"""

from __future__ import annotations

import pytest

from exsim.liquidation.risk import CROSS_SCOPE, AttributionError, account_risk
from exsim.scenario.cli import resolve
from exsim.scenario.runner import ScenarioRun
from exsim.scenario.spec import load_scenario


@pytest.fixture
def pair() -> ScenarioRun:
    run = ScenarioRun(load_scenario(resolve("hedged-pair")), margin_mode="cross")
    run.run()
    return run


def test_each_leg_carries_its_own_bracket(pair: ScenarioRun) -> None:
    """At the end (BTC 58,000, ETH 2,850): MM 23.2 and 22.8 of the pool's 46; shares
    23.2 / 46 = 0.50434782... and 22.8 / 46 = 0.49565217... (rounded down)."""
    btc, eth = account_risk(pair.ledger, pair.exchange.liquidator, 1, ["USDT"])
    assert (btc.symbol, btc.scope, btc.maint_margin_atoms, btc.scope_maint_atoms, btc.share_e8) == (
        "BTCUSDT", CROSS_SCOPE, 23_20000000, 46_00000000, 50434782)
    assert (eth.symbol, eth.maint_margin_atoms, eth.share_e8) == ("ETHUSDT", 22_80000000, 49565217)
    assert btc.liquidation_subticks < 58000 * 10**8 and eth.liquidation_subticks > 2850 * 10**8


def test_a_pool_figure_that_does_not_add_up_is_refused(pair: ScenarioRun, monkeypatch: pytest.MonkeyPatch) -> None:
    """If the pool's maintenance margin were not the sum of its positions' (here forged one
    atom higher), the attribution raises AttributionError naming the account and the pool."""
    real = pair.ledger.cross_margin_balance
    monkeypatch.setattr(pair.ledger, "cross_margin_balance", lambda acct: (real(acct)[0], real(acct)[1] + 1))
    with pytest.raises(AttributionError, match="account 1 USDT cross pool"):
        account_risk(pair.ledger, pair.exchange.liquidator, 1, ["USDT"])


def test_no_position_no_row(pair: ScenarioRun) -> None:
    """An account with nothing open (or no account in the asset) gives no row."""
    assert account_risk(pair.ledger, pair.exchange.liquidator, 99, ["USDT"]) == []
