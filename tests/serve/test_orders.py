"""The order endpoints and user data of ``exsim serve`` (exsim.serve.orders).

Most tests drive the handlers through :class:`StubVenue`: a real Exchange and Ledger on
the shipped BTCUSDT (tick 0.1, lot 0.001, min notional 100 USDT, fees 0.02 % / 0.05 %),
whose ``send`` submits the command at once and hands every batch to ``Orders.on_events``
first, as the venue does. Prices are ticks around ``P = 600_000`` (60000.0 USDT).
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from exsim.book.orders import BUY, SELL, STOP_LIMIT, TRAILING_STOP_MARKET, TRIGGER_MARK
from exsim.exchange import (
    Deposit,
    Exchange,
    RejectReason,
    SetLeverage,
    SetMarginMode,
    SetMarkPrice,
    SetPositionMode,
    SetReplayedLevel,
)
from exsim.instruments import get_instrument
from exsim.ledger import Ledger
from exsim.ledger.ledger import Reason
from exsim.serve import orders as mod
from exsim.serve.binance import ENDPOINTS, BinanceError, Params, ms_of
from exsim.units import format_atoms, to_atoms
from exsim.serve.orders import REJECT_CODES, Orders, parse_new_order, reject_error

BTC = get_instrument("BTCUSDT")
SYM = "BTCUSDT"
P = 600_000
PER_TICK = BTC.subticks_per_tick
USDT = 10**8
ALICE, BOB = 1, 2

# the letters of Binance's ORDER_TRADE_UPDATE order object (USDⓈ-M user data stream)
OTU_LETTERS = {
    "s", "c", "S", "o", "f", "q", "p", "ap", "sp", "x", "X", "i", "l", "z", "L", "T", "t", "b", "a", "m", "R", "wt",
    "ot", "ps", "cp", "rp", "pP", "si", "ss", "V", "pm", "gtd", "er",
}


class StubVenue:
    """What the order handlers use of the venue, on a real Exchange and Ledger."""

    def __init__(self, *, leverage: int = 20, deposit: int = 10_000) -> None:
        self.instruments = {SYM: BTC}
        self.ledger = Ledger((BTC,), default_leverage=leverage)
        self.exchange = Exchange((BTC,), ledger=self.ledger, sinks=[self._sink])
        self.orders = Orders(self)
        self.now_ns = 1_642_723_200_000_000_000  # 2022-01-21
        self.user: dict[int, list[dict[str, Any]]] = defaultdict(list)
        self._batch: list[Any] = []
        for account in (ALICE, BOB):
            self.submit(Deposit(self.now_ns, account, deposit * USDT))

    def _sink(self, events: list[Any]) -> None:
        batch = list(events)
        self.orders.on_events(batch)
        self._batch = batch

    def submit(self, command: Any) -> list[Any]:
        self._batch = []
        self.exchange.submit(command)
        self.now_ns += 1_000_000
        return self._batch

    async def send(self, make: Any) -> list[Any]:
        return self.submit(make(self.now_ns))

    def publish_user(self, account_id: int, payload: dict[str, Any]) -> None:
        self.user[account_id].append(payload)

    # -- helpers
    def level(self, side: int, px: int, lots: int) -> None:
        self.submit(SetReplayedLevel(self.now_ns, SYM, side, px, lots))

    def mark(self, px_ticks: int) -> list[Any]:
        return self.submit(SetMarkPrice(self.now_ns, SYM, px_ticks * PER_TICK))

    def call(self, method: str, path: str, account: int, **params: Any) -> Any:
        values = {k: (json.dumps(v) if isinstance(v, list) else str(v)) for k, v in params.items()}
        result = ENDPOINTS[(method, path)].handler(self, account, Params(values))
        return asyncio.run(result) if asyncio.iscoroutine(result) else result

    def updates(self, account: int, kind: str = "ORDER_TRADE_UPDATE") -> list[dict[str, Any]]:
        return [u for u in self.user[account] if u["e"] == kind]


def refused(venue: StubVenue, method: str, path: str, account: int = ALICE, **params: Any) -> tuple[int, str]:
    with pytest.raises(BinanceError) as info:
        venue.call(method, path, account, **params)
    return info.value.code, info.value.msg


def limit(**extra: Any) -> dict[str, Any]:
    base = {"symbol": SYM, "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.010", "price": "59000.0"}
    base.update(extra)
    return base


def parse(**params: str) -> Any:
    return parse_new_order(Params(params), BTC, hedge_mode=False)


def parse_error(**params: str) -> tuple[int, str]:
    with pytest.raises(BinanceError) as info:
        parse(**params)
    return info.value.code, info.value.msg


# --------------------------------------------------------------------------- parameters
class TestParameters:
    def test_price_off_the_tick_is_4014(self) -> None:
        """A price that is not a multiple of the tick is refused with -4014, never rounded."""
        assert parse_error(**limit(price="59000.05"))[0] == -4014

    def test_quantity_off_the_step_is_4023(self) -> None:
        """A quantity that is not a multiple of the lot is refused with -4023."""
        assert parse_error(**limit(quantity="0.0105"))[0] == -4023

    def test_missing_side_is_1102_naming_it(self) -> None:
        """A missing mandatory parameter is -1102 and the message names it."""
        params = limit()
        del params["side"]
        code, msg = parse_error(**params)
        assert code == -1102 and "'side'" in msg

    def test_bad_side_is_1117(self) -> None:
        """A side other than BUY / SELL is -1117."""
        assert parse_error(**limit(side="buy"))[0] == -1117

    def test_bad_type_is_1116(self) -> None:
        """An unknown order type is -1116."""
        assert parse_error(**limit(type="ICEBERG"))[0] == -1116

    def test_bad_time_in_force_is_1115(self) -> None:
        """An unknown time in force is -1115."""
        assert parse_error(**limit(timeInForce="DAY"))[0] == -1115

    def test_limit_without_time_in_force_is_1102(self) -> None:
        """A LIMIT order must say its time in force, as at Binance."""
        params = limit()
        del params["timeInForce"]
        assert parse_error(**params)[0] == -1102

    def test_gtd_without_its_date_is_1102(self) -> None:
        """timeInForce GTD needs goodTillDate (-1102 naming it)."""
        code, msg = parse_error(**limit(timeInForce="GTD"))
        assert code == -1102 and "goodTillDate" in msg

    def test_gtd_date_is_rounded_down_to_the_second(self) -> None:
        """goodTillDate is taken to the second below, as at Binance; the order rests as GTC until then."""
        spec = parse(**limit(timeInForce="GTD", goodTillDate="1642799999999"))
        assert (spec.gtd_ms, spec.command(5, ALICE).tif) == (1642799999000, 0)

    def test_good_till_date_without_gtd_is_1106(self) -> None:
        """goodTillDate with another time in force is not required (-1106)."""
        assert parse_error(**limit(goodTillDate="1642799999000"))[0] == -1106

    def test_close_position_is_refused_saying_so(self) -> None:
        """closePosition=true is refused with -1106 naming the parameter and saying why."""
        code, msg = parse_error(symbol=SYM, side="SELL", type="STOP_MARKET", stopPrice="55000", closePosition="true")
        assert code == -1106 and "closePosition" in msg and "exsim" in msg

    def test_price_on_a_market_order_is_1106(self) -> None:
        """A MARKET order with a price is refused: the parameter is not required."""
        assert parse_error(symbol=SYM, side="BUY", type="MARKET", quantity="0.010", price="60000")[0] == -1106

    def test_zero_quantity_is_4003(self) -> None:
        """A quantity of zero is -4003."""
        assert parse_error(**limit(quantity="0"))[0] == -4003

    def test_reduce_only_in_hedge_mode_is_1106(self) -> None:
        """In hedge mode reduceOnly may not be sent (Binance: the position side says it)."""
        with pytest.raises(BinanceError) as info:
            parse_new_order(Params(limit(positionSide="LONG", reduceOnly="true")), BTC, hedge_mode=True)
        assert info.value.code == -1106

    def test_client_id_longer_than_36_is_4015(self) -> None:
        """A newClientOrderId longer than 36 characters is -4015."""
        assert parse_error(**limit(newClientOrderId="a" * 37))[0] == -4015

    def test_client_id_with_illegal_characters_is_1100(self) -> None:
        """A newClientOrderId outside Binance's alphabet is -1100."""
        assert parse_error(**limit(newClientOrderId="a b"))[0] == -1100

    def test_stop_is_exsim_stop_limit_by_mark(self) -> None:
        """STOP with workingType MARK_PRICE becomes a STOP_LIMIT triggered by the mark."""
        spec = parse(**limit(type="STOP", side="SELL", stopPrice="58000.0", workingType="MARK_PRICE"))
        cmd = spec.command(5, ALICE)
        assert (cmd.order_type, cmd.trigger_price_ticks, cmd.trigger_by, cmd.price_ticks) == (STOP_LIMIT, 580_000, TRIGGER_MARK, 590_000)

    def test_trailing_callback_rate_is_parts_per_1e8(self) -> None:
        """callbackRate 1 (%) is 1_000_000 e8; the activation price is the trigger price."""
        spec = parse(symbol=SYM, side="SELL", type="TRAILING_STOP_MARKET", quantity="0.010", callbackRate="1",
                     activationPrice="61000.0")
        cmd = spec.command(5, ALICE)
        assert (cmd.order_type, cmd.callback_rate_e8, cmd.trigger_price_ticks) == (TRAILING_STOP_MARKET, 1_000_000, 610_000)

    def test_callback_rate_below_a_tenth_of_a_percent_is_4082(self) -> None:
        """A callback rate outside 0.1 %..10 % is -4082."""
        assert parse_error(symbol=SYM, side="SELL", type="TRAILING_STOP_MARKET", quantity="0.010", callbackRate="0.05")[0] == -4082

    def test_batch_of_six_is_4081(self) -> None:
        """A batch of more than 5 orders is refused as a whole."""
        with pytest.raises(BinanceError) as info:
            mod.batch_params(Params({"batchOrders": json.dumps([limit()] * 6)}), "batchOrders", 5)
        assert info.value.code == -4081


