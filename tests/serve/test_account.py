"""The account side of ``exsim serve`` (``exsim.serve.account``): Binance's account
endpoints, settings and user-data events, every figure from the ledger.

Units by hand (see ``tests/liquidation/harness.py``): BTCUSDT tick 0.1, lot 0.001, so
``q`` lots at ``px`` ticks are ``q * px * 10_000`` atoms; 1 USDT = 1e8 atoms. The
instrument of most tests has one bracket (maintenance rate 0.5 %, max leverage 50) and
no fees, so every expected figure is plain arithmetic written next to it.

The venue here is a stand-in with the contract's surface (``ledger``, ``instruments``,
``now_ns``, ``send``, ``publish_user``, and the real venue's ``liquidation_price_subticks``)
over a real Exchange and Ledger; ``TestThroughTheVenue`` drives the real
``exsim.serve.venue.Venue``.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
from decimal import Decimal
from typing import Any, Callable

import attrs
import pytest

from exsim.book.orders import BUY, GTC, LIMIT, MARKET, SELL
from exsim.cli import main as exsim_main
from exsim.exchange import (
    Deposit,
    Exchange,
    NewOrder,
    SetMarkPrice,
    SettleFunding,
)
from exsim.instruments import get_instrument
from exsim.instruments.brackets import BracketTable
from exsim.ledger import BOTH, LONG, SHORT, Ledger, Reason
from exsim.serve import account as acc
from exsim.serve.binance import ENDPOINTS, SIGNED, BinanceError, Params
from exsim.serve.venue import Venue
from exsim.sinks import MemorySink

USDT = 10**8
SYM = "BTCUSDT"
T0_NS = 1_642_723_200_000_000_000  # 2022-01-21 00:00 UTC
T0_MS = T0_NS // 1_000_000
ME, MAKER = 1, 2


def plain_btc(mmr: str = "0.005", max_leverage: int = 50, **changes: Any) -> Any:
    """BTCUSDT with one bracket (``mmr``, cap 100M USDT), no fees, no minimum notional."""
    brackets = BracketTable.from_tiers([("0", "100000000", mmr, str(max_leverage))], symbol=SYM)
    spec: dict[str, Any] = dict(brackets=brackets, min_notional_atoms=0, taker_fee_e8=0, maker_fee_e8=0, clearance_fee_e8=0)
    spec.update(changes)
    return attrs.evolve(get_instrument(SYM), **spec)


class StandInVenue:
    """The venue surface the account feed uses, over a real Exchange + Ledger.

    Every command is submitted 1 ms after the previous one; its events go to the feed
    (as the real venue does) and are returned.
    """

    def __init__(self, *instruments: Any, default_leverage: int = 20, fund: int = 0) -> None:
        instruments = instruments or (plain_btc(),)
        self.instruments = {i.symbol: i for i in instruments}
        self.symbols = sorted(self.instruments)
        self.ledger = Ledger(instruments, default_leverage=default_leverage, insurance_fund_atoms=fund)
        self.sink = MemorySink()
        self.exchange = Exchange(instruments, sinks=[self.sink], ledger=self.ledger)
        self.now_ns = T0_NS
        self.pushed: list[tuple[int, dict[str, Any]]] = []
        self.account = acc.AccountFeed(self)

    def submit(self, command: Any) -> list[Any]:
        self.now_ns += 1_000_000
        start = len(self.sink.events)
        self.exchange.submit(command._replace(ts_ns=self.now_ns))
        events = self.sink.events[start:]
        self.ledger._check()
        self.account.on_events(events)
        return events

    async def send(self, make: Callable[[int], Any]) -> list[Any]:
        return self.submit(make(self.now_ns + 1_000_000))

    def publish_user(self, account_id: int, payload: dict[str, Any]) -> None:
        self.pushed.append((account_id, payload))

    # the real venue's: exsim liq-price's figure for the account's position (needs only
    # ledger, exchange and instruments)
    liquidation_price_subticks = Venue.liquidation_price_subticks
    _lp_position = Venue._lp_position

    # -- helpers
    def fund(self, account: int, usdt: int) -> None:
        self.submit(Deposit(0, account, usdt * USDT))

    def trade(self, buyer: int, seller: int, lots: int, px_ticks: int, *, buyer_ps: int = BOTH, seller_ps: int = BOTH) -> None:
        """``seller`` rests an ask at ``px_ticks``, ``buyer`` takes it."""
        self.submit(NewOrder(0, seller, SYM, SELL, lots, px_ticks, LIMIT, GTC, position_side=seller_ps))
        self.submit(NewOrder(0, buyer, SYM, BUY, lots, 0, MARKET, position_side=buyer_ps))

    def mark(self, px_ticks: int) -> list[Any]:
        return self.submit(SetMarkPrice(0, SYM, px_ticks * self.instruments[SYM].subticks_per_tick))

    def pushes(self, account: int, event: str) -> list[dict[str, Any]]:
        return [p for a, p in self.pushed if a == account and p["e"] == event]


def call(path: str, venue: Any, params: dict[str, str] | None = None, method: str = "GET", account: int = ME) -> Any:
    """Run the handler of ``method path`` as the server would (awaiting async ones)."""
    result = ENDPOINTS[(method, path)].handler(venue, account, Params(dict(params or {})))
    if asyncio.iscoroutine(result):
        result = asyncio.run(result)
    return result


def refused(path: str, venue: Any, params: dict[str, str], method: str = "POST") -> BinanceError:
    with pytest.raises(BinanceError) as err:
        call(path, venue, params, method)
    return err.value


@pytest.fixture
def venue() -> StandInVenue:
    """Account 1 and a maker (account 2) with 10,000 USDT each."""
    v = StandInVenue()
    v.fund(ME, 10_000)
    v.fund(MAKER, 10_000)
    return v


@pytest.fixture
def long_venue(venue: StandInVenue) -> StandInVenue:
    """Account 1 long 0.100 BTC at 40,000 (cross, 20x), mark 41,000."""
    venue.trade(ME, MAKER, 100, 400_000)
    venue.mark(410_000)
    return venue


# --------------------------------------------------------------------------- the endpoint table
class TestEndpoints:
    def test_every_account_path_of_the_contract_is_served_signed(self) -> None:
        """Every account endpoint the contract lists is registered, as a SIGNED endpoint."""
        paths = [
            ("GET", "/fapi/v2/account"), ("GET", "/fapi/v3/account"), ("GET", "/fapi/v2/balance"),
            ("GET", "/fapi/v3/balance"), ("GET", "/fapi/v2/positionRisk"), ("GET", "/fapi/v3/positionRisk"),
            ("GET", "/fapi/v1/income"), ("GET", "/fapi/v1/commissionRate"), ("GET", "/fapi/v1/multiAssetsMargin"),
            ("POST", "/fapi/v1/leverage"), ("POST", "/fapi/v1/marginType"), ("POST", "/fapi/v1/positionMargin"),
            ("GET", "/fapi/v1/positionMargin/history"), ("GET", "/fapi/v1/positionSide/dual"),
            ("POST", "/fapi/v1/positionSide/dual"), ("GET", "/fapi/v1/symbolConfig"), ("GET", "/fapi/v1/accountConfig"),
        ]
        missing = [p for p in paths if p not in ENDPOINTS]
        assert not missing
        assert {ENDPOINTS[p].security for p in paths} == {SIGNED}

    def test_an_unknown_symbol_is_binance_invalid_symbol(self, venue: StandInVenue) -> None:
        """A symbol the venue does not list is -1121 'Invalid symbol.'."""
        err = refused("/fapi/v2/positionRisk", venue, {"symbol": "DOGEUSDT"}, "GET")
        assert (err.code, err.msg) == (-1121, "Invalid symbol.")


# --------------------------------------------------------------------------- balances and account
class TestBalance:
    def test_a_deposit_is_the_wallet_available_and_withdrawable(self, venue: StandInVenue) -> None:
        """After a 10,000 USDT deposit, balance, cross wallet, available and max withdraw are all 10,000."""
        (row,) = call("/fapi/v2/balance", venue)
        assert row["asset"] == "USDT"
        assert [row[k] for k in ("balance", "crossWalletBalance", "availableBalance", "maxWithdrawAmount")] == [
            "10000.00000000"] * 4
        assert row["crossUnPnl"] == "0.00000000"
        assert row["updateTime"] == T0_MS + 1  # the deposit's time

    def test_v3_balance_has_the_v2_shape(self, long_venue: StandInVenue) -> None:
        """/fapi/v3/balance answers the same row as /fapi/v2/balance."""
        assert call("/fapi/v3/balance", long_venue) == call("/fapi/v2/balance", long_venue)

    def test_unrealized_profit_is_available_but_not_withdrawable(self, long_venue: StandInVenue) -> None:
        """Long 0.1 @40,000 marked at 41,000: +100 UPnL, IM 4,100/20 = 205; available
        10,000 + 100 - 205 = 9,895, max withdraw 10,000 - 205 = 9,795."""
        (row,) = call("/fapi/v2/balance", long_venue)
        assert row["crossUnPnl"] == "100.00000000"
        assert row["availableBalance"] == "9895.00000000"
        assert row["maxWithdrawAmount"] == "9795.00000000"


class TestAccount:
    def test_v2_totals_follow_the_ledger(self, long_venue: StandInVenue) -> None:
        """Totals: wallet 10,000, UPnL 100, margin balance 10,100, position IM 205, MM 4,100 * 0.5 % = 20.5."""
        out = call("/fapi/v2/account", long_venue)
        assert out["totalWalletBalance"] == "10000.00000000"
        assert out["totalUnrealizedProfit"] == "100.00000000"
        assert out["totalMarginBalance"] == "10100.00000000"
        assert out["totalPositionInitialMargin"] == "205.00000000"
        assert out["totalOpenOrderInitialMargin"] == "0.00000000"
        assert out["totalInitialMargin"] == "205.00000000"
        assert out["totalMaintMargin"] == "20.50000000"
        assert out["availableBalance"] == "9895.00000000"
        assert out["multiAssetsMargin"] is False
        (asset,) = out["assets"]
        assert asset["asset"] == "USDT" and asset["marginBalance"] == "10100.00000000" and asset["marginAvailable"] is True

    def test_v2_position_row_carries_leverage_entry_and_max_notional(self, long_venue: StandInVenue) -> None:
        """The BTCUSDT row: 0.100 at 40,000.0, leverage '20', not isolated, max notional the bracket cap."""
        (row,) = call("/fapi/v2/account", long_venue)["positions"]
        assert row["symbol"] == SYM and row["positionSide"] == "BOTH"
        assert (row["positionAmt"], row["entryPrice"], row["leverage"], row["isolated"]) == ("0.100", "40000.0", "20", False)
        assert row["unrealizedProfit"] == "100.00000000"
        assert row["maxNotional"] == "100000000"

    def test_open_orders_hold_initial_margin(self, venue: StandInVenue) -> None:
        """A resting buy of 0.1 @30,000 at 20x holds 150 USDT: openOrderInitialMargin, and less available."""
        venue.submit(NewOrder(0, ME, SYM, BUY, 100, 300_000, LIMIT, GTC))
        out = call("/fapi/v2/account", venue)
        assert out["totalOpenOrderInitialMargin"] == "150.00000000"
        assert out["availableBalance"] == "9850.00000000"
        (row,) = out["positions"]
        assert row["openOrderInitialMargin"] == "150.00000000" and row["positionAmt"] == "0.000"

    def test_v3_lists_only_held_symbols(self, venue: StandInVenue) -> None:
        """/fapi/v3/account has no position rows while flat, and the held one after a trade."""
        assert call("/fapi/v3/account", venue)["positions"] == []
        venue.trade(ME, MAKER, 100, 400_000)
        (row,) = call("/fapi/v3/account", venue)["positions"]
        assert row["positionAmt"] == "0.100" and row["notional"] == "4000.00000000"

    def test_isolated_wallet_counts_in_the_wallet_balance(self, venue: StandInVenue) -> None:
        """An isolated long moves its IM (4,000/20 = 200) to the bucket: cross wallet 9,800, wallet 10,000."""
        call("/fapi/v1/marginType", venue, {"symbol": SYM, "marginType": "ISOLATED"}, "POST")
        venue.trade(ME, MAKER, 100, 400_000)
        out = call("/fapi/v3/account", venue)
        assert out["totalWalletBalance"] == "10000.00000000"
        assert out["totalCrossWalletBalance"] == "9800.00000000"
        (row,) = out["positions"]
        assert row["isolatedWallet"] == "200.00000000"


# --------------------------------------------------------------------------- positions
class TestPositionRisk:
    def test_v2_row_of_a_long(self, long_venue: StandInVenue) -> None:
        """positionRisk v2: amount, entry, mark (8 places), UPnL, signed notional, cross, leverage."""
        (row,) = call("/fapi/v2/positionRisk", long_venue, {"symbol": SYM})
        assert row["positionAmt"] == "0.100"
        assert row["entryPrice"] == "40000.0"
        assert row["markPrice"] == "41000.00000000"
        assert row["unRealizedProfit"] == "100.00000000"
        assert row["notional"] == "4100.00000000"
        assert (row["marginType"], row["isolatedMargin"], row["isolatedWallet"]) == ("cross", "0.00000000", "0.00000000")
        assert (row["leverage"], row["isAutoAddMargin"], row["positionSide"]) == ("20", "false", "BOTH")

    def test_a_short_has_negative_amount_and_notional(self, venue: StandInVenue) -> None:
        """A short of 0.050 shows positionAmt -0.050 and a negative notional."""
        venue.trade(MAKER, ME, 50, 400_000)
        (row,) = call("/fapi/v3/positionRisk", venue)
        assert row["positionAmt"] == "-0.050" and row["notional"] == "-2000.00000000"

    def test_v2_lists_a_flat_symbol_v3_does_not(self, venue: StandInVenue) -> None:
        """Flat: v2 shows the symbol with amount 0 and liquidation price '0'; v3 returns []."""
        (row,) = call("/fapi/v2/positionRisk", venue)
        assert (row["positionAmt"], row["liquidationPrice"], row["entryPrice"]) == ("0.000", "0", "0.0")
        assert call("/fapi/v3/positionRisk", venue) == []

    def test_hedge_mode_rows_are_long_and_short(self, venue: StandInVenue) -> None:
        """In hedge mode v2 lists LONG and SHORT of the symbol, not BOTH."""
        call("/fapi/v1/positionSide/dual", venue, {"dualSidePosition": "true"}, "POST")
        assert [r["positionSide"] for r in call("/fapi/v2/positionRisk", venue)] == ["LONG", "SHORT"]

    def test_liquidation_price_is_the_venues(self, venue: StandInVenue) -> None:
        """A cross long of 2 BTC @40,000 with 10,000 USDT: positionRisk's liquidationPrice is
        the venue's liquidation_price_subticks with 8 decimals (about (80,000 - 10,000) / 1.99)."""
        venue.trade(ME, MAKER, 2_000, 400_000)
        venue.mark(400_000)
        lp = venue.liquidation_price_subticks(ME, SYM, BOTH)
        assert lp and abs(Decimal(lp) / 10**8 - Decimal(70_000) / Decimal("1.99")) < 1
        for path in ("/fapi/v2/positionRisk", "/fapi/v3/positionRisk"):
            (row,) = call(path, venue)
            assert Decimal(row["liquidationPrice"]) == Decimal(lp) / 10**8
            assert len(row["liquidationPrice"].split(".")[1]) == 8

    def test_isolated_liquidation_price_is_exsim_liq_price(self, venue: StandInVenue) -> None:
        """An isolated 0.1 BTC long @40,000 at 20x (bucket 200 USDT): positionRisk's liquidation
        price is what `exsim liq-price` prints for that position (3,800 / 0.0995 rounded up)."""
        call("/fapi/v1/marginType", venue, {"symbol": SYM, "marginType": "ISOLATED"}, "POST")
        venue.trade(ME, MAKER, 100, 400_000)
        venue.mark(400_000)
        (row,) = call("/fapi/v3/positionRisk", venue)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = exsim_main(["liq-price", "--side", "long", "--qty", "0.1", "--entry", "40000", "--wallet",
                               row["isolatedWallet"], "--mmr", "0.005", "--cum", "0", "--json"])
        assert code == 0
        assert row["liquidationPrice"] == json.loads(out.getvalue())["liquidation_price"] == "38190.95477387"

    def test_break_even_adds_the_fees_paid_and_to_pay(self) -> None:
        """With a 0.05 % taker fee, a long 0.1 @40,000 (fee paid 2 USDT) breaks even at
        (4,000 + 2) / (0.1 * 0.9995) = 40,040.02 (half-even to the subtick)."""
        v = StandInVenue(plain_btc(taker_fee_e8=50_000))
        v.fund(ME, 10_000)
        v.fund(MAKER, 10_000)
        v.trade(ME, MAKER, 100, 400_000)
        (row,) = call("/fapi/v3/positionRisk", v)
        expected = (Decimal(4002) / (Decimal("0.1") * Decimal("0.9995"))).quantize(Decimal("1e-8"))
        assert Decimal(row["breakEvenPrice"]) == expected

    def test_adl_quantile_is_zero_without_profit_and_high_when_alone_in_profit(self, venue: StandInVenue) -> None:
        """The only long in profit is first in the ADL queue (4); the losing short is 0."""
        venue.trade(ME, MAKER, 100, 400_000)
        venue.mark(410_000)
        assert call("/fapi/v3/positionRisk", venue)[0]["adl"] == 4
        assert call("/fapi/v3/positionRisk", venue, account=MAKER)[0]["adl"] == 0


