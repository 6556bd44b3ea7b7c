"""Open a data file as numbered text lines, whatever its compression.

``.gz`` (gzip), ``.zip`` (one member, as Binance public data ships) and ``.zst``
(zstandard, streamed) are read transparently; anything else is read as UTF-8 text.
Nothing is loaded whole: memory stays constant whatever the file's length.

Damage is an :class:`~exsim.errors.InputError` naming the first line that cannot be
read (``where`` = ``path:line``): a compressed stream that ends early or is corrupt
(field ``'compression'``: a truncated download is never read as a shorter file), bytes
that are not UTF-8 (field ``'encoding'``), or one of the first lines longer than
:data:`MAX_HEAD_LINE_CHARS` (field ``'line'``: not a line-oriented text file, refused
before it is read whole).
"""

from __future__ import annotations

import errno
import gzip
import io
import os
import stat
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from exsim.errors import InputError

#: the first lines of a file are read with this limit (characters): a file of garbage
#: without line breaks is refused at once instead of read whole into memory. Real first
#: lines are far shorter (a 5000-level REST depth snapshot is ~0.3 MB).
MAX_HEAD_LINE_CHARS = 1 << 20
_HEAD_LINES = 5  # lines read with the limit (format detection reads as many)

#: what reading a damaged file raises, below the text layer (``zstandard.ZstdError``
#: is turned into ``EOFError`` / ``OSError`` by :class:`_ZstdReader`)
_READ_ERRORS = (OSError, EOFError, zlib.error, zipfile.BadZipFile, UnicodeDecodeError, ValueError)


class _ZstdReader(io.BufferedIOBase):
    """A binary stream of a ``.zst`` file's decompressed bytes (any number of frames).

    ``zstandard``'s own stream reader returns a clean end of data when the file stops in
    the middle of a frame, so a truncated file would read as a shorter one, its last
    line cut short; this one raises ``EOFError`` there instead.
    """

    def __init__(self, path: Path) -> None:
        import zstandard  # imported here: only .zst input needs it

        super().__init__()
        self._file = open(path, "rb")
        self._error = zstandard.ZstdError
        self._new = zstandard.ZstdDecompressor().decompressobj
        self._dobj: Any = self._new()
        self._in_frame = False  # bytes of an unfinished frame were fed
        self._out = b""
        self._pos = 0

    def readable(self) -> bool:
        return True

    def read1(self, size: int | None = -1) -> bytes:
        while self._pos >= len(self._out):
            chunk = self._file.read(1 << 15)
            if not chunk:
                if self._in_frame:
                    raise EOFError("the zstd stream ends inside a frame")
                return b""
            self._out, self._pos = self._decompress(chunk), 0
        pos, out = self._pos, self._out
        end = len(out) if size is None or size < 0 else min(len(out), pos + size)
        self._pos = end
        return out if pos == 0 and end == len(out) else out[pos:end]

    read = read1  # type: ignore[assignment]  # short reads are allowed: the text layer asks again

    def _decompress(self, data: bytes) -> bytes:
        parts = []
        try:
            while data:
                parts.append(self._dobj.decompress(data))
                self._in_frame = not self._dobj.eof
                if not self._dobj.eof:
                    break
                data = self._dobj.unused_data  # the next frame's start
                self._dobj = self._new()
        except self._error as exc:
            raise OSError(f"not zstd data or corrupt: {exc}") from None
        return b"".join(parts)

    def close(self) -> None:
        self._file.close()
        super().close()


def open_text(path: str | Path) -> IO[str]:
    """A text stream over ``path``, decompressing by its suffix (see the module doc)."""
    p = Path(path)
    problem = not_a_data_file(p)
    if problem:
        raise InputError(problem, where=str(p))
    name = p.name.lower()
    try:
        if name.endswith(".gz"):
            return io.TextIOWrapper(gzip.open(p, "rb"), encoding="utf-8", newline="")
        if name.endswith(".zip"):
            archive = zipfile.ZipFile(p)
            members = [m for m in archive.namelist() if not m.endswith("/")]
            if len(members) != 1:
                raise InputError(
                    f"a zip must hold exactly one file; it holds {len(members)}", where=f"{p}:1", field="compression"
                )
            return io.TextIOWrapper(archive.open(members[0]), encoding="utf-8", newline="")
        if name.endswith(".zst"):
            return io.TextIOWrapper(_ZstdReader(p), encoding="utf-8", newline="")
    except (OSError, zipfile.BadZipFile) as exc:
        raise InputError(f"cannot open: {exc} (a damaged or truncated file?)", where=f"{p}:1", field="compression") from exc
    try:
        return open(p, encoding="utf-8", newline="")
    except OSError as exc:
        raise InputError(f"cannot open: {exc.strerror}", where=str(p)) from exc


