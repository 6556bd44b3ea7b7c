"""The import graph of ``exsim/``: no cycle, and the packages in one-way layers.

Every module of ``exsim/`` is parsed with :mod:`ast` (nothing is imported). An import
counts wherever it is written — at the top, inside a function, inside ``try``, under
``if TYPE_CHECKING:`` — because a lazy import that only hides a cycle is still a cycle,
and so is one for annotations only: the module still names what sits above it (a lower
module declares a small ``typing.Protocol`` for what it needs of an upper one instead,
as ``exsim.ledger.risk_inputs``, ``exsim.replay.interfaces``,
``exsim.scenario.interfaces`` and ``exsim.liquidation.interface`` do). Relative imports
are resolved.

The layers (lowest first) are the ones ``docs/architecture.md`` draws: a package (or a
top-level module such as ``exsim.cli``) may import only packages of a *lower* layer.
A failure prints each offending import as ``file:line: module imports module``.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import NamedTuple

import pytest

EXSIM = Path(__file__).resolve().parents[1] / "exsim"

#: the one-way pipeline, lowest first; a unit imports only units of lower layers
LAYERS: tuple[tuple[str, ...], ...] = (
    ("exsim",),  # the package itself: its version, no imports
    ("errors",),
    ("units",),
    ("book", "toml_fields"),  # the order book knows nothing of margin
    ("instruments",),  # specifications, brackets, the shipped catalogue
    ("margin",),  # margin mathematics: liquidation and bankruptcy prices, funding, mark
    ("ledger", "venues"),  # accounts, positions, collateral; the venues' rules
    ("liquidation",),  # the engine, and the interface it asks the exchange through
    ("exchange",),  # sequences every command; creates and calls the liquidation engine
    ("loop", "sinks", "results", "readers"),  # the event loop; what events go to; what data comes from
    ("replay", "calculator", "testing"),  # a replay run; the margin calculators; the stress fuzzer
    ("pages", "serve"),  # teaching pages of runs; the Binance-like server over a replay
    ("scenario",),  # scenarios run like replays and show pages
    ("sweep",),  # grids of replays and scenarios
    ("cli",),  # the exsim command
)
LAYER_OF = {unit: n for n, layer in enumerate(LAYERS) for unit in layer}


class Import(NamedTuple):
    """One import of a module of the tree by another."""

    source: str  # the importing module, dotted
    target: str  # the imported module of the tree, dotted
    path: Path
    line: int
    annotations_only: bool = False  # written under ``if TYPE_CHECKING:`` (it still counts)

    def __str__(self) -> str:
        why = " (under TYPE_CHECKING: for annotations, still an import)" if self.annotations_only else ""
        return f"{self.path}:{self.line}: {self.source} imports {self.target}{why}"


def module_files(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` under ``root`` (a package folder)."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(root: Path) -> list[Import]:
    """Every import between modules of the tree, function-level ones and those under
    ``if TYPE_CHECKING:`` included (marked ``annotations_only``)."""
    files = module_files(root)

    def known(name: str) -> str | None:  # the module of the tree a dotted name lives in
        while name and name not in files:
            name = name.rpartition(".")[0]
        return name or None

    found: list[Import] = []
    seen: set[Import] = set()
    for module, path in files.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]

        def add(name: str, node: ast.stmt, guarded: bool) -> None:
            target = known(name)
            if target is not None and target != module:
                imp = Import(module, target, path, node.lineno, guarded)
                if imp not in seen:  # (one line importing several names is one import)
                    seen.add(imp)
                    found.append(imp)

        def visit(node: ast.AST, guarded: bool) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.If) and _is_type_checking(child.test):
                    for stmt in child.body:
                        visit_stmt(stmt, True)
                    for stmt in child.orelse:
                        visit_stmt(stmt, guarded)
                    continue
                visit_stmt(child, guarded)

        def visit_stmt(node: ast.AST, guarded: bool) -> None:
            if isinstance(node, ast.Import):
                for alias in node.names:
                    add(alias.name, node, guarded)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    origin = ".".join(base + ([node.module] if node.module else []))
                else:
                    origin = node.module or ""
                for alias in node.names:  # ``from pkg import module`` imports the module
                    full = f"{origin}.{alias.name}"
                    add(full if full in files else origin, node, guarded)
            visit(node, guarded)

        visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)), False)
    return found


def unit_of(module: str) -> str:
    """The layered unit of a module: its package under ``exsim`` (``exsim.ledger.ledger``
    -> ``ledger``), a top-level module itself (``exsim.cli`` -> ``cli``), or ``exsim``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            connect(v)
    return sorted(out)


