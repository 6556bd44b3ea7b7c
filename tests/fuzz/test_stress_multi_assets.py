"""The stress run with multi-assets accounts (issue 17): ``--multi-assets K``.

K takers trade in multi-assets collateral mode (USDT, USDC and BTC wallets; BTC collateral
for USDT contracts), and the mix adds collateral index ticks (following the coin's market,
with collateral crashes), haircut and buffer changes (``SetCollateralRule``, some refused)
(one in three aimed at an account: a haircut squeeze) and collateral-mode switches;
auto-exchange happens as it does on the venue. After every
event the checker values every multi-assets account with a naive full scan, checks each
multi-assets liquidation (whole, one event per asset, explained; by the haircut when a
haircut change found it) and each conversion (never more value bought than sold). These
tests pin that the run exercises all of it, stays clean, and that the checker catches a
missed account and an unexplained haircut liquidation.
"""

from __future__ import annotations

from typing import Any

import pytest

import exsim.ledger.ledger as ledger_module
from exsim.book.orders import BUY, GTC, LIMIT, MARKET, IOC, SELL
from exsim.exchange import (
    AutoExchange,
    CollateralIndex,
    CollateralRuleSet,
    CommandRejected,
    Deposit,
    Exchange,
    Liquidation,
    NewOrder,
    SetCollateralMode,
    SetCollateralRule,
    SetMarkPrice,
)
from exsim.instruments import get_instrument
from exsim.ledger import Ledger, Reason
from exsim.testing.stress import InvariantViolation, StressChecker, StressRun, main

EVENTS = 20_000
USD = 10**8


@pytest.fixture(scope="module")
def multi_run() -> tuple[StressRun, Any, list[Any]]:
    """One run of 20,000 events (seed 17) with 8 multi-assets takers, every multi-assets
    event and every rejection kept."""
    run = StressRun(seed=17, multi_assets=8)
    kept: list[Any] = []
    kinds = (AutoExchange, CollateralRuleSet, CommandRejected, Liquidation)
    run.exchange.sinks.append(lambda events: kept.extend(e for e in events if type(e) in kinds))
    return run, run.run(EVENTS), kept


class TestMultiAssetsInTheMix:
    def test_a_multi_assets_run_is_clean_with_usdc_and_btc_books(self, multi_run: Any) -> None:
        """The run holds every invariant after every event; USDC and BTC books are there."""
        _, result, _ = multi_run
        assert result.violation is None, result.violation
        assert {"USDT", "USDC", "BTC"} <= set(result.asset_totals)
        assert result.multi_assets_accounts > 0

    def test_collateral_index_ticks_and_haircut_changes_are_drawn(self, multi_run: Any) -> None:
        """Collateral index ticks and rule changes run; valid rules are set, invalid ones refused."""
        _, result, kept = multi_run
        assert result.command_counts["CollateralIndex"] > 300
        assert result.command_counts["SetCollateralRule"] > 20
        assert any(type(e) is CollateralRuleSet for e in kept)
        refused = {(e.command, e.reason) for e in kept if type(e) is CommandRejected}
        assert ("SetCollateralRule", Reason.INVALID_AMOUNT) in refused
        assert ("SetCollateralMode", Reason.HAS_POSITION_OR_ORDERS) in refused

    def test_multi_assets_accounts_are_liquidated_whole(self, multi_run: Any) -> None:
        """Multi-assets accounts are liquidated, every position of every asset at once, each
        event explaining the account's margin ratio."""
        _, result, kept = multi_run
        liqs = [e for e in kept if type(e) is Liquidation and e.scope == "MULTI_ASSETS"]
        assert result.liquidations_multi_assets > 0 and liqs
        assert all("margin ratio" in e.explanation and not e.partial for e in liqs)

    def test_haircut_changes_liquidate_accounts_and_say_so(self, multi_run: Any) -> None:
        """Haircut squeezes (a value ratio aimed just below an account's maintenance margin)
        liquidate multi-assets accounts in the run; the checker required each explanation
        to name the haircut, and the run is clean."""
        _, result, _ = multi_run
        assert result.haircut_liquidations > 0
        assert result.violation is None

    def test_auto_exchange_converts_negative_balances(self, multi_run: Any) -> None:
        """Auto-exchange buys back negative balances, in liquidations and over the threshold."""
        _, result, kept = multi_run
        reasons = {e.reason for e in kept if type(e) is AutoExchange}
        assert "LIQUIDATION" in reasons and "THRESHOLD" in reasons
        assert sum((result.auto_exchanges or {}).values()) == sum(1 for e in kept if type(e) is AutoExchange)

    def test_the_same_seed_gives_the_same_hash(self) -> None:
        """Two multi-assets runs of one seed end in the same state; another seed does not."""
        a = StressRun(seed=5, multi_assets=6).run(4_000)
        b = StressRun(seed=5, multi_assets=6, check_every=7).run(4_000)
        c = StressRun(seed=6, multi_assets=6).run(4_000)
        assert a.violation is None and b.violation is None and c.violation is None
        assert a.state_hash == b.state_hash != c.state_hash

    def test_too_many_multi_assets_accounts_exit_with_status_2(self, capsys: pytest.CaptureFixture[str]) -> None:
        """``--multi-assets`` above the number of takers is refused naming the option."""
        code = main(["--no-progress", "--events", "10", "--seed", "1", "--multi-assets", "99"])
        _, err = capsys.readouterr()
        assert code == 2
        assert "multi-assets" in err


