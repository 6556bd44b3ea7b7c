"""Running a sweep's cells: on local processes (here) or on Ray (:mod:`.ray_engine`), into
one folder, resumably.

The folder (``OUT``) holds ``sweep.json`` (the sweep's canonical form and fingerprint:
whose folder it is), ``rows.jsonl`` (the journal: a row appended, flushed and fsync'd as
each cell ends) and, at the end, the table (:mod:`.table`). Running the same sweep into
the same folder again resumes it: the cells whose rows are in the journal are skipped, a
torn last line (a kill mid-write) is cut off and its cell runs again, so a kill -9 loses
at most the cells in flight. Another sweep's folder is refused unless ``force``.

Rows do not depend on where or in which order the cells ran: a cell's row is
:func:`exsim.sweep.run.run_cell`'s, written by this process alone, and the table is in
the grid's order. Only the timing columns differ between two runs.

Local processes: a :class:`~concurrent.futures.ProcessPoolExecutor` of ``jobs`` spawned
workers, each handed the sweep once (its initializer), then cells. A worker that dies (a
segfault, the kernel's OOM killer) breaks the pool: the cells then in flight run again one
by one, each in a process of its own, so the one that kills its process gets an error
row naming the signal and the others their rows, and the sweep goes on with a new pool.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import shutil
import signal
import sys
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, Iterator, Sequence

from exsim.errors import InputError
from exsim.sweep.cells import Cell, RowSink, columns, failed_row, grid
from exsim.sweep.spec import InputGroup, Sweep
from exsim.sweep.table import CSV_FILE, PARQUET_FILE, ROWS_FILE, encode_row, scan_rows, write_results

SWEEP_FILE = "sweep.json"
LOCK_FILE = "sweep.lock"
#: what ``force`` removes from a folder holding another sweep (never anything else; the
#: input cache, OUT/cache, is kept: it is keyed by the files' contents, valid for any sweep)
OWN_FILES = (SWEEP_FILE, ROWS_FILE, PARQUET_FILE, CSV_FILE, PARQUET_FILE + ".tmp", CSV_FILE + ".tmp", SWEEP_FILE + ".tmp")
OWN_DIRS = ("report", "cells")
#: futures kept in flight per worker (enough to keep each busy; a million cells are not
#: all submitted at once)
IN_FLIGHT_PER_WORKER = 2

class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C during a sweep: ``done`` of ``total`` cells have rows in ``out``'s journal."""

    def __init__(self, done: int, total: int, out: Path) -> None:
        super().__init__(done, total, str(out))
        self.done = done
        self.total = total
        self.out = out

    def line(self) -> str:
        """The line the command line prints."""
        return (
            f"interrupted: {self.done} of {self.total} cells done, their rows kept in {self.out / ROWS_FILE}; "
            f"run the same command again to resume"
        )


