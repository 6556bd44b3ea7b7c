"""One cell of a sweep, run: a replay (or a scenario) built from the sweep and the cell's
values, its summary turned into a row (:data:`exsim.sweep.cells.ROW_FIELDS`).

:func:`run_cell` is a pure function of the sweep, the cell and its input: the same
arguments give the same row, in any process on any machine, but for the timing columns.
A cell's own failure (a strategy that raises, a setting the data cannot serve) is its
row's ``error``, not an exception: the sweep goes on.
"""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from exsim.errors import InputError
from exsim.units import format_atoms, to_atoms
from exsim.sweep.cells import Cell, empty_outcome
from exsim.sweep.spec import InputGroup, Sweep, replay_config, strategy_params

#: the longest error text a row keeps (one line)
MAX_ERROR_CHARS = 500


def run_cell(sweep: Sweep, cell: Cell, group: InputGroup, *, source: Any = None, out_dir: Path | None = None) -> dict[str, Any]:
    """The row of ``cell``: its key, its axis values and its outcome.

    ``source``: what exsim.sweep.cache handed this worker for the cell's input group
    (None: the group's files are read as they are). ``out_dir``: write the run's full
    directory there (``exsim sweep rerun``; a sweep's cells write nothing).
    """
    if group.name != cell.input:
        raise ValueError(f"cell {cell.id} is of input {cell.input!r}, not {group.name!r}")
    row: dict[str, Any] = {"cell": cell.id, "input": cell.input, **cell.values, **empty_outcome()}
    wall0, cpu0 = time.perf_counter(), time.process_time()
    try:
        if sweep.kind == "replay":
            row.update(replay_outcome(_run_replay(sweep, cell, group, source, out_dir)))
        else:
            row.update(scenario_outcome(_run_scenario(sweep, cell, group, out_dir), sweep.account))
        row["status"] = "ok"
    except Exception as exc:  # the cell's failure is its row's; the sweep goes on
        row.update(empty_outcome())
        row["status"] = "error"
        row["error"] = error_line(exc)
    row["wall_s"] = round(time.perf_counter() - wall0, 3)
    row["cpu_s"] = round(time.process_time() - cpu0, 3)
    return row


def error_line(exc: BaseException) -> str:
    """One line for a row: an input error's own text, else the exception's type and text."""
    text = str(exc) if isinstance(exc, InputError) else f"{type(exc).__name__}: {exc}"
    text = " ".join(text.split())
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 3] + "..."


# ---------------------------------------------------------------------- replays
_STRATEGY_CLASSES: dict[str, type] = {}  # this process's strategies, looked up (imported) once each


def make_strategy(sweep: Sweep, values: dict[str, int | str]) -> Any:
    """The cell's strategy object (its class imported once a process)."""
    from exsim.replay.cli import new_strategy, strategy_class

    assert sweep.strategy is not None
    if sweep.strategy not in _STRATEGY_CLASSES:
        _STRATEGY_CLASSES[sweep.strategy] = strategy_class(sweep.strategy)
    return new_strategy(_STRATEGY_CLASSES[sweep.strategy], strategy_params(sweep, values))


def _run_replay(sweep: Sweep, cell: Cell, group: InputGroup, source: Any, out_dir: Path | None) -> dict[str, Any]:
    from exsim.replay import Replay

    config = replay_config(sweep, cell.values)
    strategy = make_strategy(sweep, cell.values)
    if source is None and group.window_ns is None:
        inputs: dict[str, Any] = {"files": list(group.files), "formats": list(group.formats)}
    else:
        from exsim.sweep.cache import replay_inputs

        inputs = replay_inputs(group, source)
    options = {"strategy": sweep.strategy, "param": strategy_params(sweep, cell.values)}
    replay = Replay(strategy=strategy, config=config, out_dir=out_dir, run_options=options, **inputs)
    return replay.run()


def _sum(texts: list[str]) -> str:
    """The exact sum of amounts (atoms: 1e-8 of the asset), as the summaries write them."""
    return format_atoms(sum(to_atoms(t, field="clearance_fee") for t in texts))


def _kinds(isolated: int, cross: int, partial: int, takeover: int, adl: int) -> str:
    return f"isolated={isolated} cross={cross} partial={partial} takeover={takeover} adl={adl}"


