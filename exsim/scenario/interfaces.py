"""What a scenario run's recorder and its distance rows read of the run.

A :class:`~exsim.scenario.runner.ScenarioRun` builds its
:class:`~exsim.scenario.record.ScenarioRecorder` and hands it itself; the recorder, at the
run's end, computes the distance rows of :mod:`exsim.scenario.distances`. So the runner
imports the recorder, and the recorder the distances. Both read the run back, and they do
it through the protocols here, not through :class:`ScenarioRun` itself (not even for
their annotations), so the imports go one way: runner -> record -> distances ->
interfaces (``docs/architecture.md``).

- :class:`ScenarioForDistances`: what the distance rows read — the accounts, the ledger,
  the exchange's liquidation engine (each position's liquidation price), the instruments,
  and from the recorder (:class:`RecorderForDistances`) its folder (the rows' run name)
  and each account's wallets;
- :class:`ScenarioForRecorder`: what the recorder reads to write the run's files — all
  of the above (it hands the run to the distance rows), and the accounts' modes, the
  clock, the venue, the cascade round of the mark being applied and the commands sent.

Every member is a read: neither part changes the run. ``ScenarioRun`` implements both
run protocols and ``ScenarioRecorder`` :class:`RecorderForDistances`, structurally (the
runner imports nothing of this module);
``tests/test_interfaces.py`` checks that the recorder's and the distances' sources use
nothing else of the run, and that the run has every member with the same parameters.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, Sequence

from exsim.exchange import Exchange
from exsim.ledger import Ledger
from exsim.loop import EventLoop
from exsim.scenario.spec import AccountSpec, Scenario
from exsim.venues.profile import VenueProfile


class RecorderForDistances(Protocol):
    """What the distance rows read of the run's recorder."""

    @property
    def out_dir(self) -> Path | None:
        """The run's folder (its name is the rows' ``run``), None when it writes none."""
        ...

    def held_assets(self, account_id: int) -> list[tuple[str, Any]]:
        """``[(asset, Account), ...]`` of the account, in the ledger's asset order."""
        ...


class ScenarioForDistances(Protocol):
    """A scenario run as its distance rows see it (see the module docstring)."""

    @property
    def mode(self) -> str:
        """The run's mode: isolated, cross or multi-assets (the rows' run name without a folder)."""
        ...

    @property
    def accounts(self) -> Sequence[AccountSpec]:
        """Every account of the run, the drawn population's included."""
        ...

    @property
    def ledger(self) -> Ledger: ...

    @property
    def exchange(self) -> Exchange:
        """The exchange (its ``liquidator``: each position's liquidation price)."""
        ...

    @property
    def scenario(self) -> Scenario:
        """The scenario as run (its instruments under the venue's terms)."""
        ...

    @property
    def recorder(self) -> RecorderForDistances: ...


class ScenarioForRecorder(ScenarioForDistances, Protocol):
    """A scenario run as its recorder sees it (see the module docstring): what the
    distance rows read (the recorder hands them the run), and more."""

    @property
    def margin_mode(self) -> str:
        """The margin mode of positions that do not fix one."""
        ...

    @property
    def collateral_modes(self) -> dict[int, str]:
        """Each account's collateral mode in this run, by account id."""
        ...

    @property
    def loop(self) -> EventLoop:
        """The run's clock (``now_ns``)."""
        ...

    @property
    def venue(self) -> VenueProfile:
        """Whose rules the run follows."""
        ...

    @property
    def venue_from(self) -> str:
        """Which named the venue: ``"--venue"``, ``"file"`` or ``"default"``."""
        ...

    @property
    def venue_notes(self) -> list[str]:
        """What the run had to decide about the venue's terms."""
        ...

    @property
    def generation(self) -> int:
        """The cascade round of the mark being applied (book-driven marks)."""
        ...

    @property
    def commands(self) -> int:
        """Commands sent to the exchange so far."""
        ...


__all__ = ["RecorderForDistances", "ScenarioForDistances", "ScenarioForRecorder"]
