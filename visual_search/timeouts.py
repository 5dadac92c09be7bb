"""Bounds on the app's own queries: statement and lock timeouts, transaction-local.

The host's other queries keep whatever its database settings say; the app's
transactions (claiming and settling work owed, planning and writing a sync,
searching) set ``statement_timeout`` and ``lock_timeout`` with ``SET LOCAL``,
so a stuck lock or a runaway plan fails that one transaction with a clear error
instead of holding a worker or a web thread. Called inside a transaction the
host opened (``ATOMIC_REQUESTS``, its own ``atomic()``), they are not set: they
would outlive our queries and bound the host's. Connect timeouts and TCP
keepalives belong to the connection (``DATABASES[...]["OPTIONS"]``, see
docs/operations.md).
"""

from __future__ import annotations

from typing import Any

from visual_search.conf import vs_settings


def timeout_options() -> dict[str, str]:
    """``statement_timeout`` and ``lock_timeout`` as ``set_config`` values; a setting of None is left out."""
    options = {}
    for name, setting in (("statement_timeout", "DB_STATEMENT_TIMEOUT"), ("lock_timeout", "DB_LOCK_TIMEOUT")):
        seconds = getattr(vs_settings, setting)
        if seconds:
            options[name] = f"{max(1, round(float(seconds) * 1000))}ms"
    return options


def set_local_timeouts(cursor: Any, extra: dict[str, Any] | None = None) -> None:
    """Apply the timeouts (and any ``extra`` settings) to the current transaction, in one round trip."""
    # Only in a transaction of our own: SET LOCAL lasts until the outermost transaction ends, and a
    # host that calls us inside its own would find our bounds on its later queries.
    outermost = len(getattr(cursor.db, "atomic_blocks", ())) <= 1
    options = {**(timeout_options() if outermost else {}), **(extra or {})}
    if not options or cursor.db.vendor != "postgresql":
        return
    calls = ", ".join("set_config(%s, %s, true)" for _ in options)
    cursor.execute(f"SELECT {calls}", [str(v) for item in options.items() for v in item])
