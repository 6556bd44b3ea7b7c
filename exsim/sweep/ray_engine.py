"""Running a sweep's cells on Ray (the optional extra: ``pip install 'exsim[ray]'``).

``exsim sweep SWEEP.toml --ray`` starts a Ray of its own on this machine (``--jobs`` CPUs,
no dashboard, every address on the loopback) and stops it at the end; ``--ray ADDRESS``
joins a running cluster (``ray start --head`` on one machine, ``ray start --address ...``
on the others; each needs exsim installed; a strategy file and any input the cache could
not hold must be at the same paths on every node). A Ray this process had already joined is used as it is and left running.

The sweep and each input's cached columns are put in Ray's object store once (the days
of one file share them); a node's workers read them from its shared memory, zero-copy,
without the cache folder or the file. Every task gets them by reference with its cell and returns the cell's row, which the driver writes
exactly as the local engine does (:mod:`.engine`): the rows are the same, whichever engine
ran them. At most :data:`IN_FLIGHT_PER_CPU` tasks per CPU of the cluster are submitted at
a time, so a million-cell grid is not a million tasks in the scheduler. A task whose
worker process or node dies is not retried: its cell gets an error row, like locally.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Iterable, Sequence

from exsim.errors import InputError
from exsim.sweep.cells import Cell, RowSink, failed_row
from exsim.sweep.spec import InputGroup, Sweep

#: tasks in flight per CPU of the cluster (one running, one queued behind it)
IN_FLIGHT_PER_CPU = 2
MISSING = "--ray needs the ray extra: pip install 'exsim[ray]'"


def import_ray(*, local: bool = False) -> Any:
    """The ``ray`` module, or the :class:`InputError` saying how to install it.

    ``local``: a Ray of our own is to be started on this machine: it is told, before its
    first import (which reads it), to keep every address on the loopback (Ray's own
    setting for laptops), and not to send usage statistics. The user's settings win.
    """
    if local:
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        import ray
    except ImportError:
        raise InputError(MISSING) from None
    return ray


def _cell_task(sweep: Sweep, cell: Cell, group: InputGroup, source: Any) -> dict[str, Any]:
    """A Ray task: one cell's row (the sweep and the source come resolved from the object store)."""
    from exsim.sweep.run import run_cell

    return run_cell(sweep, cell, group, source=source)


def start(address: str | bool, jobs: int) -> bool:
    """Join Ray, or start a local one (``address`` True); True when this call did (and so
    the sweep must shut it down), False when this process was already in a Ray."""
    ray = import_ray(local=address is True)
    if ray.is_initialized():
        return False
    quiet = {"log_to_driver": False, "logging_level": logging.WARNING}
    if address is True:
        ray.init(num_cpus=jobs, include_dashboard=False, **quiet)
    else:
        ray.init(address=str(address), **quiet)
    return True


def run_on_ray(
    sweep: Sweep,
    cells: Sequence[Cell],
    groups: Sequence[InputGroup],
    sources: dict[str, Any],
    *,
    jobs: int,
    address: str | bool | None,
    on_row: RowSink,
) -> None:
    """Run ``cells`` as Ray tasks, handing each row to ``on_row`` (in this process, in the
    order the cells end). Ray is started or joined here, and shut down at the end if it
    was started or joined here (also on Ctrl-C, after cancelling the tasks in flight)."""
    ray = import_ray(local=address is True)
    started = start(True if address is None else address, jobs)
    try:
        task = ray.remote(num_cpus=1, max_retries=0)(_cell_task)
        sweep_ref = ray.put(sweep)
        by_name = {g.name: g for g in groups}
        source_refs = _put_sources(ray, sources, by_name)
        cpus = int(ray.cluster_resources().get("CPU", jobs)) or jobs
        limit = IN_FLIGHT_PER_CPU * max(cpus, 1)
        # rows are collected a batch at a time: one ray.wait over n refs costs O(n), so a
        # wait per row would be O(n) a row on a big cluster; a quarter of the CPUs' worth
        # (or what is ready within a second) keeps it O(1) a row and every CPU fed
        batch = max(1, cpus // 4)
        pending = list(reversed(cells))  # popped from the end: the grid's order
        in_flight: dict[Any, Cell] = {}
        try:
            while pending or in_flight:
                while pending and len(in_flight) < limit:
                    cell = pending.pop()
                    ref = task.remote(sweep_ref, cell, by_name[cell.input], source_refs[cell.input])
                    in_flight[ref] = cell
                ready, _ = ray.wait(list(in_flight), num_returns=min(batch, len(in_flight)), timeout=1.0)
                for ref in ready:
                    cell = in_flight.pop(ref)
                    on_row(_row(ray, ref, cell))
        except BaseException:
            for ref in in_flight:
                try:
                    ray.cancel(ref, force=True)
                except Exception:  # (already finished, or the cluster is gone)
                    pass
            raise
    finally:
        if started:
            ray.shutdown()


def _put_sources(ray: Any, sources: dict[str, Any], names: Iterable[str]) -> dict[str, Any]:
    """Each input's cached columns put in the object store once (the days of one file
    share them), as references the tasks take: a node's workers read them from its
    shared memory, zero-copy, whether or not it has the cache folder."""
    from exsim.sweep.cache import GroupSource, in_memory

    refs: dict[Any, Any] = {}
    out = {}
    for name in names:
        source = sources.get(name)
        key = (source.files, source.caches) if isinstance(source, GroupSource) else None
        if key not in refs:
            refs[key] = ray.put(in_memory(source) if isinstance(source, GroupSource) else source)
        out[name] = refs[key]
    return out


def _row(ray: Any, ref: Any, cell: Cell) -> dict[str, Any]:
    """The task's row, or an error row when the task failed outside the cell's own run."""
    from exsim.sweep.run import error_line

    try:
        return dict(ray.get(ref))
    except ray.exceptions.WorkerCrashedError:
        return failed_row(cell, "the worker process running this cell died (Ray: worker crashed)")
    except ray.exceptions.RayTaskError as exc:  # (run_cell keeps a cell's own failures: a bug's)
        return failed_row(cell, error_line(getattr(exc, "cause", None) or exc))
    except ray.exceptions.RayError as exc:  # node died, object lost, out of memory...
        return failed_row(cell, error_line(exc))
