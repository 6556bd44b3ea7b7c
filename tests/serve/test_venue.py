"""The venue of ``exsim serve`` (exsim.serve.venue), at the Python level, on real data: its
clock (step, max, a paced multiplier), commands and their events, latency, accounts, the end
of the data, and the key property: orders sent to a stepped venue give the same fills,
positions and liquidations as the same orders sent by an ``exsim replay`` strategy at the
same timestamps."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from exsim.book.orders import BUY, GTC, LIMIT, MARKET, SELL
from exsim.errors import InputError
from exsim.exchange import (
    BookDelta,
    CancelOrder,
    Fill,
    Liquidation,
    NewOrder,
    OrderAccepted,
    PositionChanged,
    SetLeverage,
    SetMarginMode,
)
from exsim.ledger import ISOLATED
from exsim.replay import Replay, ReplayConfig
from exsim.replay.cli import SHIPPED_REPLAYS
from exsim.replay.strategy import Strategy
from exsim.units import format_atoms
from exsim.serve.venue import PACE_TICK_S, ServeConfig, Venue, VenueStopped, speed_multiplier

ROOT = Path(__file__).resolve().parents[2]
CRASH = SHIPPED_REPLAYS / "btc-perp-20220121-1m.csv"  # 4 h of 1-minute bars, 2022-01-21 20:00 UTC: the crash
SHARED = ROOT.parent / "shared" / "data"
TARDIS_25 = SHARED / "nautilus-fixtures" / "tardis" / "binance-futures_book_snapshot_25_BTCUSDT.csv"
MONTH_1M = SHARED / "nautilus-fixtures" / "btc-perp-20211231-20220201_1m.csv"  # a month of BTCUSDT 1-minute bars
S = 1_000_000_000  # ns
T0 = 1_642_795_200 * S  # the crash file's first row
T_END = T0 + 4 * 3600 * S - 1  # its last: the last bar's close
BTC = ReplayConfig(symbol="BTCUSDT")
KEYS = [("key-one", "secret-one")]


class Recording:
    """A component that records what the venue gives it."""

    def __init__(self, venue: Venue) -> None:
        self.venue = venue
        self.batches: list[list[Any]] = []
        self.clocks: list[int] = []
        self.ends: list[int] = []

    def on_events(self, events: list[Any]) -> None:
        self.batches.append(list(events))

    def on_clock(self, now_ns: int) -> None:
        self.clocks.append(now_ns)

    def on_end(self, now_ns: int) -> None:
        self.ends.append(now_ns)

    def events(self) -> list[Any]:
        return [e for batch in self.batches for e in batch]


def venue(files: list[Path] = [CRASH], keys: list[tuple[str, str]] = KEYS, **config: Any) -> Venue:
    options = {"replay": BTC, **config}
    extra = {k: options.pop(k) for k in ("out_dir", "wall_ns", "sleep") if k in options}
    return Venue([str(f) for f in files], keys, ServeConfig(**options), components=[("market", Recording)], **extra)


def market_buy(account: int, qty_lots: int, client: str | None = None) -> Any:
    return lambda ts: NewOrder(ts, account, "BTCUSDT", BUY, qty_lots, order_type=MARKET, client_order_id=client)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


class TestConfig:
    def test_speed_is_step_max_or_a_positive_multiplier(self) -> None:
        """speed takes step, max or a positive decimal multiplier; anything else is refused naming the field."""
        assert speed_multiplier("2.5") == 2.5
        for bad in ("0", "-1", "fast", "inf"):
            with pytest.raises(InputError, match="speed"):
                ServeConfig(speed=bad)

    def test_keys_are_one_account_each_in_order(self) -> None:
        """Each API key is an account, numbered from 1 in the order given; a repeated key is refused."""
        v = venue(keys=[("a", "sa"), ("b", "sb"), ("c", "sc")], speed="step")
        assert v.keys == {"a": (1, "sa"), "b": (2, "sb"), "c": (3, "sc")}
        with pytest.raises(InputError, match="twice"):
            venue(keys=[("a", "sa"), ("a", "sb")])


class TestStep:
    def test_the_venue_starts_at_the_first_row_with_every_deposit_made(self) -> None:
        """A new venue stands at the data's first timestamp, each account holding the deposit."""
        v = venue(keys=[("a", "sa"), ("b", "sb")], speed="step", deposit="2500")
        assert v.now_ns == T0
        assert [a["walletBalance"] for a in v.state()["accounts"]] == ["2500.00000000", "2500.00000000"]

    def test_synthetic_depth_is_there_from_the_first_instant(self) -> None:
        """On a file without depth the synthetic book stands around the first price at once (clients read /depth first)."""
        v = venue(speed="step")
        book = v.exchange.book("BTCUSDT")
        first_open = v.instruments["BTCUSDT"].ticks("38031.0")
        assert book.best_bid() == first_open - 1 and book.best_ask() == first_open + 1
        assert any(type(e) is BookDelta for e in v.market.events())

    def test_advance_moves_the_clock_by_the_milliseconds_given(self) -> None:
        """advance(ms) runs the replay ms further and returns the state at that time."""
        v = venue(speed="step")
        state = run(v.advance(90_500))
        assert v.now_ns == T0 + 90_500_000_000
        assert state["time"] == (T0 + 90_500_000_000) // 1_000_000
        assert v.market.clocks[-1] == v.now_ns

    def test_two_stepped_runs_with_the_same_commands_end_in_the_same_state(self) -> None:
        """The same scripted commands on two stepped venues give the same state hash at every step."""

        async def script(v: Venue) -> list[str]:
            hashes = []
            await v.send(lambda ts: SetLeverage(ts, 1, "BTCUSDT", 50))
            for minute in range(1, 30):
                await v.send(market_buy(1, 10 * minute))
                state = await v.advance(7 * 60_000)
                hashes.append(state["stateHash"])
            return hashes

        first, second = run(script(venue(speed="step"))), run(script(venue(speed="step")))
        assert first == second
        assert len(set(first)) == len(first)  # (every step changed the state: the hashes say something)

    def test_advance_is_refused_when_the_clock_runs_by_itself(self) -> None:
        """advance() is for a stepped venue only."""
        v = venue(speed="max")
        with pytest.raises(ValueError, match="step"):
            run(v.advance(1000))


