"""Checkpoint and resume of a replay: snapshots of the whole run, and continuing from one.

``exsim replay FILES... --checkpoint-every N`` writes a snapshot every ``N`` input rows
(rows of the merged input stream that the market model has taken; a snapshot is taken
once the loop has run everything queued at the timestamp being read, so it may come a
few rows after the ``N``-th); ``exsim replay FILES... --resume SNAPSHOT`` continues from
one, with the same files and options, and ends in the same state hash, account figures
and output files (``events.jsonl``, ``fills.csv``, ``timeseries.csv``; ``summary.json``
but for its wall-time fields and its ``checkpoint`` entry) as a run that never stopped.

What a snapshot holds
---------------------
Everything the run has built, as one graph of plain data: the exchange (books, orders,
trigger index, marks, funding state), the ledger (accounts, positions, insurance fund), the
event loop (queued commands, timers, each source's read state and the one item it read
ahead), the strategy's attributes and its context, the recorder (fills, time series,
liquidations) and the replay's own counters. It is written by
:mod:`exsim.replay.snapshot_codec`: JSON whose every value is a number, a text, or a tagged
list (a list, a dict, an order of class ``exsim.book.orders:Order`` with its fields, a
reference to an object met before, ...). Classes, functions and methods are looked up by
name in that module's fixed tables of exsim's own; nothing the file names is imported or
called. The strategy is saved as its attributes only: a resume takes its class from the
``--strategy`` it is given (the class and the SHA-256 of the source files it is defined in
must be the snapshot's).

Not the input streams: a reader over a compressed file is a chain of generators, which
is not data. Instead the snapshot records how many items each of the loop's sources had
read, and a resume opens the same files with the same options, builds the same sources
(readers are deterministic) and reads them again up to that many items without running
anything: the sources are then exactly where they were, whatever their internal state (a
diff-depth batch half gathered, a quote waiting for its other side). The market model's
row counts after that re-read, and the last item read, must equal the snapshot's, else
the inputs differ and the resume is refused.

The run directory's ``events.jsonl``, ``fills.csv`` and ``timeseries.csv`` (written as the
run goes) are flushed at each snapshot and their lengths recorded; a resume truncates them
to those lengths (lines written after the snapshot, before a crash, would otherwise appear
twice) and appends. ``summary.json`` is written at the end from the state the snapshot
holds.

The file
--------
One header line ``EXSIM-SNAPSHOT <format> <exsim version> sha256=<hex>`` (the SHA-256 of
everything after it: it finds damage, it is no signature), one line of JSON, the manifest
(what the snapshot was made from: input fingerprints — size and SHA-256 of the first and
last 64 KiB — options, the strategy's class and source hashes, source positions, row
counts, the ``events.jsonl`` length, the state's length before and after compression),
then the state: the codec's JSON, compressed with zstandard. It is written to a temporary
file ``.replay.snapshot.<pid>.tmp`` in the same folder, flushed to disk and renamed over
the previous snapshot (``os.replace``), so the folder always holds one whole snapshot, the
latest; a temporary file left by a process that was killed while writing is removed by
the next run that checkpoints into that folder.

A snapshot is read only by the exsim version (and format) that wrote it. A snapshot of
another version, a truncated or damaged one, a file that is not a regular file or not a
snapshot, a state that does not decode (an unknown tag or class, a field list that is not
the class's) or whose strategy code changed is refused with one line naming the file.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import sys
import time
from collections import deque
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import attrs
import zstandard

from exsim import __version__
from exsim.errors import InputError
from exsim.replay.snapshot_codec import Refused, Unsaveable, decode, encode
from exsim.replay.recorder import CsvStream, config_dict
from exsim.sinks import JsonlSink

if TYPE_CHECKING:
    from exsim.replay.interfaces import ReplayForCheckpoint

SNAPSHOT_NAME = "replay.snapshot"
FORMAT = 7  # bump when the layout of the file or of the saved state changes (1: a pickle; 4: plain data, marks in subticks, run CSVs streamed; 5: the recorder's round trips and equity curve, trades.csv streamed; 6: the recorder's position tracks, positions.csv and depth.csv streamed; 7: order holds packed into ints, accounts list their orders; 2 and 3 were never released)
MAGIC = "EXSIM-SNAPSHOT"
_EDGE_BYTES = 1 << 16  # hashed at each end of an input file, and before the events.jsonl offset
#: Replay attributes a snapshot leaves out: the input streams and the model they drive
#: (rebuilt by the resume's re-read), and this process's own settings and handles
NOT_SAVED = frozenset(
    {
        "rows",
        "index_sources",
        "model",
        "skipped_lines",
        "inputs",
        "index_files",
        "progress",
        "checkpoint_every",
        "checkpoint_path",
        "on_checkpoint",
        "run_options",
        "resumed_from",
        "_out_dir",
        "_checkpoints",
        "_checkpoint_pending",
        "_fast_forwarding",
        "_restored",
        "_wall0",
        "_open_files",
        "_open_rows",  # (where this process reads its inputs: the resume's own row_opener)
        "run_dir",  # (this process's lock on the run directory; exsim.replay.rundir)
        "run_key",
        "stopped",
        "_started_at",
        "_premium_symbols",  # (known again from the inputs the resume opens)
        # rebuilt by the resume's re-read of the inputs
        "input_spans",
        "input_is_price",
        "_price_streams_left",
        "_price_end_ns",
        "rows_after_price_end",
        "rows_before_price_start",
        "_price_start_ns",
    }
)

#: the temporary file a snapshot is written to before its rename (see "The file")
_TEMPORARY = re.compile(r"\.%s\.([0-9]{1,10})\.tmp" % re.escape(SNAPSHOT_NAME))
_MANIFEST_LIMIT = 1 << 24  # bytes of the JSON manifest line, at most
#: the state's JSON may be at most this many times its compressed size (zstandard gives
#: 6x on the shipped capture's states, 30-35x on the crash bars' with their repetitive
#: time series), and at most _MAX_STATE_BYTES: a decompression bomb is refused by the size
#: its manifest declares, before anything is decompressed, and decompression stops there
_MAX_RATIO = 256
_MAX_STATE_BYTES = 1 << 30
_ZSTD_LEVEL = 3


# ---------------------------------------------------------------------- fingerprints
def _sha256_range(path: Path, start: int, stop: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        f.seek(start)
        h.update(f.read(max(0, stop - start)))
    return h.hexdigest()


def file_fingerprint(path: str | Path) -> dict[str, Any]:
    """``{"path", "bytes", "head_sha256", "tail_sha256"}``: a file's size and the SHA-256
    of its first and last 64 KiB (enough to tell one capture from another; O(1) in size)."""
    p = Path(path)
    size = p.stat().st_size
    return {
        "path": str(p),
        "bytes": size,
        "head_sha256": _sha256_range(p, 0, min(size, _EDGE_BYTES)),
        "tail_sha256": _sha256_range(p, max(0, size - _EDGE_BYTES), size),
    }


def _events_log_mark(path: Path) -> dict[str, Any]:
    """The length of events.jsonl and the hash of the bytes before it (made durable)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)  # what the snapshot counts on is on disk before the snapshot is
    finally:
        os.close(fd)
    size = path.stat().st_size
    return {"bytes": size, "tail_sha256": _sha256_range(path, max(0, size - _EDGE_BYTES), size)}


