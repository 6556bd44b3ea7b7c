"""Open a data file as numbered text lines, whatever its compression.

``.gz`` (gzip), ``.zip`` (one member, as Binance public data ships) and ``.zst``
(zstandard, streamed) are read transparently; anything else is read as UTF-8 text.
Nothing is loaded whole: memory stays constant whatever the file's length.
"""

from __future__ import annotations

import gzip
import io
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from exsim.errors import InputError


def open_text(path: str | Path) -> IO[str]:
    """A text stream over ``path``, decompressing by its suffix (see the module doc)."""
    p = Path(path)
    if not p.is_file():
        raise InputError("no such file", where=str(p))
    name = p.name.lower()
    try:
        if name.endswith(".gz"):
            return io.TextIOWrapper(gzip.open(p, "rb"), encoding="utf-8", newline="")
        if name.endswith(".zip"):
            archive = zipfile.ZipFile(p)
            members = [m for m in archive.namelist() if not m.endswith("/")]
            if len(members) != 1:
                raise InputError(f"a zip must hold exactly one file; it holds {len(members)}", where=str(p))
            return io.TextIOWrapper(archive.open(members[0]), encoding="utf-8", newline="")
        if name.endswith(".zst"):
            import zstandard  # imported here: only .zst input needs it

            raw = zstandard.ZstdDecompressor().stream_reader(open(p, "rb"), closefd=True)
            return io.TextIOWrapper(raw, encoding="utf-8", newline="")
    except (OSError, zipfile.BadZipFile) as exc:
        raise InputError(f"cannot open: {exc}", where=str(p)) from exc
    return open(p, encoding="utf-8", newline="")


#: lines to pass over, per file (``str(path)``): a replay run with ``skip_bad_rows`` puts
#: here the lines a reader refused, then reads the file again (see exsim.replay.runner)
SKIPPED_LINES: dict[str, frozenset[int]] = {}


def numbered_lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """``(line_number, line_without_newline)`` for each line of ``path`` (1-based),
    less any in :data:`SKIPPED_LINES` for it.

    Decompression and decoding errors become an :class:`InputError` naming the line.
    """
    line_no = 0
    skipped = SKIPPED_LINES.get(str(path))
    with open_text(path) as f:
        try:
            for line_no, line in enumerate(f, 1):
                if skipped and line_no in skipped:
                    continue
                yield line_no, line.rstrip("\r\n")
        except (OSError, EOFError, UnicodeDecodeError, ValueError) as exc:
            raise InputError(f"unreadable after this line: {exc}", where=f"{path}:{line_no}") from exc


def head_lines(path: str | Path, n: int = 5) -> list[str]:
    """The first ``n`` lines of ``path`` (decompressed), for format detection."""
    out: list[str] = []
    for _, line in numbered_lines(path):
        out.append(line)
        if len(out) >= n:
            break
    return out
