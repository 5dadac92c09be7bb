"""Worker liveness: leases renewed while a drain runs, and waiting out a database outage.

A worker proves it is alive by renewing the leases it holds every third of
``SYNC_LEASE_SECONDS`` from a thread of its own (``keep_leases``), so the
leases can be short: a worker that dies stops renewing and its rows are free
again within one lease. A drain whose database went away waits for it
(``wait_for_database``), then gives its own rows back at once (the caller
calls ``outbox.release_mine``) instead of leaving them to their leases.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import DatabaseError, connections

from visual_search.indexing import outbox
from visual_search.conf import vs_settings

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_state = {"pid": 0, "active": 0}
_wake = threading.Condition(_lock)


def _renew_forever() -> None:
    while True:
        with _lock:
            while not _state["active"]:
                _wake.wait()
        time.sleep(max(0.5, float(vs_settings.SYNC_LEASE_SECONDS) / 3))
        with _lock:
            if not _state["active"]:
                continue
        try:
            outbox.renew_leases()
        except DatabaseError as exc:  # the lease runs out; the drain itself meets the outage too
            logger.warning("Could not renew this worker's leases: %s", exc)
        finally:
            connections.close_all()  # this thread's connection; a fresh one next time, after an outage too


def _ensure_thread() -> None:
    if _state["pid"] != os.getpid():  # first use in this process (a forked child starts without the thread)
        _state.update(pid=os.getpid(), active=0)
        threading.Thread(target=_renew_forever, name="visual-search-leases", daemon=True).start()


@contextmanager
def keep_leases() -> Iterator[None]:
    """While the block runs, this process's leases are renewed in the background."""
    with _lock:
        _ensure_thread()
        _state["active"] += 1
        _wake.notify_all()
    try:
        yield
    finally:
        with _lock:
            _state["active"] -= 1


def wait_for_database(seconds: float, using: str = "default") -> bool:
    """Reconnect every second until the database answers (True) or ``seconds`` pass (False)."""
    deadline = time.monotonic() + seconds
    while True:
        connection = connections[using]
        try:
            connection.close()
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
            return True
        except DatabaseError:
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(1.0)
