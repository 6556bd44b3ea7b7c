"""``exsim sweep report DIR`` and ``exsim sweep rerun DIR CELL``: what a sweep found.

The report reads the sweep's table (``DIR/results.parquet`` or ``results.csv``, one row
per cell; see :mod:`exsim.sweep.cells` for the columns) and prints:

* how many cells ran, how many failed, and the first errors;
* per margin mode (the ``margin_mode`` axis; one group "all cells" without it): the
  liquidation rate (the share of the cells that ran with at least one liquidation of the
  strategy's account), the median and mean PnL, and the worst minimum headroom (the
  lowest ``1 - maintenance / margin balance`` any cell reached; <= 0 is liquidation);
* the best cells by ``--metric`` (any numeric column, default ``pnl``; best is highest,
  except for costs — drawdowns, fees, liquidations, ADL, seconds — where it is lowest),
  with their axis values and cell ids, ready for ``exsim sweep rerun``;

and draws into ``DIR/report/`` the two plots a researcher draws first: the liquidation
rate and the mean PnL over two axes (``--x``, ``--y``; default the first two axes with
more than one value besides ``margin_mode``, then the input groups when they are
several: see :func:`plot_axes`), each square the mean over every other axis
and input, one panel per margin mode side by side, on one colour scale (the PnL's
diverging and centred at 0). With one such axis the plots are lines, one per margin mode.

Arithmetic is exact: the table's decimal strings are read with :class:`~decimal.Decimal`,
summed exactly, divided (means, rates) to 34 digits and shown rounded half-even to the
places printed; floats appear only where matplotlib draws.

``rerun`` runs one cell again, alone, into a full run directory (``DIR/cells/CELL/`` by
default: summary, time series, events and the plots of ``exsim report``) and checks that
its state hash is the row's — a sweep's row can always be opened and looked at in detail.
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Iterable, Sequence
import functools
from decimal import Context, Decimal, Inexact, InvalidOperation
from pathlib import Path
from typing import Any

import attrs

from exsim.errors import InputError

#: the folder of the report's plots, inside the sweep's output folder
REPORT_DIR = "report"
#: the folder of the cells run again by ``rerun``, inside the sweep's output folder
CELLS_DIR = "cells"
#: where the report's plots go, by kind
PLOT_NAMES = {"liquidation_rate": "liquidation_rate.png", "pnl": "pnl.png"}
#: numeric columns where less is better (the best cells sort ascending on them)
LOWER_IS_BETTER = frozenset(
    {"max_drawdown", "max_drawdown_fraction", "fees", "clearance_fees", "liquidations", "adl", "wall_s", "cpu_s"}
)
#: columns that are never a metric (identifiers, words, the axes are excluded separately)
NOT_METRICS = frozenset({"cell", "input", "status", "error", "liquidation_kinds", "state_hash"})
#: the decimal context of quotients (means, medians of an even count, rates): 34 digits
_CTX = Context(prec=34)
#: the context of sums: exact — a sum that would need more digits raises (Inexact
#: trapped) instead of rounding; 200 digits hold any sum of a million table figures
_EXACT = Context(prec=200, traps=[Inexact, InvalidOperation])
#: a heatmap panel writes its cells' values in them up to this many columns / rows
ANNOTATE_MAX = 16
#: console.print options of a line of plain text (paths and errors: no markup, no wrapping)
_PLAIN: dict[str, Any] = {"markup": False, "highlight": False, "soft_wrap": True}
#: the colour of a heatmap square with no cell that ran (its text says "failed" or "—")
_NO_RUN = "#c8c8c8"
#: the base font size of the plots, in points (at the saved 100 dpi, 14 pt is 19 px: it
#: stays readable at 14 px when a projector scales the image down by a quarter)
FONT_PT = 14


# ------------------------------------------------------------------------------ table
@attrs.frozen
class Table:
    """A sweep's rows as text (every value the table's own string; "" for none).

    ``axes``: the axis columns in the order the sweep file wrote them; ``axis_values``:
    each axis's values in that order (as text); ``where``: the file read.
    """

    path: Path
    where: str
    columns: tuple[str, ...]
    axes: tuple[str, ...]
    axis_values: dict[str, tuple[str, ...]]
    rows: tuple[dict[str, str], ...]
    sweep: dict[str, Any] | None  # OUT/sweep.json (None: not there)

    @property
    def ok_rows(self) -> list[dict[str, str]]:
        return [r for r in self.rows if r.get("status") == "ok"]


def _text(v: Any) -> str:
    """A table value as text: "" for none, the integer's digits, a float's shortest repr."""
    if v is None or (type(v) is float and math.isnan(v)):
        return ""
    return str(v)


def _raw_rows(out: Path) -> tuple[str, list[dict[str, Any]]]:
    """The sweep's rows and where they were read: its table (results.parquet or
    results.csv, in grid order), else the journal of a sweep still running or stopped
    (rows.jsonl, in the order the cells ended; a torn last line left out)."""
    from exsim.sweep.table import CSV_FILE, PARQUET_FILE, ROWS_FILE, read_results, read_rows

    try:
        rows = read_results(out)
    except FileNotFoundError:
        rows = read_rows(out)
        if not (out / ROWS_FILE).is_file():
            raise InputError(
                f"no sweep results here (expected {PARQUET_FILE}, {CSV_FILE} or {ROWS_FILE}): "
                "give the --out folder of an `exsim sweep SWEEP.toml` run",
                where=str(out),
            ) from None
        return f"{out / ROWS_FILE} (the sweep has not finished)", rows
    return str(out / (PARQUET_FILE if (out / PARQUET_FILE).is_file() else CSV_FILE)), rows


def load_table(out_dir: str | Path) -> Table:
    """Read the sweep in ``out_dir``: its rows (as text) and its axes. Raises
    :class:`InputError` naming the folder when it holds no results."""
    out = Path(out_dir)
    if not out.is_dir():
        raise InputError("no such folder: give the --out folder of an `exsim sweep SWEEP.toml` run", where=str(out))
    where, raw = _raw_rows(out)
    if not raw:
        raise InputError("the sweep's table has no rows yet: no cell has finished", where=where)
    rows = tuple({k: _text(v) for k, v in r.items()} for r in raw)
    columns = tuple(raw[0].keys())
    saved = _saved_sweep(out)
    if saved is not None:
        axes = tuple(a["name"] for a in saved["axes"])
        written = {a["name"]: tuple(_text(v) for v in a["values"]) for a in saved["axes"]}
    else:  # the columns between the keys and the outcome: cell, input, <axes>, status, ...
        start = columns.index("input") + 1 if "input" in columns else 0
        end = columns.index("status") if "status" in columns else len(columns)
        axes, written = columns[start:end], {}
    values = {}
    for name in axes:
        seen = list(dict.fromkeys(r.get(name, "") for r in rows))
        order = [v for v in written.get(name, ()) if v in seen]
        values[name] = tuple(order + [v for v in seen if v not in order])
    return Table(out, where, columns, axes, values, rows, saved)


def _saved_sweep(out: Path) -> dict[str, Any] | None:
    path = out / "sweep.json"
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"not the JSON a sweep writes ({exc})", where=str(path)) from None
    axes = doc.get("axes") if isinstance(doc, dict) else None
    if not isinstance(axes, list) or not all(
        isinstance(a, dict) and isinstance(a.get("name"), str) and isinstance(a.get("values"), list) for a in axes
    ):
        raise InputError("not the sweep.json exsim writes (an object with the sweep's axes)", where=str(path), field="axes")
    return doc


# ------------------------------------------------------------------------------ figures
def _decimal(text: str) -> Decimal | None:
    """The exact value of a table string ("" -> None)."""
    if text == "":
        return None
    try:
        d = Decimal(text)
    except InvalidOperation:
        return None
    return d if d.is_finite() else None


def mean(values: Sequence[Decimal]) -> Decimal | None:
    """The mean of exact decimals (a 34-digit quotient); None for none.

    >>> mean([Decimal("1"), Decimal("2")])
    Decimal('1.5')
    """
    if not values:
        return None
    return _CTX.divide(functools.reduce(_EXACT.add, values, Decimal(0)), Decimal(len(values)))


def median(values: Sequence[Decimal]) -> Decimal | None:
    """The median (the mean of the two middle values of an even count); None for none.

    >>> median([Decimal("3"), Decimal("-1"), Decimal("2"), Decimal("10")])
    Decimal('2.5')
    """
    if not values:
        return None
    s = sorted(values)
    mid = len(s) // 2
    return s[mid] if len(s) % 2 else _CTX.divide(_EXACT.add(s[mid - 1], s[mid]), Decimal(2))


def liquidated(row: dict[str, str]) -> bool:
    """Whether the cell's account was liquidated at least once."""
    return int(row.get("liquidations") or 0) >= 1