def run_sweep(
    sweep: Sweep,
    out: str | Path,
    *,
    jobs: int,
    ray_address: str | None | bool = False,
    use_cache: bool = True,
    force: bool = False,
    progress: bool = True,
) -> Path:
    """Run every cell of ``sweep`` that has no row in ``out`` yet; write the table; return its path.

    ``jobs``: local worker processes, or the CPUs of a local Ray. ``ray_address``: False or
    None: local processes; True: start a local Ray; a string: join that Ray cluster.
    ``use_cache``: parse each input once into ``out/cache`` (:mod:`exsim.sweep.cache`).
    ``force``: start afresh in a folder holding a sweep (exsim's files there are removed).
    ``progress``: a bar on stderr while the cells run (a terminal only) and a last line.

    Raises :class:`InputError` for a folder holding another sweep or in use by another
    ``exsim sweep``, :class:`SweepInterrupted` on Ctrl-C (the rows done are kept).

    The local workers are spawned (fresh interpreters, as on macOS and Windows): a script
    of yours that calls this needs Python's ``if __name__ == "__main__":`` guard, or each
    worker runs the script again and dies (every cell an error row).
    """
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, not {jobs}")
    on_ray = ray_address is not None and ray_address is not False
    if on_ray:
        from exsim.sweep.ray_engine import import_ray

        import_ray(local=ray_address is True)  # before any work: a missing extra is one line
    out = Path(out)
    with _claimed(sweep, out, force=force):
        groups, sources, notes = _prepare(sweep, out, use_cache)
        if progress:
            for note in notes:
                print(f"sweep {sweep.name}: {note}", file=sys.stderr)
        cells = grid(sweep, groups)
        fields = columns(sweep)
        with RowLog(out / ROWS_FILE, fields) as log:
            done: dict[str, dict[str, Any]] = {}
            for row in log.rows:
                done.setdefault(row["cell"], row)
            ids = {c.id for c in cells}
            todo = [c for c in cells if c.id not in done]
            resumed = len(ids) - len(todo)
            failed = sum(1 for i in ids if i in done and done[i].get("status") != "ok")
            with SweepProgress(sweep.name, len(cells), resumed, failed, show=progress) as bar:

                def on_row(row: dict[str, Any]) -> None:
                    log.append(row)
                    done.setdefault(row["cell"], row)
                    bar.advance(row.get("status") == "ok")

                try:
                    if todo and on_ray:
                        from exsim.sweep.ray_engine import run_on_ray

                        run_on_ray(sweep, todo, groups, sources, jobs=jobs, address=ray_address, on_row=on_row)
                    elif todo:
                        run_local(sweep, todo, groups, sources, jobs=jobs, on_row=on_row)
                except KeyboardInterrupt:
                    bar.stop()
                    # (counted from the journal: Ctrl-C may land between a row's write and its count)
                    kept = {row["cell"] for row in scan_rows(log.path)[0]}
                    raise SweepInterrupted(len(ids & kept), len(cells), out) from None
        table = write_results(out, [done[c.id] for c in cells], fields)
    bar.final_line()
    return table


# ---------------------------------------------------------------------- the folder
@contextlib.contextmanager
def _claimed(sweep: Sweep, out: Path, *, force: bool) -> Iterator[None]:
    """Make ``out`` this sweep's folder for the duration: locked against a second
    ``exsim sweep`` running into it, ``sweep.json`` checked (another sweep's folder is
    refused unless ``force``; ``force`` starts afresh) and written."""
    out.mkdir(parents=True, exist_ok=True)
    with _locked(out):
        meta = out / SWEEP_FILE
        stored = None
        if meta.exists():
            try:
                stored = _stored_sweep(meta)
            except InputError:
                if not force:
                    raise
                stored = {"fingerprint": ""}  # (unreadable: replaced, as another sweep's)
        if stored is not None and stored.get("fingerprint") != sweep.fingerprint and not force:
            raise InputError(
                f"holds the rows of another sweep ({stored.get('name', '?')!r}, fingerprint "
                f"{str(stored.get('fingerprint'))[:12]}; this one is {sweep.fingerprint[:12]}): choose another --out, "
                f"or --force to replace exsim's files there",
                where=str(out),
            )
        if stored is None and (out / ROWS_FILE).exists() and not force:
            raise InputError(
                f"holds a {ROWS_FILE} but no {SWEEP_FILE}: not a sweep folder exsim wrote; choose another --out, "
                f"or --force to replace exsim's files there",
                where=str(out),
            )
        if force:
            _clear(out)
        if stored is None or force or stored.get("fingerprint") != sweep.fingerprint:
            tmp = meta.with_name(meta.name + ".tmp")
            tmp.write_text(json.dumps(sweep.canonical(), indent=2) + "\n", encoding="utf-8")
            os.replace(tmp, meta)
        yield


