"""Checkpoint and resume (``--checkpoint-every``, ``--resume``): a run resumed from any of
its snapshots — in a fresh Replay, or after the process was killed — ends in the same state
hash, summary and output files as a run that never stopped; snapshots of another version,
damaged files and other inputs or options are refused in one clear line."""

from __future__ import annotations

import filecmp
import gzip
import hashlib
import itertools
import json
import os
import pickle
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import zstandard

from exsim.cli import main
from exsim.errors import InputError, StateError
from exsim.exchange import ReplayedTrade, SetMarkPrice
from exsim.loop.event_loop import EventLoop, Timer
from exsim.readers import open_rows
from exsim.readers.native import write_rows
from exsim.replay import Replay, ReplayConfig
from exsim.replay.checkpoint import FORMAT, SNAPSHOT_NAME, read_header
from exsim_examples.holder import Holder
from exsim_examples.market_maker import MarketMaker

ROOT = Path(__file__).resolve().parents[2]
CRASH = ROOT / "replays" / "btc-perp-20220121-1m.csv"
CAPTURE = ROOT / "replays" / "binance-usdm-btcusdt-20240808.gz"
OUTPUTS = ("events.jsonl", "fills.csv", "timeseries.csv", "trades.csv", "positions.csv", "depth.csv", "instruments.json")
NOT_COMPARED = ("wall_s", "rows_per_s", "checkpoint")  # wall time, and where this process's snapshots went
EXCERPT_ROWS = 150_000  # of the capture: its first 92 s of depth, trades and quotes


def comparable(summary: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in summary.items() if k not in NOT_COMPARED}


def same_outputs(a: Path, b: Path) -> None:
    for name in OUTPUTS:
        assert filecmp.cmp(a / name, b / name, shallow=False), name


def crash_holder() -> Holder:
    return Holder(qty="0.4", leverage=125, margin_mode="isolated", enter_after_s=3600)


CRASH_CONFIG = ReplayConfig(balance="1000", symbol="BTCUSDT")


def market_maker() -> MarketMaker:
    return MarketMaker(qty="0.01", half_spread_ticks=1, max_position="0.05", requote_ms=200)


MM_CONFIG = ReplayConfig(balance="10000", leverage=20)


class Kept:
    """``on_checkpoint``: keeps a copy of every snapshot (a run keeps only the latest)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.snapshots: list[tuple[Path, dict[str, Any]]] = []

    def __call__(self, info: dict[str, Any]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        copy = self.folder / f"{len(self.snapshots)}.snapshot"
        shutil.copyfile(info["path"], copy)
        self.snapshots.append((copy, info))


@pytest.fixture(scope="module")
def excerpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The capture's first rows, in exsim's own format (a slice that replays in a second)."""
    path = tmp_path_factory.mktemp("excerpt") / "capture-excerpt.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8", newline="") as f:
        write_rows(itertools.islice(open_rows(CAPTURE)[1], EXCERPT_ROWS), f, "exsim-csv")
    return path


class Log:
    """Stands in for the exchange under a bare loop: records what it is given."""

    def __init__(self) -> None:
        self.seen: list[Any] = []

    def submit(self, command: Any) -> None:
        self.seen.append(command)

    def __call__(self, loop: EventLoop, ts: int) -> None:  # also a (picklable) timer callback
        self.seen.append(("timer", ts))


def loop_items() -> list[Any]:
    """A source with several items per timestamp, of different priorities."""
    items: list[Any] = []
    for ts in (1, 1, 2, 3, 3, 3, 5, 8, 8, 13):
        items.append(ReplayedTrade(ts, "BTCUSDT", 0, 600_000 + ts, 1))
        if ts % 2:
            items.append(SetMarkPrice(ts, "BTCUSDT", (600_000 + ts) * 10_000_000 + 12_345))  # subticks
    return items


