"""Keys, signatures, timestamp and recvWindow: Binance's rules, pure and over HTTP."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
import yarl

from exsim.serve import auth
from exsim.serve.binance import BinanceError, Params

from .server_harness import KEY, KEY2, SECRET, SECRET2, WALL_MS, FakeVenue, extra_endpoints, run, serving, signed

KEYS = {KEY: (1, SECRET), KEY2: (2, SECRET2)}


@pytest.fixture(autouse=True)
def _endpoints() -> Any:
    with extra_endpoints():
        yield


def _check(query: str, body: str = "", api_key: str | None = KEY, now_ms: int = WALL_MS) -> int:
    values = dict(p.split("=", 1) for p in (query + ("&" if query and body else "") + body).split("&") if p)
    return auth.check_signed(KEYS, api_key, query, body, Params(values), lambda: now_ms)


class TestSignature:
    def test_signature_over_the_query_string_is_accepted(self) -> None:
        """A request signed over its query string passes and names the key's account."""
        assert _check(signed({"symbol": "BTCUSDT"})) == 1

    def test_second_key_is_the_second_account(self) -> None:
        """Each key signs for its own account."""
        assert _check(signed({"symbol": "BTCUSDT"}, SECRET2), api_key=KEY2) == 2

    def test_signature_over_query_then_body_is_accepted(self) -> None:
        """totalParams is the query string followed by the body, without a separator."""
        query = "symbol=BTCUSDT&side=BUY"
        body = f"quantity=1&timestamp={WALL_MS}"
        body += "&signature=" + auth.sign(SECRET, query + body)
        assert _check(query, body) == 1

    def test_signature_with_an_ampersand_between_parts_is_refused(self) -> None:
        """Signing query + '&' + body is not Binance's totalParams: -1022."""
        query = "symbol=BTCUSDT"
        body = f"timestamp={WALL_MS}"
        body += "&signature=" + auth.sign(SECRET, query + "&" + body)
        with pytest.raises(BinanceError) as err:
            _check(query, body)
        assert (err.value.code, err.value.http_status) == (-1022, 401)

    def test_signature_of_another_secret_is_refused(self) -> None:
        """A signature made with another secret is -1022."""
        with pytest.raises(BinanceError) as err:
            _check(signed({"symbol": "BTCUSDT"}, SECRET2))
        assert err.value.code == -1022

    def test_upper_case_hex_signature_is_accepted(self) -> None:
        """The hex digest is compared without regard to case."""
        text = f"symbol=BTCUSDT&timestamp={WALL_MS}"
        assert _check(f"{text}&signature={auth.sign(SECRET, text).upper()}") == 1

    def test_missing_signature_is_mandatory_parameter_error(self) -> None:
        """No signature: -1102 naming 'signature'."""
        with pytest.raises(BinanceError) as err:
            _check(f"symbol=BTCUSDT&timestamp={WALL_MS}")
        assert err.value.code == -1102 and "'signature'" in err.value.msg


class TestKeys:
    def test_missing_key_is_format_invalid(self) -> None:
        """No X-MBX-APIKEY header: -2014."""
        with pytest.raises(BinanceError) as err:
            _check(signed({}), api_key=None)
        assert err.value.code == -2014

    def test_malformed_key_is_format_invalid(self) -> None:
        """A key with characters no key has: -2014."""
        with pytest.raises(BinanceError) as err:
            _check(signed({}), api_key="not a key!")
        assert err.value.code == -2014

    def test_unknown_key_is_rejected(self) -> None:
        """A well-formed key no account has: -2015, HTTP 401."""
        with pytest.raises(BinanceError) as err:
            _check(signed({}), api_key="A" * 64)
        assert (err.value.code, err.value.http_status) == (-2015, 401)

    def test_new_keys_have_binance_shape(self) -> None:
        """Generated keys are 64 letters and digits, and differ."""
        a, b = auth.new_key(), auth.new_key()
        assert len(a) == 64 and a.isalnum() and a != b


