"""The teaching pages in a real browser: Debian's headless Chromium driven by Selenium.

The browser is the SYSTEM one (``/usr/bin/chromium``) driven through the SYSTEM
chromedriver (``/usr/bin/chromedriver``, Debian's ``chromium-driver``); both paths are
given to Selenium, so Selenium Manager never runs and nothing is downloaded. ``.ci/run``
installs the two packages when they are missing.

:class:`Browser` is what the tests talk to: load a page file and wait for
``window.exsimPage``, the console messages the page wrote, ``setStep``/``step``, and the
``data-value`` cells of the state panel (the DOM contract: docs/pages.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WINDOW = (1440, 900)  # a laptop screen, CSS pixels
READY_S = 20  # how long a page may take to set window.exsimPage (a cap, not a measure)
BAD_LEVELS = frozenset({"SEVERE", "WARNING"})

# Every [data-value] cell of the state panel in one round trip: (run, account, symbol,
# position side, field, value); symbol and side are "" on an account's row.
_CELLS_JS = """
const out = [];
for (const td of document.querySelectorAll('#state tr[data-run][data-account] td[data-field]')) {
  const tr = td.closest('tr');
  out.push([tr.dataset.run, tr.dataset.account, tr.dataset.symbol || '', tr.dataset.positionSide || '',
            td.dataset.field, td.getAttribute('data-value')]);
}
return out;
"""


# A canvas's own pixels (what was drawn on it, wherever it is scrolled): its distinct
# colours and the share of pixels not of its commonest colour.
_CANVAS_JS = """
const c = arguments[0], data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
const counts = new Map();
for (let i = 0; i < data.length; i += 4) {
  const key = ((data[i] << 24) | (data[i + 1] << 16) | (data[i + 2] << 8) | data[i + 3]) >>> 0;
  counts.set(key, (counts.get(key) || 0) + 1);
}
const total = data.length / 4;
return [counts.size, total ? 1 - Math.max(...counts.values()) / total : 0];
"""


class Browser:
    """One headless Chromium, a page at a time."""

    def __init__(self, driver: Any) -> None:
        self.driver = driver

    # -- pages
    def open(self, page: Path) -> None:
        """Load ``page`` (a file) and wait until its script has set ``window.exsimPage``;
        console messages of an earlier page are dropped first."""
        from selenium.webdriver.support.ui import WebDriverWait

        self.driver.get_log("browser")  # drain what an earlier page left
        self.driver.get(page.resolve().as_uri())
        WebDriverWait(self.driver, READY_S).until(
            lambda d: d.execute_script("return !!(window.exsimPage && typeof window.exsimPage.setStep === 'function')"),
            message=f"{page}: window.exsimPage was not set within {READY_S} s",
        )

    def console(self) -> list[dict[str, Any]]:
        """The console messages written since the last call (Chromium's browser log)."""
        return list(self.driver.get_log("browser"))

    def assert_quiet_console(self) -> None:
        """Fail listing every SEVERE or WARNING message the page wrote (errors, uncaught
        exceptions, failed loads, console.error / console.warn)."""
        bad = [f"{m['level']}: {m['message']}" for m in self.console() if m.get("level") in BAD_LEVELS]
        assert not bad, "the page wrote to the console:\n" + "\n".join(bad)

    # -- the page's API (window.exsimPage)
    def steps(self) -> int:
        return int(self.driver.execute_script("return window.exsimPage.steps"))

    def step(self) -> int:
        return int(self.driver.execute_script("return window.exsimPage.step()"))

    def set_step(self, k: int) -> None:
        self.driver.execute_script("window.exsimPage.setStep(arguments[0])", k)

    # -- the DOM
    def find(self, css: str) -> Any:
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.CSS_SELECTOR, css)

    def find_all(self, css: str) -> list[Any]:
        from selenium.webdriver.common.by import By

        return list(self.driver.find_elements(By.CSS_SELECTOR, css))

    def text(self, css: str) -> str:
        """The element's rendered text content (``textContent``: hidden parts too)."""
        return str(self.driver.execute_script("return document.querySelector(arguments[0]).textContent", css))

    def cells(self) -> dict[tuple[str, str, str, str, str], str]:
        """The state panel's ``data-value`` cells: ``(run, account, symbol, position side,
        field) -> value``; symbol and side are ``""`` on an account's row."""
        out: dict[tuple[str, str, str, str, str], str] = {}
        for run, account, symbol, side, field, value in self.driver.execute_script(_CELLS_JS):
            key = (run, account, symbol, side, field)
            assert key not in out, f"two state cells for {key}"
            assert value is not None, f"state cell {key} has no data-value attribute"
            out[key] = value
        return out

    def click(self, element: Any) -> None:
        """Scroll ``element`` to the middle of the window (clear of the page's sticky
        controls, as a reader would) and click it with the mouse."""
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'center', inline: 'center'})", element)
        element.click()

    def press(self, key: str) -> None:
        """Send one key (``selenium.webdriver.common.keys.Keys``) to the page's body."""
        self.find("body").send_keys(key)

    def settle(self) -> None:
        """Return after the browser has painted twice (what a step drew is on screen)."""
        self.driver.execute_async_script(
            "const done = arguments[arguments.length - 1]; requestAnimationFrame(() => requestAnimationFrame(() => done()))")

    def screenshot(self) -> bytes:
        """The visible window as PNG bytes, once painted."""
        self.settle()
        return bytes(self.driver.get_screenshot_as_png())

    def canvas_ink(self, canvas: Any) -> tuple[int, float]:
        """``(distinct colours, share of pixels not of the commonest colour)`` of what is
        drawn on ``canvas`` (read from the canvas itself, not from a screenshot)."""
        colours, share = self.driver.execute_script(_CANVAS_JS, canvas)
        return int(colours), float(share)


def start_chromium(window: tuple[int, int] = WINDOW) -> Browser:
    """A headless Chromium (the system browser and chromedriver) with a ``window`` of CSS
    pixels and the page's console kept (``goog:loggingPrefs``); ``.driver.quit()`` ends it."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"{', '.join(missing)} missing: apt-get install chromium chromium-driver (.ci/run does)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--window-size={window[0]},{window[1]}", "--hide-scrollbars", "--force-device-scale-factor=1"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return Browser(webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options))  # a path given: no Selenium Manager
