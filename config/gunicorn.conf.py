"""gunicorn settings for the demo: ``gunicorn -c config/gunicorn.conf.py config.wsgi:application``.

Each worker loads TensorFlow and the encoder right after it starts, so the
first search it serves is as fast as the rest (without this: 3.8-6.6 s). The
app is not preloaded: TensorFlow must never be loaded in the parent that forks.

Slow clients: the worker class (``config/gunicorn_worker.py``) is gthread whose
event loop reads each request whole (headers within ``GUNICORN_HEADER_TIMEOUT``,
a body within ``GUNICORN_BODY_TIMEOUT`` + its length at ``GUNICORN_BODY_MIN_RATE``
bytes/s, capped at ``GUNICORN_BODY_MAX_TIMEOUT``) before a thread sees it, so
clients that trickle headers or bodies hold no thread; measured with 50 of each
in docs/benchmarks.md. A body the loop does not buffer (over 11 MiB, chunked)
gets the same capped deadline in its thread. In production a buffering reverse
proxy stands in front as well (``deploy/nginx.conf``).
Memory: freed decode buffers are handed back to the OS (glibc's mmap threshold
pinned at 1 MiB), so a worker returns to its baseline after a burst of uploads.
"""

import ctypes
import os
import time

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
preload_app = False
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "config.gunicorn_worker.BufferingThreadWorker")
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
# Recycle a worker now and then (jittered, so not all at once): bounds heap fragmentation.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "5000"))
max_requests_jitter = max_requests // 10
body_timeout = float(os.environ.get("GUNICORN_BODY_TIMEOUT", "15"))
body_min_rate = float(os.environ.get("GUNICORN_BODY_MIN_RATE", str(64 * 1024)))
body_max_timeout = float(os.environ.get("GUNICORN_BODY_MAX_TIMEOUT", "60"))

M_MMAP_THRESHOLD = -3  # glibc mallopt() parameter


def post_fork(server, worker):
    """Allocations of 1 MiB or more (Pillow's image blocks, numpy arrays) are mmapped: freed, they go back."""
    try:
        ctypes.CDLL("libc.so.6").mallopt(M_MMAP_THRESHOLD, 1 << 20)
    except (OSError, AttributeError):  # not glibc (e.g. musl, macOS): nothing to tune
        pass


class _DeadlineSocket:
    """A connection's socket as gunicorn's parser reads it: while armed, no recv() ends past the deadline.

    Per-recv timeouts alone let a client that sends one byte a second hold a thread forever.
    """

    def __init__(self, sock) -> None:
        self._sock, self.deadline = sock, None

    def recv(self, *args):
        if self.deadline is None:
            return self._sock.recv(*args)
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("The request body did not arrive in time.")
        self._sock.settimeout(left)
        try:
            return self._sock.recv(*args)
        finally:
            self._sock.settimeout(None)

    def __getattr__(self, name):
        return getattr(self._sock, name)


def pre_request(worker, req):
    """Arm the body deadline: base timeout plus the declared length at the minimum rate, capped."""
    unreader = getattr(req, "unreader", None)
    sock = getattr(unreader, "sock", None)
    if sock is None:
        return
    if not isinstance(sock, _DeadlineSocket):
        sock = unreader.sock = _DeadlineSocket(sock)
    length = next((int(v) for k, v in req.headers if k == "CONTENT-LENGTH" and v.isdigit()), 0)
    sock.deadline = time.monotonic() + min(body_timeout + length / body_min_rate, body_max_timeout)


def post_request(worker, req, environ, resp):
    """Disarm it: the next request on a kept-alive connection gets its own."""
    sock = getattr(getattr(req, "unreader", None), "sock", None)
    if isinstance(sock, _DeadlineSocket):
        sock.deadline = None


def post_worker_init(worker):
    """Warm the worker: URL patterns imported, encoder loaded and run once."""
    import time

    from django.db import connections
    from django.urls import get_resolver

    from visual_search.search.service import warm_up

    start = time.perf_counter()
    get_resolver().url_patterns  # noqa: B018 - imports every view module now, not on the first request
    warm_up()
    connections.close_all()  # the worker's requests open their own
    worker.log.info("Worker %s warmed up in %.1f s", worker.pid, time.perf_counter() - start)
