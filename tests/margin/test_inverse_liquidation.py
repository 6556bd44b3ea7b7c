"""Specification of inverse (COIN-M) liquidation prices: exsim.margin.liquidation and
``exsim liq-price`` with ``--symbol BTCUSD_PERP`` or ``--contract-size``.

Binance's COIN-M FAQ vectors to the last shown digit, hand-solved cross, bracket-switch
and hedge vectors, and tier consistency against a "try every bracket with the closed
form" reference. The closed form for one bracket k (Binance COIN-M, one-way), with
``face = contracts x contract size`` and money in coin::

    LP = face x (MMR_k + s) / (WB + UPNL1 - TMM1 + cum_k + s x face / EP)

(from WB + UPNL1 - TMM1 + s x face x (1/EP - 1/P) = face/P x MMR_k - cum_k).
"""

from __future__ import annotations

import argparse
import json
import re
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import exsim.cli
from exsim.errors import InputError
from exsim.instruments import BracketTable, get_instrument
from exsim.calculator.liq_price_cli import add_parser
from exsim.margin.liquidation import (
    CROSS,
    LONG,
    SHORT,
    STATUS_NEVER,
    STATUS_PRICE,
    FixedBracket,
    Position,
    bankruptcy_price,
    cross_bankruptcy_prices,
    format_price,
    inverse_unrealized_pnl,
    liquidation_price,
)
from exsim.units import ATOMS_PER_UNIT, RATE_SCALE

F = Fraction
BTCUSD = get_instrument("BTCUSD_PERP").brackets
FIXED = FixedBracket("0.004", "0")


def inv(side: int, contracts: Any, entry: Any, brackets: Any = FIXED, **kw: Any) -> Position:
    """An inverse position of 100 USD contracts (BTCUSD)."""
    return Position(side, contracts, entry, brackets, contract_size=kw.pop("contract_size", 100), **kw)


def tiers(table: BracketTable) -> list[tuple[Fraction, Fraction | None, Fraction, Fraction, int]]:
    """(floor, cap or None for the open top, mmr, cum, number) in coin."""
    out = []
    for i, b in enumerate(table.brackets):
        cap = None if i == len(table.brackets) - 1 else F(b.cap_atoms, ATOMS_PER_UNIT)
        out.append((F(b.floor_atoms, ATOMS_PER_UNIT), cap, F(b.mmr_e8, RATE_SCALE), F(b.cum_atoms, ATOMS_PER_UNIT), b.bracket))
    return out


def reference_lp(side: int, face: Fraction, entry: Fraction, wallet: Fraction, table: BracketTable,
                 tmm1: Fraction = F(0), upnl1: Fraction = F(0)) -> set[Fraction]:
    """Every bracket's closed-form LP whose coin notional at that LP lies in the bracket used."""
    found = set()
    for floor, cap, mmr, cum, _ in tiers(table):
        den = wallet + upnl1 - tmm1 + cum + side * face / entry
        if den == 0:
            continue
        lp = face * (mmr + side) / den
        if lp <= 0:
            continue
        n = face / lp
        if n >= floor and (cap is None or n < cap):
            found.add(lp)
    return found


def cents(value: Fraction) -> Fraction:
    return F(round(value, 2))


# --------------------------------------------------------------------------- API


