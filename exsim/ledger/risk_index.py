"""Which isolated buckets and cross pools a new mark price can put at risk, without a scan.

``DESIGN.md`` §6. Per instrument and side, a ``SortedList`` holds each watched scope's
*next threshold* price:

* an **isolated bucket** is watched at its exact threshold price: the first tick at which
  ``ratio × margin balance ≤ maintenance margin`` holds (ratio 80 % for the margin-call
  warning until it has been given, then 100 % for liquidation). Its inputs change only
  through fills, funding and margin moves, which re-file it.
* a **cross pool** may hold several instruments, each moving on its own. Its slack to the
  next threshold is shared among its instruments in proportion to their notional; each
  instrument gets a conservative trigger price that cannot consume more than its share.
  When any trigger is crossed, the pool is evaluated exactly (O(its positions)) and
  re-filed with fresh shares. A pool is therefore never flagged later than the exact
  condition, and is flagged only when the exact condition holds.

A mark tick pops only the entries whose price it crossed: O(log N + k).

Conservative-trigger bound: moving instrument i's mark by d ticks against the pool
changes its equity by at most ``|q_net| × d × atpl`` and its maintenance margin by at
most ``Σ|q_leg| × d × atpl × MMR(end)``, MMR taken at the end of the move (maintenance
margin is convex in notional because bracket MMRs never decrease); on an instrument
whose maintenance margin is held at its entry value (``maint_margin_basis="entry"``)
the mark does not move it at all, so only the equity term counts. A pool whose shares
add up to at most its slack cannot cross its threshold while every instrument stays
inside its trigger.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, Iterator

from sortedcontainers import SortedList

from exsim.errors import StateError
from exsim.units import RATE_SCALE, ceil_div, floor_div, mul_div_floor

if TYPE_CHECKING:
    from exsim.ledger.accounts import Account, Position
    from exsim.ledger.ledger import Ledger

#: margin ratio (maintenance margin / margin balance) of the margin-call warning, e8
DEFAULT_WARN_RATIO_E8: Final = 80_000_000
LIQUIDATION_RATIO_E8: Final = RATE_SCALE

DOWN: Final = 0  # watched for a mark at or below the trigger
UP: Final = 1  # watched for a mark at or above the trigger

#: an entry of the sorted lists is one int, ``key << SEQ_BITS | seq``: it sorts as the
#: pair ``(key, seq)`` would (``0 < seq < 2**SEQ_BITS``; ``key`` may be negative) and
#: costs one int object instead of a tuple holding two (about 50 B less per entry)
SEQ_BITS: Final = 48
SEQ_MASK: Final = (1 << SEQ_BITS) - 1


def at_or_past(ratio_e8: int, margin_balance_atoms: int, maint_margin_atoms: int) -> bool:
    """Whether a scope has reached a margin-ratio threshold: ``ratio × balance ≤ MM``.

    >>> at_or_past(LIQUIDATION_RATIO_E8, 100, 100), at_or_past(DEFAULT_WARN_RATIO_E8, 100, 79)
    (True, False)
    """
    return ratio_e8 * margin_balance_atoms <= RATE_SCALE * maint_margin_atoms


class RiskIndex:
    """Threshold triggers of every watched scope, by instrument and direction.

    A *scope* is an isolated :class:`Position` or a cross :class:`Account`. Each watched
    scope has a ``seq`` (a per-index counter, kept on the scope as ``risk_seq``, 0 while
    not watched): the pop order is deterministic. An entry sorts as ``(key, seq)``, where
    key grows away from firing (``-price`` for DOWN, ``price`` for UP); it is stored as
    the one int ``key << SEQ_BITS | seq``. Per scope the index keeps one record,
    ``(scope, list, entry, list, entry, ...)``: the sorted lists its entries are in.
    Memory: about 190 B per scope with one trigger (a million isolated positions: 190 MB).
    """

    def __init__(self, ledger: "Ledger", warn_ratio_e8: int = DEFAULT_WARN_RATIO_E8) -> None:
        self.ledger = ledger
        self.warn_ratio_e8 = warn_ratio_e8
        self._lists: dict[str, tuple[SortedList, SortedList]] = {s: (SortedList(), SortedList()) for s in ledger.instruments}
        #: seq -> (scope, sorted list, entry, sorted list, entry, ...): what is filed for it
        self._records: dict[int, tuple] = {}
        self._next_seq = 1
        #: scopes that have had their margin-call warning (re-armed when they recover)
        self.warned: set[int] = set()  # seqs; membership tests only, never iterated

    # ------------------------------------------------------------------ filing
    def _seq(self, scope: "Account | Position") -> int:
        seq = scope.risk_seq
        if not seq:
            seq = scope.risk_seq = self._next_seq
            if seq > SEQ_MASK:
                raise StateError(f"risk index: more than {SEQ_MASK} scopes watched over the run")
            self._next_seq = seq + 1
            self._records[seq] = (scope,)
        return seq

    def unfile(self, scope: "Account | Position") -> None:
        """Stop watching ``scope`` (its position closed, or it is being re-filed). O(k log N)."""
        seq = scope.risk_seq
        if not seq:
            return
        record = self._records[seq]
        if len(record) > 1:
            for i in range(1, len(record), 2):
                record[i].remove(record[i + 1])
            self._records[seq] = (scope,)

    def forget(self, scope: "Account | Position") -> None:
        """Drop ``scope`` entirely (a closed position or an emptied account)."""
        seq = scope.risk_seq
        if seq:
            self.unfile(scope)
            del self._records[seq]
            self.warned.discard(seq)
            scope.risk_seq = 0

    def file(self, scope: "Account | Position", triggers: list[tuple[str, int, int]]) -> None:
        """Watch ``scope`` at ``(symbol, direction, price_ticks)`` triggers (replacing old ones)."""
        self.unfile(scope)
        seq = self._seq(scope)
        if not triggers:
            return
        record: list[object] = [scope]
        lists = self._lists
        for symbol, direction, price in triggers:
            entry = (-price if direction == DOWN else price) << SEQ_BITS | seq
            lst = lists[symbol][direction]
            lst.add(entry)
            record.append(lst)
            record.append(entry)
        self._records[seq] = tuple(record)

    def threshold_e8(self, scope: "Account | Position") -> int:
        """The ratio the scope is watched for next: the warning, or liquidation once warned."""
        seq = scope.risk_seq
        return LIQUIDATION_RATIO_E8 if seq and seq in self.warned else self.warn_ratio_e8

    def pop_crossed(self, symbol: str, mark_ticks: int) -> list[object]:
        """Remove and return the scopes whose trigger ``mark_ticks`` reached, in seq order.

        O(log N + k). The caller evaluates each exactly and re-files it.
        """
        down, up = self._lists[symbol]
        # DOWN fires when -key >= mark, i.e. key <= -mark; UP when key <= mark
        if not (down and -(down[0] >> SEQ_BITS) >= mark_ticks or up and up[0] >> SEQ_BITS <= mark_ticks):
            return []  # the common case, kept short: nothing crossed
        down_limit = -mark_ticks << SEQ_BITS | SEQ_MASK  # the largest entry with key <= -mark
        up_limit = mark_ticks << SEQ_BITS | SEQ_MASK
        popped_down = set()  # membership only
        while down and down[0] <= down_limit:
            popped_down.add(down.pop(0))
        popped_up = set()
        while up and up[0] <= up_limit:
            popped_up.add(up.pop(0))
        records = self._records
        out = []
        for seq in sorted({e & SEQ_MASK for e in popped_down} | {e & SEQ_MASK for e in popped_up}):
            record = records[seq]
            # drop the scope's other triggers too (other instruments / directions of a pool)
            for i in range(1, len(record), 2):
                lst, entry = record[i], record[i + 1]
                if not ((lst is down and entry in popped_down) or (lst is up and entry in popped_up)):
                    lst.remove(entry)
            scope = record[0]
            records[seq] = (scope,)
            out.append(scope)
        return out

    def mark_warned(self, scope: "Account | Position", warned: bool) -> None:
        seq = self._seq(scope)
        if warned:
            self.warned.add(seq)
        else:
            self.warned.discard(seq)

    def __len__(self) -> int:
        return sum(len(d) + len(u) for d, u in self._lists.values())

    def entries(self) -> Iterator[tuple[str, int, int, object]]:
        """Every ``(symbol, direction, price_ticks, scope)`` filed, for checks and displays."""
        for symbol, pair in sorted(self._lists.items()):
            for direction, lst in enumerate(pair):
                for entry in lst:
                    key = entry >> SEQ_BITS
                    yield symbol, direction, (-key if direction == DOWN else key), self._records[entry & SEQ_MASK][0]

    def _check(self) -> None:
        """Lists and filing records agree; each record's scope carries its seq. O(N)."""
        where = {id(lst): (symbol, d) for symbol, pair in self._lists.items() for d, lst in enumerate(pair)}
        on_file: set[tuple[str, int, int]] = set()
        for seq, record in self._records.items():
            carried = getattr(record[0], "risk_seq", None)
            if carried != seq:
                raise StateError(f"risk index: scope {record[0]!r} filed as {seq} carries {carried}")
            for i in range(1, len(record), 2):
                lst, entry = record[i], record[i + 1]
                if id(lst) not in where or entry & SEQ_MASK != seq:
                    raise StateError(f"risk index: scope {seq} filed at {entry} in a list not its own")
                on_file.add((*where[id(lst)], entry))
        listed = 0
        for symbol, pair in self._lists.items():
            for direction, lst in enumerate(pair):
                lst._check()
                for entry in lst:
                    if (symbol, direction, entry) not in on_file:
                        key, seq = entry >> SEQ_BITS, entry & SEQ_MASK
                        raise StateError(f"risk index: entry {(symbol, direction, key, seq)} not on file")
                    listed += 1
        if listed != len(on_file):
            raise StateError(f"risk index: {len(on_file)} entries on file, {listed} listed")


