"""``benchmarks/table.py``: the README's targets table from benchmark runs' JSON.

Runs on a small fixture (``test_bench_table_run.json``, shaped as pytest-benchmark writes
it), without running any benchmark.
"""

from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
FIXTURE = HERE / "test_bench_table_run.json"


def load_table() -> Any:
    spec = importlib.util.spec_from_file_location("bench_table", HERE.parent / "benchmarks" / "table.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


table = load_table()


@pytest.fixture
def run1() -> dict[str, Any]:
    return json.loads(FIXTURE.read_text())


@pytest.fixture
def run2(run1: dict[str, Any]) -> dict[str, Any]:
    """The same run, except the isolated marginal order misses its target and the byte count is absent."""
    run = copy.deepcopy(run1)
    isolated = run["benchmarks"][2]["extra_info"]
    isolated.update(marginal_market_order_us=12.5, marginal_market_order_us_met=False, marginal_market_order_us_spread=1.3)
    del run["benchmarks"][3]
    run["datetime"] = "2026-12-07T16:10:00+00:00"
    return run


def rows(text: str) -> dict[str, list[str]]:
    """The table's rows by figure name: their cells after the name."""
    out = {}
    for line in text.splitlines():
        if line.startswith("| `"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            out[cells[0].strip("`")] = cells[1:]
    return out


def test_a_figure_is_a_key_with_its_target_and_parametrized_ones_carry_the_parameter(run1: dict[str, Any]) -> None:
    figs = table.figures(run1)
    assert set(figs) == {
        "book_vs_tuned",
        "book_vs_straightforward",
        "marginal_orders_per_cpu_s[cross]",
        "marginal_market_order_us[cross]",
        "marginal_market_order_us[isolated]",
        "bytes_per_resting_order_with_ledger",
    }  # "events", "margin_mode", "cost_ratio_1m_over_1k" have no target: not figures
    cross = figs["marginal_market_order_us[cross]"]
    assert (cross.value, cross.target, cross.met, cross.spread) == (34.0, "<= 10", False, 1.1)
    assert figs["bytes_per_resting_order_with_ledger"].spread is None  # exact: no spread recorded


def test_issue_21_figures_come_first_in_the_issues_order_then_the_others(run1: dict[str, Any]) -> None:
    assert list(rows(table.table([run1]))) == [
        "marginal_market_order_us[cross]",
        "marginal_market_order_us[isolated]",
        "marginal_orders_per_cpu_s[cross]",
        "book_vs_tuned",
        "bytes_per_resting_order_with_ledger",
        "book_vs_straightforward",
    ]


def test_two_runs_a_figure_is_met_only_when_met_in_both(run1: dict[str, Any], run2: dict[str, Any]) -> None:
    text = table.table([run1, run2])
    got = rows(text)
    # cells: target, run 1, run 2, met in both, spreads
    assert got["marginal_market_order_us[cross]"] == ["<= 10", "34", "34", "no", "1.1 / 1.1"]
    assert got["marginal_market_order_us[isolated]"] == ["<= 10", "8.5", "12.5", "no", "1.05 / 1.3"]
    assert got["marginal_orders_per_cpu_s[cross]"] == [">= 100000", "29,412", "29,412", "no", "1.1 / 1.1"]
    assert got["bytes_per_resting_order_with_ledger"] == ["<= 400", "391.5", "missing", "no (missing in a run)", "— / —"]
    assert got["book_vs_straightforward"] == ["report", "1.292", "1.292", "—", "1.331 / 1.331"]
    assert "| figure | target | run 1 | run 2 | met in both | spread (run 1 / run 2) |" in text
    assert "- run 1: 2026-12-07 15:02 UTC, commit 77ce328a38" in text
    assert "- run 2: 2026-12-07 16:10 UTC, commit 77ce328a38" in text


def test_a_figure_met_in_both_runs_says_yes(run1: dict[str, Any]) -> None:
    assert rows(table.table([run1, run1]))["marginal_market_order_us[isolated]"][3] == "yes"


def test_readme_section_between_the_markers_is_replaced_and_the_rest_kept(run1: dict[str, Any], tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# Benchmarks\n\nintro\n\n{table.BEGIN}\nold table\n{table.END}\n\nafter\n")
    run = tmp_path / "run.json"
    run.write_text(json.dumps(run1))
    assert table.main([str(run), "--readme", str(readme)]) == 0
    text = readme.read_text()
    assert text.startswith("# Benchmarks\n\nintro\n\n" + table.BEGIN + "\n- run 1: ")
    assert text.endswith(table.END + "\n\nafter\n")
    assert "old table" not in text and "| `book_vs_tuned` | >= 1.0 | 0.96 | no |" in text
    table.main([str(run), "--readme", str(readme)])
    assert readme.read_text() == text  # rewriting again changes nothing


def test_readme_without_the_markers_is_refused(run1: dict[str, Any], tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# Benchmarks\n")
    run = tmp_path / "run.json"
    run.write_text(json.dumps(run1))
    with pytest.raises(SystemExit, match="no <!-- table:begin -->"):
        table.main([str(run), "--readme", str(readme)])
    assert readme.read_text() == "# Benchmarks\n"


def test_without_readme_the_table_is_printed(run1: dict[str, Any], tmp_path: Path, capsys: Any) -> None:
    run = tmp_path / "run.json"
    run.write_text(json.dumps(run1))
    assert table.main([str(run)]) == 0
    assert capsys.readouterr().out == table.table([run1])


def test_a_run_in_several_files_is_read_as_one(run1: dict[str, Any], tmp_path: Path, capsys: Any) -> None:
    book = dict(run1, benchmarks=run1["benchmarks"][:1])
    rest = dict(run1, benchmarks=run1["benchmarks"][1:], datetime="2026-12-07T18:00:00+00:00")
    (tmp_path / "book.json").write_text(json.dumps(book))
    (tmp_path / "rest.json").write_text(json.dumps(rest))
    assert table.main([f"{tmp_path / 'book.json'},{tmp_path / 'rest.json'}"]) == 0
    assert capsys.readouterr().out == table.table([run1])  # the first file's date names the run


def test_a_figure_two_benchmarks_record_is_told_apart_by_the_second_ones_name(run1: dict[str, Any]) -> None:
    twice = dict(run1, benchmarks=run1["benchmarks"] + [{"name": "test_again", "param": None, "extra_info": {
        "book_vs_tuned": 1.01, "book_vs_tuned_target": ">= 1.0", "book_vs_tuned_met": True}}])
    figs = table.figures(twice)
    assert figs["book_vs_tuned"].value == 0.96 and figs["book_vs_tuned (test_again)"].value == 1.01
