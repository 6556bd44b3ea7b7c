"""The sweep's input cache (exsim.sweep.cache): each input parsed once into memory-mapped
columns; a cell replayed from them is the replay of the file, on every family of real
data in ../shared/data and on both shipped replays."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pytest

from exsim.errors import InputError
from exsim.instruments import BracketTable, Instrument
from exsim.readers import open_rows
from exsim.readers.rows import TRADE
from exsim.replay import Replay, ReplayConfig
from exsim.replay.cli import DEMO_RUNS, SHIPPED_REPLAYS, load_strategy
from exsim.sweep import cache
from exsim.sweep.cache import CacheOpener, GroupSource, prepare, replay_inputs
from exsim.sweep.spec import InputGroup, Sweep

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "data"
HFT = SHARED / "hftbacktest-binance-20240808"
CF = SHARED / "cryptofeed-samples"
NAUTILUS = SHARED / "nautilus-fixtures"
FREQTRADE = SHARED / "freqtrade-futures"
CRASH = REPO / "replays" / "btc-perp-20220121-1m.csv"
CAPTURE = REPO / "replays" / "binance-usdm-btcusdt-20240808.gz"
MONTH = NAUTILUS / "btc-perp-20211231-20220201_1m.csv"
#: a day of minute bars: the mark each minute, the equity sampled each hour (the default
#: second makes 86,400 samples a day, and the run's exact Sharpe ratio over them takes seconds)
MINUTE = {"mark_interval_ns": 60_000_000_000, "sample_interval_ns": 3_600_000_000_000}
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="needs ../shared/data (the team's shared folder)")

#: every file of ../shared/data a reader reads to its end (the others are exchangeInfo and
#: REST snapshots, or venues exsim has no reader for)
READABLE = [
    CF / "BINANCE_DELIVERY.ws.1.0",
    CF / "BINANCE_FUTURES.ws.1.0",
    *sorted(FREQTRADE.glob("*.feather")),
    *sorted(HFT.glob("*.gz")),
    *sorted((NAUTILUS / "binance").glob("*")),
    *sorted((NAUTILUS / "tardis").glob("*.csv")),
]


def trx_perp() -> Instrument:
    """TRXUSD_PERP as an inverse contract of 10 USD, tick 0.00001 (not in the catalogue of 2021)."""
    table = BracketTable.from_tiers([("0", "5000000", "0.004", 125)], symbol="TRXUSD_PERP", source="test tiers")
    return Instrument.create(symbol="TRXUSD_PERP", tick_size="0.00001", lot_size="1", inverse=True, contract_size="10",
                             brackets=table)


def sweep_of(files: list[Path], *, split: str = "file", symbol: str | None = None) -> Sweep:
    """A replay sweep of ``files`` (only what prepare reads of it is filled in)."""
    paths = tuple(str(f) for f in files)
    if split == "merged":
        inputs = (InputGroup("merged", paths, (None,) * len(paths)),)
    else:
        inputs = tuple(InputGroup(Path(p).name, (p,), (None,)) for p in paths)
    return Sweep(name="t", source="t.toml", kind="replay", split=split, inputs=inputs, strategy="holder", params={},
                 config={}, symbol=symbol, axes=(), subset=None, account=None, fingerprint="0")


def from_file_and_cache(tmp_path: Path, files: list[Path], config: ReplayConfig, strategy: str, params: list[str],
                        **kw: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The summaries of one run read from the files and from the sweep cache."""
    by_file = Replay([str(f) for f in files], load_strategy(strategy, params), config, **kw).run()
    prepared = prepare(sweep_of(files, split="merged", symbol=config.symbol), tmp_path / "out")
    group = prepared.groups[0]
    assert prepared.sources[group.name].caches[0] is not None  # (read from the cache indeed)
    by_cache = Replay(strategy=load_strategy(strategy, params), config=config,
                      **replay_inputs(group, prepared.sources[group.name]), **kw).run()
    return by_file, by_cache


