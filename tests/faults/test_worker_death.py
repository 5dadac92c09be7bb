"""Workers die: SIGKILL mid-job, an image that kills its worker, a product deleted mid-inference.

Done-when items (b) and (d) of the pipeline issue, and the delete that must not
wait for inference. Real ``celery worker -B`` processes on the real broker and
database; the encoder is the tiny test encoder (slowed down or made deadly),
because the encoder is not the point here.
"""

from __future__ import annotations

import time

import pytest
from django.db import transaction
from django.utils import timezone

from tests.conftest import wait_for
from tests.faults.test_lost_work import deadly_png
from visual_search.indexing.outbox import request_sync
from visual_search.indexing.tasks import kick
from visual_search.models import (
    BulkJob,
    BulkJobMode,
    BulkJobState,
    EmbeddingStatus,
    ProductImageEmbedding,
    SyncRequest,
)

pytestmark = pytest.mark.django_db(transaction=True)

SLOW = {
    "ENCODER": {"BACKEND": "tests.faults.encoders.SlowEncoder", "OPTIONS": {"seconds": 0.4}},
    "BATCH_SIZE": 4,
    "BULK_BATCH_SIZE": 4,  # a job's batches stay small too: a job lasts long enough to be interrupted
}


def start_job(products) -> BulkJob:
    job = BulkJob.objects.create(mode=BulkJobMode.FORCE, encoder="thumbnail", total=len(products))
    request_sync([p.pk for p in products], force=True, job=job)
    kick(job)
    return job


def assert_job_done_once(job, products, since) -> None:
    job.refresh_from_db()
    assert job.state == BulkJobState.FINISHED and job.finished_at
    assert (job.done, job.failed) == (len(products), 0)  # nothing counted twice
    assert not SyncRequest.objects.exists()
    for product in products:
        [row] = ProductImageEmbedding.objects.filter(product=product)  # exactly one row per image and encoder
        assert row.encoder == "thumbnail" and row.status == EmbeddingStatus.READY
        assert row.embedded_at > since, "every product of the job was re-embedded"


@pytest.mark.parametrize("whole_worker", [False, True], ids=["child", "parent-and-child"])
def test_b_a_worker_killed_mid_job_finishes_it_after_a_restart(whole_worker, start_worker, catalogue):
    products = catalogue(24)
    worker = start_worker(SLOW)
    since = timezone.now()
    job = start_job(products)
    wait_for(lambda: BulkJob.objects.get(pk=job.pk).done >= 4, timeout=60, message="the job to start")
    started = time.monotonic()
    worker.kill(child_only=not whole_worker)
    assert BulkJob.objects.get(pk=job.pk).state == BulkJobState.RUNNING  # killed in the middle
    if whole_worker:
        start_worker(SLOW)  # a new worker; Redis would redeliver the lost batch only after an hour
    wait_for(
        lambda: BulkJob.objects.get(pk=job.pk).state == BulkJobState.FINISHED,
        timeout=300,
        message="the job to finish",
    )
    assert time.monotonic() - started < 300
    assert_job_done_once(job, products, since)


def test_d_an_image_that_kills_the_worker_fails_with_a_reason_and_its_batch_is_embedded(
    start_worker, make_product
):
    start_worker({"ENCODER": {"BACKEND": "tests.faults.encoders.DeadlyEncoder"}, "TASK_MAX_RETRIES": 2})
    with transaction.atomic():  # one commit, one task, one batch
        deadly = make_product(deadly_png())
        others = [make_product(name) for name in ("chelsea", "coffee", "rocket")]
    failed = wait_for(
        lambda: ProductImageEmbedding.objects.filter(product=deadly, status=EmbeddingStatus.FAILED).first(),
        timeout=240,
        message="the deadly image to be given up on",
    )
    assert "worker died while embedding" in failed.error and "3 times" in failed.error
    for product in others:
        assert ProductImageEmbedding.objects.get(product=product).status == EmbeddingStatus.READY
    wait_for(lambda: not SyncRequest.objects.exists(), timeout=30, message="no work owed")


def test_deleting_a_product_does_not_wait_for_its_inference(start_worker, make_product):
    worker = start_worker(
        {"ENCODER": {"BACKEND": "tests.faults.encoders.SlowEncoder", "OPTIONS": {"seconds": 8}}}
    )
    product = make_product("chelsea", gallery=["coffee"])
    pk = product.pk
    wait_for(
        lambda: SyncRequest.objects.filter(product_id=pk, claimed_until__isnull=False).exists(),
        timeout=60,
        message="the worker to claim the product",
    )
    time.sleep(1.5)  # planned and decoded: the encoder is now running
    assert "Synced products" not in worker.log()
    started = time.monotonic()
    product.delete()
    assert time.monotonic() - started < 2, "the delete waited for the inference"
    wait_for(lambda: "Synced products" in worker.log(), timeout=60, message="the worker to finish its batch")
    assert not ProductImageEmbedding.objects.filter(product_id=pk).exists()
    assert "Traceback" not in worker.log()
