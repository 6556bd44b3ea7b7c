"""The page document (exsim.pages.data): every figure a page shows is the run's own exact
string, on one timeline that keeps a cascade's rounds apart; big runs are thinned, never
the events; bad run directories are one clear line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from exsim.cli import main
from exsim.errors import InputError
from exsim.pages import data as page_data
from exsim.pages.data import page_document, run_dirs_of, write_json
from exsim.replay.explain import explain, liquidations_of, run_instruments, run_venue_of
from exsim.units import format_atoms, format_subticks

from .runs import rows, value_at


@pytest.fixture(scope="module")
def cascade_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cascade") / "cmp"
    assert main(["compare", "cascade", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def cascade_doc(cascade_dir: Path) -> dict[str, Any]:
    return page_document(run_dirs_of(cascade_dir), "cascade")




def test_a_compare_folder_lists_its_runs_in_mode_order(cascade_dir: Path) -> None:
    """`run_dirs_of` on a compare's --out gives isolated before cross, whatever the folder order."""
    assert [name for name, _ in run_dirs_of(cascade_dir)] == ["isolated", "cross"]
    assert run_dirs_of(cascade_dir / "cross") == [("cross", cascade_dir / "cross")]


def test_every_account_value_is_the_runs_own_last_row_at_each_step(cascade_doc: dict[str, Any], cascade_dir: Path) -> None:
    """Replaying timeseries.csv frame by frame gives, at every step, exactly the strings the
    document shows for each account (equity, wallet, margin ratio)."""
    steps = cascade_doc["steps"]
    for run in cascade_doc["runs"]:
        series_rows = rows(cascade_dir / run["name"] / "timeseries.csv")
        by_account = {a["account"]: a for a in run["accounts"]}
        assert set(by_account) == {int(r["account"]) for r in series_rows}
        # the frames: a new one when the time or why changes or an account repeats
        frames: list[list[dict[str, str]]] = []
        for r in series_rows:
            f = frames[-1] if frames else None
            if f is None or f[0]["ts_ns"] != r["ts_ns"] or f[0]["why"] != r["why"] or r["account"] in {x["account"] for x in f}:
                frames.append([r])
            else:
                f.append(r)
        shown: dict[int, dict[str, str]] = {}
        frame_steps = sorted({s for a in run["accounts"] for s in a["step"]})
        assert len(frame_steps) == len(frames)
        assert [f[0] for f in run["frames"]] == frame_steps
        for (step, why), frame in zip(run["frames"], frames):
            assert why == frame[0]["why"] and why in steps[step][2].split(" | ")
            for r in frame:
                shown[int(r["account"])] = r
            for aid in (1, 2, 40, 300):
                if aid in shown:
                    for field in ("equity", "wallet", "margin_ratio"):
                        assert value_at(by_account[aid], field, step) == shown[aid][field]


def test_the_timeline_is_the_union_of_both_runs_frames(cascade_doc: dict[str, Any]) -> None:
    """Isolated has more cascade rounds than cross at the crash instant: the shared timeline
    has a step for each, sorted by time, and both runs start at step 0."""
    steps = cascade_doc["steps"]
    assert [s[0] for s in steps] == sorted(s[0] for s in steps)
    used = [sorted({s for a in r["accounts"] for s in a["step"]}) for r in cascade_doc["runs"]]
    assert set(used[0]) | set(used[1]) == set(range(len(steps)))
    assert used[0][0] == used[1][0] == 0
    assert len(used[0]) > len(used[1])  # isolated: more frames (rounds) at the crash


