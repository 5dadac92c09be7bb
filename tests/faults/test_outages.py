"""The broker or the database goes away; nothing is lost and nobody has to step in.

Done-when items (a) and (c) of the pipeline issue. The shared Redis and
PostgreSQL keep running: a proxy between them and the app or worker refuses
connections and drops the open ones.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from django.db import connection
from django.utils import timezone

from tests.conftest import ROOT, wait_for
from tests.faults.conftest import FAST
from tests.faults.test_worker_death import SLOW, assert_job_done_once, start_job
from visual_search.models import BulkJob, BulkJobState, EmbeddingStatus, ProductImageEmbedding, SyncRequest

pytestmark = pytest.mark.django_db(transaction=True)

SAVE_TWENTY_SCRIPT = """
import django, json, time
django.setup()
from config.celery import app
app.conf.task_always_eager = False
from django.core.files.base import ContentFile
from shop.models import Category, Product
from tests.conftest import photo_bytes
category = Category.objects.create(name="offline", slug="offline")
photos = [photo_bytes(name, size=160) for name in ("chelsea", "coffee", "astronaut", "rocket")]
pks, seconds = [], []
for i in range(20):
    product = Product(name=f"offline {i}", slug=f"offline-{i}", price=1, category=category)
    product.image.save(f"offline-{i}.jpg", ContentFile(photos[i % 4]), save=False)
    started = time.monotonic()
    product.save()  # autocommit: the on-commit hook tries the broker right here
    seconds.append(time.monotonic() - started)
    pks.append(product.pk)
print(json.dumps({"pks": pks, "seconds": seconds}))
"""


def test_a_broker_unreachable_while_twenty_products_are_saved(start_worker, broker_proxy):
    start_worker(broker_url=broker_proxy.url)
    broker_proxy.down()
    env = {
        **os.environ,
        "CELERY_BROKER_URL": broker_proxy.url,
        "VISUAL_SEARCH_TEST_WORKER": "1",
        "VISUAL_SEARCH_TEST_DB_NAME": connection.settings_dict["NAME"],
        "VISUAL_SEARCH_TEST_OVERRIDES": json.dumps(FAST),
    }
    result = subprocess.run(
        [sys.executable, "-c", SAVE_TWENTY_SCRIPT],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    saved = json.loads(result.stdout.strip().splitlines()[-1])
    assert len(saved["pks"]) == 20
    assert max(saved["seconds"]) < 1.0, f"a save waited for the broker: {saved['seconds']}"
    assert "Could not enqueue" in result.stderr
    assert SyncRequest.objects.filter(product_id__in=saved["pks"]).count() == 20  # all owed, none lost
    broker_proxy.up()  # no manual step from here: the worker reconnects and its beat's sweep finds the work
    back = time.monotonic()
    wait_for(
        lambda: (
            ProductImageEmbedding.objects.filter(
                product_id__in=saved["pks"], status=EmbeddingStatus.READY
            ).count()
            == 20
        ),
        timeout=180,
        message="every product saved during the outage to be embedded",
    )
    print(f"\nbroker down while 20 products were saved: all embedded {time.monotonic() - back:.1f} s after it returned")
    wait_for(lambda: not SyncRequest.objects.exists(), timeout=30, message="no work owed")


def test_c_database_down_for_a_minute_during_a_bulk_job(start_worker, db_proxy, catalogue):
    products = catalogue(24)
    start_worker({**SLOW, "ENCODER": {**SLOW["ENCODER"], "OPTIONS": {"seconds": 1.0}}}, db_port=db_proxy.port)
    since = timezone.now()
    job = start_job(products)
    wait_for(lambda: BulkJob.objects.get(pk=job.pk).done >= 4, timeout=60, message="the job to start")
    db_proxy.down()
    assert BulkJob.objects.get(pk=job.pk).done < len(products)  # the outage hits mid-job
    time.sleep(60)
    assert BulkJob.objects.get(pk=job.pk).state == BulkJobState.RUNNING  # nothing finished it meanwhile
    db_proxy.up()
    wait_for(
        lambda: BulkJob.objects.get(pk=job.pk).state == BulkJobState.FINISHED,
        timeout=240,
        message="the job to finish after the outage",
    )
    assert_job_done_once(job, products, since)  # each product re-embedded: embedded_at after the start