class TestLoopCheckpoint:
    """The event loop pickles between two dispatches; its sources are reattached, advanced."""

    def test_a_restored_loop_dispatches_what_the_uninterrupted_one_would(self) -> None:
        """Stopped after any number of dispatches, pickled, restored and reattached: the same sequence."""
        def build() -> tuple[EventLoop, Log]:
            log = Log()
            loop = EventLoop(log)
            loop.add_source(loop_items(), name="data")
            loop.call_every(2, 3, log)
            return loop, log

        whole_loop, whole = build()
        whole_loop.run(until_ns=13)
        midway = 0
        for k in range(len(whole.seen)):
            loop, log = build()
            loop.run(max_events=k)
            reading = loop.sources()  # (none once the source is exhausted)
            loop2, log2 = pickle.loads(pickle.dumps((loop, log)))
            for number, name, read in reading:
                assert (number, name) == (0, "data")
                midway += 0 < read < len(loop_items())
                loop2.reattach_source(0, iter(loop_items()[read:]))
                assert loop2.source_head(0) == (loop_items()[read - 1] if read else None)
            loop2.run(until_ns=13)
            assert log2.seen == whole.seen, k
            loop2._check()
        assert midway >= 8  # most stops fell with the source part read

    def test_a_source_not_reattached_says_so(self) -> None:
        """Reading a restored source that was never reattached is an error naming it."""
        log = Log()
        loop = EventLoop(log)
        loop.add_source(loop_items(), name="data")
        loop.run(max_events=1)
        restored = pickle.loads(pickle.dumps(loop))
        with pytest.raises(StateError, match="source 'data' .* not reattached"):
            restored.run()


class TestCrashBars:
    """The January 2022 crash bars: a 125x long, liquidated after the middle snapshot."""

    def test_resume_from_every_snapshot_ends_as_the_uninterrupted_run(self, tmp_path: Path) -> None:
        """Each snapshot, resumed in a fresh Replay, gives the uninterrupted run's hash, summary and files."""
        plain = Replay([CRASH], crash_holder(), CRASH_CONFIG, out_dir=tmp_path / "plain").run()
        kept = Kept(tmp_path / "kept")
        checked = Replay(
            [CRASH], crash_holder(), CRASH_CONFIG, out_dir=tmp_path / "checked", checkpoint_every=250, on_checkpoint=kept
        ).run()
        # checkpointing changes nothing in the run
        assert checked["state_hash"] == plain["state_hash"] and comparable(checked) == comparable(plain)
        same_outputs(tmp_path / "plain", tmp_path / "checked")
        assert [info["rows"] for _, info in kept.snapshots] == [250, 500, 750]
        assert plain["account"]["liquidations"] == 1
        for i, (snapshot, info) in enumerate(kept.snapshots):
            out = tmp_path / f"resumed{i}"
            shutil.copytree(tmp_path / "checked", out)  # a whole events.jsonl: cut back to the snapshot
            (out / "instruments.json").unlink()  # the resumed run writes its own
            replay = Replay([CRASH], crash_holder(), CRASH_CONFIG, out_dir=out, resume=snapshot)
            if i == 0:  # the middle of the story: holding 0.4 BTC at 125x, not yet liquidated
                assert replay.strategy.state == "holding" and replay.ctx.position("BTCUSDT") is not None
            resumed = replay.run()
            assert resumed["state_hash"] == plain["state_hash"]
            assert resumed["account"] == plain["account"] and comparable(resumed) == comparable(plain)
            assert resumed["checkpoint"]["resumed_from"]["rows"] == info["rows"]
            same_outputs(tmp_path / "plain", out)

    def test_the_summary_says_where_the_latest_snapshot_is(self, tmp_path: Path) -> None:
        """One snapshot file, the latest, replaced atomically; the summary names it and its row."""
        summary = Replay([CRASH], crash_holder(), CRASH_CONFIG, checkpoint_every=300, checkpoint_dir=tmp_path / "ck").run()
        path = tmp_path / "ck" / SNAPSHOT_NAME
        assert summary["checkpoint"] == {"every_rows": 300, "latest": str(path), "written": 3, "latest_at_row": 900}
        assert [p.name for p in (tmp_path / "ck").iterdir()] == [SNAPSHOT_NAME]  # no temporary file left
        assert read_header(path)["rows"] == 900

    def test_no_snapshot_is_written_once_the_data_has_ended(self, tmp_path: Path) -> None:
        """A checkpoint due in the last read (rows that give no command) is not taken; the earlier one resumes."""
        rows = ["ts_ns,kind,symbol,side,price,qty,rate"]
        t0 = 1_700_000_000_000_000_000
        rows += [f"{t0 + i * 10**9},trade,BTCUSDT,buy,{60_000 + i}.0,0.010," for i in range(50)]
        rows += [f"{t0 + (60 + i) * 10**9},mark,BTCUSDT,,60000.0,," for i in range(30)]  # left out: marks computed
        path = tmp_path / "tail.csv"
        path.write_text("\n".join(rows) + "\n")
        config = ReplayConfig(mark="computed")
        plain = Replay([path], Holder(qty="0.01", leverage=10), config).run()
        checked = Replay([path], Holder(qty="0.01", leverage=10), config, checkpoint_every=25, checkpoint_dir=tmp_path / "ck").run()
        assert checked["checkpoint"]["written"] == 2 and checked["checkpoint"]["latest_at_row"] == 50  # not 75
        resumed = Replay([path], Holder(qty="0.01", leverage=10), config, resume=tmp_path / "ck" / SNAPSHOT_NAME).run()
        assert resumed["state_hash"] == plain["state_hash"] and comparable(resumed) == comparable(plain)

    def test_a_resumed_run_goes_on_writing_checkpoints(self, tmp_path: Path) -> None:
        """Resumed with checkpoints on, a run writes the later snapshots, and resuming from those works too."""
        plain = Replay([CRASH], crash_holder(), CRASH_CONFIG).run()
        first = Kept(tmp_path / "first")
        Replay([CRASH], crash_holder(), CRASH_CONFIG, checkpoint_every=400, checkpoint_dir=tmp_path / "ck0", on_checkpoint=first).run()
        second = Kept(tmp_path / "second")
        again = Replay(
            [CRASH], crash_holder(), CRASH_CONFIG, checkpoint_every=400, checkpoint_dir=tmp_path / "ck",
            resume=first.snapshots[0][0], on_checkpoint=second,
        ).run()
        assert again["state_hash"] == plain["state_hash"]
        assert [info["rows"] for _, info in second.snapshots] == [800]
        last = Replay([CRASH], crash_holder(), CRASH_CONFIG, resume=second.snapshots[0][0]).run()
        assert last["state_hash"] == plain["state_hash"] and comparable(last) == comparable(plain)


