"""One cell run (exsim.sweep.run.run_cell): the row of a cell is the run the command line
would make with the same options, and a cell's failure is its row's, not the sweep's."""

from __future__ import annotations

import json
from pathlib import Path

from exsim.cli import main
from exsim.sweep.cells import OUTCOME_FIELDS, TIMING_FIELDS, columns, grid
from exsim.sweep.run import run_cell
from exsim.sweep.spec import Sweep, load_sweep

from .grids import CRASH, HERE, HOLDER_8, write_sweep

#: the engine tests' holder sweep at 125x, entering at 21:00: its two margin modes
SWEEP = HOLDER_8.replace("leverage = [20, 125]", "leverage = [125]").replace("[0, 3600]", "[3600]")


def sweep_of(tmp_path: Path, text: str) -> Sweep:
    return load_sweep(write_sweep(tmp_path, text, "s.toml"))


def test_a_cell_is_the_replay_the_command_line_runs(tmp_path: Path, capsys) -> None:
    """The isolated 125x cell's row has the state hash, PnL and liquidations of `exsim replay` with those options."""
    sweep = sweep_of(tmp_path, SWEEP)
    cell = grid(sweep, sweep.inputs)[0]
    row = run_cell(sweep, cell, sweep.inputs[0])
    assert list(row) == columns(sweep)
    out = tmp_path / "run"
    assert main(["replay", str(CRASH), "--symbol", "BTCUSDT", "--strategy", "holder", "--param", "qty=0.05",
                 "--param", "enter_after_s=3600", "--leverage", "125", "--margin-mode", "isolated", "--balance", "1000",
                 "--out", str(out), "--no-progress"]) == 0
    capsys.readouterr()
    summary = json.loads((out / "summary.json").read_text())
    assert row["status"] == "ok" and row["error"] == ""
    assert row["state_hash"] == summary["state_hash"]
    assert row["pnl"] == summary["account"]["pnl"]
    assert row["liquidations"] == summary["account"]["liquidations"] == 1
    assert row["liquidation_kinds"] == "isolated=1 cross=0 partial=0 takeover=1 adl=0"
    assert row["rows"] == summary["rows"] == 960


def test_a_cell_run_twice_gives_the_same_row_but_its_timings(tmp_path: Path) -> None:
    """Deterministic: every column but wall_s and cpu_s is the same."""
    sweep = sweep_of(tmp_path, SWEEP)
    cell = grid(sweep, sweep.inputs)[1]
    a, b = (run_cell(sweep, cell, sweep.inputs[0]) for _ in range(2))
    assert {k: v for k, v in a.items() if k not in TIMING_FIELDS} == {k: v for k, v in b.items() if k not in TIMING_FIELDS}
    assert a["margin_mode"] == "cross" and a["liquidations"] == 0


def test_a_failing_cell_is_an_error_row(tmp_path: Path) -> None:
    """A strategy raising in one cell: that row says why, with empty figures; the other cell is ok."""
    text = SWEEP.replace('name = "holder"\nparams = { qty = "0.05" }', f'name = "{HERE / "raising.py"}:Raising"').replace(
        "enter_after_s = [3600]", 'fail = ["no", "yes"]').replace("margin_mode = [\"isolated\", \"cross\"]", "")
    sweep = sweep_of(tmp_path, text)
    ok, failed = (run_cell(sweep, c, sweep.inputs[0]) for c in grid(sweep, sweep.inputs))
    assert ok["status"] == "ok" and ok["state_hash"]
    assert failed["status"] == "error"
    assert "told to fail" in failed["error"] and "\n" not in failed["error"]
    assert failed["state_hash"] == "" and failed["pnl"] == "" and failed["liquidations"] == 0
    assert set(OUTCOME_FIELDS) <= set(failed)


def test_a_scenario_cell_follows_the_named_account(tmp_path: Path) -> None:
    """A scenario sweep's row is the run of that scenario in the cell's mode, for the sweep's account."""
    from exsim.scenario.cli import resolve
    from exsim.scenario.runner import ScenarioRun
    from exsim.scenario.spec import load_scenario

    sweep = sweep_of(tmp_path, '[inputs]\nscenarios = ["liquidity-shock"]\naccount = "trader"\n'
                               '[axes]\nmargin_mode = ["isolated", "cross"]\n')
    rows = [run_cell(sweep, c, sweep.inputs[0]) for c in grid(sweep, sweep.inputs)]
    for row, mode in zip(rows, ("isolated", "cross")):
        s = ScenarioRun(load_scenario(resolve("liquidity-shock")), margin_mode=mode).run()
        assert row["state_hash"] == s["state_hash"]
        assert row["end_equity"] == s["accounts"][0]["remaining_balance"]
    assert rows[0]["liquidations"] == 1
    assert rows[0]["liquidation_kinds"] == "isolated=1 cross=0 partial=0 takeover=1 adl=0"
