"""Open a data file as numbered text lines, whatever its compression.

``.gz`` (gzip), ``.zip`` (one member, as Binance public data ships) and ``.zst``
(zstandard, streamed) are read transparently; anything else is read as UTF-8 text.
Nothing is loaded whole: memory stays constant whatever the file's length.

Decompression is streamed with bounded buffers (at most :data:`_READ_BYTES` a read), and
every line of every file is read with the limit :data:`MAX_LINE_CHARS`, so a compressed
"bomb" (a small file holding a gigabyte-long line) is refused after reading a mebibyte
of it, in bounded memory.

Damage is an :class:`~exsim.errors.InputError` naming the first line that cannot be
read (``where`` = ``path:line``): a compressed stream that ends early, is corrupt or has
trailing bytes that are not compressed data (field ``'compression'``: a truncated
download is never read as a shorter file), an encrypted or unsupported zip member
(``'compression'``), bytes that are not UTF-8 (field ``'encoding'``), or a line longer
than :data:`MAX_LINE_CHARS` (field ``'line'``: not a line-oriented text data file, refused
before it is read whole).
"""

from __future__ import annotations

import errno
import functools
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
from exsim.readers.rows import shown

#: every line of a file is read with this limit (characters, the line break not
#: counted): a file of garbage without line breaks, or a compressed bomb's gigabyte line,
#: is refused at once instead of read whole into memory. Real lines are far shorter (a
#: 5000-level REST depth snapshot, the longest, is ~0.3 MB).
MAX_LINE_CHARS = 1 << 20
MAX_HEAD_LINE_CHARS = MAX_LINE_CHARS  # (the former name: the limit covered the first lines only)

#: what reading a damaged file raises, below the text layer (``zstandard.ZstdError``
#: is turned into ``EOFError`` / ``OSError`` by :class:`_ZstdReader`)
_READ_ERRORS = (OSError, EOFError, zlib.error, zipfile.BadZipFile, UnicodeDecodeError, ValueError, RuntimeError, NotImplementedError)


class _ZstdReader(io.BufferedIOBase):
    """A binary stream of a ``.zst`` file's decompressed bytes (any number of frames),
    decompressed in bounded steps: each read returns at most :data:`_READ_BYTES`, however
    much one compressed block expands to (an 8 KB file can hold 300 MB of one byte).

    ``zstandard``'s stream reader returns a clean end of data when the file stops in the
    middle of a frame, so a truncated file would read as a shorter one, its last line cut
    short; and bytes after the last frame fail the read that holds them, losing the lines
    before. So the frames' headers are walked first (:func:`_zstd_frames`, reading a few
    bytes a block): the decompressor is given the file up to its last whole frame (or up to
    the cut), and at the end of that this reader raises ``EOFError`` for a frame the file
    cuts, ``OSError`` for the bytes after the last frame — naming the line after the last
    one read.
    """

    def __init__(self, path: Path) -> None:
        import zstandard  # imported here: only .zst input needs it

        super().__init__()
        self._error = zstandard.ZstdError
        end, self._problem = _zstd_frames(path)
        self._raw = open(path, "rb")
        self._reader: Any = zstandard.ZstdDecompressor().stream_reader(
            _Prefix(self._raw, end), read_size=1 << 15, read_across_frames=True
        )

    def readable(self) -> bool:
        return True

    def read1(self, size: int | None = -1) -> bytes:
        n = _READ_BYTES if size is None or size < 0 else min(size, _READ_BYTES)
        try:
            data: bytes = self._reader.read(n)
        except self._error as exc:
            raise OSError(f"not zstd data or corrupt: {exc}") from None
        if not data and n and self._problem is not None:
            raise self._problem
        return data

    read = read1  # type: ignore[assignment]  # short reads are allowed: the text layer asks again

    def close(self) -> None:
        self._reader.close()
        self._raw.close()
        super().close()


#: the most decompressed bytes one read of a compressed stream returns
_READ_BYTES = 1 << 16
_ZSTD_MAGIC = 0xFD2FB528


class _Prefix:
    """The first ``end`` bytes of a binary file (what the zstd decompressor is given)."""

    def __init__(self, f: IO[bytes], end: int) -> None:
        self._f = f
        self._left = end

    def read(self, size: int = -1) -> bytes:
        n = self._left if size is None or size < 0 else min(size, self._left)
        data = self._f.read(n)
        self._left -= len(data)
        return data


