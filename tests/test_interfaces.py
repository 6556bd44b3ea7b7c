"""The protocols through which a lower module reads an upper one are the whole of what it reads.

Where an upper module builds a lower one and hands it itself (the ledger its risk index,
a replay its strategy's context, recorder and snapshots, a scenario run its recorder and
distance rows), the lower module names the upper one only through a ``typing.Protocol``
of what it uses, so no import — not even one for annotations — goes back up
(``docs/architecture.md``; ``tests/test_import_graph.py`` checks the imports). Here,
for each protocol:

- **the lower module uses nothing else**: its source is scanned with :mod:`ast` for
  every ``x.NAME`` where ``x`` is a parameter annotated with the protocol, an attribute
  of ``self`` set from one, a local assigned from one, or a member of the protocol that
  is itself one of these protocols (``replay.recorder.out_dir``, ``cfg = r.config``);
  every ``NAME`` must be a member;
- **the upper class implements every member**: methods with the same parameters, and
  attributes set on ``self`` in the class (or declared on it);
- **each member is used** by some lower module (a protocol lists what is needed, no more).

The types are checked by hand with mypy (the project runs no type checker): the upper
classes conform structurally to these protocols.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from pathlib import Path
from types import FunctionType
from typing import Any, NamedTuple

import pytest

from exsim.ledger.ledger import Ledger
from exsim.ledger.risk_inputs import RiskInputs
from exsim.replay.interfaces import (
    RecorderForCheckpoint,
    ReplayCore,
    ReplayForCheckpoint,
    ReplayForContext,
    ReplayForRecorder,
    ReplaySettings,
)
from exsim.replay.recorder import Recorder
from exsim.replay.runner import Replay, ReplayConfig
from exsim.scenario.interfaces import RecorderForDistances, ScenarioForDistances, ScenarioForRecorder
from exsim.scenario.record import ScenarioRecorder
from exsim.scenario.runner import ScenarioRun

EXSIM = Path(__file__).resolve().parents[1] / "exsim"

#: every protocol, by name (a member annotated with one of these names is one)
PROTOCOLS: dict[str, type] = {p.__name__: p for p in (
    RiskInputs, ReplaySettings, ReplayCore, ReplayForContext, ReplayForRecorder, ReplayForCheckpoint, RecorderForCheckpoint,
    ScenarioForRecorder, ScenarioForDistances, RecorderForDistances,
)}  # fmt: skip


class Case(NamedTuple):
    protocol: type
    user: str | None  # the module (under exsim/) whose source must use only its members
    implementer: type  # the class that implements it

    def __str__(self) -> str:
        return self.protocol.__name__


CASES = [
    Case(RiskInputs, "ledger/risk_index.py", Ledger),
    Case(ReplayForContext, "replay/strategy.py", Replay),
    Case(ReplayForRecorder, "replay/recorder.py", Replay),
    Case(ReplayForCheckpoint, "replay/checkpoint.py", Replay),
    Case(ScenarioForRecorder, "scenario/record.py", ScenarioRun),
    Case(ScenarioForDistances, "scenario/distances.py", ScenarioRun),
    # reached through a member of one above (the scan follows them)
    Case(ReplaySettings, None, ReplayConfig),
    Case(RecorderForCheckpoint, None, Recorder),
    Case(RecorderForDistances, None, ScenarioRecorder),
]

_NOT_MEMBERS = {"_is_protocol", "_is_runtime_protocol"}


def members(protocol: type) -> dict[str, Any]:
    """Name -> declaration (function, property, or the annotation text of an attribute),
    the protocol's own and its bases'."""
    out: dict[str, Any] = {}
    for klass in reversed(protocol.__mro__):
        if klass not in PROTOCOLS.values():
            continue
        out.update(klass.__dict__.get("__annotations__", {}))
        out.update({
            name: value for name, value in vars(klass).items()
            if not name.startswith("__") and name not in _NOT_MEMBERS and isinstance(value, (FunctionType, property))
        })  # fmt: skip
    return out


def member_protocol(protocol: type, name: str) -> type | None:
    """The protocol a member of ``protocol`` is typed as, if it is one of :data:`PROTOCOLS`."""
    declared = members(protocol).get(name)
    if isinstance(declared, property):
        declared = declared.fget.__annotations__.get("return") if declared.fget else None
    return PROTOCOLS.get(declared) if isinstance(declared, str) else None


def _annotation_names(node: ast.expr | None) -> set[str]:
    if node is None:
        return set()
    if isinstance(node, ast.Constant) and isinstance(node.value, str):  # a quoted annotation
        return _annotation_names(ast.parse(node.value, mode="eval").body)
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def uses(source: str, protocol: type) -> dict[tuple[str, str], list[int]]:
    """``(protocol name, attribute) -> lines`` for every attribute read or written on a
    value of ``protocol`` (or of a protocol reached through its members) in ``source``."""
    tree = ast.parse(source)
    functions = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]

    def params_of(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> dict[str, type]:
        args = fn.args.posonlyargs + fn.args.args + fn.args.kwonlyargs
        return {a.arg: protocol for a in args if protocol.__name__ in _annotation_names(a.annotation)}

    # attributes of self set from such a parameter (``self.replay = replay``), in any method
    self_attrs: dict[str, type] = {}
    for fn in functions:
        params = params_of(fn)
        for node in ast.walk(fn):
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Name) and node.value.id in params:
                for target in node.targets:
                    if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) and target.value.id == "self":
                        self_attrs[target.attr] = params[node.value.id]

    found: dict[tuple[str, str], list[int]] = {}
    for fn in functions:
        names = params_of(fn)

        def typed(expr: ast.expr) -> type | None:
            if isinstance(expr, ast.Name):
                return names.get(expr.id)
            if isinstance(expr, ast.Attribute):
                if isinstance(expr.value, ast.Name) and expr.value.id == "self" and expr.attr in self_attrs:
                    return self_attrs[expr.attr]
                outer = typed(expr.value)
                return member_protocol(outer, expr.attr) if outer is not None else None
            return None

        # locals assigned from such a value (``r = self.replay``, ``cfg = r.config``), kept
        # only when every binding of the name in the function is one
        own_args = set(map(id, fn.args.posonlyargs + fn.args.args + fn.args.kwonlyargs))
        assigns: list[tuple[str, ast.expr]] = []
        other: set[str] = set()  # names also bound otherwise (loops, unpacking, inner params...)
        for node in ast.walk(fn):
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                assigns.append((node.targets[0].id, node.value))
                continue
            if isinstance(node, ast.arg) and id(node) not in own_args:
                other.add(node.arg)
            elif isinstance(node, ast.ExceptHandler) and node.name:
                other.add(node.name)
            bindings = (
                [t for target in node.targets for t in ast.walk(target)] if isinstance(node, ast.Assign)
                else list(ast.walk(node.target)) if isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension, ast.AugAssign, ast.AnnAssign, ast.NamedExpr))
                else list(ast.walk(node.optional_vars)) if isinstance(node, ast.withitem) and node.optional_vars is not None
                else []
            )  # fmt: skip
            other.update(t.id for t in bindings if isinstance(t, ast.Name) and isinstance(t.ctx, ast.Store))
        params = params_of(fn)
        for _ in range(3):  # (a local from a local: a few rounds reach every chain)
            for name in {n for n, _ in assigns} - other - set(params):
                kinds = {typed(value) for n, value in assigns if n == name}
                if len(kinds) == 1 and None not in kinds:
                    names[name] = kinds.pop()  # type: ignore[assignment]
        for node in ast.walk(fn):
            if isinstance(node, ast.Attribute):
                owner = typed(node.value)
                if owner is not None:
                    lines = found.setdefault((owner.__name__, node.attr), [])
                    if node.lineno not in lines:
                        lines.append(node.lineno)
    return found


def outside(used: dict[tuple[str, str], list[int]]) -> dict[str, list[int]]:
    """The uses that are no member of their protocol (``"Protocol.name"`` -> lines)."""
    return {f"{p}.{name}": lines for (p, name), lines in sorted(used.items()) if name not in members(PROTOCOLS[p])}


@pytest.mark.parametrize("case", [c for c in CASES if c.user is not None], ids=str)
def test_the_lower_module_uses_only_the_protocol(case: Case) -> None:
    used = uses((EXSIM / case.user).read_text(encoding="utf-8"), case.protocol)
    assert {p for p, _ in used} >= {case.protocol.__name__}, "the scan found no use at all: it no longer sees the code"
    assert outside(used) == {}


def test_every_member_is_used() -> None:
    """The protocols stay small: a member no lower module uses any more is dropped."""
    used = set()
    for case in CASES:
        if case.user is not None:
            used |= set(uses((EXSIM / case.user).read_text(encoding="utf-8"), case.protocol))
    declared = {(p.__name__, name) for p in PROTOCOLS.values() for name in p.__dict__.get("__annotations__", {})}
    declared |= {(p.__name__, name) for p in PROTOCOLS.values() for name, v in vars(p).items()
                 if isinstance(v, (FunctionType, property)) and name not in _NOT_MEMBERS and not name.startswith("__")}
    # a member of a base protocol counts as used through any protocol built on it
    through = {(base.__name__, name) for p, name in used for base in PROTOCOLS[p].__mro__ if base.__name__ in PROTOCOLS}
    assert sorted(declared - through) == []


def attributes_set_in(cls: type) -> set[str]:
    """``self.NAME`` assigned (plainly, annotated or augmented) anywhere in the class's
    source and its bases' (but the built-in ones)."""
    out: set[str] = set()
    for klass in cls.__mro__:
        if klass.__module__ == "builtins":
            continue
        tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        for node in ast.walk(tree):
            targets: list[ast.expr] = []
            if isinstance(node, ast.Assign):
                targets = [t for target in node.targets for t in ast.walk(target)]
            elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
                targets = [node.target]
            for t in targets:
                if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == "self":
                    out.add(t.attr)
    return out