# ---------------------------------------------------------------------- trigger prices
def isolated_threshold_ticks(ledger: "Ledger", pos: "Position", ratio_e8: int) -> tuple[int, int] | None:
    """``(direction, price_ticks)`` where an isolated position first meets ``ratio`` exactly.

    Long: the highest tick p with ``ratio × (margin + UPnL(p)) ≤ 1e8 × MM(p)`` (fires when
    the mark is at or below p); short: the lowest such p (fires at or above). None when
    no positive price reaches it. The condition is monotone in p (a long's margin
    balance falls one-for-one with price while its MM falls at rate MMR < 1), so an
    exponential then binary search over integer ticks finds the exact boundary with the
    same integer arithmetic the exact check uses. O(log P) evaluations.

    With the instrument's ``maint_margin_basis`` ``"entry"`` the MM is the constant
    ``MM0 = MM(entry cost)`` and the condition is linear in p: the boundary is solved
    directly (:func:`_entry_threshold`) and checked with the same predicate. O(1).
    """
    inst = ledger.instruments[pos.symbol]
    atpl = inst.atoms_per_tick_lot
    mm_of = inst.brackets.maint_margin_atoms
    q = pos.qty_lots
    size = q if q > 0 else -q
    cost = pos.cost_atoms
    margin = pos.margin_atoms
    scale = RATE_SCALE

    entry = inst.maint_margin_basis == "entry"
    mm_entry = mm_of(cost) if entry else 0

    def hit(p: int) -> bool:
        n = size * p * atpl
        upnl = n - cost if q > 0 else cost - n
        return ratio_e8 * (margin + upnl) <= scale * (mm_entry if entry else mm_of(n))

    guess: int | None
    if entry:
        guess = None  # the root is exact; the search below is only a fallback
        if ratio_e8 > 0:
            root = _entry_threshold(q > 0, size * atpl, cost, margin, mm_entry, ratio_e8)
            if q > 0:
                if root < 1:
                    return None  # no positive price reaches it
                if hit(root) and not hit(root + 1):
                    return DOWN, root
            elif hit(root) and (root == 1 or not hit(root - 1)):
                return UP, root
    else:
        guess = _threshold_guess(q > 0, size, cost, margin, inst.brackets.brackets, atpl, ratio_e8)
    if guess is not None:
        # the rational root, per bracket; integer rounding of MM can move it by a tick
        if q > 0:
            for p in (guess + 1, guess, guess - 1, guess - 2):
                if p >= 1 and hit(p) and not hit(p + 1):
                    return DOWN, p
        else:
            for p in (guess - 1, guess, guess + 1, guess + 2):
                if p >= 1 and hit(p) and (p == 1 or not hit(p - 1)):
                    return UP, p
    start = max(1, ledger.mark_ticks(pos.symbol, pos))
    if q > 0:  # highest p that hits; hits are p <= boundary
        if not hit(1):
            return None
        if hit(start):
            lo, step = start, 1
            while hit(lo + step):
                lo += step
                step *= 2
            hi = lo + step  # hit(lo) and not hit(hi)
        else:
            hi = start
            lo = 1
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if hit(mid):
                lo = mid
            else:
                hi = mid
        return DOWN, lo
    # short: lowest p that hits; hits are p >= boundary
    if hit(start):
        hi, step = start, 1
        while hi - step >= 1 and hit(hi - step):
            hi -= step
            step *= 2
        lo = max(0, hi - step)  # not hit(lo) (or 0), hit(hi)
    else:
        lo, step = start, 1
        while not hit(lo + step):
            lo += step
            step *= 2
            if step > 1 << 62:
                return None
        hi = lo + step
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if hit(mid):
            hi = mid
        else:
            lo = mid
    return UP, hi


