"""The pages' browser tests share one headless Chromium for the session (it starts in about
a second); each test loads its page afresh (tests/pages/browser.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .browser import Browser, start_chromium


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """A headless Chromium for the session (the system browser and chromedriver)."""
    try:
        b = start_chromium()
    except FileNotFoundError as exc:
        pytest.fail(str(exc))
    try:
        yield b
    finally:
        b.driver.quit()
