"""docs/tutorial.md: every ``$ exsim ...`` command in it runs, and prints what the page shows.

The commands run in order in one empty folder (later ones read earlier runs), through
``exsim.cli.main`` with an 80-column terminal. To refresh the page after a deliberate
change of output: ``EXSIM_UPDATE_TUTORIAL=1 pytest tests/scenario/test_tutorial.py``.
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

import pytest

from exsim.cli import main

TUTORIAL = Path(__file__).resolve().parents[2] / "docs" / "tutorial.md"
BLOCK = re.compile(r"```console\n\$ (?P<cmd>[^\n]+)\n(?P<out>.*?)```", re.S)


def _plain(text: str) -> str:
    """Trailing spaces dropped from every line (rich pads its tables; editors strip them)."""
    return "".join(line.rstrip() + "\n" for line in text.splitlines())


def blocks(text: str) -> list[re.Match[str]]:
    return list(BLOCK.finditer(text))


def test_the_tutorial_has_commands() -> None:
    found = blocks(TUTORIAL.read_text())
    assert len(found) >= 8
    assert all(m["cmd"].startswith("exsim ") for m in found)


def test_every_tutorial_command_prints_what_the_page_shows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    text = TUTORIAL.read_text()
    outputs = []
    for m in blocks(text):
        capsys.readouterr()
        argv = shlex.split(m["cmd"])[1:]
        assert main(argv) == 0, m["cmd"]
        outputs.append((m, _plain(capsys.readouterr().out)))
    if os.environ.get("EXSIM_UPDATE_TUTORIAL"):
        pieces, last = [], 0
        for m, out in outputs:
            pieces += [text[last : m.start("out")], out]
            last = m.end("out")
        TUTORIAL.write_text("".join(pieces) + text[last:])
        return
    for m, out in outputs:
        assert out == _plain(m["out"]), f"output of `{m['cmd']}` differs from docs/tutorial.md"
