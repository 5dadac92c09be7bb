from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import uuid
from io import StringIO
from urllib.parse import quote

import psutil
import pytest
from django.core.management import CommandError, call_command

from shop.models import Product
from tests.conftest import ROOT, wait_for
from tests.shop.factories import make_photo_folder

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_import_catalogue(tmp_path):
    root = make_photo_folder(tmp_path / "photos", {"dress": 3, "hat": 1})

    output = run("import_catalogue", str(root), "--per-category", "2")

    assert Product.objects.count() == 3
    assert "Imported 3 new products" in output
    assert "Imported 1 new products" in run("import_catalogue", str(root))
    assert Product.objects.count() == 4


def test_import_catalogue_missing_folder(tmp_path):
    with pytest.raises(CommandError, match="not a folder"):
        run("import_catalogue", str(tmp_path / "missing"))


def test_seed_demo_from_folder_skips_a_filled_catalogue(tmp_path):
    root = make_photo_folder(tmp_path / "photos", {"dress": 2, "hat": 2})

    output = run("seed_demo", "--source", str(root), "--per-category", "1")
    assert Product.objects.count() == 2
    assert "Created 2 products" in output
    assert "2 categories" in output

    assert "already has 2 products" in run("seed_demo", "--source", str(root))
    assert Product.objects.count() == 2

    run("seed_demo", "--source", str(root), "--force")
    assert Product.objects.count() == 4


def test_seed_demo_defaults_to_the_committed_photos():
    output = run("seed_demo", "--per-category", "1")

    assert Product.objects.count() == 10
    assert "Created 10 products" in output
    assert "Pants: 1 new, 1 in total" in output
    assert not Product.objects.filter(name__contains="#").exists()


@pytest.fixture
def demo_database(settings):
    """A fresh database on the test server for a demo subprocess; dropped afterwards."""
    import psycopg

    db = settings.DATABASES["default"]
    name = f"vs_demo_{uuid.uuid4().hex[:8]}"
    server = {"host": db["HOST"], "port": db["PORT"] or None, "user": db["USER"], "dbname": "postgres"}
    with psycopg.connect(**server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    host = quote(db["HOST"], safe="")
    yield f"postgresql://{db['USER']}@{host}:{db['PORT'] or 5432}/{name}"
    with psycopg.connect(**server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _cmdline(process: psutil.Process) -> list[str]:
    try:
        return process.cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return []


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_demo_stops_every_process_it_started(signum, tmp_path, demo_database):
    data_dir = tmp_path / "data"
    photos = make_photo_folder(tmp_path / "photos", {"dress": 1, "hat": 1})
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CELERY_", "VISUAL_SEARCH_TEST"))}
    env.update(DJANGO_SETTINGS_MODULE="config.settings", VISUAL_SEARCH_DATA_DIR=str(data_dir),
               DATABASE_URL=demo_database, DJANGO_MEDIA_ROOT=str(tmp_path / "media"))
    command = [sys.executable, "manage.py", "demo", "--source", str(photos), "--addr", f"127.0.0.1:{port}"]
    demo = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    tree = psutil.Process(demo.pid)
    started_processes: list[psutil.Process] = []
    try:

        def started():
            # The web server, the worker and the worker's pool process are all up.
            if demo.poll() is not None:
                pytest.fail(f"demo exited early:\n{demo.stdout.read().decode()}")
            children = tree.children(recursive=True)
            return len(children) >= 3 and children

        started_processes = wait_for(started, timeout=120, message="the demo's web server, worker and pool")
        # The embedded Redis daemonizes (its parent is init); its title names its socket in data_dir.
        started_processes += [p for p in psutil.process_iter() if str(data_dir) in " ".join(_cmdline(p))]
        assert any("redis-server" in " ".join(_cmdline(p)) for p in started_processes)
        assert all(_alive(p) for p in started_processes)

        demo.send_signal(signum)
        output = demo.communicate(timeout=60)[0].decode()
    finally:
        for process in [tree, *started_processes]:
            if _alive(process):  # only when the test failed: leave nothing behind
                process.kill()

    assert demo.returncode == 0, output
    assert "Stopped. The embedded PostgreSQL keeps running" in output
    assert [p for p in started_processes if _alive(p)] == []


@pytest.mark.django_db
def test_the_demo_has_an_uncalibrated_catalogue_calibrated_once(monkeypatch, settings):
    """Its products are embedded by saves, not a bulk job: once they are, the demo sends one calibration."""
    from shop.management.commands.demo import Command  # noqa: PLC0415
    from visual_search.models import Calibration  # noqa: PLC0415
    from visual_search.quality import tasks  # noqa: PLC0415

    sent = []
    monkeypatch.setattr(tasks, "publish", lambda task, args, **kwargs: sent.append((task.name, args)) or True)
    out = StringIO()
    command = Command(stdout=out)
    command._calibrate()
    assert [name for name, _ in sent] == ["visual_search.calibrate"] and "Calibrating confidence" in out.getvalue()
    from visual_search.indexing.encoder_switch import serving_encoder  # noqa: PLC0415

    encoder = serving_encoder()
    assert sent[0][1] == (encoder.id,)
    Calibration.objects.create(encoder=encoder.id, encoder_version=encoder.version, products=1, images=1,
                               categories=2, scores=[0, 1], confidences=[0, 1], floor=0.5)
    command._calibrate()
    assert len(sent) == 1  # calibrated already: nothing more to send
