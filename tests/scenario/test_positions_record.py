"""positions.csv, depth.csv, timeseries.csv's generation column and summary.json's
positions_risk of scenario runs, pinned by hand on the simple built-ins (docs/results.md,
"Per-position risk").

one-position: DEMOUSDT long 1 at 1,000, isolated bucket 100 (wallet 900), MMR 5 %, cum 0:
MM = 0.05 × P; the bucket is liquidated when 100 + (P − 1,000) <= 0.05 P, i.e.
P <= 900 / 0.95 = 947.368421052... (shown rounded up to 1e-8: 947.36842106).

hedged-pair: BTCUSDT long 0.1 at 60,000 and ETHUSDT short 2 at 3,000, 10x each, deposit
1,200, no fees; both first brackets MMR 0.4 %, cum 0: MM_BTC = 0.0004 P_BTC, MM_ETH =
0.008 P_ETH. Cross: one pool of 1,200; with ETH held at 3,000 (MM 24) the BTC leg is
liquidated when 1,200 − 24 + 0.1 (P − 60,000) <= 0.0004 P, P <= 4,824 / 0.0996 =
48,433.734939759...; with BTC held (MM 24) ETH when 1,176 + 2 (3,000 − P) <= 0.008 P,
P >= 7,176 / 2.008 = 3,573.705179282... Isolated, the BTC bucket (600): P <= 5,400 / 0.0996
= 54,216.867469879... (The engine's thresholds are the ledger's, whose MM is rounded up
to the atom: they sit within 1e-7 of these.) Each path's mark is its own sample: at 10m
the BTC mark (57,000) comes first, ETH (2,820) after it.
"""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from exsim.results.positions import DEPTH_FIELDS, POSITION_FIELDS
from exsim.scenario.cli import resolve
from exsim.scenario.runner import ScenarioRun
from exsim.scenario.spec import load_scenario

T0 = 1704067200000000000  # the built-ins' start, 2024-01-01
MINUTE = 60 * 10**9


def rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def run_dir(tmp_path_factory: pytest.TempPathFactory, name: str, mode: str) -> Path:
    out = tmp_path_factory.mktemp(f"{name}-{mode}")
    ScenarioRun(load_scenario(resolve(name)), margin_mode=mode, out_dir=out, check_every_event=True).run()
    return out


