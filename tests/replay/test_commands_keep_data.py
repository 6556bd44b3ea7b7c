"""Commands that never destroy data or run what they should not: ``exsim convert`` never
writes over one of its inputs and leaves nothing half-written; ``--strategy`` calls only a
Strategy subclass; inputs that are FIFOs, symbolic-link loops or the same file twice are
refused as what they are. Each refusal is one ``exsim: error:`` line, exit code 2."""

from __future__ import annotations

import gzip
import hashlib
import os
import sys
import textwrap
from pathlib import Path

import pytest

from exsim.cli import main
from exsim.errors import InputError
from exsim.replay import Replay, ReplayConfig
from exsim.replay.cli import load_strategy
from exsim_examples.passive import Passive

ROOT = Path(__file__).resolve().parents[2]
CRASH = ROOT / "replays" / "btc-perp-20220121-1m.csv"
TICKS = "ts_ns,kind,symbol,side,price,qty,rate\n" + "".join(
    f"17231616{k:02d}000000000,trade,BTCUSDT,{'buy' if k % 2 else 'sell'},6180{k % 3}.0,0.010,\n" for k in range(5)
)


def one_line_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("exsim: error: ") and err.count("\n") == 1, err
    return err


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class TestConvertKeepsItsInputs:
    """``exsim convert`` refuses an output that is one of its inputs, by any name."""

    @pytest.fixture
    def data(self, tmp_path: Path) -> Path:
        path = tmp_path / "ticks.csv"
        path.write_text(TICKS)
        return path

    def test_the_same_path_is_refused_and_the_file_kept(self, data: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """``convert X -o X``: refused, X unchanged."""
        before = digest(data)
        err = one_line_error(["convert", str(data), "-o", str(data)], capsys)
        assert f"{data}: field '--output': is the input {data}: convert never writes over one of its inputs" in err
        assert digest(data) == before

    def test_another_spelling_of_the_path_is_refused(self, data: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
        """A relative path with ``..`` naming the input: refused."""
        monkeypatch.chdir(data.parent)
        before = digest(data)
        one_line_error(["convert", str(data), "-o", f"../{data.parent.name}/./{data.name}"], capsys)
        assert digest(data) == before

    def test_a_symbolic_link_to_the_input_is_refused(self, data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """The output a symbolic link to the input (or the input one to the output): refused."""
        link = tmp_path / "link.csv"
        link.symlink_to(data)
        before = digest(data)
        one_line_error(["convert", str(data), "-o", str(link)], capsys)
        one_line_error(["convert", str(link), "-o", str(data)], capsys)
        assert digest(data) == before and link.is_symlink()

    def test_a_hard_link_to_the_input_is_refused(self, data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """The output a hard link to the input (same inode, another name): refused."""
        hard = tmp_path / "hard.csv"
        os.link(data, hard)
        before = digest(data)
        err = one_line_error(["convert", str(data), "-o", str(hard)], capsys)
        assert "never writes over one of its inputs" in err
        assert digest(data) == before

    def test_any_of_several_inputs_is_kept(self, data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """The second of two inputs as the output: refused."""
        other = tmp_path / "other.csv"
        other.write_text(TICKS.replace("BTCUSDT", "ETHUSDT"))
        before = digest(other)
        one_line_error(["convert", str(data), str(other), "-o", str(other)], capsys)
        assert digest(other) == before

    def test_the_same_input_twice_is_refused(self, data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """One file given twice would double its rows: refused, naming it."""
        err = one_line_error(["convert", str(data), str(data), "-o", str(tmp_path / "out.csv")], capsys)
        assert f"{data}: field 'files': the same file as {data}" in err
        assert not (tmp_path / "out.csv").exists()


class TestConvertWritesWhole:
    """The output appears whole, at the end, or not at all."""

    def test_a_failed_convert_leaves_the_previous_output_and_no_temporary(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """A bad row half-way: the error, the old output byte for byte, nothing else in the folder."""
        bad = tmp_path / "bad.csv"
        bad.write_text(TICKS + "1723161700000000000,trade,BTCUSDT,buy,not-a-price,0.010,\n")
        out = tmp_path / "out" / "converted.csv.gz"
        out.parent.mkdir()
        out.write_bytes(b"the previous output")
        err = one_line_error(["convert", str(bad), "-o", str(out)], capsys)
        assert "bad.csv:7" in err
        assert out.read_bytes() == b"the previous output"
        assert [p.name for p in out.parent.iterdir()] == ["converted.csv.gz"]

    def test_a_convert_replaces_the_previous_output(self, tmp_path: Path) -> None:
        """A convert that succeeds replaces the old output with the whole new one (gzip readable, rows all there)."""
        data = tmp_path / "ticks.csv"
        data.write_text(TICKS)
        out = tmp_path / "converted.csv.gz"
        out.write_bytes(b"old")
        assert main(["convert", str(data), "-o", str(out)]) == 0
        text = gzip.decompress(out.read_bytes()).decode()
        assert text.count("\n") == 6 and "61802.0" in text
        assert sorted(p.name for p in tmp_path.iterdir()) == ["converted.csv.gz", "ticks.csv"]

    def test_the_output_has_the_usual_permissions(self, tmp_path: Path) -> None:
        """The temporary file is made as any new file (the umask applies), not private to its owner."""
        data = tmp_path / "ticks.csv"
        data.write_text(TICKS)
        old = os.umask(0o022)
        try:
            assert main(["convert", str(data), "-o", str(tmp_path / "out.csv")]) == 0
        finally:
            os.umask(old)
        assert (tmp_path / "out.csv").stat().st_mode & 0o777 == 0o644


class TestStrategyLoading:
    """``--strategy`` calls only a subclass of exsim.replay.Strategy; anything else is refused before it is called."""

    @pytest.fixture
    def marker(self, tmp_path: Path) -> Path:
        return tmp_path / "created-by-the-strategy-spec"

    def test_os_system_is_refused_and_never_called(self, marker: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """``--strategy os:system --param command=touch X``: refused; X is not created."""
        err = one_line_error(
            ["replay", str(CRASH), "--no-progress", "--strategy", "os:system", "--param", f"command=touch {marker}"], capsys
        )
        assert "field '--strategy': 'os' is a module of Python's standard library, not a strategy" in err
        assert not marker.exists()

    @pytest.mark.parametrize("spec", ["subprocess:run", "builtins:exec", "os.path:join", "antigravity:geohash"])
    def test_standard_library_modules_are_not_imported(self, spec: str, capsys: pytest.CaptureFixture[str]) -> None:
        """A module of the standard library is refused before it is imported (importing some has effects)."""
        module = spec.partition(":")[0]
        was_loaded = module in sys.modules
        err = one_line_error(["replay", str(CRASH), "--no-progress", "--strategy", spec], capsys)
        assert "module of Python's standard library" in err
        assert (module in sys.modules) == was_loaded

    def test_an_installed_modules_function_is_refused_unless_it_is_a_strategy(self, marker: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
        """``module:function`` of an importable module: the attribute is checked, never called."""
        (tmp_path / "side_effects.py").write_text(
            f"def boom(**kw):\n    open({str(marker)!r}, 'w').close()\n\nBOOM = boom\n"
        )
        monkeypatch.syspath_prepend(str(tmp_path))
        err = one_line_error(["replay", str(CRASH), "--no-progress", "--strategy", "side_effects:boom"], capsys)
        assert "side_effects:boom: boom is a function, not a strategy: expected a subclass of exsim.replay.Strategy" in err
        assert not marker.exists()
        sys.modules.pop("side_effects", None)

    def test_a_class_that_is_not_a_strategy_is_refused(self, capsys: pytest.CaptureFixture[str]) -> None:
        """An exsim class that is no Strategy (``exsim.replay:ReplayConfig``) is refused, not built."""
        err = one_line_error(["replay", str(CRASH), "--no-progress", "--strategy", "exsim.replay:ReplayConfig"], capsys)
        assert "ReplayConfig is a class (exsim.replay.runner.ReplayConfig), not a strategy" in err

    def test_a_files_function_is_refused_and_never_called(self, marker: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """``file.py:function``: the user's file is imported, the function is refused without a call."""
        path = tmp_path / "mine.py"
        path.write_text(f"def run(**kw):\n    open({str(marker)!r}, 'w').close()\n")
        err = one_line_error(["replay", str(CRASH), "--no-progress", "--strategy", f"{path}:run"], capsys)
        assert "run is a function, not a strategy" in err
        assert not marker.exists()

    def test_a_strategy_subclass_from_a_file_loads(self, tmp_path: Path) -> None:
        """The checks let a real strategy through, with its parameters."""
        path = tmp_path / "tuned.py"
        path.write_text(
            textwrap.dedent(
                """
                from exsim.replay import Strategy
                class Tuned(Strategy):
                    def __init__(self, qty="1"):
                        self.qty = qty
                """
            )
        )
        assert load_strategy(f"{path}:Tuned", ["qty=0.5"]).qty == "0.5"
        assert type(load_strategy("holder", [])).__name__ == "Holder"

    def test_a_strategy_file_that_is_a_fifo_is_refused(self, tmp_path: Path) -> None:
        """A FIFO named as the strategy file: refused as a FIFO, without opening it."""
        fifo = tmp_path / "strategy.py"
        os.mkfifo(fifo)
        with pytest.raises(InputError, match="is a FIFO"):
            load_strategy(f"{fifo}:S", [])


class TestInputFiles:
    """Inputs that are not regular files are named as what they are; one file given twice is refused."""

    def test_a_fifo_input_is_refused_as_a_fifo(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """A FIFO as input: "is a FIFO", not "no such file", and no wait for a writer."""
        fifo = tmp_path / "ticks.csv"
        os.mkfifo(fifo)
        err = one_line_error(["replay", str(fifo), "--no-progress"], capsys)
        assert f"{fifo}: is a FIFO (named pipe), not a regular file" in err

    def test_a_symbolic_link_loop_is_refused_as_a_loop(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """Two links pointing at each other: "a loop of symbolic links"."""
        a, b = tmp_path / "a.csv", tmp_path / "b.csv"
        a.symlink_to(b)
        b.symlink_to(a)
        err = one_line_error(["replay", str(a), "--no-progress"], capsys)
        assert f"{a}: a loop of symbolic links" in err

    def test_a_dangling_symbolic_link_says_so(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """A link to nothing: named as such."""
        link = tmp_path / "gone.csv"
        link.symlink_to(tmp_path / "deleted.csv")
        err = one_line_error(["replay", str(link), "--no-progress"], capsys)
        assert f"{link}: a symbolic link to a file that does not exist" in err

    def test_the_same_file_twice_is_refused(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """The same path twice: refused (its every trade would be replayed twice), naming it."""
        err = one_line_error(["replay", str(CRASH), str(CRASH), "--no-progress"], capsys)
        assert f"{CRASH}: field 'files': given twice: each input is replayed once; give it once" in err

    def test_a_link_to_a_file_already_given_is_refused(self, tmp_path: Path) -> None:
        """A symbolic link to an input given beside it is the same file: refused, naming both."""
        link = tmp_path / "again.csv"
        link.symlink_to(CRASH)
        with pytest.raises(InputError, match=f"the same file as {CRASH}"):
            Replay([CRASH, link], Passive(), ReplayConfig(symbol="BTCUSDT"))

    def test_a_copy_is_another_file(self, tmp_path: Path) -> None:
        """Two files of the same content are two inputs (only one file under two names is refused)."""
        copy = tmp_path / "copy.csv"
        copy.write_bytes(CRASH.read_bytes())
        Replay([CRASH, copy], Passive(), ReplayConfig(symbol="BTCUSDT"))  # builds
