"""A raw loopback HTTP server for transport tests: each connection handled by a function of its own."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

ANSWER = json.dumps({"choices": [{"message": {"content": "hi"}}]}).encode()


def reply(body: bytes = ANSWER, extra: str = "") -> bytes:
    head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
    return head.encode() + body


def read_request(conn: socket.socket) -> bytes:
    """The head of the next request (without the blank line), its body read and dropped; b"" at the end."""
    return read_message(conn)[0]


def read_message(conn: socket.socket) -> tuple[bytes, bytes]:
    """The head and body of the next request; whatever arrived (b"" at the end) when the client closes."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data, b""
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(rest) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        rest += chunk
    return head, rest


@contextmanager
def raw_server(handle: Callable[[socket.socket, list[bytes]], None]) -> Iterator[tuple[int, list[bytes]]]:
    """A one-thread-per-connection socket server; ``handle`` gets each connection and the request heads.

    When the block ends, every thread it started has ended before the listening socket is closed. Closing
    a socket does not wake a thread blocked in ``accept()`` on it: such a thread kept the port answering
    after the test, and one about to call ``accept()`` when the descriptor was closed could call it on
    whatever socket reused the number next, e.g. the next test's fake GitHub, and answer that server's
    first request with this one's JSON object.
    """
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    heads: list[bytes] = []
    handlers: list[threading.Thread] = []
    stop = threading.Event()

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            if stop.is_set():  # the wake-up connection below
                conn.close()
                return
            handler = threading.Thread(target=handle, args=(conn, heads), daemon=True)
            handlers.append(handler)
            handler.start()

    thread = threading.Thread(target=serve, name="raw_server accept", daemon=True)
    thread.start()
    try:
        yield port, heads
    finally:
        stop.set()
        if thread.is_alive():
            with socket.create_connection(("127.0.0.1", port), timeout=5):
                pass  # wakes the accept() so that the loop sees stop
        thread.join(timeout=5)
        for handler in handlers:
            handler.join(timeout=5)
        listener.close()


def one_answer_then_close(conn: socket.socket, heads: list[bytes]) -> None:
    with conn:
        heads.append(read_request(conn))
        conn.sendall(reply())  # keep-alive by default in HTTP/1.1, then closed anyway
