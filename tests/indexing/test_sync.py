"""sync_products, the work-owed rows and the drain task, in-process (eager Celery) on the real database."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from shop.models import ProductImage
from tests.conftest import photo_bytes
from tests.testapp.encoders import FlakyEncoder
from visual_search.indexing import outbox
from visual_search.indexing.sync import sync_products
from visual_search.indexing.tasks import embed_products, sweep_now
from visual_search.models import (
    BulkJob,
    BulkJobMode,
    BulkJobState,
    EmbeddingStatus,
    ImagelessProduct,
    ProductImageEmbedding,
    SyncRequest,
)

pytestmark = pytest.mark.django_db

THUMBNAIL = {"ENCODER": {"BACKEND": "visual_search.encoders.thumbnail.ThumbnailEncoder"}}


def flaky(failures: int) -> dict:
    FlakyEncoder.calls = 0
    return {
        "ENCODER": {"BACKEND": "tests.testapp.encoders.FlakyEncoder", "OPTIONS": {"failures": failures}},
        "TASK_MAX_RETRIES": 2,
        "ADAPTER": "shop.adapters.ShopProductAdapter",
    }


def test_sync_embeds_main_and_gallery_then_skips_unchanged(make_product):
    product = make_product("chelsea", gallery=["coffee"])
    first = sync_products([product.pk])
    assert (first.embedded, first.unchanged, first.failed) == (2, 0, 0)
    rows = ProductImageEmbedding.objects.filter(product=product, status=EmbeddingStatus.READY)
    assert sorted(rows.values_list("image_key", flat=True)) == sorted(
        ["main", f"gallery:{product.gallery.get().pk}"]
    )
    second = sync_products([product.pk])
    assert (second.embedded, second.unchanged) == (0, 2)
    forced = sync_products([product.pk], force=True)
    assert forced.embedded == 2


def test_sync_removes_rows_of_images_the_product_lost(make_product):
    product = make_product("chelsea", gallery=["coffee", "astronaut"])
    sync_products([product.pk])
    ProductImage.objects.filter(product=product).first().delete()
    product.image.delete(save=True)
    result = sync_products([product.pk])
    assert result.deleted == 2
    assert list(
        ProductImageEmbedding.objects.filter(product=product).values_list("image_key", flat=True)
    ) == [f"gallery:{product.gallery.get().pk}"]


def test_image_change_is_detected_by_content_hash(make_product):
    product = make_product("chelsea")
    sync_products([product.pk])
    before = ProductImageEmbedding.objects.get(product=product)
    # Same file name, new bytes: only the hash can tell.
    product.image.storage.delete(product.image.name)
    product.image.storage.save(product.image.name, ContentFile(photo_bytes("coffee")))
    assert sync_products([product.pk]).embedded == 1
    after = ProductImageEmbedding.objects.get(product=product)
    assert after.content_hash != before.content_hash


def test_encoder_version_change_re_embeds(make_product):
    product = make_product("chelsea")
    sync_products([product.pk])
    ProductImageEmbedding.objects.update(encoder_version="0-old")
    assert sync_products([product.pk]).embedded == 1
    assert ProductImageEmbedding.objects.get().encoder_version != "0-old"


@pytest.mark.parametrize(
    "payload, code",
    [(b"not an image at all", "unsupported_format"), (photo_bytes("chelsea")[:2000], "corrupt")],
)
def test_bad_image_is_recorded_as_failed_with_reason(make_product, payload, code):
    product = make_product(payload)
    result = sync_products([product.pk])
    assert result.failed == 1
    row = ProductImageEmbedding.objects.get(product=product)
    assert row.status == EmbeddingStatus.FAILED and row.embedding is None
    assert row.error.startswith(code)
    # A known-bad image is not retried on every save; replacing it is.
    assert sync_products([product.pk]).unchanged == 1


def test_missing_file_is_a_permanent_failure(make_product):
    product = make_product("chelsea")
    product.image.storage.delete(product.image.name)
    sync_products([product.pk])
    assert "missing" in ProductImageEmbedding.objects.get(product=product).error


def test_deleted_product_is_a_no_op(make_product):
    product = make_product("chelsea")
    pk = product.pk
    product.delete()
    assert sync_products([pk]).missing_products == [pk]


def retry_until_settled(limit: int = 10) -> int:
    """Play the sweep each time a backoff would have run out; return how many drains it took."""
    for rounds in range(1, limit + 1):
        SyncRequest.objects.update(not_before=None)  # the backoff is over
        sweep_now()  # eager: the drain runs here
        if not SyncRequest.objects.exists():
            return rounds
    pytest.fail(f"work still owed after {limit} rounds")


def test_transient_failure_is_retried_then_succeeds(make_product):
    with override_settings(VISUAL_SEARCH=flaky(failures=1)):
        product = make_product("chelsea")  # the save wrote the work owed; its task never ran (no commit)
        embed_products.apply(args=([product.pk],))
        request = SyncRequest.objects.get(product=product)
        assert request.attempts == 1 and "simulated encoder outage" in request.last_error
        assert request.not_before is not None and request.claimed_until is None  # backing off, not lost
        assert ProductImageEmbedding.objects.get(product=product).status == EmbeddingStatus.PENDING
        retry_until_settled()
        row = ProductImageEmbedding.objects.get(product=product, encoder="thumbnail")
    assert row.status == EmbeddingStatus.READY
    assert FlakyEncoder.calls == 2
    assert row.attempts == 2  # the failed try was counted on the row


def test_transient_failure_gives_up_visibly(make_product):
    with override_settings(VISUAL_SEARCH=flaky(failures=100)):
        product = make_product("chelsea")
        embed_products.apply(args=([product.pk],))
        retry_until_settled()
        row = ProductImageEmbedding.objects.get(product=product, encoder="thumbnail")
    assert row.status == EmbeddingStatus.FAILED
    assert "simulated encoder outage" in row.error
    assert FlakyEncoder.calls == 3  # the first try and TASK_MAX_RETRIES=2 retries
    assert row.attempts == 3


def test_two_encoders_keep_separate_rows(make_product):
    product = make_product("chelsea")
    sync_products([product.pk])
    with override_settings(VISUAL_SEARCH={**THUMBNAIL, "ADAPTER": "shop.adapters.ShopProductAdapter"}):
        sync_products([product.pk])
    assert sorted(ProductImageEmbedding.objects.values_list("encoder", flat=True)) == [
        "efficientnet-lite0",
        "thumbnail",
    ]


@pytest.mark.django_db(transaction=True)
def test_save_enqueues_once_per_transaction(make_product, django_capture_on_commit_callbacks):
    product = make_product(None)
    with transaction.atomic():
        with django_capture_on_commit_callbacks() as callbacks:
            for name in ("chelsea", "coffee"):
                image = ProductImage(product=product)
                image.image.save(f"{name}.jpg", ContentFile(photo_bytes(name)), save=False)
                image.save()
            product.save()
        assert len(callbacks) == 1  # one hook per transaction, however many saves it held
        assert SyncRequest.objects.filter(product=product).exists()  # owed in the same transaction
    # Committed: the hook sent the task (eager here) and the work is done.
    assert ProductImageEmbedding.objects.filter(product=product, status=EmbeddingStatus.READY).count() == 2
    assert not SyncRequest.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_saves_of_unrelated_fields_send_nothing(make_product, django_capture_on_commit_callbacks):
    product = make_product("chelsea")
    with transaction.atomic(), django_capture_on_commit_callbacks() as callbacks:
        product.in_stock = False
        product.save(update_fields=["in_stock"])
    assert callbacks == [] and not SyncRequest.objects.exists()
    with transaction.atomic(), django_capture_on_commit_callbacks() as callbacks:
        product.save(update_fields=["image", "in_stock"])
        assert SyncRequest.objects.filter(product=product).exists()
    assert len(callbacks) == 1


def test_products_without_images_are_recorded_as_such(make_product):
    product = make_product(None)
    sync_products([product.pk])
    assert ImagelessProduct.objects.filter(product=product).exists()
    ProductImage.objects.create(product=product, image=ContentFile(photo_bytes("coffee"), name="g.jpg"))
    sync_products([product.pk])
    assert not ImagelessProduct.objects.filter(product=product).exists()
    assert ProductImageEmbedding.objects.filter(product=product, status=EmbeddingStatus.READY).count() == 1


def test_a_request_made_during_the_work_stays_owed(make_product):
    product = make_product("chelsea")
    [claim] = outbox.claim(10)
    sync_products([product.pk])
    outbox.request_sync([product.pk])  # saved again while the worker embedded the old bytes
    assert outbox.complete([claim]) == 0
    request = SyncRequest.objects.get(product=product)
    assert request.claimed_until is None and request.attempts == 0  # handed out again at once
    [again] = outbox.claim(10)
    assert outbox.complete([again]) == 1 and not SyncRequest.objects.exists()


def test_a_product_whose_worker_died_is_claimed_alone(make_product):
    products = [make_product(None) for _ in range(3)]
    claims = outbox.claim(10)
    assert sorted(c.product_pk for c in claims) == sorted(p.pk for p in products)
    assert not outbox.claim(10)  # leased
    SyncRequest.objects.update(claimed_until=timezone.now() - timedelta(seconds=1))  # the worker died
    first, second = outbox.claim(10), outbox.claim(10)
    assert len(first) == len(second) == 1 and first[0].crashed and first[0].attempts == 2
    assert first[0].product_pk != second[0].product_pk


def test_paused_jobs_are_skipped_and_a_job_finishes_when_nothing_points_at_it(make_product):
    products = [make_product(None) for _ in range(3)]
    job = BulkJob.objects.create(mode=BulkJobMode.FORCE, encoder="x", total=3, state=BulkJobState.PAUSED)
    outbox.request_sync([p.pk for p in products], force=True, job=job)
    assert outbox.claim(10) == [] and not outbox.claimable()
    BulkJob.objects.filter(pk=job.pk).update(state=BulkJobState.QUEUED)
    claims = outbox.claim(2)
    job.refresh_from_db()
    assert job.state == BulkJobState.RUNNING and all(c.force and c.job_id == job.pk for c in claims)
    outbox.complete(claims, failed=[claims[0].product_pk])
    job.refresh_from_db()
    assert (job.done, job.failed, job.state) == (1, 1, BulkJobState.RUNNING)
    outbox.complete(outbox.claim(2))
    job.refresh_from_db()
    assert (job.done, job.failed, job.state) == (2, 1, BulkJobState.FINISHED) and job.finished_at


def test_a_save_takes_a_product_out_of_its_job(make_product):
    product = make_product(None)
    job = BulkJob.objects.create(mode=BulkJobMode.ALL, encoder="x", total=1)
    outbox.request_sync([product.pk], job=job)
    product.save()  # save-time work is never paused or cancelled with a job
    request = SyncRequest.objects.get(product=product)
    assert request.job_id is None and request.requested_at is not None


def test_auto_embed_off_sends_nothing(make_product, django_capture_on_commit_callbacks, settings):
    settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH, "AUTO_EMBED": False}
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        make_product("chelsea")
    assert callbacks == []


BROKER_DOWN_SCRIPT = """
import django, time
django.setup()
from config.celery import app
app.conf.task_always_eager = False
from django.core.files.base import ContentFile
from shop.models import Category, Product
from tests.conftest import photo_bytes
product = Product(name="offline", slug="offline", price=1, category=Category.objects.create(name="c", slug="c"))
product.image.save("offline.jpg", ContentFile(photo_bytes("chelsea")), save=False)
started = time.monotonic()
product.save()  # autocommit: the on-commit hook tries the broker right here
print("saved", product.pk, round(time.monotonic() - started, 2))
"""


@pytest.mark.django_db(transaction=True)
def test_broker_down_never_fails_a_save():
    """A fresh process whose broker is unreachable still saves products, and says why nothing was queued."""
    import os
    import subprocess
    import sys

    from django.db import connection

    from shop.models import Product
    from tests.conftest import ROOT

    env = {
        **os.environ,
        "CELERY_BROKER_URL": "redis://127.0.0.1:1/0",  # nothing listens on port 1
        "VISUAL_SEARCH_TEST_WORKER": "1",
        "VISUAL_SEARCH_TEST_DB_NAME": connection.settings_dict["NAME"],
    }
    result = subprocess.run(
        [sys.executable, "-c", BROKER_DOWN_SCRIPT],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    _, pk, seconds = result.stdout.split()
    assert Product.objects.filter(pk=int(pk)).exists()
    assert float(seconds) < 5, "a save must not wait long for a broker that is down"
    assert "Could not enqueue" in result.stderr
    assert not ProductImageEmbedding.objects.filter(product_id=int(pk)).exists()
    assert SyncRequest.objects.filter(product_id=int(pk)).exists()  # the work is still owed


def test_stored_image_over_the_byte_cap_fails_without_being_read_whole(make_product, settings):
    settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH, "MAX_IMAGE_BYTES": 5_000}
    product = make_product("astronaut")  # a JPEG of about 100 KB
    assert product.image.size > 5_000
    assert sync_products([product.pk]).failed == 1
    assert ProductImageEmbedding.objects.get(product=product).error.startswith("too_large")


def test_final_outage_keeps_ready_vectors_searchable(make_product):
    with override_settings(VISUAL_SEARCH={**THUMBNAIL, "ADAPTER": "shop.adapters.ShopProductAdapter"}):
        product = make_product("chelsea")
        sync_products([product.pk])
    with override_settings(VISUAL_SEARCH=flaky(failures=100)):
        outbox.request_sync([product.pk], force=True)
        embed_products.apply(args=([product.pk],))
        retry_until_settled()
    row = ProductImageEmbedding.objects.get(product=product, encoder="thumbnail")
    assert row.status == EmbeddingStatus.READY and row.embedding is not None
    assert "simulated encoder outage" in row.error


def test_one_unreadable_product_does_not_hold_back_its_batch(make_product, settings):
    good, bad = make_product("chelsea"), make_product("coffee")
    # A directory where the file should be: reading it is an OSError that is not "missing".
    (Path(settings.MEDIA_ROOT) / "not-a-file").mkdir(exist_ok=True)
    bad.image.name = "not-a-file"
    bad.save()
    with override_settings(VISUAL_SEARCH={**settings.VISUAL_SEARCH, "TASK_MAX_RETRIES": 1}):
        embed_products.apply(args=([good.pk, bad.pk],))
        assert ProductImageEmbedding.objects.get(product=good).status == EmbeddingStatus.READY
        assert list(SyncRequest.objects.values_list("product", flat=True)) == [bad.pk]  # only it retries
        assert retry_until_settled() == 1
    failed = ProductImageEmbedding.objects.get(product=bad)
    assert failed.status == EmbeddingStatus.FAILED and "Is a directory" in failed.error


@pytest.mark.django_db
def test_vectors_are_written_exactly_as_the_encoder_gave_them(make_product):
    import numpy as np  # noqa: PLC0415

    from visual_search.encoders import get_encoder  # noqa: PLC0415
    from visual_search.indexing.sync import load_images, plan_sync  # noqa: PLC0415

    encoder = get_encoder()
    product = make_product("chelsea", gallery=["coffee"])
    plan = load_images(plan_sync([product.pk], force=True))
    vectors = encoder.embed_prepared([image.pixels[encoder.id] for image in plan.images])
    expected = {image.key: vector for image, vector in zip(plan.images, vectors)}
    sync_products([product.pk], force=True)
    stored = dict(ProductImageEmbedding.objects.filter(product=product).values_list("image_key", "embedding"))
    assert set(stored) == set(expected) and len(stored) == 2
    for key, vector in expected.items():
        # To the last bit of single precision, through the text form the writer sends.
        assert np.array_equal(np.asarray(stored[key], dtype=np.float32), vector.astype(np.float32))