def _entry_threshold(long: bool, per_tick: int, cost: int, margin: int, mm_entry: int, ratio_e8: int) -> int:
    """The exact threshold tick when the maintenance margin is the constant ``mm_entry``.

    With ``n = p × per_tick`` (notional, atoms) and ``r = ratio_e8 > 0``:
    long hits iff ``r(M + n − C) ≤ 1e8·MM0`` iff ``n ≤ (1e8·MM0 + r(C − M)) / r``, so the
    highest such tick is ``floor(floor(num / r) / per_tick)`` (< 1: none);
    short hits iff ``r(M + C − n) ≤ 1e8·MM0`` iff ``n ≥ (r(M + C) − 1e8·MM0) / r``, so the
    lowest is ``ceil(ceil(num / r) / per_tick)``, at least 1. Exact: n is a whole number
    of atoms, so the inner rounding loses nothing.

    >>> # long 1 unit @1000.000 (per_tick 100 000 atoms), bucket 100, MM0 50 USDT: LP 950.000
    >>> _entry_threshold(True, 100_000, 10**11, 10**10, 5 * 10**9, RATE_SCALE)
    950000
    >>> _entry_threshold(False, 100_000, 10**11, 10**10, 5 * 10**9, RATE_SCALE)
    1050000
    """
    scale = RATE_SCALE
    if long:
        return floor_div(floor_div(scale * mm_entry + ratio_e8 * (cost - margin), ratio_e8), per_tick)
    p = ceil_div(ceil_div(ratio_e8 * (margin + cost) - scale * mm_entry, ratio_e8), per_tick)
    return p if p > 1 else 1


