"""A sweep's inputs, parsed once: a columnar cache every cell replays from.

A replay's cost on a raw capture is largely its reader (a JSON decode a line). A sweep
replays each input once per cell, so :func:`prepare` reads each input file ONCE, with its
reader (:func:`exsim.readers.open_rows`, the sweep's format and symbol options), into
``OUT/cache/<key>/``: one NumPy ``.npy`` file per column, opened memory-mapped
(``np.load(mmap_mode="r", allow_pickle=False)``: no pickle, nothing in a cache file is
ever executed). N workers on a machine then share one copy of the data (the page cache),
instead of each holding and parsing its own.

Columns (``n`` rows, in the reader's order):

=============== ========= ===================================================================
file            dtype     what
=============== ========= ===================================================================
``ts_ns``       int64     the row's ``ts_ns``
``kind``        int8      ``Row.kind``
``side``        int8      ``Row.side``
``symbol``      int32     index into ``meta.json``'s ``symbols``
``text``        uint8     UTF-8: each row's ``price``, ``qty``, ``rate``, ``where`` each
                          followed by :data:`SEP` (``where`` is the line number alone when it
                          is ``<path>:<line>`` of the file; else :data:`VERBATIM` + the text)
``offsets``     int64     ``n + 1`` byte offsets of each row's text in ``text``
=============== ========= ===================================================================

The reader keeps the source's decimal *text*; so does the cache: a cached row equals the
reader's row field for field (``tests/sweep/test_cache.py`` checks it on every family of
``../shared/data``, and that a cell replayed from the cache ends in the file's state hash).

``key`` = sha256 of (the file's content hash, the format, the symbol option, the cache
format :data:`CACHE_VERSION`, the source of exsim's readers): a second sweep of the same
file reuses the cache; a changed file, option or reader makes a new one. A cache is
written into a temporary folder and renamed into place (a killed ``prepare`` leaves no
half-written cache: its temporary folder is removed by the next). A cache reused is first
checked (every column's shape, dtype, size and sha256 against ``meta.json``): a damaged
one is rebuilt, with one line on stderr; a worker opening a cache checks shapes and
sizes and refuses a damaged one with one line (the cell's error), never trusting it.

``split = "day"``: :func:`prepare` makes one group per UTC day the file's rows span
(``window_ns`` = [day start, next day start)), found from the cached ``ts_ns`` column;
a cell replays that day's rows (:func:`replay_inputs`), as a replay of the day's rows
alone would.

What is not cached (read from the file by each cell, as without a cache): a group of
several parts of one hftbacktest capture (a later part continues the earlier's depth
sequence: :func:`exsim.readers.binance_ws.link_parts` needs the readers themselves), a
file its reader refuses (each cell then meets the error, or skips the line with
``skip_bad_rows``), and a file read again without some of its lines (``skip_bad_rows``
re-reads: :data:`exsim.readers.opening.SKIPPED_LINES`).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import shutil
import sys
import tempfile
from array import array
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from exsim.errors import InputError
from exsim.readers import detect_format, format_kinds, open_rows
from exsim.readers.opening import SKIPPED_LINES
from exsim.readers.rows import Row
from exsim.sweep.spec import InputGroup, Sweep

#: the cache's format; part of every key (bump it when a column or its meaning changes)
CACHE_VERSION = 1
#: ends each text field in the ``text`` column (a character no decimal, update id, line
#: number or path holds; a row whose text holds it is not cached: the file is read instead)
SEP = "\x1f"
#: starts a ``where`` kept whole (not ``<path>:<line>`` of the file read)
VERBATIM = "\x1e"
NS_PER_DAY = 86_400 * 1_000_000_000
#: rows turned back into Row tuples per step (bounded memory per worker, whatever the file)
CHUNK_ROWS = 8192
_COLUMNS: dict[str, str] = {
    "ts_ns": "int64",
    "kind": "int8",
    "side": "int8",
    "symbol": "int32",
    "text": "uint8",
    "offsets": "int64",
}
_TMP_PREFIX = ".tmp-"
_ANY_SYMBOL: Any = object()  # (format_kinds: the kinds of a format whatever the symbol option)
_new = tuple.__new__


@attrs.frozen
class GroupSource:
    """What a worker needs to replay an input group from the cache (picklable: plain
    strings). ``caches[i]``: the cache folder of ``files[i]``, or None (read the file)."""

    files: tuple[str, ...]
    caches: tuple[str | None, ...]
    #: the caches' columns themselves, ``(meta, {column: array})`` per file (or None): what
    #: a Ray driver puts in the object store (:func:`in_memory`), so a node without the
    #: cache folder replays from the cluster's shared memory instead of re-parsing the file
    columns: tuple[tuple[dict[str, Any], dict[str, Any]] | None, ...] = ()


def in_memory(source: GroupSource) -> GroupSource:
    """``source`` with its caches' columns loaded (checked) into memory, for Ray's object
    store: numpy arrays there are shared by every worker of a node, zero-copy."""
    columns = []
    for folder in source.caches:
        if folder is None:
            columns.append(None)
            continue
        meta = check(folder)
        columns.append((meta, {name: np.load(Path(folder) / f"{name}.npy", mmap_mode="r", allow_pickle=False)
                               for name in _COLUMNS}))
    return attrs.evolve(source, columns=tuple(columns))


@attrs.frozen
class Prepared:
    """:func:`prepare`'s answer: the groups cells run over (``split = "day"`` expanded)
    and each group's :class:`GroupSource` (absent: the group reads its files)."""

    groups: list[InputGroup]
    sources: dict[str, GroupSource]
    notes: tuple[str, ...] = ()