@attrs.frozen
class Group:
    """The figures of one margin mode's cells that ran (``ok`` of them; ``failed`` did not)."""

    label: str
    ok: int
    failed: int
    liquidated: int
    pnl_median: Decimal | None
    pnl_mean: Decimal | None
    worst_headroom: Decimal | None
    worst_headroom_cell: str

    @property
    def liquidation_rate(self) -> Decimal | None:
        """``liquidated / ok`` (None when no cell ran)."""
        return _CTX.divide(Decimal(self.liquidated), Decimal(self.ok)) if self.ok else None


def _all_cells(table: Table) -> str:
    """The name of the one group of a sweep without a margin_mode axis: its fixed mode when
    its [config] sets one."""
    fixed = ((table.sweep or {}).get("config") or {}).get("margin_mode")
    return f"all cells ({fixed})" if isinstance(fixed, str) else "all cells"


def groups(table: Table) -> list[Group]:
    """One :class:`Group` per margin mode of the ``margin_mode`` axis (in its order), or
    one for all cells when the sweep has no such axis."""
    if "margin_mode" in table.axes:
        parts = [(m, [r for r in table.rows if r.get("margin_mode") == m]) for m in table.axis_values["margin_mode"]]
    else:
        parts = [(_all_cells(table), list(table.rows))]
    out = []
    for label, rows in parts:
        ok = [r for r in rows if r.get("status") == "ok"]
        pnls = [d for d in (_decimal(r.get("pnl", "")) for r in ok) if d is not None]
        heads = [(d, r["cell"]) for r in ok if (d := _decimal(r.get("min_headroom", ""))) is not None]
        worst = min(heads, key=lambda t: t[0]) if heads else (None, "")
        out.append(
            Group(label, len(ok), len(rows) - len(ok), sum(1 for r in ok if liquidated(r)), median(pnls), mean(pnls), worst[0], worst[1])
        )
    return out


