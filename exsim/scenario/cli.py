"""``exsim scenario`` and ``exsim compare``: run a scenario file, or one per margin mode side by side."""

from __future__ import annotations

import argparse
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from exsim.errors import InputError
from exsim.replay.venue import rule_lines
from exsim.scenario.runner import ScenarioRun
from exsim.scenario.spec import RUN_MODES, Scenario, load_scenario

BUILTIN = "exsim.scenario"


def builtin_names() -> list[str]:
    """The built-in scenarios that are installed, in their numbered order."""
    folder = resources.files(BUILTIN).joinpath("builtin")
    return [name for name in BUILTIN_ORDER if folder.joinpath(f"{name}.toml").is_file()]


BUILTIN_ORDER = (
    "one-position",
    "one-position-entry-mm",
    "correlated-crash",
    "rally-alt-weakness",
    "range-chop",
    "hedged-pair",
    "cascade",
    "coin-margined",
    "haircut-squeeze",
    "collateral-crash",
    "venue-crash",
)


def resolve(spec: str) -> Path:
    """A scenario file path, or the name of a built-in scenario: a path is taken only when
    it is a file (a folder named like a built-in, ``./cascade``, does not hide it)."""
    p = Path(spec)
    if p.is_file():
        return p
    if spec in BUILTIN_ORDER:
        return Path(str(resources.files(BUILTIN).joinpath("builtin", f"{spec}.toml")))
    if p.is_dir():
        raise InputError("is a folder; expected a scenario .toml file or a built-in name", where=spec, field="FILE")
    if p.suffix == ".toml" or "/" in spec:
        raise InputError("no such file", where=spec, field="FILE")
    raise InputError(f"not a file nor a built-in scenario (exsim scenario --list shows them: {', '.join(BUILTIN_ORDER)})",
                     where=spec, field="FILE")


def list_builtins() -> list[tuple[str, str]]:
    out = []
    for name in builtin_names():
        text = resources.files(BUILTIN).joinpath("builtin", f"{name}.toml").read_text(encoding="utf-8")
        out.append((name, tomllib.loads(text)["scenario"].get("description", "")))
    return out


# --------------------------------------------------------------------------- printing
def _money(text: str) -> str:
    from exsim.units import format_atoms_rounded, to_atoms

    return format_atoms_rounded(to_atoms(text, field="money"))


def _pct(fraction_text: str, places: int = 2) -> str:
    from exsim.units import format_atoms_rounded, to_atoms

    return format_atoms_rounded(to_atoms(fraction_text, field="ratio") * 100, places) + " %"


def _headroom(fraction_text: str) -> str:
    """``1 − MM / margin balance`` in %; a trigger past bankruptcy (balance <= 0) says so."""
    from exsim.scenario.record import UNBOUNDED_RATIO_E8
    from exsim.units import RATE_SCALE, to_rate_e8

    if RATE_SCALE - to_rate_e8(fraction_text, field="headroom") >= UNBOUNDED_RATIO_E8:
        return "none: margin balance <= 0 at a trigger"
    return _pct(fraction_text, 4)


def _when(after_s: str | None) -> str:
    """``"40m"``, ``"1m 30s"``, ``"12.5s"`` from exact seconds; ``never`` for None."""
    if after_s is None:
        return "never"
    from decimal import Decimal

    minutes, seconds = divmod(Decimal(after_s), 60)
    sec = format(seconds.normalize(), "f")
    if minutes and seconds:
        return f"{minutes}m {sec}s"
    return f"{minutes}m" if minutes else f"{sec}s"


def _amount(text: str, asset: str | None) -> str:
    """Money for reading: 2 decimals in a USD stablecoin (or a one-stablecoin run, ``asset``
    None), exact with the asset's name otherwise (``0.02500000 BTC``)."""
    from exsim.results.assets import USD_ASSETS

    if asset is None:
        return _money(text)
    return f"{_money(text)} {asset}" if asset in USD_ASSETS else f"{text} {asset}"