# --------------------------------------------------------------------------- settings
class TestLeverage:
    def test_leverage_answers_binance_shape_and_pushes_config_update(self, venue: StandInVenue) -> None:
        """POST /leverage 10 answers {leverage, maxNotionalValue, symbol} and pushes ACCOUNT_CONFIG_UPDATE {s, l}."""
        out = call("/fapi/v1/leverage", venue, {"symbol": SYM, "leverage": "10"}, "POST")
        assert out == {"leverage": 10, "maxNotionalValue": "100000000", "symbol": SYM}
        (push,) = venue.pushes(ME, "ACCOUNT_CONFIG_UPDATE")
        assert push["ac"] == {"s": SYM, "l": 10} and push["T"] <= push["E"]
        assert call("/fapi/v1/symbolConfig", venue, {"symbol": SYM})[0]["leverage"] == 10

    def test_leverage_above_the_bracket_is_2027(self, venue: StandInVenue) -> None:
        """51x on a 50x bracket is refused by the ledger: -2027."""
        assert refused("/fapi/v1/leverage", venue, {"symbol": SYM, "leverage": "51"}).code == -2027

    def test_leverage_outside_1_to_125_is_4028(self, venue: StandInVenue) -> None:
        """0 and 126 are not valid leverages: -4028."""
        assert refused("/fapi/v1/leverage", venue, {"symbol": SYM, "leverage": "0"}).code == -4028
        assert refused("/fapi/v1/leverage", venue, {"symbol": SYM, "leverage": "126"}).code == -4028

    def test_max_notional_follows_the_shipped_brackets(self) -> None:
        """Shipped BTCUSDT brackets: 125x is allowed up to the first cap, 100x up to the second."""
        inst = get_instrument(SYM)
        caps = [b.cap_atoms for b in inst.brackets]
        assert acc.max_notional_atoms(inst, 125) == caps[0]
        assert acc.max_notional_atoms(inst, 100) == caps[1]


