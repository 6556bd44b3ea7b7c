"""The stress run under every venue's rules (issue 18), with fixed seeds for CI.

``exsim stress --venue binance|bybit|hyperliquid|dydx`` builds the instruments
under the venue's terms, gives the exchange the venue, and checks every invariant after
every event — conservation per asset to the atom, no negative balance (a Hyperliquid
vault may carry a deficit in its own balance, never reported lost), positions netting to
zero — plus each venue's own rules (:class:`~exsim.testing.stress.VenueChecks`). These tests run
a short seeded stress per venue, pin that it held every invariant AND that the venue's
distinctive rule actually fired in it, and pin that the checker catches a run that breaks
one of those rules.
"""

from __future__ import annotations

from typing import Any

import pytest

from exsim.exchange import Exchange, Fill, Liquidation
from exsim.instruments import get_instrument
from exsim.ledger import BOTH, Ledger, Position
from exsim.liquidation.engine import LiquidatedPosition
from exsim.testing.stress import InvariantViolation, StressRun, VenueChecks, main
from exsim.venues import BYBIT, DYDX, HYPERLIQUID, VenueProfile

#: events per CI seed: a few seconds each
EVENTS = 4_000

#: per venue: a seed whose short run fires the venue's distinctive rule (the driver's
#: per-venue mix, ``exsim.testing.stress.VENUE_DRIVES``, makes most seeds do)
SEEDS: dict[str, int] = {"binance": 1, "bybit": 2, "hyperliquid": 2, "dydx": 1}

_RUNS: dict[str, Any] = {}


def venue_result(venue: str) -> Any:
    """The short seeded run of ``venue`` (run once per test session)."""
    if venue not in _RUNS:
        _RUNS[venue] = StressRun(seed=SEEDS[venue], venue=venue).run(EVENTS)
    return _RUNS[venue]


class TestEveryVenueRunsClean:
    @pytest.mark.parametrize("venue", sorted(SEEDS))
    def test_every_invariant_holds_after_every_event(self, venue: str) -> None:
        """A seeded run under each venue's rules breaks no invariant, checked after every event."""
        result = venue_result(venue)
        assert result.violation is None, f"{venue}: {result.violation}"
        assert result.events == EVENTS and result.check_every == 1 and result.venue == venue

    @pytest.mark.parametrize("venue", sorted(SEEDS))
    def test_the_run_liquidates(self, venue: str) -> None:
        """Crashes liquidate scopes under every venue (its liquidation process runs at all)."""
        assert venue_result(venue).event_counts.get("Liquidation", 0) > 0, venue


class TestEachVenuesOwnRuleFires:
    def test_bybit_ladders_partial_liquidations_down_the_tiers(self) -> None:
        """The Bybit seed has laddered partial steps, each checked to leave its position under its tier's floor."""
        result = venue_result("bybit")
        assert result.violation is None, result.violation
        assert result.venue_counts["ladder steps"] > 0

    def test_hyperliquid_chunks_large_positions(self) -> None:
        """The Hyperliquid seed sends positions above 100,000 in 20 % chunks, each followed by its cooldown."""
        result = venue_result("hyperliquid")
        assert result.violation is None, result.violation
        assert result.venue_counts["chunks"] > 0

    def test_hyperliquid_vault_takes_positions_over(self) -> None:
        """The Hyperliquid seed has scopes below 2/3 of maintenance taken over by the liquidator vault."""
        result = venue_result("hyperliquid")
        assert result.violation is None, result.violation
        assert result.venue_counts["takeovers"] > 0

    def test_dydx_liquidates_at_the_fillable_price(self) -> None:
        """The dYdX seed has liquidation fills, each checked against its fillable price and the fund's cap."""
        result = venue_result("dydx")
        assert result.violation is None, result.violation
        assert result.venue_counts["fillable-price liquidations"] > 0

    def test_dydx_leaves_an_unfilled_rest_open_for_a_retry(self) -> None:
        """The dYdX seed has rests the book did not take left open (and the scope allowed to wait one command)."""
        result = venue_result("dydx")
        assert result.violation is None, result.violation
        assert result.venue_counts["rests left open"] > 0


