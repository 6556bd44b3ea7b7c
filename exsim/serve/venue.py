"""The venue of ``exsim serve``: a replay whose clock the server drives, with accounts for its API keys.

:class:`Venue` builds an exsim :class:`~exsim.replay.Replay` of the files (the same readers,
market model and options as ``exsim replay``) with a strategy that does nothing: the
traders are the API's clients. Their commands come through :meth:`Venue.send`; the
exchange's events go to the components (the market feed, the order book-keeping, the
account feed: ``exsim.serve.market``, ``orders``, ``account``), which serve the REST
endpoints and push the WebSocket streams.

Accounts: one per API key, ids 1, 2, ... in the order the keys are given. Account 1 is
the replay's own (``ACCOUNT_ID``): the run directory's fills, time series, summary,
``exsim report`` and ``exsim explain`` tell its story, as for a replay. Every account gets
:attr:`ServeConfig.deposit` USDT at the data's first timestamp (and the replay config's
``leverage`` / ``margin_mode``, when given, on every symbol).

The clock (:attr:`ServeConfig.speed`) is the replay loop's time:

* ``"max"``: the replay runs as fast as it goes, in chunks of
  :attr:`ServeConfig.chunk_events` loop items, yielding to asyncio between two chunks so
  requests are served while it runs;
* a decimal multiplier ``X`` (``"1"`` = real time, ``"60"``): venue time = the first
  row's time + X x the wall time elapsed since :meth:`Venue.run` started, caught up
  every :data:`PACE_TICK_S` seconds;
* ``"step"``: the clock moves only by :meth:`Venue.advance` (and by :meth:`Venue.send`
  with a latency, see there). A scripted client gets the same state hash every run:
  chunking, asyncio and wall time never change what the replay does.

Components (each built as ``factory(venue)``) get, in the order they are given: every
event batch of the exchange, ``on_events(events)`` (all accounts'; the list is reused:
copy what you keep); every replayed print, ``on_trade(trade)`` (a ``ReplayedTrade``,
right after the exchange took it: a print that takes only replayed size makes no event),
if they define it; ``on_clock(now_ns)`` after each chunk; ``on_end(now_ns)``.

After each chunk every component's ``on_clock(now_ns)`` is called. At the end of the data
(the last row's time, its items all run) the venue sets :attr:`Venue.ended`, calls each
component's ``on_end(now_ns)`` and each of :attr:`Venue.on_end_sinks`, and keeps serving:
the clock stays there and commands are still processed, at that time, without latency.

The same-timestamp order is the replay's (:mod:`exsim.loop.event_loop`): a command that
arrives at ``t`` runs after the market data stamped ``t`` and before the mark price
update of ``t``, as a strategy's command does, so orders sent to a stepped venue at the
times a replay's strategy sends them give the same fills, positions and liquidations.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import time
from collections.abc import Awaitable, Callable, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import attrs
import structlog

from exsim.errors import InputError
from exsim.instruments import Instrument
from exsim.loop.event_loop import PRIORITY_COMMAND, EventLoop
from exsim.margin.liquidation import CROSS, ISOLATED, LONG, SHORT, liquidation_price
from exsim.margin.liquidation import Position as LiqPosition
from exsim.replay import Replay, ReplayConfig
from exsim.replay.strategy import ACCOUNT_ID, Strategy
from exsim.serve.binance import ms_of
from exsim.units import ceil_div, floor_div, format_atoms, parse_decimal, to_atoms

NS_PER_MS = 1_000_000
ATOMS_PER_USDT = 100_000_000
#: wall seconds between two catch-ups of a paced clock (a multiplier speed)
PACE_TICK_S = 0.01
#: the components a venue builds by default: (attribute, module, class), in the order
#: they get each event batch
COMPONENTS = (
    ("market", "exsim.serve.market", "MarketFeed"),
    ("orders", "exsim.serve.orders", "Orders"),
    ("account", "exsim.serve.account", "AccountFeed"),
)
_COMPONENT_NAMES = frozenset(name for name, _, _ in COMPONENTS)
SPEEDS = ("step", "max")  # besides a positive decimal multiplier

ComponentFactory = Callable[["Venue"], Any]
_log = structlog.get_logger("exsim.serve")
_MAX_ERRORS_KEPT = 100  # component errors kept for state() (all are logged)


class VenueStopped(RuntimeError):
    """The venue cannot take commands: it is closed, or its replay failed (the error
    that stopped it is the ``__cause__``)."""


def default_components() -> list[tuple[str, ComponentFactory]]:
    """The market feed, the orders and the account feed, imported here (importing them
    registers their endpoints in :data:`exsim.serve.binance.ENDPOINTS`)."""
    return [(name, getattr(importlib.import_module(module), cls)) for name, module, cls in COMPONENTS]


def speed_multiplier(speed: str) -> Fraction | None:
    """The pace of a ``speed`` setting: None for ``"step"`` and ``"max"``, else the exact
    multiplier of wall-clock time (decimal text > 0). Bad text: an :class:`InputError`.

    >>> speed_multiplier("60"), speed_multiplier("0.5"), speed_multiplier("max")
    (Fraction(60, 1), Fraction(1, 2), None)
    """
    if speed in SPEEDS:
        return None
    if not isinstance(speed, str):
        raise InputError(f"{speed!r} is not text", where="serve config", field="speed")
    try:
        value = parse_decimal(speed, field="speed", where="serve config")
    except InputError:
        raise InputError(f"{speed!r}: expected step, max or a positive multiplier (1 = real time)", where="serve config", field="speed") from None
    if value <= 0:
        raise InputError(f"{speed!r}: a multiplier must be > 0 (1 = real time)", where="serve config", field="speed")
    return Fraction(value)


def _speed(instance: object, attribute: attrs.Attribute[str], value: object) -> None:
    speed_multiplier(value)  # type: ignore[arg-type]


def _deposit(instance: object, attribute: attrs.Attribute[str], value: object) -> None:
    if to_atoms(value, field="deposit", where="serve config") < 0:  # type: ignore[arg-type]
        raise InputError(f"{value!r} is not an amount >= 0 (USDT)", where="serve config", field="deposit")


def _whole_in(low: int, high: int) -> Callable[[object, attrs.Attribute[int], object], None]:
    def check(instance: object, attribute: attrs.Attribute[int], value: object) -> None:
        if type(value) is not int or not low <= value <= high:
            raise InputError(f"{value!r} is not a whole number in {low:,} .. {high:,}", where="serve config", field=attribute.name)

    return check


@attrs.frozen(kw_only=True)
class ServeConfig:
    """How a venue runs: its clock, the accounts' deposit, the orders' latency, the market
    model (``replay``: ``exsim replay``'s options; its ``balance`` and ``latency_ns`` are
    replaced by ``deposit`` and ``latency_ns``, its ``leverage`` / ``margin_mode`` apply to
    every account)."""

    speed: str = attrs.field(default="max", validator=_speed)  # "step" | "max" | a multiplier ("1" = real time)
    deposit: str = attrs.field(default="10000", validator=_deposit)  # USDT per account, at the first row
    latency_ns: int = attrs.field(default=0, validator=_whole_in(0, 3_600 * 1_000_000_000))  # a command's way to the venue
    replay: ReplayConfig = ReplayConfig()
    chunk_events: int = attrs.field(default=500, validator=_whole_in(1, 10_000_000))  # loop items between two yields


class ApiTraders(Strategy):
    """The replay's strategy in a served run: none. The traders are the API's clients;
    their commands reach the exchange through :meth:`Venue.send`. It only hands each
    replayed print (``ReplayedTrade``: the tape, which makes no event when it takes only
    replayed size) to ``tape``, right after the exchange took it."""

    def __init__(self) -> None:
        self.tape: list[Callable[[Any], None]] = []

    def on_trade(self, ctx: Any, trade: Any) -> None:
        for on_trade in self.tape:
            on_trade(trade)


@attrs.define(eq=False)
class _Arrival:
    """A command on its way to the venue: what it produced once it arrived."""

    command: Any
    events: list[Any] | None = None
    error: BaseException | None = None
    future: asyncio.Future[list[Any]] | None = None


class Venue:
    """The replay behind ``exsim serve`` (see the module doc): its clock, the accounts of
    the API keys, the components, the sinks the server plugs in.

    ``files``, ``formats``, ``index_files``, ``instruments``: as :class:`Replay`'s.
    ``keys``: ``(api key, secret)`` pairs, account 1, 2, ... in this order. ``out_dir``:
    the run directory (account 1's story, as a replay's; ``force`` as ``--force``).
    ``components``: ``(name, factory)`` pairs, ``name`` one of ``market``, ``orders``,
    ``account`` (the attribute it is kept in), ``factory(venue)`` building it; None: the
    real ones (:func:`default_components`). ``wall_ns`` and ``sleep``: the wall clock (int
    ns) and the sleep a paced clock uses (tests give fake ones).

    The venue is built with the data's first timestamp run (the deposits made): ``now_ns``
    is the first row's time. The components are built before that (``now_ns`` is still
    0 in their ``__init__``) and get every event batch from the first.

    What the server plugs in: :attr:`market_sink` ``(stream, payload)`` and
    :attr:`user_sink` ``(account id, payload)`` (where :meth:`publish_market` and
    :meth:`publish_user` go), :attr:`wants_sink` ``(stream) -> bool`` (:meth:`wants`),
    :attr:`on_end_sinks` (each called with ``now_ns`` at the end of the data).

    A component that raises in ``on_events`` / ``on_clock`` / ``on_end`` does not stop
    the venue: the error is logged (``exsim.serve`` logger) and kept in
    :attr:`component_errors`. A replay that fails (a bad row mid-file) stops the venue:
    :meth:`run` / :meth:`advance` raise its error, commands waiting and later ones get a
    :class:`VenueStopped`.
    """

    def __init__(
        self,
        files: Sequence[str | Path],
        keys: Sequence[tuple[str, str]],
        config: ServeConfig = ServeConfig(),
        *,
        out_dir: str | Path | None = None,
        formats: Sequence[str | None] | None = None,
        index_files: Sequence[str | Path] = (),
        instruments: dict[str, Instrument] | None = None,
        force: bool = False,
        components: Sequence[tuple[str, ComponentFactory]] | None = None,
        wall_ns: Callable[[], int] = time.monotonic_ns,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        if not keys:
            raise InputError("no API key given (an account needs one)", field="api-key")
        self.keys: dict[str, tuple[int, str]] = {}  # api key -> (account id, secret)
        for n, (key, secret) in enumerate(keys):
            if not key or not secret:
                raise InputError(f"key #{n + 1}: an API key and its secret must both be non-empty", field="api-key")
            if key in self.keys:
                raise InputError(f"key #{n + 1} ({key!r}) is given twice: one account per key", field="api-key")
            self.keys[key] = (ACCOUNT_ID + n, secret)
        self.config = config
        self.latency_ns = config.latency_ns
        self.speed = config.speed
        self._multiplier = speed_multiplier(config.speed)
        self._wall_ns = wall_ns
        self._sleep = sleep
        replay_config = attrs.evolve(config.replay, balance=config.deposit, latency_ns=config.latency_ns)
        self._traders = traders = ApiTraders()
        self.replay = replay = Replay(
            files,
            traders,
            replay_config,
            formats=formats,
            index_files=index_files,
            out_dir=out_dir,
            instruments=instruments,
            force=force,
            run_options={"serve": {"accounts": len(self.keys), "speed": config.speed}},
            accounts=len(self.keys),
            book_deltas=True,
        )
        self.exchange = replay.exchange
        self.ledger = replay.ledger
        self.symbols: list[str] = list(replay.symbols)
        self.instruments: dict[str, Instrument] = {i.symbol: i for i in replay.instruments}
        self.ended = False
        self.summary: dict[str, Any] | None = None  # close()'s
        self.error: BaseException | None = None  # what stopped the replay
        self.component_errors: list[str] = []
        #: called with ``now_ns`` at the end of the data (the server says so on every stream)
        self.on_end_sinks: list[Callable[[int], None]] = []
        #: the server's stream hub: ``(stream, payload)``, ``(account id, payload)``, ``stream -> any subscriber?``
        self.market_sink: Callable[[str, dict[str, Any]], None] | None = None
        self.user_sink: Callable[[int, dict[str, Any]], None] | None = None
        self.wants_sink: Callable[[str], bool] | None = None
        self._in_flight: set[_Arrival] = set()  # commands sent, not arrived yet
        self._lock = asyncio.Lock()  # one caller runs the clock at a time (step mode)
        self.market: Any = None
        self.orders: Any = None
        self.account: Any = None
        self.components: list[Any] = []
        try:
            for name, factory in default_components() if components is None else components:
                if name not in _COMPONENT_NAMES:
                    raise ValueError(f"component {name!r} is not one of {sorted(_COMPONENT_NAMES)}")
                component = factory(self)
                setattr(self, name, component)
                self.components.append(component)
            self._calls = {
                hook: [(type(c).__name__, getattr(c, hook)) for c in self.components if hasattr(c, hook)]
                for hook in ("on_events", "on_clock", "on_end", "on_trade")
            }
            traders.tape.extend(functools.partial(self._on_trade, name, on_trade) for name, on_trade in self._calls["on_trade"])
            replay.exchange.sinks.append(self._on_events)
            replay.stop_at_data_end = True
            replay.start()
            self._chunk(replay.first_ts_ns, None)  # the first timestamp: deposits, first rows
            replay.refresh_ladders()  # (synthetic depth: what the first order or mark would build, built for /depth now)
            self._clock()
        except BaseException:
            if replay.run_dir is not None and self.error is None:  # (a failed replay abandoned it already)
                replay.run_dir.abandon("the venue could not start")
            raise

    # ------------------------------------------------------------------ what handlers read
    @property
    def now_ns(self) -> int:
        """The venue's clock: the replay loop's time (ns since the epoch)."""
        return self.replay.loop.now_ns

    @property
    def loop(self) -> EventLoop:
        return self.replay.loop

    def account_ids(self) -> list[int]:
        return [account for account, _ in self.keys.values()]

    def liquidation_price_subticks(self, account_id: int, symbol: str, position_side: int = 0) -> int | None:
        """The liquidation price of ``account_id``'s position (``position_side`` 0 one-way,
        1 long, 2 short in hedge mode) in subticks (1e-8 USDT), None without a position or
        a positive price: exactly what ``exsim liq-price`` prints for it (the rational
        solution rounded to 8 places toward the safe side: a long's up, a short's down).

        ``exsim liq-price``'s inputs, from the account: the position's size and entry
        (its exact cost / size), the run's brackets of the symbol; isolated, ``--wallet``
        the bucket's margin; cross, the cross wallet less what open orders hold, the
        hedge-mode leg on the other side (``--hedge-leg``), each other cross position at
        its mark (``--other``). The engine liquidates at the subtick this rounds from
        (the replay's :meth:`~exsim.replay.Replay.liquidation_price_subticks`: at most one
        subtick away). O(positions x brackets)."""
        acct = self.ledger.accounts.get(account_id)
        pos = acct.positions.get((symbol, position_side)) if acct is not None else None
        if pos is None or not pos.qty_lots:
            return None
        exchange = self.exchange
        if pos.isolated:
            result = liquidation_price(self._lp_position(pos), Fraction(pos.margin_atoms, ATOMS_PER_USDT), mode=ISOLATED)
        else:
            hedge = None
            others = []
            for other in acct.positions.values():
                if other is pos or other.isolated or not other.qty_lots:
                    continue
                if other.symbol == symbol:
                    hedge = self._lp_position(other)
                    continue
                mark = exchange.mark_price_subticks(other.symbol)
                others.append(self._lp_position(other, None if mark is None else Fraction(mark, ATOMS_PER_USDT)))
            wallet = Fraction(acct.wallet_atoms - acct.held_atoms, ATOMS_PER_USDT)
            result = liquidation_price(self._lp_position(pos), wallet, mode=CROSS, hedge_leg=hedge, others=others)
        lp = result.liquidation_price
        if lp is None or lp <= 0:
            return None
        scaled = lp.numerator * ATOMS_PER_USDT  # (a subtick is 1e-8 USDT, as an atom)
        subticks = ceil_div(scaled, lp.denominator) if result.liquidation_price_round_up else floor_div(scaled, lp.denominator)
        return subticks or None

    def _lp_position(self, pos: Any, mark: Fraction | None = None) -> LiqPosition:
        """A ledger position in ``exsim liq-price``'s terms (base units, USDT), exact."""
        inst = self.instruments[pos.symbol]
        qty = abs(pos.qty_lots) * Fraction(inst.lot_size)
        entry = Fraction(abs(pos.cost_atoms), ATOMS_PER_USDT) / qty
        side = LONG if pos.qty_lots > 0 else SHORT
        return LiqPosition(side, qty, entry, inst.brackets, mark_price=mark)

    def state(self) -> dict[str, Any]:
        """The venue at a glance (``GET /exsim/v1/state``): time (ms), state hash, whether
        the data ended, rows read, each account's wallet (USDT text). O(state) (the hash)."""
        ledger = self.ledger
        accounts = []
        for account in self.account_ids():
            acct = ledger.accounts.get(account)
            accounts.append({"accountId": account, "walletBalance": format_atoms(acct.wallet_atoms if acct is not None else 0)})
        return {
            "time": ms_of(self.now_ns),
            "timeNs": self.now_ns,
            "stateHash": self.exchange.state_hash(),
            "ended": self.ended,
            "speed": self.speed,
            "rows": sum(self.replay.model.counts),
            "accounts": accounts,
            "componentErrors": len(self.component_errors),
        }

    # ------------------------------------------------------------------ the stream hub
    def publish_market(self, stream: str, payload: dict[str, Any]) -> None:
        """A market stream's message (``btcusdt@aggTrade``) to its subscribers."""
        sink = self.market_sink
        if sink is not None:
            sink(stream, payload)

    def wants(self, stream: str) -> bool:
        """Whether anyone subscribes to ``stream`` (components skip building the others)."""
        wants = self.wants_sink
        return wants is not None and wants(stream)

    def publish_user(self, account_id: int, payload: dict[str, Any]) -> None:
        """A user-data event to ``account_id``'s user-data streams."""
        sink = self.user_sink
        if sink is not None:
            sink(account_id, payload)

    # ------------------------------------------------------------------ commands
    async def send(self, make: Callable[[int], Any]) -> list[Any]:
        """Send a command: ``make(arrival_ns)`` builds it for its arrival time, now +
        :attr:`latency_ns`; it reaches the exchange at that time with a strategy
        command's priority. Returns the events that command produced (its own
        ``exchange.submit``: its fills, the liquidations they caused, its rejection).

        Latency 0, or after the end of the data: processed at once, at ``now_ns``. With
        a latency, in step mode the venue's clock is advanced to the arrival (running the
        market up to it: a client that sends commands moves the stepped clock); at a
        paced speed the call waits for the clock to get there.
        """
        self._check_running()
        now = self.now_ns
        arrival = now if self.ended else now + self.latency_ns
        command = make(arrival)
        if command[0] != arrival:
            raise ValueError(f"{type(command).__name__} built for {command[0]}, not for its arrival {arrival}")
        pending = _Arrival(command)
        self._in_flight.add(pending)
        self.replay.loop.call_at(arrival, functools.partial(self._arrive, pending), priority=PRIORITY_COMMAND)
        if arrival == now:
            self._chunk(now, None)  # what is due now: this command (and what was queued before it at now)
        elif self.speed == "step":
            await self._run_to(arrival)
        else:
            pending.future = asyncio.get_running_loop().create_future()
            if pending.events is None and pending.error is None:
                return await pending.future
        if pending.error is not None:
            raise pending.error
        if pending.events is None:  # (cannot happen: the loop ran past the arrival)
            raise RuntimeError(f"{type(command).__name__} at {arrival} was not processed")
        return pending.events

    def _arrive(self, pending: _Arrival, loop: EventLoop, ts: int) -> None:
        """The loop reached a sent command's arrival: through the replay to the exchange.
        A command the exchange cannot take (a bug of its sender) fails the sender, not
        the venue."""
        self._in_flight.discard(pending)
        try:
            pending.events = self.replay.submit_command(pending.command)
        except Exception as exc:  # (the exchange refuses bad input as events: this is a broken command)
            pending.error = exc
        future = pending.future
        if future is not None and not future.done():
            if pending.error is not None:
                future.set_exception(pending.error)
            else:
                future.set_result(pending.events)

    # ------------------------------------------------------------------ the clock
    async def run(self) -> None:
        """The clock task: runs the replay at :attr:`ServeConfig.speed` to the end of the
        data, then returns (the venue keeps serving). In step mode it returns at once:
        :meth:`advance` moves that clock."""
        if self.speed == "step":
            return
        if self._multiplier is None:  # max
            await self._run_to(None)
            return
        pace = self._multiplier
        wall0 = self._wall_ns()
        venue0 = self.now_ns
        while not self.ended:
            elapsed = self._wall_ns() - wall0
            target = venue0 + floor_div(elapsed * pace.numerator, pace.denominator)
            if target > self.now_ns:
                await self._run_to(target)
            if not self.ended:
                await self._sleep(PACE_TICK_S)

    def _check_running(self) -> None:
        if self.error is not None:
            raise VenueStopped(f"the replay stopped: {self.error}") from self.error
        if self.summary is not None:
            raise VenueStopped("the venue is closed")

    async def advance(self, ms: int) -> dict[str, Any]:
        """Step mode: run the replay ``ms`` milliseconds further (to the end of the data at
        most); returns :meth:`state`. Other speeds: a ``ValueError`` (their clock runs by
        itself)."""
        if self.speed != "step":
            raise ValueError(f"the venue runs at speed {self.speed}: only a stepped venue (--speed step) advances on request")
        if type(ms) is not int or ms < 0:
            raise ValueError(f"advance by {ms!r}: expected a whole number of milliseconds >= 0")
        self._check_running()
        await self._run_to(self.now_ns + ms * NS_PER_MS)
        return self.state()

    async def _run_to(self, until_ns: int | None) -> None:
        """Run the replay to ``until_ns`` (None: to the end of the data) in chunks,
        yielding to asyncio between two of them."""
        chunk = self.config.chunk_events
        async with self._lock:
            self._check_running()
            while not self.ended:
                if until_ns is not None and self.now_ns >= until_ns:
                    break
                ran = self._chunk(until_ns, chunk)
                self._clock()
                if ran < chunk:  # reached until_ns (or the end)
                    break
                await asyncio.sleep(0)

    def _chunk(self, until_ns: int | None, max_events: int | None) -> int:
        """Run up to ``until_ns`` for at most ``max_events`` items; the clock then stands
        at ``until_ns`` when everything due by then ran, at the data's end when it came
        (the replay's loop stops there: ``stop_at_data_end``; then the venue ends).
        Returns how many ran."""
        replay = self.replay
        try:
            ran = replay.advance(until_ns, max_events)
            if replay.data_done and not self.ended:
                self._end()
                return 0
            return ran
        except BaseException as exc:
            self._stop(exc)
            raise

    def _stop(self, exc: BaseException) -> None:
        """The replay failed (its run directory abandoned, saying why): no more commands;
        those on their way fail."""
        self.error = exc
        _log.error("replay stopped", error=str(exc), time=self.now_ns)
        for pending in self._in_flight:
            future = pending.future
            if future is not None and not future.done():
                stopped = VenueStopped(f"the replay stopped: {exc}")
                stopped.__cause__ = exc
                future.set_exception(stopped)
        self._in_flight.clear()

    def _end(self) -> None:
        """The data ended: run what is left at its last timestamp and the commands on
        their way (at their arrival), then tell the components and the end sinks."""
        replay = self.replay
        replay.advance(replay.last_ts_ns)  # (to the data-end stop, when a chunk ended before it)
        if self._in_flight:  # commands sent before the end, arriving after it (their latency)
            replay.advance(max(p.command[0] for p in self._in_flight))
        self.ended = True
        now = self.now_ns
        self._clock()
        for name, on_end in self._calls["on_end"]:
            try:
                on_end(now)
            except Exception as exc:
                self._component_failed(name, "on_end", exc)
        for sink in self.on_end_sinks:
            sink(now)

    def _clock(self) -> None:
        now = self.now_ns
        for name, on_clock in self._calls["on_clock"]:
            try:
                on_clock(now)
            except Exception as exc:
                self._component_failed(name, "on_clock", exc)

    def _on_events(self, events: list[Any]) -> None:
        """The exchange's sink: each batch to every component, in order (the list is the
        exchange's, reused: a component copies what it keeps). A component's error is
        logged, not raised: raised here it would stop the exchange between two sinks."""
        for name, on_events in self._calls["on_events"]:
            try:
                on_events(events)
            except Exception as exc:
                self._component_failed(name, "on_events", exc)

    def _on_trade(self, name: str, on_trade: Callable[[Any], None], trade: Any) -> None:
        try:
            on_trade(trade)
        except Exception as exc:
            self._component_failed(name, "on_trade", exc)

    def _component_failed(self, name: str, hook: str, exc: Exception) -> None:
        text = f"{name}.{hook} at {self.now_ns}: {type(exc).__name__}: {exc}"
        _log.error("component failed", component=name, hook=hook, time=self.now_ns, error=f"{type(exc).__name__}: {exc}", exc_info=exc)
        if len(self.component_errors) < _MAX_ERRORS_KEPT:
            self.component_errors.append(text)

    # ------------------------------------------------------------------ the end
    def close(self) -> dict[str, Any]:
        """Finish the run: summary, checks, the run directory made final (``exsim report``
        and ``explain`` work on it); returns the summary. Before the data's end the rest
        of the data is not run (the summary says where it stopped). Once only: a second
        call returns the same summary."""
        if self.summary is None:
            if self.error is not None:  # (the run directory says why it stopped already)
                self.summary = {"complete": False, "incomplete_reason": f"failed: {self.error}", "state_hash": self.exchange.state_hash()}
            else:
                self.summary = self.replay.finish(run_queued=False)  # (the state hash stays the last state()'s)
        return self.summary


__all__ = ["ApiTraders", "COMPONENTS", "PACE_TICK_S", "ServeConfig", "Venue", "VenueStopped", "default_components", "speed_multiplier"]