class TestBinanceFaqVectors:
    def test_maintenance_margin_of_100_contracts_at_25000(self) -> None:
        """100 BTCUSD contracts at mark 25,000: notional 0.4 BTC; at MMR 0.4 % the maintenance margin is 0.0016 BTC."""
        pos = inv(LONG, 100, 25000, BTCUSD, mark_price=25000)
        assert pos.notional() == F("0.4")
        assert pos.maint_margin() == F("0.0016")

    def test_isolated_long(self) -> None:
        """Long 100 x 100 USD at 25,000, wallet 0.04 BTC, MMR 0.4 %: LP 22,818.18, MB = MM = 0.0017530 BTC.

        By hand: 0.04 + 10,000/25,000 - 10,000/P = 0.004 x 10,000/P, so P = 10,040/0.44
        = 22,818.1818...; MM = 40/P = 0.00175298...
        """
        r = liquidation_price(inv(LONG, 100, 25000), "0.04")
        assert r.liquidation_price == F(10040) / F("0.44")
        assert cents(r.liquidation_price) == F("22818.18")
        assert r.margin_balance_at_lp == r.maint_margin_at_lp
        assert round(r.maint_margin_at_lp, 7) == F("0.0017530")
        assert r.direction == -1 and r.status == STATUS_PRICE

    def test_isolated_short(self) -> None:
        """The same short: 0.04 + 10,000/P - 0.4 = 40/P, so LP = 9,960/0.36 = 27,666.67."""
        r = liquidation_price(inv(SHORT, 100, 25000), "0.04")
        assert r.liquidation_price == F(9960) / F("0.36")
        assert cents(r.liquidation_price) == F("27666.67")
        assert r.direction == 1 and r.margin_balance_at_lp == r.maint_margin_at_lp

    def test_shipped_brackets_give_the_same_prices(self) -> None:
        """With the shipped BTCUSD_PERP table the notional at either LP (~0.44 / 0.36 BTC) is level 1 (0.4 %, cum 0)."""
        long_r = liquidation_price(inv(LONG, 100, 25000, BTCUSD), "0.04")
        short_r = liquidation_price(inv(SHORT, 100, 25000, BTCUSD), "0.04")
        assert (long_r.liquidation_price, long_r.bracket) == (F(10040) / F("0.44"), 1)
        assert (short_r.liquidation_price, short_r.bracket) == (F(9960) / F("0.36"), 1)

    def test_display_rounds_toward_the_safe_side(self) -> None:
        """The long's LP is shown rounded up, the short's down (reached no later than the true one)."""
        assert liquidation_price(inv(LONG, 100, 25000), "0.04").to_dict()["liquidation_price"] == "22818.18181819"
        assert liquidation_price(inv(SHORT, 100, 25000), "0.04").to_dict()["liquidation_price"] == "27666.66666666"


