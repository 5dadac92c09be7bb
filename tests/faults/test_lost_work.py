"""Work is never lost: rolled-back saves owe nothing, lost tasks are found, one bad file fails alone.

Done-when items (e), (f) and (g) of the pipeline issue.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest
from celery.signals import before_task_publish
from django.db import connection, transaction
from PIL import Image

from shop.models import Product, ProductImage
from tests.conftest import ROOT
from visual_search.indexing import outbox
from visual_search.indexing.jobs import select_products
from visual_search.indexing.progress import catalogue_progress
from visual_search.indexing.tasks import embed_products, sweep_now
from visual_search.models import EmbeddingStatus, ProductImageEmbedding, SyncRequest


@pytest.fixture
def published():
    """Task names really published to the broker (eager mode off) while the test runs."""
    from config.celery import app

    sent: list[tuple[str, list]] = []

    def record(sender=None, body=None, **kwargs):
        sent.append((sender, list(body[0]) if isinstance(body, (list, tuple)) else body))

    before_task_publish.connect(record, weak=False)
    app.conf.task_always_eager = False
    yield sent
    app.conf.task_always_eager = True
    before_task_publish.disconnect(record)
    app.control.purge()  # nothing this test sent is left for a later worker


@pytest.mark.django_db(transaction=True)
def test_e_a_rolled_back_save_sends_no_task_and_owes_nothing(make_product, published):
    with pytest.raises(RuntimeError), transaction.atomic():
        product = make_product("chelsea", gallery=["coffee"])
        assert SyncRequest.objects.filter(product=product).exists()  # owed inside the transaction
        raise RuntimeError("the view failed after saving")
    assert published == []
    assert not SyncRequest.objects.exists()
    # The next transaction sends its own product only: nothing of the rolled-back one was left pending.
    with transaction.atomic():
        other = make_product("coffee")
    assert published == [("visual_search.embed_products", [[other.pk]])]


@pytest.mark.django_db
def test_f_an_image_stored_outside_the_storage_fails_alone(make_product):
    good, bad, gallery = (
        make_product("chelsea"),
        make_product("coffee"),
        make_product(None, gallery=["rocket"]),
    )
    Product.objects.filter(pk=bad.pk).update(image="../../../../etc/passwd")  # a name outside MEDIA_ROOT
    embed_products.apply(args=([good.pk, bad.pk, gallery.pk],))  # one batch
    failed = ProductImageEmbedding.objects.get(product=bad)
    assert failed.status == EmbeddingStatus.FAILED and failed.embedding is None
    assert "not allowed" in failed.error and "outside" in failed.error
    for product in (good, gallery):
        assert ProductImageEmbedding.objects.get(product=product).status == EmbeddingStatus.READY
    assert not SyncRequest.objects.exists()  # every product of the batch is settled


LOSE_TASK_SCRIPT = """
import django
django.setup()
from config.celery import app
app.conf.task_always_eager = False
from django.core.files.base import ContentFile
from shop.models import ProductImage
from tests.conftest import photo_bytes
image = ProductImage(product_id={pk})
image.image.save("added-while-lost.jpg", ContentFile(photo_bytes("coffee")), save=False)
image.save()  # the task cannot be published: the broker is unreachable from this process
print(image.pk)
"""


@pytest.mark.django_db(transaction=True)
def test_g_a_gallery_image_added_while_its_task_was_lost_is_found(make_product, settings):
    product = make_product("chelsea")  # embedded at once (eager tasks)
    assert ProductImageEmbedding.objects.get(product=product).status == EmbeddingStatus.READY
    env = {
        **os.environ,
        "CELERY_BROKER_URL": "redis://127.0.0.1:1/0",
        "VISUAL_SEARCH_TEST_WORKER": "1",
        "VISUAL_SEARCH_TEST_DB_NAME": connection.settings_dict["NAME"],
    }
    result = subprocess.run(
        [sys.executable, "-c", LOSE_TASK_SCRIPT.format(pk=product.pk)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Could not enqueue" in result.stderr
    # Nothing ran, yet nothing says "ready": the work owed is on record.
    assert list(select_products("missing")) == [product.pk]
    progress = catalogue_progress()
    assert (progress.ready, progress.pending, progress.owed) == (0, 1, 1)
    # The sweep finds it once it has waited SYNC_SWEEP_AFTER unclaimed, and embeds it (eagerly here).
    settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH, "SYNC_SWEEP_AFTER": 0}
    assert outbox.due_count() == 1
    assert sweep_now() == 1
    rows = ProductImageEmbedding.objects.filter(product=product)
    assert sorted(rows.values_list("image_key", flat=True)) == sorted(
        ["main", f"gallery:{ProductImage.objects.get(product=product).pk}"]
    )
    assert all(r.status == EmbeddingStatus.READY for r in rows)
    assert not SyncRequest.objects.exists() and list(select_products("missing")) == []


def deadly_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (77, 77), (200, 30, 60)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.django_db
def test_the_sweep_command_reports_and_sends(make_product, settings):
    from django.core.management import call_command

    make_product("chelsea")  # owed: its task never ran (this test's transaction never commits)
    settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH, "SYNC_SWEEP_AFTER": 0}
    out = io.StringIO()
    call_command("visual_search_sweep", stdout=out)
    assert "1 products owe work; 1 with nobody working on them; 1 drain task(s) sent." in out.getvalue()
    assert not SyncRequest.objects.exists()  # eager here: the drain ran