def cycle_report(found: list[Import], key: str) -> list[str]:
    """For each cycle among ``key`` units ("module" or "package"), the imports that make it."""
    unit = (lambda m: m) if key == "module" else unit_of
    edges: dict[str, set[str]] = {}
    for imp in found:
        a, b = unit(imp.source), unit(imp.target)
        if a != b:
            edges.setdefault(a, set()).add(b)
    lines = []
    for component in cycles(edges):
        members = set(component)
        lines.append(f"{key} cycle: {' <-> '.join(component)}")
        lines.extend(
            f"  {imp}" for imp in found if unit(imp.source) in members and unit(imp.target) in members
            and unit(imp.source) != unit(imp.target)
        )
    return lines


def layer_violations(found: list[Import]) -> list[str]:
    """Imports of a unit by one of the same or a lower layer (each with its file and line)."""
    out = []
    for imp in found:
        a, b = unit_of(imp.source), unit_of(imp.target)
        if a != b and LAYER_OF[b] >= LAYER_OF[a]:
            out.append(f"{imp}  ({a}, layer {LAYER_OF[a]}, may import only layers below; {b} is layer {LAYER_OF[b]})")
    return out


@pytest.fixture(scope="module")
def graph() -> list[Import]:
    return imports_of(EXSIM)


def test_every_package_and_top_level_module_has_a_layer(graph: list[Import]) -> None:
    """A new package must be placed in the pipeline (here and in docs/architecture.md)."""
    units = {unit_of(m) for m in module_files(EXSIM)}
    assert units - set(LAYER_OF) == set(), "place these in LAYERS and docs/architecture.md"
    assert set(LAYER_OF) - units == set(), "LAYERS names units that no longer exist"


def test_no_module_imports_a_module_that_imports_it_back(graph: list[Import]) -> None:
    """No cycle among modules, counting imports inside functions and for annotations."""
    report = cycle_report(graph, "module")
    assert not report, "\n" + "\n".join(report)


def test_no_package_imports_a_package_that_imports_it_back(graph: list[Import]) -> None:
    """No cycle among the packages (and top-level modules) of exsim."""
    report = cycle_report(graph, "package")
    assert not report, "\n" + "\n".join(report)


def test_every_import_goes_down_the_layers(graph: list[Import]) -> None:
    """Each package imports only packages of lower layers: the one-way pipeline."""
    bad = layer_violations(graph)
    assert not bad, "\n" + "\n".join(bad)


def test_the_liquidation_engine_does_not_import_the_exchange(graph: list[Import]) -> None:
    """The exchange creates the engine; the engine asks it only through its interface."""
    assert [str(i) for i in graph if unit_of(i.source) == "liquidation" and unit_of(i.target) == "exchange"] == []


def test_nothing_in_the_engine_imports_the_test_tools(graph: list[Import]) -> None:
    """exsim.testing (the stress fuzzer) is imported by tests and the exsim command only."""
    users = {unit_of(i.source) for i in graph if unit_of(i.target) == "testing"} - {"testing"}
    assert users <= {"cli"}


