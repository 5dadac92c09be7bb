"""Recovery in seconds, at the project's default settings (issue 19).

Real ``celery worker -B`` processes with the default lease, sweep, backoff and
database wait (only the encoder is the slowed test encoder, and batches are
small, so a job lasts long enough to be interrupted); real PostgreSQL behind a
TCP proxy; real Redis. Each test prints what it measured (docs/operations.md
quotes the figures).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import pytest
from django.db import connection
from django.utils import timezone

from tests.conftest import ROOT, wait_for
from tests.faults.test_worker_death import SLOW, assert_job_done_once, start_job
from visual_search.models import BulkJob, BulkJobState

pytestmark = pytest.mark.django_db(transaction=True)

PRODUCTS = 40


def finished(job) -> bool:
    return BulkJob.objects.get(pk=job.pk).state == BulkJobState.FINISHED


def embedded_per_log(*workers) -> int:
    """Images the workers report embedded in settled batches: more than the job's would be work done twice."""
    # The app's own log format only: Celery's handler repeats each line in its own.
    pattern = re.compile(r"^\S+ \S+ INFO visual_search\.indexing\.tasks: Synced products \[[^\]]*\]: (\d+) embedded", re.M)
    return sum(int(n) for worker in workers for n in pattern.findall(worker.log()))


def test_a_whole_worker_killed_mid_job_and_a_new_one_started_finishes_within_45_s(start_worker, catalogue):
    products = catalogue(PRODUCTS)
    worker = start_worker(SLOW, project_defaults=True)
    since = timezone.now()
    job = start_job(products)
    wait_for(lambda: BulkJob.objects.get(pk=job.pk).done >= 8, timeout=90, message="the job to start")
    killed = time.monotonic()
    worker.kill()  # parent, pool child and beat at once: nothing of it renews its leases any more
    assert not finished(job)
    start_worker(SLOW, project_defaults=True, wait=False)
    wait_for(lambda: finished(job), timeout=120, message="the job to finish")
    recovered = time.monotonic() - killed
    print(f"\nwhole worker SIGKILLed mid-job, a new one started: job finished {recovered:.1f} s after the kill")
    assert recovered < 45
    assert_job_done_once(job, products, since)


def test_database_cut_for_30_s_mid_job_finishes_within_45_s_of_its_return(start_worker, db_proxy, catalogue):
    products = catalogue(PRODUCTS)
    start_worker(SLOW, project_defaults=True, db_port=db_proxy.port)
    since = timezone.now()
    job = start_job(products)
    wait_for(lambda: BulkJob.objects.get(pk=job.pk).done >= 8, timeout=90, message="the job to start")
    db_proxy.down()  # every connection of the worker cut, new ones refused
    assert not finished(job)
    time.sleep(30)
    assert BulkJob.objects.get(pk=job.pk).state == BulkJobState.RUNNING  # nothing finished it meanwhile
    db_proxy.up()
    back = time.monotonic()
    wait_for(lambda: finished(job), timeout=120, message="the job to finish after the outage")
    recovered = time.monotonic() - back
    print(f"\ndatabase cut for 30 s mid-job: job finished {recovered:.1f} s after the database came back")
    assert recovered < 45
    assert_job_done_once(job, products, since)


def health_through(proxy) -> tuple[subprocess.CompletedProcess, float]:
    """``manage.py visual_search_health`` in a fresh process whose database is behind ``proxy``."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "VISUAL_SEARCH_TEST_WORKER": "1",
        "VISUAL_SEARCH_TEST_DB_NAME": connection.settings_dict["NAME"],
        "VISUAL_SEARCH_TEST_DB_PORT": str(proxy.port),
        "VISUAL_SEARCH_TEST_OVERRIDES": json.dumps({"ADAPTER": "shop.adapters.ShopProductAdapter"}),
    }
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "manage.py", "visual_search_health", "--no-workers"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    return result, time.monotonic() - started


def test_database_blackholed_health_names_it_within_10_s_and_the_worker_goes_on(
    start_worker, db_proxy, catalogue
):
    products = catalogue(PRODUCTS)
    worker = start_worker(SLOW, project_defaults=True, db_port=db_proxy.port)
    since = timezone.now()
    job = start_job(products)
    wait_for(lambda: BulkJob.objects.get(pk=job.pk).done >= 8, timeout=90, message="the job to start")
    db_proxy.blackhole()  # connections accepted and never answered; open ones carry nothing
    result, seconds = health_through(db_proxy)
    print(f"\ndatabase blackholed: health answered in {seconds:.1f} s (process start included): "
          f"exit {result.returncode}, {result.stderr.strip()[-300:]}")
    assert result.returncode == 1
    assert "unhealthy: database:" in result.stderr and "no answer" in result.stderr
    assert seconds < 10
    time.sleep(max(0.0, 20 - seconds))  # longer than a lease
    assert not finished(job)
    db_proxy.up()
    back = time.monotonic()
    wait_for(lambda: finished(job), timeout=120, message="the job to finish after the blackhole")
    print(f"the job finished {time.monotonic() - back:.1f} s after the database answered again")
    assert time.monotonic() - back < 45
    assert_job_done_once(job, products, since)
    assert embedded_per_log(worker) == len(products), "an image was embedded twice"


def test_broker_blackholed_health_names_it_within_10_s(broker_proxy):
    broker_proxy.blackhole()  # Redis accepts and never answers
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "VISUAL_SEARCH_TEST_WORKER": "1",
        "VISUAL_SEARCH_TEST_DB_NAME": connection.settings_dict["NAME"],
        "CELERY_BROKER_URL": broker_proxy.url,
    }
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "manage.py", "visual_search_health"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    seconds = time.monotonic() - started
    print(f"\nbroker blackholed: health answered in {seconds:.1f} s (process start included): "
          f"{result.stderr.strip()[-200:]}")
    assert result.returncode == 1
    assert "unhealthy: broker:" in result.stderr and "database" not in result.stderr.split("unhealthy:")[1]
    assert seconds < 10