def numeric_columns(table: Table) -> list[str]:
    """The columns that can rank cells: every value of the cells that ran is a number ("" allowed)."""
    ok = table.ok_rows
    names = []
    for c in table.columns:
        if c in NOT_METRICS or c in table.axes:
            continue
        values = [r.get(c, "") for r in ok]
        if any(v != "" for v in values) and all(v == "" or _decimal(v) is not None for v in values):
            names.append(c)
    return names


def best_cells(table: Table, metric: str, top: int) -> list[dict[str, str]]:
    """The ``top`` cells that ran, best first by ``metric`` (highest, or lowest for the
    costs in :data:`LOWER_IS_BETTER`); cells without a value are left out; ties keep the
    table's order. Raises :class:`InputError` for a column that is not a metric."""
    choices = numeric_columns(table)
    if metric not in choices:
        raise InputError(f"unknown metric {metric!r}; choose one of: {', '.join(choices)}", field="--metric")
    if top < 1:
        raise InputError(f"{top} is not a positive number of cells", field="--top")
    scored = [(d, r) for r in table.ok_rows if (d := _decimal(r.get(metric, ""))) is not None]
    scored.sort(key=lambda t: t[0], reverse=metric not in LOWER_IS_BETTER)  # (stable: ties in table order)
    return [r for _, r in scored[:top]]