class TestHandSolved:
    def test_cross_with_another_contract_of_the_coin(self) -> None:
        """Cross: long 2,000 BTCUSD_PERP at 30,000, wallet 1 BTC, and a short of 500 contracts (entry 31,000, mark 30,500, 0.4 %).

        Other: UPnL = -50,000 x (1/31,000 - 1/30,500) = 50/1,891 BTC, MM = 0.004 x 50,000/30,500 = 2/305 BTC.
        Level 1 (notional ~7.7 BTC < 10): 1 + 50/1,891 - 2/305 + 200,000/30,000 - 200,000/P = 800/P,
        so P = 200,800 / (1 + 20/3 + 50/1,891 - 2/305).
        """
        other = inv(SHORT, 500, 31000, mark_price=30500)
        assert other.unrealized_pnl() == F(50, 1891) and other.maint_margin() == F(2, 305)
        r = liquidation_price(inv(LONG, 2000, 30000, BTCUSD), 1, mode=CROSS, others=[other])
        want = F(200800) / (1 + F(20, 3) + F(50, 1891) - F(2, 305))
        assert r.liquidation_price == want and r.bracket == 1
        assert r.other_maint_margin == F(2, 305) and r.other_upnl == F(50, 1891)
        assert r.margin_balance_at_lp == r.maint_margin_at_lp

    def test_long_switches_to_a_higher_bracket_as_the_price_falls(self) -> None:
        """Long 3,000 contracts at 32,000 (9.375 BTC, level 1), isolated 1 BTC: the LP's notional is in level 2.

        Level 1 would give P = 301,200/10.375 = 29,031.3, notional 10.33 BTC: not level 1.
        Level 2 (0.5 %, cum 0.01): P = 300,000 x 1.005 / (1 + 0.01 + 9.375) = 301,500/10.385
        = 29,032.26, notional 10.333 BTC, in [10, 20).
        """
        pos = inv(LONG, 3000, 32000, BTCUSD)
        assert BTCUSD.bracket_for(int(pos.notional(F(32000)) * ATOMS_PER_UNIT)).bracket == 1
        r = liquidation_price(pos, 1)
        assert r.liquidation_price == F(301500) / F("10.385")
        assert (r.bracket, r.mmr, r.cum) == (2, F("0.005"), F("0.01"))
        assert F(10) <= r.legs[0].notional < 20

    def test_short_switches_to_a_lower_bracket_as_the_price_rises(self) -> None:
        """Short 1,100 contracts at 10,000 (11 BTC, level 2), isolated 2 BTC: the LP's notional is in level 1.

        Level 2 would give P = 110,000 x 0.995 / (11 - 2 - 0.01) = 12,174.6, notional 9.035: not level 2.
        Level 1: P = 110,000 x 0.996 / (11 - 2) = 109,560/9 = 12,173.33, notional 9.036 BTC.
        """
        r = liquidation_price(inv(SHORT, 1100, 10000, BTCUSD), 2)
        assert r.liquidation_price == F(109560, 9)
        assert r.bracket == 1 and r.legs[0].notional < 10

    def test_hedge_mode_both_legs_move(self) -> None:
        """Hedge: long 1,000 at 30,000 and short 400 at 31,000 in one cross wallet of 0.5 BTC.

        Both legs in level 1 at the LP: 0.5 + 100,000/30,000 - 40,000/31,000 - 60,000/P
        = 0.004 x 140,000/P, so P = 60,560 / (1/2 + 10/3 - 40/31) = 23,814.2; no second
        boundary above (F rises with P).
        """
        r = liquidation_price(
            inv(LONG, 1000, 30000, BTCUSD), "0.5", mode=CROSS, hedge_leg=inv(SHORT, 400, 31000, BTCUSD)
        )
        assert r.liquidation_price == F(60560) / (F(1, 2) + F(10, 3) - F(40, 31))
        assert [leg.bracket for leg in r.legs] == [1, 1]
        assert r.other_liquidation_price is None and r.direction == -1
        assert r.margin_balance_at_lp == r.maint_margin_at_lp

    def test_one_x_short_is_never_liquidated(self) -> None:
        """A 1x short (wallet = face / entry) is a synthetic dollar: no price liquidates it, no bankruptcy price."""
        r = liquidation_price(inv(SHORT, 100, 25000, BTCUSD), "0.4")
        assert r.status == STATUS_NEVER and r.liquidation_price is None and r.bankruptcy_price is None

    def test_bankruptcy_prices(self) -> None:
        """Isolated BP: 1/BP = 1/EP + s x WB/face; at 0.04 BTC: long 250,000/11, short 250,000/9."""
        assert bankruptcy_price(LONG, 100, 25000, "0.04", contract_size=100) == F(250000, 11)
        assert bankruptcy_price(SHORT, 100, 25000, "0.04", contract_size=100) == F(250000, 9)
        assert liquidation_price(inv(LONG, 100, 25000), "0.04").bankruptcy_price == F(250000, 11)
        assert bankruptcy_price(SHORT, 100, 25000, "0.4", contract_size=100) == 0  # none

    def test_cross_bankruptcy_split_leaves_zero(self) -> None:
        """Closing every inverse position of a coin's pool at its BP leaves the margin balance at exactly 0."""
        a = inv(LONG, 2000, 30000, BTCUSD, mark_price=29000)
        b = inv(SHORT, 500, 31000, BTCUSD, mark_price=29000)
        bps = cross_bankruptcy_prices(F("0.3"), [a, b])
        assert F("0.3") + a.unrealized_pnl(bps[0]) + b.unrealized_pnl(bps[1]) == 0

    def test_inverse_upnl(self) -> None:
        """A long of 100 x 100 USD from 25,000 to 20,000 loses 10,000 x (1/20,000 - 1/25,000) = 0.1 BTC."""
        assert inverse_unrealized_pnl(LONG, 100, 100, 25000, 20000) == F(-1, 10)


class TestRules:
    def test_linear_and_inverse_never_share_a_wallet(self) -> None:
        """A cross pool of one asset: an inverse position with a linear other contract is refused."""
        linear = Position(LONG, 1, 60000, FixedBracket("0.004", 0), mark_price=60000)
        with pytest.raises(InputError, match="never share a wallet"):
            liquidation_price(inv(LONG, 100, 25000), 1, mode=CROSS, others=[linear])

    def test_hedge_leg_has_the_same_contract_size(self) -> None:
        """A hedge leg is the same contract, so its contract size must match."""
        with pytest.raises(InputError, match="contract size"):
            liquidation_price(inv(LONG, 100, 25000), 1, mode=CROSS,
                              hedge_leg=inv(SHORT, 10, 25000, contract_size=10))

    def test_contract_size_must_be_positive(self) -> None:
        """A contract size of 0 is refused at the edge."""
        with pytest.raises(InputError, match="contract_size"):
            inv(LONG, 100, 25000, contract_size=0)

    def test_higher_mmr_liquidates_no_later(self) -> None:
        """Metamorphic: raising the MMR moves a long's LP up and a short's down."""
        for side in (LONG, SHORT):
            lo = liquidation_price(inv(side, 100, 25000, FixedBracket("0.004", 0)), "0.04").liquidation_price
            hi = liquidation_price(inv(side, 100, 25000, FixedBracket("0.01", 0)), "0.04").liquidation_price
            assert lo is not None and hi is not None and (hi > lo if side == LONG else hi < lo)