# --------------------------------------------------------------------------- reject table
def _reasons(cls: type) -> list[str]:
    return [v for k, v in vars(cls).items() if k.isupper() and type(v) is str]


class TestRejectTable:
    def test_every_exchange_reason_has_a_binance_code(self) -> None:
        """Every RejectReason of the exchange maps to a Binance code."""
        assert set(_reasons(RejectReason)) <= set(REJECT_CODES)

    def test_every_ledger_reason_has_a_binance_code(self) -> None:
        """Every refusal reason of the ledger maps to a Binance code."""
        assert set(_reasons(Reason)) <= set(REJECT_CODES)

    @pytest.mark.parametrize(
        ("reason", "code"),
        [
            ("INSUFFICIENT_MARGIN", -2019),
            ("NOTIONAL_BELOW_MIN", -4164),
            ("WOULD_IMMEDIATELY_TRIGGER", -2021),
            ("REDUCE_ONLY_WOULD_INCREASE", -2022),
            ("POST_ONLY_WOULD_TAKE", -5022),
            ("POSITION_SIDE_MISMATCH", -4061),
            ("UNKNOWN_ORDER", -2013),
            ("DUPLICATE_CLIENT_ORDER_ID", -4116),
        ],
    )
    def test_reason_maps_to_binance_code(self, reason: str, code: int) -> None:
        """The refusals bots meet most carry Binance's own codes."""
        assert reject_error(reason, BTC).code == code

    def test_notional_message_names_the_minimum(self) -> None:
        """-4164 says the instrument's minimum notional, as Binance does."""
        assert "no smaller than 100 " in reject_error("NOTIONAL_BELOW_MIN", BTC).msg


