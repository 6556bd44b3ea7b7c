"""The docs show a screenshot of every built-in's page (tools/make_page_shots.py writes them)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from .runs import BUILTINS

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "docs" / "pages"
MAX_BYTES = 300_000


@pytest.mark.parametrize("name", BUILTINS)
def test_every_builtin_has_a_laptop_sized_screenshot(name: str) -> None:
    """docs/pages/NAME.png is a PNG 1,440 pixels wide, under 300 KB."""
    png = SHOTS / f"{name}.png"
    assert png.is_file(), f"{png} missing: run tools/make_page_shots.py {name}"
    data = png.read_bytes()
    assert len(data) < MAX_BYTES
    img = Image.open(io.BytesIO(data))
    assert img.format == "PNG" and img.width == 1440 and img.height >= 700


def test_the_pages_doc_shows_every_screenshot() -> None:
    """docs/pages.md's Screenshots section embeds each built-in's PNG."""
    text = (ROOT / "docs" / "pages.md").read_text(encoding="utf-8")
    shots = text.partition("\n## Screenshots\n")[2]
    assert shots, "docs/pages.md has no '## Screenshots' section"
    missing = [n for n in BUILTINS if f"](pages/{n}.png)" not in shots]
    assert not missing, f"not shown: {missing}"