def same_run(a: dict[str, Any], b: dict[str, Any]) -> bool:
    keep = ("state_hash", "rows", "account", "positions", "rows_by_kind", "inputs", "market_model", "bad_rows",
            "bad_row_examples", "span")
    return all(a.get(k) == b.get(k) for k in keep)


def cache_folder(out: Path) -> Path:
    (folder,) = [p for p in (out / "cache").iterdir() if not p.name.startswith(".")]
    return folder


# ---------------------------------------------------------------------- the rows
@needs_shared
@pytest.mark.parametrize("path", READABLE, ids=lambda p: p.name)
def test_cached_rows_are_the_readers_rows_field_for_field(path: Path, tmp_path: Path) -> None:
    """Every row read back from the cache equals the reader's, field for field and type for type, with its format."""
    prepared = prepare(sweep_of([path]), tmp_path)
    source = prepared.sources[path.name]
    fmt, rows = CacheOpener(dict(zip(source.files, source.caches)))(str(path), None, None)
    want_fmt, want = open_rows(str(path))
    got = list(rows)
    want = list(want)
    assert fmt == want_fmt and len(got) == len(want) > 0
    assert got == want
    assert all(type(a) is type(b) and list(map(type, a)) == list(map(type, b)) for a, b in zip(got, want))


# ---------------------------------------------------------------------- the replays
#: (case, files, config, strategy, params, instruments): one real file of each family exsim replays
#: (the hftbacktest BTCUSDT capture is the shipped one: its golden run is below)
FAMILIES = [
    ("hftbacktest usdm ETHUSDT", [HFT / "usdm_ethusdt_20240808.gz"], ReplayConfig(balance="1000"), "holder", ["qty=1"], None),
    ("hftbacktest cm BTCUSD_PERP", [HFT / "cm_btcusd_perp_20240808.gz"],
     ReplayConfig(symbol="BTCUSD_PERP", deposits=("0.05BTC",)), "holder", ["qty=1"], None),
    ("hftbacktest cm, the later part alone", [HFT / "cm_btcusd_perp_20240809.gz"],
     ReplayConfig(symbol="BTCUSD_PERP", deposits=("0.05BTC",)), "holder", ["qty=1"], None),
    ("cryptofeed usdm", [CF / "BINANCE_FUTURES.ws.1.0"], ReplayConfig(balance="1000", tick_size="CTKUSDT=0.00001"),
     "passive", [], None),
    ("cryptofeed coin-m", [CF / "BINANCE_DELIVERY.ws.1.0"], ReplayConfig(symbol="TRXUSD_PERP", deposits=("0.05TRX",)),
     "passive", [], {"TRXUSD_PERP": trx_perp()}),
    ("tardis book_snapshot_5", [NAUTILUS / "tardis" / "binance-futures_book_snapshot_5_BTCUSDT.csv"],
     ReplayConfig(balance="1000", tick_size="0.01"), "holder", ["qty=0.1"], None),
    ("tardis book_snapshot_25", [NAUTILUS / "tardis" / "binance-futures_book_snapshot_25_BTCUSDT.csv"],
     ReplayConfig(balance="1000", tick_size="0.01"), "passive", [], None),
    ("nautilus binance depth", [NAUTILUS / "binance" / "btcusdt-depth-snap.csv"], ReplayConfig(balance="1000"), "passive", [], None),
    ("freqtrade futures and mark (feather)", [FREQTRADE / "XRP_USDT_USDT-1h-futures.feather", FREQTRADE / "XRP_USDT_USDT-1h-mark.feather"],
     ReplayConfig(balance="1000", tick_size="XRPUSDT=0.00001", sample_interval_ns=3_600_000_000_000), "holder", ["qty=100"], None),
]  # fmt: skip


@needs_shared
@pytest.mark.parametrize(("files", "config", "strategy", "params", "instruments"), [c[1:] for c in FAMILIES],
                         ids=[c[0] for c in FAMILIES])