# --------------------------------------------------------------------------- placing
class TestPlace:
    def test_limit_order_ack_is_new_with_binance_fields(self) -> None:
        """A resting LIMIT order answers NEW with Binance's fields, on the grid, as text."""
        v = StubVenue()
        r = v.call("POST", "/fapi/v1/order", ALICE, **limit(newClientOrderId="mine-1"))
        assert (r["status"], r["price"], r["origQty"], r["executedQty"], r["clientOrderId"]) == (
            "NEW", "59000.0", "0.010", "0.000", "mine-1"
        )
        assert {"orderId", "avgPrice", "cumQty", "cumQuote", "timeInForce", "type", "origType", "reduceOnly",
                "positionSide", "stopPrice", "workingType", "selfTradePreventionMode", "updateTime"} <= set(r)

    def test_generated_client_id_looks_like_binances(self) -> None:
        """Without newClientOrderId the venue makes a 22-character Binance-style id."""
        v = StubVenue()
        r = v.call("POST", "/fapi/v1/order", ALICE, **limit())
        assert len(r["clientOrderId"]) == 22 and r["clientOrderId"].isalnum()

    def test_new_order_pushes_order_trade_update_new(self) -> None:
        """Placing an order pushes ORDER_TRADE_UPDATE x=NEW with every field letter."""
        v = StubVenue()
        v.call("POST", "/fapi/v1/order", ALICE, **limit())
        (u,) = v.updates(ALICE)
        assert OTU_LETTERS <= set(u["o"]) and (u["o"]["x"], u["o"]["X"], u["o"]["b"]) == ("NEW", "NEW", "590")

    def test_market_result_is_filled_with_average_price(self) -> None:
        """A MARKET order with RESULT answers FILLED, its average and quote over two levels."""
        v = StubVenue()
        v.level(SELL, P, 5)
        v.level(SELL, P + 10, 5)
        r = v.call("POST", "/fapi/v1/order", ALICE, symbol=SYM, side="BUY", type="MARKET", quantity="0.010",
                   newOrderRespType="RESULT")
        assert (r["status"], r["executedQty"], r["avgPrice"], r["cumQuote"]) == ("FILLED", "0.010", "60000.5", "600.005")

    def test_fill_pushes_trade_with_commission_and_trade_lite(self) -> None:
        """A fill pushes ORDER_TRADE_UPDATE x=TRADE (taker fee in n) and a TRADE_LITE."""
        v = StubVenue()
        v.level(SELL, P, 10)
        v.call("POST", "/fapi/v1/order", ALICE, symbol=SYM, side="BUY", type="MARKET", quantity="0.010")
        trade = v.updates(ALICE)[-1]["o"]
        assert (trade["x"], trade["X"], trade["l"], trade["L"], trade["n"], trade["N"], trade["m"]) == (
            "TRADE", "FILLED", "0.010", "60000.0", "0.3", "USDT", False
        )
        (lite,) = v.updates(ALICE, "TRADE_LITE")
        assert (lite["l"], lite["L"], lite["i"]) == ("0.010", "60000.0", trade["i"])

    def test_gtx_that_would_take_is_5022(self) -> None:
        """A post-only order that would trade at once is refused with -5022."""
        v = StubVenue()
        v.level(SELL, P, 10)
        assert refused(v, "POST", "/fapi/v1/order", **limit(price="60000.0", timeInForce="GTX"))[0] == -5022

    def test_small_notional_is_4164(self) -> None:
        """An order below the 100 USDT minimum notional is -4164."""
        v = StubVenue()
        assert refused(v, "POST", "/fapi/v1/order", **limit(quantity="0.001"))[0] == -4164

    def test_margin_short_is_2019(self) -> None:
        """An order the account cannot margin is -2019."""
        v = StubVenue(deposit=100)
        assert refused(v, "POST", "/fapi/v1/order", **limit(quantity="1.000"))[0] == -2019

    def test_reduce_only_without_position_is_2022(self) -> None:
        """A reduce-only order that would open a position is -2022."""
        v = StubVenue()
        assert refused(v, "POST", "/fapi/v1/order", **limit(reduceOnly="true"))[0] == -2022

    def test_stop_through_the_mark_is_2021(self) -> None:
        """A stop whose trigger the mark already passed is -2021."""
        v = StubVenue()
        v.mark(P)
        code = refused(v, "POST", "/fapi/v1/order", symbol=SYM, side="SELL", type="STOP_MARKET", quantity="0.010",
                       stopPrice="60100.0", workingType="MARK_PRICE")[0]
        assert code == -2021

    def test_both_in_hedge_mode_is_4061(self) -> None:
        """In hedge mode an order with positionSide BOTH is -4061."""
        v = StubVenue()
        v.submit(SetPositionMode(v.now_ns, ALICE, True))
        assert refused(v, "POST", "/fapi/v1/order", **limit())[0] == -4061

    def test_unknown_symbol_is_1121(self) -> None:
        """An unknown symbol is -1121."""
        assert refused(StubVenue(), "POST", "/fapi/v1/order", **limit(symbol="DOGEUSDT"))[0] == -1121

    def test_duplicate_open_client_id_is_4116(self) -> None:
        """A client id already used by an open order of the account is -4116."""
        v = StubVenue()
        v.call("POST", "/fapi/v1/order", ALICE, **limit(newClientOrderId="dup"))
        assert refused(v, "POST", "/fapi/v1/order", **limit(newClientOrderId="dup"))[0] == -4116

    def test_trailing_stop_shows_rate_and_activation(self) -> None:
        """A trailing stop answers with priceRate (percent) and activatePrice."""
        v = StubVenue()
        v.level(BUY, P - 10, 10)
        v.level(SELL, P, 10)
        v.call("POST", "/fapi/v1/order", ALICE, symbol=SYM, side="BUY", type="MARKET", quantity="0.010")
        r = v.call("POST", "/fapi/v1/order", ALICE, symbol=SYM, side="SELL", type="TRAILING_STOP_MARKET",
                   quantity="0.010", callbackRate="0.5", activationPrice="61000.0", reduceOnly="true")
        assert (r["type"], r["priceRate"], r["activatePrice"], r["status"]) == ("TRAILING_STOP_MARKET", "0.5", "61000.0", "NEW")


