"""The teaching page: one self-contained HTML file (the document, our script and our style
inlined; nothing is fetched, it opens offline from a file).

The page document (:func:`exsim.pages.data.page_document`) is embedded as JSON in
``<script type="application/json" id="exsim-data">``; every ``</`` in it is written
``<\\/`` (the same string to a JSON reader) so no text in the document — an explanation, a
run's name — can close the script element. ``assets/page.js`` draws and steps the page,
``assets/page.css`` lays it out; both are exsim's own code, read from the package.

A page carries the marker ``<meta name="generator" content="exsim-page">``: :func:`write_page`
replaces a file only when it has that marker (an earlier page), never any other file.
"""

from __future__ import annotations

import html
import os
from importlib import resources
from pathlib import Path
from typing import Any, Final

from exsim.errors import InputError
from exsim.pages.data import write_json
from exsim.replay.rundir import atomic_write

GENERATOR: Final = "exsim-page"
MARKER: Final = f'<meta name="generator" content="{GENERATOR}">'
_SNIFF_BYTES: Final = 4096  # the marker sits in the head, within the first lines


def _asset(name: str) -> str:
    return resources.files("exsim.pages").joinpath("assets", name).read_text(encoding="utf-8")


def embed_json(doc: dict[str, Any]) -> str:
    """The document as JSON text safe inside a ``<script>`` element: ``</`` becomes ``<\\/``
    (JSON reads both as ``</``), so ``</script>`` in any string cannot end the element.

    >>> embed_json({"a": "</script>"})
    '{"a":"<\\\\/script>"}'
    """
    return write_json(doc).replace("</", "<\\/")


def render_page(doc: dict[str, Any]) -> str:
    """The page's HTML text: the document embedded, the script and style inlined."""
    title = html.escape(str(doc.get("title") or "exsim"))
    script = _asset("page.js").replace("</", "<\\/")  # (none in our script; kept safe anyway)
    style = _asset("page.css").replace("</", "<\\/")
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"{MARKER}\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{title}</title>\n"
        f"<style>\n{style}\n</style>\n"
        "</head>\n<body>\n"
        '<noscript><p class="noscript">This page draws with JavaScript: allow scripts for this file.</p></noscript>\n'
        f'<script type="application/json" id="exsim-data">{embed_json(doc)}</script>\n'
        f"<script>\n{script}\n</script>\n"
        "</body>\n</html>\n"
    )


def is_page(path: str | Path) -> bool:
    """Whether ``path`` is a file exsim wrote as a page (its head has the generator marker)."""
    try:
        with open(path, "rb") as f:
            head = f.read(_SNIFF_BYTES)
    except OSError:
        return False
    return MARKER.encode() in head


def check_target(path: str | Path) -> Path:
    """``path`` as the page's destination, checked before any work: a folder, a missing
    folder or an existing file that is not an exsim page is an :class:`InputError`."""
    p = Path(path)
    if p.is_dir():
        raise InputError("is a folder; expected the page's file name (e.g. page.html)", where=str(p), field="--html")
    if not p.parent.is_dir():
        raise InputError(f"the folder {str(p.parent)!r} does not exist", where=str(p), field="--html")
    if p.exists() and not is_page(p):
        raise InputError("is not an exsim page; not overwritten", where=str(p), field="--html")
    return p


def write_page(doc: dict[str, Any], path: str | Path) -> Path:
    """Write the page of ``doc`` to ``path`` whole (a temporary file renamed over it) and
    return the path; an existing file is replaced only if it is an exsim page."""
    p = check_target(path)
    text = render_page(doc)
    with atomic_write(p) as f:
        f.write(text)
    return p


def write_runs_page(runs: list[tuple[str, Path]], path: str | Path, title: str) -> str:
    """Read the finished run directories, write their page to ``path`` and return the line
    the commands print (:func:`page_line`)."""
    from exsim.pages.data import page_document

    doc = page_document(runs, title)
    return page_line(write_page(doc, path), doc)


def page_line(path: Path, doc: dict[str, Any]) -> str:
    """``page: FILE (N steps, X MB)``: what the commands print after writing a page."""
    size_mb = os.path.getsize(path) / 1_000_000  # display only
    return f"page: {path} ({len(doc.get('steps', [])):,} steps, {size_mb:.1f} MB)"


__all__ = ["GENERATOR", "MARKER", "check_target", "embed_json", "is_page", "page_line", "render_page", "write_page", "write_runs_page"]
