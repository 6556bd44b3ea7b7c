"""The REST side of the server: routing, parameters, errors, limits, listenKeys, control."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest
import yarl
from structlog.testing import capture_logs

from exsim.serve.app import MAX_BODY_BYTES, _is_loopback, merge_params, parse_json_body
from exsim.serve.binance import BinanceError
from exsim.serve.limits import RateLimits

from .server_harness import KEY, KEY2, WALL_MS, Clock, FakeVenue, extra_endpoints, run, serving, signed


@pytest.fixture(autouse=True)
def _endpoints() -> Any:
    with extra_endpoints():
        yield


async def _call(method: str, path: str, *, venue: Any = None, raw_query: str = "", **kwargs: Any) -> tuple[int, Any, Any]:
    """One request to a fresh server: (status, JSON body, headers)."""
    options = kwargs.pop("options", {})
    async with serving(venue or FakeVenue(), **options) as (base, _):
        async with aiohttp.ClientSession() as s:
            url = yarl.URL(f"{base}{path}" + (f"?{raw_query}" if raw_query else ""), encoded=True)
            async with s.request(method, url, **kwargs) as r:
                return r.status, await r.json(content_type=None), r.headers


class TestRouting:
    def test_public_endpoint_answers_its_handler_json(self) -> None:
        """A NONE endpoint gets no account and the query's parameters."""
        status, body, _ = run(_call("GET", "/fapi/v1/exsimTestEcho", raw_query="symbol=BTCUSDT&limit=5"))
        assert (status, body) == (200, {"account": None, "params": {"symbol": "BTCUSDT", "limit": "5"}})

    def test_unknown_path_is_404_naming_the_path(self) -> None:
        """A path exsim does not serve: 404, Binance-shaped, the path in the message."""
        status, body, _ = run(_call("GET", "/fapi/v1/noSuchThing"))
        assert status == 404 and body["code"] == -1000 and "/fapi/v1/noSuchThing" in body["msg"]

    def test_wrong_method_is_405_naming_the_served_ones(self) -> None:
        """DELETE on a GET/POST path: 405 saying which methods it serves."""
        status, body, _ = run(_call("DELETE", "/fapi/v1/exsimTestEcho"))
        assert status == 405 and body["code"] == -1000 and "GET, POST" in body["msg"]

    def test_handler_refusal_keeps_its_code_and_status(self) -> None:
        """A handler's BinanceError is the response: 400, its code and message."""
        status, body, _ = run(_call("GET", "/fapi/v1/exsimTestRefuse"))
        assert (status, body) == (400, {"code": -1121, "msg": "Invalid symbol."})

    def test_handler_bug_is_500_unknown_error_and_logged(self) -> None:
        """An exception in a handler: 500 -1000, and the log says what failed."""
        with capture_logs() as logs:
            status, body, _ = run(_call("GET", "/fapi/v1/exsimTestBug"))
        assert (status, body["code"]) == (500, -1000)
        assert any(e["event"] == "request failed" and "ZeroDivisionError" in e["reason"] for e in logs)

    def test_stopped_venue_is_503_saying_why(self) -> None:
        """A venue whose replay failed: 503, -1001, the reason in the message."""
        status, body, _ = run(_call("GET", "/fapi/v1/exsimTestStopped"))
        assert (status, body["code"]) == (503, -1001) and "bad row" in body["msg"]

    def test_refusal_is_logged_with_method_path_code_and_reason(self) -> None:
        """Every refused request is one log entry naming method, path, code and reason."""
        with capture_logs() as logs:
            run(_call("POST", "/fapi/v1/nothingHere"))
        refused = [e for e in logs if e["event"] == "request refused"]
        assert len(refused) == 1
        assert (refused[0]["method"], refused[0]["path"], refused[0]["code"]) == ("POST", "/fapi/v1/nothingHere", -1000)
        assert "/fapi/v1/nothingHere" in refused[0]["reason"]

    def test_websocket_path_without_upgrade_is_refused(self) -> None:
        """A plain GET on /ws is a Binance-shaped 400 saying to use a WebSocket client."""
        status, body, _ = run(_call("GET", "/ws/btcusdt@aggTrade"))
        assert status == 400 and "WebSocket" in body["msg"]


