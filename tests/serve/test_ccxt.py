"""ccxt's ``binanceusdm`` (the PyPI package, unchanged) trades against ``exsim serve`` with
only its ``urls`` pointed at the server (docs/serve.md's settings).

One server in step mode on the shipped January 2022 crash replay serves the trading tests;
each trades on an account of its own (one API key each), so the tests do not see each
other's orders or positions, and its clock never moves: the market is the replay's first
instant. The tape tests read a stepped server of the shipped Binance capture two minutes
in; the end-of-data test steps a server of its own past the end.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import redirect_stdout
from decimal import Decimal
from itertools import count

import ccxt
import pytest

from exsim.cli import main
from exsim.instruments import get_instrument
from exsim.instruments.catalogue import ns_of_date

from .live_server import CAPTURE, CRASH, CRASH_ARGS, Server, ccxt_config, crash_first_open, exsim_serve

S = "BTC/USDT:USDT"
ACCOUNTS = 26  # one per test, with room
DEPOSIT = "5000"
#: load_markets without ccxt's signed SAPI currency calls, so a bad key is refused by the
#: call under test
NO_SAPI = {"options": {"fetchCurrencies": False}}


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    keys = [(f"key-{i}", f"secret-{i}") for i in range(ACCOUNTS)]
    with exsim_serve(CRASH, args=[*CRASH_ARGS, "--deposit", DEPOSIT], keys=keys) as srv:
        yield srv


_next_account = count()


@pytest.fixture
def ex(server: Server) -> ccxt.binanceusdm:
    """ccxt on an account no other test uses."""
    i = next(_next_account)
    assert i < ACCOUNTS, "more tests than accounts: raise ACCOUNTS"
    client = ccxt.binanceusdm(ccxt_config(server.base, server.ws, f"key-{i}", f"secret-{i}"))
    client.load_markets()
    return client


def liq_price_cli(*args: str) -> Decimal:
    """``exsim liq-price ... --json``'s liquidation price."""
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["liq-price", *args, "--json"]) == 0
    return Decimal(json.loads(out.getvalue())["liquidation_price"])


# --------------------------------------------------------------------------- markets and market data
def test_load_markets_gives_the_replayed_symbol_on_exsims_grid(ex: ccxt.binanceusdm) -> None:
    """load_markets lists the replayed perpetual with the tick, lot and minimum notional of
    the instrument exsim replays it with (the spec in force at the data's date)."""
    inst = get_instrument("BTCUSDT", ns_of_date("2022-01-21"))
    m = ex.market(S)
    assert (m["id"], m["type"], m["linear"], m["settle"]) == ("BTCUSDT", "swap", True, "USDT")
    assert Decimal(str(m["precision"]["price"])) == inst.tick_size
    assert Decimal(str(m["precision"]["amount"])) == inst.lot_size
    assert m["active"] is True


def test_fetch_order_book_stands_around_the_first_price(ex: ccxt.binanceusdm) -> None:
    """fetch_order_book gives the venue's book: bids high to low, asks low to high, the
    first bar's open between the best bid and the best ask, an update id as nonce."""
    book = ex.fetch_order_book(S)
    bids, asks = book["bids"], book["asks"]
    assert bids and asks
    assert [p for p, _ in bids] == sorted((p for p, _ in bids), reverse=True)
    assert [p for p, _ in asks] == sorted(p for p, _ in asks)
    assert Decimal(str(bids[0][0])) <= crash_first_open() <= Decimal(str(asks[0][0]))
    assert isinstance(book["nonce"], int)


def test_fetch_order_book_limit_cuts_the_levels(ex: ccxt.binanceusdm) -> None:
    """fetch_order_book(limit=5) returns five levels a side, the best five of the full book."""
    full = ex.fetch_order_book(S)
    five = ex.fetch_order_book(S, 5)
    assert (len(five["bids"]), len(five["asks"])) == (5, 5)
    assert five["bids"] == full["bids"][:5]
    assert five["asks"] == full["asks"][:5]


def test_fetch_funding_rate_reads_the_premium_index(ex: ccxt.binanceusdm) -> None:
    """fetch_funding_rate gives the mark price near the first price and the next funding
    time on Binance's 8-hour grid after the venue's clock."""
    fr = ex.fetch_funding_rate(S)
    now_ms = int(ex.fapiPublicGetTime()["serverTime"])
    assert fr["symbol"] == S
    assert abs(Decimal(str(fr["markPrice"])) / crash_first_open() - 1) < Decimal("0.01")
    assert fr["fundingRate"] is not None
    assert fr["fundingTimestamp"] % (8 * 3600 * 1000) == 0
    assert fr["fundingTimestamp"] > now_ms