def test_a_cell_from_the_cache_ends_in_the_files_state_hash(
    files: list[Path], config: ReplayConfig, strategy: str, params: list[str], instruments: Any, tmp_path: Path
) -> None:
    """A replay from the cache ends in the state hash, rows and account of the replay from the file."""
    kw = {"instruments": instruments} if instruments else {}
    by_file, by_cache = from_file_and_cache(tmp_path, files, config, strategy, params, **kw)
    assert by_cache["state_hash"] == by_file["state_hash"]
    assert same_run(by_file, by_cache)


@pytest.mark.parametrize("file_name", sorted(fname for _, fname, *_ in DEMO_RUNS))
def test_each_shipped_replay_from_the_cache_keeps_its_golden_hash(file_name: str, tmp_path: Path) -> None:
    """The reference run of each shipped replay, read from the cache, ends in replays/GOLDEN.json's hash."""
    golden = json.loads((SHIPPED_REPLAYS / "GOLDEN.json").read_text())[file_name]
    (_, _, symbol, params, _) = next(r for r in DEMO_RUNS if r[1] == file_name)
    prepared = prepare(sweep_of([SHIPPED_REPLAYS / file_name], symbol=symbol), tmp_path)
    group = prepared.groups[0]
    summary = Replay(strategy=load_strategy("holder", params), config=ReplayConfig(balance="1000", symbol=symbol),
                     **replay_inputs(group, prepared.sources[group.name])).run()
    assert (summary["state_hash"], summary["rows"], summary["account"]["equity"]) == (
        golden["state_hash"], golden["rows"], golden["equity"])


def test_a_file_read_again_without_its_bad_lines_is_read_from_the_file(tmp_path: Path) -> None:
    """skip_bad_rows re-reads a file without a line whose price is off the grid: from the cache as from the file."""
    lines = CRASH.read_text().splitlines()
    lines[100] = lines[100].replace(".0,", ".005,", 1)  # one price off the 0.01 grid
    bad = tmp_path / "crash-one-bad-line.csv"
    bad.write_text("\n".join(lines) + "\n")
    config = ReplayConfig(balance="1000", symbol="BTCUSDT", skip_bad_rows=True)
    by_file, by_cache = from_file_and_cache(tmp_path, [bad], config, "holder", ["qty=0.05"])
    assert by_file["bad_rows"] == 1 and by_cache["state_hash"] == by_file["state_hash"]
    assert same_run(by_file, by_cache)


