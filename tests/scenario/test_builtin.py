"""The built-in scenarios' outcomes, pinned, with the hand computation behind each figure.

Every run here checks the ledger and the exchange after every command
(``check_every_event``): money conserved, no negative balance, books uncrossed, trigger
index exact. Money is compared in exact atoms.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest

from exsim.scenario.cli import BUILTIN_ORDER, list_builtins, resolve
from exsim.scenario.runner import ScenarioRun
from exsim.scenario.spec import load_scenario


def run(name: str, mode: str) -> dict[str, Any]:
    return ScenarioRun(load_scenario(resolve(name)), margin_mode=mode, check_every_event=True).run()


def account(summary: dict[str, Any], name: str) -> dict[str, Any]:
    return next(a for a in summary["accounts"] if a["name"] == name)


def usdt(text: str) -> Decimal:
    return Decimal(text)


def test_every_builtin_is_listed_and_loads() -> None:
    names = [n for n, _ in list_builtins()]
    assert names == list(BUILTIN_ORDER)
    for name, description in list_builtins():
        assert description, name
        assert load_scenario(resolve(name)).name == name


# --------------------------------------------------------------------------- 1
def test_one_position_isolated_loses_52_63_and_keeps_947_37() -> None:
    """1,000 USDT account, long 1 DEMO at 1,000, 10x, isolated: bucket 100, MM 5 % of the mark.

    Liquidation when bucket + UPnL <= MM:  100 + (P − 1,000) = 0.05 P  →  P = 900 / 0.95
    = 947.368421…; the path's first mark at or below it is 947.368 (40 min). The book's
    best bid is the mark, so the position sells at 947.368: realised −52.632, the bucket
    returns 100 − 52.632 = 47.368 (no clearance fee) to the 900 left in the wallet:
    947.368 — "lose 52.63, keep 947.37". Before that, at 950: 50 > 47.5, no liquidation.
    """
    lp = Fraction(900) / Fraction("0.95")
    assert Decimal("947.368") <= lp < Decimal("947.369")
    s = run("one-position", "isolated")
    a = account(s, "trader")
    assert [x["after_s"] for x in a["liquidations"]] == ["2400"]
    assert a["liquidations"][0]["marks"] == ["947.368"]
    assert usdt(a["realised_pnl"]) == Decimal("947.368") - 1000 == Decimal("-52.632")
    assert usdt(a["remaining_balance"]) == 1000 - Decimal("52.632") == Decimal("947.368")
    assert usdt(a["wallet"]) == Decimal("947.368")
    assert a["open_positions"] == []


def test_one_position_cross_holds_on_and_can_lose_the_whole_account() -> None:
    """Cross: margin balance = 1,000 + (P − 1,000) = P, MM = 0.05 P < P for every P > 0.

    So the pool is never liquidated, whatever the fall: at the path's last mark, 1.000,
    the account has 1.000 left of 1,000 — it lost 999, nearly all of it, still open.
    """
    s = run("one-position", "cross")
    a = account(s, "trader")
    assert a["liquidations"] == []
    assert usdt(a["remaining_balance"]) == Decimal(1)
    assert usdt(a["max_drawdown"]) == Decimal(999)
    assert usdt(a["lowest_headroom"]) == Decimal("0.95")  # MM / balance = 0.05 P / P all along
    assert a["open_positions"] == ["DEMOUSDT long 1.000"]


def test_one_position_with_entry_maintenance_keeps_the_articles_950() -> None:
    """MM held at its entry value: 5 % × 1,000 = 50 whatever the mark.

    Isolated: 100 + (P − 1,000) = 50  →  P = 950 exactly (Bybit's LP = EP − (IM − MM)/Q):
    liquidated at the 30 min mark 950, sold at 950, keeps 900 + 50 = 950 — "lose 50, keep
    950". Cross: P <= 50 first at the last mark, 1.000: liquidated there, keeps 1.000.
    """
    iso = account(run("one-position-entry-mm", "isolated"), "trader")
    assert [x["after_s"] for x in iso["liquidations"]] == ["1800"]
    assert usdt(iso["remaining_balance"]) == Decimal(950)
    assert usdt(iso["realised_loss"]) == Decimal(50)
    cross = account(run("one-position-entry-mm", "cross"), "trader")
    assert [(x["after_s"], x["marks"]) for x in cross["liquidations"]] == [("5400", ["1.000"])]
    assert usdt(cross["remaining_balance"]) == Decimal(1)


# --------------------------------------------------------------------------- 2
CRASH = {"BTCUSDT": (Decimal("0.1"), 60000, Decimal("0.15"), Decimal("0.004")),
         "ETHUSDT": (Decimal(2), 3000, Decimal("0.20"), Decimal("0.004")),
         "SOLUSDT": (Decimal(40), 150, Decimal("0.30"), Decimal("0.005"))}


def crash_price(symbol: str, f: Decimal) -> Decimal:
    _, p0, drop, _ = CRASH[symbol]
    return p0 * (1 - drop * f)


def test_correlated_crash_cross_liquidates_everything_at_the_bottom() -> None:
    """Cross, deposit 3,950: 6,000 USDT of each falls 15 / 20 / 30 %, so at crash fraction f
    the pool has lost 6,000 × (0.15 + 0.20 + 0.30) f = 3,900 f.

    f = 0.9: balance 3,950 − 3,510 = 440 > MM = 0.004·5,190 + 0.004·4,920 + 0.005·4,380
    = 62.34. f = 1: balance 50 <= MM = 0.004·5,100 + 0.004·4,800 + 0.005·4,200 = 60.60:
    the pool is liquidated, all three positions in one step at 50 min, each sold at its
    mark (the book's best bid): the account keeps 50.
    """
    def pool(f: Decimal) -> tuple[Decimal, Decimal]:
        loss = sum(q * (p0 - crash_price(s, f)) for s, (q, p0, _, _) in CRASH.items())
        mm = sum(q * crash_price(s, f) * mmr for s, (q, _, _, mmr) in CRASH.items())
        return 3950 - loss, mm

    assert pool(Decimal("0.9")) == (440, Decimal("62.34"))
    assert pool(Decimal(1)) == (50, Decimal("60.60"))
    a = account(run("correlated-crash", "cross"), "trader")
    assert len(a["liquidations"]) == 1
    liq = a["liquidations"][0]
    assert liq["scope"] == "cross" and liq["after_s"] == "3000"
    assert sorted(liq["positions"]) == ["BTCUSDT long 0.100", "ETHUSDT long 2.000", "SOLUSDT long 40"]
    assert usdt(liq["margin_balance"]) == 50 and usdt(liq["maint_margin"]) == Decimal("60.6")
    assert usdt(a["remaining_balance"]) == 50
    assert a["open_positions"] == []


def test_correlated_crash_isolated_liquidates_only_the_eth_bucket() -> None:
    """Isolated buckets: BTC 6,000/5 = 1,200, ETH 6,000/10 = 600, SOL 6,000/3 = 2,000; wallet
    3,950 − 3,800 = 150.

    ETH: LP = (6,000 − 600) / (2 × (1 − 0.004)) = 2,710.84…; at f = 0.49 ETH is 2,706 <= LP
    (20 min): sold at 2,706, realised (2,706 − 3,000) × 2 = −588, the bucket's 12 back to the
    wallet → 162. BTC: LP = (6,000 − 1,200) / (0.1 × 0.996) = 48,192.77 < 51,000, the bottom;
    SOL: LP = (6,000 − 2,000) / (40 × 0.995) = 100.50 < 105: both survive. At the bottom:
    162 + (1,200 − 900) + (2,000 − 1,800) = 662.
    """
    eth_lp = Fraction(6000 - 600) / (2 * Fraction("0.996"))
    assert Fraction(2706) <= eth_lp < Fraction(2712)
    assert Fraction(6000 - 1200) / (Fraction("0.1") * Fraction("0.996")) < 51000
    assert Fraction(6000 - 2000) / (40 * Fraction("0.995")) < 105
    a = account(run("correlated-crash", "isolated"), "trader")
    assert [(x["after_s"], x["scope"], x["positions"]) for x in a["liquidations"]] == [
        ("1200", "isolated", ["ETHUSDT long 2.000"])
    ]
    assert usdt(a["realised_pnl"]) == -588
    assert usdt(a["wallet"]) == 162
    assert usdt(a["remaining_balance"]) == 162 + (1200 - 900) + (2000 - 1800) == 662
    assert sorted(a["open_positions"]) == ["BTCUSDT long 0.100", "SOLUSDT long 40"]


# --------------------------------------------------------------------------- 3
def test_rally_with_alt_weakness_cross_survives() -> None:
    """Cross, deposit 1,200, BTC and ETH 10x longs of 6,000 each.

    Worst point (60 min): BTC 72,000 (+1,200), ETH 2,550 (−900): balance 1,500 against MM
    0.004 × 7,200 + 0.004 × 5,100 = 49.2. At the end ETH is back at 2,850: 1,200 + 1,200
    − 300 = 2,100, no liquidation.
    """
    a = account(run("rally-alt-weakness", "cross"), "trader")
    assert a["liquidations"] == []
    assert usdt(a["remaining_balance"]) == 1200 + 1200 - 300 == 2100


def test_rally_with_alt_weakness_isolated_liquidates_eth_though_the_account_gains() -> None:
    """Isolated ETH bucket 600: LP = 5,400 / 1.992 = 2,710.84; at 45 min ETH is 2,706 while
    BTC is up 900 in its own bucket (the account as a whole is up 900 − 588 = +312). ETH is
    sold at 2,706: −588, 12 back. At the end: 12 + 600 + 1,200 (BTC at 72,000) = 1,812 —
    288 less than cross, the ETH rebound missed.
    """
    a = account(run("rally-alt-weakness", "isolated"), "trader")
    assert [(x["after_s"], x["positions"]) for x in a["liquidations"]] == [("2700", ["ETHUSDT long 2.000"])]
    assert usdt(a["realised_pnl"]) == -588
    assert usdt(a["remaining_balance"]) == 12 + 600 + 1200 == 1812


# --------------------------------------------------------------------------- 4
def test_range_chop_many_small_isolated_liquidations_vs_a_slow_cross_bleed() -> None:
    """Seeded (generator seed 2): pinned. Isolated: each 50x bucket dies on a ~1.6 % dip, four
    times; cross rides every swing with the whole 6,000 and ends a little down, paying fees
    and funding (longs pay 0.01 % every 8 h) on a position grown to 1.2 BTC.
    """
    iso = account(run("range-chop", "isolated"), "dip buyer")
    cross = account(run("range-chop", "cross"), "dip buyer")
    assert [x["after_s"] for x in iso["liquidations"]] == ["23400", "79200", "88200", "149400"]
    assert all(x["scope"] == "isolated" and len(x["positions"]) == 1 for x in iso["liquidations"])
    assert cross["liquidations"] == []
    assert cross["open_positions"] == ["BTCUSDT long 1.200"]
    # the bleed is what fees and funding cost: realised = −fees + funding, nothing else closed
    assert usdt(cross["realised_pnl"]) == -usdt(cross["fees"]) + usdt(cross["funding"]) < 0
    assert usdt(cross["funding"]) < 0
    assert usdt(iso["realised_loss"]) > 10 * usdt(cross["realised_loss"])
    assert (usdt(iso["remaining_balance"]), usdt(cross["remaining_balance"])) == (
        Decimal("4659.82501"), Decimal("5868.531738")
    )


# --------------------------------------------------------------------------- 5
def test_hedged_pair_cross_nets_the_legs() -> None:
    """Long 0.1 BTC, short 2 ETH, 10x each, deposit 1,200. At the low (30 min) BTC −900, ETH
    +1,080: the cross pool has 1,380, far above its MM. At the end (BTC 58,000, ETH 2,850):
    1,200 − 200 + 300 = 1,300, nothing liquidated.

    Isolated: the BTC bucket alone (600) meets its LP 5,400 / 0.0996 = 54,216.87 at 20 min
    (54,200), sold there: −580, 20 back; the ETH short's gain could not help it. End:
    20 + 600 + 300 = 920.
    """
    cross = account(run("hedged-pair", "cross"), "pair trader")
    assert cross["liquidations"] == []
    assert usdt(cross["remaining_balance"]) == 1300
    iso = account(run("hedged-pair", "isolated"), "pair trader")
    assert [(x["after_s"], x["positions"]) for x in iso["liquidations"]] == [("1200", ["BTCUSDT long 0.100"])]
    assert usdt(iso["realised_pnl"]) == -580
    assert usdt(iso["remaining_balance"]) == 20 + 600 + 300 == 920


# --------------------------------------------------------------------------- 6
def test_cascade_mostly_isolated_is_deeper_than_mostly_cross() -> None:
    """Same 300 accounts, same 5 BTC market sell into a thin book; pinned (seeded draws).

    Mostly isolated: buckets hold only the initial margin, so the 100x longs fall first,
    the fund dumps what it took over, and 50x and 20x follow: 5 generations. Mostly cross:
    the same accounts back their positions with twice the margin, only the isolated
    minority's 100x longs go, and the chain stops after one generation.
    """
    iso = run("cascade", "isolated")
    cross = run("cascade", "cross")
    ci, cc = iso["cascade"], cross["cascade"]
    assert (ci["generations"], ci["liquidated_accounts"]) == (5, 162)
    assert (cc["generations"], cc["liquidated_accounts"]) == (1, 13)
    assert ci["price"]["BTCUSDT"]["lowest_mark"] == "55935.0"
    assert cc["price"]["BTCUSDT"]["lowest_mark"] == "59265.0"
    # the insurance fund's path: every change (takeovers, clearance fees, unwinding), ending
    # at the fund's final balance; the fund lost money unwinding what it took over
    path = [Decimal(x["balance"]) for x in ci["insurance_fund_path"]]
    assert path and path[-1] == Decimal(iso["insurance_fund_end"]) == Decimal("47762.68")
    # the last change is the unwinding of generation 5's takeovers, on the next mark
    assert [x["generation"] for x in ci["insurance_fund_path"]][-1] == 6
    assert iso["population"]["liquidated"] == 162 and cross["population"]["liquidated"] == 13


@pytest.mark.parametrize("name", [n for n in BUILTIN_ORDER if n != "cascade"])
def test_builtin_runs_are_repeatable(name: str) -> None:
    a = run(name, "isolated")
    b = run(name, "isolated")
    assert a["state_hash"] == b["state_hash"]