sides = st.sampled_from([LONG, SHORT])
contracts = st.integers(1, 300_000)
entries = st.integers(10_000, 1_000_000).map(lambda n: F(n, 10))  # 1,000.0 .. 100,000.0
wallet_fracs = st.integers(0, 20_000).map(lambda n: F(n, 10_000))  # 0 .. 2 x the entry notional


class TestTierConsistency:
    @settings(max_examples=300, deadline=None)
    @given(sides, contracts, entries, wallet_fracs)
    def test_isolated_matches_try_every_bracket(self, side: int, n: int, entry: Fraction, wfrac: Fraction) -> None:
        """Isolated, shipped BTCUSD_PERP brackets: the LP is the one self-consistent closed form, MB = MM there."""
        face = F(n * 100)
        wallet = wfrac * face / entry
        r = liquidation_price(inv(side, n, entry, BTCUSD), wallet)
        ref = reference_lp(side, face, entry, wallet, BTCUSD)
        if r.status != STATUS_PRICE:
            assert ref == set()
            return
        assert ref == {r.liquidation_price}
        lp = r.liquidation_price
        assert lp is not None
        notional = face / lp
        floor, cap, mmr, cum, number = next(t for t in tiers(BTCUSD) if notional >= t[0] and (t[1] is None or notional < t[1]))
        assert (r.bracket, r.mmr, r.cum) == (number, mmr, cum)
        assert wallet + side * face * (1 / entry - 1 / lp) == notional * mmr - cum == r.maint_margin_at_lp

    @settings(max_examples=150, deadline=None)
    @given(sides, contracts, entries, wallet_fracs, st.lists(st.tuples(sides, contracts, entries), max_size=3))
    def test_cross_with_others_matches_reference(
        self, side: int, n: int, entry: Fraction, wfrac: Fraction, raw: list[tuple[int, int, Fraction]]
    ) -> None:
        """Cross with other BTC contracts at their marks agrees with the per-bracket closed form."""
        others = [inv(s, q, e, BTCUSD, mark_price=e * F(9, 10)) for s, q, e in raw]
        face = F(n * 100)
        wallet = wfrac * face / entry + sum((o.notional(o.entry_price) for o in others), F(0)) / 10
        r = liquidation_price(inv(side, n, entry, BTCUSD), wallet, mode=CROSS, others=others)
        tmm1 = sum((o.maint_margin() for o in others), F(0))
        upnl1 = sum((o.unrealized_pnl() for o in others), F(0))
        ref = reference_lp(side, face, entry, wallet, BTCUSD, tmm1, upnl1)
        if r.status == STATUS_PRICE:
            assert ref == {r.liquidation_price}
            assert r.margin_balance_at_lp == r.maint_margin_at_lp
        else:
            assert ref == set()

    @settings(max_examples=150, deadline=None)
    @given(contracts, contracts, entries, entries, wallet_fracs)
    def test_hedge_root_is_a_root(self, nl: int, ns: int, el: Fraction, es: Fraction, wfrac: Fraction) -> None:
        """Hedge mode with the shipped table: at every reported boundary margin balance equals the legs' MM, each in its own bracket."""
        wallet = wfrac * F(nl * 100) / el
        r = liquidation_price(inv(LONG, nl, el, BTCUSD), wallet, mode=CROSS, hedge_leg=inv(SHORT, ns, es, BTCUSD))
        for p in (r.liquidation_price, r.other_liquidation_price):
            if p is None:
                continue
            mb = wallet + F(nl * 100) * (1 / el - 1 / p) - F(ns * 100) * (1 / es - 1 / p)
            mm = sum(
                (f / p * t[2] - t[3] for f in (F(nl * 100), F(ns * 100))
                 for t in tiers(BTCUSD) if f / p >= t[0] and (t[1] is None or f / p < t[1])),
                F(0),
            )
            assert mb == mm