def account_rows(a: dict[str, Any]) -> list[tuple[str, str]]:
    liqs = a["liquidations"]
    liq_text = "; ".join(f"{_when(x['after_s'])} {x['scope']}: {', '.join(x['positions'])}" for x in liqs) or "none"
    asset = a.get("asset")  # (a run with several assets or a coin: amounts name their asset)
    rows = [
        ("margin mode", a["margin_mode"]),
        ("deposit", _amount(a["deposit"], asset)),
        ("liquidations", liq_text),
        ("time to first liquidation", _when(a["first_liquidation_after_s"])),
        ("realised loss", _amount(a["realised_loss"], asset)),
        ("remaining balance", _amount(a["remaining_balance"], asset)),
        ("max drawdown", f"{_amount(a['max_drawdown'], asset)} ({_pct(a['max_drawdown_fraction'])})"),
        ("lowest margin-ratio headroom", _headroom(a["lowest_headroom"])),
        ("auto-deleveraged", str(a["auto_deleveraged"])),
        ("open positions at the end", ", ".join(a["open_positions"]) or "none"),
    ]
    if "collateral_mode" in a:  # (a run with multi-asset collateral)
        rows.insert(1, ("collateral mode", a["collateral_mode"]))
        acc = a.get("portfolio")
        rows.append(("account margin ratio: end (highest)",
                     f"{_pct(acc['margin_ratio'])} ({_pct(acc['highest_margin_ratio'])})" if acc else "-"))
        rows.append(("haircut lost at the end, USD",
                     ", ".join(f"{k} {_money(v)}" for k, v in acc["haircut_usd"].items()) if acc else "-"))
        rows.append(("collateral that backs nothing", ", ".join(a["idle_collateral"]) or "none"))
    if asset is not None:
        usd = a["usd_value"]
        rows[1:1] = [("collateral", ", ".join(a["assets"]) or asset)]
        rows.insert(rows.index(next(r for r in rows if r[0] == "time to first liquidation")) + 1,
                    ("liquidated at mark", ", ".join(a["liquidation_marks"]) or "-"))
        rows.insert(rows.index(next(r for r in rows if r[0] == "remaining balance")) + 1,
                    ("remaining balance, USD", "-" if usd["remaining_balance"] is None else _money(usd["remaining_balance"])))
        rows.insert(rows.index(next(r for r in rows if r[0] == "deposit")) + 1,
                    ("deposit, USD at the start", "-" if usd["deposit"] is None else _money(usd["deposit"])))
    return rows


def population_rows(s: dict[str, Any]) -> list[tuple[str, str]]:
    p = s.get("population")
    c = s["cascade"]
    rows: list[tuple[str, str]] = []
    if p:
        rows += [
            ("population accounts (isolated / cross)", f"{p['accounts']} ({p['isolated']} / {p['cross']})"),
            ("accounts liquidated (isolated / cross)", f"{p['liquidated']} ({p['liquidated_isolated']} / {p['liquidated_cross']})"),
            ("population deposits", _money(p["deposits"])),
            ("population remaining balance", _money(p["remaining_balance"])),
        ]
    rows += [
        ("liquidations", str(s["liquidations"])),
        ("cascade generations (mark rounds that liquidated)", str(c["generations"])),
    ]
    for symbol, px in c["price"].items():
        rows.append((f"{symbol} mark: start → low (move)", f"{px['start_mark']} → {px['lowest_mark']} (−{_pct(px['move_down_fraction'])})"))
    rows += [
        ("insurance fund: start → end", f"{_money(s['insurance_fund_start'])} → {_money(s['insurance_fund_end'])}"),
        ("ADL fills", str(c["adl_events"])),
    ]
    return rows


def print_scenario(console: Any, s: dict[str, Any]) -> None:
    from rich.table import Table

    t = Table(title=f"{s['scenario']} ({s['margin_mode']}{venue_label(s)})")
    t.add_column("figure")
    for a in s["accounts"]:
        t.add_column(a["name"], justify="right")
    if s["accounts"]:
        keys = [k for k, _ in account_rows(s["accounts"][0])]
        cols = [dict(account_rows(a)) for a in s["accounts"]]
        for k in keys:
            t.add_row(k, *(c[k] for c in cols))
        console.print(t)
        stats = [(a["name"], a["statistics"]) for a in s["accounts"] if a.get("statistics")]
        if stats:
            from exsim.results.show import statistics_by_account

            console.print(statistics_by_account(stats, title="statistics (docs/results.md)"))
    if s.get("population") or s["cascade"]["generations"]:
        pt = Table(title="population and cascade")
        pt.add_column("figure")
        pt.add_column("value", justify="right")
        for k, v in population_rows(s):
            pt.add_row(k, v)
        console.print(pt)
    for a in s["accounts"]:
        for x in a["liquidations"]:
            console.print(f"[bold red]liquidation[/bold red] {a['name']} at {_when(x['after_s'])}: {x['explanation']}")
    usd_note(console, s)
    collateral_note(console, [s])
    venue_note(console, s)