class TestCapture:
    """A slice of the Binance capture (replayed depth) with a market maker's timers and quotes."""

    def test_market_maker_resumes_with_its_quotes_timers_and_run_files(self, tmp_path: Path, excerpt: Path) -> None:
        """Resumed mid-run, resting quotes, the requote timer and the depth stream continue exactly."""
        plain = Replay([excerpt], market_maker(), MM_CONFIG, out_dir=tmp_path / "plain").run()
        kept = Kept(tmp_path / "kept")
        Replay([excerpt], market_maker(), MM_CONFIG, out_dir=tmp_path / "checked", checkpoint_every=40_000, on_checkpoint=kept).run()
        assert len(kept.snapshots) == 3
        snapshot, info = kept.snapshots[1]
        out = tmp_path / "resumed"
        shutil.copytree(tmp_path / "checked", out)
        replay = Replay([excerpt], market_maker(), MM_CONFIG, out_dir=out, resume=snapshot)
        # the snapshot holds the maker's resting quotes in the book and its pending requote
        resting = replay.ctx.open_orders("BTCUSDT")
        assert resting and all(oid in replay.exchange.book("BTCUSDT").orders for oid in resting)
        timers = [entry[4] for entry in replay.loop._heap if isinstance(entry[4], Timer) and entry[4].active]
        assert any(getattr(t.callback, "args", None) == ("requote",) for t in timers)
        resumed = replay.run()
        assert plain["account"]["fills"] > 10 and plain["depth_gaps"] == 0
        assert resumed["state_hash"] == plain["state_hash"] and resumed["account"] == plain["account"]
        assert comparable(resumed) == comparable(plain)
        same_outputs(tmp_path / "plain", out)
        assert (out / "events.jsonl").stat().st_size > read_header(snapshot)["events_log"]["bytes"]