def replay_outcome(s: dict[str, Any]) -> dict[str, Any]:
    """A row's outcome fields from a replay's summary (the strategy's account)."""
    account, stats = s["account"], s["statistics"]
    liqs = s.get("liquidations", [])
    clearance = [str(p["clearance_fees"]) for p in s.get("positions", []) if p.get("clearance_fees") is not None]
    return {
        "pnl": account["pnl"],
        "return": stats.get("return") or "",
        "end_equity": account["equity"],
        "fees": account["fees"],
        "clearance_fees": _sum(clearance),
        "funding": account["funding"],
        "max_drawdown": stats.get("max_drawdown") or account.get("max_drawdown") or "",
        "max_drawdown_fraction": stats.get("max_drawdown_fraction") or "",
        "liquidations": int(account["liquidations"]),
        "liquidation_kinds": _kinds(
            sum(1 for x in liqs if str(x["scope"]).upper() == "ISOLATED"),
            sum(1 for x in liqs if str(x["scope"]).upper() == "CROSS"),
            sum(1 for x in liqs if x.get("partial")),
            sum(1 for x in liqs if any(Decimal(p.get("taken_over_qty") or 0) for p in x.get("positions", []))),
            sum(1 for x in liqs if any(Decimal(p.get("adl_qty") or 0) for p in x.get("positions", []))),
        ),
        "adl": int(account.get("adl") or 0),
        "min_headroom": stats.get("closest_to_liquidation") or "",
        "time_in_market": stats.get("exposure") or "",
        "trades": int(stats.get("trades") or 0),
        "rows": int(s.get("rows") or 0),
        "state_hash": s["state_hash"],
    }


# ---------------------------------------------------------------------- scenarios
def _run_scenario(sweep: Sweep, cell: Cell, group: InputGroup, out_dir: Path | None) -> dict[str, Any]:
    from exsim.scenario.runner import ScenarioRun
    from exsim.scenario.spec import load_scenario

    assert group.scenario is not None
    scenario = load_scenario(group.scenario)
    kwargs = {k: str(v) for k, v in cell.values.items()}
    summary = ScenarioRun(scenario, out_dir=out_dir, **kwargs).run()
    if out_dir is not None:
        from exsim.scenario.plots import write_scenario_plots

        write_scenario_plots(out_dir)
    return summary


def scenario_account(s: dict[str, Any], account: str | None) -> dict[str, Any]:
    """The scenario's account a sweep's rows follow: ``account`` (a name or an id), else the first."""
    accounts = s["accounts"]
    if account is None:
        return accounts[0]
    for a in accounts:
        if str(a["account"]) == account or a.get("name") == account:
            return a
    names = ", ".join(str(a.get("name") or a["account"]) for a in accounts[:10])
    raise InputError(f"the scenario has no account {account!r} (it has: {names})", field="inputs.account")


def scenario_outcome(s: dict[str, Any], account: str | None) -> dict[str, Any]:
    """A row's outcome fields from a scenario's summary (the sweep's account)."""
    a = scenario_account(s, account)
    stats = a.get("statistics", {})
    liqs = a.get("liquidations", [])
    pnl = stats.get("pnl") or ""
    return {
        "pnl": pnl,
        "return": stats.get("return") or "",
        "end_equity": a["remaining_balance"],
        "fees": a["fees"],
        "clearance_fees": _sum([str(x["clearance_fee"]) for x in liqs]),
        "funding": a["funding"],
        "max_drawdown": a.get("max_drawdown") or "",
        "max_drawdown_fraction": a.get("max_drawdown_fraction") or "",
        "liquidations": len(liqs),
        "liquidation_kinds": _kinds(
            sum(1 for x in liqs if str(x["scope"]).lower() == "isolated"),
            sum(1 for x in liqs if str(x["scope"]).lower() == "cross"),
            sum(1 for x in liqs if x.get("partial")),
            sum(1 for x in liqs if "taken over by the insurance fund" in x.get("explanation", "")),
            sum(1 for x in liqs if x.get("adl")),
        ),
        "adl": int(a.get("auto_deleveraged") or 0),
        "min_headroom": a.get("lowest_headroom") or "",
        "time_in_market": stats.get("exposure") or "",
        "trades": int(stats.get("trades") or 0),
        "rows": int(s.get("commands") or 0),
        "state_hash": s["state_hash"],
    }