class TestMarginType:
    def test_switching_answers_success_and_pushes_margin_type_change(self, venue: StandInVenue) -> None:
        """CROSSED -> ISOLATED answers {code 200, msg success}; ACCOUNT_UPDATE m=MARGIN_TYPE_CHANGE shows mt isolated."""
        assert call("/fapi/v1/marginType", venue, {"symbol": SYM, "marginType": "ISOLATED"}, "POST") == {
            "code": 200, "msg": "success"}
        (push,) = venue.pushes(ME, "ACCOUNT_UPDATE")[-1:]
        assert push["a"]["m"] == "MARGIN_TYPE_CHANGE"
        assert push["a"]["P"][0]["mt"] == "isolated" and push["a"]["P"][0]["s"] == SYM
        assert call("/fapi/v1/symbolConfig", venue)[0]["marginType"] == "ISOLATED"

    def test_no_change_is_4046(self, venue: StandInVenue) -> None:
        """Asking for the current margin type is -4046 'No need to change margin type.'."""
        err = refused("/fapi/v1/marginType", venue, {"symbol": SYM, "marginType": "CROSSED"})
        assert (err.code, err.msg) == (-4046, "No need to change margin type.")

    def test_with_a_position_is_4048(self, long_venue: StandInVenue) -> None:
        """An open position blocks the change: -4048."""
        assert refused("/fapi/v1/marginType", long_venue, {"symbol": SYM, "marginType": "ISOLATED"}).code == -4048

    def test_with_open_orders_only_is_4047(self, venue: StandInVenue) -> None:
        """A resting order (no position) blocks it too: -4047."""
        venue.submit(NewOrder(0, ME, SYM, BUY, 10, 300_000, LIMIT, GTC))
        assert refused("/fapi/v1/marginType", venue, {"symbol": SYM, "marginType": "ISOLATED"}).code == -4047

    def test_an_unknown_margin_type_names_the_parameter(self, venue: StandInVenue) -> None:
        """marginType=PORTFOLIO is -1130 naming 'marginType'."""
        err = refused("/fapi/v1/marginType", venue, {"symbol": SYM, "marginType": "PORTFOLIO"})
        assert err.code == -1130 and "marginType" in err.msg