def _zstd_frames(path: Path) -> tuple[int, OSError | EOFError | None]:
    """``(end, problem)``: the zstd frames of ``path`` (RFC 8878 §3.1) walked by their
    headers. ``problem`` None: the file is whole frames, ``end`` its size. Else an
    ``EOFError`` (the file ends inside a frame: ``end`` is the size, the decompressor reads
    up to the cut) or an ``OSError`` (bytes after the last whole frame that are not a frame:
    ``end`` is where they start).

    Reads only the headers (a few bytes per block, seeking over block contents): O(blocks).
    """
    size = path.stat().st_size
    with open(path, "rb") as f:
        pos = 0
        while pos < size:
            f.seek(pos)
            head = f.read(14)
            magic = int.from_bytes(head[:4], "little") if len(head) >= 4 else -1
            if magic & 0xFFFFFFF0 == 0x184D2A50:  # a skippable frame
                nxt = pos + 8 + int.from_bytes(head[4:8], "little") if len(head) >= 8 else size + 1
                if nxt > size:
                    return size, EOFError("the zstd stream ends inside a skippable frame")
                pos = nxt
                continue
            if magic != _ZSTD_MAGIC:
                garbage = OSError(f"{size - pos:,} bytes after the last zstd frame are not zstd data (trailing garbage)")
                return pos, garbage
            if len(head) < 6:
                return size, EOFError("the zstd stream ends inside a frame header")
            fhd = head[4]
            single = fhd >> 5 & 1
            fcs = (1 if single else 0, 2, 4, 8)[fhd >> 6]
            did = (0, 1, 2, 4)[fhd & 3]
            checksum = 4 if fhd >> 2 & 1 else 0
            p = pos + 5 + (0 if single else 1) + did + fcs
            while True:  # the blocks: 3-byte headers, the last one flagged
                f.seek(p)
                block = f.read(3)
                if len(block) < 3:
                    return size, EOFError("the zstd stream ends inside a frame")
                bh = int.from_bytes(block, "little")
                kind, block_size = bh >> 1 & 3, bh >> 3
                p += 3 + (1 if kind == 1 else block_size)
                if p > size:
                    return size, EOFError("the zstd stream ends inside a frame")
                if bh & 1:
                    break
            p += checksum
            if p > size:
                return size, EOFError("the zstd stream ends inside a frame's checksum")
            pos = p
    return size, None


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
            info = archive.getinfo(members[0])
            if info.flag_bits & 0x1:
                raise InputError(
                    f"the zip member {shown(members[0])} is encrypted; exsim reads unencrypted data only",
                    where=f"{p}:1",
                    field="compression",
                )
            return io.TextIOWrapper(archive.open(members[0]), encoding="utf-8", newline="")
        if name.endswith(".zst"):
            return io.TextIOWrapper(_ZstdReader(p), encoding="utf-8", newline="")
    except (OSError, zipfile.BadZipFile, NotImplementedError, RuntimeError, EOFError) as exc:
        raise InputError(
            f"cannot open: {str(exc)[:200]} (a damaged, truncated or unsupported file?)", where=f"{p}:1", field="compression"
        ) from exc
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

    Every line is read with the limit :data:`MAX_LINE_CHARS`; decompression and decoding
    errors and an overlong line become an :class:`InputError` naming the first line not
    read (see the module doc). O(1) memory in the file's length.
    """
    line_no = 0
    skipped = SKIPPED_LINES.get(str(path))
    limit = MAX_LINE_CHARS
    with open_text(path) as f:
        try:
            # (C-level iteration over bounded readline calls: as fast as ``for line in f``)
            for line_no, line in enumerate(iter(functools.partial(f.readline, limit + 2), ""), 1):
                text = line.rstrip("\r\n")
                if len(text) > limit:
                    break
                if skipped and line_no in skipped:
                    continue
                yield line_no, text
            else:
                return
        except _READ_ERRORS as exc:
            raise _unreadable(path, line_no + 1, exc) from exc
    raise InputError(
        f"longer than {limit:,} characters without a line break: not a line-oriented text data file",
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
        what = f"the compressed data is damaged ({type(exc).__name__}: {str(exc)[:200]})"
    return InputError(f"cannot read from this line on: {what}", where=f"{path}:{line_no}", field="compression")


def empty_file(path: str | Path, expected: str) -> InputError:
    """The error of a file without a single non-blank line (0 bytes, a failed download)."""
    return InputError(f"the file is empty (no line to read); expected {expected}", where=f"{path}:1", field="line")


#: binary containers known by their first bytes: (magic, offset, name); checked in order
_MAGIC: tuple[tuple[bytes, int, str], ...] = (
    (b"PAR1", 0, "parquet"),
    (b"ARROW1", 0, "feather"),  # Arrow IPC file = Feather v2
    (b"FEA1", 0, "feather"),  # Feather v1
    (b"\x89HDF\r\n\x1a\n", 0, "hdf5"),
    (b"SQLite format 3\x00", 0, "sqlite"),
    (b"\x93NUMPY", 0, "numpy"),
    (b"ORC", 0, "orc"),
    (b"Obj\x01", 0, "avro"),
    (b"PK\x03\x04", 0, "zip"),
    (b"\x1f\x8b", 0, "gzip"),
    (b"\x28\xb5\x2f\xfd", 0, "zstd"),
    (b"BZh", 0, "bzip2"),
    (b"\xfd7zXZ\x00", 0, "xz"),
)
#: what to tell the user of a binary format exsim does not read
CONVERT_HINTS: dict[str, str] = {
    "hdf5": "convert it with the program that wrote it to CSV (e.g. pandas.read_hdf(path, key).to_csv(...))",
    "sqlite": "convert it with sqlite3: sqlite3 -header -csv FILE 'select * from TABLE' > out.csv",
    "numpy": "convert it with numpy.savetxt to CSV, named as one of the CSV layouts",
    "orc": "convert it with pyarrow to Parquet or CSV (pyarrow.orc.read_table(path))",
    "avro": "convert it with the program that wrote it to CSV",
    "pickle": "convert it with the program that wrote it to CSV or Parquet (exsim never unpickles a "
    "data file: that would run code from it)",
    "zip": "convert it: name it *.zip (one member) to have it unpacked, or unzip it",
    "gzip": "convert it: name it *.gz to have it decompressed, or gunzip it",
    "zstd": "convert it: name it *.zst to have it decompressed, or unzstd it",
    "bzip2": "convert it with bunzip2 (or recompress it as .gz)",
    "xz": "convert it with unxz (or recompress it as .gz)",
    "binary": "convert it to one of the formats of `exsim replay --help` (exsim reads text: CSV, JSON "
    "lines; and Parquet/Feather with the extra)",
}
_TEXT_SUFFIXES = (".gz", ".zip", ".zst")  # decompressed before reading: their bytes are not the data's


def binary_kind(path: str | Path) -> str | None:
    """The binary container of ``path`` from its first bytes, or None for (likely) text.

    Looks at the file's own first 4 KiB (not decompressed: a ``.gz``/``.zip``/``.zst``
    file is judged by its name, the compressed text is read as usual): a known magic
    number (Parquet ``PAR1``, Feather/Arrow ``ARROW1``, HDF5, SQLite, pickle, ...) names
    the container; a NUL byte makes it ``'binary'``; otherwise None.
    """
    p = Path(path)
    if p.name.lower().endswith(_TEXT_SUFFIXES) or not p.is_file():
        return None
    with open(p, "rb") as f:
        head = f.read(4096)
    for magic, offset, name in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return name
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "pickle"
    if b"\x00" in head:
        return "binary"
    return None


def unsupported_binary(path: str | Path, kind: str) -> InputError:
    """The one-line error of a binary file exsim does not read."""
    what = "a binary file (NUL bytes) of no format exsim knows" if kind == "binary" else f"format {kind} is not supported"
    return InputError(f"{what}; {CONVERT_HINTS[kind]}", where=f"{path}:1", field="format")


def head_lines(path: str | Path, n: int = 5) -> list[str]:
    """The first ``n`` lines of ``path`` (decompressed), for format detection."""
    out: list[str] = []
    for _, line in numbered_lines(path):
        out.append(line)
        if len(out) >= n:
            break
    return out
