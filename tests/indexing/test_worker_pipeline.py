"""The save → Celery → pgvector path, end to end, through a real worker process on a real broker.

The worker runs the default encoder (EfficientNet-Lite0). Tests commit for
real (transaction=True) because the worker reads from another connection.
"""

from __future__ import annotations

import numpy as np
import pytest
from django.core.files.base import ContentFile

from shop.models import ProductImage
from tests.conftest import photo_bytes, wait_for
from visual_search.indexing.progress import catalogue_progress, embedding_statuses
from visual_search.models import EmbeddingStatus, ImagelessProduct, ProductImageEmbedding, SyncRequest

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def rows(product):
    return ProductImageEmbedding.objects.filter(product_id=product.pk)


def wait_ready(product, count=1):
    return wait_for(
        lambda: rows(product).filter(status=EmbeddingStatus.READY).count() == count and list(rows(product)),
        message=f"{count} ready embedding(s) for product {product.pk}",
    )


def drain(make_product):
    """Wait until a sentinel product is embedded: the single worker has run everything sent before it."""
    wait_ready(make_product("rocket"))


def test_new_product_gets_a_ready_embedding(worker, make_product):
    product = make_product("chelsea")
    [row] = wait_ready(product)
    assert row.image_key == "main"
    assert row.encoder == "efficientnet-lite0" and row.encoder_version
    assert len(row.embedding) == 1280
    assert row.content_hash and row.embedded_at and row.error == ""


def test_replacing_the_image_re_embeds(worker, make_product):
    product = make_product("chelsea")
    [before] = wait_ready(product)
    product.image.save("new.jpg", ContentFile(photo_bytes("coffee")), save=True)
    after = wait_for(
        lambda: (
            rows(product)
            .filter(status=EmbeddingStatus.READY)
            .exclude(content_hash=before.content_hash)
            .first()
        ),
        message="the re-embedded row",
    )
    assert after.pk == before.pk  # updated in place, not duplicated
    assert after.embedded_at > before.embedded_at
    cosine = float(np.asarray(before.embedding) @ np.asarray(after.embedding))
    assert cosine < 0.8, "a cat and a cup of coffee should not embed alike"


def test_saving_without_an_image_change_does_not_re_embed(worker, make_product):
    product = make_product("chelsea")
    [before] = wait_ready(product)
    product.price = 99
    product.save()
    drain(make_product)
    [after] = rows(product)
    assert (after.embedded_at, after.content_hash) == (before.embedded_at, before.content_hash)


def test_deleting_a_product_removes_its_rows(worker, make_product):
    product = make_product("chelsea", gallery=["coffee"])
    wait_ready(product, 2)
    pk = product.pk
    product.delete()
    drain(make_product)
    assert not ProductImageEmbedding.objects.filter(product_id=pk).exists()


def test_corrupt_image_gives_a_failed_row_and_the_save_succeeds(worker, make_product):
    product = make_product(photo_bytes("chelsea")[:1500])  # a truncated JPEG
    assert product.pk is not None
    row = wait_for(
        lambda: rows(product).filter(status=EmbeddingStatus.FAILED).first(), message="a failed row"
    )
    assert row.embedding is None
    assert "corrupt" in row.error


def test_gallery_images_in_a_related_model(worker, make_product):
    product = make_product(None, gallery=["coffee", "astronaut"])
    found = wait_ready(product, 2)
    assert sorted(r.image_key for r in found) == sorted(f"gallery:{g.pk}" for g in product.gallery.all())
    ProductImage.objects.filter(product=product).first().delete()
    wait_for(lambda: rows(product).count() == 1, message="the deleted gallery image's row to go")


def test_a_product_without_images_is_done_in_its_own_state(worker, make_product):
    product = make_product(None)
    wait_for(
        lambda: (
            ImagelessProduct.objects.filter(product=product).exists()
            and not SyncRequest.objects.filter(product=product).exists()
        ),
        message="the worker to settle a product without images",
    )
    assert embedding_statuses([product.pk]) == {product.pk: "no_images"}
    assert catalogue_progress().no_images == 1


def test_work_owed_is_settled_by_the_worker(worker, make_product):
    product = make_product("chelsea", gallery=["coffee"])
    wait_ready(product, 2)
    wait_for(lambda: not SyncRequest.objects.filter(product=product).exists(), message="no work owed")