class TestParameters:
    def test_form_body_and_query_are_merged(self) -> None:
        """POST parameters from the form body and the query string reach the handler together."""
        status, body, _ = run(
            _call("POST", "/fapi/v1/exsimTestEcho", raw_query="symbol=BTCUSDT", data={"side": "BUY", "quantity": "0.010"})
        )
        assert body["params"] == {"side": "BUY", "quantity": "0.010", "symbol": "BTCUSDT"}

    def test_json_body_values_are_texts_as_written(self) -> None:
        """A JSON body's numbers keep their digits; booleans are true/false."""
        status, body, _ = run(
            _call("POST", "/fapi/v1/exsimTestEcho", json={"price": 61800.10, "reduceOnly": True, "quantity": "1"})
        )
        assert body["params"] == {"price": "61800.1", "reduceOnly": "true", "quantity": "1"}

    def test_query_wins_over_body(self) -> None:
        """A name in both the query and the body takes the query's value."""
        assert merge_params([("symbol", "A")], [("symbol", "B")]) == {"symbol": "A"}

    def test_duplicate_parameter_is_refused(self) -> None:
        """The same name twice in the query string: -1101."""
        status, body, _ = run(_call("GET", "/fapi/v1/exsimTestEcho", raw_query="symbol=A&symbol=B"))
        assert (status, body["code"]) == (400, -1101)

    def test_malformed_json_body_is_refused(self) -> None:
        """A JSON body that does not parse: 400, -1100, saying it is malformed."""
        status, body, _ = run(
            _call("POST", "/fapi/v1/exsimTestEcho", data=b'{"symbol": ', headers={"Content-Type": "application/json"})
        )
        assert (status, body["code"]) == (400, -1100) and "Malformed JSON" in body["msg"]

    def test_form_body_labelled_json_is_read_as_a_form(self) -> None:
        """A form body sent with Content-Type: application/json is still read (as Binance reads forms)."""
        status, body, _ = run(
            _call("POST", "/fapi/v1/exsimTestEcho", data=b"symbol=BTCUSDT&side=SELL", headers={"Content-Type": "application/json"})
        )
        assert (status, body["params"]) == (200, {"symbol": "BTCUSDT", "side": "SELL"})

    def test_json_body_must_be_an_object(self) -> None:
        """A JSON list body is refused (parameters are named)."""
        with pytest.raises(BinanceError) as err:
            parse_json_body("[1, 2]")
        assert err.value.code == -1100

    def test_non_utf8_body_is_refused(self) -> None:
        """Bytes that are not UTF-8: -1100."""
        status, body, _ = run(
            _call("POST", "/fapi/v1/exsimTestEcho", data=b"symbol=\xff\xfe",
                  headers={"Content-Type": "application/x-www-form-urlencoded"})
        )
        assert (status, body["code"]) == (400, -1100)

    def test_body_over_one_mebibyte_is_413(self) -> None:
        """A body over 1 MiB: 413, Binance-shaped."""
        status, body, _ = run(
            _call("POST", "/fapi/v1/exsimTestEcho", data=b"a=" + b"x" * MAX_BODY_BYTES,
                  headers={"Content-Type": "application/x-www-form-urlencoded"})
        )
        assert status == 413 and body["code"] == -1000 and "1 MiB" in body["msg"]