def plot_axes(table: Table, x: str | None, y: str | None) -> tuple[str | None, str | None]:
    """The axes of the plots: the ones asked for, else the first axes (in the sweep's
    order) with more than one value besides ``margin_mode``, then ``input`` (the input
    groups: files, days, scenarios) when they are several. ``(x, None)``: a line plot;
    ``(None, None)``: nothing to plot. Raises :class:`InputError` for an unknown or
    repeated axis."""
    choices = [*table.axes, "input"]
    for given, flag in ((x, "--x"), (y, "--y")):
        if given is not None and given not in choices:
            raise InputError(f"unknown axis {given!r}; choose one of: {', '.join(choices)}", field=flag)
    if x is not None and x == y:
        raise InputError(f"--x and --y are both {x!r}: give two different axes", field="--y")
    varied = [a for a in (*table.axes, "input") if a != "margin_mode" and len(_values_of(table, a)) > 1 and a not in (x, y)]
    if x is None:
        x = varied.pop(0) if varied else None
    if y is None and x is not None:
        y = varied.pop(0) if varied else None
    if x is None and y is not None:
        x, y = y, None
    return x, y


def _values_of(table: Table, axis: str) -> tuple[str, ...]:
    if axis == "input":
        return tuple(dict.fromkeys(r.get("input", "") for r in table.rows))
    return table.axis_values[axis]


def _panels(table: Table, x: str, y: str | None) -> list[str | None]:
    """One panel per margin mode (None: one panel of every cell)."""
    if "margin_mode" in table.axes and "margin_mode" not in (x, y):
        return list(table.axis_values["margin_mode"])
    return [None]


def cell_means(
    table: Table, x: str, y: str | None, panel: str | None
) -> dict[tuple[str, str], tuple[Decimal | None, Decimal | None, int]]:
    """For each (x value, y value) of a panel (y "" for a line plot): the liquidation rate
    and the mean PnL of its cells that ran, over every other axis and input, and their count."""
    buckets: dict[tuple[str, str], list[dict[str, str]]] = {}
    for r in table.ok_rows:
        if panel is not None and r.get("margin_mode") != panel:
            continue
        buckets.setdefault((r.get(x, ""), r.get(y, "") if y is not None else ""), []).append(r)
    out = {}
    for key, rows in buckets.items():
        pnls = [d for d in (_decimal(r.get("pnl", "")) for r in rows) if d is not None]
        rate = _CTX.divide(Decimal(sum(1 for r in rows if liquidated(r))), Decimal(len(rows)))
        out[key] = (rate, mean(pnls), len(rows))
    return out


def _fmt(value: Decimal, kind: str) -> str:
    """A plotted value as text: a rate in whole percent, a PnL to 0 or 1 decimal places."""
    if kind == "liquidation_rate":
        return f"{(value * 100).quantize(Decimal(1), context=_CTX)}%"
    places = Decimal(1) if abs(value) >= 100 else Decimal("0.1")
    return str(value.quantize(places, context=_CTX))


def _style() -> dict[str, Any]:
    return {
        "font.size": FONT_PT,
        "axes.titlesize": FONT_PT + 2,
        "axes.labelsize": FONT_PT,
        "xtick.labelsize": FONT_PT,
        "ytick.labelsize": FONT_PT,
        "legend.fontsize": FONT_PT,
        "figure.titlesize": FONT_PT + 4,
    }