class TestPositionMode:
    def test_hedge_mode_round_trip(self, venue: StandInVenue) -> None:
        """POST dualSidePosition=true answers success; GET and accountConfig then say true."""
        assert call("/fapi/v1/positionSide/dual", venue, {"dualSidePosition": "true"}, "POST")["code"] == 200
        assert call("/fapi/v1/positionSide/dual", venue) == {"dualSidePosition": True}
        assert call("/fapi/v1/accountConfig", venue)["dualSidePosition"] is True

    def test_no_change_is_4059(self, venue: StandInVenue) -> None:
        """One-way to one-way is -4059."""
        assert refused("/fapi/v1/positionSide/dual", venue, {"dualSidePosition": "false"}).code == -4059

    def test_with_a_position_is_4068_with_orders_4067(self, venue: StandInVenue) -> None:
        """A resting order blocks the change with -4067; a position with -4068."""
        venue.submit(NewOrder(0, ME, SYM, BUY, 10, 300_000, LIMIT, GTC))
        assert refused("/fapi/v1/positionSide/dual", venue, {"dualSidePosition": "true"}).code == -4067
        venue.trade(ME, MAKER, 100, 400_000)
        assert refused("/fapi/v1/positionSide/dual", venue, {"dualSidePosition": "true"}).code == -4068

    def test_missing_parameter_is_1102(self, venue: StandInVenue) -> None:
        """Without dualSidePosition the request is -1102 naming it."""
        err = refused("/fapi/v1/positionSide/dual", venue, {})
        assert err.code == -1102 and "dualSidePosition" in err.msg