class TestRateLimits:
    def test_weight_header_on_every_response(self) -> None:
        """X-MBX-USED-WEIGHT-1M is on successes and on refusals (a 404 counts 1)."""

        async def go() -> list[str]:
            async with serving(FakeVenue()) as (base, _):
                async with aiohttp.ClientSession() as s:
                    seen = []
                    for path in ("/fapi/v1/exsimTestEcho", "/fapi/v1/nope", "/fapi/v1/exsimTestRefuse"):
                        async with s.get(base + path) as r:
                            seen.append(r.headers["X-MBX-USED-WEIGHT-1M"])
                    return seen

        assert run(go()) == ["1", "2", "3"]

    def test_endpoint_weight_is_counted(self) -> None:
        """An endpoint's weight (here from its parameters) adds to the minute's count."""
        _, _, headers = run(_call("GET", "/fapi/v1/exsimTestHeavy", raw_query="w=20"))
        assert headers["X-MBX-USED-WEIGHT-1M"] == "20"

    def test_past_the_limit_is_429_too_many_requests(self) -> None:
        """Past the per-minute weight: 429, -1003, the limit in the message."""
        clock = Clock()

        async def go() -> list[tuple[int, Any]]:
            limits = RateLimits(weight_per_minute=3, clock_ms=clock)
            async with serving(FakeVenue(), limits=limits, clock_ms=clock) as (base, _):
                async with aiohttp.ClientSession() as s:
                    out = []
                    for _ in range(4):
                        async with s.get(base + "/fapi/v1/exsimTestEcho") as r:
                            out.append((r.status, await r.json()))
                    return out

        out = run(go())
        assert [s for s, _ in out] == [200, 200, 200, 429]
        assert out[3][1]["code"] == -1003 and "3 requests per minute" in out[3][1]["msg"]

    def test_429_says_when_to_retry(self) -> None:
        """A 429 carries Retry-After: the seconds left in the current minute."""
        clock = Clock(60_000 * 1000 + 45_000)  # 45 s into a minute

        async def go() -> str:
            limits = RateLimits(weight_per_minute=1, clock_ms=clock)
            async with serving(FakeVenue(), limits=limits, clock_ms=clock) as (base, _):
                async with aiohttp.ClientSession() as s:
                    for _ in range(2):
                        async with s.get(base + "/fapi/v1/exsimTestEcho") as r:
                            retry = r.headers.get("Retry-After", "")
                    return retry

        assert run(go()) == "15"

    def test_a_new_minute_starts_from_zero(self) -> None:
        """The weight window is the wall-clock minute: the next minute serves again."""
        clock = Clock(60_000 * 1000)

        async def go() -> list[int]:
            limits = RateLimits(weight_per_minute=1, clock_ms=clock)
            async with serving(FakeVenue(), limits=limits, clock_ms=clock) as (base, _):
                async with aiohttp.ClientSession() as s:
                    out = []
                    for step in (0, 0, 60_000):
                        clock.ms += step
                        async with s.get(base + "/fapi/v1/exsimTestEcho") as r:
                            out.append(r.status)
                    return out

        assert run(go()) == [200, 429, 200]

    def test_limit_zero_counts_but_never_refuses(self) -> None:
        """A weight limit of 0 (exsim serve --weight-limit 0) counts in the header but serves."""
        clock = Clock()

        async def go() -> list[tuple[int, str]]:
            limits = RateLimits(weight_per_minute=0, clock_ms=clock)
            async with serving(FakeVenue(), limits=limits, clock_ms=clock) as (base, _):
                async with aiohttp.ClientSession() as s:
                    out = []
                    for _ in range(3):
                        async with s.get(base + "/fapi/v1/exsimTestHeavy?w=5000") as r:
                            out.append((r.status, r.headers["X-MBX-USED-WEIGHT-1M"]))
                    return out

        assert run(go()) == [(200, "5000"), (200, "10000"), (200, "15000")]

    def test_order_count_header_and_limit(self) -> None:
        """Order endpoints carry X-MBX-ORDER-COUNT-1M; past the limit: 429, -1015."""
        clock = Clock()

        async def go() -> list[tuple[int, str, Any]]:
            limits = RateLimits(orders_per_minute=2, clock_ms=clock)
            async with serving(FakeVenue(), limits=limits, clock_ms=clock) as (base, _):
                async with aiohttp.ClientSession(headers={"X-MBX-APIKEY": KEY}) as s:
                    out = []
                    for i in range(3):
                        url = yarl.URL(f"{base}/fapi/v1/exsimTestOrder?{signed({'i': i})}", encoded=True)
                        async with s.post(url) as r:
                            out.append((r.status, r.headers["X-MBX-ORDER-COUNT-1M"], await r.json()))
                    return out

        out = run(go())
        assert [(s, n) for s, n, _ in out] == [(200, "1"), (200, "2"), (429, "3")]
        assert out[2][2]["code"] == -1015