def _others(table: Table, x: str, y: str | None) -> str:
    others = [a for a in table.axes if a not in (x, y, "margin_mode") and len(table.axis_values[a]) > 1]
    inputs = len(_values_of(table, "input"))
    if x != "input" and y != "input" and inputs > 1:
        others.append(f"{inputs} inputs")
    return ", ".join(others)


def _title(kind: str, table: Table, x: str, y: str | None) -> str:
    name = (table.sweep or {}).get("name", table.path.name)
    others = _others(table, x, y)
    if kind == "liquidation_rate":
        what = "liquidation rate (share of cells with ≥ 1 liquidation)"
    else:
        what = "mean PnL" if others else "PnL"
    return f"{name}: {what}" + (f"\nmean over {others}" if others else "")


def heatmap_figure(table: Table, kind: str, x: str, y: str) -> Any:
    """The heatmap of ``kind`` ("liquidation_rate" or "pnl") over ``x`` (columns) and
    ``y`` (rows, first value at the bottom): one panel per margin mode, one colour scale."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import Normalize

    xs, ys, panels = _values_of(table, x), _values_of(table, y), _panels(table, x, y)
    grids, ran = [], []
    for p in panels:
        ran.append({(r.get(x, ""), r.get(y, "")) for r in table.rows if p is None or r.get("margin_mode") == p})
        means = cell_means(table, x, y, p)
        pick = 0 if kind == "liquidation_rate" else 1
        grids.append([[means.get((xv, yv), (None, None, 0))[pick] for xv in xs] for yv in ys])
    found = [v for g in grids for row in g for v in row if v is not None]
    if kind == "liquidation_rate":
        cmap, norm = plt.get_cmap("Reds").with_extremes(bad=_NO_RUN), Normalize(0.0, 1.0)
    else:  # diverging, centred at 0: losses red, gains blue, the same scale on each side
        reach = float(max((abs(v) for v in found), default=Decimal(1))) or 1.0
        cmap, norm = plt.get_cmap("RdBu").with_extremes(bad=_NO_RUN), Normalize(-reach, reach)
    width = max(5.5, 0.9 * len(xs) + 3.0)
    height = max(4.5, 0.55 * len(ys) + 3.0)
    fig, axs = plt.subplots(1, len(panels), figsize=(width * len(panels) + 1.5, height), squeeze=False, constrained_layout=True)
    annotate = len(xs) <= ANNOTATE_MAX and len(ys) <= ANNOTATE_MAX
    image = None
    for ax, panel, g, tried in zip(axs[0], panels, grids, ran):
        data = [[math.nan if v is None else float(v) for v in row] for row in g]
        image = ax.imshow(data, cmap=cmap, norm=norm, origin="lower", aspect="auto", interpolation="nearest")
        ax.set_xticks(range(len(xs)), xs, rotation=45 if max(map(len, xs)) > 4 else 0)
        ax.set_yticks(range(len(ys)), ys)
        ax.set_xlabel(x)
        ax.set_ylabel(y)
        ax.set_title(panel if panel is not None else _all_cells(table))
        if annotate:
            for i, row in enumerate(g):
                for j, v in enumerate(row):
                    if v is None:  # every cell of it failed, or none was in the grid (a subset)
                        word = "failed" if (xs[j], ys[i]) in tried else "—"
                        ax.text(j, i, word, ha="center", va="center", color="black", fontsize=FONT_PT - 1, style="italic")
                        continue
                    r, gr, b, _ = cmap(norm(float(v)))
                    ink = "white" if 0.299 * r + 0.587 * gr + 0.114 * b < 0.5 else "black"
                    ax.text(j, i, _fmt(v, kind), ha="center", va="center", color=ink, fontsize=FONT_PT - 1)
    bar = fig.colorbar(image, ax=list(axs[0]), shrink=0.9)
    bar.set_label("liquidation rate (0 – 1)" if kind == "liquidation_rate" else ("mean PnL" if _others(table, x, y) else "PnL"))
    fig.suptitle(_title(kind, table, x, y))
    return fig


def line_figure(table: Table, kind: str, x: str) -> Any:
    """``kind`` over one axis ``x``: a line per margin mode, each point's value written."""
    import matplotlib.pyplot as plt

    xs, panels = _values_of(table, x), _panels(table, x, None)
    fig, ax = plt.subplots(figsize=(max(8.0, 0.9 * len(xs) + 4.0), 5.5), constrained_layout=True)
    pick = 0 if kind == "liquidation_rate" else 1
    for k, p in enumerate(panels):
        means = cell_means(table, x, None, p)
        points = [(i, means[(xv, "")][pick]) for i, xv in enumerate(xs) if (xv, "") in means]
        points = [(i, v) for i, v in points if v is not None]
        if not points:
            continue
        line = ax.plot([i for i, _ in points], [float(v) for _, v in points], marker="o", lw=2, label=p or _all_cells(table))[0]
        if len(xs) <= ANNOTATE_MAX:
            for i, v in points:
                # (the first line's values above its points, the next one's below: equal values stay readable)
                ax.annotate(_fmt(v, kind), (i, float(v)), textcoords="offset points", xytext=(0, 9 if k % 2 == 0 else -20),
                            ha="center", color=line.get_color(), fontsize=FONT_PT - 2)
    if kind == "pnl":
        ax.axhline(0, color="grey", lw=1)
    else:
        ax.set_ylim(-0.15, 1.2)
    ax.set_xticks(range(len(xs)), xs)
    ax.set_xlim(-0.5, len(xs) - 0.5)
    ax.margins(y=0.12)
    ax.set_xlabel(x)
    ax.set_ylabel("liquidation rate" if kind == "liquidation_rate" else ("mean PnL" if _others(table, x, None) else "PnL"))
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))  # (outside: never over a point)
    ax.set_title(_title(kind, table, x, None))
    return fig