class TestAgreesWithTheLedger:
    @pytest.mark.parametrize(
        ("side", "wallet", "contracts", "entry"),
        [(LONG, "0.04", 100, 25000), (SHORT, "0.04", 100, 25000), (LONG, 1, 3000, 32000), (SHORT, 2, 1100, 10000)],
    )
    def test_ledger_liquidates_on_the_calculators_side_of_the_price(
        self, side: int, wallet: Any, contracts: int, entry: int
    ) -> None:
        """A ledger cross account holding the position is liquidatable a cent past the LP and not a cent before it.

        The ledger's own figures at the mark (exact UPnL in 1e-8 atoms, maintenance margin
        rounded up in atoms, shipped BTCUSD_PERP brackets), so the calculator and the
        engine draw the line at the same price, bracket switches included.
        """
        from exsim.book.orders import BUY, SELL
        from exsim.ledger import BOTH, EXTERNAL, Ledger

        inst = get_instrument("BTCUSD_PERP")
        ledger = Ledger([inst], default_leverage=20)
        assert ledger.deposit(1, int(F(wallet) * ATOMS_PER_UNIT), asset="BTC") is None
        buy_sell = BUY if side == LONG else SELL
        ledger.apply_fill(1, 0, "BTCUSD_PERP", buy_sell, contracts, entry * 10, 0, BOTH)
        ledger.apply_fill(EXTERNAL, 0, "BTCUSD_PERP", SELL if buy_sell == BUY else BUY, contracts, entry * 10, 0, BOTH)
        ledger._check()
        lp = liquidation_price(inv(side, contracts, entry, BTCUSD), wallet, mode=CROSS).liquidation_price
        assert lp is not None
        acct = ledger.account(1, "BTC")
        pos = acct.positions[("BTCUSD_PERP", BOTH)]

        def liquidatable(price: Fraction) -> bool:
            ledger.on_mark("BTCUSD_PERP", int(price * 10**8))  # subticks: 1e-8 USD
            _, upnl_e8, mm = ledger.position_figures_e8(pos)
            return bool(acct.wallet_atoms * 10**8 + upnl_e8 <= mm * 10**8)

        cent = F(1, 100)
        past, before = (lp - cent, lp + cent) if side == LONG else (lp + cent, lp - cent)
        assert liquidatable(past) and not liquidatable(before)


# --------------------------------------------------------------------------- CLI


def local_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="exsim")
    add_parser(parser.add_subparsers(dest="command", metavar="COMMAND"))
    return parser


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Any:
    """Run ``exsim liq-price ARGS`` through exsim.cli.main; returns (rc, stdout, stderr)."""
    monkeypatch.setattr(exsim.cli, "build_parser", local_parser)

    def run(*args: str) -> tuple[int, str, str]:
        rc = exsim.cli.main(["liq-price", *args])
        out, err = capsys.readouterr()
        return rc, out, err

    return run


def as_json(cli: Any, *args: str) -> dict[str, Any]:
    rc, out, err = cli(*args, "--json")
    assert (rc, err) == (0, "")
    data: dict[str, Any] = json.loads(out)
    return data


FAQ = ["--qty", "100", "--entry", "25000", "--wallet", "0.04"]
FIXED_ARGS = ["--contract-size", "100", "--mmr", "0.004", "--cum", "0"]


