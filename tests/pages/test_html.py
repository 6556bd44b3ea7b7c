"""The teaching page's file: one self-contained HTML file holding the page document, and the
``--html`` option of ``exsim compare``, ``exsim scenario`` and ``exsim report``.

What the page does in a browser (stepping, clicking a liquidation) is tested with a real
browser elsewhere; these tests read the file."""

from __future__ import annotations

import json
import tempfile
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from exsim.cli import main
from exsim.errors import InputError
from exsim.pages.data import page_document, run_dirs_of
from exsim.pages.html import MARKER, embed_json, is_page, render_page, write_page

ROOT = Path(__file__).resolve().parents[2]
CRASH = ROOT / "replays" / "btc-perp-20220121-1m.csv"  # 4 hours of the January 2022 sell-off, real 1-minute bars


class _Scripts(HTMLParser):
    """The page as a browser's parser sees it: each ``<script>``'s attributes and text."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self._open: dict[str, str | None] | None = None
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "script":
            self._open = dict(attrs)
            self.scripts.append((self._open, ""))

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            attrs, text = self.scripts[-1]
            self.scripts[-1] = (attrs, text + data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._open = None


def parsed(text: str) -> _Scripts:
    p = _Scripts()
    p.feed(text)
    p.close()
    return p


def embedded(text: str) -> Any:
    """The document a browser reads from the page's ``#exsim-data`` element."""
    data = [body for attrs, body in parsed(text).scripts if attrs.get("id") == "exsim-data"]
    assert len(data) == 1
    return json.loads(data[0])