def venue_label(s: dict[str, Any]) -> str:
    """``", bybit"`` for the table's title; nothing for a run under Binance by default (as before)."""
    venue = s.get("venue", "binance")
    return "" if venue == "binance" and s.get("venue_from", "default") == "default" else f", {venue}"


def venue_note(console: Any, s: dict[str, Any]) -> None:
    """Which venue's rules the run followed and who named it; its rules, one line each
    (nothing for a run under Binance by default)."""
    from exsim.venues.profile import get_venue

    venue = get_venue(s.get("venue", "binance"))
    how = s.get("venue_from", "default")
    if venue.is_binance and how == "default":
        return
    said = {"--venue": "--venue on the command line", "file": "the scenario file", "default": "the default"}[how]
    console.print(f"[bold]venue:[/bold] {venue.title} (named by {said})", highlight=False)
    for line in rule_lines(venue):
        console.print(f"  {line}", highlight=False, markup=False)
    for note in s.get("venue_notes", ()):
        console.print(f"  note: {note}", highlight=False, markup=False)


def collateral_note(console: Any, runs: list[dict[str, Any]]) -> None:
    """Say which wallets back nothing: in single-asset mode a wallet in an asset none of
    the contracts settles in (BTC beside USDT contracts) is not collateral."""
    said = set()
    for s in runs:
        for a in s["accounts"]:
            if a.get("idle_collateral") and (a["name"], s["margin_mode"]) not in said:
                said.add((a["name"], s["margin_mode"]))
                console.print(f"[dim]note:[/dim] {s['margin_mode']}: {a['name']}'s {', '.join(a['idle_collateral'])} "
                              "backs nothing in single-asset collateral mode (no contract settles in it); "
                              "it counts in multi-assets mode")


def usd_note(console: Any, s: dict[str, Any]) -> None:
    """Which price turned each asset into USD (a run with several assets or a coin)."""
    conv = s.get("usd_conversion")
    if conv:
        console.print("[dim]USD values:[/dim] " + "; ".join(f"{a}: {how}" for a, how in conv.items())
                      + " (the last mark for the end, the first for the start; rounded down to 1e-8 USD)")


def print_compare(console: Any, runs: dict[str, dict[str, Any]]) -> None:
    from rich.table import Table

    modes = list(runs)
    first = runs[modes[0]]
    t = Table(title=f"{first['scenario']}: {' vs '.join(modes)}")
    t.add_column("account")
    t.add_column("figure")
    for m in modes:
        t.add_column(m, justify="right")
    for i, a in enumerate(first["accounts"]):
        per_mode = [dict(account_rows(runs[m]["accounts"][i])) for m in modes]
        keys = list(dict.fromkeys(k for m in modes for k, _ in account_rows(runs[m]["accounts"][i])))
        for k in keys:
            t.add_row(a["name"], k, *(p.get(k, "-") for p in per_mode))
        t.add_section()
    if first.get("population") or any(runs[m]["cascade"]["generations"] for m in modes):
        per_mode = [dict(population_rows(runs[m])) for m in modes]
        for k, _ in population_rows(first):
            t.add_row("all", k, *(p.get(k, "") for p in per_mode))
    console.print(t)
    usd_note(console, first)
    collateral_note(console, [runs[m] for m in modes])


# --------------------------------------------------------------------------- commands
def run_one(scenario: Scenario, mode: str | None, out: Path | None, venue: str | None = None) -> dict[str, Any]:
    summary = ScenarioRun(scenario, margin_mode=mode, out_dir=out, venue=venue).run()
    if out is not None:
        from exsim.scenario.plots import write_scenario_plots

        write_scenario_plots(out)
    return summary