class TestTimestamp:
    def test_missing_timestamp_is_mandatory(self) -> None:
        """No timestamp: -1102 naming 'timestamp'."""
        with pytest.raises(BinanceError) as err:
            auth.check_timestamp(Params({}), WALL_MS)
        assert err.value.code == -1102 and "'timestamp'" in err.value.msg

    def test_timestamp_older_than_default_window_is_refused(self) -> None:
        """5001 ms behind the server with the default recvWindow (5000): -1021."""
        with pytest.raises(BinanceError) as err:
            auth.check_timestamp(Params({"timestamp": str(WALL_MS - 5001)}), WALL_MS)
        assert err.value.code == -1021

    def test_timestamp_at_the_window_edge_is_accepted(self) -> None:
        """Exactly recvWindow ms behind is still inside it."""
        auth.check_timestamp(Params({"timestamp": str(WALL_MS - 5000)}), WALL_MS)

    def test_wider_recv_window_accepts_older_timestamp(self) -> None:
        """recvWindow=60000 accepts a request 59 s old."""
        auth.check_timestamp(Params({"timestamp": str(WALL_MS - 59_000), "recvWindow": "60000"}), WALL_MS)

    def test_recv_window_over_60000_is_refused(self) -> None:
        """recvWindow above Binance's maximum: -1131."""
        with pytest.raises(BinanceError) as err:
            auth.check_timestamp(Params({"timestamp": str(WALL_MS), "recvWindow": "60001"}), WALL_MS)
        assert err.value.code == -1131

    def test_timestamp_a_second_ahead_is_refused(self) -> None:
        """1000 ms ahead of the server's clock: -1021, saying it is ahead."""
        with pytest.raises(BinanceError) as err:
            auth.check_timestamp(Params({"timestamp": str(WALL_MS + 1000)}), WALL_MS)
        assert err.value.code == -1021 and "ahead" in err.value.msg

    def test_timestamp_on_the_venue_clock_is_accepted(self) -> None:
        """A client that synced its clock from /time signs with the replay's time: served."""
        venue_ms = 1_641_000_000_000
        auth.check_timestamp(Params({"timestamp": str(venue_ms - 100)}), WALL_MS, venue_ms)

    def test_timestamp_on_neither_clock_is_refused(self) -> None:
        """A timestamp far from both the wall clock and the venue's: -1021."""
        with pytest.raises(BinanceError) as err:
            auth.check_timestamp(Params({"timestamp": str(WALL_MS - 3_600_000)}), WALL_MS, 1_641_000_000_000)
        assert err.value.code == -1021

    def test_timestamp_slightly_ahead_is_accepted(self) -> None:
        """999 ms ahead is accepted (clocks differ a little)."""
        auth.check_timestamp(Params({"timestamp": str(WALL_MS + 999)}), WALL_MS)


async def _get(path: str, query: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    async with serving(FakeVenue()) as (base, _):
        async with aiohttp.ClientSession() as s:
            # (encoded=True: sent exactly as signed, as ccxt sends it; yarl would re-quote)
            async with s.get(yarl.URL(f"{base}{path}?{query}", encoded=True), headers=headers or {}) as r:
                return r.status, await r.json()


class TestOverHttp:
    def test_signed_request_reaches_handler_with_account_and_without_signature(self) -> None:
        """The handler gets the key's account and every parameter but the signature."""
        status, body = run(_get("/fapi/v1/exsimTestSigned", signed({"symbol": "BTCUSDT"}), {"X-MBX-APIKEY": KEY}))
        assert status == 200
        assert body == {"account": 1, "params": {"symbol": "BTCUSDT", "timestamp": str(WALL_MS)}}

    def test_signed_request_with_bad_signature_is_401(self) -> None:
        """A wrong signature over HTTP: 401 with Binance's -1022 body."""
        status, body = run(_get("/fapi/v1/exsimTestSigned", signed({"symbol": "BTCUSDT"}, SECRET2), {"X-MBX-APIKEY": KEY}))
        assert (status, body["code"]) == (401, -1022)

    def test_signed_request_without_key_header_is_401(self) -> None:
        """No X-MBX-APIKEY on a SIGNED path: 401, -2014."""
        status, body = run(_get("/fapi/v1/exsimTestSigned", signed({})))
        assert (status, body["code"]) == (401, -2014)

    def test_percent_encoded_values_are_signed_as_sent(self) -> None:
        """The signature covers the encoded text the client sent; the handler sees it decoded."""
        status, body = run(
            _get("/fapi/v1/exsimTestSigned", signed({"newClientOrderId": "a/b c"}), {"X-MBX-APIKEY": KEY})
        )
        assert status == 200 and body["params"]["newClientOrderId"] == "a/b c"

    def test_stale_timestamp_over_http_is_400(self) -> None:
        """An old timestamp over HTTP: 400, -1021 (the server's wall clock decides)."""
        status, body = run(
            _get("/fapi/v1/exsimTestSigned", signed({}, timestamp=WALL_MS - 10_000), {"X-MBX-APIKEY": KEY})
        )
        assert (status, body["code"]) == (400, -1021)
