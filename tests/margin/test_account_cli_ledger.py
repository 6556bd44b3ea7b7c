"""The calculator agrees with the ledger: ``exsim margin``'s account figures equal
``Ledger.portfolio_figures`` for the same account built in a real :class:`Ledger`
(deposits, fills against EXTERNAL through ``apply_fill``, marks through ``on_mark``,
collateral through ``set_collateral_rule``), to the last usd_e40 unit."""

from __future__ import annotations

from pathlib import Path

import pytest

from exsim.book.orders import BUY, SELL
from exsim.ledger import BOTH, EXTERNAL, Ledger
from exsim.ledger.collateral import MULTI_ASSETS, AccountFigures
from exsim.calculator.account_cli import AccountSpec, Shock, base_state, load_account, portfolio_figures, shocked_state

ACCOUNTS = Path(__file__).resolve().parents[2] / "examples" / "accounts"
TRADER = 1


def build_ledger(acct: AccountSpec) -> Ledger:
    """The account of ``acct`` in a real ledger, built only through its public methods.

    A negative wallet is reached as a trader reaches it: a deposit of |W|, then a round
    trip in the asset's first instrument that loses 2|W| (bought higher than sold).
    """
    instruments = {p.symbol: p.instrument for p in acct.positions}
    ledger = Ledger(list(instruments.values()), assets=tuple(acct.assets))
    for asset, rule in acct.rules.items():
        ledger.add_asset(asset)
        assert ledger.set_collateral_rule(asset, rule) is None
    for asset, atoms in acct.wallets.items():
        if atoms:
            assert ledger.deposit(TRADER, abs(atoms), asset) is None
    for asset in acct.assets:  # every asset's account exists before the switch
        if not acct.wallets.get(asset):
            ledger.account(TRADER, asset)
    assert ledger.set_collateral_mode(TRADER, MULTI_ASSETS) is None
    order = iter(range(1000, 2000))
    for asset, atoms in acct.wallets.items():
        if atoms >= 0:
            continue
        p = next(x for x in acct.positions if x.asset == asset)
        inst = p.instrument
        per_tick = p.lots * inst.atoms_per_tick_lot
        assert (2 * -atoms) % per_tick == 0, "the example's debt must be reachable on the tick grid"
        entry_ticks = p.cost_atoms // per_tick
        high = entry_ticks + 2 * -atoms // per_tick
        for side, ticks in ((BUY, high), (SELL, entry_ticks)):
            ledger.apply_fill(TRADER, next(order), p.symbol, side, p.lots, ticks, 0, BOTH)
            ledger.apply_fill(EXTERNAL, next(order), p.symbol, side ^ 1, p.lots, ticks, 0, BOTH)
        assert ledger.account(TRADER, asset).wallet_atoms == atoms
    for p in acct.positions:
        assert ledger.set_leverage(TRADER, p.symbol, p.leverage) is None
        per_tick = p.lots * p.instrument.atoms_per_tick_lot
        ticks = p.cost_atoms // per_tick
        side = BUY if p.side > 0 else SELL
        ledger.apply_fill(TRADER, next(order), p.symbol, side, p.lots, ticks, 0, BOTH)
        ledger.apply_fill(EXTERNAL, next(order), p.symbol, side ^ 1, p.lots, ticks, 0, BOTH)
        ledger.on_mark(p.symbol, p.mark_subticks)
    ledger._check()
    return ledger


def by_asset(f: AccountFigures) -> dict[str, tuple[int, ...]]:
    return {a.asset: tuple(a[1:]) for a in f.assets}


EXAMPLES = sorted(p.name for p in ACCOUNTS.glob("*.toml"))


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_figures_equal_the_ledger(name: str) -> None:
    """Equity, IM, MM and every per-asset figure of each shipped example account equal
    the ledger's ``portfolio_figures`` for the same account, exactly."""
    acct = load_account(ACCOUNTS / name)
    ledger = build_ledger(acct)
    mine = portfolio_figures(acct, base_state(acct))
    theirs = ledger.portfolio_figures(TRADER)
    assert by_asset(mine) == by_asset(theirs)
    assert (mine.equity_usd_e40, mine.initial_usd_e40, mine.maint_usd_e40) == (
        theirs.equity_usd_e40, theirs.initial_usd_e40, theirs.maint_usd_e40,
    )


def test_haircut_shock_equals_the_ledger_rule_change() -> None:
    """The stress table's '+10 points' row is what the ledger computes after
    ``set_collateral_rule`` with the shifted rules (the haircut shock as a command)."""
    acct = load_account(ACCOUNTS / "bybit-tiered-btc-collateral.toml")
    ledger = build_ledger(acct)
    shocked = shocked_state(acct, Shock("h", haircut_points_e8=10_000_000))
    for asset, rule in shocked.rules.items():
        assert ledger.set_collateral_rule(asset, rule) is None
    mine = portfolio_figures(acct, shocked)
    theirs = ledger.portfolio_figures(TRADER)
    assert by_asset(mine) == by_asset(theirs)
    assert mine.equity_usd_e40 == theirs.equity_usd_e40 < portfolio_figures(acct, base_state(acct)).equity_usd_e40


def test_price_shock_equals_the_ledger_marks() -> None:
    """The stress table's 'prices −10 %' row is what the ledger computes with the marks
    moved by ``on_mark`` (the shocked marks rounded down to 1e-8, as the calculator does)."""
    acct = load_account(ACCOUNTS / "upnl-several-assets.toml")
    ledger = build_ledger(acct)
    shocked = shocked_state(acct, Shock("p", marks_e8=-10_000_000))
    for symbol, mark in shocked.marks.items():
        ledger.on_mark(symbol, mark)
    mine = portfolio_figures(acct, shocked)
    theirs = ledger.portfolio_figures(TRADER)
    assert by_asset(mine) == by_asset(theirs)
    assert (mine.equity_usd_e40, mine.maint_usd_e40) == (theirs.equity_usd_e40, theirs.maint_usd_e40)