# --------------------------------------------------------------------------- cancel, query, amend
class TestCancelAndQuery:
    def test_cancel_by_client_id(self) -> None:
        """DELETE by origClientOrderId cancels the order and pushes CANCELED."""
        v = StubVenue()
        v.call("POST", "/fapi/v1/order", ALICE, **limit(newClientOrderId="c1"))
        r = v.call("DELETE", "/fapi/v1/order", ALICE, symbol=SYM, origClientOrderId="c1")
        assert r["status"] == "CANCELED" and v.updates(ALICE)[-1]["o"]["x"] == "CANCELED"

    def test_cancel_twice_is_2011(self) -> None:
        """Cancelling an order that is no longer open is -2011."""
        v = StubVenue()
        r = v.call("POST", "/fapi/v1/order", ALICE, **limit())
        v.call("DELETE", "/fapi/v1/order", ALICE, symbol=SYM, orderId=r["orderId"])
        assert refused(v, "DELETE", "/fapi/v1/order", symbol=SYM, orderId=r["orderId"])[0] == -2011

    def test_query_unknown_is_2013(self) -> None:
        """Querying an order id the account never had is -2013."""
        assert refused(StubVenue(), "GET", "/fapi/v1/order", symbol=SYM, orderId=999)[0] == -2013

    def test_other_accounts_order_is_unknown(self) -> None:
        """An account cannot see or cancel another account's order."""
        v = StubVenue()
        r = v.call("POST", "/fapi/v1/order", ALICE, **limit())
        assert refused(v, "DELETE", "/fapi/v1/order", BOB, symbol=SYM, orderId=r["orderId"])[0] == -2011

    def test_neither_id_is_1102(self) -> None:
        """A cancel naming no order is -1102."""
        assert refused(StubVenue(), "DELETE", "/fapi/v1/order", symbol=SYM)[0] == -1102

    def test_query_after_cancel_shows_canceled_with_time(self) -> None:
        """GET shows a cancelled order with its time and update time."""
        v = StubVenue()
        r = v.call("POST", "/fapi/v1/order", ALICE, **limit())
        v.call("DELETE", "/fapi/v1/order", ALICE, symbol=SYM, orderId=r["orderId"])
        q = v.call("GET", "/fapi/v1/order", ALICE, symbol=SYM, orderId=r["orderId"])
        assert q["status"] == "CANCELED" and q["updateTime"] > q["time"]

    def test_open_orders_lists_only_open(self) -> None:
        """openOrders lists the open orders; allOrders lists them all."""
        v = StubVenue()
        a = v.call("POST", "/fapi/v1/order", ALICE, **limit())
        b = v.call("POST", "/fapi/v1/order", ALICE, **limit(price="58000.0"))
        v.call("DELETE", "/fapi/v1/order", ALICE, symbol=SYM, orderId=a["orderId"])
        assert [o["orderId"] for o in v.call("GET", "/fapi/v1/openOrders", ALICE, symbol=SYM)] == [b["orderId"]]
        assert len(v.call("GET", "/fapi/v1/allOrders", ALICE, symbol=SYM)) == 2

    def test_open_order_of_a_cancelled_order_is_2013(self) -> None:
        """GET openOrder of an order that is no longer open is -2013."""
        v = StubVenue()
        r = v.call("POST", "/fapi/v1/order", ALICE, **limit())
        v.call("DELETE", "/fapi/v1/order", ALICE, symbol=SYM, orderId=r["orderId"])
        assert refused(v, "GET", "/fapi/v1/openOrder", symbol=SYM, orderId=r["orderId"])[0] == -2013

    def test_cancel_all_open_orders(self) -> None:
        """DELETE allOpenOrders cancels every open order on the symbol and answers code 200."""
        v = StubVenue()
        for px in ("59000.0", "58000.0", "57000.0"):
            v.call("POST", "/fapi/v1/order", ALICE, **limit(price=px))
        r = v.call("DELETE", "/fapi/v1/allOpenOrders", ALICE, symbol=SYM)
        assert r["code"] == 200 and v.call("GET", "/fapi/v1/openOrders", ALICE, symbol=SYM) == []

    def test_amend_changes_price_and_pushes_amendment(self) -> None:
        """PUT changes a LIMIT order's price and quantity and pushes x=AMENDMENT."""
        v = StubVenue()
        r = v.call("POST", "/fapi/v1/order", ALICE, **limit())
        a = v.call("PUT", "/fapi/v1/order", ALICE, symbol=SYM, orderId=r["orderId"], side="BUY", quantity="0.020",
                   price="59100.0")
        assert (a["price"], a["origQty"], a["status"]) == ("59100.0", "0.020", "NEW")
        assert v.updates(ALICE)[-1]["o"]["x"] == "AMENDMENT"

    def test_amend_to_the_same_is_5027(self) -> None:
        """A modification that changes nothing is -5027."""
        v = StubVenue()
        r = v.call("POST", "/fapi/v1/order", ALICE, **limit())
        code = refused(v, "PUT", "/fapi/v1/order", symbol=SYM, orderId=r["orderId"], side="BUY", quantity="0.010",
                       price="59000.0")[0]
        assert code == -5027

    def test_amend_below_the_filled_quantity_cancels(self) -> None:
        """As at Binance, a new quantity not above what has filled cancels the order."""
        v = StubVenue()
        r = v.call("POST", "/fapi/v1/order", ALICE, **limit(price="60000.0"))
        v.call("POST", "/fapi/v1/order", BOB, symbol=SYM, side="SELL", type="MARKET", quantity="0.004")
        a = v.call("PUT", "/fapi/v1/order", ALICE, symbol=SYM, orderId=r["orderId"], side="BUY", quantity="0.004",
                   price="60000.0")
        assert (a["status"], a["executedQty"]) == ("CANCELED", "0.004")

    def test_batch_answers_each_order_or_its_error(self) -> None:
        """batchOrders answers each entry in order: the order, or its Binance error."""
        v = StubVenue()
        out = v.call("POST", "/fapi/v1/batchOrders", ALICE, batchOrders=[limit(), limit(price="59000.05")])
        assert out[0]["status"] == "NEW" and out[1]["code"] == -4014

    def test_batch_cancel_by_id_list(self) -> None:
        """DELETE batchOrders cancels each listed order; an unknown one gets -2011."""
        v = StubVenue()
        r = v.call("POST", "/fapi/v1/order", ALICE, **limit())
        out = v.call("DELETE", "/fapi/v1/batchOrders", ALICE, symbol=SYM, orderIdList=[r["orderId"], 12345])
        assert out[0]["status"] == "CANCELED" and out[1]["code"] == -2011


