"""The strategy context of issue 14 on real data (hftbacktest's Binance USDⓈ-M captures of
BTCUSDT and ETHUSDT, 2024-08-08): named values, decimal prices and sizes, the order handle,
brackets, OCO pairs, trailing stops, hedge mode and the decimal readers — each checked
against what the exchange and the ledger hold."""

from __future__ import annotations

import gzip
import itertools
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from exsim.book.orders import BUY, GTX, LIMIT, MARKET, SELL, STOP_MARKET, TRAILING_STOP_MARKET, TRIGGER_MARK
from exsim.errors import InputError, OffGridError
from exsim.exchange import NewBracket, NewOco, NewOrder, OrderAccepted, OrderCancelled
from exsim.readers import open_rows
from exsim.readers.native import write_rows
from exsim.replay import OrderHandle, OrderType, PositionSide, Replay, ReplayConfig, Side, Strategy, TimeInForce, Trail, Trigger
from exsim.replay.strategy import code_of

ROOT = Path(__file__).resolve().parents[2]
HFT = ROOT.parent / "shared" / "data" / "hftbacktest-binance-20240808"
pytestmark = pytest.mark.skipif(not HFT.is_dir(), reason="needs ../shared/data (the team's shared folder)")
EXCERPT_ROWS = 60_000  # the first minutes of each capture: depth, trades and quotes
S = 1_000_000_000