# ---------------------------------------------------------------------- the day split
@needs_shared
class TestDaySplit:
    def test_a_month_of_bars_is_one_group_per_utc_day(self, tmp_path: Path) -> None:
        """A month of 1-minute bars from 2021-12-31 23:01 to 2022-02-01 05:31 is 33 day groups, each a [midnight, midnight) window."""
        prepared = prepare(sweep_of([MONTH], split="day", symbol="BTCUSDT"), tmp_path)
        names = [g.name for g in prepared.groups]
        assert names[0] == "2021-12-31" and names[-1] == "2022-02-01" and len(names) == 33
        day = prepared.groups[1]
        assert day.window_ns == (1_640_995_200_000_000_000, 1_641_081_600_000_000_000) and day.files == (str(MONTH),)
        assert set(prepared.sources) == set(names)

    def test_a_days_replay_is_the_replay_of_that_days_rows(self, tmp_path: Path) -> None:
        """The 2022-01-13 group of the month replays as its rows alone (the reader's, that day's) would."""
        config = ReplayConfig(balance="1000", symbol="BTCUSDT", tick_size="BTCUSDT=0.001", **MINUTE)
        prepared = prepare(sweep_of([MONTH], split="day", symbol="BTCUSDT"), tmp_path)
        day = next(g for g in prepared.groups if g.name == "2022-01-13")
        start, end = day.window_ns
        rows = [r for r in open_rows(str(MONTH), None, "BTCUSDT")[1] if start <= r.ts_ns < end]
        alone = Replay([], load_strategy("holder", ["qty=0.05"]), config, rows=("2022-01-13", frozenset({TRADE}), rows)).run()
        cached = Replay(strategy=load_strategy("holder", ["qty=0.05"]), config=config,
                        **replay_inputs(day, prepared.sources[day.name])).run()
        assert cached["rows"] == len(rows) == 4 * 1440
        assert cached["state_hash"] == alone["state_hash"]

    def test_without_the_cache_the_days_are_the_same_and_replay_the_same(self, tmp_path: Path) -> None:
        """--no-cache: the same day groups, nothing written, and a day's cell ends in the cached cell's state hash."""
        config = ReplayConfig(balance="1000", symbol="BTCUSDT", tick_size="BTCUSDT=0.001", **MINUTE)
        sweep = sweep_of([MONTH], split="day", symbol="BTCUSDT")
        cached, bare = prepare(sweep, tmp_path / "a"), prepare(sweep, tmp_path / "b", use_cache=False)
        assert bare.groups == cached.groups and bare.sources == {} and not (tmp_path / "b").exists()
        day = bare.groups[20]
        runs = [Replay(strategy=load_strategy("holder", ["qty=0.05"]), config=config, **replay_inputs(day, source)).run()
                for source in (None, cached.sources[day.name])]
        assert runs[0]["state_hash"] == runs[1]["state_hash"] and runs[0]["rows"] > 0

    def test_a_capture_of_several_files_names_each_day_by_its_file(self, tmp_path: Path) -> None:
        """Two captures split by day: one group per file and day, named file@day."""
        prepared = prepare(sweep_of([HFT / "cm_btcusd_perp_20240808.gz", HFT / "cm_btcusd_perp_20240809.gz"], split="day"),
                           tmp_path)
        assert [g.name for g in prepared.groups] == ["cm_btcusd_perp_20240808.gz@2024-08-08", "cm_btcusd_perp_20240809.gz@2024-08-09"]