def _threshold_guess(
    long: bool, size: int, cost: int, margin: int, brackets: tuple, atpl: int, ratio_e8: int
) -> int | None:
    """The threshold price (ticks, floored) from the linear solution in the consistent bracket.

    Long: ``r(M + n − C) = n·mmr − 1e8·cum`` → ``n = (r(C − M) − 1e8·cum) / (r − mmr)``;
    short: ``r(M + C − n) = n·mmr − 1e8·cum`` → ``n = (r(M + C) + 1e8·cum) / (r + mmr)``,
    with n the notional in atoms and p = n / (size × atpl). None when no bracket is
    self-consistent (the caller then searches).
    """
    scale = RATE_SCALE
    per_tick = size * atpl
    for b in brackets:
        if long:
            den = ratio_e8 - b.mmr_e8
            if den <= 0:
                continue
            num = ratio_e8 * (cost - margin) - scale * b.cum_atoms
        else:
            den = ratio_e8 + b.mmr_e8
            num = ratio_e8 * (margin + cost) + scale * b.cum_atoms
        if num <= 0:
            continue
        n_floor = floor_div(num, den)
        if b.floor_atoms <= n_floor and (n_floor < b.cap_atoms or b is brackets[-1]):
            return floor_div(n_floor, per_tick)
    return None


