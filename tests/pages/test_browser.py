"""Every built-in's ``exsim compare --html`` page, a replay report's and a scenario's, in a
real headless Chromium: no console message, the slider and the step buttons and keys move
the shown state to the run's own numbers, a click on a liquidation explains it, the
cascade's rounds are listed, and the page is drawn (docs/pages.md is the DOM contract).

The pages are made through the command line into the session's temporary folder; what the
state panel must show is worked out from the runs' own ``timeseries.csv`` (tests/pages/runs.py).
"""

from __future__ import annotations

import io
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image  # matplotlib's own dependency: decodes the screenshots

from exsim.replay.explain import explain_run, liquidations_of

from .browser import Browser
from .runs import BUILTINS, Page, load_page, make_compare_page, run_cli

ACCOUNTS_PER_RUN = 6  # state rows checked per run and step (all of a small run)
STEPS_CHECKED = 8  # steps whose state is checked against the time series
LIQUIDATIONS_CLICKED = 3  # per run: the first, one in the middle, the last
WALK_ALL_UP_TO = 400  # pages with at most this many steps are walked step by step


@pytest.fixture(scope="session")
def compare_page(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Page]:
    """``name -> Page``: the built-in's compare page in its natural modes, made once a session."""
    folder = tmp_path_factory.mktemp("compare-pages")
    made: dict[str, Page] = {}

    def get(name: str) -> Page:
        if name not in made:
            made[name] = make_compare_page(name, folder)
        return made[name]

    return get


@pytest.fixture(params=BUILTINS)
def builtin(request: pytest.FixtureRequest, compare_page: Callable[[str], Page], browser: Browser) -> Page:
    """A built-in's compare page, open in the browser."""
    page = compare_page(request.param)
    browser.open(page.html)
    return page


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``exsim demo --out D``: D holds two replay run dirs (``capture``, ``crash``)."""
    folder = tmp_path_factory.mktemp("demo") / "demo"
    run_cli("demo", "--out", str(folder))
    return folder


@pytest.fixture(scope="session")
def demo_report(demo: Path) -> Page:
    """``exsim report D --html F`` of the demo's folder: two replays of different days side by side."""
    html = demo.parent / "demo.html"
    out = run_cli("report", str(demo), "--html", str(html))
    assert f"page: {html}" in out
    return load_page(html)


@pytest.fixture(scope="session")
def crash_report(demo: Path) -> Page:
    """``exsim report D/crash --html F``: one replay run dir."""
    html = demo.parent / "crash.html"
    run_cli("report", str(demo / "crash"), "--html", str(html))
    return load_page(html)