def _parameters(fn: Any) -> list[tuple[str, Any, bool]]:
    """Name, kind and whether it has a default, per parameter (a protocol writes ``= ...``
    where the implementation's default is a constant of a module above it)."""
    return [(p.name, p.kind, p.default is not p.empty) for p in inspect.signature(fn).parameters.values()]


def conformance(protocol: type, impl: type) -> tuple[list[str], list[str]]:
    """The members of ``protocol`` that ``impl`` lacks, and its methods whose parameters differ."""
    assigned = attributes_set_in(impl)
    missing: list[str] = []
    differ: list[str] = []
    for name, declared in members(protocol).items():
        if isinstance(declared, FunctionType):
            implemented = getattr(impl, name, None)
            if not callable(implemented):
                missing.append(name)
            elif _parameters(implemented) != _parameters(declared):
                differ.append(f"{name}{inspect.signature(implemented)} vs {inspect.signature(declared)}")
        elif not (hasattr(impl, name) or name in assigned or name in getattr(impl, "__annotations__", {})):
            missing.append(name)
    return missing, differ


@pytest.mark.parametrize("case", CASES, ids=str)
def test_the_upper_class_implements_every_member(case: Case) -> None:
    assert conformance(case.protocol, case.implementer) == ([], [])


# ---------------------------------------------------------------------- the scan itself