class TestPositionMargin:
    @pytest.fixture
    def isolated(self, venue: StandInVenue) -> StandInVenue:
        call("/fapi/v1/marginType", venue, {"symbol": SYM, "marginType": "ISOLATED"}, "POST")
        venue.trade(ME, MAKER, 100, 400_000)  # bucket 200 USDT
        return venue

    def test_adding_margin_answers_and_grows_the_bucket(self, isolated: StandInVenue) -> None:
        """type=1 amount=50.5: Binance's answer, the bucket 250.5, a MARGIN_TRANSFER push, a history row."""
        out = call("/fapi/v1/positionMargin", isolated, {"symbol": SYM, "amount": "50.5", "type": "1"}, "POST")
        assert out == {"amount": 50.5, "code": 200, "msg": "Successfully modify position margin.", "type": 1}
        assert call("/fapi/v3/positionRisk", isolated)[0]["isolatedWallet"] == "250.50000000"
        push = isolated.pushes(ME, "ACCOUNT_UPDATE")[-1]
        assert push["a"]["m"] == "MARGIN_TRANSFER" and push["a"]["P"][0]["iw"] == "250.50000000"
        (row,) = call("/fapi/v1/positionMargin/history", isolated, {"symbol": SYM})
        assert (row["type"], row["amount"], row["deltaType"], row["positionSide"]) == (1, "50.50000000", "USER_ADJUST", "BOTH")

    def test_reducing_below_initial_margin_is_4051(self, isolated: StandInVenue) -> None:
        """Taking 150 of a 200 bucket that needs 200 (IM at mark) is -4051 'Isolated balance insufficient.'."""
        isolated.mark(400_000)
        err = refused("/fapi/v1/positionMargin", isolated, {"symbol": SYM, "amount": "150", "type": "2"})
        assert err.code == -4051

    def test_adding_more_than_the_wallet_is_4050(self, isolated: StandInVenue) -> None:
        """Adding 1,000,000 USDT the cross wallet does not have is -4050."""
        assert refused("/fapi/v1/positionMargin", isolated, {"symbol": SYM, "amount": "1000000", "type": "1"}).code == -4050

    def test_on_a_cross_symbol_is_4049(self, long_venue: StandInVenue) -> None:
        """A cross position takes no margin moves: -4049."""
        assert refused("/fapi/v1/positionMargin", long_venue, {"symbol": SYM, "amount": "1", "type": "1"}).code == -4049

    def test_without_a_position_is_4054(self, venue: StandInVenue) -> None:
        """Isolated but flat: -4054 'Cannot add position margin: position is 0.'."""
        call("/fapi/v1/marginType", venue, {"symbol": SYM, "marginType": "ISOLATED"}, "POST")
        assert refused("/fapi/v1/positionMargin", venue, {"symbol": SYM, "amount": "1", "type": "1"}).code == -4054

    def test_more_than_8_decimals_is_1111_never_rounded(self, isolated: StandInVenue) -> None:
        """amount=1.000000001 is -1111: the amount is not rounded to the atom."""
        assert refused("/fapi/v1/positionMargin", isolated, {"symbol": SYM, "amount": "1.000000001", "type": "1"}).code == -1111

    def test_zero_is_4055(self, isolated: StandInVenue) -> None:
        """amount=0 is -4055 'Amount must be positive.'."""
        assert refused("/fapi/v1/positionMargin", isolated, {"symbol": SYM, "amount": "0", "type": "1"}).code == -4055


class TestHedgeMode:
    @pytest.fixture
    def hedged(self, venue: StandInVenue) -> StandInVenue:
        """Account 1 in hedge mode, long 0.1 and short 0.05 of BTCUSDT at 40,000."""
        call("/fapi/v1/positionSide/dual", venue, {"dualSidePosition": "true"}, "POST")
        venue.trade(ME, MAKER, 100, 400_000, buyer_ps=LONG)
        venue.trade(MAKER, ME, 50, 400_000, seller_ps=SHORT)
        return venue

    def test_both_legs_are_rows_of_their_own(self, hedged: StandInVenue) -> None:
        """positionRisk v3 has a LONG row of 0.100 and a SHORT row of -0.050."""
        rows = call("/fapi/v3/positionRisk", hedged)
        assert [(r["positionSide"], r["positionAmt"]) for r in rows] == [("LONG", "0.100"), ("SHORT", "-0.050")]

    def test_a_fill_pushes_the_leg_it_changed(self, hedged: StandInVenue) -> None:
        """The short's fill pushes only the SHORT leg."""
        push = hedged.pushes(ME, "ACCOUNT_UPDATE")[-1]
        assert [(p["ps"], p["pa"]) for p in push["a"]["P"]] == [("SHORT", "-0.050")]

    def test_margin_moves_need_the_leg_in_hedge_mode(self, hedged: StandInVenue) -> None:
        """positionMargin with positionSide BOTH in hedge mode is -4061; an unknown side -4060."""
        assert refused("/fapi/v1/positionMargin", hedged, {"symbol": SYM, "amount": "1", "type": "1"}).code == -4061
        assert refused("/fapi/v1/positionMargin", hedged, {"symbol": SYM, "amount": "1", "type": "1",
                                                           "positionSide": "UP"}).code == -4060


class TestRejectTable:
    @pytest.mark.parametrize(
        ("command", "reason", "kwargs", "code"),
        [
            ("SetLeverage", Reason.INVALID_LEVERAGE, {}, -4028),
            ("SetLeverage", Reason.LEVERAGE_ABOVE_BRACKET_MAX, {}, -2027),
            ("SetLeverage", Reason.LEVERAGE_BELOW_REQUIRED, {}, -2028),
            ("SetMarginMode", Reason.HAS_POSITION_OR_ORDERS, {"has_position": True}, -4048),
            ("SetMarginMode", Reason.HAS_POSITION_OR_ORDERS, {"has_position": False}, -4047),
            ("SetPositionMode", Reason.HAS_POSITION_OR_ORDERS, {"has_position": True}, -4068),
            ("SetPositionMode", Reason.HAS_POSITION_OR_ORDERS, {"has_position": False}, -4067),
            ("AdjustIsolatedMargin", Reason.INSUFFICIENT_BALANCE, {"adding": True}, -4050),
            ("AdjustIsolatedMargin", Reason.INSUFFICIENT_BALANCE, {"adding": False}, -4051),
            ("AdjustIsolatedMargin", Reason.NO_ISOLATED_POSITION, {"isolated": False}, -4049),
            ("AdjustIsolatedMargin", Reason.NO_ISOLATED_POSITION, {"isolated": True}, -4054),
            ("AdjustIsolatedMargin", Reason.INVALID_AMOUNT, {}, -4055),
            ("SetLeverage", Reason.NO_ACCOUNT, {}, -1109),
            ("SetLeverage", "UNKNOWN_SYMBOL", {}, -1121),
            ("SetLeverage", "SOMETHING_NEW", {}, -1000),
        ],
    )
    def test_exsim_reasons_map_to_binance_codes(self, command: str, reason: str, kwargs: dict[str, bool], code: int) -> None:
        """Each refusal reason of a settings command maps to its Binance code (unknown ones to -1000)."""
        assert acc.reject_error(command, reason, **kwargs).code == code