# ---------------------------------------------------------------------- the cache's files
class TestCacheFiles:
    def test_a_second_sweep_reuses_the_cache(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """A second prepare of the same file finds its cache: nothing is parsed again."""
        first = prepare(sweep_of([CRASH], symbol="BTCUSDT"), tmp_path)
        monkeypatch.setattr(cache, "build", lambda *a, **k: pytest.fail("parsed again"))
        again = prepare(sweep_of([CRASH], symbol="BTCUSDT"), tmp_path)
        assert again.sources == first.sources

    def test_the_key_is_the_content_and_the_readers_options(self, tmp_path: Path) -> None:
        """The same content under another name shares the key; another symbol option, or other content, makes another."""
        copy = tmp_path / "copy.csv"
        copy.write_bytes(CRASH.read_bytes())
        keys = {}
        for name, path, symbol in (("crash", CRASH, "BTCUSDT"), ("copy", copy, "BTCUSDT"), ("other symbol", CRASH, "ETHUSDT")):
            keys[name] = Path(prepare(sweep_of([path], symbol=symbol), tmp_path / "out").sources[path.name].caches[0]).name
        copy.write_bytes(CRASH.read_bytes() + b"2022-01-22 12:00:00.000000,1.0,1.0,1.0,1.0,1.0\n")
        keys["changed"] = Path(prepare(sweep_of([copy], symbol="BTCUSDT"), tmp_path / "out").sources["copy.csv"].caches[0]).name
        assert keys["crash"] == keys["copy"] and len({keys["crash"], keys["other symbol"], keys["changed"]}) == 3

    def test_rows_name_the_file_as_the_sweep_names_it(self, tmp_path: Path) -> None:
        """A cache made under one name, reused under another: each row's where names the file as this sweep does."""
        copy = tmp_path / "copy.csv"
        copy.write_bytes(CRASH.read_bytes())
        prepare(sweep_of([CRASH], symbol="BTCUSDT"), tmp_path / "out")
        source = prepare(sweep_of([copy], symbol="BTCUSDT"), tmp_path / "out").sources["copy.csv"]
        rows = list(CacheOpener(dict(zip(source.files, source.caches)))(str(copy), None, "BTCUSDT")[1])
        assert rows == list(open_rows(str(copy), None, "BTCUSDT")[1]) and rows[0].where == f"{copy}:2"

    def test_columns_are_plain_numpy_arrays_loaded_without_pickle(self, tmp_path: Path) -> None:
        """Every column is a .npy of a numeric dtype that loads with allow_pickle=False, memory-mapped."""
        prepare(sweep_of([CRASH], symbol="BTCUSDT"), tmp_path)
        folder = cache_folder(tmp_path)
        for name in ("ts_ns", "kind", "side", "symbol", "text", "offsets"):
            arr = np.load(folder / f"{name}.npy", mmap_mode="r", allow_pickle=False)
            assert isinstance(arr, np.memmap) and arr.dtype.kind in "iu"
        assert json.loads((folder / "meta.json").read_text())["rows"] == 960

    @pytest.mark.parametrize("damage", ["truncated", "flipped byte", "meta.json gone"])
    def test_a_damaged_cache_is_rebuilt_with_one_line(self, damage: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """A cache whose column is cut short, altered in place or whose meta is gone is rebuilt, saying so on one line."""
        first = prepare(sweep_of([CRASH], symbol="BTCUSDT"), tmp_path)
        folder = cache_folder(tmp_path)
        text = folder / "text.npy"
        if damage == "truncated":
            text.write_bytes(text.read_bytes()[:-10])
        elif damage == "flipped byte":
            data = bytearray(text.read_bytes())
            data[-5] ^= 0x01
            text.write_bytes(bytes(data))
        else:
            (folder / "meta.json").unlink()
        capsys.readouterr()
        again = prepare(sweep_of([CRASH], symbol="BTCUSDT"), tmp_path)
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("exsim: warning: ") and "damaged sweep cache" in err and "rebuilt" in err
        assert again.sources == first.sources
        source = again.sources[CRASH.name]
        rows = list(CacheOpener(dict(zip(source.files, source.caches)))(str(CRASH), None, "BTCUSDT")[1])
        assert rows == list(open_rows(str(CRASH), None, "BTCUSDT")[1])

    def test_a_worker_refuses_a_cache_cut_short_under_it(self, tmp_path: Path) -> None:
        """A column cut short after prepare: the cell's opener refuses it with one line naming the cache, never reads it."""
        source = prepare(sweep_of([CRASH], symbol="BTCUSDT"), tmp_path).sources[CRASH.name]
        offsets = cache_folder(tmp_path) / "offsets.npy"
        offsets.write_bytes(offsets.read_bytes()[:-8])
        with pytest.raises(InputError, match="damaged sweep cache: offsets.npy") as info:
            CacheOpener(dict(zip(source.files, source.caches)))(str(CRASH), None, "BTCUSDT")
        assert "\n" not in str(info.value)

    def test_a_machine_without_the_cache_reads_the_file(self, tmp_path: Path) -> None:
        """A handle naming a cache folder this machine does not have (a node of another disk): the file's own rows."""
        source = GroupSource((str(CRASH),), (str(tmp_path / "cache" / "elsewhere"),))
        fmt, rows = CacheOpener(dict(zip(source.files, source.caches)))(str(CRASH), None, "BTCUSDT")
        assert (fmt, list(rows)) == (lambda f, r: (f, list(r)))(*open_rows(str(CRASH), None, "BTCUSDT"))

    def test_a_killed_build_leaves_no_cache_and_its_leftovers_go(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """A build that dies while writing leaves no cache under its key; a dead build's temporary folder is removed by the next prepare."""
        real_save = np.save
        calls = []

        def dying_save(f: Any, arr: Any, **kw: Any) -> None:
            calls.append(1)
            if len(calls) == 3:
                raise KeyboardInterrupt
            real_save(f, arr, **kw)

        monkeypatch.setattr(np, "save", dying_save)
        with pytest.raises(KeyboardInterrupt):
            prepare(sweep_of([CRASH], symbol="BTCUSDT"), tmp_path)
        assert list((tmp_path / "cache").iterdir()) == []
        monkeypatch.setattr(np, "save", real_save)
        dead = tmp_path / "cache" / ".tmp-999999999-abc"  # (a pid no process has)
        dead.mkdir()
        (dead / "ts_ns.npy").write_bytes(b"half")
        prepare(sweep_of([CRASH], symbol="BTCUSDT"), tmp_path)
        assert [p.name.startswith(".tmp-") for p in (tmp_path / "cache").iterdir()] == [False]

    def test_a_file_its_reader_refuses_is_read_by_each_cell(self, tmp_path: Path) -> None:
        """A file with a line the reader refuses is not cached: a note says so and the cells read the file."""
        lines = CRASH.read_text().splitlines()
        lines[10] = "2022-01-21 20:09:00.000000,38000.0,x,38000.0,38000.0,1.0"
        bad = tmp_path / "bad.csv"
        bad.write_text("\n".join(lines) + "\n")
        prepared = prepare(sweep_of([bad], symbol="BTCUSDT"), tmp_path / "out")
        assert prepared.sources == {} and len(prepared.notes) == 1 and f"{bad}:11" in prepared.notes[0]
        assert replay_inputs(prepared.groups[0], None) == {"files": [str(bad)], "formats": [None]}

    @needs_shared
    def test_parts_of_one_capture_are_read_by_each_cell(self, tmp_path: Path) -> None:
        """Two parts of one hftbacktest capture merged: the later continues the earlier's depth, so both are read from the files."""
        prepared = prepare(sweep_of([HFT / "cm_btcusd_perp_20240808.gz", HFT / "cm_btcusd_perp_20240809.gz"], split="merged"),
                           tmp_path)
        assert prepared.sources == {} and "read by each cell" in prepared.notes[0]

    def test_a_scenario_sweep_has_nothing_to_cache(self, tmp_path: Path) -> None:
        """Scenario groups pass through prepare as they are, with no cache."""
        sweep = attrs.evolve(sweep_of([CRASH]), kind="scenario", inputs=(InputGroup("cascade", scenario="cascade"),))
        prepared = prepare(sweep, tmp_path)
        assert prepared.groups == list(sweep.inputs) and prepared.sources == {} and not tmp_path.joinpath("cache").exists()


def test_a_source_is_plain_picklable_data() -> None:
    """A group's handle is strings only: it crosses to a worker process (or a Ray task) by value."""
    import pickle

    source = GroupSource(("a.csv",), ("/x/cache/k",))
    assert pickle.loads(pickle.dumps(source)) == source


def test_a_node_without_the_cache_folder_replays_from_the_columns_in_memory(tmp_path: Path) -> None:
    """What a Ray driver puts in the object store (cache.in_memory) replays to the golden hash with the folder gone."""
    file_name = "binance-usdm-btcusdt-20240808.gz"
    golden = json.loads((SHIPPED_REPLAYS / file_name).with_name("GOLDEN.json").read_text())[file_name]
    (_, _, symbol, params, _) = next(r for r in DEMO_RUNS if r[1] == file_name)
    prepared = prepare(sweep_of([SHIPPED_REPLAYS / file_name], symbol=symbol), tmp_path / "out")
    group = prepared.groups[0]
    import pickle  # (our own object, as Ray's serializer carries it to another node: not a data file)

    held = pickle.loads(pickle.dumps(cache.in_memory(prepared.sources[group.name])))
    cache_folder(tmp_path / "out").rename(tmp_path / "elsewhere")  # (another node: no cache folder)
    opener = replay_inputs(group, held)["row_opener"]
    assert opener._columns(str(SHIPPED_REPLAYS / file_name), None, symbol) is not None  # (the columns held, not the file)
    summary = Replay(strategy=load_strategy("holder", params), config=ReplayConfig(balance="1000", symbol=symbol),
                     **replay_inputs(group, held)).run()
    assert (summary["state_hash"], summary["rows"]) == (golden["state_hash"], golden["rows"])
