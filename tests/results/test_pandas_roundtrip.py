"""Every file a run writes, read into pandas by exsim.results, keeps every figure exact."""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

pd = pytest.importorskip("pandas")

from exsim.cli import main  # noqa: E402
from exsim.results import read_csv, read_events, read_json  # noqa: E402
from exsim.results.schema import COLUMNS  # noqa: E402

CAPTURE = Path(__file__).parents[2] / ".." / "shared" / "data" / "hftbacktest-binance-20240808" / "usdm_btcusdt_20240808.gz"
DATA_FILES = {".csv", ".jsonl", ".json"}


@pytest.fixture(scope="module")
def replay_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("replay") / "run"
    assert main(["replay", str(CAPTURE), "--strategy", "market_maker", "--out", str(out)]) == 0
    return out


def text_of(value: Any) -> str:
    """A DataFrame cell back as the file's text."""
    if value is None or value is pd.NA:
        return ""
    if type(value) is Decimal:
        return format(value, "f")  # (str() would write 0.00000000 as 0E-8)
    return str(value)


def no_floats(df: Any) -> None:
    assert not [c for c in df.columns if df[c].dtype.kind == "f"], "a float64 column"
    for c in df.columns:
        if df[c].dtype == object:
            assert not any(type(v) is float for v in df[c]), c


def check_csv(path: Path, empty_ok: bool = False) -> None:
    df = read_csv(path)
    no_floats(df)
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert list(df.columns) == rows[0]
    assert len(df) == len(rows) - 1 > (-1 if empty_ok else 0), path.name
    for name in rows[0]:
        kind = COLUMNS.get(name, ("text",))[0]
        if kind == "decimal":
            assert all(v is None or type(v) is Decimal for v in df[name]), name
        if kind == "int":
            assert df[name].dtype.kind == "i" or str(df[name].dtype) == "Int64", name
    got = [[text_of(v) for v in row] for row in df.itertuples(index=False)]
    assert got == rows[1:], path.name


def check_events(path: Path) -> None:
    df = read_events(path)
    no_floats(df)
    raw = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(df) == len(raw) > 0
    cols = list(df.columns)
    for i, rec in enumerate(raw):
        row = df.iloc[i]
        for k, v in rec.items():
            got = row[k]
            assert type(v) is not float, (k, v)  # exsim writes no float in events.jsonl
            if type(v) is int:
                assert int(got) == v and not isinstance(got, float), (i, k)
            else:
                assert got == v, (i, k)
        assert all(row[k] is None for k in cols if k not in rec)


def check_json(path: Path) -> None:
    df = read_json(path)
    no_floats(df)
    raw = json.loads(path.read_text(), parse_float=Decimal)
    flat = pd.json_normalize(raw)
    assert list(df.columns) == list(flat.columns)
    for c in df.columns:
        for a, b in zip(df[c], flat[c]):
            assert a == b or (a != a and b != b), c  # (NaN only where json_normalize has no value)
            if type(b) is int:
                assert type(a) is int


def every_data_file(run: Path) -> list[Path]:
    return sorted(p for p in run.iterdir() if p.suffix in DATA_FILES)


def check_run(run: Path, empty_ok: tuple[str, ...] = ()) -> list[str]:
    done = []
    for p in every_data_file(run):
        if p.suffix == ".csv":
            check_csv(p, p.name in empty_ok)
        else:
            {".jsonl": check_events, ".json": check_json}[p.suffix](p)
        done.append(p.name)
    return done


def test_every_file_of_a_replay_run_reads_back_exactly(replay_run: Path) -> None:
    """events.jsonl, fills.csv, timeseries.csv, trades.csv, positions.csv, depth.csv, summary.json, instruments.json: exact in pandas."""
    assert check_run(replay_run) == [
        "depth.csv", "events.jsonl", "fills.csv", "instruments.json", "positions.csv", "summary.json", "timeseries.csv", "trades.csv",
    ]


def test_every_file_of_a_scenario_run_reads_back_exactly(pinned_run: Path) -> None:
    """The pinned scenario's events.jsonl, fills.csv, marks.csv, timeseries.csv, trades.csv, positions.csv, depth.csv,
    distances.csv (header only: no position is open at its start) and JSON files: exact."""
    assert check_run(pinned_run, empty_ok=("distances.csv",)) == [
        "depth.csv", "distances.csv", "events.jsonl", "fills.csv", "instruments.json", "marks.csv", "positions.csv",
        "summary.json", "timeseries.csv", "trades.csv",
    ]


def test_money_is_decimal_and_adds_up_exactly(replay_run: Path) -> None:
    """trades.csv in pandas: net_pnl is Decimal and sums to the account's PnL to the atom."""
    df = read_csv(replay_run / "trades.csv")
    summary = json.loads((replay_run / "summary.json").read_text())
    assert sum(df["net_pnl"], Decimal(0)) == Decimal(summary["account"]["pnl"])


def test_fills_of_replays_and_scenarios_share_one_schema(replay_run: Path, pinned_run: Path) -> None:
    """The same header and the same column types in both."""
    a, b = read_csv(replay_run / "fills.csv"), read_csv(pinned_run / "fills.csv")
    assert list(a.columns) == list(b.columns)
    assert [str(t) for t in a.dtypes] == [str(t) for t in b.dtypes]


def test_a_float_text_in_an_int_column_names_the_line(tmp_path: Path) -> None:
    """A damaged file: the reader names the file, the line and the kind it expected."""
    path = tmp_path / "fills.csv"
    path.write_text("ts_ns,price\n1,61000.1\n2.5,61000.2\n")
    with pytest.raises(ValueError, match=r"fills.csv:3: '2.5' is not a int"):
        read_csv(path)