def _stored_sweep(meta: Path) -> dict[str, Any]:
    try:
        stored = json.loads(meta.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise InputError(f"not a sweep's JSON ({exc}); --force replaces it", where=str(meta)) from None
    if not isinstance(stored, dict) or not isinstance(stored.get("fingerprint"), str):
        raise InputError("has no 'fingerprint': not a sweep.json exsim wrote; --force replaces it", where=str(meta))
    return stored


def _clear(out: Path) -> None:
    """Remove exsim's files from a sweep folder (:data:`OWN_FILES`, :data:`OWN_DIRS`)."""
    for name in OWN_FILES:
        (out / name).unlink(missing_ok=True)
    for name in OWN_DIRS:
        if (out / name).is_dir() and not (out / name).is_symlink():
            shutil.rmtree(out / name)


@contextlib.contextmanager
def _locked(out: Path) -> Iterator[None]:
    """An exclusive lock on ``out/sweep.lock`` (POSIX; elsewhere no lock)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover (Windows)
        yield
        return
    with open(out / LOCK_FILE, "a+") as f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InputError("another exsim sweep is running into this folder", where=str(out)) from None
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def _prepare(sweep: Sweep, out: Path, use_cache: bool) -> tuple[list[InputGroup], dict[str, Any], tuple[str, ...]]:
    """The sweep's input groups (a day split expanded), each one's cache handle, and the
    cache's notes (an input it could not cache...)."""
    try:
        from exsim.sweep.cache import prepare
    except ImportError:  # (until the cache slice lands: every cell reads its files)
        return list(sweep.inputs), {}, ()
    prepared = prepare(sweep, out, use_cache=use_cache)
    return list(prepared.groups), dict(prepared.sources), tuple(getattr(prepared, "notes", ()))


class RowLog:
    """``rows.jsonl``, opened to append: the rows already there (:attr:`rows`; a torn last
    line is cut off the file), then one row a call to :meth:`append`, flushed to the disk
    before it returns (a kill -9 after it cannot lose the row)."""

    def __init__(self, path: Path, fields: Sequence[str]) -> None:
        self.path = path
        self.fields = list(fields)
        self.rows: list[dict[str, Any]] = []
        if path.exists():
            self.rows, end = scan_rows(path)
            if end < path.stat().st_size:
                with open(path, "r+b") as f:
                    f.truncate(end)
                    os.fsync(f.fileno())
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def append(self, row: dict[str, Any]) -> None:
        """Write one row and fsync. O(row)."""
        data = memoryview(encode_row(row, self.fields))
        while data:
            data = data[os.write(self.fd, data) :]
        os.fsync(self.fd)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> RowLog:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def death(exitcode: int | None) -> str:
    """Words for how a process ended, from its exit code.

    >>> death(-9)
    'killed by SIGKILL (out of memory?)'
    >>> death(3)
    'exit status 3'
    """
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        return f"killed by {name}" + (" (out of memory?)" if -exitcode == signal.SIGKILL else "")
    return f"exit status {exitcode}"


# ---------------------------------------------------------------------- local processes
_WORKER: dict[str, Any] = {}  # a worker process's sweep, groups and cache handles (its initializer's)


def _init_worker(sweep: Sweep, groups: list[InputGroup], sources: dict[str, Any]) -> None:
    # Ctrl-C in a terminal reaches the whole process group: the parent stops the workers
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _WORKER.update(sweep=sweep, groups={g.name: g for g in groups}, sources=sources)


def _worker_cell(cell: Cell) -> dict[str, Any]:
    from exsim.sweep.run import run_cell

    w = _WORKER
    return run_cell(w["sweep"], cell, w["groups"][cell.input], source=w["sources"].get(cell.input))


def _alone(conn: Any, sweep: Sweep, groups: list[InputGroup], sources: dict[str, Any], cell: Cell) -> None:
    _init_worker(sweep, groups, sources)
    conn.send(_worker_cell(cell))
    conn.close()


def run_local(
    sweep: Sweep,
    cells: Sequence[Cell],
    groups: Sequence[InputGroup],
    sources: dict[str, Any],
    *,
    jobs: int,
    on_row: RowSink,
) -> None:
    """Run ``cells`` on ``jobs`` worker processes, handing each row to ``on_row`` (in this
    process, in the order the cells end). A process's death is its cell's error row."""
    context = multiprocessing.get_context("spawn")  # (no fork of a process with threads: rich's bar has one)
    pending = deque(cells)
    args = (sweep, list(groups), sources)
    while pending:
        workers = min(jobs, len(pending))
        suspects: list[Cell] = []
        with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker, initargs=args) as pool:
            in_flight: dict[Future[dict[str, Any]], Cell] = {}
            try:
                while pending or in_flight:
                    while pending and len(in_flight) < IN_FLIGHT_PER_WORKER * workers:
                        cell = pending.popleft()
                        in_flight[pool.submit(_worker_cell, cell)] = cell
                    finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                    broken = False
                    for future in finished:
                        cell = in_flight.pop(future)
                        try:
                            row = future.result()
                        except BrokenProcessPool:
                            suspects.append(cell)
                            broken = True
                        except Exception as exc:  # not the cell's failure (run_cell keeps those): still its row's
                            from exsim.sweep.run import error_line

                            on_row(failed_row(cell, error_line(exc)))
                        else:
                            on_row(row)
                    if broken:  # which cell killed its worker is not known: those not done run alone
                        for future, cell in in_flight.items():
                            if future.done() and future.exception() is None:
                                on_row(future.result())
                            else:
                                suspects.append(cell)
                        break
            except BaseException:
                _stop_workers(pool)
                raise
        for cell in suspects:
            on_row(_run_alone(context, args, cell))


