"""docs/results.md documents every column of the schema in code, with its type and unit."""

from __future__ import annotations

from pathlib import Path

from exsim.results.schema import COLUMNS, FILL_FIELDS, TRADE_FIELDS

DOC = Path(__file__).parents[2] / "docs" / "results.md"


def test_every_column_is_in_the_doc_table_as_in_code() -> None:
    """Each COLUMNS entry is a row of the doc's table: name, kind, unit, meaning."""
    text = DOC.read_text()
    for name, (kind, unit, meaning) in COLUMNS.items():
        assert f"| `{name}` | {kind} | {unit or '-'} | {meaning} |" in text, name


def test_every_written_column_has_a_type() -> None:
    """fills.csv and trades.csv write only columns the schema types."""
    assert not [c for c in FILL_FIELDS + TRADE_FIELDS if c not in COLUMNS]


def test_every_csv_a_run_writes_is_typed() -> None:
    """The time series of replays and scenarios and the scenario's marks.csv: every column typed."""
    from exsim.replay.recorder import ASSET_SERIES_FIELDS as REPLAY_ASSETS, SERIES_FIELDS as REPLAY_SERIES
    from exsim.scenario.record import ASSET_SERIES_FIELDS as SCENARIO_ASSETS, MARK_FIELDS, SERIES_FIELDS as SCENARIO_SERIES

    assert not [c for c in REPLAY_SERIES + SCENARIO_SERIES + MARK_FIELDS + REPLAY_ASSETS + SCENARIO_ASSETS if c not in COLUMNS]