class TestMax:
    def test_speed_max_runs_to_the_end_of_the_data(self) -> None:
        """At speed max the clock task runs the whole replay and stops at the last row's time."""
        v = venue(speed="max")
        ended: list[int] = []
        v.on_end_sinks.append(ended.append)
        run(v.run())
        assert v.ended and v.now_ns == T_END
        assert v.market.ends == [T_END] and ended == [T_END]
        assert v.state()["rows"] == 960

    def test_speed_max_yields_to_other_tasks_while_it_runs(self) -> None:
        """Between two chunks the clock task lets the server's other tasks run."""
        v = venue(speed="max", chunk_events=50)
        seen: list[int] = []

        async def other() -> None:
            while not v.ended:
                seen.append(v.now_ns)
                await asyncio.sleep(0)

        async def both() -> None:
            await asyncio.gather(v.run(), other())

        run(both())
        assert len({t for t in seen if T0 < t < T_END}) > 10

    @pytest.mark.skipif(not TARDIS_25.is_file(), reason="needs ../shared/data (nautilus fixtures)")
    def test_book_deltas_reach_the_components_but_not_events_jsonl(self, tmp_path: Path) -> None:
        """On replayed depth the components get every book delta; events.jsonl does not log them (log_book does)."""
        v = Venue([str(TARDIS_25)], KEYS, ServeConfig(), out_dir=tmp_path / "run", components=[("market", Recording)])
        run(v.run())
        v.close()
        deltas = [e for e in v.market.events() if type(e) is BookDelta]
        assert len(deltas) > 100
        logged = [json.loads(line)["event"] for line in (tmp_path / "run" / "events.jsonl").read_text().splitlines()]
        assert "BookDelta" not in logged and "BalanceChanged" in logged


class FakeWall:
    """A wall clock that moves only when the venue sleeps."""

    def __init__(self) -> None:
        self.ns = 7_000_000_000
        self.sleeps = 0

    def __call__(self) -> int:
        return self.ns

    async def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        self.ns += round(seconds * 1e9)
        await asyncio.sleep(0)


