"""The page document's positions, depth and distances (exsim.pages.data reading positions.csv,
depth.csv and distances.csv): at every step the strings of the sample that step shows,
even when several samples share an instant; old run directories without the files open."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path
from typing import Any

import pytest

from exsim.cli import main
from exsim.errors import InputError
from exsim.pages.data import page_document, run_dirs_of

from .runs import rows, value_at




@pytest.fixture(scope="module")
def pair_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pair") / "cmp"
    assert main(["compare", "hedged-pair", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def pair_doc(pair_dir: Path) -> dict[str, Any]:
    return page_document(run_dirs_of(pair_dir), "hedged-pair")


class TestPositions:
    def test_each_mark_of_an_instant_shows_its_own_sample(self, pair_doc: dict[str, Any]) -> None:
        """At 10m the BTC mark (57,000) and the ETH mark (2,820) are two samples of the same
        instant: the first step shows BTC's new PnL with ETH's old mark, the second both new."""
        cross = next(r for r in pair_doc["runs"] if r["name"] == "cross")
        btc = next(p for p in cross["positions"] if p["symbol"] == "BTCUSDT")
        eth = next(p for p in cross["positions"] if p["symbol"] == "ETHUSDT")
        first = btc["mark"].index("57000.0")
        s1, s2 = btc["step"][first], btc["step"][first + 1]
        assert s1 < s2
        assert (value_at(btc, "unrealized_pnl", s1), value_at(eth, "mark", s1), value_at(eth, "unrealized_pnl", s1)) == (
            "-300.00000000", "3000.00", "0.00000000")
        assert (value_at(eth, "mark", s2), value_at(eth, "unrealized_pnl", s2), value_at(btc, "maint_margin", s2)) == (
            "2820.00", "360.00000000", "22.80000000")

    def test_every_row_of_the_file_is_on_the_timeline_in_order(self, pair_doc: dict[str, Any], pair_dir: Path) -> None:
        """Every positions.csv row is one entry of its position's series (nothing thinned in a
        short run), steps increasing, values the file's strings; the only other entries are
        the liquidation triggers' (the file has no row there)."""
        for run in pair_doc["runs"]:
            triggers = {step for step, why in run["frames"] if why == "liquidation"}
            for p in run["positions"]:
                mine = [r for r in rows(pair_dir / run["name"] / "positions.csv") if r["symbol"] == p["symbol"]]
                assert p["step"] == sorted(p["step"]) and len(set(p["step"])) == len(p["step"])
                from_file = [i for i, s in enumerate(p["step"]) if s not in triggers]
                assert [p["qty"][i] for i in from_file] == [r["qty"] for r in mine]
                assert [p["liquidation_price"][i] for i in from_file] == [r["liquidation_price"] or None for r in mine]
                assert p["margin_mode"] == run["name"]

    def test_the_steps_are_the_runs_sample_frames(self, pair_doc: dict[str, Any]) -> None:
        """A position's steps are steps of its run's own frames; a liquidation trigger's only
        for a position that liquidation closed (its figures as the engine saw them)."""
        for run in pair_doc["runs"]:
            whys = {step: why for step, why in run["frames"]}
            closed = {(x["step"], x["account"], x["symbol"]) for x in run["liquidations"]}
            for p in run["positions"]:
                assert all(s in whys for s in p["step"])
                assert all((s, p["account"], p["symbol"]) in closed for s in p["step"] if whys[s] == "liquidation")

    def test_the_closing_row_ends_the_series(self, pair_doc: dict[str, Any]) -> None:
        """Isolated, the BTC leg is liquidated at 20m: its series ends with qty 0 at the mark's sample."""
        iso = next(r for r in pair_doc["runs"] if r["name"] == "isolated")
        btc = next(p for p in iso["positions"] if p["symbol"] == "BTCUSDT")
        assert btc["qty"][-1] == "0.000" and btc["qty"][-2] == "0.100"
        assert btc["margin_mode"] == "isolated"