def _options(replay: ReplayForCheckpoint) -> dict[str, Any]:
    """The options a resume must repeat (as they read back from JSON)."""
    strategy = type(replay.strategy)
    return _as_json({
        "config": config_dict(replay.config),
        "formats": [i["format"] for i in replay.inputs],
        "symbols": list(replay.symbols),
        "strategy": f"{strategy.__module__}:{strategy.__qualname__}",
        "run_options": replay.run_options,
        "writes_run_dir": replay._out_dir is not None,  # (which folder may change: see _check_events_log)
    })


def _as_json(value: Any) -> Any:
    return json.loads(json.dumps(value))


def _model_counts(replay: ReplayForCheckpoint) -> dict[str, Any]:
    model = replay.model
    return _as_json({
        "counts": list(model.counts),
        "ignored": dict(model.ignored),
        "bad_rows": model.bad_rows,
        "other_symbol_rows": model.other_symbol_rows,
        "skipped_lines": len(replay.skipped_lines),
    })


def strategy_source(strategy: object) -> dict[str, Any]:
    """``{"class": "module:Qualname", "files": [{"module", "sha256"}, ...]}``: the strategy's
    class and the SHA-256 of each source file its class and base classes (but exsim's
    :class:`~exsim.replay.strategy.Strategy`) are defined in. ``sha256`` is None for a
    module without a source file. O(size of those files)."""
    from exsim.replay.strategy import Strategy

    cls = type(strategy)
    files: list[dict[str, Any]] = []
    for k in cls.__mro__:
        if k is Strategy or k is object or any(f["module"] == k.__module__ for f in files):
            continue
        path = _class_file(k)
        digest = None
        if path is not None:
            try:
                digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
            except OSError:
                pass
        files.append({"module": k.__module__, "path": path, "sha256": digest})
    return {"class": f"{cls.__module__}:{cls.__qualname__}", "files": files}