class TestPaced:
    def test_a_multiplier_paces_the_venue_clock_by_the_wall_clock(self) -> None:
        """At speed X the venue's time is the first row's time + X x the wall time elapsed (never ahead of it)."""
        wall = FakeWall()
        start = wall.ns
        checked = []

        class PaceCheck(Recording):
            def on_clock(self, now_ns: int) -> None:
                allowed = T0 + 600 * (wall.ns - start)
                assert now_ns <= allowed
                if now_ns < T_END:
                    checked.append(allowed - now_ns)

        config = ServeConfig(speed="600", replay=BTC)
        v = Venue([str(CRASH)], KEYS, config, components=[("market", PaceCheck)], wall_ns=wall, sleep=wall.sleep)
        run(v.run())
        assert v.ended and v.now_ns == T_END
        assert max(checked) == 0 and len(checked) > 1000  # caught up each tick, to the nanosecond
        elapsed = wall.ns - start
        assert (T_END - T0) / 600 <= elapsed <= (T_END - T0) / 600 + 2 * PACE_TICK_S * 1e9

    def test_a_command_with_latency_waits_for_the_paced_clock(self) -> None:
        """At a paced speed a command with latency is processed when the clock reaches its arrival."""
        wall = FakeWall()
        v = venue(speed="60", latency_ns=3 * S, wall_ns=wall, sleep=wall.sleep)

        async def go() -> list[Any]:
            clock = asyncio.create_task(v.run())
            events = await v.send(market_buy(1, 100))
            assert not v.ended
            clock.cancel()
            return events

        events = run(go())
        assert {e.ts_ns for e in events} == {T0 + 3 * S}


class Tape(Recording):
    """A component that reads the tape."""

    def __init__(self, venue: Venue) -> None:
        super().__init__(venue)
        self.prints: list[Any] = []

    def on_trade(self, trade: Any) -> None:
        self.prints.append((trade, self.venue.exchange.last_price("BTCUSDT")))


