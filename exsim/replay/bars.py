"""OHLCV bars for strategies: :class:`Bar`, bar intervals, and the :class:`BarAggregator`.

A strategy gets bars two ways (see ``docs/bars.md``):

* **Aggregated** (``ctx.subscribe_bars(symbol, "1m")``): the replay folds the venue's
  prints as they are replayed (:class:`~exsim.exchange.ReplayedTrade`: the trades of the
  input files, liquidation prints included) into bars aligned to UTC interval boundaries
  counted from the epoch, as Binance klines are (a ``1h`` bar opens at a whole hour, a
  ``1d`` bar at 00:00 UTC). The strategy's own simulated fills are **not** counted: the
  venue never saw them, and counting them would make the bars differ from the venue's
  klines over the same data. A trade at exactly an interval's start belongs to the bar
  that opens there. A bar is delivered at its close time ``close_ts_ns`` (open + interval
  - 1 ns, Binance's kline close time), after everything else of that nanosecond (market
  data, orders arriving, marks, funding), by a loop timer: a quiet interval still ends on
  time, as a flat bar at the previous close with volume 0 and trade count 0. No bar comes
  before the symbol's first trade.
* **From a bar file** (``ohlcv`` CSV, Binance ``klines``, freqtrade's last-price candles):
  each file bar is delivered as it is (``from_file=True``) right after its four
  price-path trades, at its close time.

Volume is in lots of the instrument, exact; it is None when unknown: a file bar whose
volume is not on the lot grid (an ``ohlcv`` file's volume in USD, a double's digits) or
missing, and an aggregated bar that holds a print of unknown size (a bar file's path).
The trade count of an aggregated bar counts the prints replayed (an ``aggTrades`` print
is one, though Binance's kline counts each trade it aggregates); of a file bar it is the
file's (Binance klines), 0 when the file has none.
"""

from __future__ import annotations

from typing import NamedTuple

from exsim.errors import InputError
from exsim.units import floor_div

_S = 1_000_000_000
#: the intervals :meth:`Context.subscribe_bars` accepts (Binance's kline intervals that are
#: a fixed length aligned to the epoch: not ``1w``, which Binance aligns to Mondays, nor
#: ``1M``, whose length varies), in ns
INTERVALS: dict[str, int] = {
    "1s": _S,
    "1m": 60 * _S,
    "3m": 180 * _S,
    "5m": 300 * _S,
    "15m": 900 * _S,
    "30m": 1_800 * _S,
    "1h": 3_600 * _S,
    "2h": 7_200 * _S,
    "4h": 14_400 * _S,
    "6h": 21_600 * _S,
    "8h": 28_800 * _S,
    "12h": 43_200 * _S,
    "1d": 86_400 * _S,
}
_NAMES = {ns: name for name, ns in INTERVALS.items()}
_UNITS = (("d", 86_400 * _S), ("h", 3_600 * _S), ("m", 60 * _S), ("s", _S), ("ms", 1_000_000), ("us", 1_000), ("ns", 1))
#: the size a print of unknown size carries (exsim.replay.market.UNKNOWN_SIZE_LOTS; the
#: market model imports this module, so the value is repeated here, and a test pins both)
UNKNOWN_SIZE_LOTS = 1 << 62


class Bar(NamedTuple):
    """One OHLCV bar of a symbol: prices in ticks, volume in lots (see the module doc)."""

    symbol: str
    interval: str  # "1m", "5m", "1h", "1d", or the file's bar length ("1m")
    open_ts_ns: int  # the bar's open time
    close_ts_ns: int  # open_ts_ns + interval_ns - 1 (Binance kline close time, in ns)
    open_ticks: int
    high_ticks: int
    low_ticks: int
    close_ticks: int
    volume_lots: int | None  # None when unknown (bar files whose volume is not on the lot grid)
    trade_count: int
    from_file: bool  # True: a bar of a bar file; False: aggregated from trades


def interval_ns(text: str) -> int:
    """The length in ns of a bar interval text; one of :data:`INTERVALS`, else an error.

    >>> interval_ns("1m"), interval_ns("4h")
    (60000000000, 14400000000000)
    >>> interval_ns("2m")
    Traceback (most recent call last):
    ...
    exsim.errors.InputError: field 'interval': '2m' is not a bar interval; expected one of 1s, 1m, 3m, 5m, 15m, 30m, 1h, 2h, 4h, 6h, 8h, 12h, 1d
    """
    ns = INTERVALS.get(text) if isinstance(text, str) else None
    if ns is None:
        raise InputError(f"{text!r} is not a bar interval; expected one of {', '.join(INTERVALS)}", field="interval")
    return ns


