"""Computed mark price (MARGIN-SPEC §6): Binance-style ``median(Price1, Price2, last)``.

One :class:`MarkPriceCalculator` per instrument, fed by the event loop at priority 2
(DESIGN §4). It is streaming and holds constant memory: the latest index, mid, last trade
and funding rate, plus a ring of basis samples for the moving average.

Formula (every quantity in subticks; ``I`` index, ``M`` mid, ``L`` last trade)::

    Price1 = I * (1 + last_funding_rate * time_to_funding / funding_interval)
    Price2 = I + mean(M_k - I_k over the samples k in the window)
    mark   = median(Price1, Price2, L)

**Sampling rule of the moving average.** Samples sit on a fixed grid ``k * sample_interval_ns``
(anchored at the epoch, so with the 1 s default they fall on whole UTC seconds). The sample
stamped ``t_k`` is the basis ``M - I`` *in force just before* ``t_k``: it is built from the
latest index and mid whose timestamps are ``< t_k``, i.e. it is the closing value of the
bucket ``[t_k - sample_interval, t_k)`` (left-continuous, carried forward across buckets
with no update, like a 1 s kline close). The moving average at time ``ts`` is the plain mean
of the samples stamped in ``(ts - window_ns, ts]`` — the last ``window_ns / sample_interval_ns``
grid points (300 with the defaults: Binance USDⓈ-M's 5-minute basis sampled every second;
its COIN-M contracts use 30 points every 5 s, ``window_ns=150 s, sample_interval_ns=5 s``).
Grid points before both an index and a mid exist carry no sample, so while the window
warms up the mean is over the samples taken so far. An update at exactly ``t_k`` counts
from the next sample on, so same-timestamp events never change a sample already taken
and the result does not depend on how the caller interleaves queries with updates.

**Exactness and rounding.** Every price is in **subticks** (1e-8 of the quote asset,
:mod:`exsim.units`): the index, the last trade (its ticks converted exactly) and the mids,
which arrive as ``bid + ask`` (``mid_subticks_x2``) so no rounding is needed on the way
in; basis samples are kept in half-subticks and their sum as an exact int. Price1, Price2
and their median are exact rationals; only the final mark is rounded, **to the nearest
subtick, ties to the even one** (banker's rounding, :func:`exsim.units.div_half_even`).
The mark is *not* rounded to the tick: the venue computes it and publishes it with 8
decimals (Binance's ``markPrice`` stream and ``premiumIndex`` endpoint, e.g. ``"p":
"10934.62615417"`` in the stream's documented example; its public mark klines carry a
fifth decimal on XRPUSDT, tick 0.0001), so 1e-8 is the venue's own precision:

- the mark is not a payment, so DESIGN §3's "against the trader" has no direction to
  pick: a long's unrealised gain at mark is a short's loss, and any directed rule
  (floor, ceil, toward the index) would shift every UPnL, margin ratio and mark-triggered
  order of one side of the book;
- nearest is the smallest error the scale allows (half of 1e-8), and ties-to-even is
  sign-symmetric and unbiased on ties, so the rounding does not drift in either
  direction over a long replay.

Rounding is monotone, so ``median(round(P1), round(P2), L) == round(median(P1, P2, L))``
(``L`` is on the scale already): the calculator rounds Price1 and Price2 separately and
:meth:`MarkPriceCalculator.price1_subticks` / :meth:`~MarkPriceCalculator.price2_subticks`
report exactly the values the median was taken over.

**Fallbacks** (inputs that have not arrived yet):

- no index yet: the index is taken to be the mid (Price2 is then the mid, Price1 the mid
  scaled by the funding term);
- neither index nor mid: no mark (``None``); a last trade alone is the most manipulable
  price there is and is never used on its own;
- no basis sample yet (the first second after index and mid both exist): the moving
  average is the current basis ``M - I``; with an index but never a mid it is 0
  (Price2 = index);
- no funding rate yet: rate 0, so Price1 = index; after the ``next_funding_ts_ns`` given
  with the last rate has passed, time to funding is 0 (Price1 = index) until the next
  :meth:`~MarkPriceCalculator.on_funding_rate`;
- no last trade: the median of the two remaining prices, i.e. their exact mean, rounded
  as above;
- a mark is never below one subtick (only absurd inputs, such as an index collapsing by
  orders of magnitude inside the window, could push the exact value there).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from exsim.errors import InputError, StateError
from exsim.units import NS_PER_MINUTE, NS_PER_SECOND, RATE_SCALE, div_half_even, floor_div

if TYPE_CHECKING:
    from exsim.instruments.instrument import Instrument

__all__ = [
    "DEFAULT_MARK_WINDOW_NS",
    "DEFAULT_MARK_SAMPLE_INTERVAL_NS",
    "MarkPriceCalculator",
    "median3",
]

#: Moving-average window of Price2 (Binance USDⓈ-M: 5-minute basis).
DEFAULT_MARK_WINDOW_NS: Final[int] = 5 * NS_PER_MINUTE
#: Spacing of the basis samples (Binance USDⓈ-M: one per second).
DEFAULT_MARK_SAMPLE_INTERVAL_NS: Final[int] = NS_PER_SECOND

def median3(a: int, b: int, c: int) -> int:
    """The median of three values (the middle one once sorted). Pure, O(1).

    Used on subticks (ints); no rounding involved.

    >>> median3(3, 1, 2), median3(1, 2, 3), median3(5, 5, 1), median3(-1, 7, 7)
    (2, 2, 5, 7)
    """
    if a > b:
        a, b = b, a
    # a <= b now, and the median is c clipped into [a, b]
    return a if c < a else (c if c < b else b)


class MarkPriceCalculator:
    """Streaming Binance-style mark price of one instrument; constant memory.

    Feed it in timestamp order (non-decreasing ``ts_ns`` across :meth:`on_index`,
    :meth:`on_mid`, :meth:`on_last` and :meth:`mark_subticks`; going back in time raises
    ``ValueError``) and query :meth:`mark_subticks`. The module docstring gives the formula,
    the sampling rule, the rounding (nearest subtick, ties to even) and the fallbacks.

    Memory: one ring of ``window_ns // sample_interval_ns`` ints (300 by default).
    Cost of every timestamped call: O(1 + min(g, N)) where ``g`` is the number of sample
    grid points crossed since the previous call and ``N`` the ring size, i.e. O(1)
    amortised per elapsed sample interval (a gap longer than the window refills the ring
    in one O(N) step, never more).
    """

    __slots__ = (
        "funding_interval_ns",
        "window_ns",
        "sample_interval_ns",
        "_n",
        "_ring",
        "_sum_x2",
        "_first_k",
        "_next_k",
        "_ts_ns",
        "_index_subticks",
        "_mid_subticks_x2",
        "_last_subticks",
        "_rate_e8",
        "_next_funding_ts_ns",
    )

    def __init__(
        self,
        funding_interval_ns: int,
        *,
        window_ns: int = DEFAULT_MARK_WINDOW_NS,
        sample_interval_ns: int = DEFAULT_MARK_SAMPLE_INTERVAL_NS,
    ) -> None:
        """``funding_interval_ns`` (> 0) scales Price1's funding term; ``window_ns`` must be
        a positive multiple of ``sample_interval_ns`` (> 0). Bad values raise InputError."""
        for name, value in (
            ("funding_interval_ns", funding_interval_ns),
            ("window_ns", window_ns),
            ("sample_interval_ns", sample_interval_ns),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise InputError(f"{value!r} must be a positive int (ns)", field=name)
        if window_ns % sample_interval_ns:
            raise InputError(
                f"{window_ns} is not a multiple of sample_interval_ns {sample_interval_ns}",
                field="window_ns",
            )
        self.funding_interval_ns: Final = funding_interval_ns
        self.window_ns: Final = window_ns
        self.sample_interval_ns: Final = sample_interval_ns
        self._n: Final = window_ns // sample_interval_ns
        # _ring[k % _n] holds the basis sample (half-subticks, M_x2 - 2*I) stamped at grid
        # index k; slots never written hold 0, so _sum_x2 is always sum(_ring).
        self._ring: list[int] = [0] * self._n
        self._sum_x2 = 0
        self._first_k: int | None = None  # grid index of the first sample
        self._next_k: int | None = None  # grid index of the next sample to take
        self._ts_ns: int | None = None  # latest timestamp seen
        self._index_subticks: int | None = None
        self._mid_subticks_x2: int | None = None
        self._last_subticks: int | None = None
        self._rate_e8 = 0
        self._next_funding_ts_ns: int | None = None

    @classmethod
    def for_instrument(
        cls,
        instrument: Instrument,
        *,
        window_ns: int = DEFAULT_MARK_WINDOW_NS,
        sample_interval_ns: int = DEFAULT_MARK_SAMPLE_INTERVAL_NS,
    ) -> MarkPriceCalculator:
        """A calculator using ``instrument.funding_interval_ns``."""
        return cls(
            instrument.funding_interval_ns,
            window_ns=window_ns,
            sample_interval_ns=sample_interval_ns,
        )

    # ------------------------------------------------------------------ inputs

    def _advance(self, ts_ns: int) -> None:
        """Take every pending basis sample stamped ``<= ts_ns``, with the state in force
        before ``ts_ns``'s updates. O(1 + min(g, N))."""
        prev = self._ts_ns
        if ts_ns == prev:
            # a second input at the same instant (the exchange feeds index, mid and last
            # and asks for the mark at each index sample): every grid point <= ts_ns was
            # taken at the first one, so there is nothing to sample
            return
        if prev is not None and ts_ns < prev:
            raise InputError(
                f"timestamp {ts_ns} is before the previous update at {prev}", field="ts_ns"
            )
        self._ts_ns = ts_ns
        k = self._next_k
        if k is None:
            return
        last_k = floor_div(ts_ns, self.sample_interval_ns)
        g = last_k - k + 1  # grid points to sample now
        if g <= 0:
            return
        assert self._index_subticks is not None and self._mid_subticks_x2 is not None
        v = self._mid_subticks_x2 - 2 * self._index_subticks
        n = self._n
        ring = self._ring
        if g >= n:  # the whole window is this one value
            ring[:] = [v] * n
            self._sum_x2 = v * n
        else:
            s = self._sum_x2
            for j in range(k, last_k + 1):
                i = j % n
                s += v - ring[i]
                ring[i] = v
            self._sum_x2 = s
        self._next_k = last_k + 1

    def _maybe_start(self, ts_ns: int) -> None:
        """Start sampling once both index and mid exist; the first sample is the first
        grid point after ``ts_ns``."""
        if (
            self._next_k is None
            and self._index_subticks is not None
            and self._mid_subticks_x2 is not None
        ):
            self._first_k = self._next_k = floor_div(ts_ns, self.sample_interval_ns) + 1

    def on_index(self, ts_ns: int, index_subticks: int) -> None:
        """A new index price (subticks, > 0) in force from ``ts_ns``. O(1 + min(g, N)).

        The index is an average of spot prices and need not be on the tick grid: it is
        taken exactly, at the precision it was published with (up to 1e-8).
        """
        if index_subticks <= 0:
            raise InputError(f"{index_subticks} must be > 0", field="index_subticks")
        self._advance(ts_ns)
        self._index_subticks = index_subticks
        self._maybe_start(ts_ns)

    def on_mid(self, ts_ns: int, mid_subticks_x2: int) -> None:
        """A new book mid as ``best_bid + best_ask`` in subticks (> 0), in force from
        ``ts_ns``; exact even for a half-tick mid. O(1 + min(g, N)).

        Call it when the top of book changes and both sides exist; a one-sided or empty
        book keeps the previous mid in force.
        """
        if mid_subticks_x2 <= 0:
            raise InputError(f"{mid_subticks_x2} must be > 0", field="mid_subticks_x2")
        self._advance(ts_ns)
        self._mid_subticks_x2 = mid_subticks_x2
        self._maybe_start(ts_ns)

    def on_last(self, ts_ns: int, last_subticks: int) -> None:
        """A trade at ``last_subticks`` (> 0): the contract price of the median. O(1 + min(g, N))."""
        if last_subticks <= 0:
            raise InputError(f"{last_subticks} must be > 0", field="last_subticks")
        self._advance(ts_ns)
        self._last_subticks = last_subticks

    def on_funding_rate(self, rate_e8: int, next_funding_ts_ns: int) -> None:
        """The funding rate Price1 uses (parts per 1e8, ``|rate| < 1``) and the time of the
        funding it applies to. O(1).

        Feed either the last settled rate or the running estimate (Binance's
        ``lastFundingRate`` field is the estimate for the coming funding); untimed, it does
        not advance the sampling clock.
        """
        if not -RATE_SCALE < rate_e8 < RATE_SCALE:
            raise InputError(f"{rate_e8} is outside (-1e8, 1e8)", field="rate_e8")
        self._rate_e8 = rate_e8
        self._next_funding_ts_ns = next_funding_ts_ns

    # ------------------------------------------------------------------ outputs

    def _index_x2(self) -> int | None:
        """Index in half-subticks, or the mid when there is no index yet (fallback)."""
        if self._index_subticks is not None:
            return 2 * self._index_subticks
        return self._mid_subticks_x2

    def _price1_x2(self, index_x2: int, ts_ns: int) -> tuple[int, int]:
        """Price1 in half-subticks as an exact fraction ``(num, den)``, ``den > 0``."""
        interval = self.funding_interval_ns
        nxt = self._next_funding_ts_ns
        ttf = 0 if nxt is None else min(max(nxt - ts_ns, 0), interval)
        den = RATE_SCALE * interval
        return index_x2 * (den + self._rate_e8 * ttf), den

    def _price2_x2(self, index_x2: int) -> tuple[int, int]:
        """Price2 in half-subticks as an exact fraction ``(num, den)``, ``den > 0``."""
        if self._index_subticks is None:
            return index_x2, 1  # index := mid, so the basis is 0
        k = self._next_k
        if k is not None:
            assert self._first_k is not None
            count = min(self._n, k - self._first_k)
            if count:
                return index_x2 * count + self._sum_x2, count
            assert self._mid_subticks_x2 is not None
            return self._mid_subticks_x2, 1  # no sample yet: the current basis
        return index_x2, 1  # never a mid: basis 0

    def price1_subticks(self, ts_ns: int) -> int | None:
        """Price1 at ``ts_ns`` rounded to the nearest subtick (ties even); None without index
        and mid. Advances the sampling clock like :meth:`mark_subticks`. O(1 + min(g, N))."""
        self._advance(ts_ns)
        index_x2 = self._index_x2()
        if index_x2 is None:
            return None
        num, den = self._price1_x2(index_x2, ts_ns)
        return div_half_even(num, 2 * den)

    def price2_subticks(self, ts_ns: int) -> int | None:
        """Price2 at ``ts_ns`` rounded to the nearest subtick (ties even); None without index
        and mid. Advances the sampling clock like :meth:`mark_subticks`. O(1 + min(g, N))."""
        self._advance(ts_ns)
        index_x2 = self._index_x2()
        if index_x2 is None:
            return None
        num, den = self._price2_x2(index_x2)
        return div_half_even(num, 2 * den)

    def mark_subticks(self, ts_ns: int) -> int | None:
        """The mark price at ``ts_ns`` in subticks (>= 1), or None before any index or mid.

        ``median(Price1, Price2, last)`` of the exact values, rounded to the nearest subtick,
        ties to the even subtick; without a last trade, the exact mean of Price1 and Price2,
        rounded the same way. Takes the basis samples due by ``ts_ns`` first (so it
        mutates the sampling state, exactly as an update at ``ts_ns`` would).
        O(1 + min(g, N)).
        """
        self._advance(ts_ns)
        index_x2 = self._index_x2()
        if index_x2 is None:
            return None
        n1, d1 = self._price1_x2(index_x2, ts_ns)
        n2, d2 = self._price2_x2(index_x2)
        last = self._last_subticks
        if last is None:
            # mean of the two, from half-subticks to ticks: (n1/d1 + n2/d2) / 4
            mark = div_half_even(n1 * d2 + n2 * d1, 4 * d1 * d2)
        else:
            mark = median3(
                div_half_even(n1, 2 * d1), div_half_even(n2, 2 * d2), last
            )
        return mark if mark > 1 else 1

    # ------------------------------------------------------------------ introspection

    @property
    def index_subticks(self) -> int | None:
        """Latest index price (subticks), None before the first."""
        return self._index_subticks

    @property
    def mid_subticks_x2(self) -> int | None:
        """Latest ``bid + ask`` (subticks), None before the first."""
        return self._mid_subticks_x2

    @property
    def last_subticks(self) -> int | None:
        """Latest trade price (subticks), None before the first."""
        return self._last_subticks

    @property
    def funding_rate_e8(self) -> int:
        """The funding rate Price1 uses (0 before :meth:`on_funding_rate`)."""
        return self._rate_e8

    @property
    def sample_count(self) -> int:
        """Basis samples in the window as of the latest timestamp seen (<= ring size)."""
        if self._next_k is None:
            return 0
        assert self._first_k is not None
        return min(self._n, self._next_k - self._first_k)

    @property
    def basis_sum_x2(self) -> int:
        """Sum of the basis samples in the window, half-subticks (exact)."""
        return self._sum_x2

    def _check(self) -> None:
        """Ring, running sum and sampling clock agree; inputs are in range. O(N)."""
        n = self._n
        ring = self._ring
        if n != self.window_ns // self.sample_interval_ns or len(ring) != n:
            raise StateError(f"ring has {len(ring)} slots, expected {n}")
        if self._sum_x2 != sum(ring):
            raise StateError(f"basis sum {self._sum_x2} != sum of ring {sum(ring)}")
        for name, value in (
            ("index_subticks", self._index_subticks),
            ("mid_subticks_x2", self._mid_subticks_x2),
            ("last_subticks", self._last_subticks),
        ):
            if value is not None and value <= 0:
                raise StateError(f"{name} {value} is not positive")
        if not -RATE_SCALE < self._rate_e8 < RATE_SCALE:
            raise StateError(f"funding rate {self._rate_e8} out of range")
        started = self._index_subticks is not None and self._mid_subticks_x2 is not None
        k, first = self._next_k, self._first_k
        if (k is not None) != started or (first is not None) != started:
            raise StateError(f"sampling started={k is not None} but inputs ready={started}")
        if k is None or first is None:
            if any(ring):
                raise StateError("basis samples present before sampling started")
            return
        assert self._ts_ns is not None
        if k != floor_div(self._ts_ns, self.sample_interval_ns) + 1:
            raise StateError(f"next sample {k} does not follow the clock at {self._ts_ns}")
        if k < first:
            raise StateError(f"next sample {k} precedes the first sample {first}")
        written = {j % n for j in range(max(first, k - n), k)}
        for i in range(n):
            if i not in written and ring[i] != 0:
                raise StateError(f"ring slot {i} holds {ring[i]} but was never written")

    def __repr__(self) -> str:
        return (
            f"MarkPriceCalculator(index={self._index_subticks}, mid_x2={self._mid_subticks_x2}, "
            f"last={self._last_subticks}, rate_e8={self._rate_e8}, samples={self.sample_count})"
        )
