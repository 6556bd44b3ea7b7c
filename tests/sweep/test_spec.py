"""The sweep file: what it may say, and every bad input refused with one line naming the
file, line and field, before any cell runs (exsim.sweep.spec)."""

from __future__ import annotations

from pathlib import Path

import pytest

from exsim.errors import InputError
from exsim.sweep.cells import cell_id, columns, grid
from exsim.sweep.spec import MAX_CELLS, load_sweep

from .grids import CRASH, HOLDER_8, write_sweep

#: the engine tests' 8-cell holder sweep, its entry delay a range: 2 x 2 x 3 = 12 cells
GOOD = HOLDER_8.replace('name = "holder-8"', 'name = "crash"').replace(
    "enter_after_s = [0, 3600]", "enter_after_s = { from = 0, to = 3600, step = 1800 }")


def write(tmp_path: Path, text: str, name: str = "sweep.toml") -> Path:
    return write_sweep(tmp_path, text, name)


def refused(tmp_path: Path, text: str) -> InputError:
    with pytest.raises(InputError) as info:
        load_sweep(write(tmp_path, text))
    return info.value


def test_the_grid_is_the_product_of_the_axes_in_the_order_written(tmp_path: Path) -> None:
    """2 leverages x 2 modes x 3 entry delays = 12 cells, the last axis varying fastest."""
    sweep = load_sweep(write(tmp_path, GOOD))
    cells = grid(sweep, sweep.inputs)
    assert len(cells) == 12
    assert [c.values["param.enter_after_s"] for c in cells[:3]] == [0, 1800, 3600]
    assert cells[0].values == {"leverage": 20, "margin_mode": "isolated", "param.enter_after_s": 0}
    assert cells[-1].values == {"leverage": 125, "margin_mode": "cross", "param.enter_after_s": 3600}
    assert columns(sweep)[:5] == ["cell", "input", "leverage", "margin_mode", "param.enter_after_s"]


def test_a_cell_id_is_a_hash_of_its_input_and_values_alone(tmp_path: Path) -> None:
    """The same input and values give the same id in any sweep file (resume and rerun find cells by it)."""
    sweep = load_sweep(write(tmp_path, GOOD))
    other = load_sweep(write(tmp_path, GOOD.replace('name = "crash"', 'name = "other"'), "other.toml"))
    assert [c.id for c in grid(sweep, sweep.inputs)] == [c.id for c in grid(other, other.inputs)]
    assert cell_id("a.csv", {"leverage": 20}) != cell_id("a.csv", {"leverage": "20"})
    assert len(cell_id("a.csv", {})) == 12


def test_a_decimal_range_steps_exactly(tmp_path: Path) -> None:
    """A range of decimal strings has exact values at the finest of its three exponents."""
    text = GOOD.replace('params = { qty = "0.05" }', "").replace(
        "enter_after_s = { from = 0, to = 3600, step = 1800 }", 'qty = { from = "0.01", to = "0.05", step = "0.02" }')
    sweep = load_sweep(write(tmp_path, text))
    assert sweep.axes[-1].values == ("0.01", "0.03", "0.05")


def test_a_listed_subset_is_the_grid(tmp_path: Path) -> None:
    """``cells = [...]`` runs those points only, in their order."""
    # (a top-level key: it comes before the first table)
    text = ('cells = [ { leverage = 125, margin_mode = "cross", "param.enter_after_s" = 0 },'
            ' { leverage = 20, margin_mode = "isolated", "param.enter_after_s" = 3600 } ]\n' + GOOD)
    sweep = load_sweep(write(tmp_path, text))
    cells = grid(sweep, sweep.inputs)
    assert [c.values["leverage"] for c in cells] == [125, 20]


def test_split_merged_makes_one_input_of_every_file(tmp_path: Path) -> None:
    """``split = "merged"``: one group holding every file, merged by time."""
    lines = CRASH.read_text().splitlines(keepends=True)
    (tmp_path / "early.csv").write_text("".join(lines[:121]))  # (the header and the first two hours, then the rest)
    (tmp_path / "late.csv").write_text(lines[0] + "".join(lines[121:]))
    text = GOOD.replace(f'files = ["{CRASH}"]', 'files = ["early.csv", "late.csv"]\nsplit = "merged"')
    sweep = load_sweep(write(tmp_path, text))
    assert [g.name for g in sweep.inputs] == ["merged"]
    assert len(sweep.inputs[0].files) == 2


def test_a_glob_is_expanded_relative_to_the_sweep_file(tmp_path: Path) -> None:
    """Files are named relative to the sweep file's folder; a glob gives one input per file."""
    (tmp_path / "d").mkdir()
    for day in ("a", "b"):
        (tmp_path / "d" / f"{day}.csv").write_bytes(CRASH.read_bytes())
    sweep = load_sweep(write(tmp_path, GOOD.replace(f'["{CRASH}"]', '["d/*.csv"]')))
    assert [g.name for g in sweep.inputs] == ["a.csv", "b.csv"]
    assert len(grid(sweep, sweep.inputs)) == 24


