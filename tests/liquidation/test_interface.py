"""The liquidation engine asks the exchange only what its interface lists.

:class:`exsim.liquidation.interface.ExchangeForLiquidation` is the whole of what the
engine may use of the exchange (cancel in scope, submit a liquidation order, report a
takeover or ADL, emit, and a few reads). Checked three ways: the engine's source names no
other attribute of the exchange; :class:`~exsim.exchange.Exchange` implements every
member with the same parameters; and whole seeded stress runs (every venue, inverse
contracts, multi-assets accounts) give the same events and state hash when the engine
holds a stand-in that lets through only the interface's members.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path
from typing import Any

import pytest

from exsim.exchange import Exchange
from exsim.liquidation import engine
from exsim.liquidation.interface import ExchangeForLiquidation
from exsim.testing.stress import StressRun

MEMBERS = frozenset(
    name for name, value in vars(ExchangeForLiquidation).items()
    if not name.startswith("_") and (callable(value) or isinstance(value, property))
)  # fmt: skip


def test_the_interface_is_the_issue_s_list() -> None:
    """Cancel in scope, submit a liquidation order, take over / deleverage, emit, and reads."""
    assert MEMBERS == {
        "ledger", "command_seq", "instrument", "previous_mark_subticks", "open_order",
        "cancel_in_scope", "submit_liquidation_order", "report_transfer",
        "emit_auto_exchange", "emit_liquidation", "set_fund_seen",
    }  # fmt: skip


def exchange_attributes_used_by_the_engine() -> dict[str, list[int]]:
    """Attribute name -> lines, for every ``ex.NAME`` / ``self.exchange.NAME`` in engine.py."""
    tree = ast.parse(Path(engine.__file__).read_text(encoding="utf-8"))
    used: dict[str, list[int]] = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        value = node.value
        is_ex = isinstance(value, ast.Name) and value.id == "ex"
        is_self_exchange = (
            isinstance(value, ast.Attribute) and value.attr == "exchange"
            and isinstance(value.value, ast.Name) and value.value.id == "self"
        )  # fmt: skip
        if is_ex or is_self_exchange:
            used.setdefault(node.attr, []).append(node.lineno)
    return used


def test_the_engine_source_uses_only_the_interface() -> None:
    """No ``ex._private`` and nothing outside the interface (the names with their lines)."""
    used = exchange_attributes_used_by_the_engine()
    assert used, "the scan found no use of the exchange at all: it no longer sees the engine's code"
    assert {name: lines for name, lines in used.items() if name not in MEMBERS} == {}


@pytest.mark.parametrize("name", sorted(MEMBERS))
def test_the_exchange_implements_each_member_with_the_same_parameters(name: str) -> None:
    declared = vars(ExchangeForLiquidation)[name]
    if isinstance(declared, property):  # a plain attribute or a property of the exchange
        ex = Exchange([])
        assert hasattr(ex, name)
        return
    implemented = getattr(Exchange, name)
    assert callable(implemented)
    assert list(inspect.signature(implemented).parameters.values()) == list(inspect.signature(declared).parameters.values())


class OnlyTheInterface:
    """Stands in for the exchange in the engine: the interface's members pass, any other
    name fails the test. Reads and calls go to the real exchange."""

    def __init__(self, exchange: Exchange) -> None:
        object.__setattr__(self, "_exchange", exchange)

    def __getattr__(self, name: str) -> Any:
        if name not in MEMBERS:
            raise AssertionError(f"the liquidation engine asked the exchange for {name!r}, outside its interface")
        return getattr(object.__getattribute__(self, "_exchange"), name)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AssertionError(f"the liquidation engine set the exchange's {name!r}")


def stress_run(guarded: bool, events: int, **kw: Any) -> tuple[str, int, int, dict[str, int]]:
    run = StressRun(seed=11, check_every=64, **kw)
    if guarded:
        liquidator = run.exchange.liquidator
        assert liquidator is not None
        liquidator.exchange = OnlyTheInterface(run.exchange)  # type: ignore[assignment]
    result = run.run(events)
    assert result.violation is None, result.violation
    liquidations = result.liquidations_isolated + result.liquidations_cross
    return result.state_hash, liquidations, result.adl_fills + result.takeovers, result.event_counts


@pytest.mark.parametrize(
    "kw",
    [
        {},  # Binance, linear and inverse: bankruptcy IOC, partial, clearance fee, takeover, ADL, unwind
        {"multi_assets": 4},  # whole-account liquidations with auto-exchange
        {"venue": "bybit"},  # the ladder
        {"venue": "hyperliquid"},  # market chunks, cooldown, ADL at the previous mark
        {"venue": "dydx"},  # the fillable price and its retries (these runs deleverage no one)
    ],
    ids=["binance", "multi-assets", "bybit", "hyperliquid", "dydx"],
)
def test_a_stress_run_through_only_the_interface_is_the_same_run(kw: dict[str, Any]) -> None:
    """Same events and hash through the stand-in, and the run did liquidate."""
    guarded = stress_run(True, 6_000, **kw)
    assert guarded == stress_run(False, 6_000, **kw)
    assert guarded[1] > 0  # liquidations happened
    assert guarded[2] > 0 or kw.get("venue") == "dydx"  # and takeovers or ADL
