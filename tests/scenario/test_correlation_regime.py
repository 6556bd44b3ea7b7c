"""Correlation regimes (``[[generator.regimes]]``) and the correlation-regime built-in.

The model (docs/scenarios.md, "correlation regimes"): at each step one common draw ``C``
and one own draw ``E`` per generated path (alphabetical) are taken from
``random.Random(seed)``, each the sum of twelve ``getrandbits(32) / 2^32`` minus 6, whatever
the regime; a path's shock is ``z = ρ·C + √(1 − ρ²)·E`` with ρ the correlation in force. A
regime fires at the first point its trigger holds and governs the steps after that point.
The small scenario below is worked out by hand from those draws: two paths from 100 with
σ = 0.01, no drift, calm ρ = 0 (z = E), and a regime ρ = 0.6 at 1m (z = 0.6 C + 0.8 E,
since √(1 − 0.36) = 0.8 exactly).

The built-in (exsim compare correlation-regime) is pinned from its own generated marks:
each figure is recomputed here from the path points with the pool arithmetic, never
copied from a run.
"""

from __future__ import annotations

import csv
import random
from decimal import Decimal, localcontext
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from exsim.scenario.runner import ScenarioRun
from exsim.scenario.spec import Scenario, load_scenario, parse_scenario
from exsim.toml_fields import Source
from exsim.units import nearest_ticks

BUILTIN = Path(str(resources.files("exsim.scenario").joinpath("builtin", "correlation-regime.toml")))
NS = 10**9

SMALL = """\
[scenario]
name = "two-paths"

[[instruments]]
symbol = "AAAUSDT"
tick_size = "0.0001"
lot_size = "1"
brackets = [{ cap = "1000000", mmr = "0.01", max_leverage = 20 }]

[[instruments]]
symbol = "BBBUSDT"
tick_size = "0.0001"
lot_size = "1"
brackets = [{ cap = "1000000", mmr = "0.01", max_leverage = 20 }]

[[accounts]]
deposit = "1000"

[[accounts.positions]]
symbol = "AAAUSDT"
side = "long"
qty = "1"
price = "100"
leverage = 10

[generator]
seed = 5
step = "1m"
duration = "4m"
REGIMES
[paths.AAAUSDT]
generator = { start = "100", volatility = "0.01" }

[paths.BBBUSDT]
generator = { start = "100", volatility = "0.01" }
"""

AT_1M = '\n[[generator.regimes]]\nat = "1m"\ncorrelation = "0.6"\n'


def small(regimes: str = AT_1M) -> Scenario:
    return parse_scenario(Source("two-paths.toml", SMALL.replace("REGIMES", regimes), None))


def draws(seed: int, count: int) -> list[Decimal]:
    """The documented draws: twelve 32-bit integers of random.Random(seed), / 2^32, summed, − 6."""
    rng = random.Random(seed)
    return [Decimal(sum(rng.getrandbits(32) for _ in range(12))) / Decimal(2**32) - 6 for _ in range(count)]


def points(shocks: list[Decimal]) -> list[int]:
    """The path from 100 with σ = 0.01 and these shocks, on the 0.0001 grid: 100 × exp(0.01 Σ z)."""
    out = [nearest_ticks(Decimal(100), "0.0001")]
    with localcontext() as ctx:
        ctx.prec = 34
        x = Decimal(100).ln()
        for z in shocks:
            x += Decimal("0.01") * z
            out.append(nearest_ticks(x.exp(), "0.0001"))
    return out