class TestTheCheckerCatchesMultiAssetsBreakage:
    def test_a_portfolio_the_index_never_fires_is_caught_by_the_full_scan(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """With portfolio triggers that never fire (an index that forgets multi-assets accounts),
        the naive full scan reports a multi-assets account left at its maintenance margin."""
        monkeypatch.setattr(ledger_module, "portfolio_triggers", lambda ledger, pf, ratio: [])
        result = StressRun(seed=17, multi_assets=8).run(EVENTS)
        assert result.violation_invariant == "no liquidatable scope left open (full scan)"
        assert "multi-assets account" in (result.violation or "")

    def test_a_haircut_liquidation_is_explained_by_the_haircut(self) -> None:
        """A BTC-collateralised long liquidated by a haircut change: its explanation names the
        haircut and the checker accepts it; the same event with the haircut taken out of its
        explanation is reported."""
        inst = get_instrument("BTCUSDT")
        ledger = Ledger([inst], default_leverage=20, assets=("BTC",))
        ex = Exchange([inst], ledger=ledger, emit_book_deltas=False)
        checker = StressChecker(ex, ledger)
        ex.sinks.append(checker.on_events)
        mark = 600_000  # 60,000.0
        setup = [
            SetMarkPrice(1, "BTCUSDT", mark * inst.subticks_per_tick),
            CollateralIndex(1, "BTC", 60_000 * USD),
            Deposit(1, 9, 10**6 * USD),  # a market maker
            Deposit(1, 1, 10 * USD),
            SetCollateralMode(1, 1, "multi-assets"),
            Deposit(1, 1, 5_000_000, "BTC"),  # 0.05 BTC: 3,000 USD of collateral
            NewOrder(2, 9, "BTCUSDT", SELL, 500, mark, LIMIT, GTC),
            NewOrder(2, 1, "BTCUSDT", BUY, 500, 0, MARKET, IOC),  # 0.5 BTC long at 20x
            NewOrder(3, 9, "BTCUSDT", BUY, 2_000, mark - 10, LIMIT, GTC),  # bids to liquidate into
        ]
        for cmd in setup:
            ex.submit(cmd)
            checker.after_command(True, cmd)
        shock = SetCollateralRule(4, "BTC", None, None, ((None, 3_000_000),))  # BTC counts at 3 %
        ex.submit(shock)
        liqs = list(checker._liqs)
        checker.after_command(True, shock)  # explained: accepted
        assert [e.scope for e in liqs] == ["MULTI_ASSETS"] and "haircut" in liqs[0].explanation
        assert checker.haircut_liquidations == 1
        unexplained = liqs[0]._replace(explanation=liqs[0].explanation.replace("haircut", "cut"))
        checker.on_events([unexplained])
        with pytest.raises(InvariantViolation, match="explained by the haircut"):
            checker.after_command(False, shock)
