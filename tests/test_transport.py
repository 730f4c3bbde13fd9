"""The HTTP providers' transport: keep-alive per thread, dropped connections, proxies, size cap."""

from __future__ import annotations

import http.client
import json
import socket
import threading

import pytest
from rawhttp import ANSWER, one_answer_then_close, raw_server, read_request, reply

from evalgate.errors import ProviderError
from evalgate.providers._deadline import Attempt
from evalgate.providers._transport import BodyTooLarge, Transport, _parse_header_lines, _proxy_for
from evalgate.providers._wire import Reply, _charset, _encoded, json_object, post_json


def test_a_connection_the_server_dropped_while_idle_is_replaced_without_an_error() -> None:
    with raw_server(one_answer_then_close) as (port, heads):
        transport = Transport(f"http://127.0.0.1:{port}/v1/chat/completions")
        try:
            for _ in range(3):
                with Attempt(5) as attempt:
                    response = transport.post(b"{}", {"Content-Type": "application/json"}, attempt, 1000)
                assert response.status == 200
                assert response.body == ANSWER
        finally:
            transport.close()
    assert len(heads) == 3
    assert heads[0].startswith(b"POST /v1/chat/completions HTTP/1.1")


def test_connections_are_kept_alive_one_per_thread() -> None:
    connections: list[int] = []

    def keep_alive(conn: socket.socket, heads: list[bytes]) -> None:
        connections.append(1)
        with conn:
            while head := read_request(conn):
                heads.append(head)
                conn.sendall(reply())

    with raw_server(keep_alive) as (port, heads):
        transport = Transport(f"http://127.0.0.1:{port}/v1/chat/completions")

        def work() -> None:
            for _ in range(5):
                with Attempt(5) as attempt:
                    transport.post(b"{}", {}, attempt, 1000)

        threads = [threading.Thread(target=work) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        transport.close()
    assert len(heads) == 15
    assert len(connections) == 3


def test_a_body_over_the_cap_is_refused_before_it_is_read() -> None:
    def huge(conn: socket.socket, heads: list[bytes]) -> None:
        with conn:
            heads.append(read_request(conn))
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 50000000\r\n\r\n" + b"x" * 1000)

    with raw_server(huge) as (port, _):
        transport = Transport(f"http://127.0.0.1:{port}/v1")
        with Attempt(5) as attempt, pytest.raises(BodyTooLarge):
            transport.post(b"{}", {}, attempt, 10_000)
        transport.close()


def test_conflicting_content_lengths_are_refused() -> None:
    """The event-loop transport refuses them too (tests/test_async_transport.py): neither picks one."""

    def two_lengths(conn: socket.socket, heads: list[bytes]) -> None:
        with conn:
            heads.append(read_request(conn))
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 4\r\n\r\nokay")

    with raw_server(two_lengths) as (port, _):
        transport = Transport(f"http://127.0.0.1:{port}/v1")
        with Attempt(5) as attempt, pytest.raises(http.client.HTTPException, match="conflicting"):
            transport.post(b"{}", {}, attempt, 10_000)
        transport.close()
    same = _parse_header_lines([b"Content-Length: 4\r\n", b"content-length: 4\r\n"])
    assert same.get("content-length") == "4"  # repeated with one value: harmless, kept


def test_a_plain_http_proxy_gets_the_absolute_url_and_its_credentials() -> None:
    with raw_server(one_answer_then_close) as (port, heads):
        env = {"HTTP_PROXY": f"http://bob:s%40cret@127.0.0.1:{port}", "NO_PROXY": "internal.example"}
        transport = Transport("http://models.example:8000/v1/chat/completions", env=env)
        with Attempt(5) as attempt:
            assert transport.post(b"{}", {}, attempt, 1000).status == 200
        transport.close()
    head = heads[0].decode()
    assert head.startswith("POST http://models.example:8000/v1/chat/completions HTTP/1.1")
    assert "Proxy-Authorization: Basic Ym9iOnNAY3JldA==" in head  # bob:s@cret


@pytest.mark.parametrize(
    ("env", "url", "expected"),
    [
        ({}, "https://api.openai.com/v1", None),
        ({"HTTPS_PROXY": "proxy:3128"}, "https://api.openai.com/v1", ("proxy", 3128)),
        ({"https_proxy": "http://proxy:3128"}, "http://api.example/v1", None),
        ({"ALL_PROXY": "http://proxy:8080"}, "http://api.example/v1", ("proxy", 8080)),
        ({"HTTPS_PROXY": "http://proxy:3128", "NO_PROXY": ".openai.com"}, "https://api.openai.com/v1", None),
        ({"HTTPS_PROXY": "http://proxy:3128", "no_proxy": "*"}, "https://api.openai.com/v1", None),
        (
            {"HTTPS_PROXY": "http://proxy:3128", "NO_PROXY": "other.com"},
            "https://api.openai.com/v1",
            ("proxy", 3128),
        ),
    ],
)
def test_the_proxy_is_chosen_like_requests_chooses_it(
    env: dict[str, str], url: str, expected: tuple[str, int] | None
) -> None:
    scheme, _, rest = url.partition("://")
    found = _proxy_for(scheme, rest.split("/")[0], env)
    assert (found[:2] if found else None) == expected


def test_post_json_turns_an_unencodable_body_into_a_clear_non_retryable_error() -> None:
    transport = Transport("http://127.0.0.1:9/v1")
    with pytest.raises(ProviderError, match="cannot send the request") as info:
        post_json(transport, body={"x": float("nan")}, headers={}, timeout_s=1, what="HTTP endpoint (m)")
    assert info.value.retryable is False


@pytest.mark.parametrize(
    "body",
    [
        {"x": float("inf")},
        {"x": [1.0, float("-inf")]},
        {"x": 1, "nested": {"y": float("nan")}},
    ],
)
def test_a_non_finite_number_is_never_sent(body: dict[str, object]) -> None:
    with pytest.raises(ProviderError, match="cannot send the request"):
        _encoded(body, "HTTP endpoint (m)")


@pytest.mark.parametrize(
    "body",
    [
        {"model": "m", "messages": [{"role": "user", "content": "plain"}], "temperature": 0.2},
        {"content": "NaN and Infinity as words", "n": 1e-7, "big": 2**70},
        {"content": "naïve café 日本 🙂"},
        {"content": "a lone \ud800 surrogate"},
        {"t": (1, 2), "none": None, "flag": True, "neg": -0.0},
    ],
)
def test_request_bodies_are_the_json_of_what_was_asked(body: dict[str, object]) -> None:
    """Whichever encoder ran, the server reads back exactly the body that was asked for."""
    sent = _encoded(body, "HTTP endpoint (m)")
    expected = json.loads(json.dumps(body))
    assert json.loads(sent) == expected


@pytest.mark.parametrize(
    ("content", "encoding", "expected"),
    [
        (b'{"a": "caf\xc3\xa9", "n": 1.5}', None, {"a": "café", "n": 1.5}),
        (b'{"a": "caf\xe9"}', "ISO-8859-1", {"a": "café"}),  # another charset: the text is parsed
        (b'{"a": "\\ud800x"}', "utf-8", {"a": "\ud800x"}),  # an escaped lone surrogate
        (b'{"a": "bad \xff byte"}', None, {"a": "bad \ufffd byte"}),  # invalid UTF-8: replaced, as before
        (b'{"a": 1, "a": 2}', None, {"a": 2}),  # a repeated key: the last one, like json
    ],
)
def test_answers_parse_like_json_did(content: bytes, encoding: str | None, expected: object) -> None:
    assert Reply(200, "OK", {}, content, encoding).json() == expected


def test_an_answer_nested_too_deeply_is_not_json_rather_than_a_crash() -> None:
    """A broken or hostile server's 200 kB of brackets: a clear, non-retryable error, not RecursionError."""
    deep = Reply(200, "OK", {}, b"[" * 100_000 + b"]" * 100_000)
    with pytest.raises(ValueError, match="nested too deeply"):
        deep.json()
    with pytest.raises(ProviderError, match="returned a body that is not JSON") as info:
        json_object(deep, what="OpenAI (m)")
    assert info.value.retryable is False


def test_an_answer_that_is_not_json_is_a_value_error_worded_by_json() -> None:
    with pytest.raises(json.JSONDecodeError):
        Reply(200, "OK", {}, b"<html>oops</html>").json()


@pytest.mark.parametrize(
    ("content_type", "charset"),
    [
        ("application/json", None),
        ("application/json; charset=utf-16", "utf-16"),
        ("text/plain", "ISO-8859-1"),
        ('text/html; charset="UTF-8"', "UTF-8"),
    ],
)
def test_the_body_encoding_is_read_from_content_type(content_type: str, charset: str | None) -> None:
    assert _charset({"content-type": content_type}) == charset


def test_response_headers_are_parsed_without_the_email_package() -> None:
    lines = [
        b"Content-Type: application/json\r\n",
        b"Retry-After: 7\r\n",
        b"X-Long: first\r\n",
        b"\tcontinued\r\n",
        b"Set-Cookie: a=1\r\n",
        b"set-cookie: b=2\r\n",
        b"\r\n",
    ]
    headers = _parse_header_lines(lines)
    assert headers.get("retry-after") == "7"
    assert headers.get("CONTENT-TYPE") == "application/json"
    assert headers.get("x-long") == "first continued"
    assert headers.get_all("Set-Cookie") == ["a=1", "b=2"]
    assert headers.get("missing", "none") == "none"


def test_chunked_and_close_delimited_bodies_are_read_whole() -> None:
    def chunked(conn: socket.socket, heads: list[bytes]) -> None:
        with conn:
            heads.append(read_request(conn))
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
            )
            heads.append(read_request(conn))
            conn.sendall(b"HTTP/1.0 429 Too Many Requests\r\nRetry-After: 3\r\n\r\nslow down")

    with raw_server(chunked) as (port, _):
        transport = Transport(f"http://127.0.0.1:{port}/v1")
        with Attempt(5) as attempt:
            first = transport.post(b"{}", {}, attempt, 1000)
        with Attempt(5) as attempt:
            second = transport.post(b"{}", {}, attempt, 1000)
        transport.close()
    assert (first.status, first.body) == (200, b"abcde")
    assert (second.status, second.reason, second.body) == (429, "Too Many Requests", b"slow down")
    assert second.headers["retry-after"] == "3"


