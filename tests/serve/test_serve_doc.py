"""docs/serve.md says what it does: its ``exsim serve`` command starts a server, its ccxt
example runs against it as printed (only the port is the test's), a fresh step-mode
server gives the example the same run every time, and its freqtrade ``ccxt_config`` lets
ccxt's ``binance`` class (the one freqtrade builds) trade on it.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import urllib.error
import urllib.request
from typing import Any

import ccxt

from .live_server import ROOT, Server, serve

DOC = ROOT / "docs" / "serve.md"
DOC_PORT = "8000"


def blocks(lang: str) -> list[str]:
    """The fenced code blocks of docs/serve.md in ``lang``, in order."""
    return re.findall(rf"^```{lang}\n(.*?)^```", DOC.read_text(), flags=re.S | re.M)


def doc_command() -> list[str]:
    """The arguments after ``exsim serve`` of the page's command, without its ``--port``."""
    (command,) = [b for b in blocks("bash") if b.startswith("exsim serve ")]
    argv = shlex.split(command)[2:]
    i = argv.index("--port")
    assert argv[i + 1] == DOC_PORT
    return argv[:i] + argv[i + 2 :]


def doc_key(argv: list[str]) -> tuple[str, str]:
    return argv[argv.index("--api-key") + 1], argv[argv.index("--api-secret") + 1]


def doc_server() -> Any:
    argv = doc_command()
    key, secret = doc_key(argv)
    return serve(argv, key=key, secret=secret, cwd=ROOT)


def run_example(server: Server) -> subprocess.CompletedProcess[str]:
    (example,) = [b for b in blocks("python") if "EXSIM_PORT" in b]
    env = {**os.environ, "EXSIM_PORT": str(server.port)}
    return subprocess.run([sys.executable, "-c", example], capture_output=True, text=True, env=env, timeout=600)


def test_doc_example_runs_against_the_doc_command() -> None:
    """The page's ccxt example, run against the page's command, opens the 125x long and
    reports it liquidated by the crash (exit 0)."""
    with doc_server() as server:
        done = run_example(server)
    assert done.returncode == 0, done.stderr + server.log_text()
    assert "liquidation price" in done.stdout
    assert "liquidated within minute" in done.stdout


def test_doc_example_prints_the_same_run_twice() -> None:
    """Two fresh step-mode servers give the example the same output: fills, venue time and
    state hash (what the page promises)."""
    outputs = []
    for _ in range(2):
        with doc_server() as server:
            done = run_example(server)
        assert done.returncode == 0, done.stderr
        outputs.append(done.stdout)
    assert outputs[0] == outputs[1]


def freqtrade_ccxt_config(port: int) -> dict[str, Any]:
    """The page's freqtrade settings (a fragment of a config file), at ``port``."""
    (fragment,) = [b for b in blocks("json") if '"ccxt_config"' in b]
    config = json.loads("{" + fragment.replace(f"127.0.0.1:{DOC_PORT}", f"127.0.0.1:{port}") + "}")
    exchange = config["exchange"]
    assert exchange["ccxt_config"] == exchange["ccxt_async_config"]
    return {**exchange["ccxt_config"], "apiKey": exchange["key"], "secret": exchange["secret"]}


def test_freqtrade_settings_let_ccxt_binance_trade() -> None:
    """ccxt's ``binance`` class in swap mode (freqtrade's futures exchange) built from the
    page's ``ccxt_config`` loads the market, reads the book, sets leverage and buys."""
    with doc_server() as server:
        config = freqtrade_ccxt_config(server.port)
        config["options"] = {**config["options"], "defaultType": "swap"}
        ex = ccxt.binance(config)
        markets = ex.load_markets()
        assert list(markets) == ["BTC/USDT:USDT"]
        ex.set_leverage(10, "BTC/USDT:USDT")
        order = ex.create_order("BTC/USDT:USDT", "market", "buy", 0.01)
        assert order["status"] == "closed"
        (pos,) = [p for p in ex.fetch_positions(["BTC/USDT:USDT"]) if p["contracts"]]
        assert (pos["side"], pos["contracts"]) == ("long", 0.01)


def test_doc_names_only_paths_it_serves() -> None:
    """Every ``/fapi/...`` path the page names is one the server answers with a Binance
    reply, not the 'not served' error (-1000 naming the path)."""
    paths = sorted(set(re.findall(r"`(?:GET |POST |PUT |DELETE )?(/fapi/v[123]/[A-Za-z/]+)`", DOC.read_text())))
    assert paths
    with doc_server() as server:
        unserved = []
        for path in paths:
            for method in ("GET", "POST", "PUT", "DELETE"):
                req = urllib.request.Request(f"{server.base}{path}", method=method, data=b"" if method != "GET" else None)
                try:
                    with urllib.request.urlopen(req, timeout=60):
                        break
                except urllib.error.HTTPError as e:
                    body = e.read().decode()
                    if "not served" not in body:
                        break
            else:
                unserved.append(path)
    assert unserved == []