def _class_file(cls: type) -> str | None:
    """The source file ``cls`` was defined in: where its methods were compiled (a module
    loaded from a file may not be the one ``sys.modules`` holds under its name), else its
    module's file."""
    for value in vars(cls).values():
        code = getattr(value, "__code__", None)
        if code is not None and not code.co_filename.startswith("<"):
            return str(code.co_filename)
    return getattr(sys.modules.get(cls.__module__), "__file__", None)


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Remove the temporary snapshot files (``.replay.snapshot.<pid>.tmp``) that processes
    no longer running left in ``folder`` (killed while writing); the paths removed.

    Only names of exactly that pattern are touched, and only regular files; a file of a
    process still running (another run writing its snapshot now) stays. O(files in folder).
    """
    removed: list[Path] = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    me = os.getpid()
    for name in names:
        m = _TEMPORARY.fullmatch(name)
        if m is None:
            continue
        pid = int(m.group(1))
        if pid != me and _running(pid):
            continue
        path = Path(folder) / name
        try:
            if stat.S_ISREG(path.lstat().st_mode):
                path.unlink()
                removed.append(path)
        except OSError:
            pass
    return removed


def _running(pid: int) -> bool:
    """Whether a process ``pid`` exists (one of another user counts as running)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return pid > 0
    return True


# ---------------------------------------------------------------------- writing
def _unsaveable(replay: ReplayForCheckpoint, exc: Unsaveable) -> InputError:
    """The error for a run whose state cannot be saved: the strategy's fault, or exsim's."""
    where = exc.where()
    if where == "strategy" or where.startswith(("strategy.", "strategy[")):
        cls = type(replay.strategy)
        return InputError(
            f"the strategy {cls.__module__}:{cls.__qualname__} cannot be saved in a snapshot ({exc}); a snapshot holds "
            "the strategy's attributes as plain data: keep its state in numbers, text, lists, tuples, dicts, sets, "
            "deques, Decimals, Fractions and exsim's own objects (no open files, generators, functions or objects of "
            "other classes), or run without --checkpoint-every",
            where="checkpoint",
        )
    return InputError(f"the run's state cannot be saved in a snapshot ({exc})", where="checkpoint")


def _state(replay: ReplayForCheckpoint) -> bytes:
    """The run's state as the codec's JSON (see :mod:`exsim.replay.snapshot_codec`)."""
    state = {k: v for k, v in vars(replay).items() if k not in NOT_SAVED}
    state["wall_s"] = replay.wall_s + (time.perf_counter() - replay._wall0)
    try:
        data = encode(state, replay=replay, strategy=replay.strategy, skip=lambda v: type(v) is JsonlSink or type(v) is CsvStream)  # (open files: reopened by restore)
    except Unsaveable as exc:
        raise _unsaveable(replay, exc) from None
    return json.dumps(data, separators=(",", ":"), check_circular=False).encode()


