"""The statistics and the trade list as rich tables (the run's printout and ``exsim report``)."""

from __future__ import annotations

from typing import Any


def _pct(text: str | None) -> str:
    """A ratio's text as a percent for reading (the exact text stays in summary.json)."""
    if text is None:
        return "-"
    from decimal import Decimal

    return f"{Decimal(text) * 100:.4f} %"


def _num(text: str | None) -> str:
    return "-" if text is None else text


def statistics_table(st: dict[str, Any], title: str = "statistics") -> Any:
    """A two-column table of the statistics (summary.json's ``statistics``)."""
    from rich.table import Table

    t = Table(title=title)
    t.add_column("statistic")
    t.add_column("value", justify="right")
    exits = ", ".join(f"{k} {v}" for k, v in st.get("exits", {}).items()) or "-"
    rows = [
        ("return", _pct(st["return"])),
        ("trades (closed / open)", f"{st['trades']} / {st['open_trades']}"),
        ("  ended by", exits),
        ("win rate", _pct(st["win_rate"])),
        ("profit factor", _num(st["profit_factor"])),
        ("average win / loss", f"{_num(st['average_win'])} / {_num(st['average_loss'])}"),
        ("expectancy (per trade)", _num(st["expectancy"])),
        ("max drawdown", f"{st['max_drawdown']} ({_pct(st['max_drawdown_fraction'])})"),
        ("  longest under water", f"{st['max_drawdown_duration_s']} s"),
        ("Sharpe / Sortino / Calmar", f"{_num(st['sharpe'])} / {_num(st['sortino'])} / {_num(st['calmar'])}"),
        ("  returns", st["returns_sampled"]),
        ("exposure (time in market)", _pct(st["exposure"])),
        ("turnover", f"{st['turnover']} ({_num(st['turnover_multiple'])}x deposit)"),
        ("fees / funding, share of gross PnL", f"{_pct(st['fees_share_of_gross_pnl'])} / {_pct(st['funding_share_of_gross_pnl'])}"),
        ("liquidations / margin calls / ADL", f"{st['liquidations']} / {st['margin_calls']} / {st['adl']}"),
        ("worst margin ratio", _pct(st["worst_margin_ratio"])),
    ]
    for k, v in rows:
        t.add_row(k, v)
    return t


def _short(text: str) -> str:
    """``61808.65000000`` -> ``61808.65`` (display only: the file keeps the exact text)."""
    return text.rstrip("0").rstrip(".") if "." in text else text


def _clock(utc: str) -> str:
    """``2024-08-08T23:54:17.387237264Z`` -> ``23:54:17`` (display only)."""
    return utc[11:19]


def _when(utc: str) -> str:
    """``2024-08-08T23:54:17.387237264Z`` -> ``08-08 23:54:17`` (display only)."""
    return utc[5:19].replace("T", " ")


def trades_table(path: Any, limit: int = 20) -> Any:
    """The trade list of ``trades.csv``: its first ``limit`` round trips, the count of all
    of them and how they ended. Streams the file (memory: ``limit`` rows)."""
    import csv

    from rich import box
    from rich.table import Table

    first: list[dict[str, str]] = []
    total = 0
    ended: dict[str, int] = {}
    with open(path, newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            total += 1
            ended[r["exit_reason"]] = ended.get(r["exit_reason"], 0) + 1
            if len(first) < limit:
                first.append(r)
    how = ", ".join(f"{k} {v}" for k, v in sorted(ended.items())) or "none"
    shown = f", the first {limit}" if total > limit else ""
    # one day: the date goes in the title and the times fit an 80-column terminal
    days = {r[k][:10] for r in first for k in ("entry_time_utc", "exit_time_utc")}
    when = _clock if len(days) == 1 else _when
    on_day = f" on {days.pop()}" if len(days) == 1 else ""
    t = Table(title=f"trades{on_day} (times UTC): {total} round trips{shown} (ended by: {how})", box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 0, 0, 1))
    accounts = len({r["account"] for r in first}) > 1
    names = ("account",) if accounts else ()
    # the size (the largest the trip held) is signed, + long and - short: no side column, so a trip fits an
    # 80-column terminal (the columns are one space apart)
    names += ("symbol", "entry", "exit", "entry px", "exit px", "size", "net PnL", "ended by")
    for name in names:
        text = name in ("symbol", "ended by")
        # figures are never cut: the text columns wrap instead when the terminal is narrow
        t.add_column(name, justify="left" if text else "right", no_wrap=not text, overflow="fold", min_width=5 if text else None)
    for r in first:
        cells = (r["account"],) if accounts else ()
        cells += (
            r["symbol"] if r["position_side"] == "BOTH" else f"{r['symbol']} {r['position_side']}",
            when(r["entry_time_utc"]),
            when(r["exit_time_utc"]),
            _short(r["avg_entry_price"]),
            _short(r["avg_exit_price"]),
            ("+" if r["side"] == "long" else "-") + r["max_qty"],
            _short(r["net_pnl"]),
            r["exit_reason"] + (" (mark)" if r["open_at_end"] == "True" else ""),
        )
        t.add_row(*cells)
    return t


def statistics_by_account(accounts: list[tuple[str, dict[str, Any]]], title: str = "statistics") -> Any:
    """The first statistics of several accounts side by side (a scenario's), a column each."""
    from rich.table import Table

    t = Table(title=title)
    t.add_column("statistic")
    for name, _ in accounts:
        t.add_column(name, justify="right")
    rows = (
        ("return", lambda s: _pct(s["return"])),
        ("trades (closed / open)", lambda s: f"{s['trades']} / {s['open_trades']}"),
        ("win rate", lambda s: _pct(s["win_rate"])),
        ("profit factor", lambda s: _num(s["profit_factor"])),
        ("expectancy (per trade)", lambda s: _num(s["expectancy"])),
        ("max drawdown", lambda s: f"{s['max_drawdown']} ({_pct(s['max_drawdown_fraction'])})"),
        ("Sharpe / Sortino", lambda s: f"{_num(s['sharpe'])} / {_num(s['sortino'])}"),
        ("Calmar", lambda s: _num(s["calmar"])),
        ("exposure", lambda s: _pct(s["exposure"])),
        ("turnover", lambda s: s["turnover"]),
        ("worst margin ratio", lambda s: _pct(s["worst_margin_ratio"])),
    )
    for label, cell in rows:
        t.add_row(label, *(cell(st) for _, st in accounts))
    return t
