"""Liquidation distances (exsim.scenario.distances): how far each price and each collateral
haircut may move before liquidation, at a run's start; compare's table and OUT/distances.csv.

Multi-assets accounts below hold ETHUSDT long 5 at 2,000 (no fees, MMR 0.4 %, cum 0: MM
= 0.02 P, 40 at 2,000) and BTC collateral at index 40,000. With every price held the
account equity is 1 USDT + the BTC's value through its tiers, and the account is
liquidated when that falls to the MM of 40.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from exsim.cli import main
from exsim.errors import InputError
from exsim.scenario.cli import resolve
from exsim.scenario.distances import DISTANCE_FIELDS, read_distances, write_distances
from exsim.scenario.runner import ScenarioRun
from exsim.scenario.spec import load_scenario

BTC_BACKED = """\
[scenario]
name = "btc-backed"
margin_mode = "multi-assets"

[[instruments]]
symbol = "ETHUSDT"
maker_fee = "0"
taker_fee = "0"

[collateral.BTC]
index = "40000"
tiers = TIERS

[[accounts]]
name = "btc-backed"
deposit = { USDT = "1", BTC = "0.02" }

[[accounts.positions]]
symbol = "ETHUSDT"
side = "long"
qty = "5"
price = "2000"
leverage = 20