def cross_triggers(ledger: "Ledger", acct: "Account", ratio_e8: int) -> list[tuple[str, int, int]] | None:
    """Conservative per-instrument triggers for a cross pool, or None if it is already at ``ratio``.

    Slack ``S = ratio × margin balance − 1e8 × MM`` (in atoms × 1e8) is shared in
    proportion to each instrument's notional; instrument i may move ``d_i`` ticks against
    the pool where ``rate_i × d_i ≤ share_i`` (see the module docstring). O(positions).
    """
    per: dict[str, list["Position"]] = {}
    upnl = mm = 0
    for pos in acct.positions.values():
        if pos.isolated or not pos.qty_lots:
            continue
        per.setdefault(pos.symbol, []).append(pos)
        _, u, m = ledger.position_figures(pos)
        upnl += u
        mm += m
    if not per:
        return []
    balance = acct.wallet_atoms + upnl
    slack = ratio_e8 * balance - RATE_SCALE * mm
    if slack <= 0:
        return None
    # keep one atom of maintenance-margin rounding per position out of the shares
    slack -= RATE_SCALE * sum(len(v) for v in per.values())
    if slack <= 0:
        return None
    weights: dict[str, int] = {}
    for symbol, legs in per.items():
        weights[symbol] = sum(ledger.position_figures(p)[0] for p in legs) or 1
    total_w = sum(weights.values())
    triggers: list[tuple[str, int, int]] = []
    for symbol in sorted(per):  # sorted: deterministic filing order
        legs = per[symbol]
        inst = ledger.instruments[symbol]
        atpl = inst.atoms_per_tick_lot
        mark = ledger.mark_ticks(symbol, legs[0])
        share = mul_div_floor(slack, weights[symbol], total_w)  # floor: shares never exceed the slack
        q_net = sum(p.qty_lots for p in legs)
        gross = sum(abs(p.qty_lots) for p in legs)
        entry = inst.maint_margin_basis == "entry"
        for direction in (DOWN, UP):
            adverse_equity = max(0, -q_net) if direction == UP else max(0, q_net)
            if entry:
                # MM held at its entry value: the mark does not move it, only equity
                rate = ratio_e8 * adverse_equity * atpl
                d = floor_div(share, rate) if rate > 0 else -1
            else:
                # MM growth bound: MMR at the far end of the move (iterate to a fixed point)
                mmr = inst.brackets.bracket_for(gross * mark * atpl).mmr_e8
                d = 0
                for _ in range(len(inst.brackets.brackets) + 1):
                    mm_rate = gross * mmr if direction == UP else sum(p.qty_lots for p in legs if p.qty_lots < 0) * -mmr
                    rate = (ratio_e8 * adverse_equity + mm_rate) * atpl
                    if rate <= 0:
                        d = -1  # no adverse exposure in this direction: no trigger needed
                        break
                    d = floor_div(share, rate)
                    end = mark + d if direction == UP else max(1, mark - d)
                    end_mmr = inst.brackets.bracket_for(gross * end * atpl).mmr_e8
                    if end_mmr <= mmr:
                        break
                    mmr = end_mmr
            if d < 0:
                continue
            price = mark + d if direction == UP else mark - d
            if direction == DOWN and price < 1:
                continue  # cannot be reached by a positive price
            triggers.append((symbol, direction, price))
    return triggers