def write_snapshot(replay: ReplayForCheckpoint) -> dict[str, Any]:
    """Write the run's snapshot to ``replay.checkpoint_path`` (atomically); its summary.

    Called between two dispatches of the loop (the checkpoint timer). Returns ``{"path",
    "rows", "ts_ns", "bytes", "ms"}``. Cost: O(state) — dominated by encoding the books.
    """
    t0 = time.perf_counter()
    path = replay.checkpoint_path
    assert path is not None
    path.parent.mkdir(parents=True, exist_ok=True)
    rec = replay.recorder
    events_log = None
    if rec.jsonl is not None and rec.out_dir is not None:
        rec.jsonl.flush()
        events_log = _events_log_mark(rec.out_dir / "events.jsonl")
        events_log["csv_bytes"] = rec.flush_streams()  # fills.csv, timeseries.csv: written as the run goes
    raw = _state(replay)
    payload = zstandard.ZstdCompressor(level=_ZSTD_LEVEL).compress(raw)
    rows = sum(replay.model.counts)
    now = replay.loop.now_ns
    manifest = {
        "format": FORMAT,
        "exsim_version": __version__,
        "python": sys.version.split()[0],
        "written_unix_s": round(time.time(), 3),
        "rows": rows,
        "ts_ns": now,
        "inputs": [file_fingerprint(i["path"]) for i in replay.inputs],
        "index_files": [file_fingerprint(p) for p in replay.index_files],
        "options": _options(replay),
        "strategy_source": strategy_source(replay.strategy),
        "out_dir": None if replay._out_dir is None else str(Path(replay._out_dir).resolve()),
        "sources": [list(s) for s in replay.loop.sources()],
        "model": _model_counts(replay),
        "events_log": events_log,
        "payload_bytes": len(payload),  # the state, compressed
        "state_bytes": len(raw),  # the state's JSON
    }
    body = json.dumps(manifest, separators=(",", ":")).encode() + b"\n"
    digest = hashlib.sha256(body)
    digest.update(payload)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(f"{MAGIC} {FORMAT} {__version__} sha256={digest.hexdigest()}\n".encode())
            f.write(body)
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    try:  # the rename itself survives a power loss once the folder is synced
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:  # pragma: no cover - folders cannot be opened on some systems
        pass
    return {
        "path": str(path),
        "rows": rows,
        "ts_ns": now,
        "bytes": path.stat().st_size,
        "ms": round((time.perf_counter() - t0) * 1000, 1),
    }


# ---------------------------------------------------------------------- reading
def read_header(path: str | Path) -> dict[str, Any]:
    """The snapshot's JSON manifest, after checking it is a whole snapshot of this exsim
    version; :class:`~exsim.errors.InputError` naming the file otherwise."""
    return _read(Path(path))[0]


def _read(path: Path) -> tuple[dict[str, Any], bytes]:
    """The manifest and the compressed state of the snapshot at ``path``, checked whole."""
    where = str(path)
    try:
        # (O_NONBLOCK: opening a FIFO does not wait for a writer; it is refused just below)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise InputError(f"cannot read the snapshot ({exc.strerror or exc})", where=where) from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise InputError(f"not a regular file ({_file_kind(mode)}): a snapshot is a file written by --checkpoint-every", where=where)
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb") as f:
            fd = -1
            first = f.readline(200)
            if not first.startswith(MAGIC.encode() + b" "):
                raise InputError(f"not an exsim snapshot (it does not start with {MAGIC!r})", where=where)
            parts = first.decode("ascii", "replace").split()
            if len(parts) != 4 or not first.endswith(b"\n") or not parts[1].isdigit() or not parts[3].startswith("sha256="):
                raise InputError(f"damaged snapshot: its first line is {first[:80]!r}", where=where)
            fmt, version, digest = int(parts[1]), parts[2], parts[3][len("sha256=") :]
            if version != __version__:
                raise InputError(
                    f"the snapshot was written by exsim {version}; this is exsim {__version__}, which reads only its "
                    "own snapshots: resume with that version, or run again from the start",
                    where=where,
                )
            if fmt != FORMAT:
                raise InputError(f"snapshot format {fmt}; exsim {__version__} reads format {FORMAT}", where=where)
            body = f.readline(_MANIFEST_LIMIT)
            if not body.endswith(b"\n"):
                raise InputError("damaged snapshot: no whole manifest line after its first line", where=where)
            try:
                manifest = json.loads(body)
                size = manifest["payload_bytes"]
                if type(size) is not int:
                    size = -1
            except (ValueError, KeyError, TypeError, RecursionError):
                manifest, size = None, -1
            # the sizes first: a file of another length is refused before its state is read
            remaining = os.fstat(f.fileno()).st_size - f.tell()
            if 0 <= size and remaining < size:
                raise InputError(f"truncated snapshot: {remaining:,} of its {size:,} bytes of state are there", where=where)
            if remaining != size:
                raise InputError("damaged snapshot: its content does not match the checksum in its first line", where=where)
            payload = f.read(size)
    except OSError as exc:
        raise InputError(f"cannot read the snapshot ({exc.strerror or exc})", where=where) from None
    finally:
        if fd >= 0:
            os.close(fd)
    whole = hashlib.sha256(body)
    whole.update(payload)
    if whole.hexdigest() != digest or len(payload) != size:
        raise InputError("damaged snapshot: its content does not match the checksum in its first line", where=where)
    problem = _manifest_problem(manifest)
    if problem:
        raise InputError(f"damaged snapshot: its manifest {problem}", where=where)
    return manifest, payload