class TestCli:
    @pytest.mark.parametrize("contract", [FIXED_ARGS, ["--symbol", "BTCUSD_PERP"], ["--symbol", "BTC/USD:BTC"]])
    def test_faq_long(self, cli: Any, contract: list[str]) -> None:
        """The FAQ long through the CLI: 22,818.18, margin balance = maintenance margin = 0.0017530 BTC."""
        d = as_json(cli, "--side", "long", *FAQ, *contract)
        assert cents(F(d["liquidation_price"])) == F("22818.18")
        assert d["margin_balance_at_lp"] == d["maint_margin_at_lp"]
        assert round(F(d["maint_margin_at_lp"]), 7) == F("0.0017530")
        assert d["inverse"] is True and d["contract_size"] == "100"
        assert F(d["notional_at_lp"]) == F(d["legs"][0]["notional_at_lp"]) and round(F(d["notional_at_lp"]), 4) == F("0.4382")

    def test_faq_short(self, cli: Any) -> None:
        """The FAQ short through the CLI: 27,666.67."""
        d = as_json(cli, "--side", "short", *FAQ, *FIXED_ARGS)
        assert cents(F(d["liquidation_price"])) == F("27666.67")
        assert d["liquidated_when"] == "mark >= liquidation_price"

    def test_json_names_the_asset(self, cli: Any) -> None:
        """--symbol BTCUSD_PERP labels the money BTC; --asset labels a fixed bracket's coin."""
        assert as_json(cli, "--side", "long", *FAQ, "--symbol", "BTCUSD_PERP")["asset"] == "BTC"
        assert as_json(cli, "--side", "long", *FAQ, *FIXED_ARGS, "--asset", "btc")["asset"] == "BTC"
        assert as_json(cli, "--side", "long", *FAQ, *FIXED_ARGS)["asset"] is None

    def test_text_output_in_coin(self, cli: Any) -> None:
        """The text names contracts, the coin notional and the bracket at the LP."""
        rc, out, err = cli("--side", "long", *FAQ, "--symbol", "BTCUSD_PERP")
        assert (rc, err) == (0, "")
        assert "long 100 contracts x 100 BTCUSD_PERP @ 25000, isolated margin, wallet 0.04 BTC" in out
        assert "liquidation price 22818.18181819" in out
        assert "bracket 1, MMR 0.4 %, cum 0; coin notional 0.43824702 BTC" in out

    def test_cross_other_in_contracts(self, cli: Any) -> None:
        """--other in contracts (SIZE defaults to the position's) gives the hand-solved cross LP."""
        d = as_json(cli, "--side", "long", "--qty", "2000", "--entry", "30000", "--wallet", "1", "--mode", "cross",
                    "--symbol", "BTCUSD_PERP", "--other", "short:500:31000:30500:0.004:0")
        want = F(200800) / (1 + F(20, 3) + F(50, 1891) - F(2, 305))
        assert d["liquidation_price"] == format_price(want, round_up=True)
        same = as_json(cli, "--side", "long", "--qty", "2000", "--entry", "30000", "--wallet", "1", "--mode", "cross",
                       "--symbol", "BTCUSD_PERP", "--other", "short:500:31000:30500:0.004:0:100")
        assert same["liquidation_price"] == d["liquidation_price"]

    def test_bracket_switch_and_hedge(self, cli: Any) -> None:
        """The hand-solved bracket switch and hedge vectors through the CLI."""
        d = as_json(cli, "--side", "long", "--qty", "3000", "--entry", "32000", "--wallet", "1", "--symbol", "BTCUSD_PERP")
        assert d["liquidation_price"] == format_price(F(301500) / F("10.385"), round_up=True) and d["bracket"] == 2
        h = as_json(cli, "--side", "long", "--qty", "1000", "--entry", "30000", "--wallet", "0.5", "--mode", "cross",
                    "--symbol", "BTCUSD_PERP", "--hedge-leg", "short:400:31000")
        assert h["liquidation_price"] == format_price(F(60560) / (F(1, 2) + F(10, 3) - F(40, 31)), round_up=True)

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (["--symbol", "BTCUSDT", "--contract-size", "100"], r"--contract-size: BTCUSDT is a linear \(USDⓈ-M\) contract"),
            (["--symbol", "BTCUSD_PERP", "--contract-size", "100"], "--contract-size: BTCUSD_PERP's contract size is shipped"),
            (["--symbol", "BTCUSD_PERP", "--asset", "BTC"], "--asset: BTCUSD_PERP names its settlement asset"),
            (["--mmr", "0.004", "--cum", "0", "--asset", "BTC"], "--asset: .*needs --contract-size"),
            (["--contract-size", "0", "--mmr", "0.004", "--cum", "0"], "--contract-size: '0' must be > 0"),
            (["--contract-size", "100", "--mmr", "0.004"], "--cum: --mmr needs --cum C .*in coin"),
            (["--symbol", "ADAUSD_PERP"], "--symbol: .*ADAUSD_PERP: no leverage brackets are shipped"),
            (["--mode", "cross", "--mmr", "0.004", "--cum", "0", "--other", "long:1:2:3:0.004:0:100"],
             "--other #1: .*SIZE, the seventh field, is for inverse contracts"),
            (["--mode", "cross", *FIXED_ARGS, "--other", "long:1:2:3:0.004"], "--other #1: .*six or seven fields"),
        ],
    )
    def test_mixing_errors(self, cli: Any, args: list[str], message: str) -> None:
        """Mixing linear and inverse options is one clear error line, exit 2, nothing printed."""
        rc, out, err = cli("--side", "long", *FAQ, *args)
        assert rc == 2 and out == ""
        assert err.startswith("exsim: error: ") and err.count("\n") == 1
        assert re.search(message, err), err