class TestComponents:
    def test_components_see_every_replayed_print_after_the_exchange(self) -> None:
        """on_trade gets each replayed trade of the file, the exchange already moved by it (its last price)."""
        v = Venue([str(CRASH)], KEYS, ServeConfig(replay=BTC), components=[("market", Tape)])
        run(v.run())
        prints = v.market.prints
        assert len(prints) == 960 and all(last == trade.price_ticks for trade, last in prints)
        assert [t.ts_ns for t, _ in prints] == sorted(t.ts_ns for t, _ in prints)

    def test_components_are_called_in_the_order_given(self) -> None:
        """Each batch goes to the components in their order, market, orders, account as given."""
        order: list[str] = []

        def named(name: str) -> Any:
            class Named(Recording):
                def on_events(self, events: list[Any]) -> None:
                    order.append(name)

            return Named

        v = Venue([str(CRASH)], KEYS, ServeConfig(speed="step", replay=BTC),
                  components=[("market", named("m")), ("orders", named("o")), ("account", named("a"))])
        order.clear()
        run(v.send(market_buy(1, 100)))
        assert order and order == ["m", "o", "a"] * (len(order) // 3) and type(v.orders).__name__ == "Named"


class TestSend:
    def test_send_returns_exactly_the_events_of_its_command(self) -> None:
        """send() returns the batch the command itself produced, not the depth refresh sent just before it."""
        v = venue(speed="step")
        run(v.advance(60_000))
        before = len(v.market.batches)
        events = run(v.send(market_buy(1, 200, "c1")))
        assert events == v.market.batches[-1] and len(v.market.batches) == before + 1
        assert type(events[0]) is OrderAccepted and events[0].client_order_id == "c1"
        assert {e.ts_ns for e in events} == {v.now_ns}
        assert [type(e) for e in events if type(e) is not BookDelta] == [OrderAccepted, Fill, PositionChanged]

    def test_without_latency_a_command_is_processed_at_now(self) -> None:
        """With latency 0 the command runs at once, at the venue's current time, and the clock stays."""
        v = venue(speed="step")
        run(v.advance(61_000))
        events = run(v.send(market_buy(1, 100)))
        assert {e.ts_ns for e in events} == {T0 + 61 * S} and v.now_ns == T0 + 61 * S

    def test_in_step_mode_a_latency_advances_the_clock_to_the_arrival(self) -> None:
        """A stepped venue with a latency moves its clock to the command's arrival and processes it there."""
        v = venue(speed="step", latency_ns=250_000_000)
        events = run(v.send(market_buy(1, 100)))
        assert {e.ts_ns for e in events} == {T0 + 250_000_000} and v.now_ns == T0 + 250_000_000

    def test_a_command_must_be_built_for_its_arrival(self) -> None:
        """make(arrival) must stamp the command with the arrival it was given."""
        v = venue(speed="step")
        with pytest.raises(ValueError, match="arrival"):
            run(v.send(lambda ts: NewOrder(ts + 1, 1, "BTCUSDT", BUY, 100, order_type=MARKET)))

    def test_a_broken_command_fails_its_sender_not_the_venue(self) -> None:
        """A command the exchange cannot take raises in send(); the venue keeps running."""
        v = venue(speed="step")
        with pytest.raises(KeyError):  # (no exchange handler for a bare tuple)
            run(v.send(lambda ts: (ts, "not a command")))
        assert run(v.send(market_buy(1, 100)))[0].account_id == 1
        run(v.advance(60_000))


class TestAccounts:
    def test_each_key_trades_its_own_account(self) -> None:
        """Orders of account 2 change account 2's position only."""
        v = venue(keys=[("a", "sa"), ("b", "sb")], speed="step")
        run(v.send(market_buy(2, 300)))
        accounts = v.ledger.accounts
        assert accounts[2].positions[("BTCUSDT", 0)].qty_lots == 300
        assert not any(p.qty_lots for p in accounts[1].positions.values())

    def test_every_account_gets_the_replay_configs_settings(self) -> None:
        """--leverage / --margin-mode of the market options apply to every account."""
        config = ReplayConfig(symbol="BTCUSDT", leverage=20, margin_mode="isolated")
        v = venue(keys=[("a", "sa"), ("b", "sb")], speed="step", replay=config)
        for account in (1, 2):
            acct = v.ledger.accounts[account]
            assert v.ledger.leverage(acct, "BTCUSDT") == 20 and v.ledger.margin_mode(acct, "BTCUSDT") == ISOLATED

    def test_the_run_directory_tells_account_ones_story(self, tmp_path: Path) -> None:
        """The run directory is account 1's, as a replay's: its fills only, a summary, explain works."""
        v = venue(keys=[("a", "sa"), ("b", "sb")], speed="max", out_dir=tmp_path / "run")
        run(v.send(lambda ts: SetLeverage(ts, 1, "BTCUSDT", 125)))
        run(v.send(lambda ts: SetMarginMode(ts, 1, "BTCUSDT", ISOLATED)))
        run(v.send(market_buy(1, 400)))
        run(v.send(market_buy(2, 100)))
        run(v.run())
        summary = v.close()
        fills = (tmp_path / "run" / "fills.csv").read_text().splitlines()
        assert len(fills) == 1 + 2  # header, the buy, its liquidation (account 2's buy is not there)
        assert len(summary["liquidations"]) == 1 and summary["complete"]
        assert not (tmp_path / "run" / "INCOMPLETE").exists()
        from exsim.replay.explain import explain_run

        assert "account 1" in explain_run(tmp_path / "run", 1)


def liq_price_cli(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """What ``exsim liq-price ... --json`` prints as the liquidation price."""
    from exsim.cli import main

    capsys.readouterr()
    assert main(["liq-price", "--symbol", "BTCUSDT", "--json", *args]) == 0
    return str(json.loads(capsys.readouterr().out)["liquidation_price"])


class TestLiquidationPrice:
    @pytest.mark.parametrize("leverage", [125, 20])
    def test_an_isolated_positions_liquidation_price_is_exsim_liq_prices(self, capsys: pytest.CaptureFixture[str], leverage: int) -> None:
        """An isolated long's liquidation price is what exsim liq-price prints for its size, entry and bucket margin."""
        v = venue(speed="step")
        run(v.send(lambda ts: SetLeverage(ts, 1, "BTCUSDT", leverage)))
        run(v.send(lambda ts: SetMarginMode(ts, 1, "BTCUSDT", ISOLATED)))
        run(v.advance(3600_000))
        fill = next(e for e in run(v.send(market_buy(1, 400))) if type(e) is Fill)
        pos = v.ledger.accounts[1].positions[("BTCUSDT", 0)]
        inst = v.instruments["BTCUSDT"]
        shown = liq_price_cli(capsys, "--side", "long", "--qty", "0.4", "--entry", inst.price_str(fill.price_ticks),
                              "--wallet", format_atoms(pos.margin_atoms))
        ours = v.liquidation_price_subticks(1, "BTCUSDT")
        assert ours is not None and format_atoms(ours) == shown
        assert abs(ours - v.replay.liquidation_price_subticks("BTCUSDT")) <= 1  # (the engine's subtick, rounded the safe way)

    def test_a_cross_short_s_liquidation_price_is_exsim_liq_prices(self, capsys: pytest.CaptureFixture[str]) -> None:
        """A cross short's liquidation price is what exsim liq-price --mode cross prints for it and the cross wallet."""
        v = venue(speed="step", deposit="500")
        sell = lambda ts: NewOrder(ts, 1, "BTCUSDT", SELL, 150, order_type=MARKET)  # noqa: E731
        fill = next(e for e in run(v.send(sell)) if type(e) is Fill)
        acct = v.ledger.accounts[1]
        inst = v.instruments["BTCUSDT"]
        shown = liq_price_cli(capsys, "--side", "short", "--qty", "0.15", "--entry", inst.price_str(fill.price_ticks),
                              "--wallet", format_atoms(acct.wallet_atoms), "--mode", "cross")
        ours = v.liquidation_price_subticks(1, "BTCUSDT")
        assert ours is not None and format_atoms(ours) == shown

    def test_no_position_has_no_liquidation_price(self) -> None:
        """Without a position there is no liquidation price."""
        v = venue(keys=[("a", "sa"), ("b", "sb")], speed="step")
        run(v.send(market_buy(1, 100)))
        assert v.liquidation_price_subticks(2, "BTCUSDT") is None


class TestEnd:
    def test_after_the_end_commands_are_processed_at_the_last_time(self) -> None:
        """Once the data ended the venue keeps serving: a command runs at the last row's time, without latency."""
        v = venue(speed="max", latency_ns=S)
        run(v.run())
        run(v.send(lambda ts: SetMarginMode(ts, 1, "BTCUSDT", ISOLATED)))
        events = run(v.send(market_buy(1, 100)))
        assert {e.ts_ns for e in events} == {T_END} and v.now_ns == T_END
        state = v.state()
        assert state["ended"] and state["time"] == T_END // 1_000_000
        assert v.liquidation_price_subticks(1, "BTCUSDT") is not None

    def test_a_stepped_venue_stops_at_the_end_of_the_data(self) -> None:
        """Advancing past the data's end leaves the clock at the last row; further advances change nothing."""
        v = venue(speed="step")
        state = run(v.advance(5 * 3600 * 1000))
        assert state["ended"] and v.now_ns == T_END
        assert run(v.advance(1000)) == state and v.market.ends == [T_END]

    def test_closing_leaves_the_state_as_the_end_left_it(self) -> None:
        """close() runs nothing more (a component's timer past the end does not fire): the summary's hash is the last state's."""
        v = venue(speed="max")
        fired: list[int] = []
        v.loop.call_at(T_END + 3600 * S, lambda loop, ts: fired.append(ts))
        run(v.send(market_buy(1, 100)))
        run(v.run())
        last = v.state()["stateHash"]
        assert v.close()["state_hash"] == last and fired == []

    def test_closing_before_the_end_writes_the_run_so_far(self, tmp_path: Path) -> None:
        """close() before the data's end finishes the run directory with the figures of the moment."""
        v = venue(speed="step", out_dir=tmp_path / "run")
        run(v.send(market_buy(1, 100)))
        run(v.advance(600_000))
        summary = v.close()
        assert summary["rows"] < 960 and any("stopped before the data's end" in n["text"] for n in summary["notes"])
        assert json.loads((tmp_path / "run" / "summary.json").read_text())["state_hash"] == v.exchange.state_hash()
        assert v.close() is summary


# --------------------------------------------------------------------------- the same as exsim replay
#: the orders of a comparison: (seconds after the first row, step); a step is one command
#: (a second one would arrive one latency later on the venue), client ids shared
CRASH_PLAN = [
    (60, "leverage 125"),
    (61, "isolated"),
    (120, "rest"),  # a limit sell far above the market: rests
    (1800, "cancel rest"),  # cancelled by client id
    (3600, "long"),  # 0.4 BTC at 125x isolated: liquidated in the crash (21:33 UTC)
    (3 * 3600, "short"),  # a market sell after the liquidation
    (3 * 3600 + 1200, "cover"),  # and a limit buy that crosses
]
CAPTURE = SHIPPED_REPLAYS / "binance-usdm-btcusdt-20240808.gz"  # 6 min of the real L2 feed (depth, trades, quotes)
CAPTURE_PLAN = [
    (1, "leverage 20"),
    (2, "bid"),  # a limit buy at the best bid: queues behind the venue's size there
    (4, "market"),
    (6, "ask"),  # a limit sell at the best ask
    (50, "cancel bid"),  # (refused if it filled: the same either way)
    (55, "close"),
]
CAPTURE_SPAN_S = 60  # compared over its first minute


def plan_command(step: str, ts: int, book: Any) -> Any:
    """The command of one step for arrival ``ts``; ``book`` is the book when it is sent."""
    what, _, arg = step.partition(" ")
    if what == "leverage":
        return SetLeverage(ts, 1, "BTCUSDT", int(arg))
    if what == "isolated":
        return SetMarginMode(ts, 1, "BTCUSDT", ISOLATED)
    if what == "cancel":
        return CancelOrder(ts, 1, "BTCUSDT", 0, arg)
    orders = {
        "rest": (SELL, 100, 4_500_000, LIMIT),
        "long": (BUY, 400, 0, MARKET),
        "short": (SELL, 50, 0, MARKET),
        "cover": (BUY, 50, 4_000_000, LIMIT),
        "bid": (BUY, 10, book.best_bid(), LIMIT),
        "market": (BUY, 5, 0, MARKET),
        "ask": (SELL, 10, book.best_ask(), LIMIT),
        "close": (SELL, 5, 0, MARKET),
    }
    side, qty, price, kind = orders[what]
    return NewOrder(ts, 1, "BTCUSDT", side, qty, price, kind, GTC, client_order_id=what)


class Planned(Strategy):
    """A plan as an exsim replay strategy: a timer per step, the command sent by the context."""

    def __init__(self, plan: list[tuple[int, str]]) -> None:
        self.plan = plan

    def on_start(self, ctx: Any) -> None:
        for after_s, step in self.plan:
            ctx.call_at(ctx.now_ns + after_s * S, step)

    def on_timer(self, ctx: Any, name: str) -> None:
        arrival = ctx.now_ns + ctx._replay.config.latency_ns
        ctx._send(plan_command(name, arrival, ctx.book("BTCUSDT")))  # (the very command the venue gets)


def replay_events(file: Path, plan: list[tuple[int, str]], latency_ns: int, span_s: int | None) -> tuple[list[Any], Replay]:
    """The plan through ``exsim replay``'s Replay, to the end of the data or over ``span_s`` seconds."""
    replay = Replay([file], Planned(plan), ReplayConfig(symbol="BTCUSDT", balance="1000", latency_ns=latency_ns))
    seen: list[Any] = []
    replay.exchange.sinks.append(seen.extend)
    if span_s is None:
        replay.run()
    else:
        replay.start()
        replay.advance(until_ns=replay.first_ts_ns + span_s * S)
    return seen, replay


async def venue_events(file: Path, plan: list[tuple[int, str]], latency_ns: int, span_s: int | None) -> tuple[list[Any], Venue]:
    """The plan sent to a stepped venue, at the same times."""
    v = venue([file], speed="step", deposit="1000", latency_ns=latency_ns)
    t0 = v.now_ns
    for after_s, step in plan:
        await v.advance((t0 + after_s * S - v.now_ns) // 1_000_000)
        command = plan_command(step, 0, v.exchange.book("BTCUSDT"))
        await v.send(lambda ts: command._replace(ts_ns=ts))
    await v.advance(5 * 3600 * 1000 if span_s is None else (t0 + span_s * S - v.now_ns) // 1_000_000)
    assert v.ended == (span_s is None)
    return v.market.events(), v


def of(events: list[Any], kind: type) -> list[Any]:
    return [e for e in events if type(e) is kind]


class TestSameAsReplay:
    def check_same(self, file: Path, plan: list[tuple[int, str]], latency_ns: int, span_s: int | None = None) -> list[Any]:
        """Run the plan both ways; every event, the state hash and the account agree. Returns the replay's events."""
        in_replay, replay = replay_events(file, plan, latency_ns, span_s)
        in_venue, v = run(venue_events(file, plan, latency_ns, span_s))
        assert v.now_ns == replay.loop.now_ns
        for kind in (Fill, PositionChanged, Liquidation):
            assert of(in_venue, kind) == of(in_replay, kind), kind.__name__
        assert [e for e in in_venue if type(e) is not BookDelta] == in_replay  # every event, in order
        assert v.exchange.state_hash() == replay.exchange.state_hash()
        ours, theirs = v.ledger.accounts[1], replay.ledger.accounts[1]
        assert [repr(p) for p in ours.positions.values()] == [repr(p) for p in theirs.positions.values()]
        assert (ours.wallet_atoms, ours.realized_pnl_atoms, ours.fees_atoms) == (theirs.wallet_atoms, theirs.realized_pnl_atoms, theirs.fees_atoms)
        return in_replay

    @pytest.mark.parametrize("latency_ns", [0, 250_000_000])
    def test_a_125x_long_is_liquidated_in_the_crash_as_in_a_replay(self, latency_ns: int) -> None:
        """Orders sent to a stepped venue at the times an exsim replay strategy sends them give the same fills,
        positions, liquidations and end state: a 125x long liquidated in the January 2022 crash."""
        events = self.check_same(CRASH, CRASH_PLAN, latency_ns)
        long, short = of(events, Liquidation)  # the 0.4 long in the crash, then the 125x short on a bounce
        assert (long.positions[0].qty_lots, long.ts_ns) == (400, T0 + 5620 * S)  # 21:33:40 UTC, the bar the demo names
        assert len(of(events, Fill)) >= 4

    def test_orders_on_the_real_book_fill_as_in_a_replay(self) -> None:
        """On the real L2 capture (queue position behind the venue's size, 25 ms latency) the venue's fills and
        end state are the replay's."""
        events = self.check_same(CAPTURE, CAPTURE_PLAN, 25_000_000, CAPTURE_SPAN_S)
        mine = [e for e in of(events, Fill) if e.taker_account_id == 1 or e.maker_account_id == 1]
        assert any(e.maker_account_id == 1 for e in mine) and any(e.taker_account_id == 1 for e in mine)


class Broken(Recording):
    """A component whose event handler has a bug."""

    def on_events(self, events: list[Any]) -> None:
        super().on_events(events)
        if any(type(e) is Fill for e in events):
            raise ZeroDivisionError("a bug")


class TestFailures:
    def test_a_failing_component_does_not_stop_the_venue(self) -> None:
        """A component that raises is logged and counted; the exchange, the other components and the run go on."""
        v = Venue([str(CRASH)], KEYS, ServeConfig(speed="step", replay=BTC), components=[("market", Broken), ("orders", Recording)])
        events = run(v.send(market_buy(1, 100)))
        assert events == v.orders.batches[-1] and any(type(e) is Fill for e in events)
        assert v.component_errors == [f"Broken.on_events at {T0}: ZeroDivisionError: a bug"]
        state = run(v.advance(3600_000))
        assert state["componentErrors"] == 1 and v.market.batches[-1] == v.orders.batches[-1]

    @pytest.mark.skipif(not MONTH_1M.is_file(), reason="needs ../shared/data (nautilus fixtures)")
    def test_a_replay_that_fails_stops_the_venue_and_says_why(self, tmp_path: Path) -> None:
        """A bad row past the rows read ahead fails the clock task with the row's error; commands are then refused."""
        lines = MONTH_1M.read_text().splitlines()[:2001]
        lines[1800] = lines[1800].replace(",", ",x", 1)  # line 1801: an open that is not a price
        bad = tmp_path / "btc-1m.csv"
        bad.write_text("\n".join(lines) + "\n")
        v = Venue([str(bad)], KEYS, ServeConfig(replay=BTC), out_dir=tmp_path / "run", components=[("market", Recording)])
        with pytest.raises(InputError, match="btc-1m.csv:1801"):
            run(v.run())
        with pytest.raises(VenueStopped, match="1801"):
            run(v.send(market_buy(1, 100)))
        assert not v.close()["complete"]
        assert "1801" in (tmp_path / "run" / "INCOMPLETE").read_text()

    def test_a_closed_venue_takes_no_more_commands(self) -> None:
        """After close() a command is refused."""
        v = venue(speed="step")
        v.close()
        with pytest.raises(VenueStopped, match="closed"):
            run(v.send(market_buy(1, 100)))
