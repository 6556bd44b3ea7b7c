"""A sweep file (``SWEEP.toml``): the inputs, the strategy and the axes of a grid of runs.

Read field by field through :mod:`exsim.toml_fields`: every problem is one
:class:`~exsim.errors.InputError` naming ``file:line`` and the field, raised here, before
any cell runs — an unknown axis, an empty grid, a parameter the strategy does not take, a
value the replay's config refuses (every value of every axis is tried), a missing file, a
glob that matches nothing, a scenario that does not load. The format is documented in
``docs/sweeps.md``::

    name = "crash-leverage"
    [inputs]
    files = ["../../replays/btc-perp-20220121-1m.csv"]   # relative to this file; globs
    split = "file"                                       # file | day | merged
    symbol = "BTCUSDT"
    [strategy]
    name = "holder"
    params = { qty = "0.05" }
    [config]
    balance = "1000"
    [axes]
    leverage = [5, 20, 125]
    margin_mode = ["isolated", "cross"]
    [axes.param]
    enter_after_s = { from = 0, to = 7200, step = 1800 }

A range is inclusive of ``to``; integers stay integers, decimal strings step exactly
(``{ from = "0.01", to = "0.05", step = "0.01" }``). Values are JSON-able (``int`` or
``str``) so that a cell's id, its hash of the canonical values, is the same on every
machine.
"""

from __future__ import annotations

import glob
import hashlib
import inspect
import json
import os
import re
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Sequence

import attrs

from exsim.errors import InputError
from exsim.toml_fields import Fields, Source

#: axes that set the replay's own options (ReplayConfig fields of the same names)
ENGINE_AXES = ("leverage", "margin_mode", "latency_ns", "queue_model", "venue", "collateral_mode")
#: the axes a scenario sweep may have (the scenario file fixes everything else)
SCENARIO_AXES = ("margin_mode", "venue")
SPLITS = ("file", "day", "merged")
#: the most values one axis may have, and the most cells one sweep may have (bounded
#: memory: a larger study is several sweep files, or a listed subset)
MAX_AXIS_VALUES = 100_000
MAX_CELLS = 1_000_000
#: the largest sweep file read
MAX_SWEEP_BYTES = 4 << 20
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
#: ReplayConfig fields a sweep's [config] may not set: the inputs' and the axes' business
_NOT_IN_CONFIG = ("symbol",)


@attrs.frozen
class InputGroup:
    """What one cell replays: ``files`` (with ``formats``) merged, within ``window_ns``
    ([start, end) ns; None: all of them), or the scenario file ``scenario``."""

    name: str
    files: tuple[str, ...] = ()
    formats: tuple[str | None, ...] = ()
    window_ns: tuple[int, int] | None = None
    scenario: str | None = None


@attrs.frozen
class Axis:
    """One axis of the grid: ``name`` (an engine axis, or ``param.NAME`` for a strategy
    parameter) and its values in the order written."""

    name: str
    values: tuple[int | str, ...]


@attrs.frozen
class Sweep:
    """A parsed, checked sweep file. ``inputs``: one group per file (``split = "file"``
    and ``"day"``: days are found when the inputs are read, see exsim.sweep.cache), one
    for all files (``"merged"``) or one per scenario."""

    name: str
    source: str
    kind: str  # "replay" | "scenario"
    split: str
    inputs: tuple[InputGroup, ...]
    strategy: str | None
    params: dict[str, str]
    config: dict[str, Any]
    symbol: str | None
    axes: tuple[Axis, ...]
    subset: tuple[dict[str, int | str], ...] | None
    account: str | None
    fingerprint: str

    @property
    def axis_names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.axes)

    def canonical(self) -> dict[str, Any]:
        """The sweep as plain data (OUT/sweep.json): what its fingerprint is of, plus its source."""
        return {
            "name": self.name,
            "source": self.source,
            "kind": self.kind,
            "split": self.split,
            "inputs": [attrs.asdict(g) for g in self.inputs],
            "strategy": self.strategy,
            "params": self.params,
            "config": self.config,
            "symbol": self.symbol,
            "axes": [{"name": a.name, "values": list(a.values)} for a in self.axes],
            "subset": None if self.subset is None else [dict(c) for c in self.subset],
            "account": self.account,
            "fingerprint": self.fingerprint,
        }