def not_a_data_file(path: Path) -> str:
    """Why ``path`` is not a file exsim can read ("" for a regular file): missing, a folder,
    a FIFO (inputs are read more than once, and a pipe with no writer would wait forever), a
    device, a loop of symbolic links. Nothing is opened. O(1)."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return "a symbolic link to a file that does not exist" if path.is_symlink() else "no such file"
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "a loop of symbolic links (it never reaches a file); expected a data file"
        return f"cannot open: {exc.strerror or exc}"
    if stat.S_ISREG(mode):
        return ""
    if stat.S_ISDIR(mode):
        return "is a directory; expected a data file"
    if stat.S_ISFIFO(mode):
        return "is a FIFO (named pipe), not a regular file; expected a data file (exsim reads an input more than once)"
    return "is a device or socket, not a regular file; expected a data file"


def repeated_file(paths: Iterable[str | Path]) -> tuple[str, str] | None:
    """The first two of ``paths`` that are one file (the same path, or a symbolic or hard
    link to it), or None. Paths that cannot be looked up are left to their readers. O(n)."""
    seen: dict[tuple[int, int], str] = {}
    for path in paths:
        try:
            st = os.stat(path)
        except (OSError, ValueError):
            continue
        key = (st.st_dev, st.st_ino)
        if key in seen:
            return seen[key], str(path)
        seen[key] = str(path)
    return None


#: lines to pass over, per file (``str(path)``): a replay run with ``skip_bad_rows`` puts
#: here the lines a reader refused, then reads the file again (see exsim.replay.runner)
SKIPPED_LINES: dict[str, frozenset[int]] = {}


def numbered_lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """``(line_number, line_without_newline)`` for each line of ``path`` (1-based),
    less any in :data:`SKIPPED_LINES` for it.

    Decompression and decoding errors become an :class:`InputError` naming the first
    line not read (see the module doc).
    """
    line_no = 0
    skipped = SKIPPED_LINES.get(str(path))
    with open_text(path) as f:
        try:
            readline = f.readline
            while line_no < _HEAD_LINES:  # the first lines: with a length limit
                line = readline(MAX_HEAD_LINE_CHARS + 1)
                if not line:
                    return
                line_no += 1
                if len(line) > MAX_HEAD_LINE_CHARS:
                    break
                if skipped and line_no in skipped:
                    continue
                yield line_no, line.rstrip("\r\n")
            else:
                for line_no, line in enumerate(f, line_no + 1):
                    if skipped and line_no in skipped:
                        continue
                    yield line_no, line.rstrip("\r\n")
                return
        except _READ_ERRORS as exc:
            raise _unreadable(path, line_no + 1, exc) from exc
    raise InputError(
        f"longer than {MAX_HEAD_LINE_CHARS:,} characters without a line break: not a line-oriented text data file",
        where=f"{path}:{line_no}",
        field="line",
    )


def _unreadable(path: str | Path, line_no: int, exc: BaseException) -> InputError:
    """The error for a file that cannot be read from ``line_no`` on."""
    if isinstance(exc, UnicodeDecodeError):
        what = f"not UTF-8 text ({exc.reason} at byte 0x{exc.object[exc.start]:02x}); expected a text data file"
        return InputError(f"cannot read from this line on: {what}", where=f"{path}:{line_no}", field="encoding")
    if isinstance(exc, EOFError) or "ended before" in str(exc):
        what = f"the compressed data ends early ({exc}): the file is truncated (an interrupted download?)"
    else:
        what = f"the compressed data is damaged ({type(exc).__name__}: {exc})"
    return InputError(f"cannot read from this line on: {what}", where=f"{path}:{line_no}", field="compression")


def empty_file(path: str | Path, expected: str) -> InputError:
    """The error of a file without a single non-blank line (0 bytes, a failed download)."""
    return InputError(f"the file is empty (no line to read); expected {expected}", where=f"{path}:1", field="line")


def head_lines(path: str | Path, n: int = 5) -> list[str]:
    """The first ``n`` lines of ``path`` (decompressed), for format detection."""
    out: list[str] = []
    for _, line in numbered_lines(path):
        out.append(line)
        if len(out) >= n:
            break
    return out