_SOURCE = '''
class Recorder:
    def __init__(self, replay: "ReplayForCheckpoint") -> None:
        self.replay = replay

    def ok(self) -> None:
        r = self.replay
        cfg = r.config
        print(cfg.latency_ns, r.recorder.out_dir, self.replay.ledger)
        x = self.replay
        for x in range(3):  # (x is bound to something else too: not scanned)
            print(x.real)

    def bad(self, other: "ReplayForCheckpoint") -> None:
        rec = other.recorder
        rec.not_a_member = 1
        print(other.stopped, self.replay.config.venue)
'''


def test_the_scan_follows_locals_self_and_members_and_names_what_is_outside() -> None:
    used = uses(_SOURCE, ReplayForCheckpoint)
    assert set(used) == {
        ("ReplayForCheckpoint", "config"), ("ReplayForCheckpoint", "recorder"), ("ReplayForCheckpoint", "ledger"),
        ("ReplayForCheckpoint", "stopped"), ("ReplaySettings", "latency_ns"), ("ReplaySettings", "venue"),
        ("RecorderForCheckpoint", "out_dir"), ("RecorderForCheckpoint", "not_a_member"),
    }  # fmt: skip
    assert outside(used) == {
        "RecorderForCheckpoint.not_a_member": [16], "ReplayForCheckpoint.stopped": [17], "ReplaySettings.venue": [17],
    }  # fmt: skip


def test_a_missing_or_different_member_is_found() -> None:
    class Partial:
        def __init__(self) -> None:
            self.out_dir = None

        def flush_streams(self, extra: int) -> dict[str, int]:
            return {}

    missing, differ = conformance(RecorderForCheckpoint, Partial)
    assert missing == ["jsonl", "reopen_streams"]
    assert [d.partition("(")[0] for d in differ] == ["flush_streams"]
    assert conformance(RecorderForCheckpoint, Recorder) == ([], [])