# --------------------------------------------------------------------------- trades and STP
class TestTrades:
    def test_user_trade_realized_pnl_equals_the_ledgers(self) -> None:
        """userTrades' realizedPnl of a closing fill is the ledger's realized PnL, exactly."""
        v = StubVenue()
        v.level(SELL, P, 10)
        v.call("POST", "/fapi/v1/order", ALICE, symbol=SYM, side="BUY", type="MARKET", quantity="0.010")
        v.level(BUY, P + 1003, 10)
        v.call("POST", "/fapi/v1/order", ALICE, symbol=SYM, side="SELL", type="MARKET", quantity="0.010")
        trades = v.call("GET", "/fapi/v1/userTrades", ALICE, symbol=SYM)
        assert [t["realizedPnl"] for t in trades] == ["0", "1.003"]
        assert v.ledger.accounts[ALICE].realized_pnl_atoms == 1_003 * 10 * BTC.atoms_per_tick_lot

    def test_user_trade_fields(self) -> None:
        """A user trade carries Binance's fields: buyer, maker, commission and its asset, position side."""
        v = StubVenue()
        v.call("POST", "/fapi/v1/order", ALICE, **limit(price="60000.0"))
        v.call("POST", "/fapi/v1/order", BOB, symbol=SYM, side="SELL", type="MARKET", quantity="0.010")
        (t,) = v.call("GET", "/fapi/v1/userTrades", ALICE, symbol=SYM)
        assert (t["buyer"], t["maker"], t["commission"], t["commissionAsset"], t["positionSide"], t["quoteQty"]) == (
            True, True, "0.12", "USDT", "BOTH", "600"
        )

    def test_hedge_mode_close_realizes_on_the_long_leg(self) -> None:
        """In hedge mode a SELL with positionSide LONG closes the long: its trade shows LONG and the realized PnL."""
        v = StubVenue()
        v.submit(SetPositionMode(v.now_ns, ALICE, True))
        v.level(SELL, P, 10)
        v.call("POST", "/fapi/v1/order", ALICE, symbol=SYM, side="BUY", positionSide="LONG", type="MARKET", quantity="0.010")
        v.level(BUY, P - 500, 10)
        v.call("POST", "/fapi/v1/order", ALICE, symbol=SYM, side="SELL", positionSide="LONG", type="MARKET", quantity="0.010")
        trades = v.call("GET", "/fapi/v1/userTrades", ALICE, symbol=SYM)
        assert [(t["side"], t["positionSide"], t["realizedPnl"]) for t in trades] == [
            ("BUY", "LONG", "0"), ("SELL", "LONG", "-0.5")
        ]

    def test_expire_maker_stp_is_expired_in_match(self) -> None:
        """A resting own order removed by EXPIRE_MAKER ends EXPIRED_IN_MATCH."""
        v = StubVenue()
        r = v.call("POST", "/fapi/v1/order", ALICE, **limit(price="60000.0"))
        v.level(BUY, P - 10, 10)
        v.call("POST", "/fapi/v1/order", ALICE, symbol=SYM, side="SELL", type="MARKET", quantity="0.010",
               selfTradePreventionMode="EXPIRE_MAKER")
        q = v.call("GET", "/fapi/v1/order", ALICE, symbol=SYM, orderId=r["orderId"])
        assert q["status"] == "EXPIRED_IN_MATCH"