@pytest.fixture(scope="module")
def compare_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cmp") / "hedged-pair"
    assert main(["compare", "hedged-pair", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def doc(compare_dir: Path) -> dict[str, Any]:
    return page_document(run_dirs_of(compare_dir), "hedged pair: isolated | cross")


@pytest.fixture(scope="module")
def crash_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("replay") / "crash"
    rc = main(["replay", str(CRASH), "--symbol", "BTCUSDT", "--strategy", "holder", "--param", "qty=0.4", "--param", "leverage=125",
               "--param", "enter_after_s=3600", "--balance", "1000", "--out", str(out), "--no-progress"])
    assert rc == 0
    return out


class TestRender:
    def test_the_page_embeds_the_document_and_a_browser_reads_it_back_unchanged(self, doc: dict[str, Any]) -> None:
        """The JSON in ``#exsim-data`` parses back to the very document (every exact string kept)."""
        assert embedded(render_page(doc)) == json.loads(json.dumps(doc))

    def test_the_page_names_no_external_url(self, doc: dict[str, Any]) -> None:
        """Nothing is fetched: no ``http`` anywhere in the file, no script or style from elsewhere."""
        text = render_page(doc)
        assert "http" not in text.lower()
        p = parsed(text)
        assert not [a for tag, a in p.tags if tag == "script" and "src" in a]
        assert not [a for tag, a in p.tags if tag == "link"]

    def test_the_script_and_style_are_inlined(self, doc: dict[str, Any]) -> None:
        """Our own script (it defines ``window.exsimPage``) and style are in the file itself."""
        text = render_page(doc)
        code = [body for attrs, body in parsed(text).scripts if "type" not in attrs]
        assert len(code) == 1 and "window.exsimPage" in code[0]
        assert "<style>" in text and "#slider" in text

    def test_a_script_end_tag_in_an_explanation_cannot_break_out(self) -> None:
        """``</script>`` inside a document string stays text: the parser sees one data element
        and one script, and the explanation reads back whole."""
        evil = "</script><script>document.title='owned'</script><!-- </SCRIPT >"
        d = {"format": "exsim-page/1", "title": "t", "steps": [], "runs": [{"name": "x", "liquidations": [{"explanation": evil}]}],
             "distances": [], "notes": [evil]}
        text = render_page(d)
        p = parsed(text)
        assert len(p.scripts) == 2
        assert embedded(text)["runs"][0]["liquidations"][0]["explanation"] == evil
        assert "</script><script>document" not in text

    def test_the_title_is_escaped(self) -> None:
        """A title with markup is shown as text, not parsed as tags."""
        text = render_page({"format": "exsim-page/1", "title": "<b>a & b</b>", "steps": [], "runs": [], "distances": [], "notes": []})
        assert "<title>&lt;b&gt;a &amp; b&lt;/b&gt;</title>" in text

    def test_embed_json_writes_every_closing_tag_opener_escaped(self) -> None:
        """``</`` never appears in the embedded JSON; ``<\\/`` reads back as ``</``."""
        text = embed_json({"a": "x</y", "b": ["</", "<</"]})
        assert "</" not in text and json.loads(text) == {"a": "x</y", "b": ["</", "<</"]}


class TestWritePage:
    def test_a_written_page_is_marked_as_an_exsim_page(self, doc: dict[str, Any], tmp_path: Path) -> None:
        """The written file carries the generator marker in its head and holds the document."""
        path = write_page(doc, tmp_path / "page.html")
        text = path.read_text(encoding="utf-8")
        assert MARKER in text[:2000] and is_page(path)
        assert embedded(text)["title"] == doc["title"]

    def test_an_earlier_page_is_replaced(self, doc: dict[str, Any], tmp_path: Path) -> None:
        """Writing again over an exsim page replaces it (and leaves no temporary file)."""
        path = tmp_path / "page.html"
        write_page({**doc, "title": "first"}, path)
        write_page({**doc, "title": "second"}, path)
        assert embedded(path.read_text(encoding="utf-8"))["title"] == "second"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["page.html"]

    def test_a_file_that_is_not_a_page_is_refused_and_left_intact(self, doc: dict[str, Any], tmp_path: Path) -> None:
        """An existing file without the marker (someone's notes) is not overwritten."""
        path = tmp_path / "notes.html"
        path.write_bytes(b"<html><body>my lecture notes</body></html>\n")
        with pytest.raises(InputError, match="is not an exsim page; not overwritten"):
            write_page(doc, path)
        assert path.read_bytes() == b"<html><body>my lecture notes</body></html>\n"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.html"]

    def test_a_folder_is_refused(self, doc: dict[str, Any], tmp_path: Path) -> None:
        """The page's name must be a file's, not a folder's."""
        with pytest.raises(InputError, match="is a folder"):
            write_page(doc, tmp_path)


def one_error_line(capsys: pytest.CaptureFixture[str], phrase: str) -> None:
    out, err = capsys.readouterr()
    assert err.startswith("exsim: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    assert phrase in err, err


class TestCommands:
    def test_compare_html_writes_the_page_of_its_runs(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """``exsim compare NAME --html FILE``: the page shows each mode's run and the command says its size."""
        page = tmp_path / "cmp.html"
        assert main(["compare", "one-position", "--out", str(tmp_path / "runs"), "--html", str(page)]) == 0
        out = capsys.readouterr().out
        d = embedded(page.read_text(encoding="utf-8"))
        assert [r["name"] for r in d["runs"]] == ["isolated", "cross"]
        assert f"page: {page} ({len(d['steps'])} steps, " in out and " MB)" in out

    def test_scenario_html_without_out_leaves_no_run_folder(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
        """``exsim scenario NAME --html FILE`` runs into a temporary folder and removes it."""
        scratch = tmp_path / "scratch"
        scratch.mkdir()
        monkeypatch.setattr(tempfile, "tempdir", str(scratch))
        page = tmp_path / "one.html"
        assert main(["scenario", "one-position", "--html", str(page)]) == 0
        d = embedded(page.read_text(encoding="utf-8"))
        assert [r["name"] for r in d["runs"]] == ["one-position"] and d["runs"][0]["liquidations"]
        assert list(scratch.iterdir()) == []
        assert "page: " in capsys.readouterr().out

    def test_report_html_of_a_replay_run(self, crash_run: Path, tmp_path: Path) -> None:
        """``exsim report RUN_DIR --html FILE`` on a replay of real bars: its liquidation, explained."""
        page = tmp_path / "crash.html"
        assert main(["report", str(crash_run), "--html", str(page)]) == 0
        d = embedded(page.read_text(encoding="utf-8"))
        run = d["runs"][0]
        assert run["kind"] == "replay" and run["symbols"] == ["BTCUSDT"]
        assert run["liquidations"] and run["liquidations"][0]["explanation"].startswith("Liquidation 1 of ")

    def test_report_html_of_a_folder_of_runs_shows_them_side_by_side(self, crash_run: Path, compare_dir: Path,
                                                                      tmp_path: Path) -> None:
        """RUN_DIR may be a folder whose sub-folders are runs (a compare's ``--out``): one column each."""
        page = tmp_path / "both.html"
        assert main(["report", str(compare_dir), "--html", str(page)]) == 0
        assert [r["name"] for r in embedded(page.read_text(encoding="utf-8"))["runs"]] == ["isolated", "cross"]

    def test_report_html_of_a_folder_without_runs_is_one_clear_line(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """A RUN_DIR that holds no run: exit 2, one line naming it, no page written."""
        (tmp_path / "empty").mkdir()
        assert main(["report", str(tmp_path / "empty"), "--html", str(tmp_path / "p.html")]) == 2
        one_error_line(capsys, "no run directory")
        assert not (tmp_path / "p.html").exists()

    def test_html_over_a_file_that_is_not_a_page_is_refused_before_the_run(self, tmp_path: Path,
                                                                           capsys: pytest.CaptureFixture[str]) -> None:
        """The target is checked first: one line, the file intact, no run written."""
        notes = tmp_path / "notes.html"
        notes.write_text("mine\n")
        assert main(["compare", "one-position", "--out", str(tmp_path / "runs"), "--html", str(notes)]) == 2
        one_error_line(capsys, "is not an exsim page; not overwritten")
        assert notes.read_text() == "mine\n" and not (tmp_path / "runs").exists()
