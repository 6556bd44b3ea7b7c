"""Resuming a sweep (exsim.sweep.engine): the same command again skips the cells whose rows
are in OUT/rows.jsonl, so a sweep killed mid-way and run again gives the table of one that
never stopped; a torn last line is not a row; a folder holding another sweep is refused."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from exsim.errors import InputError
from exsim.sweep.engine import LOCK_FILE, SWEEP_FILE, _locked, run_sweep
from exsim.sweep.table import ROWS_FILE, read_results, read_rows

from .grids import HOLDER_8, baseline, exsim_command, strategy_sweep, sweep_of, untimed, write_sweep

#: how long a test waits for a sweep run as a command to write its first rows
WAIT_S = 120


def _lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def _start(args: list[str]) -> subprocess.Popen[bytes]:
    """``exsim ARGS`` in a process group of its own (so a test can kill it and its workers)."""
    return subprocess.Popen(exsim_command(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


def _wait_for_rows(process: subprocess.Popen[bytes], rows: Path, count: int) -> None:
    deadline = time.monotonic() + WAIT_S
    while _lines(rows) < count:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"no {count} rows in {WAIT_S} s"
        time.sleep(0.05)


class TestResume:
    def test_a_sweep_killed_mid_way_and_run_again_gives_the_uninterrupted_table(
        self, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
    ) -> None:
        """kill -9 of `exsim sweep` (and its workers) after 2 rows; the same sweep again runs the rest: the same table."""
        path = write_sweep(tmp_path, HOLDER_8)
        out = tmp_path / "out"
        process = _start(["sweep", str(path), "--jobs", "1", "--out", str(out)])
        try:
            _wait_for_rows(process, out / ROWS_FILE, 2)
        finally:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
        assert process.returncode == -signal.SIGKILL
        before = (out / ROWS_FILE).read_bytes()
        whole = before[: before.rfind(b"\n") + 1]
        assert 2 <= whole.count(b"\n") < 8
        run_sweep(sweep_of(tmp_path, HOLDER_8), out, jobs=2, progress=False)
        after = (out / ROWS_FILE).read_bytes()
        assert after.startswith(whole) and after.count(b"\n") == 8  # (the rows done were not run again)
        assert untimed(read_results(out)) == untimed(baseline(tmp_path_factory))

    def test_a_torn_last_line_is_cut_off_and_its_cell_runs_again(
        self, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
    ) -> None:
        """A journal ending in half a row (a kill mid-write): the half is dropped, that cell runs again."""
        sweep = sweep_of(tmp_path, strategy_sweep("raising.py:Raising", "fail", ["no"]))
        out = tmp_path / "out"
        run_sweep(sweep, out, jobs=1, progress=False)
        journal = (out / ROWS_FILE).read_bytes()
        first, second = journal.splitlines(keepends=True)
        (out / ROWS_FILE).write_bytes(first + second[: len(second) // 2])
        assert len(read_rows(out)) == 1  # (a reader leaves the half out too)
        run_sweep(sweep, out, jobs=1, progress=False)
        lines = (out / ROWS_FILE).read_bytes().splitlines(keepends=True)
        assert len(lines) == 2 and lines[0] == first
        assert untimed(read_rows(out)) == untimed([json.loads(line) for line in journal.splitlines()])

    def test_a_finished_sweep_run_again_runs_nothing(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """Every cell has its row: the journal is left as it is and the table written again from it."""
        sweep = sweep_of(tmp_path, strategy_sweep("raising.py:Raising", "fail", ["no"]))
        out = tmp_path / "out"
        run_sweep(sweep, out, jobs=1, progress=False)
        journal = (out / ROWS_FILE).read_bytes()
        (out / "results.parquet").unlink()
        run_sweep(sweep, out, jobs=1)
        assert (out / ROWS_FILE).read_bytes() == journal
        assert len(read_results(out)) == 2
        assert "0 run in" in capsys.readouterr().err

    def test_another_sweeps_folder_is_refused(self, tmp_path: Path) -> None:
        """A folder holding another sweep's rows: one error naming it and --force, before any cell runs."""
        out = tmp_path / "out"
        run_sweep(sweep_of(tmp_path, strategy_sweep("raising.py:Raising", "fail", ["no"])), out, jobs=1, progress=False)
        journal = (out / ROWS_FILE).read_bytes()
        other = sweep_of(tmp_path, strategy_sweep("raising.py:Raising", "fail", ["yes"]), "other.toml")
        with pytest.raises(InputError, match=r"holds the rows of another sweep \('sweep'.*--force"):
            run_sweep(other, out, jobs=1, progress=False)
        assert (out / ROWS_FILE).read_bytes() == journal

    def test_force_replaces_exsims_files_and_keeps_the_others(self, tmp_path: Path) -> None:
        """--force into another sweep's folder: its rows, table and reports go, a file of the user's stays."""
        out = tmp_path / "out"
        run_sweep(sweep_of(tmp_path, strategy_sweep("raising.py:Raising", "fail", ["no"])), out, jobs=1, progress=False)
        (out / "report").mkdir()
        (out / "report" / "old.png").write_bytes(b"x")
        (out / "notes.txt").write_text("mine")
        other = sweep_of(tmp_path, strategy_sweep("raising.py:Raising", "fail", ["yes"]), "other.toml")
        run_sweep(other, out, jobs=1, progress=False, force=True)
        assert [r["error"] != "" for r in read_rows(out)] == [True, True]
        assert not (out / "report").exists() and (out / "notes.txt").read_text() == "mine"
        assert '"name": "other"' in (out / SWEEP_FILE).read_text()

    def test_a_journal_without_its_sweep_file_is_refused(self, tmp_path: Path) -> None:
        """rows.jsonl but no sweep.json: not a folder exsim wrote; refused rather than mixed."""
        out = tmp_path / "out"
        out.mkdir()
        (out / ROWS_FILE).write_text('{"cell":"abc"}\n')
        with pytest.raises(InputError, match="no sweep.json"):
            run_sweep(sweep_of(tmp_path, strategy_sweep("raising.py:Raising", "fail", ["no"])), out, jobs=1, progress=False)

    def test_a_folder_in_use_by_another_sweep_is_refused(self, tmp_path: Path) -> None:
        """Two sweeps into one folder at once would run cells twice: the second is refused."""
        out = tmp_path / "out"
        out.mkdir()
        with _locked(out):
            with pytest.raises(InputError, match="another exsim sweep is running into this folder"):
                run_sweep(sweep_of(tmp_path, strategy_sweep("raising.py:Raising", "fail", ["no"])), out, jobs=1, progress=False)
        assert (out / LOCK_FILE).exists() and not (out / ROWS_FILE).exists()

    def test_ctrl_c_keeps_the_rows_done_and_says_how_to_resume(self, tmp_path: Path) -> None:
        """SIGINT to `exsim sweep` (as Ctrl-C sends the process group): exit 130, one line, rows kept, workers gone."""
        path = write_sweep(tmp_path, HOLDER_8)
        out = tmp_path / "out"
        process = _start(["sweep", str(path), "--jobs", "2", "--out", str(out)])
        try:
            _wait_for_rows(process, out / ROWS_FILE, 1)
            os.killpg(process.pid, signal.SIGINT)
            _, err = process.communicate(timeout=WAIT_S)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.communicate()
        assert process.returncode == 130
        done = len(read_rows(out))
        assert 1 <= done < 8
        assert err.decode().splitlines()[-1] == (
            f"exsim: interrupted: {done} of 8 cells done, their rows kept in {out / ROWS_FILE}; "
            f"run the same command again to resume"
        )
        assert _group_ends(process.pid)  # (no worker left running)


def _group_ends(pgid: int) -> bool:
    """True once no process of group ``pgid`` is left (waited for at most 10 s)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False