def write_plots(table: Table, x: str | None, y: str | None) -> list[Path]:
    """Draw the liquidation-rate and PnL plots into ``DIR/report/`` (written whole: a
    temporary name renamed over the final one); returns their paths ([] with no axis)."""
    if x is None:
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from exsim.replay.rundir import atomic_write

    folder = table.path / REPORT_DIR
    folder.mkdir(exist_ok=True)
    paths = []
    with plt.rc_context(_style()):
        for kind, name in PLOT_NAMES.items():
            fig = heatmap_figure(table, kind, x, y) if y is not None else line_figure(table, kind, x)
            try:
                with atomic_write(folder / name, "wb") as f:
                    fig.savefig(f, dpi=100, format="png")
            finally:
                plt.close(fig)
            paths.append(folder / name)
    return paths


# ------------------------------------------------------------------------------ commands
def _money(d: Decimal | None, places: str = "0.01") -> str:
    return "" if d is None else str(d.quantize(Decimal(places), context=_CTX))


def _pct(d: Decimal | None) -> str:
    return "" if d is None else f"{(d * 100).quantize(Decimal('0.1'), context=_CTX)} %"


def _print_table(console: Any, title: str, heads: Sequence[str], lines: Sequence[Sequence[str]], *, left: Sequence[str]) -> None:
    """A rich table whose values and column names are never cut (cell ids and names are
    copied from it): each column at least as wide as its widest value and header word,
    the table drawn wider than the console if need be."""
    from rich.table import Table as RichTable

    t = RichTable(title=title, title_justify="left")
    columns = list(zip(*lines)) if lines else [()] * len(heads)
    widths = [max([len(v) for v in col] + [len(w) for w in h.split()]) for h, col in zip(heads, columns)]
    for head, width in zip(heads, widths):
        t.add_column(head, justify="left" if head in left else "right", min_width=width, overflow="fold")
    for line in lines:
        t.add_row(*line)
    console.print(t, width=max(console.width, sum(widths) + 3 * len(widths) + 1), crop=False)


