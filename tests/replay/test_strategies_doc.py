"""docs/strategies.md: every Python block in it runs as it is, from the project's folder,
on the real data the page names (the shipped replays and ``../shared/data``), and the page
documents every public method of the strategy's context and every hook."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from exsim.replay import Context, Strategy

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "strategies.md"
SHARED = ROOT.parent / "shared" / "data"
BLOCK = re.compile(r"```python\n(?P<code>.*?)```", re.S)


def python_blocks() -> list[str]:
    return [m["code"] for m in BLOCK.finditer(PAGE.read_text())]


def block_id(code: str) -> str:
    found = re.search(r"^class (\w+)", code, re.M)
    return found[1] if found else code.splitlines()[0]


def test_the_page_has_runnable_blocks() -> None:
    """The guide carries its examples as Python blocks (at least the six it was written with)."""
    assert len(python_blocks()) >= 6


@pytest.mark.skipif(not SHARED.is_dir(), reason="needs ../shared/data (the team's shared folder)")
@pytest.mark.parametrize("code", python_blocks(), ids=block_id)
def test_every_python_block_runs(code: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The block runs alone, from the project's folder, and its own asserts hold."""
    monkeypatch.chdir(ROOT)
    exec(compile(code, f"{PAGE.name}:{block_id(code)}", "exec"), {"__name__": "strategies_doc"})  # noqa: S102 (our own page)
    assert capsys.readouterr().out  # each block shows what it got


def test_the_page_names_every_public_context_method_and_hook() -> None:
    """Every public attribute of Context and every hook of Strategy is on the page."""
    text = PAGE.read_text()
    public = [name for name in dir(Context) if not name.startswith("_")]
    hooks = [name for name in vars(Strategy) if name.startswith("on_")]
    missing = [name for name in public + hooks if name not in text]
    assert not missing, missing