def test_the_fingerprint_changes_with_any_fixed_part(tmp_path: Path) -> None:
    """Another balance, the same axes: another sweep (its OUT is not resumed into)."""
    a = load_sweep(write(tmp_path, GOOD))
    b = load_sweep(write(tmp_path, GOOD.replace('balance = "1000"', 'balance = "2000"'), "b.toml"))
    assert a.fingerprint != b.fingerprint
    assert a.fingerprint == load_sweep(write(tmp_path, GOOD, "c.toml")).fingerprint


def test_a_scenario_sweep_runs_built_ins_by_name(tmp_path: Path) -> None:
    """``scenarios = [...]`` with margin_mode and venue axes."""
    text = '[inputs]\nscenarios = ["one-position", "cascade"]\n[axes]\nmargin_mode = ["isolated", "cross"]\n'
    sweep = load_sweep(write(tmp_path, text))
    assert sweep.kind == "scenario"
    assert len(grid(sweep, sweep.inputs)) == 4


@pytest.mark.parametrize(
    ("change", "where", "says"),
    [
        (("leverage = [20, 125]", "leverage = [20, 125]\nslippage = [1, 2]"), "axes.slippage", "unknown axis"),
        (("leverage = [20, 125]", "leverage = []"), "axes.leverage", "no values"),
        (("step = 1800", "step = 0"), "axes.param.enter_after_s.step", "greater than 0"),
        (("from = 0, to = 3600", "from = 3600, to = 0"), "axes.param.enter_after_s.from", "empty"),
        (("enter_after_s =", "stop_pct ="), "axes.param.stop_pct", "takes no parameter 'stop_pct'"),
        (('qty = "0.05"', 'qty = "0.05", colour = "red"'), "strategy.params.colour", "takes no parameter"),
        ((f'["{CRASH}"]', '["nowhere.csv"]'), "inputs.files", "no such file"),
        ((f'["{CRASH}"]', '["missing/*.csv"]'), "inputs.files", "matches no file"),
        (("leverage = [20, 125]", "leverage = [20, 126]"), "axes.leverage", "126"),
        (('margin_mode = ["isolated", "cross"]', 'margin_mode = ["isolated", "crossed"]'), "axes.margin_mode", "crossed"),
        (('balance = "1000"', "balance = 1000.5"), "config.balance", "as a string"),
        (('balance = "1000"', 'balance = "1000"\nsymbol = "ETHUSDT"'), "config.symbol", "unknown field"),
        (('name = "holder"', 'name = "os:system"'), "strategy.name", "standard library"),
        (("leverage = [20, 125]", "leverage = [20, 20]"), "axes.leverage", "twice"),
        (('name = "crash"', 'name = "../up"'), "name", "letters"),
        (('qty = "0.05"', 'qty = "0.05", side = "sideways"'), "strategy.params", "side"),
    ],
)
def test_bad_input_is_one_line_naming_file_line_and_field(tmp_path: Path, change: tuple[str, str], where: str,
                                                          says: str) -> None:
    """Each mistake is refused before any cell runs, at its line, naming its field."""
    old, new = change
    assert old in GOOD
    exc = refused(tmp_path, GOOD.replace(old, new, 1))
    text = str(exc)
    assert "\n" not in text
    assert exc.field.startswith(where), text
    assert says in text, text
    assert exc.where.startswith(str(tmp_path / "sweep.toml") + ":"), text
    line = int(exc.where.rsplit(":", 1)[1])
    assert line > 1 or where == "name", text


def test_a_grid_too_big_is_refused_before_anything_runs(tmp_path: Path) -> None:
    """More than MAX_CELLS cells: refused, naming the count."""
    text = GOOD.replace("enter_after_s = { from = 0, to = 3600, step = 1800 }",
                        "enter_after_s = { from = 0, to = 99999, step = 1 }\nmargin_fraction = "
                        '{ from = "0.01", to = "0.11", step = "0.01" }')
    exc = refused(tmp_path, text)
    assert f"at most {MAX_CELLS:,}" in str(exc)


def test_a_scenario_sweep_refuses_replay_axes(tmp_path: Path) -> None:
    """A scenario fixes leverage per position: the axis is refused, naming the ones it may have."""
    exc = refused(tmp_path, '[inputs]\nscenarios = ["one-position"]\n[axes]\nleverage = [5]\n')
    assert exc.field == "axes.leverage" and "margin_mode, venue" in str(exc)


def test_a_subset_value_off_its_axis_is_refused(tmp_path: Path) -> None:
    """A listed cell names a value of each axis, from the axis's values."""
    text = 'cells = [ { leverage = 50, margin_mode = "cross", "param.enter_after_s" = 0 } ]\n' + GOOD
    exc = refused(tmp_path, text)
    assert exc.field == "cells[0].leverage" and "50" in str(exc)
