"""Snapshot write and read: exsim's plain-data snapshots against the pickles they replaced.

The shipped Binance capture replayed with the market maker and ``--checkpoint-every
100000`` (5 snapshots). At each checkpoint the same state is written both ways in the same
process, so the machine's load falls on both alike:

* **data** — what ``write_snapshot`` does: the codec's walk, ``json.dumps``, zstandard
  (level 3); read back: decompress, ``json.loads``, the codec's decode;
* **pickle** — what exsim 0.1.0 wrote before (protocol 5, the replay and the events sink by
  a dispatch table, as it did), and ``pickle.loads`` of it (our own bytes, in memory: never
  a file).

Figures (CPU time, best of 3 per snapshot) go to ``extra_info`` and are printed with ``-s``.
The benchmark asserts what it reached: every decoded state encodes again to the same bytes.
"""

from __future__ import annotations

import io
import json
import pickle
import time
from pathlib import Path
from typing import Any

import zstandard

from exsim.replay import Replay, ReplayConfig
from exsim.replay import checkpoint
from exsim.replay.snapshot_codec import decode, encode
from exsim.sinks import JsonlSink
from exsim_examples.market_maker import MarketMaker

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "replays" / "binance-usdm-btcusdt-20240808.gz"
ROUNDS = 3


def best(fn: Any) -> tuple[float, Any]:
    """The least CPU time of ``ROUNDS`` calls of ``fn`` (ms), and its result."""
    times = []
    for _ in range(ROUNDS):
        t0 = time.process_time()
        out = fn()
        times.append(time.process_time() - t0)
    return round(min(times) * 1000, 1), out


_TARGET: list[Replay] = []  # the replay a pickle's replay references become


def _the_replay() -> Replay:
    return _TARGET[-1]


def _no_sink() -> None:
    return None


def _pickled(replay: Replay, state: dict[str, Any]) -> bytes:
    """As exsim 0.1.0's checkpoint pickled: a dispatch table (looked up in C, no Python
    call per object) writes the replay and the events sink as calls that give them back."""
    import copyreg

    buf = io.BytesIO()
    p = pickle.Pickler(buf, protocol=5)
    table = dict(copyreg.dispatch_table)
    table[type(replay)] = lambda obj: (_the_replay, ())
    table[JsonlSink] = lambda obj: (_no_sink, ())
    p.dispatch_table = table
    p.dump(state)
    return buf.getvalue()


def _unpickled(data: bytes, target: Replay) -> Any:
    _TARGET.append(target)
    try:
        return pickle.loads(data)
    finally:
        _TARGET.pop()


def measure(replay: Replay, target: Replay) -> dict[str, Any]:
    """Both ways, on ``replay``'s state now; decoded into ``target`` (a replay built alike)."""
    state = {k: v for k, v in vars(replay).items() if k not in checkpoint.NOT_SAVED}
    skip = lambda v: type(v) is JsonlSink  # noqa: E731

    def write_data() -> tuple[bytes, bytes]:
        raw = json.dumps(encode(state, replay=replay, strategy=replay.strategy, skip=skip), separators=(",", ":"), check_circular=False).encode()
        return raw, zstandard.ZstdCompressor(level=3).compress(raw)

    def read_data() -> dict[str, Any]:
        raw = zstandard.ZstdDecompressor().stream_reader(packed).read()
        return decode(json.loads(raw), replay=target, strategy=target.strategy)

    def write_pickle() -> bytes:
        return _pickled(replay, state)

    data_write_ms, (raw, packed) = best(write_data)
    data_read_ms, restored = best(read_data)
    pickle_write_ms, pickled = best(write_pickle)
    pickle_read_ms, _ = best(lambda: _unpickled(pickled, target))
    again = json.dumps(encode(restored, replay=target, strategy=target.strategy, skip=skip), separators=(",", ":"), check_circular=False).encode()
    assert again == raw  # the decoded graph is the saved one
    return {
        "rows": sum(replay.model.counts),
        "data_bytes": len(packed),
        "data_json_bytes": len(raw),
        "pickle_bytes": len(pickled),
        "data_write_ms": data_write_ms,
        "pickle_write_ms": pickle_write_ms,
        "data_read_ms": data_read_ms,
        "pickle_read_ms": pickle_read_ms,
    }


def test_snapshot_write_and_read_vs_pickle(benchmark: Any, tmp_path: Path) -> None:
    """The shipped capture's 5 checkpoints, written and read as data and as pickles."""
    figures: list[dict[str, Any]] = []

    def run() -> None:
        figures.clear()
        target = Replay([SHIPPED], MarketMaker(qty="0.01"), ReplayConfig(leverage=20))
        replays: list[Replay] = []

        def on_checkpoint(info: dict[str, Any]) -> None:
            figures.append(measure(replays[0], target))

        replay = Replay(
            [SHIPPED], MarketMaker(qty="0.01"), ReplayConfig(leverage=20), checkpoint_every=100_000,
            checkpoint_dir=tmp_path / "ck", on_checkpoint=on_checkpoint,
        )  # fmt: skip
        replays.append(replay)
        replay.run()

    benchmark.pedantic(run, rounds=1, iterations=1)
    assert [f["rows"] // 100_000 for f in figures] == [1, 2, 3, 4, 5]
    for f in figures:
        print(
            f"rows {f['rows']:>7,}: data {f['data_bytes']:>9,} B ({f['data_json_bytes']:>9,} B JSON) "
            f"write {f['data_write_ms']:>6.1f} ms read {f['data_read_ms']:>6.1f} ms | pickle {f['pickle_bytes']:>9,} B "
            f"write {f['pickle_write_ms']:>6.1f} ms read {f['pickle_read_ms']:>6.1f} ms"
        )
    benchmark.extra_info["snapshots"] = figures