@pytest.fixture(scope="module")
def two_symbols(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The first rows of the BTCUSDT and ETHUSDT captures, in exsim's format (replays in seconds)."""
    folder = tmp_path_factory.mktemp("excerpts")
    paths = []
    for name in ("usdm_btcusdt_20240808.gz", "usdm_ethusdt_20240808.gz"):
        path = folder / name.replace(".gz", ".csv.gz")
        with gzip.open(path, "wt", encoding="utf-8", newline="") as f:
            write_rows(itertools.islice(open_rows(HFT / name)[1], EXCERPT_ROWS), f, "exsim-csv")
        paths.append(path)
    return paths


class Script(Strategy):
    """Runs ``steps[i](ctx, seen)`` at 1 s, 2 s, ... after the start; keeps every order
    event with its handle, every fill, and the commands sent."""

    def __init__(self, *steps: Any) -> None:
        self.steps = steps
        self.events: list[tuple[Any, Any]] = []
        self.fills: list[Any] = []
        self.seen: dict[str, Any] = {}

    def on_start(self, ctx: Any) -> None:
        for i in range(len(self.steps)):
            ctx.call_at(ctx.now_ns + (i + 1) * S, str(i))

    def on_timer(self, ctx: Any, name: str) -> None:
        self.steps[int(name)](ctx, self.seen)

    def on_order(self, ctx: Any, event: Any) -> None:
        self.events.append((event, ctx.handle_of(event)))

    def on_fill(self, ctx: Any, fill: Any) -> None:
        self.fills.append(fill)


def run(files: list[Path], *steps: Any, **config: Any) -> tuple[Script, Replay]:
    script = Script(*steps)
    replay = Replay(files, script, ReplayConfig(balance="100000", **config))
    sent: list[Any] = []
    send = replay.ctx._send

    def spy(command: Any) -> None:
        sent.append(command)
        send(command)

    replay.ctx._send = spy  # type: ignore[method-assign]
    script.seen["sent"] = sent
    replay.run()
    replay.exchange._check()
    return script, replay


class TestNamedValues:
    def test_names_are_case_insensitive_and_map_to_the_engine_codes(self) -> None:
        """'buy', 'SELL', the enums and the int codes all give the engine's codes."""
        assert [code_of("side", v) for v in ("buy", "SELL", Side.SELL, BUY)] == [BUY, SELL, SELL, BUY]
        assert code_of("order_type", "Trailing_Stop_Market") == code_of("order_type", OrderType.TRAILING_STOP_MARKET) == TRAILING_STOP_MARKET
        assert code_of("tif", "gtx") == code_of("tif", TimeInForce.GTX) == GTX
        assert code_of("trigger", Trigger.MARK) == TRIGGER_MARK
        assert [code_of("position_side", v) for v in ("both", "LONG", PositionSide.SHORT)] == [0, 1, 2]

    def test_the_enums_are_strings(self) -> None:
        """An enum member is its lower-case name (a strategy may store either)."""
        assert Side.BUY == "buy" and OrderType.STOP_MARKET == "stop_market" and Trigger.LAST == "last"

    @pytest.mark.parametrize(
        ("field", "value", "allowed"),
        [
            ("side", "long", "'buy', 'sell'"),
            ("order_type", "stop", "'limit', 'market', 'stop_market'"),
            ("tif", "DAY", "'GTC', 'IOC', 'FOK', 'GTX'"),
            ("trigger", "index", "'last', 'mark'"),
            ("position_side", 7, "'both', 'long', 'short'"),
            ("side", True, "'buy', 'sell'"),
        ],
    )
    def test_a_wrong_name_names_the_field_and_the_allowed_values(self, field: str, value: Any, allowed: str) -> None:
        """A wrong name is one InputError naming the field, the value and the names allowed."""
        with pytest.raises(InputError) as err:
            code_of(field, value)
        assert err.value.field == field and repr(value) in str(err.value) and allowed in str(err.value)


class TestOrdersByName:
    def test_decimal_text_and_ints_send_the_same_order(self, two_symbols: list[Path]) -> None:
        """A price and a size as text, as Decimal and as int ticks / lots make one command."""

        def send(ctx: Any, seen: dict[str, Any]) -> None:
            bid = ctx.best_bid("BTCUSDT") - 500
            text = str(ctx.price("BTCUSDT", bid))
            seen["a"] = ctx.order("BTCUSDT", "buy", "0.010", text, tif="gtc")
            seen["b"] = ctx.order("BTCUSDT", Side.BUY, Decimal("0.01"), Decimal(text), tif=TimeInForce.GTC)
            seen["c"] = ctx.order("BTCUSDT", BUY, 10, bid, order_type=LIMIT)

        script, _ = run(two_symbols, send)
        orders = [c for c in script.seen["sent"] if type(c) is NewOrder]
        assert len(orders) == 3 and len({c[3:8] for c in orders}) == 1  # side, qty, price, type, tif
        assert orders[0].qty_lots == 10 and orders[0].order_type == LIMIT

    def test_buy_and_sell_with_int_lots_send_what_order_sends(self, two_symbols: list[Path]) -> None:
        """ctx.buy / ctx.sell with int lots (and ticks) and no option build their NewOrder in one
        step: the same command as ctx.order's, client ids aside (each takes the next one)."""

        def send(ctx: Any, seen: dict[str, Any]) -> None:
            bid = ctx.best_bid("BTCUSDT") - 500
            ctx.buy("BTCUSDT", 10)
            ctx.order("BTCUSDT", "buy", 10, order_type="market")
            ctx.sell("BTCUSDT", 7, bid + 1000)
            ctx.order("BTCUSDT", "sell", 7, bid + 1000)

        script, _ = run(two_symbols, send)
        plain, full, plain_limit, full_limit = [c for c in script.seen["sent"] if type(c) is NewOrder]
        assert (plain.client_order_id, full.client_order_id) == ("s1", "s2")
        assert plain._replace(client_order_id="") == full._replace(client_order_id="")
        assert plain_limit._replace(client_order_id="") == full_limit._replace(client_order_id="")
        with pytest.raises(InputError, match="not one of the run's symbols"):
            run(two_symbols, lambda ctx, seen: ctx.buy("XRPUSDT", 1))

    def test_buy_and_sell_with_int_lots_make_the_handle_order_makes(self, two_symbols: list[Path]) -> None:
        """The handle of ctx.buy / ctx.sell with int lots (built from the order's values) is,
        slot by slot, the one OrderHandle(order) makes of the NewOrder sent."""

        def send(ctx: Any, seen: dict[str, Any]) -> None:
            handles = [ctx.buy("BTCUSDT", 10), ctx.sell("ETHUSDT", 7, ctx.best_ask("ETHUSDT") + 100)]
            seen["slots"] = [{k: getattr(h, k) for k in OrderHandle.__slots__} for h in handles]

        script, replay = run(two_symbols, send)
        sent = [c for c in script.seen["sent"] if type(c) is NewOrder]
        made = [OrderHandle(c, replay.ctx.instrument(c.symbol).tick_size, replay.ctx.instrument(c.symbol).lot_size) for c in sent]
        assert script.seen["slots"] == [{k: getattr(h, k) for k in OrderHandle.__slots__} for h in made]
        assert [s["order_type"] for s in script.seen["slots"]] == [MARKET, LIMIT]

    def test_an_off_grid_price_is_refused_with_the_grid_message(self, two_symbols: list[Path]) -> None:
        """A price off the tick grid is an error naming the field and the tick (never rounded)."""
        caught: list[Exception] = []

        def send(ctx: Any, seen: dict[str, Any]) -> None:
            try:
                ctx.buy("BTCUSDT", "0.01", "60000.05")
            except OffGridError as exc:
                caught.append(exc)

        run(two_symbols, send)
        assert str(caught[0]) == "strategy: field 'price': '60000.05' is not a multiple of tick 0.1"

    def test_a_wrong_name_in_an_order_is_an_input_error(self, two_symbols: list[Path]) -> None:
        """ctx.order with side 'long' raises InputError naming 'side' (nothing is sent)."""
        caught: list[Exception] = []

        def send(ctx: Any, seen: dict[str, Any]) -> None:
            try:
                ctx.order("BTCUSDT", "long", "0.01")
            except InputError as exc:
                caught.append(exc)

        script, _ = run(two_symbols, send)
        assert "field 'side'" in str(caught[0]) and not [c for c in script.seen["sent"] if type(c) is NewOrder]


class TestOrderHandle:
    def test_a_market_order_handle_ends_filled_with_its_exact_average(self, two_symbols: list[Path]) -> None:
        """The handle of a market buy ends 'filled', its average the fills' exact average."""

        def send(ctx: Any, seen: dict[str, Any]) -> None:
            seen["h"] = ctx.buy("ETHUSDT", "3")

        script, replay = run(two_symbols, send)
        h = script.seen["h"]
        fills = [f for f in script.fills if f.handle is h]
        assert h.status == "filled" and h.order_id and h.filled == Decimal("3.000")
        assert h.avg_fill_price_ticks == Fraction(sum(f.price_ticks * f.qty_lots for f in fills), sum(f.qty_lots for f in fills))
        assert all(f.client_order_id == h.client_order_id for f in fills)
        assert replay.ctx.orders() == []  # done: forgotten by the context

    def test_cancel_by_handle_works_before_the_order_id_is_known(self, two_symbols: list[Path]) -> None:
        """A limit order cancelled in the hook that sent it (no order id yet) ends 'cancelled'."""

        def send(ctx: Any, seen: dict[str, Any]) -> None:
            h = seen["h"] = ctx.buy("BTCUSDT", "0.01", ctx.best_bid("BTCUSDT") - 1000)
            seen["id_when_cancelled"] = h.order_id
            ctx.cancel(h)

        script, _ = run(two_symbols, send)
        h = script.seen["h"]
        assert script.seen["id_when_cancelled"] == 0
        assert h.status == "cancelled" and h.reason == "USER" and h.order_id
        assert [(type(e).__name__, hh) for e, hh in script.events] == [("OrderAccepted", h), ("OrderCancelled", h)]

    def test_amend_by_handle_moves_the_order_and_updates_the_handle(self, two_symbols: list[Path]) -> None:
        """ctx.amend(handle, price=...) moves the resting order; the handle shows the new price."""

        def post(ctx: Any, seen: dict[str, Any]) -> None:
            seen["h"] = ctx.sell("BTCUSDT", "0.02", ctx.best_ask("BTCUSDT") + 1000)

        def amend(ctx: Any, seen: dict[str, Any]) -> None:
            h = seen["h"]
            seen["to"] = h.price + Decimal("10.0")
            ctx.amend(h, price=str(seen["to"]), qty="0.01")

        script, replay = run(two_symbols, post, amend)
        h = script.seen["h"]
        assert h.status == "open" and h.price == script.seen["to"] and h.qty == Decimal("0.01")
        assert replay.exchange.book("BTCUSDT").orders[h.order_id].price_ticks == h.price_ticks
        assert replay.ctx.orders("BTCUSDT") == [h]

    def test_on_order_and_on_fill_refer_to_the_handle(self, two_symbols: list[Path]) -> None:
        """Every order event and fill of the strategy's order carries (or leads to) its handle."""

        def send(ctx: Any, seen: dict[str, Any]) -> None:
            seen["h"] = ctx.sell("ETHUSDT", "1")

        script, _ = run(two_symbols, send)
        h = script.seen["h"]
        assert script.events and all(hh is h for _, hh in script.events)
        assert script.fills and all(f.handle is h and f.side_name == "sell" for f in script.fills)

    def test_a_refused_order_ends_rejected_with_the_reason(self, two_symbols: list[Path]) -> None:
        """A post-only buy above the ask is rejected: its handle says 'rejected' and why."""

        def send(ctx: Any, seen: dict[str, Any]) -> None:
            seen["h"] = ctx.buy("BTCUSDT", "0.01", ctx.best_ask("BTCUSDT") + 10, post_only=True)

        script, replay = run(two_symbols, send)
        h = script.seen["h"]
        assert h.status == "rejected" and h.reason and not h.order_id and h.is_done
        assert replay.ctx.orders() == []

    def test_the_context_forgets_done_orders(self, two_symbols: list[Path]) -> None:
        """After 200 orders placed and cancelled, the context holds no handle."""

        def churn(ctx: Any, seen: dict[str, Any]) -> None:
            for k in range(100):
                ctx.cancel(ctx.buy("BTCUSDT", "0.001", ctx.best_bid("BTCUSDT") - 100 - k))
                ctx.cancel(ctx.sell("ETHUSDT", "0.01", ctx.best_ask("ETHUSDT") + 100 + k))

        _, replay = run(two_symbols, churn)
        assert replay.ctx.orders() == [] and not replay.ctx._live and not replay.ctx._by_order_id


class TestContingent:
    def test_a_bracket_places_its_exits_when_the_entry_fills(self, two_symbols: list[Path]) -> None:
        """A market entry fills, its stop and take-profit rest (reduce-only) sized to the fill."""

        def enter(ctx: Any, seen: dict[str, Any]) -> None:
            ask = ctx.best_ask("BTCUSDT")
            seen["b"] = ctx.bracket("BTCUSDT", "buy", "0.05", stop=ask - 3000, take_profit=ask + 3000, trigger="mark")

        def look(ctx: Any, seen: dict[str, Any]) -> None:
            seen["open"] = [(h.status, h.qty_lots, h.reduce_only) for h in seen["b"].exits]

        script, _ = run(two_symbols, enter, look)
        b = script.seen["b"]
        assert b.entry.status == "filled" and b.trailing is None
        assert script.seen["open"] == [("open", 50, True), ("open", 50, True)]
        assert b.stop.type_name == "stop_market" and b.take_profit.type_name == "take_profit_market"
        bracket = next(c for c in script.seen["sent"] if type(c) is NewBracket)
        assert [leg.trigger_by for leg in bracket.exits] == [TRIGGER_MARK, TRIGGER_MARK]

    def test_a_bracket_whose_entry_never_fills_ends_its_exits(self, two_symbols: list[Path]) -> None:
        """A limit entry cancelled unfilled: no exit is placed, and every handle is done."""

        def enter(ctx: Any, seen: dict[str, Any]) -> None:
            bid = ctx.best_bid("ETHUSDT")
            seen["b"] = ctx.bracket("ETHUSDT", "buy", "1", bid - 500, stop=bid - 1000, trailing="1%")

        def cancel(ctx: Any, seen: dict[str, Any]) -> None:
            ctx.cancel(seen["b"].entry)

        script, replay = run(two_symbols, enter, cancel)
        b = script.seen["b"]
        assert b.entry.status == "cancelled"
        assert [(h.status, h.reason) for h in b.exits] == [("cancelled", "ENTRY_NOT_FILLED")] * 2
        assert not b.is_open and replay.ctx.orders() == []

    def test_cancelling_an_exit_before_the_entry_fills_is_refused_and_the_exit_stays(self, two_symbols: list[Path]) -> None:
        """An exit is not at the venue before the entry fills: cancelling it is refused (UNKNOWN_ORDER), its handle
        stays "new" with that reason, and cancelling the entry then ends the whole bracket."""

        def enter(ctx: Any, seen: dict[str, Any]) -> None:
            bid = ctx.best_bid("ETHUSDT")
            seen["b"] = ctx.bracket("ETHUSDT", "buy", "1", bid - 500, stop=bid - 1000, trailing="1%")

        def cancel_stop(ctx: Any, seen: dict[str, Any]) -> None:
            ctx.cancel(seen["b"].stop)
            seen["after_refusal"] = None

        def look(ctx: Any, seen: dict[str, Any]) -> None:
            stop = seen["b"].stop
            seen["after_refusal"] = (stop.status, stop.reason)
            ctx.cancel(seen["b"].entry)

        script, replay = run(two_symbols, enter, cancel_stop, look)
        b = script.seen["b"]
        assert script.seen["after_refusal"] == ("new", "UNKNOWN_ORDER")
        assert [(h.status, h.reason) for h in b.exits] == [("cancelled", "ENTRY_NOT_FILLED")] * 2
        assert not b.is_open and replay.ctx.orders() == []

    def test_a_bracket_with_a_trailing_stop_on_two_symbols_never_fills_two_exits(self, two_symbols: list[Path]) -> None:
        """Brackets (stop, take-profit, 20-tick trailing stop) on BTC and ETH: each position
        ends by at most one exit, and the other exits are cancelled with it."""

        def enter(ctx: Any, seen: dict[str, Any]) -> None:
            seen["b"] = []
            for sym, qty in (("BTCUSDT", "0.05"), ("ETHUSDT", "1")):
                ask = ctx.best_ask(sym)
                seen["b"].append(
                    ctx.bracket(sym, "buy", qty, stop=ask - ask // 200, take_profit=ask + ask // 1000, trailing=Trail(callback=20))
                )

        script, replay = run(two_symbols, enter)
        for b in script.seen["b"]:
            assert b.entry.status == "filled"
            filled = [h for h in b.exits if h.status == "filled"]
            assert len(filled) <= 1
            if filled:
                assert all(h.status == "cancelled" for h in b.exits if h is not filled[0])
                assert replay.ctx.position(b.entry.symbol) is None
        assert any(h.status == "filled" for b in script.seen["b"] for h in b.exits)

    def test_an_oco_pair_cancels_the_other_leg(self, two_symbols: list[Path]) -> None:
        """Two stops around the price as one OCO: the first to trigger cancels the other."""

        def send(ctx: Any, seen: dict[str, Any]) -> None:
            last = ctx.last_price("BTCUSDT")
            seen["legs"] = ctx.oco(
                "BTCUSDT",
                {"side": "buy", "qty": "0.01", "order_type": "stop_market", "trigger_price": last + 20},
                {"side": "sell", "qty": "0.01", "order_type": "stop_market", "trigger_price": last - 20},
            )

        script, _ = run(two_symbols, send)
        up, down = script.seen["legs"]
        assert sorted([up.status, down.status]) == ["cancelled", "filled"]
        assert next(h for h in (up, down) if h.status == "cancelled").reason == "OCO"
        assert type(next(c for c in script.seen["sent"] if type(c) is NewOco)) is NewOco

    def test_an_oco_leg_without_a_side_is_an_input_error(self, two_symbols: list[Path]) -> None:
        """An OCO leg missing its side names the leg; one leg alone is refused."""
        caught: list[str] = []

        def send(ctx: Any, seen: dict[str, Any]) -> None:
            for legs in ([{"qty": "0.01"}, {"side": "sell", "qty": "0.01"}], [{"side": "sell", "qty": "0.01"}]):
                try:
                    ctx.oco("BTCUSDT", *legs)
                except InputError as exc:
                    caught.append(str(exc))

        run(two_symbols, send)
        assert caught == [
            "strategy: field 'legs': leg 1 has no 'side'",
            "strategy: field 'legs': an OCO needs two or more legs, got 1",
        ]

    def test_oco_legs_sharing_a_client_id_are_an_input_error(self, two_symbols: list[Path]) -> None:
        """Two legs with one client order id are refused before anything is sent (each leg's handle is found by its id)."""
        caught: list[str] = []

        def send(ctx: Any, seen: dict[str, Any]) -> None:
            last = ctx.last_price("BTCUSDT")
            try:
                ctx.oco(
                    "BTCUSDT",
                    {"side": "buy", "qty": "0.01", "order_type": "stop_market", "trigger_price": last + 20, "client_order_id": "x"},
                    {"side": "sell", "qty": "0.01", "order_type": "stop_market", "trigger_price": last - 20, "client_order_id": "x"},
                )
            except InputError as exc:
                caught.append(str(exc))

        script, _ = run(two_symbols, send)
        assert caught == ["strategy: field 'legs': the legs share a client_order_id ('x', 'x')"]
        assert not any(type(c) is NewOco for c in script.seen["sent"])

    @pytest.mark.parametrize(
        ("kw", "rate_e8", "ticks"),
        [({"callback_rate": "1%"}, 1_000_000, 0), ({"callback_rate": Decimal("0.5")}, 500_000, 0), ({"callback": "50.0"}, 0, 500)],
    )
    def test_a_trailing_stop_sends_its_callback_exactly(self, two_symbols: list[Path], kw: dict[str, Any], rate_e8: int, ticks: int) -> None:
        """callback_rate is in percent (Binance's callbackRate), callback a price distance."""

        def send(ctx: Any, seen: dict[str, Any]) -> None:
            ctx.buy("BTCUSDT", "0.01")
            seen["h"] = ctx.trailing_stop("BTCUSDT", "sell", "0.01", trigger="mark", **kw)

        script, _ = run(two_symbols, send)
        cmd = [c for c in script.seen["sent"] if type(c) is NewOrder][1]
        assert (cmd.order_type, cmd.callback_rate_e8, cmd.callback_ticks, cmd.reduce_only) == (TRAILING_STOP_MARKET, rate_e8, ticks, True)
        assert script.seen["h"].order_id  # accepted by the venue

    def test_a_callback_rate_finer_than_the_grid_is_refused(self, two_symbols: list[Path]) -> None:
        """A callback rate with more than 6 decimals of percent is an error, not rounded."""
        caught: list[str] = []

        def send(ctx: Any, seen: dict[str, Any]) -> None:
            try:
                ctx.trailing_stop("BTCUSDT", "sell", "0.01", callback_rate="0.00000001%")
            except InputError as exc:
                caught.append(str(exc))

        run(two_symbols, send)
        assert caught and "field 'callback_rate'" in caught[0]


    def test_a_trailing_stop_needs_exactly_one_callback(self, two_symbols: list[Path]) -> None:
        """Neither or both of callback_rate and callback is an error naming the callback."""
        caught: list[str] = []

        def send(ctx: Any, seen: dict[str, Any]) -> None:
            for kw in ({}, {"callback_rate": "1", "callback": "5.0"}):
                try:
                    ctx.trailing_stop("BTCUSDT", "sell", "0.01", **kw)
                except InputError as exc:
                    caught.append(exc.field)

        run(two_symbols, send)
        assert caught == ["callback", "callback"]

    def test_a_bracket_takes_its_trailing_stop_as_a_dict(self, two_symbols: list[Path]) -> None:
        """trailing={"callback": 20, "trigger": "last"} is the same exit as Trail(callback=20, trigger="last")."""

        def send(ctx: Any, seen: dict[str, Any]) -> None:
            ctx.bracket("ETHUSDT", "buy", "0.1", trailing={"callback": 20, "trigger": "last"}, trigger="mark")
            ctx.bracket("ETHUSDT", "buy", "0.1", trailing=Trail(callback=20, trigger="last"), trigger="mark")

        script, _ = run(two_symbols, send)
        first, second = (c.exits[0] for c in script.seen["sent"] if type(c) is NewBracket)
        assert first._replace(client_order_id="") == second._replace(client_order_id="")
        assert (first.callback_ticks, first.trigger_by) == (20, 0)


class TestHedgeModeAndReaders:
    def test_hedge_mode_holds_a_long_and_a_short(self, two_symbols: list[Path]) -> None:
        """In hedge mode a long and a short of one symbol are two positions, read by side."""

        def mode(ctx: Any, seen: dict[str, Any]) -> None:
            ctx.set_position_mode("hedge")

        def both(ctx: Any, seen: dict[str, Any]) -> None:
            seen["mode"] = ctx.position_mode()
            ctx.buy("ETHUSDT", "1", position_side="long")
            ctx.sell("ETHUSDT", "2", position_side=PositionSide.SHORT)

        def read(ctx: Any, seen: dict[str, Any]) -> None:
            seen["long"], seen["short"] = ctx.position("ETHUSDT", "long"), ctx.position("ETHUSDT", "short")
            seen["all"] = ctx.positions()

        script, _ = run(two_symbols, mode, both, read)
        seen = script.seen
        assert seen["mode"] == "hedge"
        assert (seen["long"].qty, seen["long"].side) == (Decimal("1.000"), "long")
        assert (seen["short"].qty, seen["short"].side) == (Decimal("-2.000"), "short")
        assert {(v.position_side, v.qty_lots) for v in seen["all"]} == {(1, 1000), (2, -2000)}

    def test_the_run_summary_counts_both_hedge_legs(self, two_symbols: list[Path]) -> None:
        """The per-symbol summary of a hedge-mode run names the long and the short leg, and its PnL (both legs'
        unrealized PnL with fees) is the account's PnL to the atom (it counted the BOTH side only)."""

        def mode(ctx: Any, seen: dict[str, Any]) -> None:
            ctx.set_position_mode("hedge")

        def both(ctx: Any, seen: dict[str, Any]) -> None:
            ctx.buy("ETHUSDT", "1", position_side="long")
            ctx.sell("ETHUSDT", "2", position_side="short")

        _, replay = run(two_symbols, mode, both)
        eth = replay.recorder.position_summary("ETHUSDT")
        btc = replay.recorder.position_summary("BTCUSDT")
        assert eth["hedge_positions"] == {"long": "1.000", "short": "-2.000"} and "hedge_positions" not in btc
        account_pnl = Decimal(replay.equity_atoms() - 100_000 * 10**8) / 10**8
        assert Decimal(eth["unrealized_pnl"]) != 0
        assert Decimal(eth["pnl"]) + Decimal(btc["pnl"]) == account_pnl

    def test_a_hedge_mode_bracket_protects_its_own_leg(self, two_symbols: list[Path]) -> None:
        """In hedge mode a bracket on the long leg places its exits on that leg, and a
        trailing stop on the short leg closes the short (not reduce-only: a hedge close)."""

        def mode(ctx: Any, seen: dict[str, Any]) -> None:
            ctx.set_position_mode("hedge")

        def trade(ctx: Any, seen: dict[str, Any]) -> None:
            ask = ctx.best_ask("ETHUSDT")
            seen["b"] = ctx.bracket("ETHUSDT", "buy", "1", stop=ask - 3000, take_profit=ask + 3000, position_side="long")
            ctx.sell("ETHUSDT", "1", position_side="short")
            seen["t"] = ctx.trailing_stop("ETHUSDT", "buy", "1", callback="1.00", position_side="short")

        def look(ctx: Any, seen: dict[str, Any]) -> None:
            seen["exits"] = [(h.status, h.position_side) for h in seen["b"].exits]

        script, _ = run(two_symbols, mode, trade, look)
        assert script.seen["exits"] == [("open", 1), ("open", 1)]
        t = script.seen["t"]
        assert t.position_side == 2 and not t.reduce_only and t.status in ("open", "filled")

    def test_the_decimal_readers_equal_the_integer_forms(self, two_symbols: list[Path]) -> None:
        """Entry price, size, PnL, margins, margin ratio, liquidation price and the account's
        money read as Decimal equal the integer forms in the instrument's units."""

        def enter(ctx: Any, seen: dict[str, Any]) -> None:
            ctx.set_margin_mode("BTCUSDT", "isolated")
            ctx.set_leverage("BTCUSDT", 50)
            ctx.buy("BTCUSDT", "0.3")

        def read(ctx: Any, seen: dict[str, Any]) -> None:
            pos = ctx.position("BTCUSDT")
            inst = ctx.instrument("BTCUSDT")
            seen["checks"] = [
                pos.qty == pos.qty_lots * inst.lot_size == ctx.qty("BTCUSDT", pos.qty_lots),
                pos.entry_price == Decimal(pos.entry_price_ticks.numerator) * inst.tick_size / pos.entry_price_ticks.denominator,
                pos.upnl * 10**8 == pos.upnl_atoms and pos.margin * 10**8 == pos.margin_atoms > 0,
                pos.maint_margin * 10**8 == pos.maint_margin_atoms and pos.realized_pnl * 10**8 == pos.realized_pnl_atoms,
                ctx.margin_ratio("BTCUSDT") * 10**8 == ctx.margin_ratio_e8("BTCUSDT"),
                str(ctx.liquidation_price("BTCUSDT")) == ctx.mark_str("BTCUSDT", ctx.liquidation_price_subticks("BTCUSDT")),
                ctx.equity() * 10**8 == ctx.equity_atoms() and ctx.balance() * 10**8 == ctx.wallet_atoms,
                ctx.available() * 10**8 == ctx.available_atoms(),
                ctx.price("BTCUSDT", ctx.best_bid("BTCUSDT")) == Decimal(ctx.price_str("BTCUSDT", ctx.best_bid("BTCUSDT"))),
            ]

        script, _ = run(two_symbols, enter, read)
        assert script.seen["checks"] == [True] * 9

    def test_a_wrong_position_mode_names_the_modes(self, two_symbols: list[Path]) -> None:
        """set_position_mode('both') is an InputError naming 'hedge' and 'one-way'."""
        caught: list[str] = []

        def send(ctx: Any, seen: dict[str, Any]) -> None:
            try:
                ctx.set_position_mode("both")
            except InputError as exc:
                caught.append(str(exc))

        run(two_symbols, send)
        assert caught == ["strategy: field 'position_mode': 'both' is not one of 'hedge', 'one-way'"]


def test_order_handles_survive_a_snapshot(two_symbols: list[Path], tmp_path: Path) -> None:
    """A run resumed from a snapshot taken with a bracket open ends in the same state hash."""
    import shutil

    class Bracketer(Strategy):
        def __init__(self) -> None:
            self.b: Any = None

        def on_trade(self, ctx: Any, trade: Any) -> None:
            if self.b is None and trade.symbol == "BTCUSDT":
                self.b = ctx.bracket("BTCUSDT", "buy", "0.01", stop=trade.price_ticks - 2000, take_profit=trade.price_ticks + 2000)

    config = ReplayConfig(balance="100000")
    plain = Replay(two_symbols, Bracketer(), config, out_dir=tmp_path / "plain").run()
    kept: list[Path] = []

    def keep(info: dict[str, Any]) -> None:
        copy = tmp_path / f"{len(kept)}.snapshot"
        shutil.copyfile(info["path"], copy)
        kept.append(copy)

    Replay(two_symbols, Bracketer(), config, out_dir=tmp_path / "checked", checkpoint_every=40_000, on_checkpoint=keep).run()
    assert kept
    shutil.copytree(tmp_path / "checked", tmp_path / "resumed")
    replay = Replay(two_symbols, Bracketer(), config, out_dir=tmp_path / "resumed", resume=kept[0])
    assert isinstance(replay.strategy.b.entry, OrderHandle)
    assert replay.run()["state_hash"] == plain["state_hash"]


def test_order_events_of_a_handle_are_the_engine_events(two_symbols: list[Path]) -> None:
    """on_order still receives the exchange's own event objects (the handle is beside them)."""

    def send(ctx: Any, seen: dict[str, Any]) -> None:
        ctx.cancel(ctx.buy("BTCUSDT", "0.01", ctx.best_bid("BTCUSDT") - 100))

    script, _ = run(two_symbols, send)
    assert [type(e) for e, _ in script.events] == [OrderAccepted, OrderCancelled]


class MarketEverySecond(Strategy):
    """A market order of one lot every second on both symbols, buys and sells in turn; keeps
    every fill and handle. Its ``on_order``-less form is the replay's one-step path for an
    order that fills at once (:meth:`Replay._filled_at_once`)."""

    def __init__(self) -> None:
        self.handles: list[OrderHandle] = []
        self.fills: list[Any] = []
        self.n = 0

    def on_start(self, ctx: Any) -> None:
        ctx.call_every(S, "go")

    def on_timer(self, ctx: Any, name: str) -> None:
        self.n += 1
        for symbol in ("BTCUSDT", "ETHUSDT"):
            self.handles.append(ctx.buy(symbol, 1) if self.n & 1 else ctx.sell(symbol, 1))

    def on_fill(self, ctx: Any, fill: Any) -> None:
        self.fills.append(fill)


class MarketEverySecondHeard(MarketEverySecond):
    """The same orders with an ``on_order`` hook: the replay hands each event over one by one."""

    def on_order(self, ctx: Any, event: Any) -> None:
        pass


@pytest.mark.parametrize("margin_mode", ["cross", "isolated"])
def test_an_order_filled_at_once_is_told_as_its_events_one_by_one(two_symbols: list[Path], tmp_path: Path, margin_mode: str,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A market order that fills on arrival (OrderAccepted, Fill, PositionChanged in one batch)
    is handled in one step; the run's files, summary, handles and fills are those of the same
    run whose events go to the handlers one by one."""
    one_step = Replay._filled_at_once
    taken: list[bool] = []

    def counted(self: Replay, events: list[Any]) -> bool:
        taken.append(one_step(self, events))
        return taken[-1]

    monkeypatch.setattr(Replay, "_filled_at_once", counted)
    told = {}
    for name, cls in (("one_step", MarketEverySecond), ("one_by_one", MarketEverySecondHeard)):
        taken.clear()
        strategy = cls()
        replay = Replay(two_symbols, strategy, ReplayConfig(balance="100000", leverage=10, margin_mode=margin_mode), out_dir=tmp_path / name)
        summary = replay.run()
        told[name] = (
            {f.name: f.read_bytes() for f in sorted((tmp_path / name).iterdir()) if f.name != "summary.json"},
            {k: v for k, v in summary.items() if k not in ("run_key", "rows_per_s", "wall_s", "strategy")},  # (names and speed)
            [(h.client_order_id, h.order_id, h.status, h.reason, h.qty_lots, h.filled_lots, h.filled_cost_ticks_lots) for h in strategy.handles],
            [(*f[:-1], f.handle.client_order_id) for f in strategy.fills],
            sum(taken),
        )
    (files, summary, handles, fills, one_steps), (files_too, summary_too, handles_too, fills_too, none) = told["one_step"], told["one_by_one"]
    assert one_steps >= 40 and none == 0  # (the first form took the one-step path, the second never)
    assert len(handles) >= 40 and all(h[2] == "filled" for h in handles)
    assert handles == handles_too and fills == fills_too
    assert files.keys() == files_too.keys() and files == files_too
    assert summary == summary_too
