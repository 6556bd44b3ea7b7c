"""Progress of long commands (``replay``, ``report``, ``convert``): how far through their
input files they are, in bytes, for a percentage and an ETA.

Readers decompress as they go, so rows tell nothing of how much is left; the bytes the
process has read of each input file do (for a compressed file, compressed bytes: the
share of the file read). They are taken from the operating system's file offsets
(``/proc/self/fdinfo`` on Linux), so any reader — whichever library opens the file — is
measured without its help. Where the offsets cannot be read, :meth:`BytesRead.fraction`
is None and the bar shows rows and simulated time only.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

_FD_DIR = "/proc/self/fd"


class BytesRead:
    """The share of ``paths`` (bytes) this process has read so far. O(open files) a call."""

    def __init__(self, paths: Iterable[str | Path]) -> None:
        self.sizes: dict[str, int] = {}
        for p in paths:
            try:
                self.sizes[os.path.realpath(p)] = os.path.getsize(p)
            except OSError:
                continue
        self.total = sum(self.sizes.values())
        self.seen: set[str] = set()  # files found open once: closed again means read to the end
        self.usable = bool(self.total) and os.path.isdir(_FD_DIR)

    def positions(self) -> dict[str, int]:
        """``{path: offset}`` of the open descriptors on the files (the furthest, if several)."""
        out: dict[str, int] = {}
        try:
            fds = os.listdir(_FD_DIR)
        except OSError:
            return out
        for fd in fds:
            try:
                target = os.readlink(f"{_FD_DIR}/{fd}")
                if target not in self.sizes:
                    continue
                with open(f"/proc/self/fdinfo/{fd}") as f:
                    pos = int(f.readline().split()[1])  # "pos:\t<offset>"
            except (OSError, ValueError, IndexError):
                continue
            out[target] = max(out.get(target, 0), pos)
        return out

    def fraction(self) -> float | None:
        """Bytes read / bytes of the files, in [0, 1]; None where it cannot be known."""
        if not self.usable:
            return None
        pos = self.positions()
        done = 0
        for path, size in self.sizes.items():
            if path in pos:
                self.seen.add(path)
                done += min(pos[path], size)
            elif path in self.seen:
                done += size
        return done / self.total


class Bar:
    """A rich progress bar on stderr with percent and ETA when the share done is known."""

    def __init__(self, title: str, *, show: bool, fields: str = "") -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self.show = show and sys.stderr.isatty()
        columns: list[Any] = [TextColumn("[bold]{task.description}"), BarColumn(bar_width=None), TaskProgressColumn()]
        if fields:
            columns.append(TextColumn(fields))
        columns += [TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn()]
        self.progress = Progress(*columns, console=Console(stderr=True), disable=not self.show, transient=False)
        self.title = title
        self.task: Any = None

    def __enter__(self) -> Bar:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.__exit__(*exc)

    def start(self, **fields: Any) -> None:
        self.task = self.progress.add_task(self.title, total=None, **fields)

    def update(self, fraction: float | None, **fields: Any) -> None:
        """Show ``fraction`` (0..1; None: unknown) and the bar's text ``fields``."""
        if self.task is None:
            self.start(**fields)
        if fraction is None:
            self.progress.update(self.task, **fields)
        else:
            self.progress.update(self.task, total=1000, completed=round(1000 * min(1.0, fraction)), **fields)

    def print(self, text: str) -> None:
        self.progress.console.print(text, soft_wrap=True, markup=False)