def _file_kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a regular file"


#: what a manifest holds, key by key: a type, a tuple of types (None allowed), a nested
#: shape (a dict) or ``[shape]`` for a list of them
_FINGERPRINT = {"path": str, "bytes": int, "head_sha256": str, "tail_sha256": str}
_MANIFEST_SHAPE: dict[str, Any] = {
    "format": int,
    "exsim_version": str,
    "rows": int,
    "ts_ns": int,
    "inputs": [_FINGERPRINT],
    "index_files": [_FINGERPRINT],
    "options": {"config": dict, "formats": list, "symbols": list, "strategy": str, "run_options": dict, "writes_run_dir": bool},
    "strategy_source": {"class": str, "files": [{"module": str, "path": (str, type(None)), "sha256": (str, type(None))}]},
    "out_dir": (str, type(None)),
    "sources": [list],
    "model": dict,
    "events_log": (dict, type(None)),
    "payload_bytes": int,
    "state_bytes": int,
}


def _shape_problem(value: Any, shape: Any, name: str) -> str | None:
    if isinstance(shape, dict):
        if type(value) is not dict:
            return f"{name or 'the manifest'} is not an object"
        for key, inner in shape.items():
            inner_name = f"{name}.{key}" if name else key
            if key not in value:
                return f"has no {inner_name}"
            problem = _shape_problem(value[key], inner, inner_name)
            if problem:
                return problem
        return None
    if isinstance(shape, list):
        if type(value) is not list:
            return f"{name} is not a list"
        for i, item in enumerate(value):
            problem = _shape_problem(item, shape[0], f"{name}[{i}]")
            if problem:
                return problem
        return None
    if type(value) not in (shape if isinstance(shape, tuple) else (shape,)):
        return f"{name} is not a {'/'.join(t.__name__ for t in (shape if isinstance(shape, tuple) else (shape,)))}"
    return None


def _manifest_problem(manifest: Any) -> str | None:
    """What is wrong with a manifest's layout (None: it has every field, of its type)."""
    problem = _shape_problem(manifest, _MANIFEST_SHAPE, "")
    if problem:
        return problem
    for s in manifest["sources"]:
        if len(s) != 3 or type(s[0]) is not int or type(s[1]) is not str or type(s[2]) is not int:
            return f"source entry {str(s)[:60]} is not [number, name, items read]"
    log = manifest["events_log"]
    if log is not None and (type(log.get("bytes")) is not int or log["bytes"] < 0 or type(log.get("tail_sha256")) is not str):
        return "events_log is not {bytes, tail_sha256}"
    if manifest["payload_bytes"] < 0 or not 0 <= manifest["state_bytes"] <= _MAX_RATIO * manifest["payload_bytes"] + (1 << 20):
        return f"state_bytes {manifest['state_bytes']:,} is not a size its {manifest['payload_bytes']:,} compressed bytes can have"
    if manifest["state_bytes"] > _MAX_STATE_BYTES:
        return f"state_bytes {manifest['state_bytes']:,} is more than exsim reads ({_MAX_STATE_BYTES:,})"
    return None


