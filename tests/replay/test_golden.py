"""Golden state hashes: each shipped replay, run twice with its reference run, ends in the
state hash recorded in ``replays/GOLDEN.json``.

The reference run of a file is the demo's run on it (the holder strategy: 0.4 BTC long at
125x isolated, 1000 USDT). A change that alters the result of a replay changes the hash;
if the change is intended, record the new hashes with::

    EXSIM_UPDATE_GOLDEN=1 .venv/bin/pytest tests/replay/test_golden.py

and say why in the commit message.
"""

from __future__ import annotations

import json
import os

import pytest

from exsim.replay import Replay, ReplayConfig
from exsim.replay.cli import DEMO_RUNS, SHIPPED_REPLAYS, load_strategy

GOLDEN = SHIPPED_REPLAYS / "GOLDEN.json"


def reference_run(file_name: str) -> dict[str, object]:
    for _name, fname, symbol, params, _story in DEMO_RUNS:
        if fname == file_name:
            strategy = load_strategy("holder", params)
            return Replay([SHIPPED_REPLAYS / fname], strategy, ReplayConfig(balance="1000", symbol=symbol)).run()
    raise KeyError(file_name)


SHIPPED = sorted(p.name for p in SHIPPED_REPLAYS.iterdir() if p.suffix in (".gz", ".csv"))


def test_every_shipped_replay_has_a_reference_run_and_a_golden_hash() -> None:
    assert SHIPPED == sorted(fname for _, fname, *_ in DEMO_RUNS)
    if not os.environ.get("EXSIM_UPDATE_GOLDEN"):
        assert sorted(json.loads(GOLDEN.read_text())) == SHIPPED


@pytest.mark.parametrize("file_name", SHIPPED)
def test_golden_hash(file_name: str) -> None:
    first = reference_run(file_name)
    second = reference_run(file_name)
    assert first["state_hash"] == second["state_hash"]
    assert first["account"] == second["account"]
    if os.environ.get("EXSIM_UPDATE_GOLDEN"):
        golden = json.loads(GOLDEN.read_text()) if GOLDEN.is_file() else {}
        golden[file_name] = {"state_hash": first["state_hash"], "rows": first["rows"], "equity": first["account"]["equity"]}
        GOLDEN.write_text(json.dumps(golden, indent=1, sort_keys=True) + "\n")
    recorded = json.loads(GOLDEN.read_text())[file_name]
    assert first["state_hash"] == recorded["state_hash"], "the replay's end state changed: see this module's docstring"
    assert first["rows"] == recorded["rows"] and first["account"]["equity"] == recorded["equity"]
