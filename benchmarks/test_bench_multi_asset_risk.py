"""Mark and collateral-index ticks at 1M open positions with multi-assets accounts (issue 17).

Run: ``pytest benchmarks/test_bench_multi_asset_risk.py --benchmark-only -s``.

The population (built as ``test_bench_mark_tick.build`` does: fills booked straight into
the ledger in matched pairs against EXTERNAL, three positions per account on BTCUSDT,
ETHUSDT and SOLUSDT, 100–2,000 USDT each, at 5x, nobody near a threshold): one account
in five is a **multi-assets** account (a USDT wallet and BTC collateral worth about
10,000 USD, with buffers and Bybit-style haircut tiers), one in five a single-asset cross
pool, three in five hold isolated buckets. One ``SetMarkPrice`` on BTCUSDT (±1 tick) and
one ``CollateralIndex`` on BTC (±1 USD) go through the exchange, timed in CPU time per
tick (a batch's ``process_time`` / its ticks), best of the batches and spread
(worst / best), for two trigger rules taking turns batch by batch in this process on the
same ledger (every multi-assets account re-filed at each switch):

* ``conservative``: :func:`exsim.ledger.risk_index.portfolio_triggers` — verified bands;
* ``placeholder``: the contract's first rule, one unit either side of every input
  (never late, but every tick re-evaluates every multi-assets account holding the input).

**How an account-level trigger is indexed when collateral prices move.** A multi-assets
account is one risk scope. Besides its mark triggers (under each instrument's symbol) it
has one DOWN and (where a rise can hurt) one UP entry per asset it is exposed in, under
the key ``"@" + asset`` of the same sorted lists, priced in ``index_usd_e8``: the edges of
a band of that asset's index inside which, together with the marks' bands, the account's
exact slack is verified positive (module docstring of ``exsim.ledger.risk_index``). A
collateral index tick is then the same operation as a mark tick — pop the entries it
crossed, O(log N + k) — and k counts only accounts whose band the move left.
"""

from __future__ import annotations

import gc
import os
import random
import time
from typing import Any, Callable

import pytest

import exsim.ledger.ledger as ledger_module
from exsim.book.orders import BUY, SELL
from exsim.exchange import CollateralIndex, Exchange, SetMarkPrice
from exsim.instruments import get_instrument
from exsim.ledger import BOTH, CROSS, EXTERNAL, ISOLATED, Ledger
from exsim.ledger.accounts import Portfolio
from exsim.ledger.collateral import CollateralRule, CollateralTier
from exsim.ledger.risk_index import DOWN, UP, collateral_key, portfolio_triggers

SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
MARKS = {"BTCUSDT": 600_000, "ETHUSDT": 300_000, "SOLUSDT": 15_000}  # 60,000.0 / 3,000.00 / 150.00 (ticks)
BTC_INDEX_E8 = 60_000 * 10**8
BTC_RULE = CollateralRule(
    "BTC", BTC_INDEX_E8, 1_000_000, 1_000_000,  # 1 % buffers
    (CollateralTier(10 * 10**8, 95_000_000), CollateralTier(None, 90_000_000)),  # 0.95 to 10 BTC, 0.90 above
)
POSITIONS = 1_000_000
BATCHES = 6  # per rule and tick kind, alternating
TICKS = {"conservative": 2_000, "placeholder": 4}  # ticks per batch (the placeholder's cost O(accounts))


def placeholder_triggers(ledger: Ledger, pf: Portfolio, ratio_e8: int) -> list[tuple[str, int, int]] | None:
    """The contract's placeholder rule (commit 034610b): a trigger one unit either side of
    every current price of the account's inputs. Never late; fires on any move."""
    figures = ledger.portfolio_figures(pf.account_id)
    if figures.liquidatable(ratio_e8):
        return None
    out: list[tuple[str, int, int]] = []
    seen: set[str] = set()
    for acct in pf.accounts.values():
        for pos in acct.positions.values():
            if pos.qty_lots and not pos.isolated and pos.symbol not in seen:
                seen.add(pos.symbol)
                mark = ledger.mark_subticks(pos.symbol, pos)
                if mark > 1:
                    out.append((pos.symbol, DOWN, mark - 1))
                out.append((pos.symbol, UP, mark + 1))
    for f in figures.assets:
        if f.equity_atoms_e8 or f.maint_margin_atoms or f.initial_margin_atoms:
            index = ledger.collateral[f.asset].index_usd_e8
            if index > 1:
                out.append((collateral_key(f.asset), DOWN, index - 1))
            out.append((collateral_key(f.asset), UP, index + 1))
    return sorted(out)