def _load_state(replay: ReplayForCheckpoint, manifest: dict[str, Any], payload: bytes, where: str) -> dict[str, Any]:
    """The saved attributes of the replay, decoded (the strategy's set on ``replay.strategy``)."""
    size = manifest["state_bytes"]
    try:
        reader = zstandard.ZstdDecompressor().stream_reader(payload)
        chunks: list[bytes] = []
        got = 0
        while got <= size:  # bounded: never more than the manifest's size (+1 to notice more)
            chunk = reader.read(min(1 << 20, size + 1 - got))
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
    except zstandard.ZstdError as exc:
        raise InputError(f"damaged snapshot: its state does not decompress ({exc})", where=where) from None
    if got != size:
        raise InputError(f"damaged snapshot: its state is not the {size:,} bytes its manifest says", where=where)
    try:
        data = json.loads(b"".join(chunks))
    except (ValueError, RecursionError) as exc:
        raise InputError(f"damaged snapshot: its state is not JSON ({str(exc)[:120]})", where=where) from None
    try:
        return decode(data, replay=replay, strategy=replay.strategy)
    except Refused as exc:
        raise InputError(f"refused snapshot: {exc}", where=where) from None


# ---------------------------------------------------------------------- resuming
def restore(replay: ReplayForCheckpoint, path: str | Path) -> None:
    """Continue ``replay`` (just built with the snapshot's files and options) from the
    snapshot at ``path``. Everything is checked before any file is touched.

    Cost: decoding the state, and a re-read of the inputs up to the snapshot (the readers
    and the market model, not the exchange).
    """
    snap = Path(path)
    where = str(snap)
    manifest, payload = _read(snap)
    _check_inputs(replay, manifest, where)
    events_path = _check_events_log(replay, manifest, where)
    remove_stale_temporaries(snap.parent)
    saved = _load_state(replay, manifest, payload, where)
    # the sources, re-read to where the snapshot's run had read them
    replay._fast_forwarding = True
    try:
        sources = {0: replay.market_items()}
        for i, src in enumerate(replay.index_sources, 1):
            sources[i] = src
        last: dict[int, Any] = {}
        for number, _name, count in manifest["sources"]:
            if number not in sources:
                raise InputError(f"the snapshot reads a source {number} this run does not have", where=where)
            last[number] = _skip(sources[number], count, where)
    finally:
        replay._fast_forwarding = False
    counts, saved_counts = _model_counts(replay), manifest["model"]
    if counts != saved_counts:
        differ = ", ".join(f"{k} {counts[k]} (snapshot: {saved_counts.get(k)})" for k in counts if counts[k] != saved_counts.get(k))
        raise InputError(f"the inputs differ from the snapshot's: read as far, they give {differ}", where=where)
    # the state
    vars(replay).update({k: v for k, v in saved.items() if k not in NOT_SAVED})
    try:
        loop = replay.loop
        for number, _name, _count in manifest["sources"]:
            if loop.source_head(number) != last[number]:
                raise InputError(f"the inputs differ from the snapshot's: source {number} reads another item there", where=where)
            loop.reattach_source(number, sources[number])
        loop._check()
        replay.exchange._check()
        replay.ledger._check()
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - a state that decodes but does not hold together
        raise InputError(f"refused snapshot: its state does not hold together ({type(exc).__name__}: {str(exc)[:120]})", where=where) from None
    # the run's events.jsonl, cut back to the snapshot's length
    if events_path is not None:
        replay.recorder.out_dir = events_path.parent
        os.truncate(events_path, manifest["events_log"]["bytes"])
        f = open(events_path, "a", encoding="utf-8", newline="\n")
        replay._open_files.append(f)
        replay.recorder.jsonl = JsonlSink(f)
        replay._open_files += replay.recorder.reopen_streams(events_path.parent, manifest["events_log"]["csv_bytes"])
    replay._restored = True
    replay.resumed_from = {"path": where, "rows": manifest["rows"], "ts_ns": manifest["ts_ns"]}


def _skip(items: Iterator[Any], count: int, where: str) -> Any:
    """Read ``count`` items of ``items``; the last one (None for 0)."""
    if count <= 0:
        return None
    deque(islice(items, count - 1), maxlen=0)
    last = next(items, _MISSING)
    if last is _MISSING:
        raise InputError(f"the inputs differ from the snapshot's: they end before the {count:,} items it had read", where=where)
    return last


_MISSING = object()