# ---------------------------------------------------------------------- keys
def file_sha256(path: str | Path) -> str:
    """The sha256 of a file's bytes, read in 1 MiB steps. O(size)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _readers_digest() -> str:
    """sha256 of exsim's readers' source: a cache made by another reader is another key."""
    import exsim.readers as readers

    h = hashlib.sha256()
    for p in sorted(Path(readers.__file__).parent.glob("*.py")):
        h.update(p.name.encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


def cache_key(content_sha256: str, fmt: str, symbol: str | None) -> str:
    """The cache folder's name for a file of that content read as ``fmt`` with ``symbol``."""
    what = {"content": content_sha256, "format": fmt, "symbol": symbol, "version": CACHE_VERSION,
            "readers": _readers_digest()}
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()


# ---------------------------------------------------------------------- building
class _NotCacheable(Exception):
    """A row whose text holds the separator: the file is read by each cell instead."""


def build(path: str, fmt: str | None, symbol: str | None, folder: Path, content_sha256: str) -> dict[str, Any]:
    """Read ``path`` with its reader into the cache folder ``folder`` (written in a
    temporary folder beside it, renamed into place); its meta. O(rows) time, the columns'
    size in memory while building. InputError: the reader's (a bad line)."""
    fmt, rows = open_rows(path, fmt, symbol)
    ts, kind, side, sym = array("q"), array("b"), array("b"), array("i")
    offsets = array("q", [0])
    text = bytearray()
    symbols: dict[str, int] = {}
    prefix = f"{path}:"
    cut = len(prefix)
    ascii_only = True
    pos = 0
    pending: list[str] = []
    sorted_ts = True
    last_ts = None
    for r in rows:
        t = r[0]
        if last_ts is not None and t < last_ts:
            sorted_ts = False
        last_ts = t
        ts.append(t)
        kind.append(r[1])
        s = symbols.get(r[2])
        if s is None:
            s = symbols[r[2]] = len(symbols)
        sym.append(s)
        side.append(r[3])
        w = r[7]
        if w.startswith(prefix) and w[cut:].isdigit() and w[cut:].isascii() and str(int(w[cut:])) == w[cut:]:
            w = w[cut:]
        else:
            w = VERBATIM + w
        line = f"{r[4]}{SEP}{r[5]}{SEP}{r[6]}{SEP}{w}{SEP}"
        if line.count(SEP) != 4:
            raise _NotCacheable(f"{r.where}: a text field holds the cache's separator")
        if line.isascii():
            pos += len(line)
        else:
            ascii_only = False
            pos += len(line.encode())
        pending.append(line)
        offsets.append(pos)
        if len(pending) >= CHUNK_ROWS:
            text += "".join(pending).encode()
            pending.clear()
    text += "".join(pending).encode()
    close = getattr(rows, "close", None)
    if close is not None:
        close()
    n = len(ts)
    meta: dict[str, Any] = {
        "version": CACHE_VERSION,
        "path": path,
        "format": fmt,
        "symbol": symbol,
        "source_sha256": content_sha256,
        "rows": n,
        "symbols": list(symbols),
        "kinds": sorted(format_kinds(path, fmt)),
        "sorted": sorted_ts,
        "ascii": ascii_only,
        "first_ts_ns": ts[0] if n else None,
        "last_ts_ns": ts[-1] if n else None,
        "columns": {},
    }
    arrays = {
        "ts_ns": np.frombuffer(ts, dtype=np.int64),
        "kind": np.frombuffer(kind, dtype=np.int8),
        "side": np.frombuffer(side, dtype=np.int8),
        "symbol": np.frombuffer(sym, dtype=np.int32),
        "text": np.frombuffer(bytes(text), dtype=np.uint8),
        "offsets": np.frombuffer(offsets, dtype=np.int64),
    }
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{_TMP_PREFIX}{os.getpid()}-", dir=folder.parent))
    try:
        for name, arr in arrays.items():
            file = tmp / f"{name}.npy"
            with open(file, "wb") as f:
                np.save(f, arr, allow_pickle=False)
                f.flush()
                os.fsync(f.fileno())
            meta["columns"][name] = {"dtype": _COLUMNS[name], "shape": list(arr.shape),
                                     "bytes": file.stat().st_size, "sha256": file_sha256(file)}
        with open(tmp / "meta.json", "w", encoding="utf-8") as f:
            f.write(json.dumps(meta, indent=1) + "\n")
            f.flush()
            os.fsync(f.fileno())
        try:
            os.rename(tmp, folder)
        except OSError:  # another process put the same cache in place first: keep its
            if not (folder / "meta.json").is_file():
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return meta