# --------------------------------------------------------------------------- liquidation
def liquidated_long() -> StubVenue:
    """Alice 125x isolated long 0.010 at 60000 from Bob's resting sell; no bid left; the mark falls
    to 59000: her liquidation order finds no bid, the empty fund cannot take the position
    over, so Bob's profitable short is auto-deleveraged."""
    v = StubVenue(deposit=1_000)
    v.submit(SetLeverage(v.now_ns, ALICE, SYM, 125))
    v.submit(SetMarginMode(v.now_ns, ALICE, SYM, 1))  # isolated: 4.8 USDT backs the position
    v.mark(P)
    v.call("POST", "/fapi/v1/order", BOB, **limit(side="SELL", price="60000.0"))
    v.call("POST", "/fapi/v1/order", ALICE, symbol=SYM, side="BUY", type="MARKET", quantity="0.010")
    v.mark(P - 10_000)
    return v


class TestLiquidation:
    def test_liquidation_order_is_calculated_autoclose(self) -> None:
        """The liquidated account sees its liquidation order as o=LIQUIDATION, x=CALCULATED, c=autoclose-<ms>."""
        v = liquidated_long()
        (u,) = [u for u in v.updates(ALICE) if u["o"]["o"] == "LIQUIDATION"]
        o = u["o"]
        assert (o["x"], o["X"], o["ot"], o["S"], o["z"], o["f"], o["er"]) == (
            "CALCULATED", "FILLED", "LIQUIDATION", "SELL", "0.010", "IOC", "0"
        )
        assert o["c"] == f"autoclose-{u['E']}"

    def test_liquidation_fill_realizes_the_ledgers_loss(self) -> None:
        """The liquidation's rp is the loss the ledger realized on the position."""
        v = liquidated_long()
        (u,) = [u for u in v.updates(ALICE) if u["o"]["o"] == "LIQUIDATION"]
        assert format_atoms(v.ledger.accounts[ALICE].realized_pnl_atoms, 0) == u["o"]["rp"]

    def test_adl_counterparty_sees_adl_autoclose(self) -> None:
        """The deleveraged short sees a CALCULATED fill with client id adl_autoclose at the bankruptcy price."""
        v = liquidated_long()
        (u,) = [u for u in v.updates(BOB) if u["o"]["c"] == "adl_autoclose"]
        liq = [u for u in v.updates(ALICE) if u["o"]["o"] == "LIQUIDATION"][0]["o"]
        assert (u["o"]["x"], u["o"]["S"], u["o"]["z"], u["o"]["L"]) == ("CALCULATED", "BUY", "0.010", liq["L"])

    def test_book_fill_then_takeover_are_two_calculated_fills(self) -> None:
        """A liquidation that fills part in the book reports that fill, then the rest at the bankruptcy price."""
        v = StubVenue(deposit=1_000)
        v.submit(SetLeverage(v.now_ns, ALICE, SYM, 125))
        v.submit(SetMarginMode(v.now_ns, ALICE, SYM, 1))
        v.mark(P)
        v.call("POST", "/fapi/v1/order", BOB, **limit(side="SELL", price="60000.0"))
        v.call("POST", "/fapi/v1/order", ALICE, symbol=SYM, side="BUY", type="MARKET", quantity="0.010")
        v.level(BUY, P - 4_000, 4)  # 4 lots bid above the bankruptcy price
        v.mark(P - 10_000)
        fills = [u["o"] for u in v.updates(ALICE) if u["o"]["o"] == "LIQUIDATION"]
        assert [(o["x"], o["X"], o["l"], o["z"]) for o in fills] == [
            ("CALCULATED", "PARTIALLY_FILLED", "0.004", "0.004"), ("CALCULATED", "FILLED", "0.006", "0.010")
        ]

    def test_liquidation_shows_in_all_orders_and_user_trades(self) -> None:
        """The liquidation order and its fill are listed by allOrders and userTrades."""
        v = liquidated_long()
        orders = v.call("GET", "/fapi/v1/allOrders", ALICE, symbol=SYM)
        trades = v.call("GET", "/fapi/v1/userTrades", ALICE, symbol=SYM)
        assert orders[-1]["type"] == "LIQUIDATION" and trades[-1]["orderId"] == orders[-1]["orderId"]


# --------------------------------------------------------------------------- algo (conditional) orders
def stop_by_mark(v: StubVenue, **extra: Any) -> dict[str, Any]:
    """Alice long 0.010 at 60000; a reduce-only STOP_MARKET by mark at 59000 through the Algo Service."""
    v.mark(P)
    v.level(SELL, P, 10)
    v.level(BUY, P - 20_000, 10)
    v.call("POST", "/fapi/v1/order", ALICE, symbol=SYM, side="BUY", type="MARKET", quantity="0.010")
    params = dict(symbol=SYM, side="SELL", type="STOP_MARKET", quantity="0.01", triggerPrice="59000",
                  workingType="MARK_PRICE", reduceOnly="true", algoType="CONDITIONAL", clientAlgoId="x-algo-1")
    params.update(extra)
    return v.call("POST", "/fapi/v1/algoOrder", ALICE, **params)  # type: ignore[no-any-return]


