"""The venue-crash built-in (``exsim compare venue-crash --venues binance,bybit,hyperliquid,dydx``):
one position, one price path, four venues' rules, four different outcomes. Every figure is
worked out by hand below (not copied from a run); each run checks the ledger and the
exchange after every command.

Setup. ``whale`` deposits 400,000 USDT and opens BTCUSDT long 70 BTC at 50,000 (notional
3,500,000) at 10x, isolated: the bucket holds the initial margin 3,500,000 / 10 = 350,000;
the opening taker fee comes out of the wallet (Binance 0.05 %: 1,750; Bybit 0.055 %:
1,925; Hyperliquid 0.045 %: 1,575; dYdX 0.05 %: 1,750). The bankruptcy price of the whole
bucket is 50,000 − 350,000 / 70 = 45,000. The book follows the mark with the best bid AT
the mark and 10 M USDT on each level, so every liquidation order fills at the mark.
Marks: 50,000, 47,000 (1m), 46,300 (2m), 45,500 (3m), 45,400 (4m), 45,300 (5m),
45,200 (6m), 44,900 (7m), 44,500 (8m). At mark P the bucket's margin balance is
350,000 + 70 (P − 50,000) = 70 P − 3,150,000 while nothing has been closed.

The premises (each venue's tiers and fees) are pinned first in :class:`TestPremises`: if
the shipped tables change, those fail and say which figure below no longer holds.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from exsim.replay.explain import explain_run, liquidations_of
from exsim.scenario.cli import resolve
from exsim.scenario.runner import ScenarioRun
from exsim.scenario.spec import load_scenario
from exsim.venues.profile import VENUE_NAMES, get_venue

LOT = Decimal("0.001")  # BTCUSDT's lot size, BTC
TICK = Decimal("0.1")


class Run:
    """One venue's run of the scenario: its summary, its account and its Liquidation events."""

    def __init__(self, venue: str, out: Path) -> None:
        self.run = ScenarioRun(load_scenario(resolve("venue-crash")), out_dir=out, venue=venue, check_every_event=True)
        self.summary = self.run.run()
        self.out = out
        (self.whale,) = self.summary["accounts"]
        self.events = liquidations_of(out)

    def steps(self) -> list[tuple[str, bool]]:
        """``(after_s, partial)`` of each liquidation of the whale, in order."""
        return [(x["after_s"], x["partial"]) for x in self.whale["liquidations"]]

    def filled_btc(self) -> list[Decimal]:
        """BTC sold through the book by each Liquidation event."""
        return [sum(p["filled_lots"] for p in e["positions"]) * LOT for e in self.events]


class Runs(dict):  # type: ignore[type-arg]
    """Each venue's run, made the first time a test asks for it."""

    def __init__(self, base: Path) -> None:
        super().__init__()
        self.base = base

    def __missing__(self, venue: str) -> Run:
        self[venue] = run = Run(venue, self.base / venue)
        return run

    def all(self) -> dict[str, Run]:
        return {v: self[v] for v in VENUE_NAMES}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    return Runs(tmp_path_factory.mktemp("venue-crash"))


def money(text: str) -> Decimal:
    return Decimal(text)