def check(folder: str | Path, *, hashes: bool = False) -> dict[str, Any]:
    """The meta of the cache in ``folder`` after checking it: ``meta.json`` readable, every
    column present with the dtype, shape and size ``meta.json`` says (``hashes``: and its
    sha256), offsets that fit the text. A problem is an :class:`InputError` naming the file.
    O(1) without ``hashes``, O(size) with."""
    folder = Path(folder)
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        if meta.get("version") != CACHE_VERSION or set(meta.get("columns", ())) != set(_COLUMNS):
            raise ValueError("not a cache of this version")
    except (OSError, ValueError) as exc:
        raise InputError(f"damaged sweep cache: meta.json: {exc}", where=str(folder)) from None
    n = meta["rows"]
    for name, dtype in _COLUMNS.items():
        info = meta["columns"][name]
        file = folder / f"{name}.npy"
        want = [n + 1] if name == "offsets" else [int(meta["columns"]["text"]["shape"][0])] if name == "text" else [n]
        try:
            size = file.stat().st_size
            if size != info["bytes"]:
                raise ValueError(f"{size:,} bytes, expected {info['bytes']:,}")
            arr = np.load(file, mmap_mode="r", allow_pickle=False)
            if str(arr.dtype) != dtype or list(arr.shape) != want or list(arr.shape) != info["shape"]:
                raise ValueError(f"{arr.dtype} {list(arr.shape)}, expected {dtype} {want}")
            if hashes and file_sha256(file) != info["sha256"]:
                raise ValueError("its content differs from when it was written (sha256)")
        except (OSError, ValueError) as exc:
            raise InputError(f"damaged sweep cache: {name}.npy: {exc}", where=str(folder)) from None
        if name == "offsets" and n >= 0:
            end = int(meta["columns"]["text"]["shape"][0])
            if int(arr[0]) != 0 or int(arr[-1]) != end:
                raise InputError(f"damaged sweep cache: offsets.npy does not span text.npy ({end:,} bytes)", where=str(folder))
    return meta