def _run_alone(context: Any, args: tuple[Any, ...], cell: Cell) -> dict[str, Any]:
    """``cell`` in a process of its own: its row, or an error row if the process dies."""
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=_alone, args=(send, *args, cell), daemon=True)
    process.start()
    send.close()
    try:
        try:
            row: dict[str, Any] | None = receive.recv()
        except EOFError:
            row = None
        process.join()
    except BaseException:
        process.terminate()
        process.join()
        raise
    finally:
        receive.close()
    if row is None:
        return failed_row(cell, f"the worker process running this cell died ({death(process.exitcode)})")
    return row


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """Terminate a pool's processes now (Ctrl-C: the cells in flight are dropped)."""
    terminate = getattr(pool, "terminate_workers", None)  # Python 3.14+
    if terminate is not None:
        with contextlib.suppress(Exception):
            terminate()
    else:
        for process in list((getattr(pool, "_processes", None) or {}).values()):
            with contextlib.suppress(Exception):
                process.terminate()
    pool.shutdown(wait=False, cancel_futures=True)


# ---------------------------------------------------------------------- progress
class SweepProgress:
    """A rich bar over the cells on stderr (a terminal only): done/total, failed, cells/min,
    ETA; and one last line, wherever stderr goes (``show``: False prints nothing)."""

    def __init__(self, name: str, total: int, done: int, failed: int, *, show: bool) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.console = Console(stderr=True)
        self.show = show
        self.name, self.total, self.resumed = name, total, done
        self.done, self.failed, self.new = done, failed, 0
        self.t0 = time.monotonic()
        self.progress = Progress(
            TextColumn(f"[bold]sweep {name}"),
            BarColumn(bar_width=None),
            MofNCompleteColumn(),
            TextColumn("{task.fields[failed]} failed  {task.fields[rate]}"),
            TimeElapsedColumn(),
            TextColumn("ETA {task.fields[eta]}"),
            console=self.console,
            disable=not (show and self.console.is_terminal),
            transient=True,  # (the last line says it all)
        )
        self.task = self.progress.add_task(name, total=total, completed=done, failed=failed, rate="", eta="?")

    def __enter__(self) -> SweepProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def stop(self) -> None:
        self.progress.stop()

    def advance(self, ok: bool) -> None:
        """One more cell ended (``ok``: without an error)."""
        self.done += 1
        self.new += 1
        self.failed += 0 if ok else 1
        rate = self.new / max(time.monotonic() - self.t0, 1e-9)
        left = (self.total - self.done) / rate
        eta = f"{int(left) // 3600}:{int(left) % 3600 // 60:02d}:{int(left) % 60:02d}"
        self.progress.update(self.task, completed=self.done, failed=self.failed, rate=f"{60 * rate:,.1f} cells/min", eta=eta)

    def final_line(self) -> None:
        if not self.show:
            return
        wall = time.monotonic() - self.t0
        ran = f"{self.new} run in {wall:,.1f} s ({60 * self.new / max(wall, 1e-9):,.1f} cells/min)"
        kept = f", {self.resumed} from an earlier run" if self.resumed else ""
        self.console.print(
            f"sweep {self.name}: {self.total} cells, {self.total - self.failed} ok, {self.failed} failed; {ran}{kept}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )

