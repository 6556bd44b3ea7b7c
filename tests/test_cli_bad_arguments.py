"""Every ``exsim`` command with bad arguments: one clear line, exit code 2, no traceback.

Table-driven: each entry of :data:`CASES` is ``(id, argv, phrase)``; ``argv`` may use the
placeholders of the :func:`paths` fixture (``{data}`` a small good tick file, ``{empty}``
an empty folder, ``{notrun}`` a folder that is no run, ``{file}`` an existing file,
``{missing}`` a path that does not exist, ``{tmp}`` a scratch folder). The run must print
exactly one line ``exsim: error: ...`` holding ``phrase`` on stderr, nothing on stdout,
and return 2 — any exception escaping :func:`exsim.cli.main` fails the test.

Usage errors argparse finds (an unknown option, a value of the wrong type, a missing
argument) are one line too, ending with the ``--help`` to read.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from exsim.cli import main

TICKS = "ts_ns,kind,symbol,side,price,qty,rate\n" + "".join(
    f"17231616{k:02d}000000000,trade,BTCUSDT,{'buy' if k % 2 else 'sell'},6180{k % 3}.0,0.010,\n" for k in range(5)
)  # five trades a second apart
LIQ = ["liq-price", "--side", "long", "--qty", "1", "--entry", "60000", "--wallet", "6000"]


@pytest.fixture
def paths(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "empty").mkdir()
    (tmp_path / "notrun").mkdir()
    (tmp_path / "notrun" / "notes.txt").write_text("not a run\n")
    (tmp_path / "ticks.csv").write_text(TICKS)
    return {
        "data": str(tmp_path / "ticks.csv"),
        "empty": str(tmp_path / "empty"),
        "notrun": str(tmp_path / "notrun"),
        "file": str(tmp_path / "notrun" / "notes.txt"),
        "missing": str(tmp_path / "missing.csv"),
        "tmp": str(tmp_path),
    }


def run(argv: list[str], paths: dict[str, str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    rc = main([a.format(**paths) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def assert_one_line_error(rc: int, out: str, err: str, phrase: str) -> None:
    assert rc == 2, (rc, out, err)
    assert out == "", out
    assert err.startswith("exsim: error: ") and err.endswith("\n") and err.count("\n") == 1, err
    assert "Traceback" not in err
    assert phrase in err, (phrase, err)


R = ["replay", "{data}", "--no-progress"]
CASES: list[tuple[str, list[str], str]] = [
    # the command itself
    ("unknown-command", ["bogus"], "invalid choice: 'bogus'"),
    # replay
    ("replay-unknown-flag", [*R, "--bogus"], "replay: unrecognized arguments: --bogus (see 'exsim replay --help')"),
    ("replay-no-file", ["replay"], "the following arguments are required: FILE"),
    ("replay-missing-file", ["replay", "{missing}"], "missing.csv: no such file"),
    ("replay-directory", ["replay", "{empty}"], "empty: is a directory; expected a data file"),
    ("replay-latency-not-int", [*R, "--latency-ns", "abc"], "argument --latency-ns: invalid int value: 'abc'"),
    ("replay-latency-negative", [*R, "--latency-ns", "-5"], "field 'latency_ns': -5 is not a whole number >= 0"),
    ("replay-leverage-0", [*R, "--leverage", "0"], "field 'leverage': 0 is not a positive whole number"),
    ("replay-leverage-negative", [*R, "--leverage", "-3"], "field 'leverage': -3 is not a positive whole number"),
    ("replay-leverage-not-int", [*R, "--leverage", "10x"], "argument --leverage: invalid int value: '10x'"),
    ("replay-strategy-unknown", [*R, "--strategy", "nosuch"], "field '--strategy': 'nosuch': expected module:Class"),
    ("replay-strategy-no-module", [*R, "--strategy", "nosuch_module:X"], "cannot import 'nosuch_module'"),
    ("replay-strategy-no-class", [*R, "--strategy", "exsim_examples.holder:Nope"], "has no 'Nope'"),
    ("replay-strategy-no-file", [*R, "--strategy", "{tmp}/nope.py:X"], "nope.py: field '--strategy': no such file"),
    ("replay-param-no-equals", [*R, "--strategy", "holder", "--param", "qty"], "field '--param': 'qty' is not key=value"),
    ("replay-param-empty-key", [*R, "--strategy", "holder", "--param", "=1"], "field '--param': '=1' is not key=value"),
    ("replay-param-bad-value", [*R, "--strategy", "holder", "--param", "side=up"], "side must be 'long' or 'short'"),
    ("replay-param-not-int", [*R, "--strategy", "holder", "--param", "leverage=high"], "field '--param'"),
    ("replay-param-unknown", [*R, "--strategy", "holder", "--param", "nosuch=1"], "unexpected keyword argument 'nosuch'"),
    ("replay-format-unknown", [*R, "--format", "parquet"], "field 'format': unknown format 'parquet'"),
    ("replay-format-wrong", [*R, "--format", "tardis-trades"], "field 'header': header 'ts_ns,kind,symbol,side,price,qty,rate'"),
    ("replay-format-count", [*R, "--format", "exsim-csv", "--format", "exsim-csv"], "field 'format': give one format per file"),
    ("replay-margin-mode", [*R, "--margin-mode", "hedge"], "argument --margin-mode: invalid choice: 'hedge'"),
    ("replay-queue-model", [*R, "--queue-model", "optimistic"], "argument --queue-model: invalid choice: 'optimistic'"),
    ("replay-mark", [*R, "--mark", "book"], "argument --mark: invalid choice: 'book'"),
    ("replay-funding", [*R, "--funding", "free"], "argument --funding: invalid choice: 'free'"),
    ("replay-sample", [*R, "--sample", "fast"], "field '--sample': 'fast' is not a duration"),
    ("replay-sample-zero", [*R, "--sample", "0s"], "field 'sample_interval_ns': 0 is not a positive whole number"),
    ("replay-mark-interval", [*R, "--mark-interval", "1h"], "field '--mark-interval': '1h' is not a duration"),
    ("replay-balance", [*R, "--balance", "lots"], "field 'balance': 'lots' is not a decimal number"),
    ("replay-balance-negative", [*R, "--balance", "-5"], "field 'balance': '-5' is not an amount >= 0 (USDT)"),
    ("replay-balance-off-grid", [*R, "--balance", "0.000000001"], "field 'balance': '0.000000001' is not a multiple of atom"),
    ("replay-synthetic-qty", [*R, "--synthetic-qty", "0.0001"], "field 'synthetic_qty': '0.0001' is not a multiple of lot 0.001"),
    ("replay-synthetic-qty-negative", [*R, "--synthetic-qty", "-1"], "field 'synthetic_qty': '-1' is not a positive quantity"),
    ("replay-synthetic-qty-text", [*R, "--synthetic-qty", "many"], "field 'synthetic_qty': 'many' is not a decimal number"),
    ("replay-synthetic-levels", [*R, "--synthetic-levels", "0"], "field 'synthetic_levels': 0 is not a positive whole number"),
    ("replay-symbol-unknown", [*R, "--symbol", "NOSUCHUSDT"], "field 'symbol': unknown symbol 'NOSUCHUSDT'"),
    # option ranges, checked before the run (issue 13, item 9): each would run out of memory or never end
    ("replay-sample-1ns", [*R, "--sample", "1ns"], "field 'sample_interval_ns': 1 is out of range: expected 100,000,000 .."),
    ("replay-sample-99ms", [*R, "--sample", "99ms"], "field 'sample_interval_ns': 99,000,000 is out of range"),
    ("replay-sample-2d", [*R, "--sample", "172800s"], "field 'sample_interval_ns': 172,800,000,000,000 is out of range"),
    ("replay-sample-4000-digits", [*R, "--sample", "9" * 4000 + "s"], "field '--sample': '9999"),
    ("replay-mark-interval-1ns", [*R, "--mark-interval", "1ns"], "field 'mark_interval_ns': 1 is out of range"),
    ("replay-mark-interval-0", [*R, "--mark-interval", "0"], "field 'mark_interval_ns': 0 is not a positive whole number"),
    ("replay-synthetic-levels-huge", [*R, "--synthetic-levels", "10000000"],
     "field 'synthetic_levels': 10,000,000 is out of range: expected 1 .. 1,000 levels a side"),
    ("replay-synthetic-step-huge", [*R, "--synthetic-step-ticks", "1000000000"], "field 'synthetic_step_ticks': 1,000,000,000 is out"),
    ("replay-synthetic-step-0", [*R, "--synthetic-step-ticks", "0"], "field 'synthetic_step_ticks': 0 is not a positive whole number"),
    ("replay-latency-huge", [*R, "--latency-ns", "1" + "0" * 30], "field 'latency_ns': 1,000,000,000,000,000,000,000,000,000,000 is out"),
    ("replay-latency-float", [*R, "--latency-ns", "1e30"], "argument --latency-ns: invalid int value: '1e30'"),
    ("replay-latency-4000-digits", [*R, "--latency-ns", "9" * 4000], "argument --latency-ns: invalid int value"),
    ("replay-leverage-huge", [*R, "--leverage", "1000000"], "field 'leverage': 1,000,000 is out of range"),
    ("replay-checkpoint-every-0", [*R, "--checkpoint-every", "0"], "field '--checkpoint-every': 0 is not a positive number of rows"),
    ("replay-checkpoint-every-text", [*R, "--checkpoint-every", "often"], "argument --checkpoint-every: invalid int value"),
    # ASCII digits only (issue 13, item 11): int() would take each of these
    ("replay-latency-plus", [*R, "--latency-ns", "+10"], "argument --latency-ns: invalid int value: '+10'"),
    ("replay-latency-underscore", [*R, "--latency-ns", "1_0"], "argument --latency-ns: invalid int value: '1_0'"),
    ("replay-latency-arabic", [*R, "--latency-ns", "١٠"], "argument --latency-ns: invalid int value: '١٠'"),
    ("flow-seed-arabic", ["flow", "--seed", "١"], "argument --seed: invalid int value: '١'"),
    ("flow-seed-underscore", ["flow", "--seed", "1_0"], "argument --seed: invalid int value: '1_0'"),
    ("replay-leverage-superscript", [*R, "--leverage", "1²"], "argument --leverage: invalid int value: '1²'"),
    ("replay-levels-fullwidth", [*R, "--synthetic-levels", "１０"], "argument --synthetic-levels: invalid int value"),
    ("replay-sample-arabic", [*R, "--sample", "١s"], "field '--sample': '١s' is not a duration"),
    ("replay-sample-underscore", [*R, "--sample", "1_0s"], "field '--sample': '1_0s' is not a duration"),
    ("replay-balance-plus", [*R, "--balance", "+100"], "field 'balance': '+100' is not a decimal number"),
    ("replay-synthetic-qty-superscript", [*R, "--synthetic-qty", "1²"], "field 'synthetic_qty': '1²' is not a decimal number"),
    ("explain-liquidation-arabic", ["explain", "{notrun}", "--liquidation", "١"], "argument --liquidation: invalid int value"),
    ("replay-index-file-missing", [*R, "--index-file", "{missing}"], "missing.csv: no such file"),
    ("replay-out-is-a-file", [*R, "--out", "{file}"], "notes.txt: field '--out': exists and is not a folder"),
    # demo (checked before the first run prints anything)
    ("demo-unknown-flag", ["demo", "--bogus"], "demo: unrecognized arguments: --bogus"),
    ("demo-latency-not-int", ["demo", "--latency-ns", "x"], "argument --latency-ns: invalid int value: 'x'"),
    ("demo-leverage-0", ["demo", "--leverage", "0", "--out", "{tmp}/demo"], "field 'leverage': 0 is not a positive whole number"),
    ("demo-sample", ["demo", "--sample", "0s", "--out", "{tmp}/demo"], "field 'sample_interval_ns'"),
    # convert
    ("convert-unknown-extension", ["convert", "{data}", "-o", "{tmp}/out.parquet"], "field '--output': cannot tell the output format"),
    ("convert-txt", ["convert", "{data}", "-o", "{tmp}/out.txt"], "expected one of .csv, .csv.gz, .jsonl, .jsonl.gz, or --to"),
    ("convert-zst", ["convert", "{data}", "-o", "{tmp}/out.csv.zst"], "compressed with gzip only"),
    ("convert-name-and-to-disagree", ["convert", "{data}", "-o", "{tmp}/out.csv", "--to", "exsim-jsonl"], "the name says exsim-csv"),
    ("convert-to-unknown", ["convert", "{data}", "-o", "{tmp}/out.csv", "--to", "parquet"], "argument --to: invalid choice"),
    ("convert-no-output", ["convert", "{data}"], "the following arguments are required: -o/--output"),
    ("convert-output-directory", ["convert", "{data}", "-o", "{empty}"], "field '--output': is a directory"),
    ("convert-output-folder-missing", ["convert", "{data}", "-o", "{tmp}/nofolder/out.csv"], "out.csv: No such file or directory"),
    ("convert-missing-input", ["convert", "{missing}", "-o", "{tmp}/out.csv"], "missing.csv: no such file"),
    ("convert-format-count", ["convert", "{data}", "-o", "{tmp}/o.csv", "--format", "a", "--format", "b"], "once per file"),
    ("convert-format-unknown", ["convert", "{data}", "-o", "{tmp}/o.csv", "--format", "nosuch"], "unknown format 'nosuch'"),
    # report / explain
    ("report-empty-dir", ["report", "{empty}"], "timeseries.csv: missing: is this a run directory written with --out?"),
    ("report-missing-dir", ["report", "{missing}"], "is this a run directory"),
    ("report-not-a-run", ["report", "{notrun}"], "is this a run directory"),
    ("report-a-file", ["report", "{data}"], "is this a run directory"),
    ("explain-not-a-run", ["explain", "{notrun}"], "events.jsonl: missing: is this a run directory written with --out?"),
    ("explain-empty-dir", ["explain", "{empty}"], "events.jsonl: missing"),
    ("explain-liquidation-not-int", ["explain", "{notrun}", "--liquidation", "first"], "argument --liquidation: invalid int value"),
    # scenario / compare
    ("scenario-missing-file", ["scenario", "{tmp}/nope.toml"], "nope.toml: field 'FILE': no such file"),
    ("scenario-directory", ["scenario", "{empty}"], "field 'FILE': is a folder"),
    ("scenario-none", ["scenario"], "field 'FILE': give a scenario FILE or NAME"),
    ("scenario-unknown-name", ["scenario", "nosuchname"], "not a file nor a built-in scenario"),
    ("scenario-not-toml", ["scenario", "{data}"], "not valid TOML"),
    ("scenario-mode", ["scenario", "one-position", "--mode", "hedge"], "argument --mode: invalid choice: 'hedge'"),
    ("compare-unknown-name", ["compare", "nosuchname"], "not a file nor a built-in scenario"),
    ("compare-modes", ["compare", "one-position", "--modes", "hedge"], "field '--modes': 'hedge'"),
    ("compare-no-modes", ["compare", "one-position", "--modes", ""], "field '--modes': ''"),
    # flow
    ("flow-events-not-int", ["flow", "--events", "many"], "argument --events: 'many' is not a whole number >= 1"),
    ("flow-events-negative", ["flow", "--events", "-5"], "argument --events: '-5' is not a whole number >= 1"),
    ("flow-events-zero", ["flow", "--events", "0"], "argument --events: '0' is not a whole number >= 1"),
    ("flow-seed", ["flow", "--seed", "x"], "argument --seed: invalid int value: 'x'"),
    ("flow-symbol", ["flow", "--symbol", "NOSUCHUSDT", "--out", "{tmp}/flow"], "field 'symbol': unknown symbol 'NOSUCHUSDT'"),
    ("flow-out-is-a-file", ["flow", "--events", "10", "--out", "{file}"], "notes.txt: File exists"),
    # liq-price
    ("liq-nothing", ["liq-price"], "--side: missing; expected 'long' or 'short'"),
    ("liq-missing-qty", ["liq-price", "--side", "long"], "--qty: missing"),
    ("liq-missing-wallet", LIQ[:7], "--wallet: missing"),
    ("liq-negative-qty", [*LIQ[:4], "-1", *LIQ[5:], "--symbol", "BTCUSDT"], "--qty: '-1' must be > 0"),
    ("liq-zero-qty", [*LIQ[:4], "0", *LIQ[5:], "--symbol", "BTCUSDT"], "--qty: '0' must be > 0"),
    ("liq-text-qty", [*LIQ[:4], "one", *LIQ[5:], "--symbol", "BTCUSDT"], "--qty: 'one' is not a decimal number"),
    ("liq-negative-entry", [*LIQ[:6], "-60000", *LIQ[7:], "--symbol", "BTCUSDT"], "--entry: '-60000' must be > 0"),
    ("liq-negative-wallet", [*LIQ[:8], "-1", "--symbol", "BTCUSDT"], "--wallet: '-1' must be >= 0"),
    ("liq-nan-wallet", [*LIQ[:8], "nan", "--symbol", "BTCUSDT"], "--wallet: 'nan' is not a decimal number"),
    ("liq-inf-qty", [*LIQ[:4], "inf", *LIQ[5:], "--symbol", "BTCUSDT"], "--qty: 'inf' is not a decimal number"),
    ("liq-huge-qty", [*LIQ[:4], "1e999999", *LIQ[5:], "--symbol", "BTCUSDT"], "--qty: '1e999999' is out of range"),
    ("liq-side", ["liq-price", "--side", "up", *LIQ[3:], "--symbol", "BTCUSDT"], "--side: 'up'; expected 'long' or 'short'"),
    ("liq-mode", [*LIQ, "--symbol", "BTCUSDT", "--mode", "hedge"], "--mode: 'hedge'; expected 'isolated' or 'cross'"),
    ("liq-symbol", [*LIQ, "--symbol", "NOSUCHUSDT"], "--symbol: unknown symbol 'NOSUCHUSDT'"),
    ("liq-no-brackets", LIQ, "--symbol: missing; expected --symbol SYM"),
    ("liq-mmr-above-1", [*LIQ, "--mmr", "2", "--cum", "0"], "--mmr: '2' is above 1"),
    ("liq-mmr-without-cum", [*LIQ, "--mmr", "0.025"], "--mmr needs --cum"),
    ("liq-symbol-and-mmr", [*LIQ, "--symbol", "BTCUSDT", "--mmr", "0.025", "--cum", "0"], "not both"),
    ("liq-other-fields", [*LIQ, "--symbol", "BTCUSDT", "--mode", "cross", "--other", "long:1:2"], "--other #1: 'long:1:2' has 3 field(s)"),
    ("liq-other-isolated", [*LIQ, "--symbol", "BTCUSDT", "--other", "long:1:2:3:0.01:0"], "expected --mode cross"),
    ("liq-hedge-same-side", [*LIQ, "--symbol", "BTCUSDT", "--mode", "cross", "--hedge-leg", "long:1:61000"], "the same side as --side"),
    ("liq-unknown-flag", [*LIQ, "--symbol", "BTCUSDT", "--no-such-option", "10"], "liq-price: unrecognized arguments: --no-such-option 10"),
]


@pytest.mark.parametrize(("argv", "phrase"), [pytest.param(a, p, id=i) for i, a, p in CASES])
def test_bad_arguments_are_one_clear_line(
    argv: list[str], phrase: str, paths: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    rc, out, err = run(argv, paths, capsys)
    assert_one_line_error(rc, out, err, phrase)


def test_case_ids_are_unique() -> None:
    ids = [i for i, _, _ in CASES]
    assert len(ids) == len(set(ids))


def test_no_command_prints_the_usage_and_returns_2(paths: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = run([], paths, capsys)
    assert rc == 2 and out.startswith("usage: exsim") and err == ""


def test_help_still_exits_0(paths: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        run(["replay", "--help"], paths, capsys)
    assert info.value.code == 0 and "--skip-bad-rows" in capsys.readouterr().out


def test_good_arguments_still_run(paths: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    """The same small file and options, valid: the checks above refuse only what is wrong."""
    rc, out, err = run([*R, "--latency-ns", "5", "--leverage", "10", "--out", "{tmp}/run"], paths, capsys)
    assert (rc, err) == (0, "") and "state hash" in out
    rc, out, err = run(["convert", "{data}", "-o", "{tmp}/out.jsonl.gz"], paths, capsys)
    assert (rc, err) == (0, "") and "as exsim-jsonl" in out
    rc, out, err = run(["convert", "{data}", "-o", "{tmp}/out.txt", "--to", "exsim-csv"], paths, capsys)
    assert (rc, err) == (0, "") and "as exsim-csv" in out
    rc, out, err = run(["explain", "{tmp}/run"], paths, capsys)
    assert (rc, err) == (0, "") and "No liquidation" in out


def test_leverage_above_the_brackets_is_refused_before_the_run(paths: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    """A leverage no bracket allows is one line naming the symbol's maximum, before the run (nothing on stdout)."""
    rc, out, err = run([*R, "--leverage", "1000"], paths, capsys)
    assert_one_line_error(rc, out, err, "field 'leverage': 1000x is above BTCUSDT's maximum 125x")


# ---------------------------------------------------------------------- damaged run directories
def test_report_on_a_damaged_summary(paths: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    """A summary.json cut short (or not a run's summary): one line naming the file, nothing drawn."""
    rc, out, err = run([*R, "--out", "{tmp}/run"], paths, capsys)
    assert rc == 0
    summary = Path(paths["tmp"], "run", "summary.json")
    for damage, phrase in (('{"account": ', "damaged: not JSON"), ("[1, 2]", "damaged: a JSON list"), ("{}", "not the summary of a replay run (no symbols, ")):
        summary.write_text(damage)
        rc, out, err = run(["report", "{tmp}/run"], paths, capsys)
        assert_one_line_error(rc, out, err, f"{summary}: {phrase}")
        assert not list(summary.parent.glob("*.png"))


def test_explain_on_a_damaged_event_log(paths: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    """A line of events.jsonl cut short is an error naming file:line, not "No liquidation"
    (a liquidation's line cut before its name would go unseen)."""
    rc, out, err = run([*R, "--out", "{tmp}/run"], paths, capsys)
    assert rc == 0
    log = Path(paths["tmp"], "run", "events.jsonl")
    lines = log.read_text().splitlines(keepends=True)
    assert len(lines) >= 2
    log.write_text(lines[0] + lines[1][:10])  # the last write cut short
    rc, out, err = run(["explain", "{tmp}/run"], paths, capsys)
    assert_one_line_error(rc, out, err, f"{log}:2: field 'line': damaged: ")
    log.write_text(lines[0][:-1] + "x\n" + "".join(lines[1:]))  # a damaged line before the end
    rc, out, err = run(["explain", "{tmp}/run"], paths, capsys)
    assert_one_line_error(rc, out, err, f"{log}:1: field 'line': damaged: ")