def _remove_stale(cache_dir: Path) -> None:
    """Temporary folders of builds whose process is gone (a killed prepare)."""
    if not cache_dir.is_dir():
        return
    for p in cache_dir.iterdir():
        if not p.name.startswith(_TMP_PREFIX):
            continue
        pid = p.name[len(_TMP_PREFIX):].split("-", 1)[0]
        alive = False
        if pid.isdigit() and int(pid) != os.getpid():
            try:
                os.kill(int(pid), 0)
                alive = True
            except OSError:
                alive = False
        if not alive:
            shutil.rmtree(p, ignore_errors=True)


def cached_file(path: str, fmt: str | None, symbol: str | None, cache_dir: Path) -> tuple[Path, dict[str, Any]]:
    """The checked cache folder of ``path`` (built now, or found and reused) and its meta.
    A damaged cache is rebuilt, saying so in one line on stderr. InputError: the reader's."""
    content = file_sha256(path)
    if fmt is None:
        fmt = detect_format(path)
    folder = cache_dir / cache_key(content, fmt, symbol)
    if folder.exists():
        try:
            return folder, check(folder, hashes=True)
        except InputError as exc:
            print(f"exsim: warning: {exc}; rebuilt from {path}", file=sys.stderr)
            shutil.rmtree(folder, ignore_errors=True)
    return folder, build(path, fmt, symbol, folder, content)


# ---------------------------------------------------------------------- prepare
def prepare(sweep: Sweep, out: Path, *, use_cache: bool = True) -> Prepared:
    """The sweep's input groups (``split = "day"``: one per UTC day the data spans) and,
    with ``use_cache``, each group's cache (every input file parsed once into
    ``out/cache/``). A scenario sweep's groups are its own (nothing to cache).

    ``use_cache`` False: nothing is written; a day split still reads each file once, to
    find its days. InputError: a file a day split cannot read (its reader's error).
    """
    if sweep.kind != "replay":
        return Prepared(list(sweep.inputs), {})
    cache_dir = Path(out) / "cache"
    if use_cache:
        _remove_stale(cache_dir)
    groups: list[InputGroup] = []
    sources: dict[str, GroupSource] = {}
    notes: list[str] = []
    several = len(sweep.inputs) > 1
    for group in sweep.inputs:
        folders: list[str | None] = []
        metas: list[dict[str, Any] | None] = []
        linked = sum(1 for f, fmt in zip(group.files, group.formats) if _is_hftbacktest(f, fmt)) > 1
        for path, fmt in zip(group.files, group.formats):
            folder, meta = None, None
            if use_cache and not linked:
                try:
                    folder, meta = cached_file(path, fmt, sweep.symbol, cache_dir)
                except (InputError, _NotCacheable) as exc:
                    if sweep.split == "day" and isinstance(exc, InputError):
                        raise  # (its days cannot be told: the reader's one line, before any cell)
                    notes.append(f"{path}: read by each cell, not cached ({exc})")
            folders.append(None if folder is None else str(folder))
            metas.append(meta)
        if linked:
            notes.append(f"{group.name}: the parts of one capture are read by each cell (a later part continues the earlier)")
        source = GroupSource(tuple(group.files), tuple(folders)) if any(f is not None for f in folders) else None
        if sweep.split != "day":
            groups.append(group)
            if source is not None:
                sources[group.name] = source
            continue
        days = _days(group, metas[0] if metas else None, folders[0] if folders else None, sweep.symbol)
        for day in days:
            start = day * NS_PER_DAY
            label = _day_text(day)
            name = f"{group.name}@{label}" if several else label
            groups.append(attrs.evolve(group, name=name, window_ns=(start, start + NS_PER_DAY)))
            if source is not None:
                sources[name] = source
    return Prepared(groups, sources, tuple(notes))