class TestPremises:
    """The tables the arithmetic below stands on (exsim.venues: the venues' published tiers)."""

    def test_binance_bracket_4_is_1_percent_less_11450(self) -> None:
        """Binance BTCUSDT, notional 3,000,000 to 12,000,000: MMR 1 %, maintenance amount 11,450."""
        inst = load_scenario(resolve("venue-crash")).instrument("BTCUSDT")
        b = inst.brackets.bracket_for(3_164_000 * 10**8)
        assert (b.floor_atoms, b.mmr_e8, b.cum_atoms) == (3_000_000 * 10**8, 1_000_000, 11_450 * 10**8)
        assert (inst.clearance_fee_e8, inst.taker_fee_e8) == (250_000, 50_000)

    def test_bybit_tiers_step_by_2_million(self) -> None:
        """Bybit BTCUSDT risk limits: floors 0, 2 M, 4 M, 6 M; MMR 0.5 % rising 0.5 % a tier;
        deductions 0, 10,000, 30,000, 60,000 (each the last + floor × 0.5 %); taker 0.055 %."""
        inst = get_venue("bybit").instrument(load_scenario(resolve("venue-crash")).instrument("BTCUSDT"))
        rows = [(b.floor_atoms // 10**8, b.mmr_e8, b.cum_atoms // 10**8) for b in inst.brackets.brackets[:4]]
        assert rows == [(0, 500_000, 0), (2_000_000, 1_000_000, 10_000), (4_000_000, 1_500_000, 30_000),
                        (6_000_000, 2_000_000, 60_000)]
        assert (inst.maint_margin_basis, inst.taker_fee_e8) == ("entry", 55_000)

    def test_hyperliquid_btc_is_40x_mmr_one_eightieth(self) -> None:
        """Hyperliquid BTC up to 150 M USDC: 40x, MMR 1 / (2 × 40) = 1.25 %; taker 0.045 %."""
        inst = get_venue("hyperliquid").instrument(load_scenario(resolve("venue-crash")).instrument("BTCUSDT"))
        b = inst.brackets.brackets[0]
        assert (b.max_leverage, b.mmr_e8, b.cum_atoms, inst.taker_fee_e8) == (40, 1_250_000, 0, 45_000)

    def test_dydx_btc_is_mmf_3_percent(self) -> None:
        """dYdX BTC-USD, a large-cap market: IMF 5 % (20x), MMF 3 %; taker 0.05 %."""
        inst = get_venue("dydx").instrument(load_scenario(resolve("venue-crash")).instrument("BTCUSDT"))
        b = inst.brackets.brackets[0]
        assert (b.max_leverage, b.mmr_e8, inst.taker_fee_e8) == (20, 3_000_000, 50_000)


class TestBinance:
    """Maintenance margin at the mark, bracket 4: MM = 0.01 × 70 P − 11,450 = 0.7 P − 11,450.
    Liquidatable when 70 P − 3,150,000 <= 0.7 P − 11,450, P <= 3,138,550 / 69.3 = 45,289.32:
    45,300 holds (balance 21,000 > MM 20,260), 45,200 does not (14,000 <= 20,190)."""

    def test_one_full_liquidation_at_45200(self, runs: Runs) -> None:
        """One liquidation, of the whole 70 BTC, six minutes in."""
        r = runs["binance"]
        assert r.steps() == [("360", False)]
        assert r.filled_btc() == [Decimal(70)]
        liq = r.whale["liquidations"][0]
        assert (liq["margin_balance"], liq["maint_margin"]) == ("14000.00000000", "20190.00000000")

    def test_clearance_fee_is_the_rate_on_the_liquidated_notional(self, runs: Runs) -> None:
        """0.25 % × 70 × 45,200 = 0.0025 × 3,164,000 = 7,910, under the 12,418 left (14,000 less
        the closing fee 0.05 % × 3,164,000 = 1,582): the fund gets all of it."""
        liq = runs["binance"].whale["liquidations"][0]
        assert money(liq["clearance_fee"]) == Decimal("0.0025") * 70 * 45_200 == Decimal(7910)
        assert money(liq["insurance_fund_change"]) == Decimal(7910)

    def test_the_trader_keeps_what_is_left_after_the_fee(self, runs: Runs) -> None:
        """400,000 − 1,750 (open) − 70 × 4,800 (loss) − 1,582 (close) − 7,910 (clearance) = 52,758."""
        assert money(runs["binance"].whale["remaining_balance"]) == 400_000 - 1_750 - 336_000 - 1_582 - 7_910 == 52_758


class TestBybit:
    """Maintenance margin on the entry value (cost): 3,500,000 is in tier 2 (2 M–4 M),
    MM = 0.01 × 3,500,000 − 10,000 = 25,000 whatever the mark. Liquidatable when
    70 P − 3,150,000 <= 25,000 (P <= 45,357.14): 45,400 holds (28,000), 45,300 does not
    (21,000).

    A step lowers the tier by one: the position is cut (IOC at the bankruptcy price, filled
    at the bid = the mark) to just under the tier's floor in cost. At 50 USDT of cost per
    lot, keep = floor((2,000,000 − 1e-8 − 70,000 × 1e-8) / 50) = 39,999 lots. Each fill pays
    0.055 % out of the bucket.

    - 5m, 45,300: sell 30.001 (30.001 × 45,300 = 1,359,045.3; fee 747.474915; cost share
      3,500,000 × 30,001 / 70,000 = 1,500,050, loss 141,004.7): bucket 208,247.825085;
      39.999 left, cost 1,999,950, tier 1, MM 0.005 × 1,999,950 = 9,999.75 < balance
      208,247.825085 + 39.999 × 45,300 − 1,999,950 = 20,252.525085: safe.
    - 6m, 45,200: balance 16,252.625085 > 9,999.75: nothing.
    - 7m, 44,900: balance 4,252.925085 <= 9,999.75, first tier: the whole 39.999 at the
      bankruptcy price (1,999,950 − 208,247.825085) / 39.999 = 44,793.67…, filled at the bid
      44,900 (1,795,955.1; fee 987.775305; loss 203,994.9); the margin left,
      208,247.825085 − 203,994.9 − 987.775305 = 3,265.14978, goes to the insurance fund.
    """

    def test_one_partial_step_then_the_whole_rest(self, runs: Runs) -> None:
        """Partial at 5m, the full liquidation at 7m."""
        assert runs["bybit"].steps() == [("300", True), ("420", False)]

    def test_the_step_cuts_to_just_under_the_tier_floor(self, runs: Runs) -> None:
        """70 → 39.999 → 0: 30.001, then 39.999 BTC."""
        assert runs["bybit"].filled_btc() == [Decimal("30.001"), Decimal("39.999")]

    def test_the_trigger_figures_are_at_entry(self, runs: Runs) -> None:
        """Margin balance and MM at each trigger: 21,000 / 25,000; 4,252.925085 / 9,999.75."""
        got = [(money(x["margin_balance"]), money(x["maint_margin"])) for x in runs["bybit"].whale["liquidations"]]
        assert got == [(Decimal(21_000), Decimal(25_000)), (Decimal("4252.925085"), Decimal("9999.75"))]

    def test_the_margin_left_goes_to_the_fund(self, runs: Runs) -> None:
        """The last step's fee to the fund is the margin left, 3,265.14978; the step before
        gave it nothing; the trader gets nothing back from the bucket."""
        liqs = runs["bybit"].whale["liquidations"]
        assert [money(x["insurance_fund_change"]) for x in liqs] == [0, Decimal("3265.14978")]
        assert money(liqs[-1]["clearance_fee"]) == Decimal("3265.14978")
        assert money(runs["bybit"].whale["remaining_balance"]) == 400_000 - 350_000 - 1_925


class TestHyperliquid:
    """MM = 1.25 % of the notional at the mark, 0.875 P for 70 BTC. Liquidatable when
    70 P − 3,150,000 <= 0.875 P (P <= 45,569.62): 46,300 holds, 45,500 does not
    (35,000 <= 39,812.5). Above 100,000 USDC of notional a market order sells 20 % of the
    position, then 30 s of cooldown (a minute passes between marks). Each fill pays 0.045 %.

    - 3m, 45,500: 35,000 >= 2/3 × 39,812.5 = 26,541.67: a chunk, 20 % of 70 = 14 BTC
      (637,000; fee 286.65; loss 63,000): bucket 286,713.35; 56 left.
    - 4m, 45,400: balance 286,713.35 − 56 × 4,600 = 29,113.35 <= MM 56 × 45,400 × 1.25 % =
      31,780, above 2/3 of it (21,186.67): 20 % of 56 = 11.2 BTC (508,480; fee 228.816; loss
      51,520): bucket 286,713.35 − 51,520 − 228.816 = 234,964.534; 44.8 left.
    - 5m, 45,300: 234,964.534 − 44.8 × 4,700 = 24,404.534 <= 25,368, above 16,912: 20 % of
      44.8 = 8.96 BTC (405,888; fee 182.6496; loss 42,112): bucket 192,669.8844; 35.84 left.
    - 6m, 45,200: 192,669.8844 − 35.84 × 4,800 = 20,637.8844 > MM 35.84 × 45,200 × 1.25 % =
      20,249.6: nothing.
    - 7m, 44,900: 192,669.8844 − 35.84 × 5,100 = 9,885.8844 < 2/3 of MM 35.84 × 44,900 ×
      1.25 % = 1,609,216 × 1.25 % = 20,115.2 (13,410.13): the liquidator vault takes the
      35.84 BTC at the bankruptcy price 50,000 − 192,669.8844 / 35.84 = 44,624.166…,
      44,624.2 on the tick grid (rounded up, away from bad debt), and the margin left at that
      price with them: 192,669.8844 − 35.84 × 5,375.8 = 1.2124. No clearance fee.
    """

    def test_three_chunks_then_the_vault(self, runs: Runs) -> None:
        """Chunks at 3m, 4m and 5m (the scope survives each), the vault at 7m."""
        assert runs["hyperliquid"].steps() == [("180", True), ("240", True), ("300", True), ("420", False)]

    def test_chunks_are_20_percent_of_what_is_left(self, runs: Runs) -> None:
        """14 = 20 % of 70, 11.2 = 20 % of 56, 8.96 = 20 % of 44.8; the vault's step sells nothing."""
        assert runs["hyperliquid"].filled_btc() == [Decimal(14), Decimal("11.2"), Decimal("8.96"), Decimal(0)]

    def test_the_trigger_figures_are_at_the_mark(self, runs: Runs) -> None:
        """Margin balance and MM at each step: 35,000 / 39,812.5; 29,113.35 / 31,780;
        24,404.534 / 25,368; 9,885.8844 / 20,115.2."""
        got = [(money(x["margin_balance"]), money(x["maint_margin"])) for x in runs["hyperliquid"].whale["liquidations"]]
        assert got == [(Decimal(35_000), Decimal("39812.5")), (Decimal("29113.35"), Decimal(31_780)),
                       (Decimal("24404.534"), Decimal(25_368)), (Decimal("9885.8844"), Decimal("20115.2"))]

    def test_the_vault_takes_the_rest_at_the_bankruptcy_price(self, runs: Runs) -> None:
        """35.84 BTC taken over at 44,624.2."""
        (pos,) = runs["hyperliquid"].events[-1]["positions"]
        assert pos["taken_over_lots"] * LOT == Decimal("35.84")
        assert pos["bankruptcy_price_ticks"] * TICK == Decimal("44624.2")

    def test_the_vault_gets_the_margin_left_and_the_trader_the_wallet(self, runs: Runs) -> None:
        """The chunks give nobody anything; the vault's step moves the 1.2124 left in the bucket
        to the vault (the event's clearance_fee field carries it: Hyperliquid charges no
        clearance fee); the trader keeps 400,000 − 350,000 − 1,575 = 48,425."""
        r = runs["hyperliquid"]
        assert [money(x["insurance_fund_change"]) for x in r.whale["liquidations"]] == [0, 0, 0, Decimal("1.2124")]
        assert Decimal("192669.8844") - Decimal("35.84") * (50_000 - Decimal("44624.2")) == Decimal("1.2124")
        assert money(r.whale["remaining_balance"]) == 400_000 - 350_000 - 1_575

    def test_the_explanations_name_the_venue(self, runs: Runs) -> None:
        """Every step's one-line explanation starts with the venue's name."""
        assert all(x["explanation"].startswith("hyperliquid: ") for x in runs["hyperliquid"].whale["liquidations"])


class TestDydx:
    """MM = 3 % of the notional at the mark, 2.1 P. Liquidatable when MM > net collateral:
    2.1 P > 70 P − 3,150,000, P < 46,391.75: 47,000 holds (98,700 < 140,000), 46,300 does
    not (97,230 > 91,000). Bankruptcy price 46,300 − 91,000 / 70 = 45,000. Fillable price
    (one position, so ABR × PMMR = TMMR − TNC = 6,230): 46,300 − 0.1 × 6,230 / 70 =
    46,300 − 8.9 = 46,291.1, the IOC's limit; it fills at the bid, 46,300: quote 3,241,000.
    """

    def test_one_liquidation_at_46300(self, runs: Runs) -> None:
        """The first venue to liquidate: two minutes in, the whole 70 BTC, filled."""
        r = runs["dydx"]
        assert r.steps() == [("120", False)]
        assert r.filled_btc() == [Decimal(70)]

    def test_the_order_limit_is_the_fillable_price(self, runs: Runs) -> None:
        """The explanation names the fillable price 46,291.1 and the bankruptcy price 45,000."""
        liq = runs["dydx"].whale["liquidations"][0]
        assert liq["explanation"].startswith("dydx: ")
        assert "46291.1" in liq["explanation"]
        assert runs["dydx"].events[0]["positions"][0]["bankruptcy_price_ticks"] * TICK == Decimal(45_000)

    def test_the_trader_keeps_the_rest_after_the_fund_and_the_fee(self, runs: Runs) -> None:
        """400,000 − 1,750 (open) − 70 × 3,700 (loss) − 0.05 % × 3,241,000 (1,620.5, the
        closing taker fee) − 16,205 (fund) = 121,424.5."""
        kept = money(runs["dydx"].whale["remaining_balance"])
        assert kept == 400_000 - 1_750 - 259_000 - Decimal("1620.5") - 16_205 == Decimal("121424.5")

    def test_the_fund_gets_at_most_half_a_percent_of_the_quote(self, runs: Runs) -> None:
        """min(quote − bankruptcy quote, 0.5 % × quote) = min(3,241,000 − 70 × 45,000,
        0.005 × 3,241,000) = min(91,000, 16,205) = 16,205."""
        liq = runs["dydx"].whale["liquidations"][0]
        assert money(liq["insurance_fund_change"]) == min(Decimal(3_241_000 - 3_150_000), Decimal("0.005") * 3_241_000)
        assert money(liq["insurance_fund_change"]) == Decimal(16_205)


class TestSideBySide:
    def test_four_venues_four_outcomes(self, runs: Runs) -> None:
        """What the whale keeps: dYdX (liquidated first, at 46,300) 121,424.5; Binance 52,758;
        Bybit and Hyperliquid only the wallet (48,075 and 48,425)."""
        kept = {v: money(r.whale["remaining_balance"]) for v, r in runs.all().items()}
        assert kept == {"dydx": Decimal("121424.5"), "binance": 52_758, "bybit": 48_075, "hyperliquid": 48_425}

    def test_the_summary_records_the_venue(self, runs: Runs) -> None:
        """summary.json says which venue's rules ran, and that the command named it."""
        assert {v: (r.summary["venue"], r.summary["venue_from"]) for v, r in runs.all().items()} == {
            v: (v, "--venue") for v in VENUE_NAMES}

    def test_explain_names_the_venue_rule_of_each_step(self, runs: Runs) -> None:
        """exsim explain on a Bybit run says the venue and its laddered order rule; on a
        Binance run it tells Binance's story (no venue line)."""
        bybit = explain_run(runs["bybit"].out)
        assert "Venue: Bybit" in bybit and get_venue("bybit").rule("order") in bybit
        assert "Venue:" not in explain_run(runs["binance"].out)
