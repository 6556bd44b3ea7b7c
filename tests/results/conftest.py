"""Shared runs of the results tests: the pinned scenario (tests/results/pinned.toml) and a
short replay of the shared capture with the market maker, each written once per session."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from exsim.cli import main

HERE = Path(__file__).parent
PINNED = HERE / "pinned.toml"


@pytest.fixture(scope="session")
def pinned_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pinned") / "run"
    assert main(["scenario", str(PINNED), "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="session")
def pinned_summary(pinned_run: Path) -> dict[str, Any]:
    return json.loads((pinned_run / "summary.json").read_text())
