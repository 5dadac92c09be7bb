"""A gthread worker that reads each request whole before a thread sees it: slow clients cost no thread.

gunicorn's gthread worker gives a connection to a thread as soon as it is
readable, and the thread then reads the headers and the body, blocking: 16
clients trickling headers or a body hold all 16 threads (2 workers x 8), and
everyone else waits. Here the worker's event loop reads first, non-blocking,
until the headers and a body of known length are in memory (what nginx's
request buffering does), then submits the request with its bytes to the thread
pool. Deadlines, enforced by the loop:

* headers: ``GUNICORN_HEADER_TIMEOUT`` seconds (default 10) from the first byte wait;
* body: ``GUNICORN_BODY_TIMEOUT`` plus the length at ``GUNICORN_BODY_MIN_RATE``
  bytes/s, never more than ``GUNICORN_BODY_MAX_TIMEOUT`` (default 60).

A client that misses one gets a 408 and is closed. A body longer than
``GUNICORN_BUFFER_MAX_BODY`` (default 11 MiB: the image cap plus its envelope),
chunked, or arriving while the worker already holds ``GUNICORN_BUFFER_BUDGET``
bytes (default 256 MiB) goes to a thread unread, as before: the app refuses an
oversized upload at once, and ``config/gunicorn.conf.py``'s body deadline bounds
the rest. A connection closed with request bytes still coming is drained
(without a thread) before it closes, so the client reads the 413 instead of a
connection reset.
"""

from __future__ import annotations

import errno
import os
import selectors
import socket
import time
from functools import partial

from gunicorn.http2 import negotiation
from gunicorn.workers.gthread import TConn, ThreadWorker

HEADER_TIMEOUT = float(os.environ.get("GUNICORN_HEADER_TIMEOUT", "10"))
BODY_TIMEOUT = float(os.environ.get("GUNICORN_BODY_TIMEOUT", "15"))
BODY_MIN_RATE = float(os.environ.get("GUNICORN_BODY_MIN_RATE", str(64 * 1024)))
BODY_MAX_TIMEOUT = float(os.environ.get("GUNICORN_BODY_MAX_TIMEOUT", "60"))
BUFFER_MAX_BODY = int(os.environ.get("GUNICORN_BUFFER_MAX_BODY", str(11 * 1024 * 1024)))
BUFFER_BUDGET = int(os.environ.get("GUNICORN_BUFFER_BUDGET", str(256 * 1024 * 1024)))
MAX_HEADER_BYTES = 64 * 1024  # past it the parser answers (gunicorn's own limits are smaller)
LINGER_SECONDS, LINGER_BYTES = 10.0, 64 * 1024 * 1024

TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Type: text/plain\r\n"
    b"Content-Length: %d\r\n\r\n%s"
)


def body_deadline(length: int) -> float:
    """Seconds a body of ``length`` bytes may take: grows with its size, up to ``BODY_MAX_TIMEOUT``."""
    return min(BODY_TIMEOUT + length / BODY_MIN_RATE, BODY_MAX_TIMEOUT)


def _framing(head: bytes) -> tuple[int | None, bool]:
    """(Content-Length or None, chunked) from a request's header block."""
    length, chunked = 0, False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            value = value.strip()
            if not value.isdigit():
                return None, False  # the parser refuses it
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = True
    return length, chunked


class _Pending:
    __slots__ = ("buf", "deadline", "header_end", "length", "what")

    def __init__(self, buf: bytes) -> None:
        self.buf = bytearray(buf)
        self.deadline = time.monotonic() + HEADER_TIMEOUT
        self.header_end = -1
        self.length = 0
        self.what = "header_timeout"


class LingeringConn(TConn):
    """A connection whose closing drains unread request bytes in the event loop, not in a thread."""

    worker: BufferingThreadWorker | None = None
    linger = False

    def close(self, graceful: bool = False) -> None:
        if graceful and self.linger and self.worker is not None:
            self.worker.linger(self)
        else:
            super().close(graceful)


