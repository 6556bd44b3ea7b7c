"""OHLCV bars for strategies (``exsim.replay.bars``, ``docs/bars.md``): trades folded into
epoch-aligned bars delivered at their close time, flat bars for quiet intervals, several
subscriptions at once, checkpoints, and the bars of bar files delivered as they are; on
real data, bars aggregated from Binance aggTrades equal the venue's own kline."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from exsim.errors import InputError
from exsim.instruments import get_instrument
from exsim.readers import open_rows
from exsim.readers.native import write_rows
from exsim.readers.rows import TRADE
from exsim.replay import Replay, ReplayConfig, Strategy
from exsim.replay.bars import INTERVALS, UNKNOWN_SIZE_LOTS, Bar, BarAggregator, interval_ns, interval_text
from exsim.replay.checkpoint import SNAPSHOT_NAME
from exsim.replay.market import UNKNOWN_SIZE_LOTS as MARKET_UNKNOWN_SIZE_LOTS
from exsim.replay.market import MarketModel
from exsim.replay.strategy import StrategyError

from .test_replay_native import S, T0, write_csv

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data"
CRASH = ROOT / "replays" / "btc-perp-20220121-1m.csv"
CRYPTOFEED = SHARED / "cryptofeed-samples" / "BINANCE_FUTURES.ws.1.0"
FREQTRADE_5M = SHARED / "freqtrade-futures" / "XRP_USDT_USDT-5m-futures.feather"
M = 60 * S
BTC = get_instrument("BTCUSDT", T0)
ETH = get_instrument("ETHUSDT", T0)


def ticks(text: str) -> int:
    return int(BTC.ticks(text))


def trade(ts: int, price: str, qty: str = "0.001", symbol: str = "BTCUSDT") -> tuple[Any, ...]:
    return (ts, "trade", symbol, "buy", price, qty, "")


class Bars(Strategy):
    """Subscribes to ``subs`` in on_start (``later`` at the time given), keeps each bar with the time it came."""

    def __init__(self, *subs: tuple[str, str], later: tuple[int, str, str] | None = None) -> None:
        self.subs = subs
        self.later = later
        self.bars: list[tuple[int, Bar]] = []
        self.last_trade: tuple[int, int] | None = None

    def on_start(self, ctx: Any) -> None:
        for symbol, interval in self.subs:
            ctx.subscribe_bars(symbol, interval)
        if self.later is not None:
            ctx.call_at(self.later[0], "subscribe")

    def on_timer(self, ctx: Any, name: str) -> None:
        assert self.later is not None
        ctx.subscribe_bars(self.later[1], self.later[2])

    def on_bar(self, ctx: Any, bar: Bar) -> None:
        self.bars.append((ctx.now_ns, bar))


class FileBars(Bars):
    """Also keeps the last trade seen before each bar (the path's close point)."""

    def on_trade(self, ctx: Any, trade: Any) -> None:
        self.last_trade = (trade.ts_ns, trade.price_ticks)

    def on_bar(self, ctx: Any, bar: Bar) -> None:
        self.bars.append((ctx.now_ns, bar))
        assert self.last_trade == (ctx.now_ns, bar.close_ticks) or not bar.from_file


@pytest.fixture
def minutes(tmp_path: Path) -> Path:
    """BTCUSDT trades over four minutes from 2024-08-09 00:00 UTC: four in the first minute
    (the last at its final nanosecond), one at exactly 00:01:00, none in the third minute,
    one in the fourth, and a last trade in the fifth (whose bar the data does not finish)."""
    return write_csv(
        tmp_path / "minutes.csv",
        [
            trade(T0 + 10 * S, "61000.0", "0.010"),
            trade(T0 + 30 * S, "61005.0", "0.020"),
            trade(T0 + 50 * S, "60995.0", "0.005"),
            trade(T0 + M - 1, "61001.0", "0.001"),
            trade(T0 + M, "61002.0", "0.003"),
            trade(T0 + 3 * M + 20 * S, "61010.0", "0.002"),
            trade(T0 + 4 * M + 10 * S, "61020.0", "0.002"),
        ],
    )


def run(files: list[Path], strategy: Strategy, config: ReplayConfig = ReplayConfig(), **kw: Any) -> dict[str, Any]:
    return Replay(files, strategy, config, **kw).run()


# ---------------------------------------------------------------------------- the aggregator
class TestAggregator:
    def test_open_high_low_close_volume_and_count_of_the_trades(self) -> None:
        """A bar's open is its first print, close its last, high/low the extremes, volume the lots summed, one count a print."""
        agg = BarAggregator("BTCUSDT", "1m")
        for px, lots in ((100, 5), (104, 1), (98, 2), (101, 3)):
            agg.add(px, lots)
            agg._check()
        assert agg.close(T0 + M - 1) == Bar("BTCUSDT", "1m", T0, T0 + M - 1, 100, 104, 98, 101, 11, 4, False)

    def test_an_interval_without_trades_is_flat_at_the_previous_close(self) -> None:
        """The next bar without a print is open = high = low = close = the previous close, volume 0, count 0."""
        agg = BarAggregator("BTCUSDT", "1m")
        agg.add(100, 5)
        agg.add(101, 1)
        agg.close(T0 + M - 1)
        assert agg.close(T0 + 2 * M - 1) == Bar("BTCUSDT", "1m", T0 + M, T0 + 2 * M - 1, 101, 101, 101, 101, 0, 0, False)

    def test_no_bar_before_the_first_trade(self) -> None:
        """Closing an interval before any print gives nothing."""
        agg = BarAggregator("BTCUSDT", "5m")
        assert agg.close(T0 + 5 * M - 1) is None

    def test_a_print_of_unknown_size_makes_the_volume_unknown(self) -> None:
        """A bar path's print (unknown size) leaves the bar's volume None; the next bar counts again."""
        assert UNKNOWN_SIZE_LOTS == MARKET_UNKNOWN_SIZE_LOTS
        agg = BarAggregator("BTCUSDT", "1m")
        agg.add(100, 5)
        agg.add(101, UNKNOWN_SIZE_LOTS)
        assert agg.close(T0 + M - 1).volume_lots is None  # type: ignore[union-attr]
        agg.add(102, 2)
        assert agg.close(T0 + 2 * M - 1).volume_lots == 2  # type: ignore[union-attr]

    def test_binance_fixed_intervals_are_accepted(self) -> None:
        """Every Binance kline interval of fixed length is accepted, with its length in ns."""
        assert list(INTERVALS) == ["1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d"]
        assert interval_ns("1s") == S and interval_ns("15m") == 15 * M and interval_ns("1d") == 1440 * M

    @pytest.mark.parametrize("text", ["2m", "1w", "1M", "60s", "1H", "", 60])
    def test_other_intervals_are_refused_in_one_line(self, text: Any) -> None:
        """Another interval (a week, a month, a length Binance does not offer) is one clear error listing the accepted ones."""
        with pytest.raises(InputError, match=r"is not a bar interval; expected one of 1s, 1m, .*, 1d$"):
            interval_ns(text)

    def test_a_file_bar_length_is_named_by_its_largest_exact_unit(self) -> None:
        """A file's bar length reads as an interval name, or as a count of its largest exact unit."""
        assert [interval_text(n) for n in (M, 5 * M, 2 * M, 90 * S, 7 * 1440 * M, 1_500_000_000)] == [
            "1m", "5m", "2m", "90s", "7d", "1500ms",
        ]


# ---------------------------------------------------------------------------- delivery
class TestDelivery:
    def test_bars_come_at_their_close_time_aligned_to_the_minute(self, minutes: Path) -> None:
        """1m bars: OHLCV of each UTC minute, delivered at its last nanosecond; a trade at 00:01:00 opens the next bar."""
        strategy = Bars(("BTCUSDT", "1m"))
        run([minutes], strategy)
        assert strategy.bars == [
            (T0 + M - 1, Bar("BTCUSDT", "1m", T0, T0 + M - 1, ticks("61000.0"), ticks("61005.0"), ticks("60995.0"), ticks("61001.0"), 36, 4, False)),
            (T0 + 2 * M - 1, Bar("BTCUSDT", "1m", T0 + M, T0 + 2 * M - 1, *[ticks("61002.0")] * 4, 3, 1, False)),
            (T0 + 3 * M - 1, Bar("BTCUSDT", "1m", T0 + 2 * M, T0 + 3 * M - 1, *[ticks("61002.0")] * 4, 0, 0, False)),
            (T0 + 4 * M - 1, Bar("BTCUSDT", "1m", T0 + 3 * M, T0 + 4 * M - 1, *[ticks("61010.0")] * 4, 2, 1, False)),
        ]  # (the fifth minute is not over when the data ends: no bar)

    def test_a_bar_closing_at_the_last_row_is_delivered(self, tmp_path: Path) -> None:
        """Data ending at a bar's last nanosecond ends that bar: it is delivered."""
        path = write_csv(tmp_path / "t.csv", [trade(T0 + 5 * S, "61000.0"), trade(T0 + M - 1, "61003.0")])
        strategy = Bars(("BTCUSDT", "1m"))
        run([path], strategy)
        assert [(ts, b.open_ticks, b.close_ticks, b.trade_count) for ts, b in strategy.bars] == [
            (T0 + M - 1, ticks("61000.0"), ticks("61003.0"), 2)
        ]

    def test_a_trade_at_the_first_timestamp_counts(self, tmp_path: Path) -> None:
        """Trades read before on_start (the run's first timestamp) are in the first bar of a subscription made there."""
        path = write_csv(tmp_path / "t.csv", [trade(T0, "61000.0", "0.004"), trade(T0, "61001.0"), trade(T0 + 90 * S, "61002.0")])
        strategy = Bars(("BTCUSDT", "1m"))
        run([path], strategy)
        first = strategy.bars[0][1]
        assert (first.open_ticks, first.close_ticks, first.volume_lots, first.trade_count) == (ticks("61000.0"), ticks("61001.0"), 5, 2)

    def test_a_later_subscription_starts_with_the_next_whole_bar(self, minutes: Path) -> None:
        """Subscribed at 00:00:40, the first minute (half seen) is not delivered; the next one is."""
        strategy = Bars(later=(T0 + 40 * S, "BTCUSDT", "1m"))
        run([minutes], strategy)
        assert [b.open_ts_ns for _, b in strategy.bars] == [T0 + M, T0 + 2 * M, T0 + 3 * M]

    def test_several_symbols_and_intervals_at_once(self, tmp_path: Path) -> None:
        """BTC 1m and 3m and ETH 1m: each its own bars; same close time in subscription order; none for ETH before its first trade."""
        rows = [trade(T0 + k * 20 * S, f"{61000 + k}.0") for k in range(18)]  # BTC every 20 s for 6 minutes
        rows += [trade(T0 + 2 * M + k * 30 * S, f"{2600 + k}.00", "0.010", "ETHUSDT") for k in range(4)]  # ETH from 00:02
        rows.sort(key=lambda r: r[0])
        path = write_csv(tmp_path / "two.csv", rows)
        strategy = Bars(("BTCUSDT", "1m"), ("BTCUSDT", "3m"), ("ETHUSDT", "1m"))
        run([path], strategy)
        got = [(ts, b.symbol, b.interval, b.open_ts_ns) for ts, b in strategy.bars]
        assert got == [
            (T0 + M - 1, "BTCUSDT", "1m", T0),
            (T0 + 2 * M - 1, "BTCUSDT", "1m", T0 + M),
            (T0 + 3 * M - 1, "BTCUSDT", "1m", T0 + 2 * M),
            (T0 + 3 * M - 1, "BTCUSDT", "3m", T0),
            (T0 + 3 * M - 1, "ETHUSDT", "1m", T0 + 2 * M),
            (T0 + 4 * M - 1, "BTCUSDT", "1m", T0 + 3 * M),
            (T0 + 4 * M - 1, "ETHUSDT", "1m", T0 + 3 * M),  # flat: ETH's trades ended at 00:03:30
            (T0 + 5 * M - 1, "BTCUSDT", "1m", T0 + 4 * M),
            (T0 + 5 * M - 1, "ETHUSDT", "1m", T0 + 4 * M),
        ]  # (BTC's last trade is at 00:05:40: the data ends inside the sixth minute and the second 3m bar)
        three = strategy.bars[3][1]
        assert (three.open_ticks, three.high_ticks, three.low_ticks, three.close_ticks, three.trade_count) == (
            ticks("61000.0"), ticks("61008.0"), ticks("61000.0"), ticks("61008.0"), 9,
        )
        eth = [b for _, b in strategy.bars if b.symbol == "ETHUSDT"]
        assert [(b.close_ticks, b.volume_lots, b.trade_count) for b in eth] == [
            (ETH.ticks("2601.00"), 20, 2), (ETH.ticks("2603.00"), 20, 2), (ETH.ticks("2603.00"), 0, 0),
        ]

    def test_a_long_gap_in_the_data_is_jumped_not_filled_with_flat_bars(self, tmp_path: Path) -> None:
        """Eight hours without a row: flat bars for the gap's first six hours (a quiet market), then the bars resume after it."""
        H = 60 * M
        path = write_csv(tmp_path / "gap.csv", [trade(T0 + 10 * S, "61000.0"), trade(T0 + 8 * H + 10 * S, "61100.0"), trade(T0 + 9 * H + 5 * S, "61200.0")])
        strategy = Bars(("BTCUSDT", "1h"))
        run([path], strategy)
        assert [b.open_ts_ns for _, b in strategy.bars] == [T0 + k * H for k in (0, 1, 2, 3, 4, 5, 8)]
        after = strategy.bars[-1][1]
        assert (after.open_ticks, after.close_ticks, after.trade_count) == (ticks("61100.0"), ticks("61100.0"), 1)

    def test_a_strategy_without_on_bar_pays_nothing_per_trade(self, minutes: Path) -> None:
        """Without on_bar the replay feeds no bars (no per-trade work), even if the strategy subscribes."""

        class NoHook(Strategy):
            def on_start(self, ctx: Any) -> None:
                ctx.subscribe_bars("BTCUSDT", "1m")

        replay = Replay([minutes], NoHook())
        replay.run()
        assert replay._bar_feed is None and replay.bar_aggregators == []

    def test_a_bad_interval_ends_the_run_naming_the_hook(self, minutes: Path) -> None:
        """subscribe_bars with an interval Binance does not have is one line naming the strategy's hook."""
        with pytest.raises(StrategyError, match=r"Bars\.on_start .*'7m' is not a bar interval"):
            run([minutes], Bars(("BTCUSDT", "7m")))

    def test_an_unknown_symbol_is_refused(self, minutes: Path) -> None:
        """A symbol the run does not hold is one line naming it."""
        with pytest.raises(StrategyError, match=r"'ETHUSDT' is not one of the run's symbols \['BTCUSDT'\]"):
            run([minutes], Bars(("ETHUSDT", "1m")))


class TestResume:
    def test_a_resumed_run_delivers_the_same_bars(self, tmp_path: Path) -> None:
        """Bars (their timers and the bar in progress) survive a checkpoint: a resumed run ends with the same bars."""
        rows = [trade(T0 + k * 7 * S, f"{61000 + (k * 37) % 23}.0", "0.002") for k in range(300)]  # 35 minutes, every 7 s
        path = write_csv(tmp_path / "t.csv", rows)
        subs = (("BTCUSDT", "1m"), ("BTCUSDT", "5m"))
        plain = Bars(*subs)
        plain_summary = run([path], plain)
        run([path], Bars(*subs), checkpoint_every=130, checkpoint_dir=tmp_path / "ck")
        resumed = Bars(*subs)
        replay = Replay([path], resumed, resume=tmp_path / "ck" / SNAPSHOT_NAME)
        before = len(resumed.bars)
        assert 0 < before < len(plain.bars)  # the snapshot is mid-run, with bars already delivered
        assert replay.run()["state_hash"] == plain_summary["state_hash"]
        assert resumed.bars == plain.bars and len(plain.bars) == 34 + 6


# ---------------------------------------------------------------------------- bar files
class TestFileBars:
    def test_each_ohlcv_bar_comes_after_its_path_at_its_close(self) -> None:
        """The January 2022 crash bars (ohlcv CSV): every file bar reaches on_bar, as the file says, after its four path trades."""
        strategy = FileBars()
        run([CRASH], strategy, ReplayConfig(balance="1000", symbol="BTCUSDT"))
        bars = [b for _, b in strategy.bars]
        assert len(bars) == 240 and all(b.from_file and b.interval == "1m" for b in bars)
        assert all(ts == b.close_ts_ns for ts, b in strategy.bars)
        first = bars[0]  # 2022-01-21 20:00:00,38031.0,38062.0,37955.0,37984.0,4045299.7785
        open_ns = 1_642_795_200 * S
        px = get_instrument("BTCUSDT", open_ns).ticks
        assert first == Bar(
            "BTCUSDT", "1m", open_ns, open_ns + M - 1, px("38031.0"), px("38062.0"), px("37955.0"), px("37984.0"), None, 0, True
        )
        # (the volume is in USD, off the 0.001 BTC lot grid: unknown in lots)

    def test_aggregated_bars_of_a_bar_file_combine_its_bars(self) -> None:
        """5m bars aggregated from the 1m file's paths have the five file bars' open, extremes and close; volume unknown."""
        strategy = Bars(("BTCUSDT", "5m"))
        run([CRASH], strategy, ReplayConfig(balance="1000", symbol="BTCUSDT"))
        files = [b for _, b in strategy.bars if b.from_file]
        fives = [b for _, b in strategy.bars if not b.from_file]
        assert len(fives) == 48
        for k, five in enumerate(fives):
            part = files[5 * k : 5 * k + 5]
            assert (five.open_ts_ns, five.close_ts_ns) == (part[0].open_ts_ns, part[-1].close_ts_ns)
            assert five.open_ticks == part[0].open_ticks and five.close_ticks == part[-1].close_ticks
            assert five.high_ticks == max(b.high_ticks for b in part) and five.low_ticks == min(b.low_ticks for b in part)
            assert five.volume_lots is None and five.trade_count == 20  # four path prints a file bar

    def test_freqtrade_candles_reach_on_bar_with_their_volume_in_lots(self) -> None:
        """freqtrade's XRPUSDT 5m futures candles (feather): each is a from-file bar with its volume in lots when on the grid."""
        pytest.importorskip("pyarrow")
        strategy = FileBars()
        run([FREQTRADE_5M], strategy, ReplayConfig(balance="1000"))
        bars = [b for _, b in strategy.bars]
        assert len(bars) == 1999 and {b.interval for b in bars} == {"5m"} and bars[0].open_ts_ns == 1_636_934_400 * S
        inst = get_instrument("XRPUSDT", bars[0].open_ts_ns)
        import pyarrow.feather as feather  # (the test reads the file's volumes itself, to compare)

        table = feather.read_table(FREQTRADE_5M)
        volumes = table.column("volume").to_pylist()
        for bar, volume in zip(bars, volumes):
            text = repr(volume)  # (XRP volumes are whole coins: their shortest text is the venue's)
            on_grid = Decimal(text) % Decimal(str(inst.lot_size)) == 0
            assert bar.volume_lots == (int(inst.lots(text)) if on_grid else None)
        assert sum(b.volume_lots is not None for b in bars) > 1900  # measured: XRP volumes are whole coins, lot 0.1

    def test_binance_klines_carry_volume_and_trade_count(self, tmp_path: Path) -> None:
        """A Binance klines CSV: each kline reaches on_bar with its volume in lots and its trade count."""
        path = tmp_path / "BTCUSDT-1m-2024-08-09.csv"
        t = T0 // 1_000_000
        path.write_text(
            "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore\n"
            f"{t},61000.0,61010.5,60990.0,61005.0,12.345,{t + 59_999},753000.1,1534,6.1,372000.2,0\n"
            f"{t + 60_000},61005.0,61006.0,61001.0,61002.1,0.5,{t + 119_999},30501.0,7,0.2,12200.4,0\n"
        )
        strategy = FileBars()
        run([path], strategy)
        # delivered at the kline's close_time, a millisecond: its first nanosecond
        assert [ts for ts, _ in strategy.bars] == [T0 + M - 1_000_000, T0 + 2 * M - 1_000_000]
        assert [b for _, b in strategy.bars] == [
            Bar("BTCUSDT", "1m", T0, T0 + M - 1, 610000, 610105, 609900, 610050, 12345, 1534, True),
            Bar("BTCUSDT", "1m", T0 + M, T0 + 2 * M - 1, 610050, 610060, 610010, 610021, 500, 7, True),
        ]

    def test_a_converted_bar_file_still_gives_its_bars(self, tmp_path: Path) -> None:
        """exsim's own CSV written from the ohlcv file (exsim convert) carries the bars: the same on_bar calls."""
        _, rows = open_rows(CRASH, None, "BTCUSDT")
        native = tmp_path / "crash.csv"
        with open(native, "w") as out:
            write_rows(rows, out, "exsim-csv")
        direct, converted = FileBars(), FileBars()
        config = ReplayConfig(balance="1000", symbol="BTCUSDT")
        run([CRASH], direct, config)
        run([native], converted, config)
        assert converted.bars == direct.bars and len(direct.bars) == 240


# ---------------------------------------------------------------------------- real data
def _cryptofeed_messages() -> dict[int, dict[str, Any]]:
    """The capture's messages by line number (``<unix ts>: <json>``)."""
    out = {}
    for n, line in enumerate(CRYPTOFEED.read_text().splitlines(), start=1):
        if n > 1:
            out[n] = json.loads(line.partition(": ")[2])
    return out


@pytest.mark.skipif(not CRYPTOFEED.is_file(), reason="needs ../shared/data (cryptofeed samples)")
class TestRealKlines:
    @pytest.mark.parametrize("symbol", ["SUSHIUSDT", "KEEPUSDT", "CTKUSDT"])
    def test_aggtrades_fold_into_the_venues_kline(self, symbol: str) -> None:
        """Binance USD-M 2021-07-22 22:26: the aggTrades of the kline's trade ids, read and converted by exsim and
        folded into a 1m bar, give the venue's own kline_1m message exactly: open, high, low, close and volume."""
        messages = _cryptofeed_messages()
        klines = [m["data"]["k"] for m in messages.values() if m["stream"] == f"{symbol.lower()}@kline_1m"]
        kline = klines[-1]  # the last update of the 22:26 minute the capture holds
        assert kline["t"] == 1_626_992_760_000 and not kline["x"]
        inst = get_instrument(symbol, kline["t"] * 1_000_000)
        _, rows = open_rows(CRYPTOFEED, None, symbol)
        trades = [r for r in rows if r.kind == TRADE]
        ids = {r.where: messages[int(r.where.rpartition(":")[2])]["data"] for r in trades}
        inside = [r for r in trades if ids[r.where]["f"] >= kline["f"] and ids[r.where]["l"] <= kline["L"]]
        # the aggTrades cover exactly the kline's trades (none cut by the kline's snapshot)
        assert ids[inside[0].where]["f"] == kline["f"] and ids[inside[-1].where]["l"] == kline["L"]
        model = MarketModel([inst], marks_replayed=False, funding_replayed=False)
        agg = BarAggregator(symbol, "1m")
        for cmd in model.commands(inside):
            agg.add(cmd.price_ticks, cmd.qty_lots)
        bar = agg.close(kline["T"] * 1_000_000 + 999_999)
        assert bar is not None and bar.open_ts_ns == kline["t"] * 1_000_000
        assert (bar.open_ticks, bar.high_ticks, bar.low_ticks, bar.close_ticks) == tuple(
            inst.ticks(kline[k]) for k in "ohlc"
        )
        assert bar.volume_lots == inst.lots(kline["v"])
        # one count per aggTrade print; the kline counts the trades inside them
        assert bar.trade_count == len(inside) and kline["n"] == sum(ids[r.where]["l"] - ids[r.where]["f"] + 1 for r in inside)


def test_the_example_in_docs_bars_runs(minutes: Path) -> None:
    """The strategy shown in docs/bars.md runs as written and collects the 1m closes."""
    text = (ROOT / "docs" / "bars.md").read_text()
    code = text.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, Any] = {}
    exec(compile(code, "docs/bars.md", "exec"), namespace)  # (our own document's example)
    strategy = namespace["Closes"]()
    run([minutes], strategy)
    assert strategy.closes == [ticks("61001.0"), ticks("61002.0"), ticks("61002.0"), ticks("61010.0")]