def cmd_scenario(args: argparse.Namespace) -> int:
    from rich.console import Console

    console = Console()
    if args.list:
        for name, description in list_builtins():
            print(f"{name}  {description}")
        return 0
    if not args.file:
        raise InputError("give a scenario FILE or NAME (or --list)", field="FILE")
    scenario = load_scenario(resolve(args.file), args.allow_path)
    html = page_target(args.html)
    out = Path(args.out) if args.out else None
    venue = parse_venue(args.venue)
    say_override(console, scenario, venue)
    if html is not None and out is None:  # the page reads a run directory: a temporary one
        import tempfile

        with tempfile.TemporaryDirectory(prefix="exsim-scenario-") as tmp:
            run_dir = Path(tmp) / "run"
            summary = ScenarioRun(scenario, margin_mode=args.mode, out_dir=run_dir, venue=venue).run()  # (no PNGs: removed after)
            print_scenario(console, summary)
            write_html(html, [(scenario.name, run_dir)], f"exsim scenario {scenario.name}")
        return 0
    summary = run_one(scenario, args.mode, out, venue)
    print_scenario(console, summary)
    if out is not None:
        console.print(f"run written to {out} (summary.json, trades.csv, timeseries.csv, marks.csv, fills.csv, events.jsonl, "
                      "instruments.json, plots); "
                      f"exsim explain {out} tells each liquidation")
        if html is not None:
            write_html(html, [(scenario.name, out)], f"exsim scenario {scenario.name}")
    return 0


def page_target(text: str | None) -> Path | None:
    """``--html``'s file, checked before the run (a folder, a missing folder or a file that is
    not an exsim page is refused then, not after the work)."""
    if text is None:
        return None
    from exsim.pages.html import check_target

    return check_target(text)


def write_html(path: Path, runs: list[tuple[str, Path]], title: str) -> None:
    """Write the teaching page of finished run directories and say where: ``page: FILE (N steps, X MB)``."""
    from exsim.pages.html import write_runs_page

    print(write_runs_page(runs, path, title))


def parse_modes(text: str) -> list[str]:
    modes = [m.strip() for m in text.split(",") if m.strip()]
    bad = [m for m in modes if m not in RUN_MODES]
    if bad or not modes:
        raise InputError(f"{text!r}: expected modes from {', '.join(RUN_MODES)}, comma-separated", field="--modes")
    if len(set(modes)) != len(modes):
        raise InputError(f"{text!r} names a mode twice", field="--modes")
    return modes


def parse_venue(text: str | None) -> str | None:
    """``--venue``'s value, lower case (None: not given)."""
    if text is None:
        return None
    if "," in text:
        raise InputError(f"{text!r}: one venue (exsim compare NAME --venues {text} runs one per venue)", field="--venue")
    return parse_venues(text, "--venue")[0]


def parse_venues(text: str, option: str = "--venues") -> list[str]:
    """``binance,bybit``: venue names from exsim.venues.profile.VENUE_NAMES, comma-separated, each once."""
    from exsim.venues.profile import VENUE_NAMES

    venues = [v.strip().lower() for v in text.split(",") if v.strip()]
    bad = [v for v in venues if v not in VENUE_NAMES]
    if bad or not venues:
        what = "one of" if option == "--venue" else "venues from"
        raise InputError(f"{text!r}: expected {what} {', '.join(VENUE_NAMES)}" + (", comma-separated" if option != "--venue" else ""),
                         field=option)
    if len(set(venues)) != len(venues):
        raise InputError(f"{text!r} names a venue twice", field=option)
    return venues


def say_override(console: Any, scenario: Scenario, venue: str | None) -> None:
    """``--venue`` over a file that names another venue: said before the run, out loud."""
    if venue is not None and scenario.venue is not None and venue != scenario.venue:
        console.print(f"[bold yellow]venue:[/bold yellow] --venue {venue} overrides the file's venue = "
                      f"\"{scenario.venue}\" ({scenario.venue_where})", highlight=False)


def cmd_compare(args: argparse.Namespace) -> int:
    from rich.console import Console

    console = Console()
    scenario_path = resolve(args.file)
    modes = parse_modes(args.modes) if args.modes is not None else None  # ("": an error, not the default)
    venues = parse_venues(args.venues) if args.venues is not None else None
    if venues is not None and args.venue is not None:
        raise InputError("give --venue (every run under one venue) or --venues (a run per venue), not both",
                         field="--venues")
    if venues is not None and len(venues) > 1 and modes is not None and len(modes) > 1:
        raise InputError("--venues and --modes are alternatives: compare venues in one mode (--venues "
                         f"{args.venues} --modes {modes[0]}) or modes under one venue (--modes {args.modes} "
                         f"--venue {venues[0]})", field="--venues")
    scenario = load_scenario(scenario_path, args.allow_path)
    html = page_target(args.html)
    out = Path(args.out) if args.out else Path("runs") / f"compare-{scenario.name}"
    if venues is not None and (len(venues) > 1 or modes is None):  # a run per venue, in one mode
        mode = modes[0] if modes else None
        for v in venues:
            say_override(console, scenario, v)
        runs = {v: run_one(scenario, mode, out / v, v) for v in venues}
        print_venue_compare(console, runs)
    else:  # a run per mode, under one venue
        venue = venues[0] if venues else parse_venue(args.venue)
        say_override(console, scenario, venue)
        modes = modes or ["isolated", "cross"]
        runs = {m: run_one(scenario, m, out / m, venue) for m in modes}
        print_compare(console, runs)
        venue_note(console, next(iter(runs.values())))
    from exsim.scenario.plots import write_compare_plot

    png = write_compare_plot({k: out / k for k in runs}, out / "compare.png")
    console.print(f"plot: {png}; runs: {', '.join(str(out / k) for k in runs)} (exsim explain DIR tells each liquidation)")
    if html is not None:
        write_html(html, [(k, out / k) for k in runs], f"exsim compare {scenario.name}: {' | '.join(runs)}")
    return 0


