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


class _Ref:
    """An object reference (identity-hashed, as Ray's are)."""

    def __init__(self, value: object) -> None:
        self.value = value


class _FakeRay:
    """Ray's API as the engine uses it, in this process: tasks run when their row is
    fetched; how many were in flight at once is recorded."""

    class exceptions:  # noqa: N801 (as ray.exceptions)
        class RayError(Exception):
            pass

        class RayTaskError(RayError):
            pass

        class WorkerCrashedError(RayError):
            pass

    def __init__(self, cpus: int) -> None:
        self.cpus = cpus
        self.in_flight: list[_Ref] = []
        self.peak = 0
        self.submitted = 0

    def is_initialized(self) -> bool:
        return True  # (a Ray joined before: the engine neither starts nor stops it)

    def cluster_resources(self) -> dict[str, float]:
        return {"CPU": float(self.cpus)}

    def put(self, value: object) -> _Ref:
        return _Ref(value)

    def remote(self, **options: object):
        fake = self

        class Task:
            def __init__(self, fn) -> None:
                self.fn = fn

            def remote(self, *args: object) -> _Ref:
                resolved = tuple(a.value if isinstance(a, _Ref) else a for a in args)
                ref = _Ref((self.fn, resolved))
                fake.submitted += 1
                fake.in_flight.append(ref)
                fake.peak = max(fake.peak, len(fake.in_flight))
                return ref

        return Task

    def wait(self, refs: list, num_returns: int, timeout: float | None = None) -> tuple[list, list]:
        return refs[:num_returns], refs[num_returns:]

    def get(self, ref: _Ref) -> dict:
        self.in_flight.remove(ref)
        fn, args = ref.value
        return fn(*args)


def _quick_row(sweep, cell, group, source) -> dict:
    from exsim.sweep.cells import empty_outcome

    return {"cell": cell.id, "input": cell.input, **cell.values, **empty_outcome(), "status": "ok"}


class TestTasksInFlight:
    def test_at_most_two_tasks_a_cpu_are_in_flight(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """40 cells on a 3-CPU cluster: never more than 6 tasks submitted and not yet collected; every cell gets its row."""
        import exsim.sweep.ray_engine as ray_engine

        fake = _FakeRay(cpus=3)
        monkeypatch.setitem(sys.modules, "ray", fake)
        monkeypatch.setattr(ray_engine, "_cell_task", _quick_row)
        text = strategy_sweep("raising.py:Raising", "fail", ["no"]).replace("leverage = [5, 10]", "leverage = { from = 1, to = 40, step = 1 }")
        run_sweep(sweep_of(tmp_path, text), tmp_path / "out", jobs=1, ray_address="ray://cluster:10001", progress=False)
        assert fake.submitted == 40 and fake.peak == ray_engine.IN_FLIGHT_PER_CPU * 3 == 6
        assert [r["leverage"] for r in read_results(tmp_path / "out")] == list(range(1, 41))
