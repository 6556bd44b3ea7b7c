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
Everything the run has built, pickled in one graph: the exchange (books, orders, trigger
index, marks, funding state), the ledger (accounts, positions, insurance fund), the event
loop (queued commands, timers, each source's read state and the one item it read ahead),
the strategy object and its context, the recorder (fills, time series, liquidations) and
the replay's own counters. Not the input streams: a reader over a compressed file is a
chain of generators, which cannot be pickled. Instead the snapshot records how many items
each of the loop's sources had read, and a resume opens the same files with the same
options, builds the same sources (readers are deterministic) and reads them again up to
that many items without running anything: the sources are then exactly where they were,
whatever their internal state (a diff-depth batch half gathered, a quote waiting for its
other side). The market model's row counts after that re-read, and the last item read,
must equal the snapshot's, else the inputs differ and the resume is refused.

The run directory's ``events.jsonl``, ``fills.csv`` and ``timeseries.csv`` (written as the
run goes) are flushed at each snapshot and their lengths recorded; a resume truncates them
to those lengths (lines written after the snapshot, before a crash, would otherwise appear
twice) and appends. ``summary.json`` is written at the end from the state the snapshot
holds.

The file
--------
One header line ``EXSIM-SNAPSHOT <format> <exsim version> sha256=<hex>`` (the SHA-256 of
everything after it), one line of JSON (what the snapshot was made from: input
fingerprints — size and SHA-256 of the first and last 64 KiB — options, source positions,
row counts, the ``events.jsonl`` length, the payload's length), then the pickle. It is written to a temporary file in the same
folder, flushed to disk and renamed over the previous snapshot (``os.replace``), so the
folder always holds one whole snapshot, the latest.

A snapshot is read only by the exsim version (and format) that wrote it; a snapshot of
another version, a truncated or damaged one, or a file that is not a snapshot is refused
with one line naming the file. **Snapshots are pickles: loading one runs code it names.
Resume only from snapshots you wrote.**
"""

from __future__ import annotations

import copyreg
import hashlib
import io
import json
import os
import pickle
import sys
import time
from collections import deque
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import attrs

from exsim import __version__
from exsim.errors import InputError
from exsim.replay.recorder import CsvStream
from exsim.sinks import JsonlSink

if TYPE_CHECKING:
    from exsim.replay.runner import Replay

SNAPSHOT_NAME = "replay.snapshot"
FORMAT = 2  # bump when the layout of the file or of the pickled state changes
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

_restoring: list[Replay] = []  # the replay being restored (what its pickled references become)


def _the_replay() -> Replay:
    """Unpickling: the replay the snapshot is being restored into."""
    if not _restoring:
        raise pickle.UnpicklingError("a replay is only unpickled by exsim.replay.checkpoint.restore")
    return _restoring[-1]


def _no_events_log() -> None:
    """Unpickling: the recorder's events.jsonl sink (reopened by :func:`restore`)."""
    return None


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


def _options(replay: Replay) -> dict[str, Any]:
    """The options a resume must repeat (as they read back from JSON)."""
    strategy = type(replay.strategy)
    return _as_json({
        "config": attrs.asdict(replay.config),
        "formats": [i["format"] for i in replay.inputs],
        "symbols": list(replay.symbols),
        "strategy": f"{strategy.__module__}:{strategy.__qualname__}",
        "run_options": replay.run_options,
        "writes_run_dir": replay._out_dir is not None,  # (which folder may change: see _check_events_log)
    })


def _as_json(value: Any) -> Any:
    return json.loads(json.dumps(value))


def _model_counts(replay: Replay) -> dict[str, Any]:
    model = replay.model
    return _as_json({
        "counts": list(model.counts),
        "ignored": dict(model.ignored),
        "bad_rows": model.bad_rows,
        "other_symbol_rows": model.other_symbol_rows,
        "skipped_lines": len(replay.skipped_lines),
    })


# ---------------------------------------------------------------------- writing
def _pickler(buf: io.BytesIO, replay: Replay) -> pickle.Pickler:
    p = pickle.Pickler(buf, protocol=5)
    # by type, looked up in C: no Python call per pickled object (a pickler's own table
    # replaces copyreg's, so it starts as a copy of it)
    table = dict(copyreg.dispatch_table)
    table[type(replay)] = lambda obj: (_the_replay, ())
    table[JsonlSink] = lambda obj: (_no_events_log, ())
    table[CsvStream] = lambda obj: (_no_events_log, ())  # the run's CSVs: reopened by restore
    p.dispatch_table = table
    return p


def _not_picklable(replay: Replay, exc: Exception) -> InputError:
    """The error for a run whose state does not pickle: the strategy's fault, or exsim's."""
    strategy = replay.strategy
    name = f"{type(strategy).__module__}:{type(strategy).__qualname__}"
    try:
        _pickler(io.BytesIO(), replay).dump(strategy)
    except Exception as s_exc:  # noqa: BLE001 - any pickling failure is reported the same way
        return InputError(
            f"the strategy {name} cannot be saved in a snapshot ({type(s_exc).__name__}: {s_exc}); a checkpoint "
            "pickles the strategy object: keep its state in plain attributes (no open files, generators, "
            "lambdas or locally defined classes), or run without --checkpoint-every",
            where="checkpoint",
        )
    return InputError(f"the run's state cannot be saved in a snapshot ({type(exc).__name__}: {exc})", where="checkpoint")


def write_snapshot(replay: Replay) -> dict[str, Any]:
    """Write the run's snapshot to ``replay.checkpoint_path`` (atomically); its summary.

    Called between two dispatches of the loop (the checkpoint timer). Returns ``{"path",
    "rows", "ts_ns", "bytes", "ms"}``. Cost: O(state) — dominated by pickling the books.
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
    state = {k: v for k, v in vars(replay).items() if k not in NOT_SAVED}
    state["wall_s"] = replay.wall_s + (time.perf_counter() - replay._wall0)
    buf = io.BytesIO()
    try:
        _pickler(buf, replay).dump({"replay": state})
    except Exception as exc:  # noqa: BLE001 - whatever pickle raises, say what could not be saved
        raise _not_picklable(replay, exc) from exc
    payload = buf.getbuffer()
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
        "out_dir": None if replay._out_dir is None else str(Path(replay._out_dir).resolve()),
        "sources": [list(s) for s in replay.loop.sources()],
        "model": _model_counts(replay),
        "events_log": events_log,
        "payload_bytes": len(payload),
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
    where = str(path)
    try:
        with open(path, "rb") as f:
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
            body = f.readline()
            payload = f.read()
    except OSError as exc:
        raise InputError(f"cannot read the snapshot ({exc.strerror or exc})", where=where) from None
    whole = hashlib.sha256(body)
    whole.update(payload)
    try:
        manifest = json.loads(body)
        size = int(manifest["payload_bytes"])
    except (ValueError, KeyError, TypeError):
        size = -1
    if 0 <= size and len(payload) < size:
        raise InputError(f"truncated snapshot: {len(payload):,} of its {size:,} bytes of state are there", where=where)
    if whole.hexdigest() != digest or len(payload) != size:
        raise InputError("damaged snapshot: its content does not match the checksum in its first line", where=where)
    return manifest, payload


# ---------------------------------------------------------------------- resuming
def restore(replay: Replay, path: str | Path) -> None:
    """Continue ``replay`` (just built with the snapshot's files and options) from the
    snapshot at ``path``. Everything is checked before any file is touched.

    Cost: a re-read of the inputs up to the snapshot (the readers and the market model,
    not the exchange), and the unpickling.
    """
    snap = Path(path)
    where = str(snap)
    manifest, payload = _read(snap)
    _check_inputs(replay, manifest, where)
    events_path = _check_events_log(replay, manifest, where)
    # 1. the sources, re-read to where the snapshot's run had read them
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
    # 2. the state
    _restoring.append(replay)
    try:
        saved = pickle.loads(payload)["replay"]
    except Exception as exc:  # noqa: BLE001 - a payload that passed the checksum but does not load
        raise InputError(f"the snapshot's state cannot be loaded ({type(exc).__name__}: {exc})", where=where) from None
    finally:
        _restoring.pop()
    vars(replay).update({k: v for k, v in saved.items() if k not in NOT_SAVED})
    loop = replay.loop
    for number, _name, _count in manifest["sources"]:
        if loop.source_head(number) != last[number]:
            raise InputError(f"the inputs differ from the snapshot's: source {number} reads another item there", where=where)
        loop.reattach_source(number, sources[number])
    loop._check()
    replay.exchange._check()
    replay.ledger._check()
    # 3. the run's events.jsonl, cut back to the snapshot's length
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


def _check_inputs(replay: Replay, manifest: dict[str, Any], where: str) -> None:
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


def _check_events_log(replay: Replay, manifest: dict[str, Any], where: str) -> Path | None:
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