class TestDepth:
    def test_each_step_shows_its_samples_book(self, pair_doc: dict[str, Any], pair_dir: Path) -> None:
        """depth.csv row by row: each is one entry of its symbol's depth, levels as [price, qty]."""
        for run in pair_doc["runs"]:
            file_rows = rows(pair_dir / run["name"] / "depth.csv")
            for sym, d in run["depth"].items():
                mine = [r for r in file_rows if r["symbol"] == sym]
                assert len(d["step"]) == len(mine) and d["step"] == sorted(d["step"])
                for got, r in zip(d["bids"], mine):
                    assert got == [lv.split(":") for lv in r["bids"].split(";") if lv]

    def test_depth_moves_with_each_mark_of_an_instant(self, pair_doc: dict[str, Any]) -> None:
        """At 10m BTC's ladder moves to 57,000 at the first step, ETH's to 2,820 only at the second."""
        cross = next(r for r in pair_doc["runs"] if r["name"] == "cross")
        btc = next(p for p in cross["positions"] if p["symbol"] == "BTCUSDT")
        first = btc["mark"].index("57000.0")
        s1, s2 = btc["step"][first], btc["step"][first + 1]
        eth_depth = cross["depth"]["ETHUSDT"]
        btc_depth = cross["depth"]["BTCUSDT"]
        assert value_at(btc_depth, "bids", s1)[0][0] == "57000.0"
        assert value_at(eth_depth, "bids", s1)[0][0] == "3000.00"
        assert value_at(eth_depth, "bids", s2)[0][0] == "2820.00"


class TestDistances:
    def test_each_run_has_its_distance_rows(self, pair_doc: dict[str, Any], pair_dir: Path) -> None:
        """The document's distances are the compare's OUT/distances.csv, run by run."""
        assert pair_doc["distances"] == rows(pair_dir / "distances.csv")
        assert [d["run"] for d in pair_doc["distances"]] == ["isolated", "isolated", "cross", "cross"]

    def test_a_single_run_reads_its_own_file(self, pair_dir: Path) -> None:
        """One run directory alone: its own distances.csv, named by the run."""
        doc = page_document(run_dirs_of(pair_dir / "cross"), "one")
        assert [(d["run"], d["symbol"], d["distance_fraction"]) for d in doc["distances"]] == [
            ("cross", "BTCUSDT", "-0.19277108"), ("cross", "ETHUSDT", "0.19123505")]


class TestOldAndBadFiles:
    def test_a_run_without_the_new_files_opens_with_empty_panels(self, pair_dir: Path, tmp_path: Path) -> None:
        """A run directory from before positions.csv, depth.csv and distances.csv: no position,
        no depth, no distance; the rest as before."""
        old = tmp_path / "old"
        shutil.copytree(pair_dir / "cross", old)
        for name in ("positions.csv", "depth.csv", "distances.csv"):
            (old / name).unlink()
        doc = page_document(run_dirs_of(old), "old")
        (run,) = doc["runs"]
        assert (run["positions"], run["depth"], doc["distances"]) == ([], {}, [])
        assert run["accounts"] and run["prices"]

    def test_a_row_at_no_sample_names_its_line(self, pair_dir: Path, tmp_path: Path) -> None:
        """A positions.csv row whose instant no time-series sample has is refused: file:line, ts_ns."""
        bad = tmp_path / "bad"
        shutil.copytree(pair_dir / "cross", bad)
        text = (bad / "positions.csv").read_text().splitlines()
        cells = text[3].split(",")
        cells[0] = "1"
        text[3] = ",".join(cells)
        (bad / "positions.csv").write_text("\n".join(text) + "\n")
        with pytest.raises(InputError, match=r"positions\.csv:4.*ts_ns"):
            page_document(run_dirs_of(bad), "bad")

    def test_a_bad_level_names_its_line(self, pair_dir: Path, tmp_path: Path) -> None:
        """A depth level that is not price:qty is refused naming depth.csv's line and the side."""
        bad = tmp_path / "bad"
        shutil.copytree(pair_dir / "cross", bad)
        table = list(csv.reader(open(bad / "depth.csv", newline="")))
        table[5][3] = table[5][3].replace(":", "/", 1)  # (the bids of line 6)
        with open(bad / "depth.csv", "w", newline="") as f:
            csv.writer(f).writerows(table)
        with pytest.raises(InputError, match=r"depth\.csv:6.*bids"):
            page_document(run_dirs_of(bad), "bad")

    def test_a_damaged_distances_file_names_it(self, pair_dir: Path, tmp_path: Path) -> None:
        """A distances.csv with another header is refused naming the file's first line."""
        bad = tmp_path / "bad"
        shutil.copytree(pair_dir / "cross", bad)
        (bad / "distances.csv").write_text("run,what\ncross,price\n")
        with pytest.raises(InputError, match=r"distances\.csv:1"):
            page_document(run_dirs_of(bad), "bad")