def _check_inputs(replay: ReplayForCheckpoint, manifest: dict[str, Any], where: str) -> None:
    """The same files (by content) and options as the snapshot's run, else an error."""
    for what, saved, paths in (
        ("input file", manifest["inputs"], [i["path"] for i in replay.inputs]),
        ("--index-file", manifest["index_files"], replay.index_files),
    ):
        if len(saved) != len(paths):
            raise InputError(
                f"the snapshot was made from {len(saved)} {what}(s) ({', '.join(s['path'] for s in saved) or 'none'}); "
                f"{len(paths)} given ({', '.join(paths) or 'none'})",
                where=where,
            )
        for s, p in zip(saved, paths):
            now = file_fingerprint(p)
            if now["bytes"] != s["bytes"]:
                raise InputError(
                    f"{what} {p} is not the file the snapshot was made from ({s['path']}): {now['bytes']:,} bytes, "
                    f"the snapshot's had {s['bytes']:,}",
                    where=where,
                )
            if now["head_sha256"] != s["head_sha256"] or now["tail_sha256"] != s["tail_sha256"]:
                raise InputError(
                    f"{what} {p} is not the file the snapshot was made from ({s['path']}): same size, other content",
                    where=where,
                )
    saved_opts, opts = manifest["options"], _options(replay)
    differ = []
    for key in ("config", "run_options"):
        a, b = saved_opts[key], opts[key]
        differ += [f"{k}={b.get(k)!r} (snapshot: {a.get(k)!r})" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    for key in ("formats", "symbols", "strategy"):
        if saved_opts[key] != opts[key]:
            differ.append(f"{key} {opts[key]!r} (snapshot: {saved_opts[key]!r})")
    if saved_opts["writes_run_dir"] and not opts["writes_run_dir"]:
        differ.append(f"no run directory (snapshot: {manifest['out_dir']}; give that folder, or a copy of it)")
    elif opts["writes_run_dir"] and not saved_opts["writes_run_dir"]:
        differ.append("a run directory (snapshot: none, so there is no events.jsonl to continue)")
    if differ:
        raise InputError(
            "the options differ from the snapshot's run: " + "; ".join(differ) + "; resume with the same options",
            where=where,
        )
    changed = _strategy_changes(manifest["strategy_source"], strategy_source(replay.strategy))
    if changed:
        raise InputError(
            f"the strategy's code changed since the snapshot: {changed}; resume with the code that wrote it, or run "
            "again from the start",
            where=where,
        )


def _strategy_changes(saved: dict[str, Any], now: dict[str, Any]) -> str:
    """What differs between the strategy sources of the snapshot and of this run ("": none)."""
    if saved["class"] != now["class"]:
        return f"class {now['class']} (snapshot: {saved['class']})"
    before = {f["module"]: f for f in saved["files"]}
    after = {f["module"]: f for f in now["files"]}
    if list(before) != list(after):
        return f"its classes come from {', '.join(after) or 'no module'} (snapshot: {', '.join(before) or 'no module'})"
    edited = [f"{f['path'] or module} ({module})" for module, f in after.items() if f["sha256"] != before[module]["sha256"]]
    return ", ".join(edited) + (" differs" if len(edited) == 1 else " differ") if edited else ""


def _check_events_log(replay: ReplayForCheckpoint, manifest: dict[str, Any], where: str) -> Path | None:
    """The run directory's events.jsonl holds at least what the snapshot counted.

    The run directory is the one given now: usually the snapshot's run's, but a copy of
    it elsewhere (with its events.jsonl) does as well.
    """
    mark = manifest["events_log"]
    if mark is None or replay._out_dir is None:
        return None
    path = Path(replay._out_dir) / "events.jsonl"
    size = path.stat().st_size if path.is_file() else -1
    if size < mark["bytes"]:
        have = "is missing" if size < 0 else f"has {size:,} bytes"
        raise InputError(f"{path} {have}; the snapshot's run had written {mark['bytes']:,}", where=where)
    start = max(0, mark["bytes"] - _EDGE_BYTES)
    if _sha256_range(path, start, mark["bytes"]) != mark["tail_sha256"]:
        raise InputError(f"{path} is not the one the snapshot's run wrote (its content differs)", where=where)
    return path