def _is_hftbacktest(path: str, fmt: str | None) -> bool:
    try:
        return (fmt or detect_format(path)) == "binance-ws-hftbacktest"
    except InputError:
        return False


def _days(group: InputGroup, meta: dict[str, Any] | None, folder: str | None, symbol: str | None) -> list[int]:
    """The UTC days (days since the epoch) the group's rows span: from the cached
    ``ts_ns`` column, else one read of each file."""
    if folder is not None and meta is not None and len(group.files) == 1:
        ts = np.load(Path(folder) / "ts_ns.npy", mmap_mode="r", allow_pickle=False)
        return [int(d) for d in np.unique(ts // NS_PER_DAY)]
    found: set[int] = set()
    for path, fmt in zip(group.files, group.formats):
        rows = open_rows(path, fmt, symbol)[1]
        found.update(r[0] // NS_PER_DAY for r in rows)
    return sorted(found)


def _day_text(day: int) -> str:
    """``2022-01-21`` for a count of days since the epoch.

    >>> _day_text(19013)
    '2022-01-21'
    """
    import datetime

    return (datetime.date(1970, 1, 1) + datetime.timedelta(days=day)).isoformat()


# ---------------------------------------------------------------------- replaying
def replay_inputs(group: InputGroup, source: GroupSource | None) -> dict[str, Any]:
    """The keyword arguments of :class:`exsim.replay.runner.Replay` for ``group``:
    ``files``, ``formats`` and ``row_opener`` (its files' rows from the cache ``source``
    when given, within the group's ``window_ns`` when it has one)."""
    inputs: dict[str, Any] = {"files": list(group.files), "formats": list(group.formats)}
    if source is not None or group.window_ns is not None:
        caches = dict(zip(source.files, source.caches)) if source is not None else {}
        columns = dict(zip(source.files, source.columns)) if source is not None and source.columns else {}
        inputs["row_opener"] = CacheOpener(caches, group.window_ns, columns)
    return inputs


class CacheOpener:
    """A replay's ``row_opener``: a cached file's rows from its columns (the format its
    reader named, the rows it yielded, within ``window_ns``), any other file through its
    reader (:func:`open_rows`, within ``window_ns``).

    A file read again without some of its lines (``skip_bad_rows``) is read from the file.
    """

    def __init__(self, caches: dict[str, str | None], window_ns: tuple[int, int] | None = None,
                 columns: dict[str, tuple[dict[str, Any], dict[str, Any]] | None] | None = None) -> None:
        self.caches = caches
        self.window_ns = window_ns
        self.columns = columns or {}  # (in memory: Ray's object store)
        self._opened: dict[str, _Columns] = {}

    def _columns(self, path: str | Path, fmt: str | None, symbol: str | None) -> _Columns | None:
        key = str(path)
        if SKIPPED_LINES.get(key):
            return None
        cols = self._opened.get(key)
        if cols is None:
            held = self.columns.get(key)
            folder = self.caches.get(key)
            if held is not None:
                cols = self._opened[key] = _Columns(None, held)
            elif folder is None or not os.path.isdir(folder):
                return None  # (no cache on this machine: the file is read)
            else:
                cols = self._opened[key] = _Columns(folder)
        if (fmt is not None and fmt != cols.format) or (symbol is not _ANY_SYMBOL and symbol != cols.symbol):
            return None  # (asked with other options than the cache was made with)
        return cols

    def __call__(self, path: str | Path, fmt: str | None, symbol: str | None) -> tuple[str, Iterator[Row]]:
        cols = self._columns(path, fmt, symbol)
        if cols is None:
            fmt, rows = open_rows(path, fmt, symbol)
            if self.window_ns is not None:
                rows = _within(rows, *self.window_ns)
            return fmt, rows
        return cols.format, cols.rows(str(path), self.window_ns)

    def format_kinds(self, path: str | Path, fmt: str) -> frozenset[int]:
        """:func:`exsim.readers.format_kinds` of the file: from the cache's meta when the
        file is cached as ``fmt`` (an exsim file's kinds are then not scanned again)."""
        cols = self._columns(path, fmt, _ANY_SYMBOL)
        if cols is not None:
            return frozenset(cols.kinds)
        return format_kinds(path, fmt)


def _within(rows: Iterator[Row], start: int, end: int) -> Iterator[Row]:
    """The rows whose ``ts_ns`` is in [start, end). O(1) a row."""
    for r in rows:
        if start <= r[0] < end:
            yield r


class _Columns:
    """One cache folder, opened memory-mapped (shapes and sizes checked), or its columns
    ``held`` in memory (:func:`in_memory`: checked when they were loaded)."""

    def __init__(self, folder: str | None, held: tuple[dict[str, Any], dict[str, Any]] | None = None) -> None:
        meta = check(folder) if held is None else held[0]
        self.format: str = meta["format"]
        self.symbol: str | None = meta["symbol"]
        self.path: str = meta["path"]
        self.symbols: list[str] = meta["symbols"]
        self.kinds: list[int] = meta["kinds"]
        self.sorted: bool = meta["sorted"]
        self.n: int = meta["rows"]
        if held is None:
            assert folder is not None
            load = lambda name: np.load(Path(folder) / f"{name}.npy", mmap_mode="r", allow_pickle=False)  # noqa: E731
        else:
            load = held[1].__getitem__
        self.ts, self.kind, self.side, self.symbol_index = load("ts_ns"), load("kind"), load("side"), load("symbol")
        self.text, self.offsets = load("text"), load("offsets")

    def rows(self, path: str, window_ns: tuple[int, int] | None) -> Iterator[Row]:
        """The cached rows (``where`` naming ``path``), within ``window_ns``."""
        if window_ns is None:
            return self._rows(path, 0, self.n, None)
        if self.sorted:
            start, stop = (int(i) for i in np.searchsorted(self.ts, window_ns, side="left"))
            return self._rows(path, start, stop, None)
        return self._rows(path, 0, self.n, window_ns)

    def _rows(self, path: str, start: int, stop: int, window_ns: tuple[int, int] | None) -> Iterator[Row]:
        """Rows ``start`` .. ``stop``, CHUNK_ROWS at a time: the columns' slices become
        Python lists and the text one string split at SEP (C loops), then one tuple a row.
        O(1) Python work a row beyond building it; bounded memory."""
        prefix = f"{path}:"
        names = self.symbols
        one_symbol = names[0] if len(names) == 1 else None
        ts_col, kind_col, side_col, sym_col, text, offsets = self.ts, self.kind, self.side, self.symbol_index, self.text, self.offsets
        verbatim = VERBATIM
        for a in range(start, stop, CHUNK_ROWS):
            b = min(a + CHUNK_ROWS, stop)
            lo, hi = int(offsets[a]), int(offsets[b])
            fields = text[lo:hi].tobytes().decode("utf-8").split(SEP)
            wheres = [prefix + w if w[:1] != verbatim else w[1:] for w in fields[3::4]]
            symbols = itertools.repeat(one_symbol) if one_symbol is not None else map(names.__getitem__, sym_col[a:b].tolist())
            chunk = zip(ts_col[a:b].tolist(), kind_col[a:b].tolist(), symbols, side_col[a:b].tolist(),
                        fields[0::4], fields[1::4], fields[2::4], wheres)
            if window_ns is not None:
                first, end = window_ns
                chunk = (t for t in chunk if first <= t[0] < end)
            yield from map(_new, itertools.repeat(Row), chunk)


__all__ = ["CACHE_VERSION", "CacheOpener", "GroupSource", "Prepared", "cache_key", "check", "prepare", "replay_inputs"]
