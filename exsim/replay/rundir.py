"""Run directories that never mix two runs, and files never left half-written.

The policy (``--out DIR``; README "Run directories"):

* A run writes into ``DIR`` when it is new or empty, or when the exsim files in it are a
  run of the **same command** (same inputs, options and strategy: the run key), finished
  or not: re-running a command replaces its own run. Anything else — another command's
  run, or files exsim did not write — is refused with one line (a run that stopped on an
  error is not kept: the next command, the corrected one say, replaces it), unless ``force``: then
  exsim's own files (:data:`OWN_FILES`) are removed first and nothing else is touched.
  Whatever the case, the previous run's own files are gone before the new run writes,
  so old plots never stand beside new data. A resumed run (``--resume``) keeps the
  ``events.jsonl`` and snapshot it continues from.
* While a run writes, it holds an exclusive lock on ``DIR/.exsim.lock``
  (``fcntl.flock``, non-blocking; the file is removed when the run ends): a second run on
  the same ``DIR`` fails at once.
* ``DIR/INCOMPLETE`` exists from the start of a run until every file is final; a failed or
  interrupted run leaves it, with the reason (JSON). ``exsim report`` and ``exsim explain``
  read it (:func:`unfinished`) and say the run did not finish.
* Files written whole (``fills.csv``, ``timeseries.csv``, ``summary.json``, plots) go
  through :func:`atomic_write`: a temporary name in the same folder, renamed over the
  final name once complete. A write that fails (a full disk) removes the temporary file
  and raises an :class:`OSError` naming the final file. ``events.jsonl`` is appended as
  the run goes (a resumed run continues it); the ``INCOMPLETE`` marker covers it.
"""

from __future__ import annotations

import contextlib
import errno
import fnmatch
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from exsim.errors import InputError

MARKER = "INCOMPLETE"
LOCK = ".exsim.lock"
#: names (and patterns) of the files exsim writes in a run directory; nothing else is
#: ever removed from one
OWN_FILES = (
    "events.jsonl",
    "fills.csv",
    "timeseries.csv",
    "trades.csv",
    "positions.csv",
    "depth.csv",
    "summary.json",
    "instruments.json",
    "price*.png",
    "equity*.png",
    "margin_ratio*.png",
    MARKER,
    LOCK,
    "*.exsim-tmp",
)
CHECKPOINT_DIR = "checkpoint"  # OUT/checkpoint/replay.snapshot (and its temporary files)
_CHECKPOINT_FILES = ("replay.snapshot", ".replay.snapshot.*.tmp")

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: runs are not locked
    fcntl = None  # type: ignore[assignment]


def _own(name: str) -> bool:
    return any(fnmatch.fnmatchcase(name, pat) for pat in OWN_FILES)


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "w", **open_kw: Any) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path`` for writing; on a clean exit it is flushed
    and renamed over ``path`` (``os.replace``: readers see the old file or the new one,
    never a part). On an error the temporary file is removed and ``path`` is untouched;
    an :class:`OSError` (``ENOSPC``, ``EDQUOT``, ...) is raised again naming ``path``.

    ``mode``: ``"w"`` (text, UTF-8 unless ``encoding`` is given) or ``"wb"``.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.exsim-tmp")
    if "b" not in mode:
        open_kw.setdefault("encoding", "utf-8")
    try:
        with open(tmp, mode, **open_kw) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if exc.filename is None or exc.filename == str(tmp):
            raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from exc
        raise
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def unfinished(run_dir: str | Path) -> dict[str, Any] | None:
    """The ``INCOMPLETE`` marker's record of a run that did not finish (``reason`` at
    least), or None for a finished run (or a folder that is no run)."""
    path = Path(run_dir) / MARKER
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (ValueError, OSError):
        record = {}
    if not isinstance(record, dict):
        record = {}
    record.setdefault("reason", "it stopped before its end; the reason was not recorded")
    return record


def check_finished(run_dir: str | Path) -> None:
    """An :class:`InputError` when ``run_dir`` holds a run that did not finish."""
    record = unfinished(run_dir)
    if record is not None:
        hint = record.get("resume") or "run the command again"
        raise InputError(f"this run did not finish ({record['reason']}); its files are partial: {hint}", where=str(run_dir))