def venue_rows(a: dict[str, Any]) -> tuple[str, str, str, str, str]:
    """One account's outcome under one venue: final equity; liquidations (when);
    partial steps (when: Bybit's ladder, Hyperliquid's chunks); what the fund (Hyperliquid:
    the liquidator vault) got (+) or paid (−) at its liquidations; ADL (times it was
    deleveraged / counterparties its liquidations deleveraged)."""
    from exsim.units import format_atoms, to_atoms

    liqs = a["liquidations"]
    full = [x for x in liqs if not x["partial"]]
    partial = [x for x in liqs if x["partial"]]
    fund = sum(to_atoms(x.get("insurance_fund_change", "0"), field="insurance_fund_change") for x in liqs)
    asset = a.get("asset")

    def when(xs: list[dict[str, Any]]) -> str:
        return str(len(xs)) + (f" at {', '.join(_when(x['after_s']) for x in xs)}" if xs else "")

    return (
        _amount(a["remaining_balance"], asset),
        when(full),
        when(partial),
        ("+" if fund > 0 else "") + _amount(format_atoms(fund), asset),
        f"{a['auto_deleveraged']} / {sum(len(x['adl']) for x in liqs)}",
    )


def print_venue_compare(console: Any, runs: dict[str, dict[str, Any]]) -> None:
    """``exsim compare --venues``: every account's outcome under each venue, a row per venue;
    the fund at the end; each venue's rules (``VenueProfile.rule``) and each liquidation's
    explanation (a non-Binance one starts with the venue's name and names its rule)."""
    from rich.table import Table

    from exsim.units import format_atoms, to_atoms
    from exsim.venues.profile import FUND_VAULT, get_venue

    venues = list(runs)
    first = runs[venues[0]]
    t = Table(title=f"{first['scenario']} ({first['margin_mode']}): {' vs '.join(venues)}",
              caption="liq.: full liquidations; partial: steps that left the account standing (Bybit's ladder, "
              "Hyperliquid's chunks); fund ±: what the insurance fund (Hyperliquid: the liquidator vault) got (+) or paid (−) at the "
              "account's liquidations; ADL: times deleveraged / counterparties deleveraged")
    for name in ("account", "venue", "equity", "liq.", "partial", "fund ±", "ADL"):  # (money and names unwrapped)
        t.add_column(name, justify="left" if name in ("account", "venue") else "right",
                     no_wrap=name in ("venue", "equity", "fund ±", "ADL"))
    for i, a in enumerate(first["accounts"]):
        for v in venues:
            t.add_row(a["name"], v, *venue_rows(runs[v]["accounts"][i]))
        t.add_section()
    for v in venues:
        s = runs[v]
        change = to_atoms(s["insurance_fund_end"], field="money") - to_atoms(s["insurance_fund_start"], field="money")
        p = s.get("population")
        t.add_row("vault" if get_venue(v).fund == FUND_VAULT else "fund", v, _money(s["insurance_fund_end"]),
                  str(sum(1 for a in s["accounts"] for x in a["liquidations"] if not x["partial"]))
                  + (f" (+{p['liquidated']} drawn)" if p else ""),
                  "", ("+" if change > 0 else "") + _money(format_atoms(change)), str(s["cascade"]["adl_events"]))
    console.print(t)
    for v in venues:
        venue = get_venue(v)
        console.print(f"[bold]{venue.title}[/bold] ({v}):", highlight=False)
        for line in rule_lines(venue):
            console.print(f"  {line}", highlight=False, markup=False)
        for note in runs[v].get("venue_notes", ()):
            console.print(f"  note: {note}", highlight=False, markup=False)
        for a in runs[v]["accounts"]:
            for x in a["liquidations"]:
                kind = "partial" if x["partial"] else "liquidation"
                console.print(f"  [red]{kind}[/red] {a['name']} at {_when(x['after_s'])}: {x['explanation']}",
                              highlight=False)
    usd_note(console, first)
    collateral_note(console, [runs[v] for v in venues])


