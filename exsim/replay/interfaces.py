"""What the parts of a replay read and change of the run they belong to.

A :class:`~exsim.replay.runner.Replay` is built from parts it creates and hands itself:
the strategy's :class:`~exsim.replay.strategy.Context`, the
:class:`~exsim.replay.recorder.Recorder` that writes the run's files, and the snapshots
of :mod:`exsim.replay.checkpoint`. So the runner imports the parts; the parts ask the run
back only what the protocols here list, and import nothing of the runner, not even for
their annotations, so the imports go one way: runner -> checkpoint -> recorder ->
strategy -> interfaces (``docs/architecture.md``).

- :class:`ReplayCore`: what every part reads — the run's options
  (:class:`ReplaySettings`), its symbols and instruments, the exchange, the ledger and
  the event loop (the clock, and where the context schedules its commands);
- :class:`ReplayForContext`: what a strategy's context asks besides — a leverage or
  margin-mode setting, a position's margin figures and liquidation price, timers, bar
  subscriptions, notes — and the count of commands it sent (the one thing it writes);
- :class:`ReplayForRecorder`: what the recorder reads to write the time series, the
  fills and the summary — the market model's choices and counts, the data's span, the
  funding and quote checks, the strategy's class, the strategy account's wallets;
- :class:`ReplayForCheckpoint`: what a snapshot saves and a resume restores — the run's
  whole state is ``vars(replay)`` (the snapshot codec encodes it), and around it the
  inputs to check, the sources to re-read, the recorder's open files
  (:class:`RecorderForCheckpoint`) and the process's own flags, which a resume sets.

A few members are private to the run (``_account``, ``_out_dir``, ``_open_files``...):
they are listed here because these parts are the run's own, written with it, and the
list says exactly which of its insides each one touches.

``Replay`` implements every protocol and ``Recorder`` :class:`RecorderForCheckpoint`,
structurally (the runner imports nothing of this module). ``tests/test_interfaces.py``
checks that each part's source uses nothing else of the run, and that the run has every
member, methods with the same parameters.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO, Any, Iterator, Protocol

from exsim.exchange import Exchange
from exsim.instruments import Instrument
from exsim.ledger import Ledger
from exsim.loop import EventLoop
from exsim.replay.market import MarketModel
from exsim.sinks import JsonlSink


class ReplaySettings(Protocol):
    """The options of a run its parts read (a :class:`~exsim.replay.ReplayConfig`;
    ``config_dict`` writes the whole of it into run keys, snapshots and summaries)."""

    @property
    def latency_ns(self) -> int:
        """A strategy's command reaches the exchange this much after it is sent."""
        ...

    @property
    def queue_model(self) -> str: ...

    @property
    def mark_interval_ns(self) -> int: ...

    @property
    def sample_interval_ns(self) -> int: ...

    @property
    def sample_all(self) -> bool: ...

    @property
    def synthetic_levels(self) -> int: ...

    @property
    def synthetic_step_ticks(self) -> int: ...

    @property
    def synthetic_qty(self) -> str | None: ...


class ReplayCore(Protocol):
    """What every part of a run reads of it."""

    @property
    def config(self) -> ReplaySettings: ...

    @property
    def symbols(self) -> list[str]:
        """The symbols replayed, in the run's order."""
        ...

    @property
    def instruments(self) -> list[Instrument]:
        """Their instruments, in the same order."""
        ...

    @property
    def exchange(self) -> Exchange: ...

    @property
    def ledger(self) -> Ledger: ...

    @property
    def loop(self) -> EventLoop: ...


class ReplayForContext(ReplayCore, Protocol):
    """A run as its strategy's :class:`~exsim.replay.strategy.Context` sees it."""

    #: commands the strategy sent (the context counts each as it schedules it)
    commands_sent: int

    def strategy_setting(self, symbol: str, setting: str, value: Any) -> bool:
        """Apply the strategy's ``leverage`` or ``margin_mode`` unless the run's options
        fix it; whether it was applied."""
        ...

    def margin_figures(self, symbol: str, position_side: int = 0) -> tuple[int, int] | None:
        """``(margin balance, maintenance margin)`` of the strategy's position's scope."""
        ...

    def liquidation_price_subticks(self, symbol: str, position_side: int = 0, *, account_id: int = ...) -> int | None:
        """The position's liquidation price (None: none, or no position)."""
        ...

    def add_strategy_timer(self, ts_ns: int, interval_ns: int, name: str) -> Any:
        """A timer calling the strategy's ``on_timer`` at ``ts_ns`` (every ``interval_ns``
        after, unless 0); its handle."""
        ...

    def subscribe_bars(self, symbol: str, interval: str) -> None: ...

    def note(self, ts_ns: int, text: str) -> None:
        """A line in the run's summary."""
        ...


