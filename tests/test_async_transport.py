"""The event-loop transport: keep-alive pool, dropped and stale connections, proxies and CONNECT tunnels,
response framing, http.client's errors and limits, cancellation."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import gc
import http.client
import ipaddress
import json
import select
import socket
import ssl
import struct
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest
from rawhttp import ANSWER, one_answer_then_close, raw_server, read_message, read_request, reply

from evalgate.providers._async_connection import Connection
from evalgate.providers._async_transport import AsyncTransport
from evalgate.providers._transport import BodyTooLarge, Response
from evalgate.testing import FakeModelServer

Handler = Callable[[socket.socket, list[bytes]], None]


def post_all(transport: AsyncTransport, count: int = 1, *, concurrent: bool = False) -> list[Response]:
    """``count`` POSTs on a fresh loop, one after another or all at once."""

    async def go() -> list[Response]:
        if concurrent:
            return list(await asyncio.gather(*(transport.post(b"{}", {}, 1000) for _ in range(count))))
        return [await transport.post(b"{}", {}, 1000) for _ in range(count)]

    return asyncio.run(go())


def scripted(*replies: tuple[bytes, bool], connections: list[int] | None = None) -> Handler:
    """Answers requests with ``replies`` in order, across connections; ``(data, True)`` closes after it."""
    queue = list(replies)
    lock = threading.Lock()

    def handle(conn: socket.socket, heads: list[bytes]) -> None:
        if connections is not None:
            connections.append(1)
        with conn:
            while head := read_request(conn):
                heads.append(head)
                with lock:
                    data, close = queue.pop(0) if queue else (b"", True)
                conn.sendall(data)
                if close:
                    return

    return handle


def keep_alive(connections: list[int]) -> Handler:
    def handle(conn: socket.socket, heads: list[bytes]) -> None:
        connections.append(1)
        with conn:
            while head := read_request(conn):
                heads.append(head)
                conn.sendall(reply())

    return handle


def test_a_connection_the_server_dropped_while_idle_is_replaced_without_an_error() -> None:
    with raw_server(one_answer_then_close) as (port, heads):
        transport = AsyncTransport(f"http://127.0.0.1:{port}/v1/chat/completions", env={})

        async def go() -> list[Response]:
            answers = []
            for _ in range(3):
                answers.append(await transport.post(b"{}", {"Content-Type": "application/json"}, 1000))
                await asyncio.sleep(0.02)  # the server's close arrives while the connection is idle
            return answers

        answers = asyncio.run(go())
        transport.close()
    assert [(a.status, a.body) for a in answers] == [(200, ANSWER)] * 3
    assert len(heads) == 3
    assert heads[0].startswith(b"POST /v1/chat/completions HTTP/1.1")


def test_sequential_posts_share_one_connection_and_concurrent_ones_open_several() -> None:
    connections: list[int] = []
    with raw_server(keep_alive(connections)) as (port, heads):
        transport = AsyncTransport(f"http://127.0.0.1:{port}/v1", env={})
        assert [r.status for r in post_all(transport, 5)] == [200] * 5
        assert len(connections) == 1

        async def twice_three_at_once() -> None:
            for _ in range(2):
                await asyncio.gather(*(transport.post(b"{}", {}, 1000) for _ in range(3)))

        asyncio.run(twice_three_at_once())
        transport.close()
    assert len(heads) == 11
    assert len(connections) == 1 + 3  # the second three reused the first three's connections


def test_a_reused_connection_the_server_dropped_mid_request_is_retried_once_on_a_fresh_one() -> None:
    connections: list[int] = []
    handler = scripted((reply(), False), (b"", True), (reply(b"again"), False), connections=connections)
    with raw_server(handler) as (port, heads):
        transport = AsyncTransport(f"http://127.0.0.1:{port}/v1", env={})
        first, second = post_all(transport, 2)
        transport.close()
    assert (first.body, second.body) == (ANSWER, b"again")
    assert (len(heads), len(connections)) == (3, 2)


def test_a_reused_connection_that_failed_after_part_of_an_answer_is_not_retried() -> None:
    connections: list[int] = []
    handler = scripted(
        (reply(), False), (b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\npart", True), connections=connections
    )
    with raw_server(handler) as (port, heads):
        transport = AsyncTransport(f"http://127.0.0.1:{port}/v1", env={})
        with pytest.raises(http.client.IncompleteRead, match=r"4 bytes read, 5 more expected"):
            post_all(transport, 2)
        transport.close()
    assert (len(heads), len(connections)) == (2, 1)


def test_a_reset_mid_body_is_a_connection_reset_error() -> None:
    def reset(conn: socket.socket, heads: list[bytes]) -> None:
        heads.append(read_request(conn))
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npart")
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        time.sleep(0.05)  # the part arrives first
        conn.close()  # with SO_LINGER 0: a reset, not a FIN

    with raw_server(reset) as (port, heads):
        transport = AsyncTransport(f"http://127.0.0.1:{port}/v1", env={})
        with pytest.raises(ConnectionResetError):
            post_all(transport)
        transport.close()
    assert len(heads) == 1


def test_stray_bytes_after_an_answer_keep_its_connection_out_of_the_pool() -> None:
    connections: list[int] = []
    handler = scripted((reply() + b"HTTP/1.1 200 OK", False), (reply(b"2"), False), connections=connections)
    with raw_server(handler) as (port, _):
        transport = AsyncTransport(f"http://127.0.0.1:{port}/v1", env={})
        assert [r.body for r in post_all(transport, 2)] == [ANSWER, b"2"]
        transport.close()
    assert len(connections) == 2


def test_close_fails_the_posts_in_flight_and_the_transport_stays_usable() -> None:
    answer_now = threading.Event()

    def slow(conn: socket.socket, heads: list[bytes]) -> None:
        with conn:
            while head := read_request(conn):
                heads.append(head)
                if len(heads) == 1:
                    answer_now.wait(5)
                conn.sendall(reply())

    with raw_server(slow) as (port, heads):
        transport = AsyncTransport(f"http://127.0.0.1:{port}/v1", env={})

        async def go() -> int:
            pending = asyncio.ensure_future(transport.post(b"{}", {}, 1000))
            while not heads:
                await asyncio.sleep(0.005)
            transport.close()
            with pytest.raises(ConnectionAbortedError):
                await pending
            answer_now.set()
            return (await transport.post(b"{}", {}, 1000)).status

        assert asyncio.run(go()) == 200
        transport.close()
    assert len(heads) == 2


def test_a_fresh_connection_closed_without_an_answer_raises_remote_disconnected() -> None:
    with raw_server(scripted((b"", True), (reply(), False))) as (port, heads):
        transport = AsyncTransport(f"http://127.0.0.1:{port}/v1", env={})
        with pytest.raises(http.client.RemoteDisconnected):
            post_all(transport)
        transport.close()
    assert len(heads) == 1


def test_a_refused_connection_is_a_connection_error() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    with pytest.raises(ConnectionRefusedError):
        post_all(AsyncTransport(f"http://127.0.0.1:{port}/v1", env={}))


def test_a_body_over_the_cap_is_refused_before_it_is_read() -> None:
    def huge(conn: socket.socket, heads: list[bytes]) -> None:
        with conn:
            heads.append(read_request(conn))
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 50000000\r\n\r\n" + b"x" * 1000)
            conn.recv(1)  # until the client gives up on it

    with raw_server(huge) as (port, _):
        transport = AsyncTransport(f"http://127.0.0.1:{port}/v1", env={})

        async def go() -> None:
            await transport.post(b"{}", {}, 10_000)

        with pytest.raises(BodyTooLarge):
            asyncio.run(go())
        transport.close()


def test_a_plain_http_proxy_gets_the_absolute_url_and_its_credentials() -> None:
    with raw_server(one_answer_then_close) as (port, heads):
        env = {"HTTP_PROXY": f"http://bob:s%40cret@127.0.0.1:{port}", "NO_PROXY": "internal.example"}
        transport = AsyncTransport("http://models.example:8000/v1/chat/completions", env=env)
        assert post_all(transport)[0].status == 200
        transport.close()
    head = heads[0].decode()
    assert head.startswith("POST http://models.example:8000/v1/chat/completions HTTP/1.1")
    assert "Proxy-Authorization: Basic Ym9iOnNAY3JldA==" in head  # bob:s@cret
    assert "\r\nHost: models.example:8000\r\n" in head


def test_chunked_and_close_delimited_bodies_are_read_whole() -> None:
    connections: list[int] = []
    chunked = (
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: 1\r\n\r\n"
    )
    limited = b"HTTP/1.0 429 Too Many Requests\r\nRetry-After: 3\r\n\r\nslow down"
    handler = scripted((chunked, False), (limited, True), (reply(), False), connections=connections)
    with raw_server(handler) as (port, _):
        transport = AsyncTransport(f"http://127.0.0.1:{port}/v1", env={})
        first, second, third = post_all(transport, 3)
        transport.close()
    assert (first.status, first.body) == (200, b"abcde")
    assert (second.status, second.reason, second.body) == (429, "Too Many Requests", b"slow down")
    assert second.headers["retry-after"] == "3"
    assert third.body == ANSWER
    assert len(connections) == 2  # a close-delimited body ends its connection


def test_connection_close_is_honoured() -> None:
    connections: list[int] = []
    handler = scripted(
        (reply(extra="Connection: close\r\n"), False), (reply(), False), connections=connections
    )
    with raw_server(handler) as (port, _):
        transport = AsyncTransport(f"http://127.0.0.1:{port}/v1", env={})
        assert [r.status for r in post_all(transport, 2)] == [200, 200]
        transport.close()
    assert len(connections) == 2


@pytest.mark.parametrize(
    ("answer", "error", "match"),
    [
        (b"garbage\r\n\r\n", http.client.BadStatusLine, "garbage"),
        (b"HTTP/1.1 abc OK\r\n\r\n", http.client.BadStatusLine, "abc"),
        (b"HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n", http.client.UnknownProtocol, "HTTP/2.0"),
        (b"HTTP/1.1 200 OK\r\nX-Long: " + b"a" * 70_000 + b"\r\n\r\n", http.client.LineTooLong, "header"),
        (b"HTTP/1.1 200 OK\r\n" + b"X: 1\r\n" * 101 + b"\r\n", http.client.HTTPException, "more than 100"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", http.client.IncompleteRead, "3 bytes read"),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
            http.client.IncompleteRead,
            r"\(2 bytes read\)",
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            http.client.IncompleteRead,
            r"\(0 bytes read\)",
        ),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nabc", http.client.IncompleteRead, None),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n7d0\r\n", BodyTooLarge, None),
        (b"HTTP/1.1 200 OK\r\n\r\n" + b"x" * 1001, BodyTooLarge, None),
        (b"HTTP/1.1 200 OK\r\nContent-Le", http.client.IncompleteRead, "bytes read"),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\ncontent-length: 4\r\n\r\nokay",
            http.client.HTTPException,
            "conflicting Content-Length headers: 2, 4",
        ),
    ],
)
def test_broken_answers_raise_what_http_client_raises(
    answer: bytes, error: type[Exception], match: str | None
) -> None:
    with raw_server(scripted((answer, True))) as (port, _):
        transport = AsyncTransport(f"http://127.0.0.1:{port}/v1", env={})
        with pytest.raises(error, match=match):
            post_all(transport)
        transport.close()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n"
            b"3\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nX-T: 2\r\n\r\n",
            (200, "OK", b"abc0123456789abcdef", "1"),
        ),
        (
            b"HTTP/1.1 201 Created\r\nX-A: 2\r\nContent-Length: 5\r\n\r\nhello",
            (201, "Created", b"hello", "2"),
        ),
        (b"HTTP/1.1 204 No Content\n\n", (204, "No Content", b"", None)),
        (b"HTTP/1.1 200 OK\r\nX-A: 3\r\nContent-Length: 2\r\n\nok", (200, "OK", b"ok", "3")),
        (b"HTTP/1.1 200 OK\nContent-Length: 3\nX-A: 4\n\n\r\n!", (200, "OK", b"\r\n!", "4")),
    ],
)
def test_a_response_split_anywhere_parses_the_same(
    raw: bytes, expected: tuple[int, str, bytes, str | None]
) -> None:
    async def split_everywhere() -> None:
        loop = asyncio.get_running_loop()
        splits = [[raw[:cut], raw[cut:]] for cut in range(1, len(raw))]
        splits.append([raw[i : i + 1] for i in range(len(raw))])
        for pieces in splits:
            conn = Connection()
            waiter = conn.waiter = loop.create_future()
            conn.max_bytes = 1000
            for piece in pieces:
                assert not waiter.done(), pieces
                conn.data_received(piece)
            answer = waiter.result()
            assert (answer.status, answer.reason, answer.body, answer.headers.get("x-a")) == expected
            assert conn.usable
            assert conn.waiter is None

    asyncio.run(split_everywhere())


def test_a_header_value_with_a_line_break_is_refused_not_sent() -> None:
    with raw_server(one_answer_then_close) as (port, heads):
        transport = AsyncTransport(f"http://127.0.0.1:{port}/v1", env={})

        async def go() -> None:
            await transport.post(b"{}", {"X-Team": "a\r\nX-Injected: 1"}, 1000)

        with pytest.raises(ValueError, match="Invalid header value"):
            asyncio.run(go())
        transport.close()
    assert heads == []


def test_the_request_names_its_host_and_length() -> None:
    with raw_server(one_answer_then_close) as (port, heads):
        transport = AsyncTransport(f"http://127.0.0.1:{port}/v1/chat/completions", env={})

        async def go() -> None:
            await transport.post(b'{"a": 1}', {"Authorization": "Bearer k"}, 1000)

        asyncio.run(go())
        transport.close()
    head = heads[0].decode()
    assert f"\r\nHost: 127.0.0.1:{port}\r\n" in head
    assert "\r\nContent-Length: 8" in head
    assert "\r\nAuthorization: Bearer k\r\n" in head
    assert "\r\nUser-Agent: evalgate/" in head


def test_a_cancelled_post_aborts_its_connection_and_the_next_post_opens_a_fresh_one() -> None:
    seen_close: list[bytes] = []

    def first_never_answers(conn: socket.socket, heads: list[bytes]) -> None:
        with conn:
            while head := read_request(conn):
                heads.append(head)
                if len(heads) == 1:
                    conn.settimeout(5)
                    seen_close.append(conn.recv(1))  # b"" once the client has closed it
                    return
                conn.sendall(reply())

    with raw_server(first_never_answers) as (port, heads):
        transport = AsyncTransport(f"http://127.0.0.1:{port}/v1", env={})

        async def go() -> tuple[int, int]:
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.2):
                    await transport.post(b"{}", {}, 1000)
            after_cancel = len(transport._open)
            response = await transport.post(b"{}", {}, 1000)
            return after_cancel, response.status

        assert asyncio.run(go()) == (0, 200)
        transport.close()
    assert seen_close == [b""]
    assert len(heads) == 2


def test_posts_cancelled_mid_answer_never_leave_a_half_read_connection_for_the_next_post() -> None:
    # The body is sent 0.3 s after the head for every third request, past its 0.1 s deadline: if a connection
    # cancelled between the two went back to the pool, a later post would read that body as its answer.
    def echo_late(conn: socket.socket, heads: list[bytes]) -> None:
        with conn, contextlib.suppress(OSError):
            while True:
                head, body = read_message(conn)
                if not head:
                    return
                heads.append(head)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body))
                if body.endswith(b"late"):
                    time.sleep(0.3)
                conn.sendall(body)

    async def go(transport: AsyncTransport) -> tuple[int, int]:
        todo = iter(range(48))
        answered = cancelled = 0

        async def worker() -> None:
            nonlocal answered, cancelled
            for i in todo:
                sent = f"{i}:{'late' if i % 3 == 0 else 'soon'}".encode()
                try:
                    async with asyncio.timeout(0.1):
                        response = await transport.post(sent, {}, 1000)
                except TimeoutError:
                    cancelled += 1
                    continue
                assert response.body == sent
                answered += 1

        await asyncio.gather(*(worker() for _ in range(8)))
        return answered, cancelled

    with raw_server(echo_late) as (port, heads):
        transport = AsyncTransport(f"http://127.0.0.1:{port}/v1", env={})
        answered, cancelled = asyncio.run(go(transport))
        transport.close()
    assert cancelled >= 16  # every late one
    assert answered + cancelled == 48
    assert len(heads) == 48


def _answer_then_wait_for_close(
    seen_close: list[bytes],
) -> Callable[[socket.socket, list[bytes]], None]:
    """A server that answers one request, then notes what the client sends next (b"" once it closes)."""

    def handle(conn: socket.socket, heads: list[bytes]) -> None:
        with conn:
            heads.append(read_request(conn))
            conn.sendall(reply())
            conn.settimeout(5)
            seen_close.append(conn.recv(1))

    return handle


def test_the_pool_is_closed_when_the_loop_ends_and_close_afterwards_is_safe() -> None:
    seen_close: list[bytes] = []

    with raw_server(_answer_then_wait_for_close(seen_close)) as (port, _):
        transport = AsyncTransport(f"http://127.0.0.1:{port}/v1", env={})
        assert post_all(transport)[0].status == 200
        transport.close()
        transport.close()
        assert post_all(transport)[0].status == 200  # usable again, on a new loop
    transport.close()
    assert seen_close == [b"", b""]


def test_close_after_a_loop_closed_without_asyncio_run_still_ends_the_connections() -> None:
    seen_close: list[bytes] = []

    with raw_server(_answer_then_wait_for_close(seen_close)) as (port, _):
        transport = AsyncTransport(f"http://127.0.0.1:{port}/v1", env={})
        loop = asyncio.new_event_loop()
        try:
            assert loop.run_until_complete(transport.post(b"{}", {}, 1000)).status == 200
        finally:
            loop.close()  # no shutdown_asyncgens: the pool is still open
        held = list(transport._open)  # so that nothing frees the socket before the server has seen the end
        transport.close()
        transport.close()
        deadline = time.monotonic() + 5
        while not seen_close and time.monotonic() < deadline:
            time.sleep(0.01)
        assert seen_close == [b""]
        # asyncio's transport object closes the descriptor when freed, with a ResourceWarning
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            del held
            gc.collect()
    assert any("unclosed" in str(w.message) for w in caught if w.category is ResourceWarning)


def test_the_shipped_fake_model_server_its_faults_and_a_trickle_cut_off_by_the_deadline() -> None:
    with FakeModelServer() as server:
        transport = AsyncTransport(f"{server.openai_base_url}/chat/completions", env={})
        body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "ping"}]}).encode()
        sent = {"Content-Type": "application/json", "Authorization": "Bearer k"}

        async def go() -> list[Response]:
            answers = [await transport.post(body, sent, 100_000)]
            server.fail_next(429, retry_after=7)
            answers.append(await transport.post(body, sent, 100_000))
            server.trickle_next(0.05)
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.3):
                    await transport.post(body, sent, 100_000)
            answers.append(await transport.post(body, sent, 100_000))
            return answers

        first, limited, after = asyncio.run(go())
        transport.close()
    assert first.status == 200
    assert "ping" in json.loads(first.body)["choices"][0]["message"]["content"]
    assert (limited.status, limited.headers["retry-after"]) == (429, "7")
    assert after.status == 200
    assert len(server.requests) == 4


# --- TLS: a loopback HTTPS server, directly and through a CONNECT proxy ------------------------------


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ssl.SSLContext]:
    """A CA and a certificate it signed for localhost/127.0.0.1, made at test time."""
    pytest.importorskip("cryptography", reason="LOUD: the TLS tests need `cryptography` (PyGithub brings it)")
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)

    def cert(
        subject: str,
        key: ec.EllipticCurvePrivateKey,
        issuer: x509.Name,
        signer: ec.EllipticCurvePrivateKey,
        ca: bool,
    ) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), critical=False
            )
        )
        if ca:  # what OpenSSL's strict mode (Python 3.13's default) wants of a CA
            usage = x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            )
            builder = builder.add_extension(usage, critical=True)
        else:
            names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
            builder = builder.add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
            )
        return builder.sign(signer, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "evalgate test CA")])
    ca_cert = cert("evalgate test CA", ca_key, ca_name, ca_key, True)
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = cert("localhost", key, ca_name, ca_key, False)
    folder = tmp_path_factory.mktemp("tls")
    pem = serialization.Encoding.PEM
    (folder / "ca.pem").write_bytes(ca_cert.public_bytes(pem))
    (folder / "cert.pem").write_bytes(leaf.public_bytes(pem))
    (folder / "key.pem").write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    return folder / "ca.pem", server


def tls_answering(server: ssl.SSLContext) -> Handler:
    def handle(conn: socket.socket, heads: list[bytes]) -> None:
        try:
            with server.wrap_socket(conn, server_side=True) as tls:
                while head := read_request(tls):
                    heads.append(head)
                    tls.sendall(reply(b"secret"))
        except (ssl.SSLError, OSError):  # a client that refused the certificate
            conn.close()

    return handle


def connect_proxy(target_port: int, connects: list[bytes]) -> Handler:
    """An HTTP proxy that only tunnels: CONNECT, then bytes relayed both ways to the loopback target."""

    def handle(conn: socket.socket, heads: list[bytes]) -> None:
        with conn, socket.create_connection(("127.0.0.1", target_port), timeout=5) as upstream:
            connects.append(read_request(conn))
            conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            pair = {conn: upstream, upstream: conn}
            while True:
                ready, _, _ = select.select(list(pair), [], [], 5)
                if not ready:
                    return
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    pair[sock].sendall(data)

    return handle


def test_a_proxy_that_refuses_the_tunnel_is_an_os_error() -> None:
    refusal = b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n"
    with raw_server(scripted((refusal, True))) as (proxy_port, connects):
        env = {"HTTPS_PROXY": f"http://127.0.0.1:{proxy_port}"}
        transport = AsyncTransport("https://models.example/v1", env=env)
        with pytest.raises(OSError, match="Tunnel connection failed: 407 Proxy Authentication Required"):
            post_all(transport)
        transport.close()
    assert connects == [b"CONNECT models.example:443 HTTP/1.1\r\nHost: models.example:443"]


def test_https_directly_and_through_a_connect_proxy(tls_files: tuple[Path, ssl.SSLContext]) -> None:
    ca, server = tls_files
    connects: list[bytes] = []
    with (
        raw_server(tls_answering(server)) as (port, heads),
        raw_server(connect_proxy(port, connects)) as (
            proxy_port,
            _,
        ),
    ):
        url = f"https://localhost:{port}/v1/chat/completions"
        direct = AsyncTransport(url, env={"REQUESTS_CA_BUNDLE": str(ca)})
        proxy = f"http://bob:pw@127.0.0.1:{proxy_port}"
        tunnelled = AsyncTransport(url, env={"HTTPS_PROXY": proxy, "REQUESTS_CA_BUNDLE": str(ca)})
        untrusted = AsyncTransport(url, env={"HTTPS_PROXY": proxy})  # certifi's CAs only
        assert [r.body for r in post_all(direct, 2)] == [b"secret"] * 2
        assert [r.body for r in post_all(tunnelled, 2)] == [b"secret"] * 2
        with pytest.raises(ssl.SSLCertVerificationError):
            post_all(untrusted)
        for transport in (direct, tunnelled, untrusted):
            transport.close()
    assert len(heads) == 4
    assert all(h.startswith(b"POST /v1/chat/completions HTTP/1.1") for h in heads)
    assert all(f"\r\nHost: localhost:{port}\r\n".encode() in h for h in heads)
    assert not any(b"Proxy-Authorization" in h for h in heads)  # the proxy's credentials stay with it
    assert len(connects) == 2  # the tunnelled connection was kept alive; the untrusted one failed in TLS
    assert connects[0].startswith(f"CONNECT localhost:{port} HTTP/1.1\r\n".encode())
    assert b"\r\nProxy-Authorization: Basic Ym9iOnB3" in connects[0]  # bob:pw
