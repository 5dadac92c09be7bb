"""A front nothing can starve: 50 clients trickling headers and 50 trickling bodies, other requests still answered.

Against the production chain for real: gunicorn with config/gunicorn.conf.py
(two workers, as ``make demo`` and a host without nginx run it), alone and
behind Debian's nginx with deploy/nginx.conf. The slow clients send a byte (or
a hundred) every half second and come back whenever they are cut off; other
clients meanwhile load the search page and must be answered within 2 s.
The figures go in docs/benchmarks.md ("Slow clients").
"""

from __future__ import annotations

import http.client
import os
import socket
import ssl
import statistics
import threading
import time
import uuid

import pytest

from tests.hostile.servers import gunicorn, nginx

pytestmark = pytest.mark.django_db  # the gunicorn workers use the test database

SLOW_HEADERS = SLOW_BODIES = 50
DECLARED_BODY = 400_000


class SlowClients:
    """``SLOW_HEADERS`` + ``SLOW_BODIES`` connections kept open and trickling, from one thread."""

    def __init__(self, port: int, *, tls: bool) -> None:
        self.port, self.tls = port, tls
        self.stop = threading.Event()
        self.reopened = 0
        self.answers: list[bytes] = []  # what the server said before hanging up on one
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _open(self, kind: str) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        if self.tls:
            sock = ssl._create_unverified_context().wrap_socket(sock, server_hostname="localhost")  # noqa: SLF001
        if kind == "headers":
            sock.sendall(b"GET /visual-search/ HTTP/1.1\r\nHost: localhost\r\n")
        else:
            boundary = uuid.uuid4().hex
            sock.sendall(
                f"POST /api/v1/search/image/ HTTP/1.1\r\nHost: localhost\r\n"
                f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
                f"Content-Length: {DECLARED_BODY}\r\n\r\n--{boundary}\r\n".encode()
            )
        sock.settimeout(0.05)
        return sock

    def _run(self) -> None:
        conns = [["headers", self._open("headers")] for _ in range(SLOW_HEADERS)]
        conns += [["body", self._open("body")] for _ in range(SLOW_BODIES)]
        self.ready = True
        while not self.stop.is_set():
            for conn in conns:
                kind, sock = conn
                try:
                    sock.sendall(b"X" if kind == "headers" else b"x" * 100)
                    # A server that hung up (a deadline) may have said why first; take it and reopen.
                    try:
                        answer = sock.recv(200)
                    except (TimeoutError, ssl.SSLWantReadError, BlockingIOError):
                        continue
                    raise ConnectionError(answer)
                except (OSError, ConnectionError) as exc:
                    if isinstance(exc, ConnectionError) and exc.args and isinstance(exc.args[0], bytes):
                        self.answers.append(exc.args[0])
                    sock.close()
                    conn[1] = self._open(kind)
                    self.reopened += 1
            self.stop.wait(0.5)
        for _, sock in conns:
            sock.close()

    def __enter__(self) -> SlowClients:
        self.ready = False
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.ready and time.monotonic() < deadline:
            time.sleep(0.1)
        assert self.ready, "the slow clients could not all connect"
        time.sleep(2)  # every one has started trickling
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(30)


def page_times(port: int, *, tls: bool, n: int = 20, timeout: float = 60) -> list[float]:
    """Seconds for ``n`` GETs of the search page on fresh connections (an unanswered one counts as ``timeout``)."""
    times = []
    for _ in range(n):
        started = time.monotonic()
        if tls:
            connection = http.client.HTTPSConnection(
                "127.0.0.1", port, timeout=timeout, context=ssl._create_unverified_context()  # noqa: SLF001
            )
        else:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        try:
            connection.request("GET", "/visual-search/", headers={"Host": "localhost"})
            response = connection.getresponse()
            response.read()
            ok = response.status == 200
        except OSError:
            ok = False
        finally:
            connection.close()
        times.append(time.monotonic() - started if ok else timeout)
        time.sleep(0.2)
    return times


