"""exsim scenario / exsim compare / exsim explain on a scenario run, through the command line."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from exsim.cli import main
from exsim.scenario.cli import BUILTIN_ORDER


def test_list_prints_one_scenario_per_line_name_first(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scenario", "--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("  ", 1)[0] for line in lines] == list(BUILTIN_ORDER)
    assert all(len(line.split("  ", 1)[1]) > 20 for line in lines)


def test_scenario_by_name_writes_a_run_and_its_plots(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "one"
    assert main(["scenario", "one-position", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "947.37" in text and "52.63" in text and "liquidation" in text
    for name in ("summary.json", "timeseries.csv", "marks.csv", "fills.csv", "events.jsonl", "instruments.json"):
        assert (out / name).stat().st_size > 0, name
    for png in ("price.png", "equity.png", "margin_ratio.png"):
        data = (out / png).read_bytes()
        assert data[:4] == b"\x89PNG" and len(data) > 10_000, png
    summary = json.loads((out / "summary.json").read_text())
    assert summary["margin_mode"] == "isolated" and summary["liquidations"] == 1
    # the liquidation fill is in fills.csv, flagged
    fills = list(csv.DictReader((out / "fills.csv").open()))
    assert fills[-1]["liquidation"] == "True" and fills[-1]["price"] == "947.368"


def test_mode_flag_overrides_the_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scenario", "one-position", "--mode", "cross"]) == 0
    text = capsys.readouterr().out
    assert "one-position (cross)" in text and "never" in text


def test_compare_prints_both_modes_side_by_side_and_one_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cmp"
    assert main(["compare", "one-position", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "one-position: isolated vs cross" in text
    row = next(line for line in text.splitlines() if "remaining balance" in line)
    assert row.index("947.37") < row.index("1.00")  # isolated column first, then cross
    for figure in ("liquidations", "realised loss", "max drawdown", "lowest margin-ratio", "time to first"):
        assert figure in text
    png = (out / "compare.png").read_bytes()
    assert png[:4] == b"\x89PNG" and len(png) > 20_000
    assert (out / "isolated" / "summary.json").is_file() and (out / "cross" / "summary.json").is_file()


def test_compare_one_mode_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", "hedged-pair", "--modes", "cross", "--out", str(tmp_path)]) == 0
    assert "hedged-pair: cross" in capsys.readouterr().out


def test_explain_tells_a_scenario_liquidation_on_its_own_instrument(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "entry"
    assert main(["scenario", "one-position-entry-mm", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["explain", str(out)]) == 0
    text = capsys.readouterr().out
    assert "computed on the entry notional" in text
    assert "liquidation price 950.000" in text and "bankruptcy price 900.000" in text


def test_cascade_compare_reports_population_and_cascade(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", "cascade", "--out", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "accounts liquidated" in text and "162 (135 / 27)" in text and "13 (13 / 0)" in text
    assert "cascade generations" in text and "insurance fund" in text and "ADL fills" in text