VENUE_HELP = (
    "the venue whose rules the run follows: binance, bybit, hyperliquid or dydx (tiers, maintenance margin, "
    "liquidation process, fund, ADL; docs/venues.md); overrides the file's venue (default: the file's, else binance)"
)

ALLOW_HELP = (
    "a folder (besides the scenario file's own) whose files the scenario's csv / replay paths may name "
    "(repeatable; files elsewhere are refused)"
)


HTML_HELP = (
    "also write a teaching page: one self-contained HTML file (works offline) to step through the run, "
    "click each liquidation and read its explanation (docs/pages.md); an existing file is replaced only if it is an exsim page"
)


def add_parsers(sub: Any) -> None:
    sp = sub.add_parser(
        "scenario",
        help="run a teaching scenario (a TOML file or a built-in name): positions, a price path, liquidations explained",
        description=(
            "Run a scenario file (format: docs/scenarios.md) or a built-in scenario by name. Prints each account's "
            "outcome; with --out writes summary.json, trades.csv, timeseries.csv, marks.csv, fills.csv, events.jsonl, "
            "instruments.json and plots. "
            "Example: exsim scenario one-position --out runs/one"
        ),
    )
    sp.add_argument("file", nargs="?", metavar="FILE|NAME")
    sp.add_argument("--list", action="store_true", help="list the built-in scenarios, one per line: name, then what it shows")
    sp.add_argument("--mode", choices=RUN_MODES, help="margin mode of positions that do not fix one, or multi-assets "
                    "(cross, with accounts in multi-assets collateral mode; default: the file's)")
    sp.add_argument("--venue", metavar="VENUE", help=VENUE_HELP)
    sp.add_argument("--out", metavar="DIR", help="write the run here")
    sp.add_argument("--allow-path", action="append", default=[], metavar="DIR", help=ALLOW_HELP)
    sp.add_argument("--html", metavar="FILE", help=HTML_HELP + " (without --out the run goes to a temporary folder, removed after)")
    sp.set_defaults(func=cmd_scenario)

    cp = sub.add_parser(
        "compare",
        help="run one scenario once per margin mode (or per venue) and print the outcomes side by side, with one plot",
        description=(
            "Run the same scenario under each margin mode (positions that fix their mode keep it) and print, per "
            "account, liquidations, realised loss, remaining balance, max drawdown, lowest margin-ratio headroom "
            "and time to first liquidation side by side; writes compare.png with both runs. The multi-assets mode "
            "runs the same accounts in cross margin with multi-assets collateral (a BTC wallet backs USDT contracts "
            "at its haircut); in isolated and cross a wallet no contract settles in backs nothing. With --venues, "
            "a run per venue in one mode: each account's final equity, liquidations, partial steps, what the "
            "insurance fund (Hyperliquid: the liquidator vault) got or paid and ADL, a row per venue, then each "
            "venue's rules and each liquidation's explanation. "
            "Example: exsim compare one-position; exsim compare haircut-squeeze --modes isolated,cross,multi-assets; "
            "exsim compare venue-crash --venues binance,bybit,hyperliquid,dydx"
        ),
    )
    cp.add_argument("file", metavar="FILE|NAME")
    cp.add_argument("--modes", default=None,
                    help="comma-separated modes: isolated, cross, multi-assets (default isolated,cross; with --venues: "
                    "one mode, default the file's)")
    cp.add_argument("--venues", default=None, metavar="V1,V2,...",
                    help="a run per venue instead of per mode, e.g. binance,bybit,hyperliquid,dydx (in one mode: "
                    "--venues and several --modes are alternatives)")
    cp.add_argument("--venue", metavar="VENUE", help=VENUE_HELP)
    cp.add_argument("--out", metavar="DIR", help="where the runs and compare.png go (default runs/compare-NAME)")
    cp.add_argument("--allow-path", action="append", default=[], metavar="DIR", help=ALLOW_HELP)
    cp.add_argument("--html", metavar="FILE", help=HTML_HELP + ": the runs side by side")
    cp.set_defaults(func=cmd_compare)