class TestListenKey:
    def test_post_put_delete_lifecycle(self) -> None:
        """POST makes a key (again: the same one), PUT extends it, DELETE ends it (then PUT is -1125)."""

        async def go() -> list[tuple[int, Any]]:
            async with serving(FakeVenue()) as (base, _):
                async with aiohttp.ClientSession(headers={"X-MBX-APIKEY": KEY}) as s:
                    out = []
                    for method in ("POST", "POST", "PUT", "DELETE", "PUT"):
                        async with s.request(method, base + "/fapi/v1/listenKey") as r:
                            out.append((r.status, await r.json()))
                    return out

        out = run(go())
        key = out[0][1]["listenKey"]
        assert len(key) == 64
        assert out[1] == (200, {"listenKey": key}) and out[2] == (200, {"listenKey": key})
        assert out[3] == (200, {})
        assert out[4][0] == 400 and out[4][1]["code"] == -1125

    def test_each_account_has_its_own_key(self) -> None:
        """Two API keys get two listenKeys."""

        async def go() -> set[str]:
            async with serving(FakeVenue()) as (base, _):
                async with aiohttp.ClientSession() as s:
                    keys = set()
                    for api_key in (KEY, KEY2):
                        async with s.post(base + "/fapi/v1/listenKey", headers={"X-MBX-APIKEY": api_key}) as r:
                            keys.add((await r.json())["listenKey"])
                    return keys

        assert len(run(go())) == 2

    def test_listen_key_needs_an_api_key(self) -> None:
        """No X-MBX-APIKEY: -2014 (USER_STREAM needs the key, not a signature)."""
        status, body, _ = run(_call("POST", "/fapi/v1/listenKey"))
        assert (status, body["code"]) == (401, -2014)


class TestControl:
    def test_state_is_the_venue_state(self) -> None:
        """GET /exsim/v1/state answers the venue's state()."""
        venue = FakeVenue()
        status, body, _ = run(_call("GET", "/exsim/v1/state", venue=venue))
        assert (status, body) == (200, venue.state())

    def test_advance_in_step_mode_moves_the_venue(self) -> None:
        """POST /exsim/v1/advance?ms=250 in step mode advances by 250 ms and answers the state."""
        venue = FakeVenue()
        before = venue.now_ns
        status, body, _ = run(_call("POST", "/exsim/v1/advance", venue=venue, raw_query="ms=250", options={"speed": "step"}))
        assert status == 200 and venue.advanced == [250] and body["time"] == (before // 1_000_000) + 250

    def test_advance_of_a_failed_replay_is_503(self) -> None:
        """advance when the replay has failed (a bad row): 503, -1001, saying why."""
        from exsim.errors import InputError

        class Failing(FakeVenue):
            async def advance(self, ms: int) -> dict[str, Any]:
                raise InputError("price 'x' is not a number", where="data.csv:12", field="price")

        status, body, _ = run(_call("POST", "/exsim/v1/advance", venue=Failing(), raw_query="ms=5", options={"speed": "step"}))
        assert (status, body["code"]) == (503, -1001) and "data.csv:12" in body["msg"]

    def test_advance_outside_step_mode_is_refused(self) -> None:
        """advance at --speed max: 400 naming the speed; the venue does not move."""
        venue = FakeVenue()
        status, body, _ = run(_call("POST", "/exsim/v1/advance", venue=venue, raw_query="ms=250"))
        assert status == 400 and "--speed max" in body["msg"] and venue.advanced == []

    def test_advance_needs_whole_ms(self) -> None:
        """advance?ms=abc: -1130 naming the parameter."""
        status, body, _ = run(_call("POST", "/exsim/v1/advance", raw_query="ms=abc", options={"speed": "step"}))
        assert status == 400 and body["code"] == -1130 and "'ms'" in body["msg"]

    def test_unknown_control_path_is_404(self) -> None:
        """An /exsim/ path that is not a control path: 404 listing the control paths."""
        status, body, _ = run(_call("GET", "/exsim/v1/nothing"))
        assert status == 404 and "/exsim/v1/advance" in body["msg"]

    def test_control_paths_serve_loopback_only(self) -> None:
        """Loopback addresses are served; others are not."""
        assert [_is_loopback(h) for h in ("127.0.0.1", "::1", "10.0.0.2", None)] == [True, True, False, False]
