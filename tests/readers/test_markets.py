"""Specification of exsim.readers.markets: spot and COIN-M files are told from USDⓈ-M ones,
on the real captures in shared/data (hftbacktest's usdm/spot/cm captures, cryptofeed's
BINANCE_DELIVERY); a spot capture is an index proxy, not a traded market; a COIN-M file
replays under its COIN-M symbol only (a USDⓈ-M symbol on it, or the reverse, is one line
naming the evidence) — never "unknown symbol, did you mean BTCUSDT"."""

from __future__ import annotations

from pathlib import Path

import pytest

from exsim.readers import detect_format
from exsim.readers.markets import COINM, SPOT, USDM, market_of
from exsim.replay import Replay
from exsim_examples.passive import Passive

from .checks import one_line_error

DATA = Path(__file__).parents[3] / "shared" / "data"
HFT = DATA / "hftbacktest-binance-20240808"
CRYPTOFEED = DATA / "cryptofeed-samples"
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=f"shared data folder {DATA} is absent")


def market(path: Path) -> str:
    return market_of(path, detect_format(path))[0]


@needs_data
class TestMarketOf:
    @pytest.mark.parametrize(
        ("path", "expected"),
        [
            (HFT / "usdm_btcusdt_20240808.gz", USDM),
            (HFT / "usdm_ethusdt_20240808.gz", USDM),
            (HFT / "spot_btcusdt_20240808.gz", SPOT),
            (HFT / "spot_btcusdt_20240809.gz", SPOT),
            (HFT / "cm_btcusd_perp_20240808.gz", COINM),
            (HFT / "cm_btcusd_perp_20240809.gz", COINM),
            (CRYPTOFEED / "BINANCE_FUTURES.ws.1.0", USDM),
            (CRYPTOFEED / "BINANCE_DELIVERY.ws.1.0", COINM),
        ],
        ids=lambda v: v.name if isinstance(v, Path) else v,
    )
    def test_each_capture_is_told_by_its_own_evidence(self, path: Path, expected: str) -> None:
        """USDⓈ-M, spot and COIN-M captures are recognized from their first lines."""
        assert market(path) == expected

    def test_spot_evidence_is_the_depth_stream_without_pu(self) -> None:
        """The spot capture's first line is a depthUpdate without pu and T: that is what is said."""
        _, evidence = market_of(HFT / "spot_btcusdt_20240808.gz", "binance-ws-hftbacktest")
        assert evidence == "line 1: a depthUpdate without 'pu' and 'T' (the spot depth stream)"


@needs_data
class TestRefusedAsTraded:
    @pytest.mark.parametrize("name", ["spot_btcusdt_20240808.gz", "spot_btcusdt_20240809.gz"])
    def test_spot_capture_says_to_pass_it_as_index_file(self, name: str, capsys: pytest.CaptureFixture[str]) -> None:
        """A spot capture as the traded market: one line saying it is spot and to use --index-file."""
        path = HFT / name
        line = one_line_error(["replay", str(path), "--no-progress"], capsys)
        assert line.startswith(f"exsim: error: {path}: field 'market': is a spot market capture (")
        assert "pass it as --index-file" in line and "tick" not in line

    @pytest.mark.parametrize(
        "path",
        [HFT / "cm_btcusd_perp_20240808.gz", HFT / "cm_btcusd_perp_20240809.gz", CRYPTOFEED / "BINANCE_DELIVERY.ws.1.0"],
        ids=lambda p: p.name,
    )
    def test_coin_margined_file_under_a_usdm_symbol_names_the_evidence_line(
        self, path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A COIN-M file replayed as BTCUSDT: one line naming the line that shows it is COIN-M and the symbol field."""
        line = one_line_error(["replay", str(path), "--symbol", "BTCUSDT", "--no-progress"], capsys)
        assert line.startswith(f"exsim: error: {path}:1: field 'symbol': the file holds COIN-M (coin-margined) contracts (line 1: ")
        assert "--symbol BTCUSDT is a USDⓈ-M symbol" in line and "did you mean" not in line

    def test_usdm_file_under_a_coin_m_symbol_names_the_evidence_line(self, capsys: pytest.CaptureFixture[str]) -> None:
        """A USDⓈ-M capture replayed as BTCUSD_PERP: one line naming its first BTCUSDT row."""
        path = HFT / "usdm_btcusdt_20240808.gz"
        line = one_line_error(["replay", str(path), "--symbol", "BTCUSD_PERP", "--no-progress"], capsys)
        assert line.startswith(f"exsim: error: {path}:2: field 'symbol': the file holds USDⓈ-M contracts (line 2: symbol BTCUSDT)")
        assert "--symbol BTCUSD_PERP is a COIN-M symbol" in line

    def test_quarterly_contract_is_refused_as_a_delivery_contract(self, capsys: pytest.CaptureFixture[str]) -> None:
        """A quarterly COIN-M contract of the cryptofeed capture: refused, naming its first row; exsim has no delivery."""
        path = CRYPTOFEED / "BINANCE_DELIVERY.ws.1.0"
        line = one_line_error(["replay", str(path), "--symbol", "BTCUSD_211231", "--no-progress"], capsys)
        assert line.startswith(f"exsim: error: {path}:79: field 'symbol': BTCUSD_211231 is a COIN-M quarterly (delivery) contract")
        assert "replay BTCUSD_PERP" in line

    def test_coin_margined_file_is_refused_as_index_file(self, capsys: pytest.CaptureFixture[str]) -> None:
        """A COIN-M contract's quotes are no index proxy: an index is a spot market's quotes."""
        line = one_line_error(
            ["replay", str(HFT / "usdm_btcusdt_20240808.gz"), "--index-file", str(HFT / "cm_btcusd_perp_20240808.gz"), "--no-progress"],
            capsys,
        )
        assert "field 'market': holds coin-margined (COIN-M) contracts (line 1: symbol BTCUSD_PERP); an index proxy is a spot market's quotes" in line


@needs_data
def test_spot_capture_is_an_index_proxy() -> None:
    """The spot capture beside the perpetual's is accepted as --index-file: the computed mark
    takes its best bid/ask mid as the index."""
    summary = Replay([HFT / "usdm_btcusdt_20240808.gz"], Passive(), index_files=[HFT / "spot_btcusdt_20240808.gz"]).run()
    assert "spot_btcusdt_20240808.gz (an index proxy" in summary["market_model"]["mark"]