[paths.ETHUSDT]
marks = [["0s", "2000"], ["10m", "1990"]]
"""


def rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def distances(tmp_path: Path, tiers: str, mode: str = "multi-assets") -> list[dict[str, str]]:
    spec = tmp_path / "btc-backed.toml"
    spec.write_text(BTC_BACKED.replace("TIERS", tiers))
    out = tmp_path / "run"
    ScenarioRun(load_scenario(spec), margin_mode=mode, out_dir=out, check_every_event=True).run()
    return rows(out / "distances.csv")


class TestHaircuts:
    def test_one_tier_rises_until_the_btc_covers_the_margin_no_more(self, tmp_path: Path) -> None:
        """0.02 BTC × 40,000 × ratio + 1 <= 40 when ratio <= 39 / 800 = 0.04875: the 5 %
        haircut may rise 0.90125 to 0.95125."""
        (_, usdt, btc) = distances(tmp_path, '[{ haircut = "0.05" }]')
        assert (btc["what"], btc["haircut_asset"], btc["haircut_now"], btc["haircut_at_liquidation"],
                btc["distance_fraction"]) == ("haircut", "BTC", "0.05000000", "0.95125000", "0.90125000")
        assert (usdt["haircut_asset"], usdt["haircut_now"], usdt["haircut_at_liquidation"]) == ("USDT", "0.00000000", "")

    def test_the_walk_crosses_a_tier_floor(self, tmp_path: Path) -> None:
        """Tiers 0–0.01 BTC at 0.95, the rest at 0.5: excess = 1 + 400 (0.95 − p) + 400 max(0,
        0.5 − p) − 40; 141 at p = 0.5 (the second tier gone), 0 at p = 0.95 − 39 / 400 =
        0.8525: the haircut of the first tier may rise from 0.05 to 0.9025."""
        btc = distances(tmp_path, '[{ upto = "0.01", haircut = "0.05" }, { haircut = "0.5" }]')[-1]
        assert (btc["haircut_now"], btc["haircut_at_liquidation"], btc["distance_fraction"]) == (
            "0.05000000", "0.90250000", "0.85250000")

    def test_the_price_row_holds_the_haircut(self, tmp_path: Path) -> None:
        """The ETH mark that liquidates: 1 + 760 + 5 (P − 2,000) <= 0.02 P, P <= 9,239 / 4.98 =
        1,855.220883534...: a fall of 7.238955...%."""
        eth = distances(tmp_path, '[{ haircut = "0.05" }]')[0]
        assert (eth["what"], eth["symbol"], eth["margin_mode"], eth["qty"], eth["mark"]) == (
            "price", "ETHUSDT", "multi-assets", "5.000", "2000.00")
        assert (eth["liquidation_price"], eth["distance_fraction"]) == ("1855.22088353", "-0.07238955")


class TestBuiltins:
    def test_haircut_squeeze_in_three_modes(self, tmp_path: Path) -> None:
        """isolated and cross: P <= 9,500 / 4.98 = 1,907.630522... (one price row: a single-asset
        account has no haircut to move); multi-assets, the BTC at
        0.95: P <= 7,600 / 4.98 = 1,526.104417...; its haircut alone never liquidates it (500
        USDT hold the MM of 40 with the BTC at nothing)."""
        scenario = load_scenario(resolve("haircut-squeeze"))
        got = {}
        for mode in ("isolated", "cross", "multi-assets"):
            out = tmp_path / mode
            ScenarioRun(scenario, margin_mode=mode, out_dir=out).run()
            got[mode] = rows(out / "distances.csv")
        assert [(r["run"], r["liquidation_price"], r["distance_fraction"]) for m in ("isolated", "cross") for r in got[m]] == [
            ("isolated", "1907.63052209", "-0.04618473"), ("cross", "1907.63052209", "-0.04618473")]
        price, usdt, btc = got["multi-assets"]
        assert (price["liquidation_price"], price["distance_fraction"]) == ("1526.10441767", "-0.23694779")
        assert (btc["haircut_now"], btc["haircut_at_liquidation"], btc["distance_fraction"]) == ("0.05000000", "", "")

    def test_an_account_with_nothing_open_cannot_be_liquidated_by_a_haircut(self, tmp_path: Path) -> None:
        """cascade in multi-assets: the seller holds only USDT at the start, no maintenance
        margin: its USDT haircut row says never (even at 100 %, a zero equity fails nothing)."""
        ScenarioRun(load_scenario(resolve("cascade")), margin_mode="multi-assets", out_dir=tmp_path).run()
        (usdt,) = rows(tmp_path / "distances.csv")
        assert (usdt["what"], usdt["haircut_asset"], usdt["haircut_at_liquidation"], usdt["distance_fraction"]) == (
            "haircut", "USDT", "", "")

    def test_population_accounts_are_left_out(self, tmp_path: Path) -> None:
        """cascade: the file's one account (the seller) holds nothing at the start and its 300
        drawn accounts are not listed: a header only."""
        ScenarioRun(load_scenario(resolve("cascade")), margin_mode="cross", out_dir=tmp_path).run()
        assert rows(tmp_path / "distances.csv") == []


class TestCompare:
    def test_compare_prints_the_table_and_writes_out_distances(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """exsim compare hedged-pair: OUT/distances.csv holds both runs' rows named by mode, and
        the printed table shows each leg's move."""
        out = tmp_path / "cmp"
        assert main(["compare", "hedged-pair", "--out", str(out)]) == 0
        text = capsys.readouterr().out
        got = rows(out / "distances.csv")
        assert [(r["run"], r["symbol"], r["distance_fraction"]) for r in got] == [
            ("isolated", "BTCUSDT", "-0.09638554"), ("isolated", "ETHUSDT", "0.09561752"),
            ("cross", "BTCUSDT", "-0.19277108"), ("cross", "ETHUSDT", "0.19123505")]
        table = text.split("liquidation distances")[1]
        assert "-9.63 %" in table and "+19.12 %" in table

    def test_venues_get_a_row_each(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """exsim compare one-position --venues binance,bybit --modes isolated: a run per venue in
        OUT/distances.csv, each with its own liquidation price."""
        out = tmp_path / "cmp"
        assert main(["compare", "one-position", "--venues", "binance,bybit", "--modes", "isolated", "--out", str(out)]) == 0
        got = rows(out / "distances.csv")
        assert [r["run"] for r in got] == ["binance", "bybit"]
        assert got[0]["liquidation_price"] == "947.36842106"
        assert all(r["liquidation_price"] for r in got)


class TestReading:
    def test_round_trip(self, tmp_path: Path) -> None:
        """write_distances then read_distances gives the rows back; ``run`` renames them."""
        row = dict.fromkeys(DISTANCE_FIELDS, "")
        row.update(run="a", account="1", name="x", what="price")
        write_distances(tmp_path / "d.csv", [row])
        assert read_distances(tmp_path / "d.csv") == [row]
        assert read_distances(tmp_path / "d.csv", run="b")[0]["run"] == "b"

    def test_a_wrong_header_names_the_file_and_line_1(self, tmp_path: Path) -> None:
        """A file that is not a distances.csv is refused naming file:1 and the header."""
        (tmp_path / "d.csv").write_text("run,account\n1,2\n")
        with pytest.raises(InputError, match=r"d\.csv:1.*header"):
            read_distances(tmp_path / "d.csv")

    def test_a_short_row_names_its_line(self, tmp_path: Path) -> None:
        """A row with too few cells is refused naming its line."""
        (tmp_path / "d.csv").write_text(",".join(DISTANCE_FIELDS) + "\n" + "a,1\n")
        with pytest.raises(InputError, match=r"d\.csv:2.*2 cells"):
            read_distances(tmp_path / "d.csv")


def test_no_position_at_the_start_is_said_not_drawn_as_an_empty_table() -> None:
    """A compare whose named accounts hold nothing at the start (the cascade's seller) says so
    in one line: an empty table would read as "nothing can be liquidated"."""
    import io

    from rich.console import Console

    from exsim.scenario.distances import print_distances

    out = io.StringIO()
    print_distances(Console(file=out, width=200), [])
    assert out.getvalue() == ("liquidation distances at the start: no named account holds a position then "
                              "(a population is reported in aggregate)\n")