@pytest.fixture(scope="module")
def one(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run_dir(tmp_path_factory, "one-position", "isolated")


@pytest.fixture(scope="module")
def pair_cross(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run_dir(tmp_path_factory, "hedged-pair", "cross")


@pytest.fixture(scope="module")
def pair_isolated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run_dir(tmp_path_factory, "hedged-pair", "isolated")


@pytest.fixture(scope="module")
def cascade(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run_dir(tmp_path_factory, "cascade", "cross")


def at(path: Path, ts_ns: int, symbol: str) -> dict[str, str]:
    (row,) = [r for r in rows(path) if r["ts_ns"] == str(ts_ns) and r["symbol"] == symbol][-1:]
    return row


class TestIsolatedBucket:
    def test_header_is_the_contract(self, one: Path) -> None:
        """positions.csv and depth.csv have the columns of exsim.results.positions, in order."""
        assert tuple(next(csv.reader(open(one / "positions.csv")))) == POSITION_FIELDS
        assert tuple(next(csv.reader(open(one / "depth.csv")))) == DEPTH_FIELDS

    def test_the_start_row(self, one: Path) -> None:
        """At the start: MM 0.05 × 1,000 = 50 of a bucket of 100 (ratio 0.5), liquidation at
        947.36842106 and the mark 1,000 may fall (947.36842106 − 1,000) / 1,000 = −5.263157...
        % (toward zero at e8)."""
        r = at(one / "positions.csv", T0, "DEMOUSDT")
        assert (r["position_side"], r["margin_mode"], r["qty"], r["entry_price"], r["mark"]) == (
            "BOTH", "isolated", "1.000", "1000.00000000", "1000.000")
        assert (r["unrealized_pnl"], r["maint_margin"], r["scope_margin_balance"], r["scope_maint_margin"],
                r["scope_margin_ratio"]) == ("0.00000000", "50.00000000", "100.00000000", "50.00000000", "0.50000000")
        assert (r["liquidation_price"], r["distance_fraction"], r["drawdown"], r["generation"]) == (
            "947.36842106", "-0.05263157", "0.00000000", "0")

    def test_a_falling_mark(self, one: Path) -> None:
        """At 10m (mark 980): PnL −20, MM 49, bucket 80, ratio 49 / 80 = 0.6125, drawdown 20;
        the liquidation price does not move, the distance shrinks to −32.4 / 980 = −3.3297...%."""
        r = at(one / "positions.csv", T0 + 10 * MINUTE, "DEMOUSDT")
        assert (r["unrealized_pnl"], r["maint_margin"], r["scope_margin_balance"], r["scope_margin_ratio"]) == (
            "-20.00000000", "49.00000000", "80.00000000", "0.61250000")
        assert (r["liquidation_price"], r["distance_fraction"], r["drawdown"]) == ("947.36842106", "-0.03329752", "20.00000000")

    def test_rows_follow_the_time_series(self, one: Path) -> None:
        """A row at each time-series sample (never at the liquidation trigger row) while
        the position is open, and its closing row: with the time series' scope figures."""
        samples = [r for r in rows(one / "timeseries.csv") if r["why"] != "liquidation"]
        pos = rows(one / "positions.csv")
        assert 5 <= len(pos) < len(samples)
        assert [r["ts_ns"] for r in pos] == [r["ts_ns"] for r in samples[: len(pos)]]
        for p, s in zip(pos[:-1], samples):
            assert (p["scope_margin_balance"], p["scope_maint_margin"]) == (s["margin_balance"], s["maint_margin"])

    def test_liquidated_position_gets_one_closing_row(self, one: Path) -> None:
        """The sample after the liquidation writes the position once more with qty 0 and no
        scope figures; later samples write nothing for it."""
        pos = rows(one / "positions.csv")
        flat = [r for r in pos if r["qty"] == "0.000"]
        assert len(flat) == 1
        assert (flat[0]["scope_margin_balance"], flat[0]["liquidation_price"], flat[0]["maint_margin"]) == ("", "", "0.00000000")
        assert flat[0] == pos[-1]

    def test_positions_risk(self, one: Path) -> None:
        """summary.json: the bucket's worst sample is 30m (mark 950: MM 47.5, PnL −50, ratio
        47.5 / 50 = 0.95); the PnL never rose above 0, so the drawdown is 50; closed at the end."""
        (risk,) = json.loads((one / "summary.json").read_text())["accounts"][0]["positions_risk"]
        assert risk == {
            "symbol": "DEMOUSDT", "position_side": "BOTH", "margin_mode": "isolated", "open_at_end": "0.000",
            "maint_margin": "47.50000000", "unrealized_pnl": "-50.00000000", "share_of_pool_maint_margin": "1.00000000",
            "scope_margin_ratio": "0.95000000", "worst_point_ts_ns": T0 + 30 * MINUTE, "worst_unrealized_pnl": "-50.00000000",
            "max_drawdown": "50.00000000", "end_maint_margin": "0.00000000", "end_unrealized_pnl": "0.00000000",
        }


class TestCrossPool:
    def test_the_pool_is_attributed_to_its_legs(self, pair_cross: Path) -> None:
        """At the start each leg carries MM 24 of the pool's 48 (balance 1,200, ratio 0.04)."""
        btc = at(pair_cross / "positions.csv", T0, "BTCUSDT")
        eth = at(pair_cross / "positions.csv", T0, "ETHUSDT")
        for r in (btc, eth):
            assert (r["margin_mode"], r["maint_margin"], r["scope_margin_balance"], r["scope_maint_margin"],
                    r["scope_margin_ratio"]) == ("cross", "24.00000000", "1200.00000000", "48.00000000", "0.04000000")
        assert (btc["qty"], eth["qty"]) == ("0.100", "-2.000")

    def test_each_leg_liquidation_price_holds_the_other(self, pair_cross: Path) -> None:
        """BTC at 48,433.734939759... (the engine: 48,433.7349398), −19.277108...%; ETH at
        3,573.705179282... (the engine: 3,573.70517928), +19.123505...%."""
        btc = at(pair_cross / "positions.csv", T0, "BTCUSDT")
        eth = at(pair_cross / "positions.csv", T0, "ETHUSDT")
        assert (btc["liquidation_price"], btc["distance_fraction"]) == ("48433.7349398", "-0.19277108")
        assert (eth["liquidation_price"], eth["distance_fraction"]) == ("3573.70517928", "0.19123505")

    def test_maintenance_margins_add_up_to_the_pool_at_every_sample(self, pair_cross: Path) -> None:
        """Σ maint_margin over a sample's rows = scope_maint_margin, and the time series'
        maintenance margin (the pool is the account's only scope)."""
        series = [r for r in rows(pair_cross / "timeseries.csv") if r["why"] != "liquidation"]
        pos = rows(pair_cross / "positions.csv")
        assert len(pos) == 2 * len(series) >= 12  # (both legs open throughout: two rows a sample)
        for k, sample in enumerate(series):
            legs = pos[2 * k : 2 * k + 2]
            assert {r["ts_ns"] for r in legs} == {sample["ts_ns"]}
            assert {r["scope_maint_margin"] for r in legs} == {sample["maint_margin"]}
            assert sum(Decimal(r["maint_margin"]) for r in legs) == Decimal(sample["maint_margin"])

    def test_shares_move_with_the_marks(self, pair_cross: Path) -> None:
        """At 10m, after both marks (BTC 57,000, ETH 2,820): MM 22.8 and 22.56 of 45.36; the
        pool holds 1,200 − 300 + 360 = 1,260."""
        btc = at(pair_cross / "positions.csv", T0 + 10 * MINUTE, "BTCUSDT")
        eth = at(pair_cross / "positions.csv", T0 + 10 * MINUTE, "ETHUSDT")
        assert (btc["maint_margin"], eth["maint_margin"], btc["scope_maint_margin"], btc["scope_margin_balance"]) == (
            "22.80000000", "22.56000000", "45.36000000", "1260.00000000")
        assert (btc["unrealized_pnl"], eth["unrealized_pnl"]) == ("-300.00000000", "360.00000000")

    def test_positions_risk(self, pair_cross: Path) -> None:
        """The pool's worst sample is at 10m between the two marks: BTC at 57,000 (PnL −300,
        MM 22.8), ETH still at 3,000 (MM 24): 46.8 / 900 = 0.052; BTC carries 22.8 / 46.8 =
        0.487179...; ETH 24 / 46.8 = 0.512820... BTC's PnL bottoms at −900 (30m, 51,000);
        ETH's peaks at +1,080 (30m, 2,460) and gives back 780 by 50m (2,850: +300)."""
        btc, eth = json.loads((pair_cross / "summary.json").read_text())["accounts"][0]["positions_risk"]
        assert (btc["symbol"], btc["share_of_pool_maint_margin"], btc["maint_margin"], btc["unrealized_pnl"],
                btc["scope_margin_ratio"], btc["worst_point_ts_ns"]) == (
            "BTCUSDT", "0.48717948", "22.80000000", "-300.00000000", "0.05200000", T0 + 10 * MINUTE)
        assert (eth["symbol"], eth["share_of_pool_maint_margin"], eth["maint_margin"]) == ("ETHUSDT", "0.51282051", "24.00000000")
        assert (btc["worst_unrealized_pnl"], btc["max_drawdown"]) == ("-900.00000000", "900.00000000")
        assert (eth["worst_unrealized_pnl"], eth["max_drawdown"]) == ("0.00000000", "780.00000000")
        assert (btc["open_at_end"], eth["open_at_end"], btc["end_unrealized_pnl"]) == ("0.100", "-2.000", "-200.00000000")

    def test_a_run_without_files_has_the_same_positions_risk(self, pair_cross: Path) -> None:
        """Without an output directory nothing is written, and the summary's positions_risk is
        the same as the written run's."""
        summary = ScenarioRun(load_scenario(resolve("hedged-pair")), margin_mode="cross").run()
        written = json.loads((pair_cross / "summary.json").read_text())
        assert summary["accounts"][0]["positions_risk"] == written["accounts"][0]["positions_risk"]

    def test_isolated_legs_are_their_own_scopes(self, pair_isolated: Path) -> None:
        """Isolated, the BTC bucket of 600 is liquidated at 54,216.867469879... (the engine:
        54,216.8674699), −9.6385...%; each leg's share of its bucket is 1."""
        btc = at(pair_isolated / "positions.csv", T0, "BTCUSDT")
        assert (btc["margin_mode"], btc["scope_margin_balance"], btc["scope_maint_margin"], btc["liquidation_price"],
                btc["distance_fraction"]) == ("isolated", "600.00000000", "24.00000000", "54216.8674699", "-0.09638554")
        risk = json.loads((pair_isolated / "summary.json").read_text())["accounts"][0]["positions_risk"]
        assert [r["share_of_pool_maint_margin"] for r in risk] == ["1.00000000", "1.00000000"]

    def test_isolated_bucket_worst_point_is_before_its_liquidation(self, pair_isolated: Path) -> None:
        """The BTC bucket's highest ratio while open is at 10m: MM 22.8 on 600 − 300 = 300,
        ratio 0.076; at 20m (54,200) it is liquidated and closes."""
        btc = json.loads((pair_isolated / "summary.json").read_text())["accounts"][0]["positions_risk"][0]
        assert (btc["maint_margin"], btc["unrealized_pnl"], btc["scope_margin_ratio"], btc["worst_point_ts_ns"],
                btc["open_at_end"]) == ("22.80000000", "-300.00000000", "0.07600000", T0 + 10 * MINUTE, "0.000")


class TestDepth:
    def test_one_row_per_instrument_at_every_sample(self, pair_cross: Path) -> None:
        """depth.csv: at each sample (one time-series row of the one account), BTCUSDT then ETHUSDT."""
        samples = [r for r in rows(pair_cross / "timeseries.csv") if r["why"] != "liquidation"]
        depth = rows(pair_cross / "depth.csv")
        assert len(depth) == 2 * len(samples)
        assert [r["ts_ns"] for r in depth[::2]] == [r["ts_ns"] for r in samples]
        assert [r["symbol"] for r in depth[:4]] == ["BTCUSDT", "ETHUSDT", "BTCUSDT", "ETHUSDT"]

    def test_levels_are_exact_and_best_first(self, one: Path) -> None:
        """At 10m the ladder sits around the mark 980: best bid 980.000, ask 980.001, ten
        levels each side, prices falling (bids) and rising (asks)."""
        r = at(one / "depth.csv", T0 + 10 * MINUTE, "DEMOUSDT")
        bids = [lv.split(":") for lv in r["bids"].split(";")]
        asks = [lv.split(":") for lv in r["asks"].split(";")]
        assert len(bids) == len(asks) == 10
        assert (bids[0][0], asks[0][0]) == ("980.000", "980.001")
        assert [Decimal(p) for p, _ in bids] == sorted((Decimal(p) for p, _ in bids), reverse=True)
        assert [Decimal(p) for p, _ in asks] == sorted(Decimal(p) for p, _ in asks)

    def test_the_book_before_the_first_mark_is_empty(self, one: Path) -> None:
        """The ``opened`` sample comes before the ladder is built: both sides empty."""
        first = rows(one / "depth.csv")[0]
        assert (first["bids"], first["asks"]) == ("", "")


class TestCascadeGenerations:
    def test_generation_is_the_last_column(self, cascade: Path) -> None:
        """timeseries.csv ends with ``generation``."""
        assert next(csv.reader(open(cascade / "timeseries.csv")))[-1] == "generation"

    def test_book_marks_count_the_rounds(self, cascade: Path) -> None:
        """Rows written at a book-driven mark carry its round (1, 2, 3 ...), as marks.csv
        has it at the same instant; the path's marks are round 0."""
        marks = {(r["ts_ns"], r["generation"]) for r in rows(cascade / "marks.csv")}
        series = rows(cascade / "timeseries.csv")
        book = [r for r in series if r["why"] == "book mark"]
        assert book and {r["generation"] for r in book} >= {"1", "2"}
        assert all((r["ts_ns"], r["generation"]) in marks for r in book)
        assert {r["generation"] for r in series if r["why"] in ("opened", "start")} == {"0"}

    def test_liquidation_rows_carry_their_round(self, cascade: Path) -> None:
        """Each liquidation row's generation is the one summary.json gives its liquidation."""
        summary = json.loads((cascade / "summary.json").read_text())
        by_gen = summary["cascade"]["liquidations_by_generation"]
        liq = [r for r in rows(cascade / "timeseries.csv") if r["why"] == "liquidation"]
        counted: dict[str, int] = {}
        for r in liq:
            counted[r["generation"]] = counted.get(r["generation"], 0) + 1
        assert counted == by_gen

    def test_depth_and_positions_rows_carry_the_round(self, cascade: Path) -> None:
        """depth.csv's best bid at each book mark is marks.csv's at the same (ts, round), and
        positions rows carry the rounds of their samples."""
        best = {(r["ts_ns"], r["generation"]): r["best_bid"] for r in rows(cascade / "marks.csv")}
        depth = [r for r in rows(cascade / "depth.csv") if r["generation"] != "0"]
        assert depth
        for r in depth:
            assert r["bids"].split(";")[0].split(":")[0] == best[(r["ts_ns"], r["generation"])]
        gens = {(r["ts_ns"], r["generation"]) for r in rows(cascade / "timeseries.csv")}
        assert all((r["ts_ns"], r["generation"]) in gens for r in rows(cascade / "positions.csv"))
