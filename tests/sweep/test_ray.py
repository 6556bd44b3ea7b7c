"""The Ray engine (exsim.sweep.ray_engine): the same cells give the same table as on local
processes, on a Ray started for the sweep (2 CPUs, loopback only) and stopped after it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from exsim.cli import main
from exsim.errors import InputError
from exsim.sweep.engine import run_sweep
from exsim.sweep.ray_engine import MISSING, import_ray
from exsim.sweep.table import read_results

from .grids import HOLDER_8, baseline, strategy_sweep, sweep_of, untimed, write_sweep

ray = import_ray(local=True)  # (as the engine imports it for a Ray of its own: on the loopback)


class TestRay:
    def test_a_local_ray_gives_the_table_of_local_processes(self, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
        """--ray: the 8-cell grid on a Ray of 2 CPUs started here gives the 1-process table; Ray is stopped after."""
        assert not ray.is_initialized()
        run_sweep(sweep_of(tmp_path, HOLDER_8), tmp_path / "out", jobs=2, ray_address=True, progress=False)
        assert untimed(read_results(tmp_path / "out")) == untimed(baseline(tmp_path_factory))
        assert not ray.is_initialized()

    def test_a_ray_worker_that_dies_is_its_cells_error_row(self, tmp_path: Path) -> None:
        """A task whose worker process is killed is not retried: its cell's row is an error, the others are ok."""
        sweep = sweep_of(tmp_path, strategy_sweep("dying.py:Dying", "die", ["no", "yes"]))
        run_sweep(sweep, tmp_path / "out", jobs=2, ray_address=True, progress=False)
        rows = read_results(tmp_path / "out")
        assert [r["status"] for r in rows] == ["ok", "error", "ok", "error"]
        assert rows[1]["error"].startswith("the worker process running this cell died")
        assert rows[0]["state_hash"] and rows[2]["state_hash"]
        assert not ray.is_initialized()

    def test_without_ray_the_option_is_one_line_before_any_work(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """ray not installed: --ray is refused with how to install it, and no folder is made."""
        monkeypatch.setitem(sys.modules, "ray", None)
        sweep = sweep_of(tmp_path, strategy_sweep("raising.py:Raising", "fail", ["no"]))
        with pytest.raises(InputError) as raised:
            run_sweep(sweep, tmp_path / "out", jobs=1, ray_address=True, progress=False)
        assert str(raised.value) == MISSING == "--ray needs the ray extra: pip install 'exsim[ray]'"
        assert not (tmp_path / "out").exists()

    def test_without_ray_the_command_says_so_in_one_line(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """`exsim sweep FILE --ray` without the extra: exit 2 and exsim's one error line."""
        monkeypatch.setitem(sys.modules, "ray", None)
        path = write_sweep(tmp_path, strategy_sweep("raising.py:Raising", "fail", ["no"]))
        assert main(["sweep", str(path), "--ray", "--out", str(tmp_path / "out")]) == 2
        assert capsys.readouterr().err == "exsim: error: --ray needs the ray extra: pip install 'exsim[ray]'\n"