def build(n_positions: int, seed: int = 1) -> tuple[Exchange, Ledger]:
    """``n_positions`` open positions, three per account; every fifth account multi-assets
    (USDT wallet + about 10,000 USD of BTC), every fifth single-asset cross, the rest isolated."""
    instruments = [get_instrument(s) for s in SYMBOLS]
    ledger = Ledger(instruments, default_leverage=5, assets=("BTC",))
    ex = Exchange(instruments, ledger=ledger, emit_book_deltas=False)
    for inst in instruments:
        ledger.marks[inst.symbol] = MARKS[inst.symbol] * inst.subticks_per_tick  # marks are subticks
    ledger.set_collateral_index("BTC", BTC_INDEX_E8)
    assert ledger.set_collateral_rule("BTC", BTC_RULE) is None
    rng = random.Random(seed)
    deposit, set_mode, fill = ledger.deposit, ledger.set_margin_mode, ledger.apply_fill
    for account_id in range(1, n_positions // 3 + 1):
        kind = account_id % 5
        if kind == 0:  # multi-assets: a little USDT, the rest BTC collateral
            deposit(account_id, rng.randint(100, 1_000) * 10**8)
            assert ledger.set_collateral_mode(account_id, "multi-assets") is None
            deposit(account_id, rng.randint(15_000_000, 20_000_000), "BTC")  # 0.15–0.2 BTC
        else:
            deposit(account_id, 10_000 * 10**8)
        for inst in instruments:
            symbol = inst.symbol
            if kind != 0:
                set_mode(account_id, symbol, CROSS if kind == 1 else ISOLATED)
            side = BUY if rng.random() < 0.5 else SELL
            mark = MARKS[symbol]
            lots = max(1, rng.randint(100, 2_000) * 10**8 // (mark * inst.atoms_per_tick_lot))
            fill(account_id, 0, symbol, side, lots, mark, 0, BOTH)
            fill(EXTERNAL, 0, symbol, side ^ 1, lots, mark, 0, BOTH)
    ledger.evaluate_pending()
    ledger.settle_auto_exchange()
    assert not ledger.pending and not ledger.liquidatable
    return ex, ledger


def refile_all(ledger: Ledger, rule: Callable[..., Any]) -> float:
    """Switch the ledger's portfolio trigger rule and re-file every multi-assets account; seconds."""
    ledger_module.portfolio_triggers = rule  # type: ignore[attr-defined]
    t0 = time.perf_counter()
    for pf in ledger.portfolios.values():
        ledger._refile_portfolio(pf)
    assert not ledger.pending
    return time.perf_counter() - t0


@pytest.mark.parametrize("n_positions", [int(os.environ.get("EXSIM_BENCH_POSITIONS", POSITIONS))])
def test_multi_asset_mark_and_collateral_ticks(benchmark: Any, n_positions: int) -> None:
    """At 1M positions (20 % in multi-assets accounts with BTC collateral): a BTCUSDT mark tick
    and a BTC collateral-index tick with the conservative triggers, against the placeholder."""
    t0 = time.perf_counter()
    ex, ledger = build(n_positions)
    build_s = time.perf_counter() - t0
    btc = ex.markets["BTCUSDT"].instrument
    per_tick = btc.subticks_per_tick
    rules = {"conservative": portfolio_triggers, "placeholder": placeholder_triggers}
    results: dict[tuple[str, str], list[float]] = {(r, k): [] for r in rules for k in ("mark", "index")}
    refile_s: dict[str, list[float]] = {r: [] for r in rules}
    ts = [0]

    def commands(kind: str, n: int) -> list[Any]:
        out: list[Any] = []
        for k in range(n):
            ts[0] += 1
            if kind == "mark":
                out.append(SetMarkPrice(ts[0], "BTCUSDT", (MARKS["BTCUSDT"] + (1 if k % 2 == 0 else 0)) * per_tick))
            else:
                out.append(CollateralIndex(ts[0], "BTC", BTC_INDEX_E8 + (10**8 if k % 2 == 0 else 0)))
        return out

    def batch(rule: str, kind: str) -> None:
        cmds = commands(kind, TICKS[rule])
        submit = ex.submit
        gc.collect()
        c0 = time.process_time()
        for cmd in cmds:
            submit(cmd)
        results[(rule, kind)].append((time.process_time() - c0) / len(cmds))

    def all_batches() -> None:
        for i in range(BATCHES):
            order = list(rules) if i % 2 == 0 else list(reversed(rules))
            for rule in order:
                refile_s[rule].append(refile_all(ledger, rules[rule]))
                for kind in ("mark", "index"):
                    batch(rule, kind)

    try:
        benchmark.pedantic(all_batches, rounds=1, iterations=1)
    finally:
        ledger_module.portfolio_triggers = portfolio_triggers  # type: ignore[attr-defined]
    assert not ledger.liquidatable and not ledger.pending
    # every multi-assets account watched on BTCUSDT and on @BTC with the conservative rule
    refile_all(ledger, portfolio_triggers)
    keys = {symbol for symbol, _, _, scope in ledger.risk.entries() if type(scope) is Portfolio}
    assert {"BTCUSDT", "@BTC"} <= keys
    n_pf = len(ledger.portfolios)
    fired = {r: k for r, k in ((r, _popped_per_tick(ex, ledger, r, rules[r])) for r in rules)}

    def figures(rule: str, kind: str) -> dict[str, float]:
        cpus = results[(rule, kind)]
        return {"cpu_us_best": round(min(cpus) * 1e6, 2), "cpu_us_spread": round(max(cpus) / min(cpus), 2)}

    info: dict[str, Any] = {
        "positions": n_positions,
        "multi_assets_accounts": n_pf,
        "multi_assets_positions": 3 * n_pf,
        "index_entries": len(ledger.risk),
        "build_s": round(build_s, 1),
        "batches": BATCHES,
        "ticks_per_batch": TICKS,
        "refile_all_portfolios_s_best": {r: round(min(v), 2) for r, v in refile_s.items()},
        "accounts_popped_per_tick": fired,
        "indexing": (
            "a multi-assets account is one scope with DOWN/UP entries under each held symbol (subticks) and "
            "under '@'+asset for each asset it is exposed in (index_usd_e8), at the edges of bands whose worst "
            "case is verified exactly; a collateral index tick pops the '@asset' entries it crossed: O(log N + k)"
        ),
    }
    for rule in rules:
        for kind in ("mark", "index"):
            info[f"{rule}_{kind}_tick"] = figures(rule, kind)
    for kind in ("mark", "index"):
        info[f"placeholder_over_conservative_{kind}"] = round(
            info[f"placeholder_{kind}_tick"]["cpu_us_best"] / info[f"conservative_{kind}_tick"]["cpu_us_best"]
        )
    benchmark.extra_info.update(info)
    print("\n" + "\n".join(f"{k}: {v}" for k, v in info.items()))
    assert fired["conservative"] == {"mark": 0, "index": 0}
    assert fired["placeholder"]["index"] == n_pf


def _popped_per_tick(ex: Exchange, ledger: Ledger, name: str, rule: Callable[..., Any]) -> dict[str, int]:
    """How many multi-assets accounts one mark tick and one index tick pop under ``rule``
    (counted on the risk index itself: each is popped then re-filed)."""
    refile_all(ledger, rule)
    out = {}
    try:
        for kind, key, price in (
            ("mark", "BTCUSDT", (MARKS["BTCUSDT"] + 1) * ex.markets["BTCUSDT"].instrument.subticks_per_tick),
            ("index", "@BTC", BTC_INDEX_E8 + 10**8),
        ):
            scopes = ledger.risk.pop_crossed(key, price)
            out[kind] = sum(1 for s in scopes if type(s) is Portfolio)
            for s in scopes:  # put them back as they were
                ledger.refile(s)  # type: ignore[arg-type]
            ledger.evaluate_pending()
    finally:
        ledger_module.portfolio_triggers = portfolio_triggers  # type: ignore[attr-defined]
        refile_all(ledger, portfolio_triggers)
    return out
