"""Fault tests: real workers, real Redis and PostgreSQL, and a proxy to cut either off.

Workers here are started per test with their own settings (a test encoder,
short leases, a fast sweep by an embedded beat) and killed with SIGKILL when a
test says so; every process tree is gone when the test ends. ``project_defaults=True``
starts a worker whose recovery settings (leases, sweep, backoff, database wait)
are the project's own defaults instead: the recovery tests time those.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlparse

import psutil
import pytest

from tests.catalogue import category, make_product  # noqa: F401 - fixtures shared with these tests
from tests.conftest import ROOT, wait_for
from tests.faults.proxy import FaultProxy

#: What every fault-test worker runs with: fast failure detection, so a test takes seconds, not hours.
FAST = {
    "ENCODER": {"BACKEND": "visual_search.encoders.thumbnail.ThumbnailEncoder"},
    "ADAPTER": "shop.adapters.ShopProductAdapter",
    "SYNC_LEASE_SECONDS": 8,
    "SYNC_SWEEP_AFTER": 2,
    "TASK_RETRY_BACKOFF_MAX": 2,
}


#: The settings that decide how fast work is recovered: at their defaults when a test asks for them.
RECOVERY_SETTINGS = (
    "SYNC_LEASE_SECONDS", "SYNC_SWEEP_AFTER", "TASK_RETRY_BACKOFF_MAX", "TASK_MAX_RETRIES",
    "DATABASE_WAIT_SECONDS", "DB_STATEMENT_TIMEOUT", "DB_LOCK_TIMEOUT",
)


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/faults/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.faults)


class Worker:
    """A real ``celery worker -B`` (prefork, one child) that a test may kill."""

    def __init__(
        self,
        log: Path,
        overrides: dict,
        *,
        queue: str,
        broker_url: str | None = None,
        db_port: int | None = None,
        project_defaults: bool = False,
    ):
        from django.db import connection  # noqa: PLC0415

        from visual_search.conf import DEFAULTS  # noqa: PLC0415

        self.name = f"vs-fault-{uuid.uuid4().hex[:8]}@localhost"
        self.log_path = log
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "VISUAL_SEARCH_TEST_WORKER": "1",
            "VISUAL_SEARCH_TEST_DB_NAME": connection.settings_dict["NAME"],
            # Its own queue: the suite's shared worker (tests/conftest.py) may still be running.
            "VISUAL_SEARCH_TEST_QUEUE": queue,
            "VISUAL_SEARCH_TEST_OVERRIDES": json.dumps({**FAST, "TASK_QUEUE": queue, **overrides}),
            "VISUAL_SEARCH_SWEEP_SECONDS": "2",
        }
        if project_defaults:  # the project's own lease, sweep (config/celery.py) and backoff
            settings = {**FAST, "TASK_QUEUE": queue, **overrides}
            settings.update({key: DEFAULTS[key] for key in RECOVERY_SETTINGS})
            env["VISUAL_SEARCH_TEST_OVERRIDES"] = json.dumps(settings)
            del env["VISUAL_SEARCH_SWEEP_SECONDS"]
            env.pop("DJANGO_DB_CONNECT_TIMEOUT", None)
        if broker_url:
            env["CELERY_BROKER_URL"] = broker_url
        if db_port:
            env["VISUAL_SEARCH_TEST_DB_PORT"] = str(db_port)
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool=prefork",
            "--concurrency=1",
            "--loglevel=INFO",
            "-n",
            self.name,
            "-Q",
            queue,
            "--without-mingle",
            "--without-gossip",
            "-B",
            "-s",
            str(log.with_suffix(".beat")),
        ]
        with open(log, "ab") as out:
            self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 120) -> None:
        """Wait until the worker has its child (and so its encoder) up."""

        def ready():
            if self.process.poll() is not None:
                pytest.fail(f"worker exited with {self.process.returncode}:\n{self.log()[-4000:]}")
            return "ready." in self.log() and self.child() is not None

        wait_for(ready, timeout=timeout, message="the Celery worker to start")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def tree(self) -> list[psutil.Process]:
        try:
            parent = psutil.Process(self.process.pid)
            return [parent, *parent.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def child(self) -> psutil.Process | None:
        """The prefork pool child that runs tasks (the embedded beat is a child too, so ask the worker)."""
        from config.celery import app  # noqa: PLC0415

        stats = app.control.inspect([self.name], timeout=2).stats() or {}
        pids = stats.get(self.name, {}).get("pool", {}).get("processes") or []
        try:
            return psutil.Process(pids[0]) if pids else None
        except psutil.NoSuchProcess:
            return None

    def kill(self, *, child_only: bool = False) -> None:
        """SIGKILL the pool child alone, or the whole worker: parent, child and beat at once."""
        victims = [self.child()] if child_only else self.tree()
        for proc in victims:
            if proc is not None:
                try:
                    proc.send_signal(signal.SIGKILL)
                except psutil.NoSuchProcess:
                    pass
        if not child_only:
            self.process.wait(timeout=10)

    def stop(self) -> None:
        procs = self.tree()
        for proc in procs:
            try:
                proc.terminate()
            except psutil.NoSuchProcess:
                pass
        _, alive = psutil.wait_procs(procs, timeout=15)
        for proc in alive:
            proc.kill()
        psutil.wait_procs(alive, timeout=5)


@pytest.fixture(autouse=True)
def fault_queue(settings) -> str:
    """This process reads the same settings as the fault-test workers, and sends to their own queue.

    A queue per test keeps the suite's shared worker, and any worker a previous
    test left behind, from taking the tasks a fault test is watching.
    """
    queue = f"vs-fault-{uuid.uuid4().hex[:10]}"
    settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH, **FAST, "TASK_QUEUE": queue}
    return queue


@pytest.fixture
def start_worker(tmp_path, django_db_blocker, fault_queue):
    """Start fault-test workers; every one is stopped (its whole process tree) after the test."""
    from config.celery import app  # noqa: PLC0415

    workers: list[Worker] = []

    def start(overrides: dict | None = None, *, wait: bool = True, **kwargs) -> Worker:
        worker = Worker(tmp_path / f"worker{len(workers)}.log", overrides or {}, queue=fault_queue, **kwargs)
        workers.append(worker)
        if wait:
            worker.wait_ready()
        return worker

    app.conf.task_always_eager = False
    yield start
    app.conf.task_always_eager = True
    for worker in workers:
        worker.stop()


@pytest.fixture
def broker_proxy():
    """A proxy in front of the test broker (TCP Redis), and its URL."""
    url = urlparse(os.environ["CELERY_BROKER_URL"])
    if url.scheme != "redis":
        pytest.skip("the broker proxy needs a TCP Redis broker")
    with FaultProxy((url.hostname, url.port or 6379)) as proxy:
        proxy.url = url._replace(netloc=f"127.0.0.1:{proxy.port}").geturl()
        yield proxy


@pytest.fixture
def db_proxy():
    """A proxy in front of the test database (PostgreSQL over TCP or its Unix socket)."""
    from django.db import connection  # noqa: PLC0415

    host, port = connection.settings_dict["HOST"], connection.settings_dict["PORT"] or "5432"
    target = os.path.join(host, f".s.PGSQL.{port}") if host.startswith("/") else (host, int(port))
    with FaultProxy(target) as proxy:
        yield proxy


@pytest.fixture
def catalogue(make_product):
    """``make(n)``: n products with a real photo each, their save-time work already done."""
    from visual_search.indexing.sync import sync_products  # noqa: PLC0415
    from visual_search.models import SyncRequest  # noqa: PLC0415

    def make(n: int, photos=("chelsea", "coffee", "astronaut", "rocket")) -> list:
        from config.celery import app  # noqa: PLC0415

        eager, app.conf.task_always_eager = (
            app.conf.task_always_eager,
            True,
        )  # no messages left for the worker
        try:
            products = [make_product(photos[i % len(photos)]) for i in range(n)]
        finally:
            app.conf.task_always_eager = eager
        sync_products([p.pk for p in products])
        assert not SyncRequest.objects.exists()
        return products

    return make
