"""Server-level guards on a real uvicorn server (127.0.0.1, an ephemeral port, stopped at the end): slow
headers are cut off, slow bodies answer 408, the access log is rate-limited."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from vocabfree.serve import server as server_module
from vocabfree.serve.app import create_app
from vocabfree.serve.settings import ServeSettings

uvicorn = pytest.importorskip("uvicorn")


@pytest.fixture(scope="module")
def live() -> Iterator[int]:
    settings = ServeSettings(models=("test-tiny",), warmup=False, header_timeout_s=0.3, body_timeout_s=0.3)
    options = {**server_module.uvicorn_options(settings), "port": 0, "log_level": "warning"}
    server = uvicorn.Server(uvicorn.Config(create_app(settings), **options))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(500):
        if server.started:
            break
        time.sleep(0.02)
    assert server.started, "uvicorn did not start"
    yield server.servers[0].sockets[0].getsockname()[1]
    server.should_exit = True
    thread.join(15)


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    return sock


def _read_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def _read_response(sock: socket.socket) -> bytes:
    """One response on a kept-alive connection (head, then Content-Length bytes of body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.lower().split(b"\r\n")
    length = next(int(line.split(b":")[1]) for line in lines if line.startswith(b"content-length"))
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def test_a_complete_request_is_served(live):
    with _connect(live) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert _read_all(sock).startswith(b"HTTP/1.1 200")


def test_slow_headers_are_cut_off(live):
    with _connect(live) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # never finishes its headers
        assert _read_all(sock) == b""  # closed by the server after header_timeout_s


def test_idle_connection_is_closed(live):
    with _connect(live) as sock:  # connects, sends nothing
        assert _read_all(sock) == b""


def test_slow_body_is_408(live):
    with _connect(live) as sock:
        sock.sendall(
            b"POST /v1/embed HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
            b'{"texts": '
        )
        answer = _read_all(sock)
    assert answer.startswith(b"HTTP/1.1 408") and b"request_timeout" in answer and b"body_timeout_s" in answer


def test_kept_alive_connection_gets_a_new_header_deadline(live):
    with _connect(live) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _read_response(sock).startswith(b"HTTP/1.1 200")
        sock.sendall(b"GET /health HTTP/1.1\r\n")  # second request never completes
        assert _read_all(sock) == b""


def test_access_log_is_rate_limited(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(server_module.time, "monotonic", lambda: clock[0])
    limiter = server_module.AccessLogLimiter(per_second=5)
    record = lambda: logging.LogRecord("uvicorn.access", logging.INFO, "", 0, "GET / 200", None, None)  # noqa: E731
    passed = [limiter.filter(record()) for _ in range(100)]  # a flood within one instant
    assert sum(passed) == 5
    clock[0] += 1.0  # a second later: 5 more, the first one says how many were skipped
    later = record()
    assert limiter.filter(later) and later.msg.startswith("[95 access log lines skipped")


def test_uvicorn_options_carry_the_limits():
    settings = ServeSettings(keep_alive_s=3, max_connections=77, max_header_bytes=9000, host="127.0.0.1")
    options = server_module.uvicorn_options(settings)
    assert options["timeout_keep_alive"] == 3 and options["limit_concurrency"] == 77
    assert options["h11_max_incomplete_event_size"] == 9000
    assert options["log_config"]["loggers"]["uvicorn.access"]["filters"] == ["access_limit"]
    assert options["http"].__name__ == "GuardedH11Protocol"