def test_each_liquidation_carries_its_explain_text(cascade_doc: dict[str, Any], cascade_dir: Path) -> None:
    """The document's liquidations are the run's Liquidation events, numbered as `exsim
    explain` numbers them, with the same explanation text."""
    for run in cascade_doc["runs"]:
        d = cascade_dir / run["name"]
        events = liquidations_of(d)
        assert [x["index"] for x in run["liquidations"]] == list(range(1, len(events) + 1))
        inst, venue = run_instruments(d), run_venue_of(d)
        for x in run["liquidations"][:: max(1, len(events) // 7)]:
            e = events[x["index"] - 1]
            assert x["account"] == e["account_id"]
            assert x["explanation"] == explain(e, x["index"], len(events), inst, venue)
            assert x["margin_balance"] == format_atoms(e["margin_balance_atoms"])
            assert x["maint_margin"] == format_atoms(e["maint_margin_atoms"])
            assert x["mark"] == format_subticks(e["positions"][0]["mark_price_subticks"])
            assert "liquidation" in cascade_doc["steps"][x["step"]][2].split(" | ")


def test_a_cascades_rounds_are_listed_with_the_books_move(cascade_doc: dict[str, Any], cascade_dir: Path) -> None:
    """Each cascade round of marks.csv is a generation with its trigger mark and the best bid
    before and after its liquidation orders: the impact is (after − before) / before."""
    iso = cascade_doc["runs"][0]
    marks = [r for r in rows(cascade_dir / "isolated" / "marks.csv") if r["generation"] != "0"]
    assert [g["generation"] for g in iso["generations"]] == [int(r["generation"]) for r in marks]
    g1 = iso["generations"][0]
    assert (g1["mark"], g1["best_bid_before"], g1["best_bid_after"]) == (marks[0]["mark"], marks[0]["best_bid"], marks[1]["best_bid"])
    # by hand: 59242.5 -> 57337.5 is -1905 / 59242.5 = -0.0321559691... -> -0.03215597
    assert (g1["best_bid_before"], g1["best_bid_after"], g1["impact_fraction"]) == ("59242.5", "57337.5", "-0.03215597")
    # each liquidation is counted in the round (generation) whose mark triggered it
    summary = json.loads((cascade_dir / "isolated" / "summary.json").read_text())
    by_gen = {str(g["generation"]): g["liquidations"] for g in iso["generations"] if g["liquidations"]}
    assert by_gen == summary["cascade"]["liquidations_by_generation"] == {"1": 42, "3": 66, "5": 54}
    assert sum(g["liquidations"] for g in iso["generations"]) == len(iso["liquidations"]) == 162


def test_the_document_is_plain_json(cascade_doc: dict[str, Any]) -> None:
    """What the page embeds parses back to the same document."""
    assert json.loads(write_json(cascade_doc)) == cascade_doc


def _demo_like(tmp_path: Path) -> Path:
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--no-progress"]) == 0
    return out


def test_runs_of_different_periods_are_shown_from_their_own_starts(tmp_path: Path) -> None:
    """The demo's two replays (2024 capture, 2022 crash) share no instant: each starts at
    step 0, the note says so, and each run's clock is given back by its own t0."""
    out = _demo_like(tmp_path)
    doc = page_document(run_dirs_of(out), "demo")
    assert doc["aligned"] == "start" and doc["t0_ns"] == "0"
    assert any("different periods" in n for n in doc["notes"])
    for run in doc["runs"]:
        first = rows(out / run["name"] / "timeseries.csv")[0]
        assert run["accounts"][0]["step"][0] == 0 and doc["steps"][0][0] == 0
        assert run["t0_ns"] == first["ts_ns"]
        assert run["prices"]["BTCUSDT"]["mark"][0] == first["mark"]
    crash = next(r for r in doc["runs"] if r["name"] == "crash")
    assert len(crash["liquidations"]) == 1 and crash["liquidations"][0]["explanation"].startswith("Liquidation 1 of 1")


def test_periodic_samples_are_thinned_but_never_events(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Over the cap, periodic samples are thinned evenly (first and last kept); the fill and
    liquidation frames all stay; the note says how many were left out."""
    out = _demo_like(tmp_path)
    crash = out / "crash"
    series_rows = rows(crash / "timeseries.csv")
    periodic = sum(1 for r in series_rows if r["why"] == "sample")
    monkeypatch.setattr(page_data, "MAX_SAMPLE_FRAMES", 100)
    doc = page_document([("crash", crash)], "crash")
    labels = [s[2] for s in doc["steps"]]
    assert labels.count("sample") == 100
    assert sorted(x for x in labels if x != "sample") == sorted(r["why"] for r in series_rows if r["why"] != "sample")
    assert doc["notes"] == [f"crash: {periodic - 100:,} of {periodic:,} periodic samples left out to keep the page small "
                            "(every order, fill and liquidation kept); the run's timeseries.csv has them all"]


def test_a_damaged_time_series_is_one_line_naming_file_line_and_field(tmp_path: Path, cascade_dir: Path) -> None:
    """A bad ts_ns names the file, its line and the field; nothing else is read."""
    d = tmp_path / "run"
    shutil.copytree(cascade_dir / "cross", d)
    lines = (d / "timeseries.csv").read_text().splitlines(keepends=True)
    lines[3] = "soon" + lines[3][lines[3].index(","):]
    (d / "timeseries.csv").write_text("".join(lines))
    with pytest.raises(InputError) as e:
        page_document(run_dirs_of(d), "x")
    assert str(e.value).startswith(f"{d / 'timeseries.csv'}:4: field 'ts_ns': 'soon' is not a whole number")


def test_a_folder_without_runs_is_refused(tmp_path: Path) -> None:
    """A folder with no summary.json anywhere is not a run: said in one line."""
    with pytest.raises(InputError, match="no run directory"):
        run_dirs_of(tmp_path)
    with pytest.raises(InputError, match="not a run directory"):
        run_dirs_of(tmp_path / "nowhere")


def test_at_a_liquidation_the_position_shows_what_the_engine_saw(tmp_path: Path) -> None:
    """one-position (isolated, 1 DEMO long at 1000, 100 margin): at the liquidation's step the
    position is not the previous sample's (mark 950, ratio 95 %) but the trigger's: mark
    947.368, the bucket's ratio 47.3684 / 47.368 = 1.00000845 (rounded up, as the time
    series' trigger row has it), liquidation price 947.36842106 now 0.44e-6 above the mark."""
    out = tmp_path / "one"
    assert main(["scenario", "one-position", "--mode", "isolated", "--out", str(out)]) == 0
    doc = page_document(run_dirs_of(out), "one")
    run = doc["runs"][0]
    liq = run["liquidations"][0]
    trigger = next(r for r in rows(out / "timeseries.csv") if r["why"] == "liquidation")
    q = run["positions"][0]
    at = {f: value_at(q, f, liq["step"]) for f in ("qty", "entry_price", "mark", "maint_margin", "scope_margin_ratio",
                                                     "liquidation_price", "distance_fraction", "unrealized_pnl")}
    assert at == {"qty": "1.000", "entry_price": "1000.00000000", "mark": "947.368", "maint_margin": "47.36840000",
                  "scope_margin_ratio": trigger["margin_ratio"], "liquidation_price": "947.36842106",
                  "distance_fraction": "0.00000044", "unrealized_pnl": None}
    assert trigger["margin_ratio"] == "1.00000845"
    assert value_at(q, "mark", liq["step"] - 1) == "950.000"  # the sample before
    assert value_at(q, "qty", liq["step"] + 1) == "0.000"  # closed after it


def test_a_coin_margined_replays_money_is_named_in_its_coin(tmp_path: Path) -> None:
    """The real COIN-M capture (BTCUSD_PERP, 2024-08-08) held with a 0.02 BTC deposit: the
    page's figures say BTC and are the summary's own strings; its positions and book come
    from the run's positions.csv and depth.csv."""
    capture = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "hftbacktest-binance-20240808"
    out = tmp_path / "cm"
    assert main(["replay", str(capture / "cm_btcusd_perp_20240808.gz"), "--strategy", "holder", "--deposit", "0.02BTC",
                 "--out", str(out), "--no-progress"]) == 0
    run = page_document(run_dirs_of(out), "cm")["runs"][0]
    account = json.loads((out / "summary.json").read_text())["account"]
    figures = dict(run["figures"])
    assert figures["deposit (BTC)"] == "0.02000000"
    assert (figures["equity at the end (BTC)"], figures["net PnL (BTC)"]) == (account["equity"], account["pnl"])
    q = run["positions"][0]
    assert (q["symbol"], q["qty"][0]) == ("BTCUSD_PERP", rows(out / "positions.csv")[0]["qty"])
    assert run["depth"]["BTCUSD_PERP"]["bids"][0][0] == rows(out / "depth.csv")[0]["bids"].split(";")[0].split(":")