def test_the_ledger_knows_nothing_of_the_book() -> None:
    """DESIGN.md §2: the ledger imports nothing from the book (it numbers the order sides
    itself, as the exchange passes them; tests/ledger checks the numbers agree)."""
    taken = []
    for path in sorted((EXSIM / "ledger").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("exsim.book"):
                taken.append(f"{path.relative_to(EXSIM.parent)}:{node.lineno}: from {node.module}")
            elif isinstance(node, ast.Import) and any(a.name.startswith("exsim.book") for a in node.names):
                taken.append(f"{path.relative_to(EXSIM.parent)}:{node.lineno}: import exsim.book")
    assert not taken, "\n".join(taken)


# ---------------------------------------------------------------------- the checker itself


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / "pkg" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "pkg"


def test_the_checker_sees_an_import_inside_a_function_and_a_relative_one(tmp_path: Path) -> None:
    """A cycle closed by a lazy import, or by ``from . import``, is found, with file and line."""
    tree = write_tree(tmp_path, {
        "__init__.py": "",
        "a.py": "from pkg.b import x\n",
        "b.py": "x = 1\n\ndef f():\n    from pkg import a\n    return a\n",
        "c.py": "from . import d\n",
        "d.py": "from .c import y\n",
    })  # fmt: skip
    report = cycle_report(imports_of(tree), "module")
    assert report[0] == "module cycle: pkg.a <-> pkg.b"
    assert f"  {tree / 'b.py'}:4: pkg.b imports pkg.a" in report
    assert "module cycle: pkg.c <-> pkg.d" in report


def test_the_checker_counts_an_annotation_only_import(tmp_path: Path) -> None:
    """A cycle closed by an ``if TYPE_CHECKING:`` import (the form the upper module's
    type took in an annotation) is found and said to be one; its ``else:`` counts too."""
    tree = write_tree(tmp_path, {
        "__init__.py": "",
        "a.py": "from pkg.b import x\n",
        "b.py": "from typing import TYPE_CHECKING\nx = 1\nif TYPE_CHECKING:\n    from pkg.a import A\n\ndef f(a: 'A') -> None: ...\n",
        "c.py": "import typing\nfrom pkg.d import z\n",
        "d.py": "import typing\nz = 1\nif typing.TYPE_CHECKING:\n    pass\nelse:\n    import pkg.c\n",
    })  # fmt: skip
    report = cycle_report(imports_of(tree), "module")
    assert report == [
        "module cycle: pkg.a <-> pkg.b",
        f"  {tree / 'a.py'}:1: pkg.a imports pkg.b",
        f"  {tree / 'b.py'}:4: pkg.b imports pkg.a (under TYPE_CHECKING: for annotations, still an import)",
        "module cycle: pkg.c <-> pkg.d",
        f"  {tree / 'c.py'}:2: pkg.c imports pkg.d",
        f"  {tree / 'd.py'}:6: pkg.d imports pkg.c",
    ]


def test_a_protocol_in_the_lower_module_breaks_an_annotation_only_cycle(tmp_path: Path) -> None:
    """The cure this tree uses: the lower module declares (in a module of its own) the
    small Protocol it needs of the upper one, which implements it without importing it."""
    tree = write_tree(tmp_path, {
        "__init__.py": "",
        "runner.py": "from pkg.recorder import Recorder\n\nclass Run:\n    seen = 0\n    def go(self) -> None:\n        Recorder(self)\n",
        "interfaces.py": "from typing import Protocol\n\nclass RunForRecorder(Protocol):\n    seen: int\n",
        "recorder.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.interfaces import RunForRecorder\n\n"
                       "class Recorder:\n    def __init__(self, run: 'RunForRecorder') -> None:\n        self.run = run\n",
    })  # fmt: skip
    found = imports_of(tree)
    assert cycle_report(found, "module") == []
    assert sorted((i.source, i.target, i.annotations_only) for i in found) == [
        ("pkg.recorder", "pkg.interfaces", True), ("pkg.runner", "pkg.recorder", False)]


def test_an_upward_import_breaks_the_layering(tmp_path: Path) -> None:
    """The ledger importing the exchange (a layer above it) is reported with its line."""
    tree = write_tree(tmp_path, {
        "__init__.py": "",
        "ledger/__init__.py": "",
        "ledger/ledger.py": "import os\n\ndef f():\n    from pkg.exchange.exchange import Exchange\n",
        "exchange/__init__.py": "",
        "exchange/exchange.py": "from pkg.ledger.ledger import f\nExchange = 1\n",
    })  # fmt: skip
    bad = layer_violations(imports_of(tree))
    assert len(bad) == 1 and bad[0].startswith(f"{tree / 'ledger' / 'ledger.py'}:4: pkg.ledger.ledger imports pkg.exchange.exchange")
    assert cycle_report(imports_of(tree), "package")[0] == "package cycle: exchange <-> ledger"


def test_an_annotation_only_upward_import_breaks_the_layering(tmp_path: Path) -> None:
    """The ledger naming the exchange for a type (under ``if TYPE_CHECKING:``) is upward too."""
    tree = write_tree(tmp_path, {
        "__init__.py": "",
        "ledger/__init__.py": "",
        "ledger/ledger.py": "import typing\nif typing.TYPE_CHECKING:\n    from pkg.exchange.exchange import Exchange\n",
        "exchange/__init__.py": "",
        "exchange/exchange.py": "Exchange = 1\n",
    })  # fmt: skip
    bad = layer_violations(imports_of(tree))
    assert len(bad) == 1 and bad[0].startswith(f"{tree / 'ledger' / 'ledger.py'}:3: pkg.ledger.ledger imports pkg.exchange.exchange (under TYPE_CHECKING")
