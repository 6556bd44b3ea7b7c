#!/usr/bin/env python3
"""Screenshots of every built-in's teaching page for the docs: ``docs/pages/NAME.png``.

Each built-in is compared as its first line says (``exsim compare NAME`` in its natural
modes or venues) with ``--html``, exactly as the browser tests make it
(tests/pages/runs.py), then opened in the same headless Chromium (tests/pages/browser.py):
a laptop-wide window (1,440 CSS pixels), the first liquidation clicked so the state panel
and the explanation show that instant, and the top of the page captured (controls,
outcome, the plots, the state and the explanation). PNGs are reduced to a 256-colour
palette so each stays under 300 KB.

Run from the repository root (needs the ``test`` extra and Debian's chromium and
chromium-driver)::

    .venv/bin/python tools/make_page_shots.py               # every built-in
    .venv/bin/python tools/make_page_shots.py cascade       # one
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402  (matplotlib's own dependency)

from tests.pages.browser import Browser, start_chromium  # noqa: E402
from tests.pages.runs import BUILTINS, make_compare_page  # noqa: E402

WIDTH = 1440  # a laptop screen, CSS pixels
HEIGHT = 2600  # the captured top of the page (two laptop screens and a half)
MAX_BYTES = 300_000


def shoot(browser: Browser, html: Path) -> Image.Image:
    """The top of the page at its first liquidation (else at its last step)."""
    browser.driver.set_window_size(WIDTH, 900)
    browser.open(html)
    liquidations = browser.find_all("#liquidations [data-liq]")
    if liquidations:
        browser.click(liquidations[0])
    else:
        browser.set_step(browser.steps() - 1)
    browser.assert_quiet_console()
    height = int(browser.driver.execute_script("return document.documentElement.scrollHeight"))
    inner = int(browser.driver.execute_script("return window.innerHeight"))
    browser.driver.set_window_size(WIDTH, 900 - inner + min(height, HEIGHT))  # the window's own bars kept out
    browser.driver.execute_script("window.scrollTo(0, 0)")
    return Image.open(io.BytesIO(browser.screenshot())).convert("RGB")


def save(img: Image.Image, path: Path) -> int:
    """``img`` as a 256-colour PNG at ``path``; its size in bytes."""
    img.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(path, optimize=True)
    return path.stat().st_size


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", help="built-ins to shoot (default: every one)")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "pages", help="folder of the PNGs (default docs/pages)")
    args = ap.parse_args(argv)
    names = args.names or BUILTINS
    unknown = sorted(set(names) - set(BUILTINS))
    if unknown:
        ap.error(f"not a built-in: {', '.join(unknown)} (exsim scenario --list)")
    args.out.mkdir(parents=True, exist_ok=True)
    browser = start_chromium((WIDTH, 900))
    too_big = []
    try:
        with tempfile.TemporaryDirectory(prefix="exsim-shots-") as tmp:
            for name in names:
                with contextlib.redirect_stdout(io.StringIO()):
                    page = make_compare_page(name, Path(tmp))
                size = save(shoot(browser, page.html), args.out / f"{name}.png")
                print(f"{args.out / name}.png  {size / 1000:.0f} KB")
                if size > MAX_BYTES:
                    too_big.append(name)
    finally:
        browser.driver.quit()
    if too_big:
        print(f"over {MAX_BYTES / 1000:.0f} KB: {', '.join(too_big)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