class TestTheVenueShapesTheRun:
    def test_binance_is_the_run_without_a_venue(self) -> None:
        """``venue="binance"`` draws and ends exactly as a run that names no venue (same hash)."""
        a = StressRun(seed=4).run(1_500)
        b = StressRun(seed=4, venue="binance").run(1_500)
        assert a.state_hash == b.state_hash and a.venue == b.venue == "binance"

    @pytest.mark.parametrize("venue", ["hyperliquid", "dydx"])
    def test_a_linear_only_venue_trades_the_linear_contracts_only(self, venue: str) -> None:
        """Under Hyperliquid and dYdX the run has no inverse instrument and one asset (USDT)."""
        run = StressRun(seed=2, venue=venue)
        assert list(run.exchange.markets) == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
        assert list(run.ledger.assets) == ["USDT"]

    def test_the_instruments_are_under_the_venues_terms(self) -> None:
        """Under Bybit every instrument holds its maintenance margin at entry (the profile's conversion)."""
        run = StressRun(seed=2, venue="bybit")
        assert {m.instrument.maint_margin_basis for m in run.exchange.markets.values()} == {"entry"}

    @pytest.mark.parametrize("argv", [["--venue", "hyperliquid", "--inverse", "BTCUSD_PERP"],
                                      ["--venue", "dydx", "--multi-assets", "2"]])
    def test_inverse_or_multi_assets_under_a_linear_only_venue_exit_2(
        self, argv: list[str], capsys: pytest.CaptureFixture[str]
    ) -> None:
        """An inverse contract or multi-assets accounts under a linear-only venue: one error line, exit 2."""
        assert main(["--events", "10", "--seed", "1", *argv]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1

    def test_an_unknown_venue_exits_2(self, capsys: pytest.CaptureFixture[str]) -> None:
        """``--venue kraken`` is refused by the argument parser (exit 2, the choices listed)."""
        with pytest.raises(SystemExit) as exc:
            main(["--events", "10", "--seed", "1", "--venue", "kraken"])
        assert exc.value.code == 2
        assert "bybit" in capsys.readouterr().err


# ---------------------------------------------------------------------------- the checker
def _checks(venue: VenueProfile, symbol: str = "BTCUSDT") -> VenueChecks:
    insts = venue.instruments([get_instrument(symbol)])
    ledger = Ledger(insts, insurance_fund_atoms=10**15)
    return VenueChecks(Exchange(insts, ledger=ledger, venue=venue), ledger, venue)


def _liq(venue: VenueProfile, lps: tuple[LiquidatedPosition, ...], *, ts_ns: int = 10**12, balance: int = 0,
         mm: int = 0, fund_change: int = 0, partial: bool = False, text: str = "") -> Liquidation:
    return Liquidation(
        ts_ns, 7, "ISOLATED", lps[0].symbol, balance, mm, lps, 0, fund_change, 0, 0, (),
        text or f"{venue.name}: isolated bucket closed", partial,
    )


def _lp(qty: int, mark_subticks: int, filled: int = 0, notional: int = 0, taken: int = 0, order_id: int = 99) -> LiquidatedPosition:
    return LiquidatedPosition("BTCUSDT", BOTH, qty, mark_subticks, 0, 1, order_id, filled, notional, taken, 0)


def _fill(price_ticks: int, qty_lots: int, order_id: int = 99, side: int = 1) -> Fill:
    return Fill(10**12, "BTCUSDT", 1, price_ticks, qty_lots, side, order_id, 7, 0, 0, 0, 0, 0, 0)


BTC_50K = 50_000 * 10**8  # a BTCUSDT mark of 50,000 in subticks


class Command:
    ts_ns = 10**12


class TestTheCheckerCatchesAVenuesBrokenRule:
    def test_an_explanation_without_the_venue_is_reported(self) -> None:
        """A Bybit liquidation explained without ``"bybit: "`` breaks the naming invariant."""
        checks = _checks(BYBIT)
        liq = _liq(BYBIT, (_lp(1_000, BTC_50K),), text="isolated bucket: closed")
        with pytest.raises(InvariantViolation, match="names the venue"):
            checks.after_command([liq], [], Command())

    def test_the_fillable_price_is_the_issues_vector(self) -> None:
        """dYdX: long 1 BTC at oracle 50,000, maintenance 1,500, net collateral 750 → fillable price 49,925."""
        checks = _checks(DYDX)
        lp = _lp(1_000, BTC_50K)
        fp = checks.fillable_price_subticks(lp, 750 * 10**8 * 10**8, 1_500 * 10**8)
        assert fp == 49_925 * 10**8

    def test_a_dydx_fill_below_the_fillable_price_is_reported(self) -> None:
        """dYdX: a long sold at 49,924.9 when its fillable price is 49,925 breaks the fillable-price bound."""
        checks = _checks(DYDX)
        lp = _lp(1_000, BTC_50K, filled=1_000, notional=0)
        liq = _liq(DYDX, (lp,), balance=750 * 10**8, mm=1_500 * 10**8)
        with pytest.raises(InvariantViolation, match="fillable price"):
            checks.after_command([liq], [_fill(499_249, 1_000)], Command())

    def test_a_dydx_fill_at_the_fillable_price_passes(self) -> None:
        """dYdX: the same long sold at exactly 49,925 is within the bound."""
        checks = _checks(DYDX)
        lp = _lp(1_000, BTC_50K, filled=1_000)
        checks.after_command([_liq(DYDX, (lp,), balance=750 * 10**8, mm=1_500 * 10**8)], [_fill(499_250, 1_000)], Command())
        assert checks.counts["fillable-price liquidations"] == 1

    def test_a_dydx_fund_gain_above_half_a_percent_of_the_quote_is_reported(self) -> None:
        """dYdX: the fund may take at most 0.5 % of a fill's quote (49,925 × 0.5 % = 249.625 USDT)."""
        checks = _checks(DYDX)
        lp = _lp(1_000, BTC_50K, filled=1_000)
        liq = _liq(DYDX, (lp,), balance=750 * 10**8, mm=1_500 * 10**8)._replace(clearance_fee_atoms=249_625 * 10**5 + 1)
        with pytest.raises(InvariantViolation, match="at most its cap"):
            checks.after_command([liq], [_fill(499_250, 1_000)], Command())

    def test_a_hyperliquid_chunk_above_a_fifth_is_reported(self) -> None:
        """Hyperliquid: 5 BTC (250,000 USDC, above 100,000) may send 1 BTC + 1 lot at once, not 1.002."""
        checks = _checks(HYPERLIQUID)
        liq = _liq(HYPERLIQUID, (_lp(5_000, BTC_50K, filled=1_002),), partial=True)
        with pytest.raises(InvariantViolation, match="a chunk at a time"):
            checks.after_command([liq], [], Command())

    def test_a_hyperliquid_chunk_before_the_cooldown_is_reported(self) -> None:
        """Hyperliquid: the next chunk of the same bucket 29.999 s after the last breaks the cooldown."""
        checks = _checks(HYPERLIQUID)
        first = _liq(HYPERLIQUID, (_lp(5_000, BTC_50K, filled=1_000),), partial=True)
        checks.after_command([first], [], Command())
        again = _liq(HYPERLIQUID, (_lp(4_000, BTC_50K, filled=800),), ts_ns=10**12 + 29_999_000_000, partial=True)
        with pytest.raises(InvariantViolation, match="cooldown"):
            checks.after_command([again], [], Command())

    def test_a_hyperliquid_bucket_waits_out_its_cooldown(self) -> None:
        """Hyperliquid: after a chunk the bucket may stay liquidatable until 30 s have passed, not after."""
        checks = _checks(HYPERLIQUID)
        checks.after_command([_liq(HYPERLIQUID, (_lp(5_000, BTC_50K, filled=1_000),), partial=True)], [], Command())
        bucket = Position(7, "BTCUSDT", BOTH, True, 20)
        later = Command()
        later.ts_ns = 10**12 + 29_999_999_999
        checks.after_command([], [], later)
        assert checks.waiting(bucket)
        later.ts_ns = 10**12 + 30_000_000_000
        checks.after_command([], [], later)
        assert not checks.waiting(bucket)

    def test_a_bybit_ladder_step_left_in_its_tier_is_reported(self) -> None:
        """Bybit: a step from 50 BTC bought at 50,000 (2.5M, tier 2 from 2M) leaving 45 BTC (2.25M) breaks the ladder."""
        checks = _checks(BYBIT)
        checks._before[(7, "BTCUSDT", BOTH)] = (50_000, 2_500_000 * 10**8)
        liq = _liq(BYBIT, (_lp(50_000, BTC_50K, filled=5_000),), partial=True)
        with pytest.raises(InvariantViolation, match="under its tier's floor"):
            checks._check(liq, {99: [_fill(500_000, 5_000)]})

    def test_a_bybit_ladder_step_that_leaves_its_tier_passes(self) -> None:
        """Bybit: the same step sending 11 BTC (39 BTC left, 1.95M: tier 1) is a ladder step."""
        checks = _checks(BYBIT)
        checks._before[(7, "BTCUSDT", BOTH)] = (50_000, 2_500_000 * 10**8)
        checks._check(_liq(BYBIT, (_lp(50_000, BTC_50K, filled=11_000),), partial=True), {99: [_fill(500_000, 11_000)]})
        assert checks.counts["ladder steps"] == 1

    def test_a_bybit_ladder_step_counts_what_the_book_did_not_take_as_sent(self) -> None:
        """Bybit: a step whose IOC of 11 BTC filled 4 (7 left unfilled) sent enough: not a broken ladder."""
        checks = _checks(BYBIT)
        checks._before[(7, "BTCUSDT", BOTH)] = (50_000, 2_500_000 * 10**8)
        fill = _fill(500_000, 4_000)._replace(taker_leaves_lots=7_000)
        checks._check(_liq(BYBIT, (_lp(50_000, BTC_50K, filled=4_000),), partial=True), {99: [fill]})
        assert checks.counts["ladder steps"] == 1

    def test_ladder_steps_that_do_not_chain_are_reported(self) -> None:
        """Bybit: a second step must start at the size the first one left (50 − 11 = 39 BTC), not 40."""
        checks = _checks(BYBIT)
        checks._before[(7, "BTCUSDT", BOTH)] = (50_000, 2_500_000 * 10**8)
        steps = (_lp(50_000, BTC_50K, filled=11_000), _lp(40_000, BTC_50K, filled=0, order_id=100))
        with pytest.raises(InvariantViolation, match="go down the tiers"):
            checks._check(_liq(BYBIT, steps, partial=True), {99: [_fill(500_000, 11_000)]})

    def test_a_dydx_liquidation_at_equality_is_reported(self) -> None:
        """dYdX liquidates only when maintenance exceeds the balance: balance 1,500 = maintenance 1,500 is not."""
        checks = _checks(DYDX)
        liq = _liq(DYDX, (_lp(1_000, BTC_50K),), balance=1_500 * 10**8, mm=1_500 * 10**8)
        with pytest.raises(InvariantViolation, match="only while past its threshold"):
            checks.after_command([liq], [], Command())

    def test_a_scope_safe_when_the_engine_acts_is_not_to_be_liquidated(self) -> None:
        """Bybit: a bucket found past its threshold at the trigger but safe when the engine acted on it
        (an earlier liquidation of the same command filled its resting order) is reported if liquidated."""
        checks = _checks(BYBIT)
        checks._called[(7, "BTCUSDT", BOTH)] = (1_000 * 10**8 * 10**8, 500 * 10**8)  # balance 1,000 > MM 500
        liq = _liq(BYBIT, (_lp(1_000, BTC_50K),), balance=-41 * 10**8, mm=3 * 10**8)
        with pytest.raises(InvariantViolation, match="only while past its threshold"):
            checks.after_command([liq], [], Command())


class TestTheVaultCarriesItsDeficit:
    def test_an_uncovered_loss_under_hyperliquid_is_reported(self) -> None:
        """Hyperliquid's vault carries every deficit: an atom of it reported as an uncovered loss instead breaks the run at once."""
        run = StressRun(seed=3, venue="hyperliquid")

        def corrupt(run: StressRun, command: Any) -> None:
            if run.submitted == 500:  # conserved: a deficit written off as uncovered, its atom made good
                book = run.ledger.book("USDT")
                book.fund.wallet_atoms += 1
                book.uncovered_loss_atoms += 1

        run.before_command = corrupt
        result = run.run(600)
        assert result.violation_event == 500
        assert result.violation_invariant == "a backstop vault carries every deficit"