def _utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class RunDir:
    """One run's claim on its output folder (see the module doc for the policy).

    :meth:`claim` checks the folder, takes the lock and writes the ``INCOMPLETE`` marker;
    :meth:`finish` removes the marker and releases the lock; :meth:`abandon` records why
    the run stopped and releases the lock. O(files in the folder).
    """

    def __init__(self, path: str | Path, run_key: str, *, force: bool = False, resuming: bool = False) -> None:
        self.path = Path(path)
        self.run_key = run_key
        self.force = force
        self.resuming = resuming
        self._lock_file: IO[bytes] | None = None
        self.record: dict[str, Any] = {}
        self.created = False  # claim() made the folder

    # ------------------------------------------------------------------ start
    def claim(self) -> None:
        """Make the folder, lock it, check what it holds, clear the previous run's files
        (when allowed) and mark the run incomplete. Raises :class:`InputError` (one line)
        when the folder is another run's or is being written."""
        path = self.path
        if path.exists() and not path.is_dir():
            raise InputError("exists and is not a folder", where=str(path), field="--out")
        self.created = not path.exists()
        path.mkdir(parents=True, exist_ok=True)
        self._lock()
        try:
            self._check_contents()
            self._clear()
            self.record = {"reason": "running (or the process was killed)", "pid": os.getpid(), "started_utc": _utc_now(), "run_key": self.run_key}
            self.mark(self.record)
        except BaseException:
            self.release()
            raise

    def _lock(self) -> None:
        """Hold ``DIR/.exsim.lock`` exclusively, or fail at once. The file is removed when
        the run ends, so the lock is taken again if the file was replaced meanwhile (a
        lock on a removed file locks nothing)."""
        if fcntl is None:  # pragma: no cover
            return
        path = self.path / LOCK
        for _ in range(100):
            f = open(path, "a+b")
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                f.close()
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise InputError(
                        "another exsim run is writing this folder; wait for it to end, or choose another --out",
                        where=str(self.path),
                        field="--out",
                    ) from None
                raise
            try:
                same = os.fstat(f.fileno()).st_ino == os.stat(path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                self._lock_file = f
                return
            f.close()  # the run that held it ended and removed it: lock the new one
        raise InputError("the lock file keeps changing: another exsim run is starting here", where=str(self.path), field="--out")

    def _previous_key(self) -> str | None:
        """The run key of the exsim run in the folder (its marker's, else its summary's)."""
        for name in (MARKER, "summary.json"):
            p = self.path / name
            if p.is_file():
                try:
                    data = json.loads(p.read_text(encoding="utf-8") or "{}")
                except (ValueError, OSError):
                    return None
                return data.get("run_key") if isinstance(data, dict) else None
        return None

    def _previous_failed(self) -> bool:
        """Whether the folder's run stopped on an error (or never started): nothing of it is
        worth keeping, so the next command may replace it, corrected or not. An interrupted
        or killed run is not this: it may be resumed."""
        p = self.path / MARKER
        try:
            data = json.loads(p.read_text(encoding="utf-8") or "{}") if p.is_file() else {}
        except (ValueError, OSError):
            return False
        reason = data.get("reason") if isinstance(data, dict) else None
        return isinstance(reason, str) and (reason.startswith("failed: ") or reason == "the run could not start")

    def _check_contents(self) -> None:
        names = sorted(p.name for p in self.path.iterdir() if p.name != LOCK)
        if not names or self.force:
            return
        foreign = [n for n in names if not _own(n) and not (n == CHECKPOINT_DIR and (self.path / n).is_dir())]
        if foreign:
            shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
            raise InputError(
                f"not empty and not an exsim run ({shown}); choose a new or empty folder, or --force to write beside "
                "those files (exsim replaces only its own)",
                where=str(self.path),
                field="--out",
            )
        previous = self._previous_key()
        has_run_files = any(n != CHECKPOINT_DIR for n in names)
        if has_run_files and previous != self.run_key and not self._previous_failed():
            raise InputError(
                "holds another run (other inputs, options or strategy); choose another --out, or --force to replace it",
                where=str(self.path),
                field="--out",
            )

    def _clear(self) -> None:
        """Remove the previous run's own files (a resumed run keeps what it continues)."""
        # (written as the run goes: exsim.replay.recorder.STREAMED_CSVS)
        keep = {"events.jsonl", "fills.csv", "timeseries.csv", "trades.csv", "positions.csv", "depth.csv"} if self.resuming else set()
        for p in self.path.iterdir():
            if p.name == LOCK or p.name in keep or not _own(p.name):
                continue
            p.unlink()
        ck = self.path / CHECKPOINT_DIR
        if ck.is_dir() and not self.resuming:
            for p in ck.iterdir():
                if any(fnmatch.fnmatchcase(p.name, pat) for pat in _CHECKPOINT_FILES):
                    p.unlink()
            with contextlib.suppress(OSError):
                ck.rmdir()  # (only when it is now empty)

    # ------------------------------------------------------------------ end
    def mark(self, record: dict[str, Any]) -> None:
        """Write the ``INCOMPLETE`` marker with ``record`` (at least ``reason``)."""
        with atomic_write(self.path / MARKER) as f:
            json.dump(record, f, indent=1)
            f.write("\n")

    def finish(self) -> None:
        """Every file is final: remove the marker, release the lock."""
        (self.path / MARKER).unlink(missing_ok=True)
        self.release()

    def abandon(self, reason: str, **more: Any) -> None:
        """The run stopped before its end: say why in the marker, release the lock. Never
        raises (the run's own error is the one to report)."""
        with contextlib.suppress(OSError):
            self.mark({**self.record, "reason": reason, "stopped_utc": _utc_now(), **more})
        self.release()

    def not_started(self) -> None:
        """The run failed before it ran (a refused option or snapshot): a folder
        :meth:`claim` made is removed again (it holds only the marker); else as
        :meth:`abandon`."""
        if not self.created:
            self.abandon("the run could not start")
            return
        for p in self.path.iterdir():
            if p.name != LOCK and _own(p.name) and p.is_file():
                p.unlink()  # (a folder this run made holds only what it wrote)
        self.release()
        with contextlib.suppress(OSError):
            self.path.rmdir()  # (only if empty)

    def release(self) -> None:
        f = self._lock_file
        if f is not None:
            self._lock_file = None
            with contextlib.suppress(OSError):
                (self.path / LOCK).unlink()  # (before the flock goes: see _lock)
            with contextlib.suppress(OSError):
                f.close()  # (closing releases the flock)

