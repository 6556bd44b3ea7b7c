"""``exsim serve``: its options, its one-line errors, and a real run on the shipped replays
(a server on a free loopback port, talked to with aiohttp's client)."""

from __future__ import annotations

import asyncio
import io
import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from exsim.cli import build_parser, main
from exsim.serve.cli import MISSING_EXTRA, serve

from .server_harness import run

REPLAYS = Path(__file__).resolve().parents[2] / "replays"
CAPTURE = str(REPLAYS / "binance-usdm-btcusdt-20240808.gz")
CRASH = str(REPLAYS / "btc-perp-20220121-1m.csv")
KEY, SECRET = "cliTestKey01", "cliTestSecret01"


@pytest.fixture(autouse=True)
def _structlog_as_it_was() -> Any:
    """exsim serve configures structlog (its log to stderr): put it back after each test."""
    import structlog

    before = structlog.get_config()
    yield
    structlog.configure(**before)


@pytest.fixture
def no_components(monkeypatch: pytest.MonkeyPatch) -> None:
    """The venue without its market/orders/account components: the CLI and the server are
    under test here, not the components (their own tests serve them)."""
    import exsim.serve.venue as venue

    monkeypatch.setattr(venue, "default_components", lambda: [])


class TestOptions:
    def test_parser_builds_without_importing_aiohttp(self) -> None:
        """exsim's parser (and --help) works without the serve extra: aiohttp is not imported."""
        code = "import sys, exsim.cli; exsim.cli.build_parser(); print('aiohttp' in sys.modules)"
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
        assert out.stdout.strip() == "False", out.stderr

    def test_defaults_are_loopback_port_8000_speed_max(self) -> None:
        """Binds 127.0.0.1:8000 at speed max unless told otherwise."""
        args = build_parser().parse_args(["serve", CAPTURE])
        assert (args.host, args.port, args.speed, args.deposit, args.latency_ms) == ("127.0.0.1", 8000, "max", "10000", 0)

    def test_rate_limits_default_to_binances_and_can_be_lifted(self) -> None:
        """--weight-limit / --order-limit default to 2400 and 1200; 0 lifts them."""
        default = build_parser().parse_args(["serve", CAPTURE])
        lifted = build_parser().parse_args(["serve", CAPTURE, "--weight-limit", "0", "--order-limit", "0"])
        assert (default.weight_limit, default.order_limit, lifted.weight_limit, lifted.order_limit) == (2400, 1200, 0, 0)

    def test_replay_market_options_are_taken(self) -> None:
        """The replay's market options (shared builder) are serve's too."""
        args = build_parser().parse_args(["serve", CRASH, "--symbol", "BTCUSDT", "--mark", "computed", "--tick-size", "0.1"])
        assert (args.symbol, args.mark, args.tick_size) == ("BTCUSDT", "computed", "0.1")

    def test_missing_extra_is_one_line(self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
        """Without aiohttp: exit 2 and the one line saying which extra to install."""
        monkeypatch.setitem(sys.modules, "aiohttp", None)  # (import aiohttp raises ImportError)
        code = main(["serve", CAPTURE])
        assert code == 2 and capsys.readouterr().err == f"exsim: error: {MISSING_EXTRA}\n"

    def test_key_without_secret_is_refused(self, capsys: pytest.CaptureFixture[str]) -> None:
        """--api-key without its --api-secret: exit 2, one line naming the option."""
        code = main(["serve", CAPTURE, "--api-key", KEY])
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1 and "--api-key" in err and "secret" in err

    def test_key_with_bad_characters_is_refused(self, capsys: pytest.CaptureFixture[str]) -> None:
        """A key with a space: exit 2, one line."""
        code = main(["serve", CAPTURE, "--api-key", "a b", "--api-secret", SECRET])
        err = capsys.readouterr().err
        assert code == 2 and err.startswith("exsim: error:") and "'a b'" in err

    def test_bad_speed_is_refused(self, capsys: pytest.CaptureFixture[str]) -> None:
        """--speed fast: exit 2, one line saying what speeds are."""
        code = main(["serve", CAPTURE, "--speed", "fast"])
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1 and "step, max or a positive multiplier" in err

    def test_bad_port_is_a_usage_error(self, capsys: pytest.CaptureFixture[str]) -> None:
        """--port 70000: exit 2, one line."""
        code = main(["serve", CAPTURE, "--port", "70000"])
        assert code == 2 and "port number" in capsys.readouterr().err

    def test_port_in_use_is_one_line(self, no_components: None, capsys: pytest.CaptureFixture[str]) -> None:
        """A port another program holds: exit 2, one line naming host and port."""
        with socket.socket() as held:
            held.bind(("127.0.0.1", 0))
            held.listen()
            port = held.getsockname()[1]
            code = main(["serve", CRASH, "--symbol", "BTCUSDT", "--port", str(port), "--api-key", KEY, "--api-secret", SECRET])
        err = capsys.readouterr().err
        assert code == 2 and f"127.0.0.1:{port}" in err and err.count("\n") == 1


async def _session(argv: list[str], talk: Any) -> tuple[Any, str]:
    """Run ``exsim serve argv`` in this process until ``talk(base_url, session)`` returns;
    (what talk returned, what the server printed)."""
    args = build_parser().parse_args(["serve", *argv, "--port", "0"])
    out = io.StringIO()
    stop = asyncio.Event()
    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    server = asyncio.ensure_future(serve(args, stop=stop, on_ready=ready.set_result, out=out))
    await asyncio.wait({server, ready}, return_when=asyncio.FIRST_COMPLETED)
    if server.done():
        server.result()  # (raises what failed)
    try:
        async with aiohttp.ClientSession() as session:
            result = await talk(ready.result(), session)
    finally:
        stop.set()
        await server
    return result, out.getvalue()


class TestRun:
    def test_start_prints_url_keys_and_speed(self, no_components: None) -> None:
        """At the start: the loopback URL, each account's key, the speed."""

        async def talk(base: str, s: Any) -> str:
            return base

        base, printed = run(_session([CAPTURE, "--speed", "step", "--api-key", KEY, "--api-secret", SECRET], talk))
        assert base.startswith("http://127.0.0.1:")
        assert f"exsim serve: {base}" in printed and f"account 1: api key {KEY}" in printed and "speed step" in printed
        assert "limits 2400 weight/min, 1200 orders/min" in printed
        assert SECRET not in printed  # (a secret the user gave is not echoed)

    def test_generated_key_is_printed_with_its_secret(self, no_components: None) -> None:
        """Without --api-key one pair is generated and printed (key and secret)."""

        async def talk(base: str, s: Any) -> None:
            return None

        _, printed = run(_session([CAPTURE, "--speed", "step"], talk))
        line = next(l for l in printed.splitlines() if l.startswith("account 1: api key "))
        key, secret = line.split()[4], line.split()[6]
        assert len(key) == 64 == len(secret)

    def test_step_runs_give_the_same_state_hash_printed_at_the_end(self, no_components: None) -> None:
        """Two --speed step runs advanced alike end with the same state hash, the one
        /exsim/v1/state gives and the one printed when stopped."""

        async def talk(base: str, s: Any) -> str:
            for ms in (1000, 250, 30_000):
                async with s.post(f"{base}/exsim/v1/advance?ms={ms}") as r:
                    assert r.status == 200
            async with s.get(f"{base}/exsim/v1/state") as r:
                return str((await r.json())["stateHash"])

        first, printed1 = run(_session([CAPTURE, "--speed", "step"], talk))
        second, printed2 = run(_session([CAPTURE, "--speed", "step"], talk))
        assert first == second
        assert printed1.splitlines()[-1].endswith(f"state hash {first}")
        assert printed2.splitlines()[-1].endswith(f"state hash {first}")

    def test_step_advance_moves_the_venue_clock(self, no_components: None) -> None:
        """advance?ms=1500 moves the venue's time by exactly 1500 ms."""

        async def talk(base: str, s: Any) -> tuple[int, int]:
            async with s.get(f"{base}/exsim/v1/state") as r:
                before = (await r.json())["time"]
            async with s.post(f"{base}/exsim/v1/advance?ms=1500") as r:
                after = (await r.json())["time"]
            return before, after

        (before, after), _ = run(_session([CAPTURE, "--speed", "step"], talk))
        assert after - before == 1500

    def test_end_of_data_on_open_streams_and_queries_keep_working(self, no_components: None, tmp_path: Path) -> None:
        """At the data's end an open stream gets exsimEndOfData; the server prints the end
        with its state hash and keeps answering; stopped, it writes the run directory."""

        async def talk(base: str, s: Any) -> tuple[Any, Any, Any]:
            async with s.ws_connect(base.replace("http", "ws") + "/ws/btcusdt@aggTrade") as ws:
                async with s.post(f"{base}/exsim/v1/advance?ms=86400000") as r:
                    state = await r.json()
                end = json.loads((await ws.receive(timeout=60)).data)
            async with s.get(f"{base}/exsim/v1/state") as r:
                again = await r.json()
            return state, end, again

        out = tmp_path / "run"
        (state, end, again), printed = run(
            _session([CRASH, "--symbol", "BTCUSDT", "--speed", "step", "--out", str(out)], talk)
        )
        assert state["ended"] and end == {"e": "exsimEndOfData", "E": state["time"]}
        assert again["stateHash"] == state["stateHash"]
        assert f"end of data at" in printed and f"state hash {state['stateHash']}" in printed
        assert (out / "summary.json").is_file()


class TestProcess:
    def test_ctrl_c_stops_with_the_state_hash_and_exit_0(self) -> None:
        """A real `exsim serve` process: Ctrl-C (SIGINT) ends it with exit code 0 and the
        state hash as its last line."""
        import selectors
        import signal

        code = (
            "import sys, exsim.serve.venue as v; v.default_components = lambda: []; "  # (the CLI under test, not the components)
            "from exsim.cli import main; sys.exit(main(sys.argv[1:]))"
        )
        argv = ["serve", CRASH, "--symbol", "BTCUSDT", "--speed", "step", "--port", "0"]
        proc = subprocess.Popen([sys.executable, "-c", code, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            sel = selectors.DefaultSelector()
            sel.register(proc.stdout, selectors.EVENT_READ)  # type: ignore[arg-type]
            assert sel.select(timeout=120), "no output from exsim serve"
            first = proc.stdout.readline()  # type: ignore[union-attr]
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert first.startswith("exsim serve: http://127.0.0.1:")
        assert proc.returncode == 0, err
        assert out.splitlines()[-1].startswith("stopped at 2022-01-21 20:00:00.000 UTC; state hash ")