def load_sweep(path: str | Path) -> Sweep:
    """Read and check the sweep file ``path`` (see the module doc); every problem is an
    :class:`InputError` naming the file, line and field."""
    src = Source.read(path, max_bytes=MAX_SWEEP_BYTES)
    return parse_sweep(src)


def parse_sweep(src: Source) -> Sweep:
    root = src.root()
    root.only(("name", "inputs", "strategy", "config", "axes", "cells"))
    base = src.base_dir or Path(".")
    name = root.text("name", Path(src.name).stem)
    if not _NAME.match(name):
        raise root.error("name", f"{name!r}: letters, digits, '.', '_' and '-' only (it names the output folder)")
    inputs = root.table_of("inputs")
    inputs.only(("files", "formats", "split", "symbol", "scenarios", "account"))
    if inputs.has("files") == inputs.has("scenarios"):
        raise inputs.error("files", "give files (replays) or scenarios, one of the two")
    kind = "replay" if inputs.has("files") else "scenario"
    if kind == "replay":
        groups, split, symbol = _replay_inputs(inputs, base)
        for key in ("account",):
            if inputs.has(key):
                raise inputs.error(key, "is for scenario sweeps (inputs.scenarios)")
        account = None
    else:
        groups, split, symbol = _scenario_inputs(inputs), "file", None
        account_value = inputs.raw("account", None, types=(str, int))
        account = None if account_value is None else str(account_value)
    axes_table = root.table_of("axes", None)
    axes = _axes(axes_table, kind) if axes_table is not None else ()
    if kind == "replay":
        strategy, params = _strategy(root, axes)
        config = _config(root, axes, symbol)
    else:
        for key in ("strategy", "config"):
            if root.has(key):
                raise root.error(key, "a scenario sweep takes no [strategy] or [config]: the scenario file sets them")
        strategy, params, config = None, {}, {}
    subset = _subset(root, axes) if root.has("cells") else None
    count = len(subset) if subset is not None else _product(len(a.values) for a in axes)
    count *= len(groups) if split != "day" else 1
    if count == 0:
        raise root.error("axes", "the grid is empty: no cell to run")
    if count > MAX_CELLS:
        raise root.error("axes", f"{count:,} cells: at most {MAX_CELLS:,} a sweep (split it, or list a subset in cells)")
    if kind == "scenario":
        _check_scenarios(groups, axes, src)
    else:
        _check_replays(groups[0], strategy, params, config, symbol, axes, root)
    fixed = {
        "kind": kind, "split": split, "strategy": strategy, "params": params, "config": config, "symbol": symbol,
        "axes": [[a.name, list(a.values)] for a in axes], "subset": None if subset is None else [dict(c) for c in subset],
        "account": account, "inputs": [_identity(g) for g in groups],
    }
    fingerprint = hashlib.sha256(json.dumps(fixed, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    return Sweep(
        name=name, source=str(Path(src.name).resolve()), kind=kind, split=split, inputs=tuple(groups), strategy=strategy, params=params,
        config=config, symbol=symbol, axes=axes, subset=subset, account=account, fingerprint=fingerprint,
    )


# ---------------------------------------------------------------------- inputs
def _replay_inputs(inputs: Fields, base: Path) -> tuple[list[InputGroup], str, str | None]:
    patterns = inputs.raw("files", types=(list,))
    if not patterns:
        raise inputs.error("files", "is empty: name at least one tick file (or a glob)")
    formats = inputs.raw("formats", None, types=(list,))
    if formats is not None and len(formats) != len(patterns):
        raise inputs.error("formats", f"give one format per entry of files ({len(patterns)}), or none")
    files: list[tuple[str, str | None]] = []
    for i, pattern in enumerate(patterns):
        if not isinstance(pattern, str) or not pattern:
            raise inputs.error("files", f"entry {i + 1} is not a file name or glob (a non-empty string)")
        fmt = formats[i] if formats is not None else None
        if fmt is not None and not isinstance(fmt, str):
            raise inputs.error("formats", f"entry {i + 1} is not a format name (a string)")
        full = pattern if os.path.isabs(pattern) else str(base / pattern)
        if glob.has_magic(pattern):
            matches = sorted(m for m in glob.glob(full) if os.path.isfile(m))
            if not matches:
                raise inputs.error("files", f"{pattern!r} matches no file (relative to {base})")
        elif not os.path.exists(full):
            raise inputs.error("files", f"{pattern!r}: no such file (relative to {base})")
        elif not os.path.isfile(full):
            raise inputs.error("files", f"{pattern!r} is not a regular file")
        else:
            matches = [full]
        files.extend((m, fmt) for m in matches)
    seen: dict[str, str] = {}
    for path, _ in files:
        real = os.path.realpath(path)
        if real in seen:
            raise inputs.error("files", f"{path} is named twice (also as {seen[real]}): each input is replayed once")
        seen[real] = path
    split = inputs.choice("split", SPLITS, "file")
    symbol = inputs.text("symbol", None)
    paths = [os.path.normpath(p) for p, _ in files]
    fmts = [f for _, f in files]
    if split == "merged":
        return [InputGroup("merged", tuple(paths), tuple(fmts))], split, symbol
    names = [os.path.basename(p) for p in paths]
    if len(set(names)) != len(names):  # two folders' files of one name: their paths as given tell them apart
        names = [os.path.relpath(p, base) for p in paths]
    return [InputGroup(n, (p,), (f,)) for n, p, f in zip(names, paths, fmts)], split, symbol


def _scenario_inputs(inputs: Fields) -> list[InputGroup]:
    from exsim.scenario.cli import resolve

    names = inputs.raw("scenarios", types=(list,))
    if not names:
        raise inputs.error("scenarios", "is empty: name at least one scenario file or built-in")
    base = inputs.source.base_dir or Path(".")
    groups = []
    for i, spec in enumerate(names):
        if not isinstance(spec, str) or not spec:
            raise inputs.error("scenarios", f"entry {i + 1} is not a scenario file or built-in name")
        candidate = base / spec
        try:
            path = resolve(str(candidate)) if candidate.is_file() else resolve(spec)
        except InputError as exc:
            raise inputs.error("scenarios", exc.message if not exc.where else f"{exc.where}: {exc.message}") from None
        name = spec if not candidate.is_file() else os.path.basename(spec)
        groups.append(InputGroup(name, scenario=str(path)))
    if len({g.name for g in groups}) != len(groups):
        raise inputs.error("scenarios", "a scenario is named twice")
    return groups


def _check_scenarios(groups: Sequence[InputGroup], axes: Sequence[Axis], src: Source) -> None:
    """Every scenario loads, and runs in every value of the axes (a mode or venue its
    file cannot take is refused now, not in a cell)."""
    from exsim.scenario.runner import ScenarioRun
    from exsim.scenario.spec import load_scenario

    for g in groups:
        assert g.scenario is not None
        scenario = load_scenario(g.scenario)
        for axis in axes:
            for value in axis.values:
                try:
                    ScenarioRun(scenario, **{axis.name: str(value)})
                except InputError as exc:
                    raise src.error(f"axes.{axis.name}", f"{value!r} with scenario {g.name}: {exc}") from None


def _check_replays(group: InputGroup, strategy: str | None, params: dict[str, str], config: dict[str, Any],
                   symbol: str | None, axes: Sequence[Axis], root: Fields) -> None:
    """A replay of the first input is built (its head read, nothing run) with each value of
    every engine axis, the others at their first: a leverage above the symbol's maximum, a
    venue that cannot take the data, is refused now, not in a cell."""
    from exsim.replay import Replay, ReplayConfig
    from exsim.replay.cli import load_strategy

    assert strategy is not None
    first = {a.name: a.values[0] for a in axes}
    trials: list[tuple[str | None, dict[str, Any]]] = [(None, first)]
    for a in axes:
        if not a.name.startswith("param."):
            trials += [(a.name, dict(first, **{a.name: v})) for v in a.values[1:]]
    for axis, values in trials:
        engine = {k: v for k, v in values.items() if not k.startswith("param.")}
        cell_params = dict(params, **{k.partition(".")[2]: str(v) for k, v in values.items() if k.startswith("param.")})
        conf = {k: tuple(v) if isinstance(v, list) else v for k, v in config.items()}
        try:
            replay = Replay(list(group.files), load_strategy(strategy, [f"{k}={v}" for k, v in cell_params.items()]),
                            ReplayConfig(**dict(conf, symbol=symbol, **engine)), formats=list(group.formats))
        except InputError as exc:
            if axis is None:
                raise root.error("inputs" if exc.where else "config", f"{group.name}: {exc}") from None
            raise root.table_of("axes").error(axis, f"{values[axis]!r}: {exc.message}") from None
        replay.close()


def _identity(g: InputGroup) -> dict[str, Any]:
    """An input group as the fingerprint sees it: its files' sizes and modification times
    (a file changed since the sweep's rows were written makes it another sweep)."""
    files = []
    for p in g.files + ((g.scenario,) if g.scenario else ()):
        st = os.stat(p)
        files.append([os.path.realpath(p), st.st_size, st.st_mtime_ns])
    return {"name": g.name, "files": files, "formats": list(g.formats), "window_ns": g.window_ns}


# ---------------------------------------------------------------------- axes
def _axes(table: Fields, kind: str) -> tuple[Axis, ...]:
    allowed = ENGINE_AXES if kind == "replay" else SCENARIO_AXES
    axes: list[Axis] = []
    for key, value in table.items():
        if key == "param":
            if kind != "replay":
                raise table.error(key, "a scenario sweep has no strategy parameters")
            params = table.table_of("param")
            for pkey, _ in params.items():
                axes.append(Axis(f"param.{pkey}", _values(params, pkey)))
            continue
        if key not in allowed:
            raise table.error(key, f"unknown axis; expected one of: {', '.join(allowed)}"
                              + (", or [axes.param] for a strategy parameter" if kind == "replay" else ""))
        axes.append(Axis(key, _values(table, key)))
    return tuple(axes)


def _values(table: Fields, key: str) -> tuple[int | str, ...]:
    raw = table.raw(key)
    if isinstance(raw, dict):
        values = _range(table.table_of(key))
    elif isinstance(raw, list):
        values = []
        for i, v in enumerate(raw):
            values.append(_value(table, key, v, i))
    else:
        values = [_value(table, key, raw, 0)]
    if not values:
        raise table.error(key, "has no values: the grid would be empty")
    if len(values) > MAX_AXIS_VALUES:
        raise table.error(key, f"{len(values):,} values: at most {MAX_AXIS_VALUES:,} an axis")
    if len(set(values)) != len(values):
        twice = next(v for v in values if values.count(v) > 1)
        raise table.error(key, f"{twice!r} is given twice")
    return tuple(values)


def _value(table: Fields, key: str, v: Any, i: int) -> int | str:
    if isinstance(v, bool):
        return "true" if v else "false"  # (a flag parameter, as --param flag=true passes it)
    if isinstance(v, float):
        raise table.error(key, f"value {i + 1}: write {v!r} as a string (\"{v}\") so it stays exact")
    if isinstance(v, (int, str)):
        return v
    raise table.error(key, f"value {i + 1}: expected an integer or a string, got {type(v).__name__}")


def _range(r: Fields) -> list[int | str]:
    r.only(("from", "to", "step"))
    ends = [r.raw(k, types=(int, str)) for k in ("from", "to", "step")]
    if all(isinstance(e, int) for e in ends):
        start, stop, step = ends
        if step <= 0:
            raise r.error("step", f"{step} must be greater than 0")
        if start > stop:
            raise r.error("from", f"{start} is past to = {stop}: the range is empty")
        count = (stop - start) // step + 1
        if count > MAX_AXIS_VALUES:
            raise r.error("step", f"{count:,} values: at most {MAX_AXIS_VALUES:,} an axis")
        return list(range(start, stop + 1, step))
    dec = []
    for k, e in zip(("from", "to", "step"), ends):
        try:
            d = Decimal(str(e))
        except InvalidOperation:
            raise r.error(k, f"{e!r} is not a number") from None
        if not d.is_finite():
            raise r.error(k, f"{e!r} is not a finite number")
        dec.append(d)
    start_d, stop_d, step_d = dec
    if step_d <= 0:
        raise r.error("step", f"{ends[2]!r} must be greater than 0")
    if start_d > stop_d:
        raise r.error("from", f"{ends[0]!r} is past to = {ends[1]!r}: the range is empty")
    count = int((stop_d - start_d) // step_d) + 1
    if count > MAX_AXIS_VALUES:
        raise r.error("step", f"{count:,} values: at most {MAX_AXIS_VALUES:,} an axis")
    places = min(d.as_tuple().exponent for d in dec)  # (exact: the finest of the three)
    unit = Decimal(1).scaleb(int(places))
    return [str((start_d + step_d * k).quantize(unit)) for k in range(count)]


def _product(counts: Any) -> int:
    n = 1
    for c in counts:
        n *= c
    return n


def _subset(root: Fields, axes: Sequence[Axis]) -> tuple[dict[str, int | str], ...]:
    entries = root.raw("cells", types=(list,))
    if not entries:
        raise root.error("cells", "is empty: list the cells to run, or leave cells out for the whole grid")
    by_name = {a.name: a for a in axes}
    out: list[dict[str, int | str]] = []
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        f = Fields(root.source, f"cells[{i}]", entry)
        f.only(tuple(by_name))
        cell: dict[str, int | str] = {}
        for a in axes:
            if not f.has(a.name):
                raise f.error(a.name, "missing: a listed cell gives a value for every axis")
            v = _value(f, a.name, f.raw(a.name), 0)
            if v not in a.values:
                raise f.error(a.name, f"{v!r} is not among the axis's values {list(a.values)[:10]}")
            cell[a.name] = v
        key = json.dumps(cell, sort_keys=True)
        if key in seen:
            raise root.error("cells", f"entry {i + 1} lists a cell already listed")
        seen.add(key)
        out.append(cell)
    return tuple(out)


# ---------------------------------------------------------------------- strategy and config
def _strategy(root: Fields, axes: Sequence[Axis]) -> tuple[str, dict[str, str]]:
    from exsim.replay.cli import load_strategy, strategy_class

    table = root.table_of("strategy", None)
    if table is None:
        raise root.error("strategy", "missing: a replay sweep names its strategy ([strategy] name = \"holder\")")
    table.only(("name", "params"))
    name = table.text("name")
    where, colon, cls_name = name.rpartition(":")
    if colon and where.endswith(".py") and not os.path.isabs(where):  # a strategy file beside the sweep file
        name = f"{os.path.normpath((root.source.base_dir or Path('.')) / where)}:{cls_name}"
    params_table = table.table_of("params", None)
    params: dict[str, str] = {}
    if params_table is not None:
        for key, v in params_table.items():
            params[key] = str(_value(params_table, key, v, 0))
    try:
        cls = strategy_class(name)
    except InputError as exc:
        raise table.error("name", exc.message) from None
    takes = _parameters(cls)
    axis_params = [a.name.partition(".")[2] for a in axes if a.name.startswith("param.")]
    for key in list(params) + axis_params:
        if takes is not None and key not in takes:
            f = table.table_of("params") if key in params else root.table_of("axes").table_of("param")
            raise f.error(key, f"{name} takes no parameter {key!r}; it takes: {', '.join(sorted(takes)) or 'none'}")
        if key in params and key in axis_params:
            raise table.table_of("params").error(key, "is also an axis ([axes.param]): give it in one place")
    # the fixed parameters make a strategy (the axes at their first values), then every
    # value of every parameter axis does (the others at their first value)
    firsts = {a.name.partition(".")[2]: str(a.values[0]) for a in axes if a.name.startswith("param.")}
    try:
        load_strategy(name, [f"{k}={x}" for k, x in dict(params, **firsts).items()])
    except InputError as exc:
        if params or not firsts:
            raise table.error("params", exc.message) from None
        raise root.table_of("axes").error("param", exc.message) from None
    for a in axes:
        if not a.name.startswith("param."):
            continue
        key = a.name.partition(".")[2]
        for v in a.values:
            trial = dict(params)
            for b in axes:
                if b.name.startswith("param.") and b is not a:
                    trial[b.name.partition(".")[2]] = str(b.values[0])
            trial[key] = str(v)
            try:
                load_strategy(name, [f"{k}={x}" for k, x in trial.items()])
            except InputError as exc:
                raise root.table_of("axes").table_of("param").error(key, f"{v!r}: {exc.message}") from None
    return name, params


def _parameters(cls: type) -> set[str] | None:
    """The keyword parameters ``cls(...)`` takes (None: any, it has ``**kwargs``)."""
    sig = inspect.signature(cls.__init__)
    names = set()
    for p in list(sig.parameters.values())[1:]:
        if p.kind is p.VAR_KEYWORD:
            return None
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
            names.add(p.name)
    return names


def _config(root: Fields, axes: Sequence[Axis], symbol: str | None) -> dict[str, Any]:
    from exsim.replay import ReplayConfig

    table = root.table_of("config", None)
    known = tuple(f.name for f in attrs.fields(ReplayConfig) if f.name not in _NOT_IN_CONFIG)
    config: dict[str, Any] = {}
    if table is not None:
        table.only(known)
        for key, v in table.items():
            if isinstance(v, float):
                raise table.error(key, f"write {v!r} as a string (\"{v}\") so it stays exact")
            if isinstance(v, list):
                v = tuple(v)
            config[key] = v
        for a in axes:
            if a.name in config:
                raise table.error(a.name, "is also an axis: give it in one place")
    # every value of every engine axis makes a config (the others at their first value)
    base = dict(config, symbol=symbol)
    _try_config(ReplayConfig, base, table or root, None)
    for a in axes:
        if a.name.startswith("param."):
            continue
        for v in a.values:
            _try_config(ReplayConfig, dict(base, **{a.name: v}), root.table_of("axes"), a.name)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in config.items()}


def _try_config(cls: Any, kwargs: dict[str, Any], where: Fields, axis: str | None) -> None:
    try:
        cls(**kwargs)
    except (InputError, TypeError, ValueError) as exc:
        text = exc.message if isinstance(exc, InputError) else str(exc)
        if axis is not None:
            raise where.error(axis, f"{kwargs[axis]!r}: {text}") from None
        bad = next((k for k in kwargs if k in text), None)
        raise where.error(bad or "config", text) from None


def replay_config(sweep: Sweep, values: dict[str, int | str]) -> Any:
    """The ReplayConfig of a cell: the sweep's fixed [config], its symbol, and the cell's
    engine-axis values."""
    from exsim.replay import ReplayConfig

    kwargs = dict(sweep.config, symbol=sweep.symbol)
    kwargs.update({k: v for k, v in values.items() if not k.startswith("param.")})
    return ReplayConfig(**kwargs)


def strategy_params(sweep: Sweep, values: dict[str, int | str]) -> list[str]:
    """A cell's strategy parameters as ``key=value`` texts (``--param``'s form)."""
    params = dict(sweep.params)
    params.update({k.partition(".")[2]: str(v) for k, v in values.items() if k.startswith("param.")})
    return [f"{k}={v}" for k, v in params.items()]