class TestTheModel:
    def test_a_time_regime_switches_at_its_time(self) -> None:
        """``at = "1m"``: one switch, at 60 s, regime 0, correlation 0.6."""
        (sw,) = small().regime_switches
        assert (sw.at_ns, sw.regime, sw.correlation) == (60 * NS, 0, Decimal("0.6"))

    def test_the_shocks_before_and_after_the_switch_by_hand(self) -> None:
        """Draws per step: C, E_AAA, E_BBB. Step 1 (calm, ρ = 0): z = E. Steps 2-4 (ρ = 0.6):
        z = 0.6 C + 0.8 E. The points are 100 × exp(0.01 Σ z) on the tick grid."""
        d = draws(5, 12)
        steps = [d[3 * k: 3 * k + 3] for k in range(4)]
        a = [steps[0][1]] + [Decimal("0.6") * c + Decimal("0.8") * e for c, e, _ in steps[1:]]
        b = [steps[0][2]] + [Decimal("0.6") * c + Decimal("0.8") * e for c, _, e in steps[1:]]
        sc = small()
        assert [p for _, p in sc.paths["AAAUSDT"]] == points(a)
        assert [p for _, p in sc.paths["BBBUSDT"]] == points(b)

    def test_the_calm_correlation_is_the_path_own(self) -> None:
        """Without regimes every step is ρ = 0: z = E for both paths (the C draws are still taken)."""
        d = draws(5, 12)
        sc = small("")
        assert sc.regime_switches == ()
        assert [p for _, p in sc.paths["AAAUSDT"]] == points([d[3 * k + 1] for k in range(4)])
        assert [p for _, p in sc.paths["BBBUSDT"]] == points([d[3 * k + 2] for k in range(4)])

    def test_a_path_up_to_its_switch_is_the_path_without_regimes(self) -> None:
        """The draws do not change: the points at 0 and 1m are the same with and without the
        regime; from 2m on the mix differs."""
        with_, without = small().paths["AAAUSDT"], small("").paths["AAAUSDT"]
        assert with_[:2] == without[:2]
        assert with_[2:] != without[2:]

    def test_a_level_regime_fires_at_the_first_point_below_its_level(self) -> None:
        """``when_below`` AAAUSDT 100: the first point of the calm path below 100 (the paths
        are the calm ones until then) is the switch instant."""
        calm = small("").paths["AAAUSDT"]
        first = next(t for t, p in calm if p < 1_000_000)
        sc = small('\n[[generator.regimes]]\nwhen_below = { symbol = "AAAUSDT", price = "100" }\ncorrelation = "0.6"\n')
        (sw,) = sc.regime_switches
        assert sw.at_ns == first

    def test_a_level_never_reached_fires_nothing(self) -> None:
        """``when_above`` 1,000,000: never; the paths are the calm ones."""
        sc = small('\n[[generator.regimes]]\nwhen_above = { symbol = "AAAUSDT", price = "1000000" }\ncorrelation = "0.6"\n')
        assert sc.regime_switches == ()
        assert sc.paths == small("").paths

    def test_two_regimes_at_one_point_the_later_in_the_file_wins(self) -> None:
        """Both fire at 1m (each once, in file order); the steps after use the second's 0.6,
        so the paths are those of the 0.6 regime alone."""
        sc = small('\n[[generator.regimes]]\nat = "1m"\ncorrelation = "0.99"\n' + AT_1M)
        assert [(s.at_ns, s.regime, s.correlation) for s in sc.regime_switches] == [
            (60 * NS, 0, Decimal("0.99")), (60 * NS, 1, Decimal("0.6"))]
        assert sc.paths == small().paths

    def test_a_later_regime_takes_over_from_an_earlier_one(self) -> None:
        """0.6 at 1m, then 0 at 2m: step 2 is mixed 0.6 / 0.8, steps 3-4 are z = E again."""
        d = draws(5, 12)
        steps = [d[3 * k: 3 * k + 3] for k in range(4)]
        a = [steps[0][1], Decimal("0.6") * steps[1][0] + Decimal("0.8") * steps[1][1], steps[2][1], steps[3][1]]
        sc = small(AT_1M + '\n[[generator.regimes]]\nat = "2m"\ncorrelation = "0"\n')
        assert [s.at_ns for s in sc.regime_switches] == [60 * NS, 120 * NS]
        assert [p for _, p in sc.paths["AAAUSDT"]] == points(a)

    def test_the_switch_is_a_sample_of_the_run(self, tmp_path: Path) -> None:
        """timeseries.csv holds a ``regime`` row at 1m, after the marks of that instant."""
        sc = small()
        ScenarioRun(sc, out_dir=tmp_path, check_every_event=True).run()
        rows = list(csv.DictReader((tmp_path / "timeseries.csv").open()))
        regime = [i for i, r in enumerate(rows) if r["why"] == "regime"]
        assert [int(rows[i]["ts_ns"]) - sc.start_ns for i in regime] == [60 * NS]
        assert rows[regime[0] - 1]["why"] == "mark" and rows[regime[0] - 1]["ts_ns"] == rows[regime[0]]["ts_ns"]