# --------------------------------------------------------------------------- income
class TestIncome:
    def test_a_round_trip_books_commission_and_realized_pnl(self) -> None:
        """Take 0.1 @40,000 (0.05 % taker: -2), then sell it as maker @41,000 (0.02 %: -0.82):
        two COMMISSION rows and REALIZED_PNL +100 (fees excluded), in that order."""
        v = StandInVenue(plain_btc(taker_fee_e8=50_000, maker_fee_e8=20_000))
        v.fund(ME, 10_000)
        v.fund(MAKER, 10_000)
        v.trade(ME, MAKER, 100, 400_000)
        v.trade(MAKER, ME, 100, 410_000)
        rows = call("/fapi/v1/income", v, {"symbol": SYM})
        assert [(r["incomeType"], r["income"]) for r in rows] == [
            ("COMMISSION", "-2.00000000"), ("COMMISSION", "-0.82000000"), ("REALIZED_PNL", "100.00000000")]
        assert all(r["asset"] == "USDT" and r["symbol"] == SYM for r in rows)
        assert rows[0]["tradeId"] != "" and len({r["tranId"] for r in rows}) == 3

    def test_filters_by_type_and_time(self, long_venue: StandInVenue) -> None:
        """incomeType=TRANSFER gives the deposit; a startTime after it gives none."""
        (dep,) = call("/fapi/v1/income", long_venue, {"incomeType": "TRANSFER"})
        assert (dep["income"], dep["symbol"], dep["time"]) == ("10000.00000000", "", T0_MS + 1)
        assert call("/fapi/v1/income", long_venue, {"incomeType": "TRANSFER", "startTime": str(T0_MS + 2)}) == []

    def test_limit_keeps_the_latest_without_start_time(self, venue: StandInVenue) -> None:
        """Three deposits, limit=2 without startTime: the last two, oldest first."""
        venue.fund(ME, 1)
        venue.fund(ME, 2)
        rows = call("/fapi/v1/income", venue, {"limit": "2"})
        assert [r["income"] for r in rows] == ["1.00000000", "2.00000000"]

    def test_funding_fee_is_income(self, long_venue: StandInVenue) -> None:
        """Funding at +0.01 % on a long 0.1 marked 41,000: FUNDING_FEE -0.41."""
        long_venue.submit(SettleFunding(0, SYM, 10_000))
        (row,) = call("/fapi/v1/income", long_venue, {"incomeType": "FUNDING_FEE"})
        assert row["income"] == "-0.41000000"

    def test_start_after_end_is_1023(self, venue: StandInVenue) -> None:
        """startTime > endTime is -1023."""
        assert refused("/fapi/v1/income", venue, {"startTime": "5", "endTime": "4"}, "GET").code == -1023


# --------------------------------------------------------------------------- user data
class TestAccountUpdate:
    def test_a_fill_pushes_order_update_with_balance_and_position(self, venue: StandInVenue) -> None:
        """A fill pushes ACCOUNT_UPDATE m=ORDER: B (wallet, cross wallet) and P (amount, entry, side, margin type)."""
        venue.trade(ME, MAKER, 100, 400_000)
        push = venue.pushes(ME, "ACCOUNT_UPDATE")[-1]
        assert push["a"]["m"] == "ORDER"
        assert push["a"]["B"] == [{"a": "USDT", "wb": "10000.00000000", "cw": "10000.00000000", "bc": "0.00000000"}]
        (p,) = push["a"]["P"]
        assert (p["s"], p["pa"], p["ep"], p["ps"], p["mt"], p["cr"]) == (SYM, "0.100", "40000.0", "BOTH", "cross", "0.00000000")

    def test_a_deposit_pushes_deposit_with_its_change(self) -> None:
        """A deposit pushes m=DEPOSIT with bc the amount and no position."""
        v = StandInVenue()
        v.fund(ME, 500)
        (push,) = v.pushes(ME, "ACCOUNT_UPDATE")
        assert push["a"]["m"] == "DEPOSIT" and push["a"]["B"][0]["bc"] == "500.00000000" and push["a"]["P"] == []

    def test_cross_funding_pushes_only_the_balance(self, long_venue: StandInVenue) -> None:
        """Funding on a cross position: m=FUNDING_FEE, bc -0.41, no P (as Binance)."""
        long_venue.submit(SettleFunding(0, SYM, 10_000))
        push = long_venue.pushes(ME, "ACCOUNT_UPDATE")[-1]
        assert push["a"]["m"] == "FUNDING_FEE" and push["a"]["B"][0]["bc"] == "-0.41000000" and push["a"]["P"] == []

    def test_isolated_funding_pushes_the_position(self, venue: StandInVenue) -> None:
        """Funding on an isolated position pushes that position too (its bucket paid)."""
        call("/fapi/v1/marginType", venue, {"symbol": SYM, "marginType": "ISOLATED"}, "POST")
        venue.trade(ME, MAKER, 100, 400_000)
        venue.mark(400_000)
        venue.submit(SettleFunding(0, SYM, 10_000))
        push = venue.pushes(ME, "ACCOUNT_UPDATE")[-1]
        assert push["a"]["m"] == "FUNDING_FEE"
        assert [p["s"] for p in push["a"]["P"]] == [SYM] and push["a"]["P"][0]["mt"] == "isolated"

    def test_only_accounts_touched_get_a_push(self, venue: StandInVenue) -> None:
        """A mark update pushes no ACCOUNT_UPDATE to anyone."""
        before = len(venue.pushed)
        venue.mark(401_000)
        assert len(venue.pushed) == before


