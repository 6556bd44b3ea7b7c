"""The stress run with inverse contracts and several assets per account (issue 16).

By default :mod:`exsim.testing.stress` draws the inverse BTCUSD_PERP and ETHUSD_PERP beside the
linear instruments: every account has a USDT wallet and most a BTC and an ETH one, and
every invariant (conservation, no negative balance, the full liquidation scan, ...) is
checked per asset after every event. These tests pin that the run really trades and
liquidates in the coins, that refused money commands are drawn, that ``--inverse`` with
no symbol is the linear-only run, and that the checker names the asset whose money broke.
"""

from __future__ import annotations

from typing import Any

import pytest

from exsim.exchange import CommandRejected, OrderRejected
from exsim.ledger import Reason
from exsim.testing.stress import StressRun, main

EVENTS = 20_000


@pytest.fixture(scope="module")
def default_run() -> tuple[StressRun, Any, list[Any]]:
    """One default run of 20,000 events (seed 11), with every rejection kept."""
    run = StressRun(seed=11)
    rejected: list[Any] = []
    run.exchange.sinks.append(
        lambda events: rejected.extend(e for e in events if type(e) in (CommandRejected, OrderRejected))
    )
    return run, run.run(EVENTS), rejected


class TestInverseInTheMix:
    def test_a_default_run_is_clean_and_has_a_book_per_asset(self, default_run: Any) -> None:
        """The default run holds every invariant and reports USDT, BTC and ETH books, home first."""
        _, result, _ = default_run
        assert result.violation is None, result.violation
        assert list(result.asset_totals) == ["USDT", "BTC", "ETH"]
        for asset, totals in result.asset_totals.items():
            assert totals["deposits"] > 0 and totals["accounts"] > 0, asset

    def test_inverse_contracts_trade_in_their_coin_wallets(self, default_run: Any) -> None:
        """BTCUSD_PERP and ETHUSD_PERP fill, and their positions sit in BTC and ETH wallets only."""
        run, result, _ = default_run
        assert result.fills_by_symbol["BTCUSD_PERP"] > 100
        assert result.fills_by_symbol["ETHUSD_PERP"] > 100
        for acct in run.ledger.all_accounts():
            for symbol, _ in acct.positions:
                assert run.exchange.markets[symbol].instrument.margin_asset == acct.asset

    def test_coin_margined_positions_are_liquidated_too(self, default_run: Any) -> None:
        """Crashes liquidate BTC- and ETH-margined scopes as well as USDT ones."""
        _, result, _ = default_run
        assert result.liquidations_by_asset["USDT"] > 0
        assert result.liquidations_by_asset["BTC"] + result.liquidations_by_asset["ETH"] > 0

    def test_money_in_an_asset_not_held_is_drawn_and_refused_with_its_reason(self, default_run: Any) -> None:
        """Deposits in DOGE are refused UNKNOWN_ASSET, withdrawals of a coin never held NO_ACCOUNT."""
        _, _, rejected = default_run
        reasons = {e.reason for e in rejected if type(e) is CommandRejected}
        assert Reason.UNKNOWN_ASSET in reasons
        assert Reason.NO_ACCOUNT in reasons

    def test_no_inverse_symbol_is_the_linear_only_run(self) -> None:
        """``inverse=()``: one asset (USDT), only the linear symbols, clean."""
        result = StressRun(seed=11, inverse=()).run(3_000)
        assert result.violation is None, result.violation
        assert list(result.asset_totals) == ["USDT"]
        assert set(result.fills_by_symbol) == {"BTCUSDT", "ETHUSDT", "SOLUSDT"}


class TestTheCheckerNamesTheAsset:
    def test_an_atom_out_of_nowhere_in_a_btc_wallet_is_reported_for_btc(self) -> None:
        """One satoshi added to a BTC wallet behind the ledger's back breaks conservation in BTC, at once."""
        run = StressRun(seed=12)

        def corrupt(run: StressRun, command: Any) -> None:
            if run.submitted == 2_000:
                acct = next(a for a in run.ledger.all_accounts() if a.asset == "BTC")
                acct.wallet_atoms += 1

        run.before_command = corrupt
        result = run.run(5_000)
        assert result.violation_invariant == "ledger _check()"
        assert result.violation_event <= 2_000 + 256  # found within one sweep of every structure
        assert "BTC" in (result.violation or "")

    def test_an_unknown_inverse_symbol_exits_with_status_2(self, capsys: pytest.CaptureFixture[str]) -> None:
        """``--inverse NOPEUSD_PERP`` is refused with a message naming the option, not a traceback."""
        code = main(["--no-progress", "--events", "10", "--seed", "1", "--inverse", "NOPEUSD_PERP"])
        _, err = capsys.readouterr()
        assert code == 2
        assert "NOPEUSD_PERP" in err and "inverse" in err