class TestAlgoOrders:
    def test_algo_order_answers_new_with_its_trigger(self) -> None:
        """POST algoOrder answers the algo order: algoId, clientAlgoId, algoStatus NEW, triggerPrice on the tick."""
        r = stop_by_mark(StubVenue())
        assert (r["algoStatus"], r["clientAlgoId"], r["triggerPrice"], r["orderType"], r["workingType"]) == (
            "NEW", "x-algo-1", "59000.0", "STOP_MARKET", "MARK_PRICE"
        )

    def test_algo_order_is_listed_as_algo_not_as_order(self) -> None:
        """An untriggered algo order is in openAlgoOrders, not in openOrders."""
        v = StubVenue()
        r = stop_by_mark(v)
        assert [a["algoId"] for a in v.call("GET", "/fapi/v1/openAlgoOrders", ALICE, symbol=SYM)] == [r["algoId"]]
        assert v.call("GET", "/fapi/v1/openOrders", ALICE, symbol=SYM) == []

    def test_algo_order_pushes_algo_update_only(self) -> None:
        """Placing an algo order pushes ALGO_UPDATE NEW and no ORDER_TRADE_UPDATE for it."""
        v = StubVenue()
        r = stop_by_mark(v)
        (u,) = v.updates(ALICE, "ALGO_UPDATE")
        assert (u["o"]["aid"], u["o"]["X"], u["o"]["tp"], u["o"]["ai"]) == (r["algoId"], "NEW", "59000.0", "")
        assert all(o["o"]["i"] != r["algoId"] for o in v.updates(ALICE))

    def test_triggered_algo_order_trades_then_finishes(self) -> None:
        """At its trigger the algo order goes TRIGGERED (with its order id), trades as MARKET, then FINISHED."""
        v = StubVenue()
        r = stop_by_mark(v)
        v.mark(P - 10_001)
        assert [u["o"]["X"] for u in v.updates(ALICE, "ALGO_UPDATE")] == ["NEW", "TRIGGERED", "FINISHED"]
        mine = [u["o"] for u in v.updates(ALICE) if u["o"]["i"] == r["algoId"]]
        assert [(o["x"], o["X"], o["o"], o["ot"]) for o in mine] == [
            ("NEW", "NEW", "MARKET", "STOP_MARKET"), ("TRADE", "FILLED", "MARKET", "STOP_MARKET")
        ]

    def test_cancel_algo_order(self) -> None:
        """DELETE algoOrder answers code "200" and pushes ALGO_UPDATE CANCELED."""
        v = StubVenue()
        r = stop_by_mark(v)
        out = v.call("DELETE", "/fapi/v1/algoOrder", ALICE, symbol=SYM, algoId=r["algoId"])
        assert (out["code"], out["msg"]) == ("200", "success")
        assert v.updates(ALICE, "ALGO_UPDATE")[-1]["o"]["X"] == "CANCELED"

    def test_algo_order_is_unknown_to_the_order_endpoints(self) -> None:
        """Until triggered, GET /fapi/v1/order does not know an algo order's id (-2013), as at Binance."""
        v = StubVenue()
        r = stop_by_mark(v)
        assert refused(v, "GET", "/fapi/v1/order", symbol=SYM, orderId=r["algoId"])[0] == -2013

    def test_algo_limit_type_is_1116(self) -> None:
        """The Algo Service takes conditional types only: LIMIT is -1116."""
        v = StubVenue()
        code = refused(v, "POST", "/fapi/v1/algoOrder", symbol=SYM, side="BUY", type="LIMIT", quantity="0.01",
                       price="59000", algoType="CONDITIONAL")[0]
        assert code == -1116

    def test_algo_without_trigger_price_is_1102_naming_it(self) -> None:
        """A conditional order without triggerPrice is -1102 naming triggerPrice."""
        v = StubVenue()
        code, msg = refused(v, "POST", "/fapi/v1/algoOrder", symbol=SYM, side="SELL", type="STOP_MARKET",
                            quantity="0.01", algoType="CONDITIONAL")
        assert code == -1102 and "triggerPrice" in msg


# --------------------------------------------------------------------------- through the real venue, on the crash
CRASH = Path(__file__).resolve().parents[2] / "replays" / "btc-perp-20220121-1m.csv"


def crash_venue() -> Any:
    """A stepped venue on the shipped Jan-2022 crash (BTCUSDT 1m bars, 20:00-23:59 UTC),
    two accounts of 10,000 USDT; account 1 at 125x isolated."""
    from exsim.replay import ReplayConfig
    from exsim.serve.venue import ServeConfig, Venue

    config = ServeConfig(speed="step", replay=ReplayConfig(symbol=SYM))
    venue = Venue([CRASH], [("k1", "s1"), ("k2", "s2")], config, components=[("orders", Orders)])
    venue.user = defaultdict(list)
    venue.user_sink = lambda account, payload: venue.user[account].append(payload)
    return venue


async def _send_and_call(venue: Any, commands: list[Any], method: str, path: str, params: dict[str, str]) -> Any:
    for make in commands:
        await venue.send(make)
    await venue.advance(60_000)
    return await ENDPOINTS[(method, path)].handler(venue, ALICE, Params(params))