class ReplayForRecorder(ReplayCore, Protocol):
    """A run as its :class:`~exsim.replay.recorder.Recorder` sees it."""

    @property
    def strategy(self) -> object:
        """The strategy (its class names the run)."""
        ...

    @property
    def model(self) -> MarketModel: ...

    @property
    def inputs(self) -> list[dict[str, Any]]: ...

    @property
    def index_files(self) -> list[str]: ...

    @property
    def skipped_lines(self) -> list[str]: ...

    @property
    def multi_assets(self) -> bool: ...

    @property
    def depth_replayed(self) -> bool: ...

    @property
    def mark_mode(self) -> str: ...

    @property
    def funding_mode(self) -> str: ...

    @property
    def index_replayed(self) -> bool: ...

    @property
    def index_seen(self) -> set[str]: ...

    @property
    def replayed_marks(self) -> set[str]: ...

    @property
    def premium_replayed(self) -> list[str]: ...

    @property
    def funding_settlements(self) -> int: ...

    @property
    def funding_at_interest(self) -> int: ...

    @property
    def collateral_sources(self) -> dict[str, str]: ...

    @property
    def quote_checks(self) -> dict[str, int]: ...

    @property
    def quote_mismatches(self) -> list[dict[str, Any]]: ...

    @property
    def gaps(self) -> list[str]: ...

    @property
    def trade_ranges(self) -> dict[str, list[int]]:
        """Per symbol, ``[lowest, highest]`` trade since the last periodic sample."""
        ...

    @property
    def first_ts_ns(self) -> int: ...

    @property
    def last_ts_ns(self) -> int: ...

    @property
    def rows_done(self) -> int: ...

    @property
    def wall_s(self) -> float: ...

    @property
    def commands_sent(self) -> int: ...

    @property
    def notes(self) -> list[tuple[int, str]]: ...

    def span_summary(self) -> dict[str, Any]: ...

    def equity_atoms(self, asset: str | None = None) -> int:
        """The strategy account's equity (the home asset's, else ``asset``'s)."""
        ...

    def margin_figures(self, symbol: str, position_side: int = 0) -> tuple[int, int] | None: ...

    def liquidation_price_subticks(self, symbol: str, position_side: int = 0, *, account_id: int = ...) -> int | None: ...

    def _account(self, asset: str | None = None) -> Any:
        """The strategy account's wallet in ``asset`` (None: the home asset), if any."""
        ...


class RecorderForCheckpoint(Protocol):
    """What a snapshot flushes and a resume reopens of the run's recorder."""

    #: events.jsonl while the run writes a folder (a resume reopens it)
    jsonl: JsonlSink | None
    #: the run's folder (a resume may continue a run moved elsewhere)
    out_dir: Path | None

    def flush_streams(self) -> dict[str, int]:
        """Flush the CSV files written as the run goes; their lengths in bytes."""
        ...

    def reopen_streams(self, out_dir: Path, lengths: dict[str, int]) -> list[IO[str]]:
        """Reopen them cut back to ``lengths``; the files opened."""
        ...


class ReplayForCheckpoint(ReplayCore, Protocol):
    """A run as a snapshot saves it and a resume restores it (besides ``vars(replay)``)."""

    @property
    def strategy(self) -> object:
        """The strategy (its class and source files must match on resume)."""
        ...

    @property
    def recorder(self) -> RecorderForCheckpoint: ...

    @property
    def model(self) -> MarketModel:
        """(its counts: a resume re-reads the inputs to the same counts)"""
        ...

    @property
    def inputs(self) -> list[dict[str, Any]]: ...

    @property
    def index_files(self) -> list[str]: ...

    @property
    def index_sources(self) -> list[Iterator[Any]]:
        """The loop's sources after the market data (1, 2, ...)."""
        ...

    @property
    def skipped_lines(self) -> list[str]: ...

    @property
    def run_options(self) -> dict[str, Any]: ...

    @property
    def checkpoint_path(self) -> Path | None: ...

    @property
    def wall_s(self) -> float: ...

    @property
    def _wall0(self) -> float: ...

    @property
    def _out_dir(self) -> str | Path | None: ...

    #: where a resume was taken from (set by it)
    resumed_from: dict[str, Any] | None
    #: re-reading the inputs on resume: no checkpoints meanwhile
    _fast_forwarding: bool
    #: set once a resume restored the state
    _restored: bool
    #: files this process opened for a resumed run (closed at its end)
    _open_files: list[Any]

    def market_items(self) -> Iterator[Any]:
        """The loop's market-data source (source 0), read afresh."""
        ...


__all__ = [
    "RecorderForCheckpoint",
    "ReplayCore",
    "ReplayForCheckpoint",
    "ReplayForContext",
    "ReplayForRecorder",
    "ReplaySettings",
]