@pytest.fixture(scope="module")
def front(django_db_setup, django_db_blocker, tmp_path_factory):
    """gunicorn as configured (two workers of 8 threads), on this run's test database."""
    from django.db import connection  # noqa: PLC0415

    env = {
        "DJANGO_SETTINGS_MODULE": "tests.hostile.server_settings",
        "VISUAL_SEARCH_TEST_WORKER": "1",
        "VISUAL_SEARCH_TEST_DB_NAME": connection.settings_dict["NAME"],
    }
    for key in [k for k in os.environ if k.startswith("GUNICORN_")]:  # the configuration's own defaults
        env[key] = ""
    env = {k: v for k, v in env.items() if v}
    with gunicorn(tmp_path_factory.mktemp("front") / "gunicorn.log", env) as port:
        yield port


def _report(label: str, before: list[float], during: list[float], slow: SlowClients) -> None:
    print(
        f"\n{label}: 50 slow-header + 50 slow-body clients ({slow.reopened} reconnects after deadlines); "
        f"search page before: median {statistics.median(before) * 1000:.0f} ms, during: median "
        f"{statistics.median(during) * 1000:.0f} ms, slowest {max(during) * 1000:.0f} ms"
    )


def test_gunicorn_alone_answers_others_within_2_s_while_100_clients_trickle(front):
    before = page_times(front, tls=False, n=5)
    with SlowClients(front, tls=False) as slow:
        during = page_times(front, tls=False)
    _report("gunicorn alone", before, during, slow)
    assert max(during) < 2.0


def test_gunicorn_cuts_off_trickled_headers_with_a_408(front):
    sock = socket.create_connection(("127.0.0.1", front), timeout=30)
    started = time.monotonic()
    sock.sendall(b"GET /visual-search/ HTTP/1.1\r\nHost: localhost\r\n")
    answer = b""
    try:
        while not answer and time.monotonic() - started < 30:
            sock.sendall(b"X")
            sock.settimeout(1)
            try:
                answer = sock.recv(200)
            except TimeoutError:
                pass
    finally:
        sock.close()
    assert answer.startswith(b"HTTP/1.1 408") and b"header_timeout" in answer, answer
    assert time.monotonic() - started < 10 + 3  # GUNICORN_HEADER_TIMEOUT's default, not forever


def test_behind_nginx_others_are_answered_within_2_s_while_100_clients_trickle(front, tmp_path):
    with nginx(front, tmp_path) as port:
        before = page_times(port, tls=True, n=5)
        with SlowClients(port, tls=True) as slow:
            during = page_times(port, tls=True)
    _report("nginx in front of gunicorn", before, during, slow)
    assert max(during) < 2.0


def test_a_30_mb_upload_is_answered_413_and_never_reset(front):
    """The answer comes before the body is read; the connection is drained, not reset, so the client reads it."""
    from tests.hostile.test_server import multipart  # noqa: PLC0415

    body, content_type = multipart(bytes(30 * 1024 * 1024))
    outcomes = []
    for _ in range(8):
        connection = http.client.HTTPConnection("127.0.0.1", front, timeout=60)
        try:
            connection.request("POST", "/api/v1/search/image/", body=body, headers={"Content-Type": content_type})
            response = connection.getresponse()
            outcomes.append((response.status, b"too_large" in response.read()))
        except OSError as exc:  # a reset: the client never sees the 413
            outcomes.append((type(exc).__name__, False))
        finally:
            connection.close()
    assert outcomes == [(413, True)] * 8


def test_a_client_that_expects_100_continue_gets_it_once_and_then_its_answer(front):
    """curl sends ``Expect: 100-continue`` for larger uploads and waits for it before sending the body."""
    from tests.conftest import photo_bytes  # noqa: PLC0415
    from tests.hostile.test_server import multipart  # noqa: PLC0415

    body, content_type = multipart(photo_bytes("coffee", size=300))
    sock = socket.create_connection(("127.0.0.1", front), timeout=30)
    try:
        sock.sendall(
            f"POST /api/v1/search/image/ HTTP/1.1\r\nHost: localhost\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n".encode()
        )
        interim = sock.recv(100)
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(body)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    finally:
        sock.close()
    assert answer.startswith(b"HTTP/1.1 200"), answer[:300]
    assert b"100 Continue" not in answer