class TestOnTheCrashReplay:
    def test_125x_long_is_liquidated_as_binance_reports_it(self) -> None:
        """A 125x isolated long of 1 BTC bought at the crash's open is liquidated: ORDER_TRADE_UPDATE
        o=LIQUIDATION, x=CALCULATED, X=FILLED, c=autoclose-<its ms>, for the whole position."""
        venue = crash_venue()
        r = asyncio.run(_send_and_call(
            venue,
            [lambda ts: SetLeverage(ts, ALICE, SYM, 125), lambda ts: SetMarginMode(ts, ALICE, SYM, 1)],
            "POST", "/fapi/v1/order",
            {"symbol": SYM, "side": "BUY", "type": "MARKET", "quantity": "1", "newOrderRespType": "RESULT"},
        ))
        assert r["status"] == "FILLED"
        asyncio.run(venue.advance(4 * 3_600_000))
        liq = [u for u in venue.user[ALICE] if u["e"] == "ORDER_TRADE_UPDATE" and u["o"]["o"] == "LIQUIDATION"]
        assert liq and all(u["o"]["x"] == "CALCULATED" and u["o"]["c"] == f"autoclose-{u['T']}" for u in liq)
        assert (liq[-1]["o"]["X"], liq[-1]["o"]["z"], liq[-1]["o"]["S"]) == ("FILLED", "1.000", "SELL")
        assert not venue.ledger.accounts[ALICE].positions

    def test_user_trades_realize_what_the_ledger_realized(self) -> None:
        """On the crash, the realizedPnl of the account's user trades sums to the ledger's realized PnL, exactly."""
        venue = crash_venue()
        asyncio.run(_send_and_call(
            venue,
            [lambda ts: SetLeverage(ts, ALICE, SYM, 125), lambda ts: SetMarginMode(ts, ALICE, SYM, 1)],
            "POST", "/fapi/v1/order", {"symbol": SYM, "side": "BUY", "type": "MARKET", "quantity": "1"},
        ))
        asyncio.run(venue.advance(4 * 3_600_000))
        trades = ENDPOINTS[("GET", "/fapi/v1/userTrades")].handler(venue, ALICE, Params({"symbol": SYM}))
        realized = sum(to_atoms(t["realizedPnl"], field="realizedPnl") for t in trades)
        assert realized == venue.ledger.accounts[ALICE].realized_pnl_atoms != 0

    def test_gtd_order_expires_at_its_date(self) -> None:
        """A GTD limit order far from the market expires at its goodTillDate: EXPIRED, updated at that ms."""
        venue = crash_venue()
        gtd = ms_of(venue.now_ns) + 3_600_000
        r = asyncio.run(_send_and_call(
            venue, [], "POST", "/fapi/v1/order",
            {"symbol": SYM, "side": "BUY", "type": "LIMIT", "timeInForce": "GTD", "quantity": "0.01", "price": "30000",
             "goodTillDate": str(gtd)},
        ))
        assert (r["status"], r["goodTillDate"]) == ("NEW", gtd)
        asyncio.run(venue.advance(2 * 3_600_000))
        q = ENDPOINTS[("GET", "/fapi/v1/order")].handler(venue, ALICE, Params({"symbol": SYM, "orderId": str(r["orderId"])}))
        assert (q["status"], q["updateTime"]) == ("EXPIRED", gtd)
        assert venue.user[ALICE][-1]["o"]["x"] == "EXPIRED"

    def test_gtd_closer_than_ten_minutes_is_5040(self) -> None:
        """A goodTillDate less than 600 s ahead of the venue's clock is -5040."""
        venue = crash_venue()
        with pytest.raises(BinanceError) as info:
            asyncio.run(_send_and_call(
                venue, [], "POST", "/fapi/v1/order",
                {"symbol": SYM, "side": "BUY", "type": "LIMIT", "timeInForce": "GTD", "quantity": "0.01",
                 "price": "30000", "goodTillDate": str(ms_of(venue.now_ns) + 60_000 + 599_000)},
            ))
        assert info.value.code == -5040

    def test_countdown_cancels_open_orders_unless_renewed(self) -> None:
        """countdownCancelAll cancels the symbol's open orders when its countdown runs out, not before."""
        venue = crash_venue()
        r = asyncio.run(_send_and_call(venue, [], "POST", "/fapi/v1/order", {
            "symbol": SYM, "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.01", "price": "30000"}))
        call = ENDPOINTS[("POST", "/fapi/v1/countdownCancelAll")].handler
        assert call(venue, ALICE, Params({"symbol": SYM, "countdownTime": "120000"})) == {
            "symbol": SYM, "countdownTime": "120000"}
        asyncio.run(venue.advance(60_000))
        call(venue, ALICE, Params({"symbol": SYM, "countdownTime": "120000"}))  # renewed: 120 s from now
        asyncio.run(venue.advance(119_000))
        query = ENDPOINTS[("GET", "/fapi/v1/order")].handler
        assert query(venue, ALICE, Params({"symbol": SYM, "orderId": str(r["orderId"])}))["status"] == "NEW"
        asyncio.run(venue.advance(1_000))
        assert query(venue, ALICE, Params({"symbol": SYM, "orderId": str(r["orderId"])}))["status"] == "CANCELED"


def test_docs_list_every_refusal_with_its_code() -> None:
    """docs/serve-orders.md lists every exsim refusal reason with the Binance code it becomes."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "serve-orders.md").read_text(encoding="utf-8")
    for reason, (code, _) in REJECT_CODES.items():
        assert f"| `{reason}` | {code} |" in doc, reason