# --------------------------------------------------------------------------- the tape (the Binance capture, two minutes in)
@pytest.fixture(scope="module")
def tape() -> Iterator[ccxt.binanceusdm]:
    """ccxt on a stepped server of the shipped Binance capture, two minutes of it played."""
    with exsim_serve(CAPTURE) as srv:
        srv.advance(120_000)
        yield ccxt.binanceusdm(srv.ccxt_config())


def test_fetch_trades_lists_the_replayed_prints(tape: ccxt.binanceusdm) -> None:
    """fetch_trades lists the capture's prints up to the venue's time, oldest first."""
    now_ms = tape.fetch_time()
    trades = tape.fetch_trades(S)
    assert trades and all(t["price"] > 0 and t["amount"] > 0 for t in trades)
    times = [t["timestamp"] for t in trades]
    assert times == sorted(times) and times[-1] <= now_ms


def test_fetch_ticker_last_is_the_last_print(tape: ccxt.binanceusdm) -> None:
    """fetch_ticker's last price is the last print of fetch_trades; low <= last <= high."""
    ticker = tape.fetch_ticker(S)
    last_trade = tape.fetch_trades(S)[-1]
    assert ticker["last"] == last_trade["price"]
    assert ticker["low"] <= ticker["last"] <= ticker["high"]


def test_fetch_ohlcv_gives_minute_candles_of_the_tape(tape: ccxt.binanceusdm) -> None:
    """fetch_ohlcv('1m') gives candles on the minute, low <= open, close <= high, whose
    last close is the last print."""
    candles = tape.fetch_ohlcv(S, "1m")
    assert candles
    for ts, o, h, low, c, v in candles:
        assert ts % 60_000 == 0
        assert low <= min(o, c) <= max(o, c) <= h and v > 0
    assert candles[-1][4] == tape.fetch_trades(S)[-1]["price"]


# --------------------------------------------------------------------------- account settings
def test_fetch_balance_starts_with_the_deposit(ex: ccxt.binanceusdm) -> None:
    """A new account holds the --deposit in USDT, all of it free."""
    bal = ex.fetch_balance()
    assert Decimal(str(bal["USDT"]["total"])) == Decimal(DEPOSIT)
    assert Decimal(str(bal["USDT"]["free"])) == Decimal(DEPOSIT)


def test_set_leverage_answers_the_new_leverage(ex: ccxt.binanceusdm) -> None:
    """set_leverage(125) is accepted and answered with the symbol and 125."""
    res = ex.set_leverage(125, S)
    assert (res["symbol"], int(res["leverage"])) == ("BTCUSDT", 125)


def test_leverage_above_the_brackets_is_refused(ex: ccxt.binanceusdm) -> None:
    """A leverage above the symbol's first bracket (126x) is refused with Binance's error."""
    with pytest.raises(ccxt.ExchangeError, match="-4028"):
        ex.fapiPrivatePostLeverage({"symbol": "BTCUSDT", "leverage": 126})


def test_multi_assets_mode_through_ccxts_raw_signed_calls(ex: ccxt.binanceusdm) -> None:
    """ccxt's signed fapiPrivatePostMultiAssetsMargin switches Multi-Assets mode on (GET then
    says so); asking again is Binance's -4171, raised by ccxt."""
    assert ex.fapiPrivateGetMultiAssetsMargin() == {"multiAssetsMargin": False}
    assert ex.fapiPrivatePostMultiAssetsMargin({"multiAssetsMargin": "true"}) == {"code": 200, "msg": "success"}
    assert ex.fapiPrivateGetMultiAssetsMargin() == {"multiAssetsMargin": True}
    with pytest.raises(ccxt.ExchangeError, match="-4171"):
        ex.fapiPrivatePostMultiAssetsMargin({"multiAssetsMargin": "true"})


def test_set_margin_mode_isolated_then_again_says_no_need(ex: ccxt.binanceusdm) -> None:
    """set_margin_mode('isolated') is accepted; asking again is Binance's -4046 'No need to
    change margin type.', which ccxt raises as MarginModeAlreadySet."""
    ex.set_margin_mode("isolated", S)
    with pytest.raises(ccxt.MarginModeAlreadySet):
        ex.set_margin_mode("isolated", S)