class TestKill:
    """THE KILL TEST: a replay killed with SIGKILL after its first snapshot resumes to the same end."""

    def test_a_killed_run_resumes_to_the_uninterrupted_end(self, tmp_path: Path, excerpt: Path) -> None:
        """``exsim replay --checkpoint-every`` killed after its snapshot, with events.jsonl
        lines written past it, then ``--resume``: same hash, summary and files, no line twice."""
        options = [
            "--strategy", "market_maker", "--param", "qty=0.01", "--param", "requote_ms=200",
            "--leverage", "20", "--no-progress",
        ]  # fmt: skip
        killed = tmp_path / "killed"
        snapshot = killed / "checkpoint" / SNAPSHOT_NAME
        events = killed / "events.jsonl"
        argv = ["replay", str(excerpt), *options, "--checkpoint-every", "100000", "--out", str(killed)]  # one snapshot
        proc = subprocess.Popen(
            [sys.executable, "-m", "exsim.cli", *argv], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 120
        # wait for the snapshot (os.replace: once it is there, it is whole), then for the
        # run to write events past it, so that the resume has lines to cut
        while not snapshot.exists() or events.stat().st_size <= read_header(snapshot)["events_log"]["bytes"]:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline
            time.sleep(0.002)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert proc.returncode == -signal.SIGKILL  # killed, not finished
        assert not (killed / "summary.json").exists()
        header = read_header(snapshot)
        assert header["rows"] < EXCERPT_ROWS and events.stat().st_size > header["events_log"]["bytes"]
        # resume in this process, as a user would run the command again
        assert main(["replay", str(excerpt), *options, "--out", str(killed), "--resume", str(snapshot)]) == 0
        plain = tmp_path / "plain"
        assert main(["replay", str(excerpt), *options, "--out", str(plain)]) == 0
        a, b = (json.loads((d / "summary.json").read_text()) for d in (plain, killed))
        assert b["state_hash"] == a["state_hash"] and b["account"] == a["account"]
        assert comparable(b) == comparable(a)
        assert b["checkpoint"]["resumed_from"]["rows"] == header["rows"]
        same_outputs(plain, killed)



def crash_snapshot(tmp_path_factory: pytest.TempPathFactory, argv: list[str]) -> Path:
    """A snapshot of the crash bars at row 500, written by the command line with ``argv``."""
    folder = tmp_path_factory.mktemp("snap")
    assert main(["replay", str(CRASH), *argv, "--checkpoint-every", "500", "--checkpoint-dir", str(folder)]) == 0
    return folder / SNAPSHOT_NAME


class TestRefusals:
    """What a resume refuses, each in one line naming the snapshot (never a traceback)."""

    ARGV = ["--symbol", "BTCUSDT", "--strategy", "holder", "--balance", "1000", "--param", "qty=0.4",
            "--param", "enter_after_s=3600", "--no-progress"]  # fmt: skip

    @pytest.fixture(scope="class")
    @classmethod
    def snapshot(cls, tmp_path_factory: pytest.TempPathFactory) -> Path:
        return crash_snapshot(tmp_path_factory, cls.ARGV)

    def refused(self, snapshot: Path, capsys: pytest.CaptureFixture[str], *extra: str, files: list[str] | None = None) -> str:
        capsys.readouterr()
        assert main(["replay", *(files or [str(CRASH)]), *self.ARGV, *extra, "--resume", str(snapshot)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"exsim: error: {snapshot}: ") and err.count("\n") == 1  # one line, no traceback
        return err

    def test_the_unchanged_command_resumes(self, snapshot: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """The refusals below are of changed things: the same command resumes."""
        assert main(["replay", str(CRASH), *self.ARGV, "--resume", str(snapshot)]) == 0
        assert "resumed from" in capsys.readouterr().out

    def test_another_exsim_version_is_refused_naming_both_versions(self, snapshot: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """A header naming another exsim version is refused, and the message names both versions."""
        import exsim

        data = snapshot.read_bytes()
        first, rest = data.split(b"\n", 1)
        version = f" {exsim.__version__} ".encode()
        assert first.startswith(f"EXSIM-SNAPSHOT {FORMAT}".encode() + version)
        other = tmp_path / "other-version.snapshot"
        other.write_bytes(first.replace(version, b" 0.0.9 ") + b"\n" + rest)
        err = self.refused(other, capsys)
        assert "exsim 0.0.9" in err and f"exsim {exsim.__version__}" in err

    def test_a_truncated_snapshot_is_refused(self, snapshot: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """A snapshot cut short (a copy that did not finish) says how much of it is there."""
        cut = tmp_path / "cut.snapshot"
        data = snapshot.read_bytes()
        cut.write_bytes(data[: len(data) // 2])
        assert "truncated snapshot" in self.refused(cut, capsys)
        cut.write_bytes(data[:30])  # inside the header
        assert "damaged snapshot" in self.refused(cut, capsys)

    @pytest.mark.parametrize("where", ["state", "manifest"])
    def test_a_damaged_snapshot_is_refused(self, where: str, snapshot: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """One changed byte of the state or of the JSON manifest fails the checksum."""
        data = bytearray(snapshot.read_bytes())
        if where == "state":
            data[-100] ^= 0xFF
        else:  # a digit of the recorded row count: still JSON, no longer the snapshot's
            at = data.index(b'"rows":') + len(b'"rows":')
            data[at] = ord("9") if data[at] != ord("9") else ord("8")
        bad = tmp_path / "flipped.snapshot"
        bad.write_bytes(bytes(data))
        assert "does not match the checksum" in self.refused(bad, capsys)

    @pytest.mark.parametrize("content", [b"", b"\x00" * 64, b"ts_ns,kind,symbol\n1,trade,BTCUSDT\n", bytes(range(256)) * 40])
    def test_a_file_that_is_not_a_snapshot_is_refused(self, content: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """An empty file, a tick file or random bytes: "not an exsim snapshot"."""
        path = tmp_path / "random.bin"
        path.write_bytes(content)
        assert "not an exsim snapshot" in self.refused(path, capsys)

    def test_a_missing_snapshot_is_refused(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """A path that is not there."""
        assert "No such file" in self.refused(tmp_path / "nope.snapshot", capsys)

    def test_other_input_files_are_refused(self, snapshot: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """A shorter file, a same-size file with other content, or another number of files."""
        lines = CRASH.read_text().splitlines(keepends=True)
        shorter = tmp_path / "shorter.csv"
        shorter.write_text("".join(lines[:-1]))
        err = self.refused(snapshot, capsys, files=[str(shorter)])
        assert "is not the file the snapshot was made from" in err and "bytes" in err
        edited = tmp_path / "edited.csv"
        text = CRASH.read_text()
        edited.write_text(text[:-20] + text[-20:].replace("1", "2", 1))  # same size, last bytes differ
        assert edited.stat().st_size == CRASH.stat().st_size
        assert "same size, other content" in self.refused(snapshot, capsys, files=[str(edited)])
        copy = tmp_path / "copy.csv"
        shutil.copyfile(CRASH, copy)
        err = self.refused(snapshot, capsys, files=[str(CRASH), str(copy)])
        assert "made from 1 input file(s)" in err and "2 given" in err

    def test_other_options_are_refused_naming_them(self, snapshot: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """A changed option, strategy parameter or run directory is named with both values."""
        err = self.refused(snapshot, capsys, "--leverage", "50", "--latency-ns", "1000")
        assert "leverage=50 (snapshot: None)" in err and "latency_ns=1000 (snapshot: 0)" in err
        err = self.refused(snapshot, capsys, "--param", "side=short")
        assert "param=" in err and "side=short" in err
        err = self.refused(snapshot, capsys, "--out", "somewhere")
        assert "run directory" in err

    def test_another_strategy_class_is_refused(self, snapshot: Path) -> None:
        """The Python API checks the strategy's class as well."""
        with pytest.raises(InputError, match="strategy 'exsim_examples.market_maker:MarketMaker'"):
            Replay([CRASH], market_maker(), CRASH_CONFIG, resume=snapshot)

    def test_a_run_directory_without_the_snapshots_events_is_refused(self, tmp_path: Path) -> None:
        """events.jsonl shorter than the snapshot counted (or another run's) is not continued."""
        out = tmp_path / "run"
        Replay([CRASH], crash_holder(), CRASH_CONFIG, out_dir=out, checkpoint_every=500).run()
        snap = out / "checkpoint" / SNAPSHOT_NAME
        events = out / "events.jsonl"
        events.write_bytes(events.read_bytes()[:1000])
        with pytest.raises(InputError, match="has 1,000 bytes; the snapshot's run had written"):
            Replay([CRASH], crash_holder(), CRASH_CONFIG, out_dir=out, resume=snap)

    def test_an_unpicklable_strategy_fails_at_the_first_checkpoint(self, tmp_path: Path) -> None:
        """A strategy holding a generator cannot be saved: the first checkpoint says so, naming it."""

        class Streaming(Holder):
            def on_start(self, ctx: Any) -> None:
                super().on_start(ctx)
                self.source = (i for i in range(3))

        with pytest.raises(InputError, match=r"checkpoint: the strategy .*Streaming cannot be saved in a snapshot"):
            Replay([CRASH], Streaming(), CRASH_CONFIG, checkpoint_every=100, checkpoint_dir=tmp_path).run()
        assert not list(tmp_path.iterdir())  # nothing half-written

    def test_an_unpicklable_file_strategy_is_one_clear_line(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """From the command line, with a strategy loaded from a file: exit 2 and one line."""
        path = tmp_path / "leaky_strategy.py"
        path.write_text(
            "from exsim.replay import Strategy\n"
            "class Leaky(Strategy):\n"
            "    def on_start(self, ctx):\n"
            "        self.log = open(__file__)\n"
        )
        argv = ["replay", str(CRASH), "--symbol", "BTCUSDT", "--strategy", f"{path}:Leaky", "--no-progress",
                "--checkpoint-every", "100", "--checkpoint-dir", str(tmp_path / "ck")]  # fmt: skip
        assert main(argv) == 2
        err = capsys.readouterr().err.splitlines()[-1]  # (after the line saying where checkpoints go)
        assert err.startswith("exsim: error: checkpoint: the strategy leaky_strategy:Leaky cannot be saved")
        assert "TextIOWrapper" in err

    def test_a_file_strategy_checkpoints_and_resumes(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """A strategy loaded from a .py file pickles and resumes from the command line."""
        path = tmp_path / "my_holder.py"
        path.write_text("from exsim_examples.holder import Holder\nclass MyHolder(Holder):\n    pass\n")
        argv = ["replay", str(CRASH), "--symbol", "BTCUSDT", "--strategy", f"{path}:MyHolder", "--balance", "1000",
                "--param", "enter_after_s=3600", "--no-progress"]  # fmt: skip
        assert main([*argv, "--out", str(tmp_path / "plain")]) == 0
        assert main([*argv, "--out", str(tmp_path / "run"), "--checkpoint-every", "500"]) == 0
        assert main([*argv, "--out", str(tmp_path / "run"), "--resume", str(tmp_path / "run" / "checkpoint" / SNAPSHOT_NAME)]) == 0
        capsys.readouterr()
        same_outputs(tmp_path / "plain", tmp_path / "run")


def split_snapshot(path: Path) -> tuple[bytes, dict[str, Any], bytes]:
    """A snapshot's first line, manifest and compressed state."""
    first, body, payload = path.read_bytes().split(b"\n", 2)
    return first, json.loads(body), payload


def forge(real: Path, out: Path, *, state: bytes | None = None, payload: bytes | None = None, fmt: int = FORMAT, **manifest: Any) -> Path:
    """A snapshot made by hand from ``real``, as anyone can: another state (JSON, compressed
    here) or raw payload, manifest fields changed, the sizes and the checksum recomputed."""
    import exsim

    _, saved, saved_payload = split_snapshot(real)
    if state is not None:
        payload = zstandard.ZstdCompressor().compress(state)
        saved["state_bytes"] = len(state)
    payload = saved_payload if payload is None else payload
    saved["payload_bytes"] = len(payload)
    saved.update(manifest)
    body = json.dumps(saved).encode() + b"\n"
    digest = hashlib.sha256(body + payload).hexdigest()
    out.write_bytes(f"EXSIM-SNAPSHOT {fmt} {exsim.__version__} sha256={digest}\n".encode() + body + payload)
    return out


class _CreatesFile:
    """Pickled, this object's loading creates the file it names (the old proof of concept)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.path), "w"))


class TestCraftedSnapshots:
    """A snapshot is data: a crafted one with a valid checksum is refused in one line and runs nothing."""

    ARGV = TestRefusals.ARGV

    @pytest.fixture(scope="class")
    @classmethod
    def snapshot(cls, tmp_path_factory: pytest.TempPathFactory) -> Path:
        return crash_snapshot(tmp_path_factory, cls.ARGV)

    def refused(self, snapshot: Path, capsys: pytest.CaptureFixture[str]) -> str:
        capsys.readouterr()
        assert main(["replay", str(CRASH), *self.ARGV, "--resume", str(snapshot)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"exsim: error: {snapshot}: ") and err.count("\n") == 1
        return err

    def test_the_state_is_json_naming_only_exsim_classes(self, snapshot: Path) -> None:
        """Decompressed, the state is one JSON document; its class table names exsim's classes only."""
        _, manifest, payload = split_snapshot(snapshot)
        raw = zstandard.ZstdDecompressor().stream_reader(payload).read()
        assert len(raw) == manifest["state_bytes"]
        data = json.loads(raw)
        assert sorted(data) == ["classes", "state"]
        assert data["classes"] and all(name.startswith("exsim.") for name, _, _ in data["classes"])
        assert b"exsim_examples" not in raw  # the strategy's class is not in the state

    def test_the_old_pickle_proof_of_concept_is_refused_and_creates_nothing(self, snapshot: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """A pickle that creates a file when loaded, as format 1 or forged as format 2 (raw or compressed): refused, no file."""
        marker = tmp_path / "created-by-the-snapshot"
        evil = pickle.dumps({"replay": _CreatesFile(marker)})
        assert "snapshot format 1" in self.refused(forge(snapshot, tmp_path / "v1.snapshot", payload=evil, fmt=1), capsys)
        err = self.refused(forge(snapshot, tmp_path / "raw.snapshot", payload=evil), capsys)
        assert "damaged snapshot" in err
        err = self.refused(forge(snapshot, tmp_path / "packed.snapshot", state=evil), capsys)
        assert "its state is not JSON" in err
        assert not marker.exists()

    @pytest.mark.parametrize(
        "state, phrase",
        [
            ({"classes": [["os:system", "slots", []]], "state": ["x", ["o", 0, []]]}, "names the class 'os:system'"),
            ({"classes": [], "state": ["x", ["p", ["f", "os:system"], ["touch {marker}"]]]}, "names the function"),
            ({"classes": [], "state": ["x", ["m", ["R"], "__init__"]]}, "names the method Replay.__init__"),
            ({"classes": [], "state": ["x", ["t", "subprocess:Popen"]]}, "names the class"),
            ({"py/reduce": [{"py/function": "os.system"}, ["touch {marker}"]]}, "not a snapshot's"),
        ],
    )
    def test_a_state_naming_os_system_is_refused(self, state: dict[str, Any], phrase: str, snapshot: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """JSON states naming os.system, subprocess or a method outside the tables: refused, nothing runs."""
        marker = tmp_path / "created-by-the-snapshot"
        text = json.dumps(state).replace("{marker}", str(marker)).encode()
        err = self.refused(forge(snapshot, tmp_path / "crafted.snapshot", state=text), capsys)
        assert "refused snapshot" in err and phrase in err
        assert not marker.exists()

    def test_a_state_that_decodes_but_does_not_hold_together_is_refused(self, snapshot: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """The real state with the loop's clock moved past its queue: the loop's check refuses it in one line."""
        _, _, payload = split_snapshot(snapshot)
        data = json.loads(zstandard.ZstdDecompressor().stream_reader(payload).read())
        text = re.sub(r'"_now_ns", ?[0-9]+', f'"_now_ns",{1 << 62}', json.dumps(data), count=1).encode()
        err = self.refused(forge(snapshot, tmp_path / "odd.snapshot", state=text), capsys)
        assert "its state does not hold together (StateError: an item is queued before now_ns)" in err

    def test_a_manifest_of_the_wrong_shape_is_refused(self, snapshot: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """A checksum-valid manifest whose sources are not a list: one line naming the field."""
        err = self.refused(forge(snapshot, tmp_path / "shape.snapshot", sources={"0": 1}), capsys)
        assert "its manifest sources is not a list" in err

    def test_a_decompression_bomb_is_refused_before_it_is_decompressed(self, snapshot: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """A state that would decompress to 1 GB from a few kB is refused by its declared size."""
        bomb = zstandard.ZstdCompressor(level=19).compress(b" " * (1 << 30))
        err = self.refused(forge(snapshot, tmp_path / "bomb.snapshot", payload=bomb, state_bytes=1 << 30), capsys)
        assert "state_bytes" in err and "compressed bytes can have" in err
        err = self.refused(forge(snapshot, tmp_path / "liar.snapshot", payload=bomb), capsys)  # the real state's size
        assert "is not the" in err and "bytes its manifest says" in err

    def test_a_fifo_is_refused_without_waiting(self, tmp_path: Path) -> None:
        """--resume on a FIFO with no writer: one line at once (a child process, so a hang fails the test)."""
        fifo = tmp_path / "snapshot.fifo"
        os.mkfifo(fifo)
        argv = [sys.executable, "-m", "exsim.cli", "replay", str(CRASH), *self.ARGV, "--resume", str(fifo)]
        done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert done.returncode == 2
        assert done.stderr == f"exsim: error: {fifo}: not a regular file (a FIFO): a snapshot is a file written by --checkpoint-every\n"


class TestStrategyCode:
    """A resume notices that the strategy's code changed since the snapshot."""

    def test_an_edited_strategy_file_is_refused_naming_it(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """One comment added to the strategy's file after the snapshot: refused in one line naming the file."""
        path = tmp_path / "edited_holder.py"
        path.write_text("from exsim_examples.holder import Holder\nclass EditedHolder(Holder):\n    pass\n")
        argv = ["replay", str(CRASH), "--symbol", "BTCUSDT", "--strategy", f"{path}:EditedHolder", "--no-progress"]
        assert main([*argv, "--checkpoint-every", "500", "--checkpoint-dir", str(tmp_path / "ck")]) == 0
        path.write_text(path.read_text() + "# tuned\n")
        capsys.readouterr()
        assert main([*argv, "--resume", str(tmp_path / "ck" / SNAPSHOT_NAME)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1
        assert f"the strategy's code changed since the snapshot: {path} (edited_holder) differs" in err

    def test_the_manifest_names_the_strategy_class_and_its_source_hashes(self, tmp_path: Path) -> None:
        """The class, and one SHA-256 per module of its class and base classes (here the file and exsim_examples.holder)."""
        path = tmp_path / "my_holder2.py"
        path.write_text("from exsim_examples.holder import Holder\nclass MyHolder(Holder):\n    pass\n")
        argv = ["replay", str(CRASH), "--symbol", "BTCUSDT", "--strategy", f"{path}:MyHolder", "--no-progress"]
        assert main([*argv, "--checkpoint-every", "500", "--checkpoint-dir", str(tmp_path / "ck")]) == 0
        source = read_header(tmp_path / "ck" / SNAPSHOT_NAME)["strategy_source"]
        assert source["class"] == "my_holder2:MyHolder"
        assert [(f["module"], f["sha256"]) for f in source["files"]] == [
            ("my_holder2", hashlib.sha256(path.read_bytes()).hexdigest()),
            ("exsim_examples.holder", hashlib.sha256((ROOT / "examples" / "holder.py").read_bytes()).hexdigest()),
        ]


class TestTemporaries:
    """Temporary snapshot files a killed run left are removed by the next run that checkpoints there."""

    def test_leftovers_of_dead_processes_go_and_nothing_else(self, tmp_path: Path) -> None:
        """A dead process's ``.replay.snapshot.<pid>.tmp`` goes; a live one's and other names stay."""
        folder = tmp_path / "ck"
        folder.mkdir()
        dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
        dead_pid = int(dead.stdout)
        alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        try:
            names = [
                f".{SNAPSHOT_NAME}.{dead_pid}.tmp",  # left by a killed run: removed
                f".{SNAPSHOT_NAME}.{alive.pid}.tmp",  # another run writing now: kept
                f".{SNAPSHOT_NAME}.{dead_pid}.tmp.bak",  # not exsim's pattern: kept
                f"{SNAPSHOT_NAME}.{dead_pid}.tmp",
                "notes.tmp",
            ]
            for name in names:
                (folder / name).write_text("x")
            Replay([CRASH], crash_holder(), CRASH_CONFIG, checkpoint_every=10_000, checkpoint_dir=folder).run()
            assert sorted(p.name for p in folder.iterdir()) == sorted(names[1:])
        finally:
            alive.kill()
            alive.wait()

    def test_a_resume_removes_the_leftovers_beside_its_snapshot(self, tmp_path: Path) -> None:
        """The folder of the snapshot a run resumes from is cleaned as well."""
        Replay([CRASH], crash_holder(), CRASH_CONFIG, checkpoint_every=500, checkpoint_dir=tmp_path).run()
        dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
        leftover = tmp_path / f".{SNAPSHOT_NAME}.{int(dead.stdout)}.tmp"
        leftover.write_bytes(b"half a snapshot")
        Replay([CRASH], crash_holder(), CRASH_CONFIG, resume=tmp_path / SNAPSHOT_NAME)
        assert not leftover.exists()