class TestLiquidationEvents:
    @pytest.fixture
    def doomed(self) -> StandInVenue:
        """Account 1 long 1 BTC @40,000 at 50x cross with 1,000 USDT; a maker bids below."""
        v = StandInVenue(default_leverage=50, fund=1_000 * USDT)
        v.fund(ME, 1_000)
        v.fund(MAKER, 1_000_000)
        v.trade(ME, MAKER, 1_000, 400_000)
        v.mark(400_000)
        v.submit(NewOrder(0, MAKER, SYM, BUY, 1_000, 385_000, LIMIT, GTC))
        return v

    def test_margin_call_before_liquidation(self, doomed: StandInVenue) -> None:
        """Near the liquidation price a MARGIN_CALL names the cross position with its mark and MM."""
        lp = doomed.liquidation_price_subticks(ME, SYM, BOTH)
        assert lp
        tick = doomed.instruments[SYM].subticks_per_tick
        doomed.mark(-(-lp // tick) + 5)  # just above the liquidation price
        calls = doomed.pushes(ME, "MARGIN_CALL")
        assert calls
        (p,) = calls[-1]["p"]
        assert (p["s"], p["mt"], p["ps"], p["pa"]) == (SYM, "CROSSED", "BOTH", "1.000") and "cw" in calls[-1]

    def test_liquidation_pushes_insurance_clear_with_the_position_closed(self, doomed: StandInVenue) -> None:
        """A mark through the liquidation price pushes m=INSURANCE_CLEAR with the position at 0."""
        doomed.mark(390_000)
        push = doomed.pushes(ME, "ACCOUNT_UPDATE")[-1]
        assert push["a"]["m"] == "INSURANCE_CLEAR"
        assert [(p["s"], p["pa"]) for p in push["a"]["P"]] == [(SYM, "0.000")]
        assert call("/fapi/v3/positionRisk", doomed) == []


    def test_an_auto_deleveraged_account_gets_adl(self, venue: StandInVenue) -> None:
        """An isolated short (bucket 200, bankruptcy 42,000) marked at 45,000 with no ask and
        an empty fund is closed against the long: the short's push is INSURANCE_CLEAR, the
        long's (deleveraged at 42,000) ADL, both with the position at 0."""
        call("/fapi/v1/marginType", venue, {"symbol": SYM, "marginType": "ISOLATED"}, "POST")
        venue.trade(MAKER, ME, 100, 400_000)
        venue.mark(450_000)
        mine, theirs = venue.pushes(ME, "ACCOUNT_UPDATE")[-1], venue.pushes(MAKER, "ACCOUNT_UPDATE")[-1]
        assert mine["a"]["m"] == "INSURANCE_CLEAR" and mine["a"]["P"][0]["pa"] == "0.000"
        assert theirs["a"]["m"] == "ADL" and theirs["a"]["P"][0]["pa"] == "0.000"
        assert theirs["a"]["P"][0]["cr"] == "200.00000000"  # (42,000 - 40,000) x 0.1


# --------------------------------------------------------------------------- through the real venue
CRASH = "replays/btc-perp-20220121-1m.csv"  # the shipped Jan-2022 sell-off (replays/README.md)


class CrashRun:
    """A stepped venue on the crash file: after an hour, account 1 goes isolated at 125x
    and buys 0.4 BTC at market (as tests/replay/test_shipped.py's holder does), then the
    clock steps a minute at a time until the position is gone."""

    def __init__(self, out_dir: Any) -> None:
        from exsim.replay import ReplayConfig
        from exsim.serve.venue import ServeConfig, Venue

        self.pushed: list[tuple[int, dict[str, Any]]] = []
        self.venue = Venue([CRASH], [("key-1", "secret-1")], ServeConfig(speed="step", replay=ReplayConfig(symbol=SYM)),
                           components=[("account", acc.AccountFeed)], out_dir=out_dir)
        self.venue.user_sink = lambda account, payload: self.pushed.append((account, payload))
        self.held: list[dict[str, Any]] = []  # positionRisk v3 right after the entry
        self.risk_after: list[dict[str, Any]] = []
        asyncio.run(self._run())
        self.venue.close()

    async def call(self, path: str, params: dict[str, str] | None = None, method: str = "GET") -> Any:
        result = ENDPOINTS[(method, path)].handler(self.venue, ME, Params(dict(params or {})))
        return await result if asyncio.iscoroutine(result) else result

    async def _run(self) -> None:
        v = self.venue
        await v.advance(3_600_000)
        await self.call("/fapi/v1/marginType", {"symbol": SYM, "marginType": "ISOLATED"}, "POST")
        await self.call("/fapi/v1/leverage", {"symbol": SYM, "leverage": "125"}, "POST")
        await v.send(lambda ts: NewOrder(ts, ME, SYM, BUY, 400, 0, MARKET))
        self.held = await self.call("/fapi/v3/positionRisk")
        while not v.ended and await self.call("/fapi/v3/positionRisk"):
            await v.advance(60_000)
        self.risk_after = await self.call("/fapi/v3/positionRisk")

    def pushes(self, event: str) -> list[dict[str, Any]]:
        return [p for a, p in self.pushed if a == ME and p["e"] == event]


@pytest.fixture(scope="module")
def crash(tmp_path_factory: pytest.TempPathFactory) -> CrashRun:
    return CrashRun(tmp_path_factory.mktemp("serve-crash") / "run")


class TestThroughTheVenue:
    def test_the_125x_long_shows_exsim_liq_price(self, crash: CrashRun) -> None:
        """On the crash file the served liquidation price of the 125x isolated long is the
        venue's and the figure `exsim liq-price` prints for its size, entry and bucket."""
        (row,) = crash.held
        assert (row["positionAmt"], row["marginAsset"], row["positionSide"]) == ("0.400", "USDT", "BOTH")
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert exsim_main(["liq-price", "--side", "long", "--qty", row["positionAmt"], "--entry", row["entryPrice"],
                               "--wallet", row["isolatedWallet"], "--symbol", SYM, "--json"]) == 0
        assert row["liquidationPrice"] == json.loads(out.getvalue())["liquidation_price"]

    def test_the_liquidation_pushes_insurance_clear_with_the_position_closed(self, crash: CrashRun) -> None:
        """The crash liquidates it: ACCOUNT_UPDATE m=INSURANCE_CLEAR with P pa 0.000 and the
        bucket settled, after MARGIN_CALLs that named the isolated position; positionRisk is then empty."""
        updates = crash.pushes("ACCOUNT_UPDATE")
        (liq,) = [u for u in updates if u["a"]["m"] == "INSURANCE_CLEAR"]
        assert [(p["s"], p["pa"], p["mt"], p["iw"]) for p in liq["a"]["P"]] == [(SYM, "0.000", "isolated", "0.00000000")]
        calls = [c for c in crash.pushes("MARGIN_CALL") if c["E"] <= liq["E"]]
        assert calls and all(c["p"][0]["mt"] == "ISOLATED" and "cw" not in c for c in calls)
        assert crash.risk_after == []

    def test_the_wallet_lost_the_bucket_and_the_fee(self, crash: CrashRun) -> None:
        """After it the wallet is the deposit less the bucket and the entry fee, as the income
        history says (TRANSFER + COMMISSION + REALIZED_PNL + INSURANCE_CLEAR = wallet)."""
        v = crash.venue
        rows = ENDPOINTS[("GET", "/fapi/v1/income")].handler(v, ME, Params({"startTime": "0"}))
        kinds = [r["incomeType"] for r in rows]
        assert kinds[0] == "TRANSFER" and "COMMISSION" in kinds and "REALIZED_PNL" in kinds
        total = sum(Decimal(r["income"]) for r in rows)
        (bal,) = ENDPOINTS[("GET", "/fapi/v2/balance")].handler(v, ME, Params({}))
        assert Decimal(bal["balance"]) == total
        assert Decimal(bal["balance"]) == Decimal(v.ledger.accounts[ME].wallet_atoms) / USDT

    def test_the_deposit_at_the_first_row_sets_the_asset_update_time(self, crash: CrashRun) -> None:
        """Every served account has an asset updateTime > 0 (ccxt drops assets without one)."""
        (asset,) = ENDPOINTS[("GET", "/fapi/v3/account")].handler(crash.venue, ME, Params({}))["assets"]
        assert asset["updateTime"] > 0

    def test_funding_on_the_real_month_of_bars_is_pushed_and_booked(self, tmp_path: Any) -> None:
        """On ../shared/data's month of 1m BTC bars (first row 2021-12-31 23:01), a cross long
        of account 2 held over the 2022-01-01 00:00 funding time gets ACCOUNT_UPDATE
        m=FUNDING_FEE with only B, and /income's FUNDING_FEE equals the ledger's funding."""
        from exsim.replay import ReplayConfig
        from exsim.serve.venue import ServeConfig, Venue

        month = "../shared/data/nautilus-fixtures/btc-perp-20211231-20220201_1m.csv"
        pushed: list[tuple[int, dict[str, Any]]] = []
        v = Venue([month], [("k1", "s1"), ("k2", "s2")], ServeConfig(speed="step", replay=ReplayConfig(symbol=SYM)),
                  components=[("account", acc.AccountFeed)], out_dir=tmp_path / "run")
        v.user_sink = lambda account, payload: pushed.append((account, payload))

        async def run() -> None:
            await v.send(lambda ts: NewOrder(ts, MAKER, SYM, BUY, 100, 0, MARKET))
            await v.advance(60 * 60_000)  # past 00:00

        asyncio.run(run())
        v.close()
        (fee,) = ENDPOINTS[("GET", "/fapi/v1/income")].handler(v, MAKER, Params({"incomeType": "FUNDING_FEE"}))
        assert fee["time"] == 1_640_995_200_000  # 2022-01-01 00:00 UTC
        assert Decimal(fee["income"]) == Decimal(v.ledger.accounts[MAKER].funding_atoms) / USDT != 0
        (push,) = [p for a, p in pushed if a == MAKER and p["e"] == "ACCOUNT_UPDATE" and p["a"]["m"] == "FUNDING_FEE"]
        assert push["a"]["B"][0]["bc"] == fee["income"] and push["a"]["P"] == []


class TestMultiAssetsMode:
    """``POST/GET /fapi/v1/multiAssetsMargin`` on the ledger's collateral mode (issue 17)."""

    def test_switching_on_answers_success_and_reads_back(self, venue: StandInVenue) -> None:
        """multiAssetsMargin=true answers {code 200, msg success}; GET, accountConfig and account v2 then say true."""
        assert call("/fapi/v1/multiAssetsMargin", venue) == {"multiAssetsMargin": False}
        assert call("/fapi/v1/multiAssetsMargin", venue, {"multiAssetsMargin": "true"}, "POST") == {"code": 200, "msg": "success"}
        assert call("/fapi/v1/multiAssetsMargin", venue) == {"multiAssetsMargin": True}
        assert call("/fapi/v1/accountConfig", venue)["multiAssetsMargin"] is True
        assert call("/fapi/v2/account", venue)["multiAssetsMargin"] is True
        assert venue.ledger.collateral_mode(ME) == "multi-assets"

    def test_the_switch_is_pushed_as_an_account_config_update(self, venue: StandInVenue) -> None:
        """The user stream gets ACCOUNT_CONFIG_UPDATE with ai.j true, then false when switched back."""
        call("/fapi/v1/multiAssetsMargin", venue, {"multiAssetsMargin": "true"}, "POST")
        call("/fapi/v1/multiAssetsMargin", venue, {"multiAssetsMargin": "false"}, "POST")
        assert [p["ai"] for p in venue.pushes(ME, "ACCOUNT_CONFIG_UPDATE")] == [{"j": True}, {"j": False}]

    def test_the_same_mode_again_is_4171(self, venue: StandInVenue) -> None:
        """Single-asset to single-asset is -4171 (NO_NEED_TO_CHANGE_JOINT_MARGIN)."""
        assert refused("/fapi/v1/multiAssetsMargin", venue, {"multiAssetsMargin": "false"}).code == -4171

    def test_an_open_order_is_4170(self, venue: StandInVenue) -> None:
        """A resting order blocks the switch: -4170."""
        venue.submit(NewOrder(0, ME, SYM, BUY, 10, 300_000, LIMIT, GTC))
        assert refused("/fapi/v1/multiAssetsMargin", venue, {"multiAssetsMargin": "true"}).code == -4170

    def test_an_isolated_symbol_is_4167(self, venue: StandInVenue) -> None:
        """A symbol set to ISOLATED blocks the switch on: -4167."""
        call("/fapi/v1/marginType", venue, {"symbol": SYM, "marginType": "ISOLATED"}, "POST")
        assert refused("/fapi/v1/multiAssetsMargin", venue, {"multiAssetsMargin": "true"}).code == -4167

    def test_isolated_under_multi_assets_is_4168(self, venue: StandInVenue) -> None:
        """In Multi-Assets mode a symbol cannot be set to ISOLATED: -4168."""
        call("/fapi/v1/multiAssetsMargin", venue, {"multiAssetsMargin": "true"}, "POST")
        assert refused("/fapi/v1/marginType", venue, {"symbol": SYM, "marginType": "ISOLATED"}).code == -4168

    def test_missing_parameter_is_1102(self, venue: StandInVenue) -> None:
        """Without multiAssetsMargin the request is -1102 naming it."""
        err = refused("/fapi/v1/multiAssetsMargin", venue, {})
        assert err.code == -1102 and "multiAssetsMargin" in err.msg
