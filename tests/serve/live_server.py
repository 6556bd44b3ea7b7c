"""A real ``exsim serve`` for the client tests: started as a child process on 127.0.0.1 at a
free port, waited for (``GET /fapi/v1/ping``), stopped at the end; with the settings that
point each real client (ccxt sync and async, python-binance) at it.

The server runs in its own process, as a bot meets it: the tests talk to it only over
HTTP and WebSocket on the loopback interface.
"""

from __future__ import annotations

import csv
import json
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs

ROOT = Path(__file__).resolve().parents[2]
#: the January 2022 sell-off, one-minute bars (no book: the replay stands synthetic depth)
CRASH = ROOT / "replays" / "btc-perp-20220121-1m.csv"
#: a raw Binance USDⓈ-M capture: trades, bookTicker, diff depth and a REST snapshot
CAPTURE = ROOT / "replays" / "binance-usdm-btcusdt-20240808.gz"
#: what each replay needs on the command line
CRASH_ARGS = ("--symbol", "BTCUSDT")



def crash_first_open() -> Decimal:
    """The crash file's first bar's open price: the market's first price."""
    with CRASH.open(newline="") as f:
        return Decimal(next(csv.DictReader(f))["open"])


KEY = "exsim-test-key"
SECRET = "exsim-test-secret"
#: the child that runs the server: ``exsim`` itself, through its entry point
_EXSIM = (sys.executable, "-c", "import sys; from exsim.cli import main; sys.exit(main(sys.argv[1:]))")


def free_port() -> int:
    """A TCP port nobody listens on right now (the OS's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@attrs.frozen
class Server:
    """A running ``exsim serve``: where it listens, the key it knows, its log file."""

    port: int
    key: str
    secret: str
    log: Path
    pid: int

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def get(self, path: str, **params: Any) -> Any:
        """A public GET (no key), its JSON."""
        query = "&".join(f"{k}={v}" for k, v in params.items())
        with urllib.request.urlopen(f"{self.base}{path}{'?' + query if query else ''}", timeout=60) as r:
            return json.loads(r.read())

    def post(self, path: str) -> Any:
        req = urllib.request.Request(f"{self.base}{path}", method="POST", data=b"")
        with urllib.request.urlopen(req, timeout=300) as r:
            return json.loads(r.read())

    def advance(self, ms: int) -> dict[str, Any]:
        """Step mode: run the replay ``ms`` further (``POST /exsim/v1/advance``); its state."""
        return self.post(f"/exsim/v1/advance?ms={ms}")  # type: ignore[no-any-return]

    def state(self) -> dict[str, Any]:
        return self.get("/exsim/v1/state")  # type: ignore[no-any-return]

    def ccxt_config(self) -> dict[str, Any]:
        """ccxt ``binanceusdm`` (sync, async and pro) pointed at this server: every REST base
        it may use and the WebSocket base (docs/serve.md gives the same settings)."""
        return ccxt_config(self.base, self.ws, self.key, self.secret)

    def python_binance(self) -> Any:
        """A python-binance ``Client`` pointed at this server (no ping: that is a spot URL)."""
        from binance import Client

        client = Client(self.key, self.secret, ping=False)
        client.FUTURES_URL = f"{self.base}/fapi"
        return client

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def ccxt_config(base: str, ws: str, key: str, secret: str) -> dict[str, Any]:
    """The ccxt settings of docs/serve.md for a server at ``base`` / ``ws``."""
    return {
        "apiKey": key,
        "secret": secret,
        "urls": {
            "api": {
                "fapiPublic": f"{base}/fapi/v1",
                "fapiPublicV2": f"{base}/fapi/v2",
                "fapiPublicV3": f"{base}/fapi/v3",
                "fapiPrivate": f"{base}/fapi/v1",
                "fapiPrivateV2": f"{base}/fapi/v2",
                "fapiPrivateV3": f"{base}/fapi/v3",
                "fapiData": f"{base}/futures/data",
                "sapi": f"{base}/sapi/v1",
                "ws": {"linear": f"{ws}/ws"},
            }
        },
    }


@contextmanager
def exsim_serve(
    *files: Path | str,
    speed: str = "step",
    args: Sequence[str] = (),
    keys: Sequence[tuple[str, str]] = ((KEY, SECRET),),
    timeout_s: float = 120.0,
) -> Iterator[Server]:
    """``exsim serve FILES --speed SPEED --api-key .. --api-secret .. --out TMP ARGS`` on
    127.0.0.1 at a free port (see :func:`serve`)."""
    with tempfile.TemporaryDirectory(prefix="exsim-run-") as tmp:
        argv = [*map(str, files), "--speed", speed]
        for k, s in keys:
            argv += ["--api-key", k, "--api-secret", s]
        argv += ["--out", str(Path(tmp) / "run"), *args]
        with serve(argv, key=keys[0][0], secret=keys[0][1], timeout_s=timeout_s) as server:
            yield server


@contextmanager
def serve(argv: Sequence[str], *, key: str, secret: str, cwd: Path | None = None, timeout_s: float = 120.0) -> Iterator[Server]:
    """``exsim serve ARGV --host 127.0.0.1 --port <free>`` as a child process (in ``cwd``),
    ready when it answers ``/fapi/v1/ping``; stopped (SIGTERM, then SIGKILL) when the block
    ends. ``key``/``secret``: the account the :class:`Server` helpers use."""
    with tempfile.TemporaryDirectory(prefix="exsim-serve-") as tmp:
        log = Path(tmp) / "server.log"
        port = free_port()
        cmd = [*_EXSIM, "serve", *argv, "--host", "127.0.0.1", "--port", str(port)]
        with log.open("wb") as sink:
            proc = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.STDOUT, cwd=cwd or tmp)
        server = Server(port, key, secret, log, proc.pid)
        try:
            _wait_ready(server, proc, timeout_s)
            yield server
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_ready(server: Server, proc: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"exsim serve exited with {proc.returncode}:\n{server.log_text()}")
        try:
            server.get("/fapi/v1/ping")
            return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            if time.monotonic() > deadline:
                raise RuntimeError(f"exsim serve did not answer within {timeout_s} s:\n{server.log_text()}") from None
            time.sleep(0.02)