def test_position_opened_after_set_margin_mode_is_isolated(ex: ccxt.binanceusdm) -> None:
    """A position opened after set_margin_mode('isolated') is an isolated one."""
    ex.set_margin_mode("isolated", S)
    ex.create_order(S, "market", "buy", 0.01)
    (pos,) = [p for p in ex.fetch_positions([S]) if p["contracts"]]
    assert pos["marginMode"] == "isolated"
    assert Decimal(pos["info"]["isolatedWallet"]) > 0


# --------------------------------------------------------------------------- orders
def test_limit_order_rests_and_is_listed_open(ex: ccxt.binanceusdm) -> None:
    """A limit buy under the market rests: create_order says open, fetch_open_orders lists it
    with its price and amount."""
    price = float(crash_first_open()) * 0.97  # under the market, inside Binance's percent-price band
    order = ex.create_order(S, "limit", "buy", 0.01, price)
    assert order["status"] == "open"
    (listed,) = ex.fetch_open_orders(S)
    assert listed["id"] == order["id"]
    assert Decimal(str(listed["price"])) == Decimal(ex.price_to_precision(S, price))
    assert listed["amount"] == 0.01


def test_cancel_order_removes_it_from_the_open_orders(ex: ccxt.binanceusdm) -> None:
    """cancel_order answers 'canceled' and the order is no longer open."""
    price = float(crash_first_open()) * 0.97  # under the market, inside Binance's percent-price band
    order = ex.create_order(S, "limit", "buy", 0.01, price)
    cancelled = ex.cancel_order(order["id"], S)
    assert (cancelled["id"], cancelled["status"]) == (order["id"], "canceled")
    assert ex.fetch_open_orders(S) == []


def test_cancel_of_an_unknown_order_is_order_not_found(ex: ccxt.binanceusdm) -> None:
    """Cancelling an order id the account never had is Binance's -2011, ccxt's OrderNotFound."""
    with pytest.raises(ccxt.OrderNotFound):
        ex.cancel_order("987654321", S)


def test_market_order_fills_at_once(ex: ccxt.binanceusdm) -> None:
    """A market buy is filled whole in the answer: status closed, filled = amount, an
    average price on the ask side of the market's first price, cost = average x amount."""
    order = ex.create_order(S, "market", "buy", 0.01)
    assert order["status"] == "closed"
    assert order["filled"] == 0.01
    assert Decimal(order["info"]["avgPrice"]) >= crash_first_open()
    assert Decimal(order["info"]["cumQuote"]) == Decimal(order["info"]["avgPrice"]) * Decimal("0.01")


def test_fetch_my_trades_shows_the_fill_with_its_fee(ex: ccxt.binanceusdm) -> None:
    """fetch_my_trades lists the market order's fill: its order id, amount, side and the
    taker fee of the instrument on its notional (exsim's fee, to the atom)."""
    order = ex.create_order(S, "market", "buy", 0.01)
    trades = ex.fetch_my_trades(S)
    assert {t["order"] for t in trades} == {order["id"]}
    assert sum(Decimal(t["info"]["qty"]) for t in trades) == Decimal("0.01")
    assert {t["side"] for t in trades} == {"buy"}
    taker = Decimal(get_instrument("BTCUSDT", ns_of_date("2022-01-21")).taker_fee_e8) / 10**8
    for t in trades:
        fee = Decimal(t["info"]["commission"])
        assert abs(fee - Decimal(t["info"]["quoteQty"]) * taker) < Decimal("0.00000001")


def test_stop_market_by_mark_waits_as_a_conditional_order(ex: ccxt.binanceusdm) -> None:
    """A stop-market sell by mark price below the market (ccxt sends it to Binance's algo
    order endpoint) waits: open, its trigger price, listed among the conditional orders."""
    trigger = ex.price_to_precision(S, float(crash_first_open()) * 0.9)
    order = ex.create_order(S, "market", "sell", 0.01, None, {"triggerPrice": trigger, "workingType": "MARK_PRICE"})
    assert order["status"] == "open"
    assert Decimal(str(order["triggerPrice"])) == Decimal(trigger)
    listed = ex.fetch_open_orders(S, params={"trigger": True})
    assert [o["id"] for o in listed] == [order["id"]]
    assert listed[0]["info"]["workingType"] == "MARK_PRICE"


def test_stop_market_is_cancelled_like_an_order(ex: ccxt.binanceusdm) -> None:
    """cancel_order(..., {'trigger': True}) cancels the waiting stop-market; it is no longer
    listed."""
    trigger = ex.price_to_precision(S, float(crash_first_open()) * 0.9)
    order = ex.create_order(S, "market", "sell", 0.01, None, {"triggerPrice": trigger, "workingType": "MARK_PRICE"})
    ex.cancel_order(order["id"], S, {"trigger": True})
    assert ex.fetch_open_orders(S, params={"trigger": True}) == []