def report(out_dir: Path, *, x: str | None, y: str | None, metric: str, top: int, console: Any) -> int:
    """``exsim sweep report DIR``: print the summary and best cells, draw the plots.
    Bad input (no results, an unknown axis or metric) raises :class:`InputError` before
    anything is printed."""
    table = load_table(out_dir)
    best = best_cells(table, metric, top)
    px, py = plot_axes(table, x, y)
    name = (table.sweep or {}).get("name", Path(out_dir).name)
    failed = [r for r in table.rows if r.get("status") != "ok"]
    console.print(
        f"[bold]sweep {name}[/bold]: {len(table.rows):,} cells in {table.where}: "
        f"{len(table.rows) - len(failed):,} ok, {len(failed):,} failed"
    )
    for r in failed[:3]:
        console.print(f"  failed {r.get('cell', '')}: {r.get('error', '')}", **_PLAIN)
    if len(failed) > 3:
        console.print(f"  ... and {len(failed) - 3:,} more (status = error in the table)")
    heads = ("margin mode", "cells", "liquidated", "liquidation rate", "median PnL", "mean PnL", "worst min headroom", "its cell")
    lines = [
        (g.label, f"{g.ok:,}", f"{g.liquidated:,}", _pct(g.liquidation_rate), _money(g.pnl_median), _money(g.pnl_mean),
         _money(g.worst_headroom, "0.0001"), g.worst_headroom_cell)
        for g in groups(table)
    ]
    _print_table(console, "by margin mode (cells that ran)", heads, lines, left=("margin mode", "its cell"))
    order = "lowest" if metric in LOWER_IS_BETTER else "highest"
    shown_axes = [a for a in table.axes if len(table.axis_values[a]) > 1] or list(table.axes)
    inputs = len(_values_of(table, "input")) > 1
    columns = ["cell", *(["input"] if inputs else []), *shown_axes, metric, *(c for c in ("pnl", "liquidations", "min_headroom") if c != metric)]
    _print_table(console, f"best {len(best)} cells by {metric} ({order} first)", columns,
                 [tuple(r.get(c, "") for c in columns) for r in best], left=("cell", "input"))
    paths = write_plots(table, px, py)
    if paths:
        over = f"{px} × {py}" if py is not None else f"{px} (one axis: lines)"
        console.print(f"plots over {over}: " + ", ".join(str(p) for p in paths), **_PLAIN)
    else:
        console.print("no plots: no axis besides margin_mode has more than one value, and there is one input")
    console.print(f"rerun a cell with its full run directory: exsim sweep rerun {out_dir} CELL", **_PLAIN)
    return 0


def nearest_ids(cell_id: str, ids: Iterable[str], n: int = 3) -> list[str]:
    """The ``n`` ids closest to ``cell_id``: those it begins, then the most alike by
    difflib's ratio (a typo's id scores highest). O(len(ids)).

    >>> nearest_ids("ab12", ["ab12cd", "ffffff", "ab1299"], n=2)
    ['ab12cd', 'ab1299']
    >>> nearest_ids("0e9007adf24e", ["5fc900b5a75e", "0e9007adf24f", "f6a07cc6a229"], n=1)
    ['0e9007adf24f']
    """
    ids = list(ids)
    starts = [i for i in ids if i.startswith(cell_id)] if cell_id else []
    close = difflib.get_close_matches(cell_id, ids, n=n, cutoff=0.0)
    return list(dict.fromkeys(starts + close))[:n]


def find_row(table: Table, cell_id: str) -> dict[str, str]:
    """The row of ``cell_id``; an :class:`InputError` with the nearest ids when none."""
    for r in table.rows:
        if r.get("cell") == cell_id:
            return r
    near = nearest_ids(cell_id, (r.get("cell", "") for r in table.rows))
    raise InputError(f"no cell {cell_id!r} in the sweep; nearest: {', '.join(near)}", where=table.where, field="CELL")


