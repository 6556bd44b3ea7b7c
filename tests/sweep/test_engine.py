"""The local engine (exsim.sweep.engine.run_sweep on processes): every cell's row in one
table in the grid's order, the same with any number of workers; a cell's failure, or its
process's death, is its row's and the sweep goes on."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from exsim.sweep.cells import columns, grid
from exsim.sweep.engine import run_sweep
from exsim.sweep.table import CSV_FILE, PARQUET_FILE, read_results, read_rows, write_results
from .grids import HOLDER_8, baseline, strategy_sweep, sweep_of, untimed


class TestLocalProcesses:
    def test_two_workers_give_the_table_of_one(self, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
        """The 8-cell grid on 2 processes: the same table as on 1, but for wall_s and cpu_s."""
        one = baseline(tmp_path_factory)
        table = run_sweep(sweep_of(tmp_path, HOLDER_8), tmp_path / "out", jobs=2, progress=False)
        assert table == tmp_path / "out" / PARQUET_FILE
        two = read_results(tmp_path / "out")
        assert untimed(two) == untimed(one)
        assert len(one) == 8 and all(r["status"] == "ok" for r in one)
        assert {r["liquidations"] for r in one} == {0, 1}  # (a grid that tells the cells apart)

    def test_the_table_is_in_the_grids_order(self, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
        """Rows come in the order the cells end; the table is in the grid's order, one row per cell."""
        sweep = sweep_of(tmp_path, HOLDER_8)
        assert [r["cell"] for r in baseline(tmp_path_factory)] == [c.id for c in grid(sweep, sweep.inputs)]

    def test_the_journal_has_one_compact_line_a_cell_in_the_rows_columns(self, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
        """rows.jsonl: a JSON object a line, its keys the row's columns in order, no spaces."""
        baseline(tmp_path_factory)
        out = tmp_path_factory.getbasetemp() / "holder-8-baseline" / "out"
        lines = (out / "rows.jsonl").read_text().splitlines()
        assert len(lines) == 8
        sweep = sweep_of(tmp_path, HOLDER_8)
        for line in lines:
            assert list(json.loads(line)) == columns(sweep)
            assert ", " not in line and '": ' not in line
        assert sorted(r["cell"] for r in read_rows(out)) == sorted(c.id for c in grid(sweep, sweep.inputs))

    def test_the_table_types_its_columns(self, tmp_path_factory: pytest.TempPathFactory) -> None:
        """Axis columns of whole numbers are ints, exact decimals stay text, timings are floats."""
        row = baseline(tmp_path_factory)[0]
        assert isinstance(row["leverage"], int) and isinstance(row["param.enter_after_s"], int)
        assert isinstance(row["margin_mode"], str) and isinstance(row["pnl"], str)
        assert isinstance(row["liquidations"], int) and isinstance(row["wall_s"], float)

    def test_a_failing_cell_is_an_error_row_and_the_others_run(self, tmp_path: Path) -> None:
        """A strategy raising in on_start for one value: that cell's row says why, the others are ok."""
        sweep = sweep_of(tmp_path, strategy_sweep("raising.py:Raising", "fail", ["no", "yes"]))
        run_sweep(sweep, tmp_path / "out", jobs=2, progress=False)
        rows = read_results(tmp_path / "out")
        assert [r["status"] for r in rows] == ["ok", "error", "ok", "error"]
        assert "told to fail" in rows[1]["error"] and rows[1]["state_hash"] == ""
        assert rows[0]["state_hash"] and rows[2]["state_hash"]

    def test_a_worker_that_dies_is_its_cells_error_row(self, tmp_path: Path) -> None:
        """A cell whose process is killed (as by the OOM killer): an error row naming the signal; the others' rows are whole."""
        sweep = sweep_of(tmp_path, strategy_sweep("dying.py:Dying", "die", ["no", "yes"]))
        run_sweep(sweep, tmp_path / "out", jobs=2, progress=False)
        rows = read_results(tmp_path / "out")
        assert [r["status"] for r in rows] == ["ok", "error", "ok", "error"]
        assert rows[1]["error"] == rows[3]["error"] == (
            "the worker process running this cell died (killed by SIGKILL (out of memory?))"
        )
        assert rows[0]["state_hash"] and rows[2]["state_hash"]

    def test_the_last_line_says_what_ran(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """Off a terminal there is no bar, only one last line on stderr: cells, ok, failed, rate."""
        sweep = sweep_of(tmp_path, strategy_sweep("raising.py:Raising", "fail", ["yes"]))
        run_sweep(sweep, tmp_path / "out", jobs=1)
        captured = capsys.readouterr()
        assert captured.out == ""
        lines = captured.err.splitlines()
        assert len(lines) == 1 and lines[0].startswith("sweep sweep: 2 cells, 0 ok, 2 failed; 2 run in ")
        assert lines[0].endswith("cells/min)")


class TestTable:
    ROWS = [
        {"cell": "b", "input": "x.csv", "leverage": 5, "param.q": "0.5", "status": "ok", "wall_s": 0.25},
        {"cell": "a", "input": "x.csv", "leverage": 20, "param.q": "1", "status": "error", "wall_s": 1.5},
    ]
    FIELDS = ["cell", "input", "leverage", "param.q", "status", "wall_s"]

    def test_parquet_keeps_the_rows_order_and_types(self, tmp_path: Path) -> None:
        """With pyarrow the table is results.parquet, read back as written."""
        assert write_results(tmp_path, self.ROWS, self.FIELDS) == tmp_path / PARQUET_FILE
        assert read_results(tmp_path) == self.ROWS

    def test_without_pyarrow_the_table_is_a_csv_read_back_the_same(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """pyarrow missing: results.csv, and reading it gives the rows parquet would (ints, floats, text)."""
        write_results(tmp_path, self.ROWS, self.FIELDS)
        monkeypatch.setitem(sys.modules, "pyarrow", None)
        assert write_results(tmp_path, self.ROWS, self.FIELDS) == tmp_path / CSV_FILE
        assert not (tmp_path / PARQUET_FILE).exists()  # (no stale table of the other format)
        assert read_results(tmp_path) == self.ROWS

    def test_a_text_axis_of_whole_numbers_stays_text_in_a_csv(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """A decimal-string axis that happens to hold "1" and "2" is text again when read from CSV (sweep.json says so)."""
        monkeypatch.setitem(sys.modules, "pyarrow", None)
        (tmp_path / "sweep.json").write_text(json.dumps({"axes": [{"name": "param.q", "values": ["1", "2"]}]}))
        rows = [{"cell": "a", "input": "x", "param.q": "1"}, {"cell": "b", "input": "x", "param.q": "2"}]
        write_results(tmp_path, rows, ["cell", "input", "param.q"])
        assert read_results(tmp_path) == rows
