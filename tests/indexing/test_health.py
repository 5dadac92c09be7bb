"""Health: the command and GET /visual-search/health/ against the real database, broker and worker."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from tests.conftest import ROOT
from visual_search.indexing import health
from visual_search.models import SyncRequest

URL = "/visual-search/health/"


def manage_health(*args: str, **env: str) -> subprocess.CompletedProcess:
    """``manage.py visual_search_health`` in a fresh process on this run's test database, broker and queue."""
    return subprocess.run(
        [sys.executable, "manage.py", "visual_search_health", *args], cwd=ROOT, capture_output=True, text=True,
        timeout=120,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "VISUAL_SEARCH_TEST_WORKER": "1",
             "VISUAL_SEARCH_TEST_DB_NAME": connection.settings_dict["NAME"], **env},
    )


@pytest.fixture(autouse=True)
def fresh_answers():
    health._last_answer.clear()
    yield
    health._last_answer.clear()


def test_the_url_is_the_documented_one():
    assert reverse("visual_search:health") == URL


@pytest.mark.django_db
@pytest.mark.worker
def test_command_exits_0_when_everything_answers(worker):
    result = manage_health("--json")

    assert result.returncode == 0, result.stderr[-2000:]
    data = json.loads(result.stdout)
    assert data["healthy"] is True and data["reasons"] == []
    assert set(data["checks"]) == {"database", "pgvector", "backlog", "broker", "workers", "encoder"}
    assert data["checks"]["pgvector"]["version"]
    assert data["checks"]["encoder"]["encoders"] == ["efficientnet-lite0"]
    [queue] = data["checks"]["workers"]["queues"]
    assert queue == os.environ["VISUAL_SEARCH_TEST_QUEUE"]
    assert data["checks"]["workers"]["workers"][queue]  # the test worker answered for this run's queue


@pytest.mark.django_db
def test_command_names_the_broker_when_it_is_down():
    # Port 1 on localhost: nothing listens, the connection is refused at once.
    result = manage_health("--timeout", "1", CELERY_BROKER_URL="redis://127.0.0.1:1/0")

    assert result.returncode == 1
    assert "unhealthy: broker: cannot connect to redis://127.0.0.1:1/0" in result.stderr
    assert "workers: not asked: the broker is down" in result.stderr
    assert "database  ok" in result.stdout and "broker    FAIL" in result.stdout


@pytest.mark.django_db
def test_deep_check_runs_the_encoder():
    check = health.check_encoder(deep=True)

    assert check.ok, check.detail
    assert check.data["efficientnet-lite0_embed_seconds"] > 0


@pytest.mark.django_db
def test_missing_weights_fail_the_encoder_check(settings, tmp_path):
    settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH, "ENCODER": {
        "BACKEND": "visual_search.encoders.efficientnet_lite.EfficientNetLiteEncoder",
        "OPTIONS": {"weights_path": str(tmp_path / "gone.pth")},
    }}

    check = health.check_encoder()

    assert not check.ok and "gone.pth is missing" in check.detail


@pytest.mark.django_db
def test_view_says_degraded_with_the_reason_when_saves_wait_too_long(client, make_product, settings):
    settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH, "HEALTH_MAX_BACKLOG_AGE": 60}
    product = make_product(None)
    SyncRequest.objects.update_or_create(
        product=product, defaults={"requested_at": timezone.now() - dt.timedelta(minutes=10), "job": None}
    )

    response = client.get(URL)

    # Nothing is down, but work owed is not moving: degraded, with the reason; a load balancer keeps the web up.
    assert response.status_code == 200
    data = response.json()
    assert data["healthy"] is False and data["status"] == "degraded" and "backlog" in data["reasons"]
    assert data["checks"]["backlog"] == {"ok": False}  # anonymous callers see verdicts, not details


@pytest.mark.django_db
@pytest.mark.worker
def test_view_says_200_and_staff_see_the_numbers(client, worker, make_product):
    make_product(None)
    client.force_login(User.objects.create_user("ops", password="pw", is_staff=True))

    response = client.get(URL)

    assert response.status_code == 200, response.content
    data = response.json()
    assert data["healthy"] is True
    assert data["checks"]["backlog"]["owed"] == SyncRequest.objects.count()
    assert data["checks"]["broker"]["url"].startswith(("redis://", "redis+socket://"))
    assert response["Cache-Control"].startswith("max-age=0")
    assert client.post(URL).status_code == 405


@pytest.mark.django_db
def test_the_checks_never_import_tensorflow_unless_deep():
    code = (
        "import sys, django; django.setup();"
        "from visual_search.indexing.health import run_checks; health = run_checks(workers=False);"
        "print(health.as_dict()['checks']['encoder']);"
        "assert 'tensorflow' not in sys.modules, 'tensorflow was imported'; print('clean')"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "VISUAL_SEARCH_TEST_WORKER": "1",
             "VISUAL_SEARCH_TEST_DB_NAME": connection.settings_dict["NAME"]},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "'ok': True" in result.stdout and "clean" in result.stdout


@pytest.mark.django_db
@pytest.mark.worker
def test_a_bulk_queue_needs_a_worker_only_while_a_job_runs(worker, settings):
    from visual_search.models import BulkJob  # noqa: PLC0415

    settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH, "TASK_QUEUE_BULK": "vs-test-bulk-nobody-reads"}
    def workers_check():
        return next(c for c in health.run_checks(timeout=2).checks if c.name == "workers")

    assert workers_check().ok  # the test worker consumes the on-save queue; no job runs

    BulkJob.objects.create(mode="all", encoder="efficientnet-lite0", state="running", total=1)
    check = workers_check()

    assert not check.ok and "'vs-test-bulk-nobody-reads'" in check.detail


@pytest.mark.django_db
@pytest.mark.worker
def test_the_workers_check_returns_when_the_workers_answer_not_at_its_timeout(worker):
    import time  # noqa: PLC0415

    started = time.monotonic()
    check = health.check_workers(timeout=20)
    elapsed = time.monotonic() - started

    assert check.ok, check.detail
    # It stops listening once every queue has a worker: one round trip, not the 10 s (half of 20) it may wait.
    assert elapsed < 8, f"waited {elapsed:.1f} s"


@pytest.mark.django_db
@pytest.mark.worker
def test_run_checks_answers_long_before_a_generous_timeout_when_all_is_well(worker):
    import time  # noqa: PLC0415

    started = time.monotonic()
    result = health.run_checks(timeout=30)
    elapsed = time.monotonic() - started

    assert result.status == "healthy", result.reasons
    assert elapsed < 15, f"the checks waited for their timeout ({elapsed:.1f} s) though everything answered"

