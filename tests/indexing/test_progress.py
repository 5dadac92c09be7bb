"""catalogue_progress() and the per-product embedding status annotation."""

from __future__ import annotations

import pytest
from django.utils import timezone

from shop.models import Product
from tests.conftest import photo_bytes
from visual_search.encoders import get_encoder
from visual_search.indexing.progress import (
    CatalogueProgress,
    catalogue_progress,
    embedding_statuses,
    filter_by_embedding_status,
)
from visual_search.indexing.sync import sync_products
from visual_search.models import EmbeddingStatus, ImagelessProduct, ProductImageEmbedding, SyncRequest

pytestmark = pytest.mark.django_db


def add_row(product, key="main", status=EmbeddingStatus.READY, version=None, encoder=None):
    """Write an embedding row by hand, to reach states a real run reaches only through failures."""
    enc = get_encoder()
    return ProductImageEmbedding.objects.create(
        product=product,
        image_key=key,
        encoder=encoder or enc.id,
        encoder_version=enc.version if version is None else version,
        status=status,
    )


@pytest.fixture
def catalogue(make_product):
    """Six products, one in each state the progress numbers distinguish."""
    p = {
        name: make_product(None, name=name)
        for name in ["ready", "gallery_ready", "pending", "failed", "stale", "never"]
    }
    add_row(p["ready"])
    add_row(p["gallery_ready"])
    add_row(p["gallery_ready"], "gallery:1")
    add_row(p["pending"], status=EmbeddingStatus.PENDING)
    add_row(p["pending"], "gallery:1", EmbeddingStatus.FAILED)  # counts as pending and failed
    add_row(p["failed"], status=EmbeddingStatus.FAILED)
    add_row(p["stale"], version="0-old")
    add_row(p["never"], encoder="another-encoder")  # another encoder's rows do not count
    SyncRequest.objects.all().delete()  # the saves' work is done: only the rows above tell
    return p


def test_counts_each_state(catalogue):
    progress = catalogue_progress()

    assert isinstance(progress, CatalogueProgress)
    assert progress.encoder == get_encoder().id and progress.encoder_version == get_encoder().version
    assert progress.total == 6
    assert progress.ready == 2  # "ready" and "gallery_ready"; "stale" is ready under an old version only
    assert progress.pending == 1
    assert progress.failed == 2
    assert progress.not_embedded == 1
    assert progress.stale_rows == 1
    assert progress.settled == 3  # ready x2 + failed
    assert progress.outstanding == 3  # pending, stale, never
    assert progress.rows == {"ready": 4, "pending": 1, "failed": 2}
    assert progress.percent_ready == pytest.approx(33.3)


def test_as_dict_includes_derived_numbers(catalogue):
    data = catalogue_progress().as_dict()

    assert data["percent_ready"] == pytest.approx(33.3)
    assert data["outstanding"] == 3
    assert data["rows"]["failed"] == 2


def test_empty_catalogue_is_complete(db):
    progress = catalogue_progress()

    assert (progress.total, progress.ready, progress.not_embedded) == (0, 0, 0)
    assert progress.percent_ready == 100.0
    assert progress.outstanding == 0


def test_only_searchable_products_count(catalogue, settings):
    adapter = "tests.indexing.test_progress.InStockAdapter"
    settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH, "ADAPTER": adapter}
    Product.objects.filter(pk=catalogue["never"].pk).update(in_stock=False)

    progress = catalogue_progress()

    assert progress.total == 5
    assert progress.not_embedded == 0


def test_real_sync_makes_products_ready(make_product):
    products = [
        make_product("chelsea"),
        make_product("coffee", gallery=["rocket"]),
        make_product(photo_bytes()[:900]),
    ]
    before = catalogue_progress()
    # Saved, so owed (their tasks never ran: this test's transaction never commits): pending.
    assert (before.total, before.not_embedded, before.ready, before.pending, before.owed) == (3, 0, 0, 3, 3)

    sync_products([p.pk for p in products])
    after = catalogue_progress()

    assert (after.ready, after.failed, after.not_embedded, after.pending) == (2, 1, 0, 0)
    assert after.rows == {"ready": 3, "pending": 0, "failed": 1}
    assert after.outstanding == 0


def test_one_status_per_product_and_filters_agree(catalogue):
    by_pk = {p.pk: name for name, p in catalogue.items()}

    statuses = {by_pk[pk]: status for pk, status in embedding_statuses(by_pk).items()}

    assert statuses == {
        "ready": "ready",
        "gallery_ready": "ready",
        "pending": "failed",
        "failed": "failed",
        "stale": "pending",
        "never": "none",
    }
    for status in ("ready", "pending", "failed", "none"):
        filtered = filter_by_embedding_status(Product.objects.all(), status)
        expected = sorted(name for name, s in statuses.items() if s == status)
        assert sorted(p.name for p in filtered) == expected, status


def test_work_owed_is_pending_never_ready(catalogue):
    SyncRequest.objects.create(product=catalogue["ready"], requested_at=timezone.now())  # a task was lost
    progress = catalogue_progress()
    assert (progress.ready, progress.pending, progress.owed, progress.outstanding) == (1, 2, 1, 4)
    assert embedding_statuses([catalogue["ready"].pk]) == {catalogue["ready"].pk: "pending"}
    assert catalogue["ready"] in filter_by_embedding_status(Product.objects.all(), "pending")
    assert catalogue["ready"] not in filter_by_embedding_status(Product.objects.all(), "ready")


def test_products_without_images_are_done_in_their_own_state(make_product):
    with_photo, without = make_product("chelsea"), make_product(None)
    sync_products([with_photo.pk, without.pk])
    progress = catalogue_progress()
    assert (progress.ready, progress.no_images, progress.not_embedded, progress.pending) == (1, 1, 0, 0)
    assert progress.percent_ready == 100.0 and progress.outstanding == 0
    assert embedding_statuses([without.pk]) == {without.pk: "no_images"}
    assert list(filter_by_embedding_status(Product.objects.all(), "no_images")) == [without]
    assert ImagelessProduct.objects.filter(product=without).exists()


class InStockAdapter:
    """A host adapter that hides products out of stock."""

    def get_queryset(self):
        return Product.objects.filter(in_stock=True)