def interval_text(span_ns: int) -> str:
    """A bar length as interval text: the name of :data:`INTERVALS` when it is one, else
    the count of the largest unit that divides it exactly.

    >>> interval_text(60_000_000_000), interval_text(120_000_000_000), interval_text(604_800_000_000_000)
    ('1m', '2m', '7d')
    >>> interval_text(1_500_000_000)
    '1500ms'
    """
    name = _NAMES.get(span_ns)
    if name is not None:
        return name
    for unit, ns in _UNITS:
        if span_ns % ns == 0:
            return f"{span_ns // ns}{unit}"
    raise AssertionError("unreachable: every span is a whole number of ns")


def bar_open_ns(ts_ns: int, span_ns: int) -> int:
    """The open time of the epoch-aligned bar of length ``span_ns`` holding ``ts_ns``
    (rounded down to a multiple of the length).

    >>> bar_open_ns(119_999_999_999, 60_000_000_000), bar_open_ns(120_000_000_000, 60_000_000_000)
    (60000000000, 120000000000)
    """
    return floor_div(ts_ns, span_ns) * span_ns


class BarAggregator:
    """The bar in progress of one subscription (symbol × interval), folded trade by trade.

    :meth:`add` is O(1) and allocates nothing; :meth:`close` makes the :class:`Bar` at a
    close time and starts the next one. The replay calls :meth:`close` from a timer at
    each close time, so the aggregator never has to look at a trade's time.
    """

    __slots__ = (
        "symbol",
        "interval",
        "span_ns",
        "open_ticks",
        "high_ticks",
        "low_ticks",
        "close_ticks",
        "volume_lots",
        "trade_count",
        "last_close_ticks",
        "deliver",
    )

    def __init__(self, symbol: str, interval: str, *, deliver: bool = True) -> None:
        self.symbol = symbol
        self.interval = interval
        self.span_ns = interval_ns(interval)
        self.open_ticks = 0  # 0: no trade yet in this bar
        self.high_ticks = 0
        self.low_ticks = 0
        self.close_ticks = 0
        self.volume_lots: int | None = 0  # None once a print of unknown size came
        self.trade_count = 0
        self.last_close_ticks = 0  # the previous bar's close (0: no trade yet at all)
        #: False: the bar in progress started before the subscription (it missed trades):
        #: :meth:`close` does not return it
        self.deliver = deliver

    def add(self, price_ticks: int, qty_lots: int) -> None:
        """Fold one print in. O(1)."""
        if not self.trade_count:
            self.open_ticks = self.high_ticks = self.low_ticks = price_ticks
        elif price_ticks > self.high_ticks:
            self.high_ticks = price_ticks
        elif price_ticks < self.low_ticks:
            self.low_ticks = price_ticks
        self.close_ticks = price_ticks
        self.trade_count += 1
        volume = self.volume_lots
        if volume is not None:
            self.volume_lots = None if qty_lots >= UNKNOWN_SIZE_LOTS else volume + qty_lots

    def close(self, close_ts_ns: int) -> Bar | None:
        """The bar that closes at ``close_ts_ns`` (flat at the previous close when it had no
        trade), and reset for the next; None before the first trade, or for a bar the
        subscription saw only part of. O(1)."""
        n = self.trade_count
        if n:
            bar = Bar(
                self.symbol, self.interval, close_ts_ns + 1 - self.span_ns, close_ts_ns, self.open_ticks, self.high_ticks,
                self.low_ticks, self.close_ticks, self.volume_lots, n, False,
            )
            self.last_close_ticks = self.close_ticks
            self.trade_count = 0
            self.volume_lots = 0
        elif self.last_close_ticks:
            c = self.last_close_ticks
            bar = Bar(self.symbol, self.interval, close_ts_ns + 1 - self.span_ns, close_ts_ns, c, c, c, c, 0, 0, False)
        else:
            bar = None
        if not self.deliver:
            self.deliver = True
            return None
        return bar

    def _check(self) -> None:
        """The bar in progress is consistent: low <= open, close <= high. O(1)."""
        if self.trade_count:
            assert 0 < self.low_ticks <= min(self.open_ticks, self.close_ticks), self
            assert max(self.open_ticks, self.close_ticks) <= self.high_ticks, self
        assert self.volume_lots is None or self.volume_lots >= 0, self
        assert self.trade_count >= 0 and self.last_close_ticks >= 0

    def __repr__(self) -> str:
        return (
            f"BarAggregator({self.symbol} {self.interval}: o={self.open_ticks} h={self.high_ticks} l={self.low_ticks} "
            f"c={self.close_ticks} v={self.volume_lots} n={self.trade_count} last={self.last_close_ticks})"
        )