def _load_sweep_again(table: Table) -> Any:
    """The sweep as it ran: loaded again from its file (named in OUT/sweep.json)."""
    from exsim.sweep.spec import load_sweep

    saved = table.sweep
    where = str(table.path / "sweep.json")
    if saved is None or not isinstance(saved.get("source"), str):
        raise InputError("missing or without the sweep file's path: cannot run a cell again", where=where)
    source = saved["source"]
    if not Path(source).is_file():
        raise InputError(f"the sweep file {source!r} named here is gone: cannot run a cell again", where=where)
    return load_sweep(source)


def rerun(out_dir: Path, cell_id: str, *, run_dir: Path | None, console: Any) -> int:
    """``exsim sweep rerun DIR CELL``: run the cell alone into a full run directory
    (``run_dir``, default ``DIR/cells/CELL``), draw its plots, and compare its state hash
    with the row's. Returns 0 when they are equal, 1 (with an error line) when not."""
    from exsim.replay.report import write_report
    from exsim.sweep.cells import grid
    from exsim.sweep.run import run_cell

    out = Path(out_dir)
    table = load_table(out)
    row = find_row(table, cell_id)
    sweep = _load_sweep_again(table)
    saved_print = (table.sweep or {}).get("fingerprint")
    if saved_print is not None and saved_print != sweep.fingerprint:
        console.print(
            "note: the sweep file or its inputs changed since the sweep ran (its fingerprint differs); "
            "the state hash below says whether this cell's run did",
            **_PLAIN,
        )
    group_list, sources = _groups(sweep, out)
    cell = next((c for c in grid(sweep, group_list) if c.id == cell_id), None)
    if cell is None:
        raise InputError(
            f"cell {cell_id!r} is in the table but not in the sweep file as it is now: was the file changed?",
            where=sweep.source, field="CELL",
        )
    group = next(g for g in group_list if g.name == cell.input)
    target = Path(run_dir) if run_dir is not None else out / CELLS_DIR / cell_id
    target.parent.mkdir(parents=True, exist_ok=True)
    console.print(f"cell {cell_id}: {cell.input}, " + ", ".join(f"{k} = {v}" for k, v in cell.values.items()), **_PLAIN)
    again = run_cell(sweep, cell, group, source=sources.get(group.name), out_dir=target)
    if again.get("status") != "ok":
        raise InputError(f"the cell failed when run again: {again.get('error', '')}", where=str(target), field="CELL")
    if sweep.kind == "replay":
        write_report(target)
    summary = target / "summary.json"
    got = json.loads(summary.read_text(encoding="utf-8")).get("state_hash") if summary.is_file() else again.get("state_hash")
    want = row.get("state_hash", "")
    console.print(f"run directory: {target} (a page of it: exsim report {target} --html {target / 'run.html'})", **_PLAIN)
    if got != want:
        console.print(f"exsim: error: cell {cell_id}: state hash {got} differs from the row's {want}", **_PLAIN)
        return 1
    console.print(f"state hash {got}: the same as the sweep's row", **_PLAIN)
    return 0


def _groups(sweep: Any, out: Path) -> tuple[list[Any], dict[str, Any]]:
    """The sweep's input groups as the sweep ran them (days split out) and their sources:
    from the sweep's cache when it has one (``--no-cache`` sweeps: the files)."""
    try:
        from exsim.sweep.cache import prepare
    except ImportError:  # (no cache stage: the groups as written, read from the files)
        return list(sweep.inputs), {}
    prepared = prepare(sweep, out, use_cache=(out / "cache").is_dir())
    return list(prepared.groups), dict(prepared.sources)


__all__ = [
    "CELLS_DIR",
    "REPORT_DIR",
    "Group",
    "Table",
    "best_cells",
    "cell_means",
    "find_row",
    "groups",
    "load_table",
    "mean",
    "median",
    "nearest_ids",
    "numeric_columns",
    "plot_axes",
    "report",
    "rerun",
    "write_plots",
]