# --------------------------------------------------------------------------- the built-in
QTY = {"BNBUSDT": Decimal(40), "BTCUSDT": Decimal("0.2"), "ETHUSDT": Decimal(4), "SOLUSDT": Decimal(100)}
ENTRY = {"BNBUSDT": Decimal(250), "BTCUSDT": Decimal(50_000), "ETHUSDT": Decimal(2_500), "SOLUSDT": Decimal(100)}
MMR = {"BNBUSDT": Decimal("0.005"), "BTCUSDT": Decimal("0.004"), "ETHUSDT": Decimal("0.004"), "SOLUSDT": Decimal("0.005")}
STEP_NS = 15 * 60 * NS


@pytest.fixture(scope="module")
def builtin() -> Scenario:
    return load_scenario(BUILTIN)


def price(sc: Scenario, symbol: str, k: int) -> Decimal:
    """The k-th point of ``symbol``'s path (15 minutes each), in USDT."""
    return sc.paths[symbol][k][1] * sc.instrument(symbol).tick_size


def pool(marks: dict[str, Decimal]) -> tuple[Decimal, Decimal]:
    """The cross pool at these marks: (5,000 + Σ qty (mark − entry), Σ MMR × qty × mark)."""
    balance = 5000 + sum(QTY[s] * (marks[s] - ENTRY[s]) for s in QTY)
    return balance, sum(MMR[s] * QTY[s] * marks[s] for s in QTY)


def pool_states(sc: Scenario) -> list[tuple[int, str, Decimal, Decimal]]:
    """``(k, symbol, balance, MM)`` after each path point, applied one instrument at a time
    in alphabetical order (the generated paths' order at one instant)."""
    marks = {s: price(sc, s, 0) for s in QTY}
    out = []
    for k in range(1, len(sc.paths["BTCUSDT"])):
        for s in sorted(QTY):
            marks[s] = price(sc, s, k)
            out.append((k, s, *pool(marks)))
    return out


def run(sc: Scenario, mode: str) -> dict[str, Any]:
    (acct,) = ScenarioRun(sc, margin_mode=mode, check_every_event=True).run()["accounts"]
    return acct