# ---------------------------------------------------------------------------- helpers
def checked_steps(page: Page) -> list[int]:
    """The first and last steps, each liquidation's, and steps evenly between."""
    n = len(page.doc["steps"])
    liq = sorted({x["step"] for run in page.doc["runs"] for x in run["liquidations"]})
    even = [i * (n - 1) // (STEPS_CHECKED - 1) for i in range(STEPS_CHECKED)]
    return sorted({0, n - 1, *liq[:3], *liq[-2:], *even})


def checked_accounts(page: Page, run: str) -> list[int]:
    """A few accounts of the run: the first ones, the liquidated ones, the last."""
    every = page.runs[run].accounts()
    if len(every) <= ACCOUNTS_PER_RUN:
        return every
    doc_run = next(r for r in page.doc["runs"] if r["name"] == run)
    liquidated = [x["account"] for x in doc_run["liquidations"]][:2]
    return sorted({*every[:2], *liquidated, every[len(every) // 2], every[-1]})


def fields_of(page: Page, run: str) -> tuple[str, ...]:
    """The account fields checked: a replay's account shows no margin figures of its own
    (they are its buckets' and pool's, on the position rows)."""
    return ("equity", "wallet", "margin_ratio") if page.runs[run].kind == "scenario" else ("equity", "wallet")


def state_mismatches(browser: Browser, page: Page, step: int) -> list[str]:
    """Every checked account cell whose ``data-value`` differs from the run's time series."""
    cells = browser.cells()
    bad = []
    for run in page.runs:
        for account in checked_accounts(page, run):
            for f in fields_of(page, run):
                want = page.expected(run, account, step, f)
                got = cells.get((run, str(account), "", "", f))
                if got != want:
                    bad.append(f"step {step}: run {run} account {account} {f}: page {got!r}, timeseries.csv {want!r}")
    return bad


def mismatches_at_checked_steps(browser: Browser, page: Page) -> list[str]:
    """:func:`state_mismatches` at each of the page's :func:`checked_steps`, set by ``setStep``."""
    bad = []
    for k in checked_steps(page):
        browser.set_step(k)
        bad += state_mismatches(browser, page, k)
    return bad


def normalized(text: str) -> str:
    return " ".join(text.split())


def non_background(png: bytes) -> tuple[int, int, float]:
    """``(pixels, distinct colours, share of pixels not of the commonest colour)``."""
    img = Image.open(io.BytesIO(png)).convert("RGB")
    colours = img.getcolors(maxcolors=img.width * img.height) or []
    total = img.width * img.height
    return total, len(colours), 1 - max(c for c, _ in colours) / total


def blur(browser: Browser) -> None:
    """Nothing focused: keys go to the page's own handler, not to a focused control."""
    browser.driver.execute_script("if (document.activeElement) document.activeElement.blur()")


def step_time_utc(page: Page, step: int) -> str:
    """``HH:MM:SS`` of the step's UTC time (runs on one clock)."""
    ns = page.keys[step][0] + int(page.doc["t0_ns"])
    return datetime.fromtimestamp(ns // 10**9, UTC).strftime("%H:%M:%S")


# ---------------------------------------------------------------------------- every built-in
class TestBuiltinComparePage:
    """``exsim compare NAME --html FILE`` of every built-in, in its natural modes."""

    def test_every_step_is_shown_without_a_console_message(self, builtin: Page, browser: Browser) -> None:
        """Loading the page and showing its steps writes no error or warning to the console."""
        n = browser.steps()
        for k in range(n) if n <= WALK_ALL_UP_TO else checked_steps(builtin):
            browser.set_step(k)
            assert browser.step() == k
        browser.assert_quiet_console()

    def test_the_slider_spans_every_step(self, builtin: Page, browser: Browser) -> None:
        """The slider runs from 0 to steps − 1 of the document's timeline."""
        n = len(builtin.doc["steps"])
        slider = browser.find("#slider")
        assert slider.get_attribute("type") == "range"
        assert (slider.get_attribute("min"), slider.get_attribute("max")) == ("0", str(n - 1))
        assert browser.steps() == n

    def test_the_state_panel_shows_the_runs_own_numbers(self, builtin: Page, browser: Browser) -> None:
        """At several steps each checked account's equity, wallet and margin ratio are the
        run's own time-series values at that instant."""
        bad = mismatches_at_checked_steps(browser, builtin)
        assert not bad, "\n".join(bad[:20])

    def test_next_button_steps_forward_and_prev_back(self, builtin: Page, browser: Browser) -> None:
        """#next shows the next step (slider, #now and state follow); #prev the one before."""
        browser.set_step(0)
        before = browser.text("#now")
        browser.click(browser.find("#next"))
        assert browser.step() == 1
        assert browser.find("#slider").get_attribute("value") == "1"
        assert browser.text("#now") != before
        assert not state_mismatches(browser, builtin, 1)
        browser.click(browser.find("#prev"))
        assert browser.step() == 0
        assert browser.text("#now") == before

    def test_arrow_keys_step(self, builtin: Page, browser: Browser) -> None:
        """ArrowRight shows the next step, ArrowLeft the one before, one step a key."""
        from selenium.webdriver.common.keys import Keys

        browser.set_step(0)
        blur(browser)
        browser.press(Keys.ARROW_RIGHT)
        assert browser.step() == 1
        assert not state_mismatches(browser, builtin, 1)
        browser.press(Keys.ARROW_LEFT)
        assert browser.step() == 0

    def test_the_slider_moves_the_state(self, builtin: Page, browser: Browser) -> None:
        """Moving the slider's thumb to its end shows the last step's state, to its start the first."""
        from selenium.webdriver.common.keys import Keys

        last = len(builtin.doc["steps"]) - 1
        browser.set_step(0)
        browser.find("#slider").send_keys(Keys.END)
        assert browser.step() == last
        assert not state_mismatches(browser, builtin, last)
        browser.find("#slider").send_keys(Keys.HOME)
        assert browser.step() == 0
        assert not state_mismatches(browser, builtin, 0)

    def test_now_names_the_steps_time_and_label(self, builtin: Page, browser: Browser) -> None:
        """#now shows the step's UTC time and what happened (the frame's label)."""
        for k in checked_steps(builtin):
            browser.set_step(k)
            now = browser.text("#now")
            label = builtin.doc["steps"][k][2]
            assert step_time_utc(builtin, k) in now and label in now, f"step {k}: #now {now!r}"

    def test_every_liquidation_is_listed(self, builtin: Page, browser: Browser) -> None:
        """#liquidations has one [data-liq="RUN:INDEX"] item per liquidation of each run's events.jsonl."""
        want = sorted(f"{name}:{i}" for name, run in builtin.runs.items() for i in range(1, len(liquidations_of(run.dir)) + 1))
        items = browser.find_all("#liquidations [data-liq]")
        assert sorted(e.get_attribute("data-liq") for e in items) == want

    def test_a_click_on_a_liquidation_shows_its_explanation(self, builtin: Page, browser: Browser) -> None:
        """A click on a liquidation moves to its instant and shows `exsim explain`'s text of it."""
        clicked = 0
        for name, run in builtin.runs.items():
            events = liquidations_of(run.dir)
            n = len(events)
            for i in sorted({1, (n + 1) // 2, n} if n else set())[:LIQUIDATIONS_CLICKED]:
                browser.set_step(0)
                browser.click(browser.find(f'#liquidations [data-liq="{name}:{i}"]'))
                assert normalized(explain_run(run.dir, i)) in normalized(browser.text("#explain")), f"{name}:{i}"
                assert builtin.run_key(name, browser.step())[0] == int(events[i - 1]["ts_ns"]), f"{name}:{i}: the step's time"
                clicked += 1
        browser.assert_quiet_console()
        if not clicked:
            assert not browser.find_all("#liquidations [data-liq]")

    def test_a_screenshot_is_not_blank(self, builtin: Page, browser: Browser) -> None:
        """The window shows a drawn page (its screenshot decoded: many colours, much ink),
        and every plot's canvas has something drawn on it."""
        browser.set_step(len(builtin.doc["steps"]) // 2)
        total, colours, share = non_background(browser.screenshot())
        assert colours >= 64 and share >= 0.05, f"{colours} colours, {share:.1%} of the pixels not background"
        canvases = browser.find_all("canvas")
        assert canvases, "no <canvas> plot on the page"
        for c in canvases:
            size = c.size
            assert size["width"] > 100 and size["height"] > 50, f"a canvas of {size}"
            colours, share = browser.canvas_ink(c)
            what = f"{c.get_attribute('data-run')} {c.get_attribute('data-panel') or c.get_attribute('class')}"
            assert colours >= 4 and share >= 0.005, f"canvas {what}: {colours} colours, {share:.2%} drawn"


# ---------------------------------------------------------------------------- play
class TestPlay:
    """#play steps through the run by itself until paused."""

    def test_play_advances_and_pause_stops(self, compare_page: Callable[[str], Page], browser: Browser) -> None:
        """After #play the step moves on by itself, showing the runs' numbers; a second
        click pauses it where it is."""
        from selenium.webdriver.support.ui import WebDriverWait

        page = compare_page("one-position")
        browser.open(page.html)
        browser.set_step(0)
        browser.click(browser.find("#play"))
        WebDriverWait(browser.driver, 30, poll_frequency=0.05).until(lambda d: browser.step() >= 2, "#play did not step")
        browser.click(browser.find("#play"))
        paused = browser.step()
        assert not state_mismatches(browser, page, paused)
        time.sleep(1.3)  # longer than two of play's intervals (at most 600 ms a step)
        assert browser.step() == paused
        browser.assert_quiet_console()


# ---------------------------------------------------------------------------- the cascade
class TestCascadePage:
    """The cascade built-in's page lists each generation of the cascade."""

    def test_every_generation_is_listed(self, compare_page: Callable[[str], Page], browser: Browser) -> None:
        """#generations has a [data-generation="RUN:G"] row for each cascade round of each run."""
        page = compare_page("cascade")
        browser.open(page.html)
        want = set()
        for name, run in page.runs.items():
            want |= {f"{name}:{g}" for g in generations_in_marks(run.dir)}
        assert want, "the cascade ran no generation"
        got = {e.get_attribute("data-generation") for e in browser.find_all("#generations [data-generation]")}
        assert got == want

    def test_a_click_on_a_generation_moves_to_that_round(self, compare_page: Callable[[str], Page], browser: Browser) -> None:
        """A click on a generation's row shows a step of that cascade round."""
        page = compare_page("cascade")
        browser.open(page.html)
        rows = browser.find_all("#generations [data-generation]")
        assert rows
        for row in rows:
            g = int(row.get_attribute("data-generation").rpartition(":")[2])
            browser.set_step(0)
            browser.click(row)
            k = browser.step()
            assert page.doc["steps"][k][1] == g, f"generation {g}'s row showed step {k}, of generation {page.doc['steps'][k][1]}"
        browser.assert_quiet_console()


def generations_in_marks(run_dir: Path) -> set[int]:
    """The cascade rounds (generation > 0) the run's marks.csv records."""
    import csv

    with (run_dir / "marks.csv").open(newline="", encoding="utf-8") as f:
        return {int(r["generation"]) for r in csv.DictReader(f) if int(r.get("generation") or 0) > 0}


# ---------------------------------------------------------------------------- a replay report
class TestReplayReportPage:
    """``exsim report D --html F`` of ``exsim demo``'s two replays (different days, side by side)."""

    def test_it_loads_and_steps_without_a_console_message(self, demo_report: Page, browser: Browser) -> None:
        """The page opens, walks its checked steps and writes nothing to the console."""
        browser.open(demo_report.html)
        for k in checked_steps(demo_report):
            browser.set_step(k)
            assert browser.step() == k
        browser.assert_quiet_console()

    def test_the_slider_spans_every_step(self, demo_report: Page, browser: Browser) -> None:
        """The slider runs from 0 to steps − 1."""
        browser.open(demo_report.html)
        slider = browser.find("#slider")
        assert slider.get_attribute("max") == str(len(demo_report.doc["steps"]) - 1)

    def test_stepping_shows_each_replays_equity(self, demo_report: Page, browser: Browser) -> None:
        """#next and the slider show each replay's equity and wallet at that instant."""
        browser.open(demo_report.html)
        bad = mismatches_at_checked_steps(browser, demo_report)
        browser.set_step(0)
        browser.click(browser.find("#next"))
        assert browser.step() == 1
        bad += state_mismatches(browser, demo_report, 1)
        assert not bad, "\n".join(bad[:20])

    def test_the_liquidation_is_explained(self, demo_report: Page, browser: Browser) -> None:
        """A click on the crash replay's liquidation shows its explanation."""
        browser.open(demo_report.html)
        run = demo_report.runs["crash"]
        assert liquidations_of(run.dir), "the demo's crash replay has a liquidation"
        browser.click(browser.find('#liquidations [data-liq="crash:1"]'))
        assert normalized(explain_run(run.dir, 1)) in normalized(browser.text("#explain"))
        browser.assert_quiet_console()

    def test_one_run_dirs_page_steps_to_its_numbers(self, crash_report: Page, browser: Browser) -> None:
        """The page of one replay run dir opens quietly; #next, the arrow keys and setStep
        show its equity and wallet at each step."""
        from selenium.webdriver.common.keys import Keys

        browser.open(crash_report.html)
        assert browser.steps() == len(crash_report.doc["steps"]) and len(crash_report.runs) == 1
        bad = mismatches_at_checked_steps(browser, crash_report)
        browser.set_step(0)
        browser.click(browser.find("#next"))
        blur(browser)
        browser.press(Keys.ARROW_RIGHT)
        assert browser.step() == 2
        bad += state_mismatches(browser, crash_report, 2)
        assert not bad, "\n".join(bad[:20])
        browser.assert_quiet_console()


# ---------------------------------------------------------------------------- a scenario's page
class TestScenarioPage:
    """``exsim scenario NAME --html F`` (no --out: the run lives in a temporary folder)."""

    def test_it_loads_and_steps_to_the_runs_numbers(self, tmp_path: Path, browser: Browser) -> None:
        """The page opens quietly, and stepping shows the numbers of the same run written with --out."""
        html = tmp_path / "hedged.html"
        out = run_cli("scenario", "hedged-pair", "--html", str(html))
        assert re.search(rf"page: {re.escape(str(html))} \(\d+ steps", out)
        run_cli("scenario", "hedged-pair", "--out", str(tmp_path / "again"))  # deterministic: the same run
        page = load_page(html, dirs=[tmp_path / "again"])
        browser.open(html)
        assert browser.steps() == len(page.doc["steps"])
        bad = mismatches_at_checked_steps(browser, page)
        browser.set_step(0)
        browser.click(browser.find("#next"))
        bad += state_mismatches(browser, page, 1)
        assert not bad, "\n".join(bad[:20])
        browser.assert_quiet_console()