def test_a_header_value_with_a_line_break_is_refused_not_sent() -> None:
    with raw_server(one_answer_then_close) as (port, heads):
        transport = Transport(f"http://127.0.0.1:{port}/v1")
        with pytest.raises(ProviderError, match="cannot send the request") as info:
            post_json(
                transport,
                body={},
                headers={"X-Team": "a\r\nX-Injected: 1"},
                timeout_s=2,
                what="HTTP endpoint (m)",
            )
        transport.close()
    assert info.value.retryable is False
    assert heads == []


def test_the_request_names_its_host_and_length() -> None:
    with raw_server(one_answer_then_close) as (port, heads):
        transport = Transport(f"http://127.0.0.1:{port}/v1/chat/completions")
        with Attempt(5) as attempt:
            transport.post(b'{"a": 1}', {"Authorization": "Bearer k"}, attempt, 1000)
        transport.close()
    head = heads[0].decode()
    assert f"\r\nHost: 127.0.0.1:{port}\r\n" in head
    assert "\r\nContent-Length: 8" in head
    assert "\r\nAuthorization: Bearer k\r\n" in head


def test_the_raw_server_leaves_no_thread_behind_to_accept_on_a_reused_descriptor() -> None:
    # its accept() loop used to outlive the block, still answering, and free to accept on a reused descriptor
    before = set(threading.enumerate())
    with raw_server(one_answer_then_close) as (port, heads):
        transport = Transport(f"http://127.0.0.1:{port}/v1")
        with Attempt(5) as attempt:
            assert transport.post(b"{}", {}, attempt, 1000).status == 200
        transport.close()
    assert [t.name for t in threading.enumerate() if t not in before] == []
    assert len(heads) == 1