class TestCorrelationRegimeBuiltin:
    def test_the_crisis_starts_at_the_first_btc_point_below_47500(self, builtin: Scenario) -> None:
        """BTC's point 82 (20h30m) is 47,479.2, every point before it at or above 47,500: the
        switch to 0.95 is at 20h30m."""
        btc = [price(builtin, "BTCUSDT", k) for k in range(83)]
        assert btc[82] == Decimal("47479.2") and min(btc[:82]) >= 47_500
        (sw,) = builtin.regime_switches
        assert (sw.at_ns, sw.correlation) == (82 * STEP_NS, Decimal("0.95"))

    def test_the_pool_holds_through_the_calm(self, builtin: Scenario) -> None:
        """Until the switch the pool's balance stays above 3,400 (its low, after one of the
        four points of an instant, is 3,400.08), far above its MM."""
        calm = [(bal, mm) for k, _, bal, mm in pool_states(builtin) if k <= 82]
        assert min(bal for bal, _ in calm) == Decimal("3400.08")
        assert all(bal > mm for bal, mm in calm)

    def test_the_pool_first_fails_at_38h45m_on_bnb(self, builtin: Scenario) -> None:
        """The first state with balance <= MM: point 155 (38h45m), BNB's 204.78 with BTC,
        ETH, SOL at their 38h30m marks 43,789.3, 2,295.22, 89.863:
        5,000 − 1,808.80 − 1,242.14 − 819.12 − 1,013.70 = 116.24 against
        40.956 + 35.03144 + 36.72352 + 44.9315 = 157.64246."""
        k, symbol, bal, mm = next(s for s in pool_states(builtin) if s[2] <= s[3])
        assert (k, symbol) == (155, "BNBUSDT")
        assert (bal, mm) == (Decimal("116.24"), Decimal("157.64246"))
        assert bal == 5000 - Decimal("1808.80") - Decimal("1242.14") - Decimal("819.12") - Decimal("1013.70")

    def test_cross_is_liquidated_whole_and_keeps_116_24(self, builtin: Scenario) -> None:
        """One cross liquidation at 38h45m, the four legs sold at their marks (the book's best
        bid): the account keeps the pool's balance, 116.24."""
        a = run(builtin, "cross")
        (liq,) = a["liquidations"]
        assert (liq["after_s"], liq["scope"], len(liq["positions"])) == (str(155 * 15 * 60), "cross", 4)
        assert (liq["margin_balance"], liq["maint_margin"]) == ("116.24000000", "157.64246000")
        assert liq["marks"] == ["204.78", "43789.3", "2295.22", "89.863"]
        assert Decimal(a["remaining_balance"]) == Decimal("116.24")

    def test_isolated_loses_bucket_by_bucket_and_keeps_the_rest(self, builtin: Scenario) -> None:
        """Each bucket 1,000, bankruptcy price entry − 1,000 / qty (225, 45,000, 2,250, 90),
        liquidation price (entry × qty − 1,000) / (qty (1 − MMR)). The first point at or
        below it: BNB 9h15m (225.55), BTC 30h (45,113.9), SOL 37h30m (89.153, below its
        bankruptcy price: the fund takes it over at 90), ETH 40h (2,256.15). Each returns
        qty × (sale − bankruptcy): 22, 22.78, 0, 24.60; with the 1,000 never put up: 1,069.38."""
        def first_at_or_below(symbol: str) -> int:
            lp = (ENTRY[symbol] * QTY[symbol] - 1000) / (QTY[symbol] * (1 - MMR[symbol]))
            return next(k for k in range(len(builtin.paths[symbol])) if price(builtin, symbol, k) <= lp)

        assert [first_at_or_below(s) for s in ("BNBUSDT", "BTCUSDT", "SOLUSDT", "ETHUSDT")] == [37, 120, 150, 160]
        a = run(builtin, "isolated")
        assert [(x["after_s"], x["positions"][0].split()[0]) for x in a["liquidations"]] == [
            (str(37 * 900), "BNBUSDT"), (str(120 * 900), "BTCUSDT"), (str(150 * 900), "SOLUSDT"), (str(160 * 900), "ETHUSDT")]
        back = [40 * (Decimal("225.55") - 225), Decimal("0.2") * (Decimal("45113.9") - 45_000), 0,
                4 * (Decimal("2256.15") - 2_250)]
        assert back == [22, Decimal("22.78"), 0, Decimal("24.60")]
        assert Decimal(a["remaining_balance"]) == 1000 + sum(back) == Decimal("1069.38")

    def test_the_same_draws_calm_throughout_leave_cross_standing(self) -> None:
        """Delete the regime: the same seed, 0.3 throughout; the cross pool is never liquidated
        (the counterfactual the file's comment names)."""
        text = BUILTIN.read_text(encoding="utf-8")
        table = '[[generator.regimes]]\nwhen_below = { symbol = "BTCUSDT", price = "47500" }\ncorrelation = "0.95"\n'
        assert text.count(table) == 1
        calm = parse_scenario(Source("calm.toml", text.replace(table, ""), None))
        assert calm.regime_switches == ()
        assert all(bal > mm for _, _, bal, mm in pool_states(calm))
        assert run(calm, "cross")["liquidations"] == []
