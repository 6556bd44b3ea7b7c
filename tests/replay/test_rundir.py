"""Run directories never mix two runs: the --out policy, the lock, the INCOMPLETE marker,
atomic files, a full disk, Ctrl-C (exsim.replay.rundir; README "Run directories")."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from exsim.cli import main
from exsim.replay.cli import SHIPPED_REPLAYS

ROOT = Path(__file__).resolve().parents[2]
CRASH = SHIPPED_REPLAYS / "btc-perp-20220121-1m.csv"
STRATEGIES = Path(__file__).resolve().parent / "run_strategies.py"
RUN = ["replay", str(CRASH), "--symbol", "BTCUSDT", "--no-progress"]


def one_error_line(err: str) -> str:
    assert err.startswith("exsim: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err.strip()


def _default_sigint() -> None:
    # a shell starts background jobs with SIGINT ignored, and a child inherits that (CPython
    # then installs no KeyboardInterrupt handler): give the child the default, as a terminal
    # would, so the Ctrl-C test tests exsim rather than how the suite was started
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def exsim(*argv: str, env: dict[str, str] | None = None, **kw: object) -> subprocess.Popen[str]:
    """``exsim ARGV`` in a subprocess (the package as this test session imports it), with
    Ctrl-C at its default disposition."""
    full_env = dict(os.environ, **(env or {}))
    return subprocess.Popen(
        [sys.executable, "-c", "import sys; from exsim.cli import main; sys.exit(main())", *argv],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full_env, cwd=ROOT,
        preexec_fn=_default_sigint, **kw,  # type: ignore[call-overload]
    )


def wait_for(path: Path, proc: subprocess.Popen[str], seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"exited {proc.returncode} first: {proc.communicate()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"{path} never appeared")
        time.sleep(0.02)


class TestOutPolicy:
    def test_another_commands_run_is_refused_and_left_as_it_was(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """--out holding another command's run: one line, exit 2, and the old run's files are untouched."""
        out = tmp_path / "run"
        assert main([*RUN, "--out", str(out)]) == 0
        before = {p.name: p.read_bytes() for p in out.iterdir()}
        capsys.readouterr()
        assert main([*RUN, "--out", str(out), "--latency-ns", "5"]) == 2
        line = one_error_line(capsys.readouterr().err)
        assert line == (
            f"exsim: error: {out}: field '--out': holds another run (other inputs, options or strategy); choose another "
            "--out, or --force to replace it"
        )
        assert {p.name: p.read_bytes() for p in out.iterdir()} == before

    def test_the_same_command_replaces_its_own_run_plots_included(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """Running the same command again replaces its run: the old plots do not stay beside the new data."""
        out = tmp_path / "run"
        assert main([*RUN, "--out", str(out)]) == 0
        assert main(["report", str(out)]) == 0
        assert (out / "price.png").is_file()
        assert main([*RUN, "--out", str(out)]) == 0
        assert sorted(p.name for p in out.iterdir()) == [
            "depth.csv", "events.jsonl", "fills.csv", "instruments.json", "positions.csv", "summary.json", "timeseries.csv",
            "trades.csv",
        ]

    def test_files_exsim_did_not_write_are_refused(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """A folder with someone else's files is not an exsim run: refused, naming a file."""
        out = tmp_path / "mine"
        out.mkdir()
        (out / "notes.txt").write_text("mine\n")
        assert main([*RUN, "--out", str(out)]) == 2
        assert "not empty and not an exsim run (notes.txt)" in one_error_line(capsys.readouterr().err)
        assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]

    def test_force_replaces_exsims_files_only(self, tmp_path: Path) -> None:
        """--force: the other run's files go, a foreign file stays, the new run is complete."""
        out = tmp_path / "run"
        assert main([*RUN, "--out", str(out), "--latency-ns", "5"]) == 0
        (out / "notes.txt").write_text("mine\n")
        (out / "price.png").write_bytes(b"an old plot")
        assert main([*RUN, "--out", str(out), "--force"]) == 0
        assert (out / "notes.txt").read_text() == "mine\n"
        assert not (out / "price.png").exists()

    def test_the_corrected_command_replaces_a_failed_run(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """A run that stopped on an error keeps nothing worth keeping: the next command (another
        strategy here) writes into its folder without --force, and finishes it."""
        boom = tmp_path / "boom.py"
        boom.write_text("from exsim.replay import Strategy\nclass Boom(Strategy):\n    def on_mark(self, ctx, mark):\n        1 / 0\n")
        out = tmp_path / "run"
        assert main([*RUN, "--strategy", f"{boom}:Boom", "--out", str(out)]) == 2
        assert main([*RUN, "--out", str(out)]) == 0
        assert not (out / "INCOMPLETE").exists()
        assert json.loads((out / "summary.json").read_text())["complete"] is True
        summary = json.loads((out / "summary.json").read_text())
        assert summary["complete"] is True and summary["config"]["latency_ns"] == 0


class TestIncompleteRuns:
    def test_a_failed_run_is_marked_and_explain_says_it_did_not_finish(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """A run that fails (a strategy error) leaves INCOMPLETE; explain and report say so instead of "no liquidation"."""
        boom = tmp_path / "boom.py"
        boom.write_text("from exsim.replay import Strategy\nclass Boom(Strategy):\n    def on_mark(self, ctx, mark):\n        1 / 0\n")
        out = tmp_path / "run"
        assert main([*RUN, "--strategy", f"{boom}:Boom", "--out", str(out)]) == 2
        capsys.readouterr()
        marker = json.loads((out / "INCOMPLETE").read_text())
        assert marker["reason"].startswith("failed: strategy Boom.on_mark")
        for command in ("explain", "report"):
            assert main([command, str(out)]) == 2
            line = one_error_line(capsys.readouterr().err)
            assert line.startswith(f"exsim: error: {out}: this run did not finish (failed: strategy Boom.on_mark")
        assert not (out / "price.png").exists()

    def test_a_full_disk_names_the_file_and_leaves_no_half_file(self, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
        """ENOSPC while summary.json is written: one line naming summary.json; no summary.json, no temporary file; the run is marked incomplete."""
        real_fsync = os.fsync

        def full_disk(fd: int) -> None:
            if os.readlink(f"/proc/self/fd/{fd}").endswith(".summary.json.%d.exsim-tmp" % os.getpid()):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            real_fsync(fd)

        monkeypatch.setattr(os, "fsync", full_disk)
        out = tmp_path / "run"
        assert main([*RUN, "--out", str(out)]) == 2
        assert one_error_line(capsys.readouterr().err) == f"exsim: error: {out / 'summary.json'}: No space left on device"
        names = sorted(p.name for p in out.iterdir())
        assert "summary.json" not in names and not [n for n in names if n.endswith("exsim-tmp")]
        assert json.loads((out / "INCOMPLETE").read_text())["reason"].startswith("failed: ")


    def test_a_full_disk_mid_run_names_events_jsonl(self, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
        """ENOSPC while events.jsonl grows: one line naming events.jsonl, and the run marked incomplete with that reason."""
        from exsim.sinks import JsonlSink

        def full_disk(self: JsonlSink, events: object) -> None:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        monkeypatch.setattr(JsonlSink, "__call__", full_disk)
        out = tmp_path / "run"
        assert main([*RUN, "--out", str(out)]) == 2
        assert one_error_line(capsys.readouterr().err) == f"exsim: error: {out / 'events.jsonl'}: No space left on device"
        reason = json.loads((out / "INCOMPLETE").read_text())["reason"]
        assert reason == f"failed: [Errno {errno.ENOSPC}] No space left on device: '{out / 'events.jsonl'}'"

    def test_a_run_that_cannot_start_leaves_no_folder_behind(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """A refused --resume into a new --out: one line, and the folder it would have made does not exist."""
        snapshot = tmp_path / "not-a.snapshot"
        snapshot.write_text("not a snapshot\n")
        out = tmp_path / "run"
        assert main([*RUN, "--out", str(out), "--resume", str(snapshot)]) == 2
        one_error_line(capsys.readouterr().err)
        assert not out.exists()


class TestConcurrency:
    def test_two_writers_on_one_out_cannot_both_succeed(self, tmp_path: Path) -> None:
        """While one run writes --out, a second on the same --out fails at once (one line) and the first ends whole."""
        out = tmp_path / "run"
        signals = tmp_path / "signals"
        signals.mkdir()
        argv = [*RUN, "--strategy", f"{STRATEGIES}:WaitForGo", "--out", str(out)]
        first = exsim(*argv, env={"EXSIM_TEST_SIGNALS": str(signals)})
        try:
            wait_for(signals / "started", first)
            second = exsim(*argv, env={"EXSIM_TEST_SIGNALS": str(tmp_path)})
            _, err = second.communicate(timeout=120)
            assert second.returncode == 2
            assert one_error_line(err) == (
                f"exsim: error: {out}: field '--out': another exsim run is writing this folder; wait for it to end, or "
                "choose another --out"
            )
        finally:
            (signals / "go").write_text("")
            _, first_err = first.communicate(timeout=120)
        assert first.returncode == 0, first_err
        assert json.loads((out / "summary.json").read_text())["complete"] is True
        lines = (out / "events.jsonl").read_text().splitlines()
        assert lines and all(json.loads(line) for line in lines)
        assert not (out / "INCOMPLETE").exists() and not (out / ".exsim.lock").exists()


class TestCtrlC:
    def test_ctrl_c_is_one_line_with_a_partial_summary_and_how_to_resume(self, tmp_path: Path) -> None:
        """SIGINT mid-run: exit 130, one line (rows, simulated time, partial summary, --resume SNAPSHOT), summary.json marked incomplete."""
        out = tmp_path / "run"
        proc = exsim(*RUN, "--strategy", f"{STRATEGIES}:Slow", "--out", str(out), "--checkpoint-every", "50")
        wait_for(out / "checkpoint" / "replay.snapshot", proc)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 130, err
        assert "Traceback" not in err, err
        *before, line = err.splitlines()  # (before it: where the checkpoints go, said at the start)
        assert [b for b in before if not b.startswith("checkpoints: every 50 rows")] == []
        snapshot = out / "checkpoint" / "replay.snapshot"
        assert line.startswith("exsim: interrupted after ")
        assert f"; partial summary in {out / 'summary.json'} (marked incomplete)" in line
        assert line.endswith(f"; to go on, run the same command with --resume {snapshot}")
        summary = json.loads((out / "summary.json").read_text())
        assert summary["complete"] is False and summary["incomplete_reason"].startswith("interrupted (Ctrl-C) after ")
        assert 0 < summary["rows"] < 960
        assert json.loads((out / "INCOMPLETE").read_text())["resume"] == f"resume with --resume {snapshot}"