def test_order_beyond_the_margin_is_insufficient_funds(ex: ccxt.binanceusdm) -> None:
    """A market buy whose initial margin exceeds the deposit (5 BTC at 20x on 5,000 USDT) is
    Binance's -2019 'Margin is insufficient.'; no position is opened. (ccxt maps the
    futures-only codes by Binance's host name, so at another address -2019 is a plain
    ExchangeError carrying the code.)"""
    ex.set_leverage(20, S)
    with pytest.raises(ccxt.ExchangeError, match="-2019"):
        ex.create_order(S, "market", "buy", 5)
    assert [p for p in ex.fetch_positions([S]) if p["contracts"]] == []


# --------------------------------------------------------------------------- positions
def test_fetch_positions_isolated_liquidation_price_is_exsim_liq_price(ex: ccxt.binanceusdm) -> None:
    """An isolated 125x long: fetch_positions' liquidation price is exactly what
    ``exsim liq-price`` computes for its size, entry and isolated margin."""
    ex.set_margin_mode("isolated", S)
    ex.set_leverage(125, S)
    ex.create_order(S, "market", "buy", 0.01)
    (pos,) = [p for p in ex.fetch_positions([S]) if p["contracts"]]
    info = pos["info"]
    assert pos["side"] == "long"
    expected = liq_price_cli(
        "--side", "long", "--qty", info["positionAmt"], "--entry", info["entryPrice"],
        "--wallet", info["isolatedWallet"], "--mode", "isolated", "--symbol", "BTCUSDT",
    )  # fmt: skip
    assert Decimal(info["liquidationPrice"]) == expected


def test_fetch_positions_cross_liquidation_price_is_exsim_liq_price(ex: ccxt.binanceusdm) -> None:
    """A cross 20x long of 2.5 BTC on 5,000 USDT: fetch_positions' liquidation price is
    exactly ``exsim liq-price --mode cross`` with the account's wallet balance."""
    ex.set_leverage(20, S)
    ex.create_order(S, "market", "buy", 2.5)
    (pos,) = [p for p in ex.fetch_positions([S]) if p["contracts"]]
    info = pos["info"]
    assert pos["marginMode"] == "cross"
    (usdt,) = [a for a in ex.fetch_balance()["info"]["assets"] if a["asset"] == "USDT"]
    expected = liq_price_cli(
        "--side", "long", "--qty", info["positionAmt"], "--entry", info["entryPrice"],
        "--wallet", usdt["walletBalance"], "--mode", "cross", "--symbol", "BTCUSDT",
    )  # fmt: skip
    assert Decimal(info["liquidationPrice"]) == expected


# --------------------------------------------------------------------------- keys and signatures
def test_wrong_secret_is_an_authentication_error(server: Server) -> None:
    """A request signed with another secret is refused (-1022), ccxt's AuthenticationError."""
    bad = ccxt.binanceusdm({**ccxt_config(server.base, server.ws, "key-0", "not-the-secret"), **NO_SAPI})
    with pytest.raises(ccxt.AuthenticationError):
        bad.fetch_balance()


def test_unknown_key_is_an_authentication_error(server: Server) -> None:
    """A key the server was not given is refused (-2015/-2014), ccxt's AuthenticationError."""
    bad = ccxt.binanceusdm({**ccxt_config(server.base, server.ws, "nobody", "nothing"), **NO_SAPI})
    with pytest.raises(ccxt.AuthenticationError):
        bad.fetch_balance()


# --------------------------------------------------------------------------- the end of the data
def test_after_the_end_of_data_the_account_stays_readable_and_tradable() -> None:
    """Stepped past the end of the crash file, the server says it ended and ccxt still
    reads the account and trades: a market buy fills and shows in the position."""
    with exsim_serve(CRASH, args=CRASH_ARGS) as server:
        state = server.advance(5 * 3600 * 1000)  # the file holds 4 hours
        assert state["ended"] is True
        ex = ccxt.binanceusdm(server.ccxt_config())
        assert Decimal(str(ex.fetch_balance()["USDT"]["total"])) == Decimal("10000")
        order = ex.create_order(S, "market", "buy", 0.01)
        assert order["status"] == "closed"
        (pos,) = [p for p in ex.fetch_positions([S]) if p["contracts"]]
        assert (pos["side"], pos["contracts"]) == ("long", 0.01)
        assert server.state()["time"] == state["time"]  # the clock stands at the end