class BufferingThreadWorker(ThreadWorker):
    """gthread, with each request read whole by the event loop before a thread gets it."""

    def init_process(self) -> None:
        self.buffering: dict[TConn, _Pending] = {}
        self.buffered_bytes = 0
        self.lingering: dict[socket.socket, tuple[float, list[int]]] = {}
        super().init_process()  # runs the loop

    def accept(self, listener) -> None:
        try:
            client_sock, client_addr = listener.accept()
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        conn = LingeringConn(self.cfg, client_sock, client_addr, listener.getsockname())
        conn.worker = self
        self.enqueue_req(conn)

    def enqueue_req(self, conn: TConn) -> None:
        if getattr(conn, "buffered", False) or self.cfg.is_ssl or conn.is_http2 or (
            not conn.initialized and negotiation.prior_knowledge_allowed(self.cfg, conn.client)
        ):
            conn.buffered = False
            super().enqueue_req(conn)
            return
        held = conn.parser.unreader.take_buffered() if conn.parser is not None else b""
        pending = _Pending(held)
        self.buffering[conn] = pending
        self.buffered_bytes += len(held)
        conn.sock.setblocking(False)
        if not self._advance(conn, pending, registered=False):
            self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._readable, conn))

    def _readable(self, conn: TConn, sock) -> None:
        pending = self.buffering.get(conn)
        if pending is None:
            return
        data = _receive(sock)
        if data is None:
            return
        if not data:  # the client left
            self._forget(conn, pending, registered=True)
            self.nr_conns -= 1
            conn.close()
            return
        pending.buf += data
        self.buffered_bytes += len(data)
        self._advance(conn, pending, registered=True)

    def _advance(self, conn: TConn, pending: _Pending, *, registered: bool) -> bool:
        """Hand the request over once it is whole (or cannot be buffered); True when it left the loop."""
        if pending.header_end < 0:
            end = pending.buf.find(b"\r\n\r\n")
            if end < 0:
                if len(pending.buf) > MAX_HEADER_BYTES:
                    return self._hand_over(conn, pending, registered)  # the parser says what is wrong
                return False
            head = bytes(pending.buf[:end])
            if b"100-continue" in head.lower():
                head = self._continue(conn, pending, head)
                end = len(head)
            pending.header_end = end + 4
            length, chunked = _framing(head)
            if length is None or chunked or length > BUFFER_MAX_BODY or self.buffered_bytes > BUFFER_BUDGET:
                conn.linger = bool(length)  # the app may answer without reading it all
                return self._hand_over(conn, pending, registered)
            pending.length = length
            pending.deadline = time.monotonic() + body_deadline(length)
            pending.what = "body_timeout"
        if len(pending.buf) - pending.header_end >= pending.length:
            return self._hand_over(conn, pending, registered)
        return False

    def _continue(self, conn: TConn, pending: _Pending, head: bytes) -> bytes:
        """Answer ``Expect: 100-continue`` here (the client waits for it to send its body); drop the header.

        Left in, gunicorn would send a second 100 once the body is already here.
        """
        lines = head.split(b"\r\n")
        kept = [line for line in lines if line.replace(b" ", b"").lower() != b"expect:100-continue"]
        if len(kept) == len(lines):
            return head
        try:
            conn.sock.send(b"HTTP/1.1 100 Continue\r\n\r\n")
        except OSError:
            pass  # the client left; the next read says so
        new_head = b"\r\n".join(kept)
        self.buffered_bytes -= len(head) - len(new_head)
        pending.buf[: len(head)] = new_head
        return new_head

    def _forget(self, conn: TConn, pending: _Pending, *, registered: bool) -> None:
        self.buffering.pop(conn, None)
        self.buffered_bytes -= len(pending.buf)
        if registered:
            try:
                self.poller.unregister(conn.sock)
            except (KeyError, ValueError, OSError):
                pass

    def _hand_over(self, conn: TConn, pending: _Pending, registered: bool) -> bool:
        self._forget(conn, pending, registered=registered)
        try:
            conn.init()  # the HTTP/1 parser; no read happens here (TLS and HTTP/2 never come this way)
        except OSError:
            self.nr_conns -= 1
            conn.close()
            return True
        conn.parser.unreader.unread(bytes(pending.buf))
        conn.data_ready = True
        conn.buffered = True
        self.enqueue_req(conn)
        return True

    def murder_pending(self) -> None:
        super().murder_pending()
        now = time.monotonic()
        for conn, pending in [(c, p) for c, p in self.buffering.items() if p.deadline <= now]:
            self._forget(conn, pending, registered=True)
            message = f"The request did not arrive in time ({pending.what}).".encode()
            try:
                conn.sock.send(TIMEOUT_RESPONSE % (len(message), message))
            except OSError:
                pass
            self.nr_conns -= 1
            conn.close()
        for sock, (until, _) in [(s, v) for s, v in self.lingering.items() if v[0] <= now]:
            self._end_linger(sock)

    def linger(self, conn: TConn) -> None:
        """Half-close, then read and drop what the client still sends, for a while, before closing."""
        try:
            conn.sock.shutdown(socket.SHUT_WR)
            conn.sock.setblocking(False)
        except OSError:
            conn.sock.close()
            return
        self.lingering[conn.sock] = (time.monotonic() + LINGER_SECONDS, [0])
        self.poller.register(conn.sock, selectors.EVENT_READ, self._drain)

    def _drain(self, sock) -> None:
        _, drained = self.lingering[sock]
        data = _receive(sock)
        if data is None:
            return
        drained[0] += len(data)
        if not data or drained[0] > LINGER_BYTES:
            self._end_linger(sock)

    def _end_linger(self, sock) -> None:
        self.lingering.pop(sock, None)
        try:
            self.poller.unregister(sock)
        except (KeyError, ValueError, OSError):
            pass
        sock.close()


def _receive(sock) -> bytes | None:
    """What a readable socket holds: b"" when the client left or the connection broke, None if nothing yet."""
    try:
        return sock.recv(256 * 1024)
    except (BlockingIOError, InterruptedError):
        return None
    except OSError:
        return b""
