"""similar_products and search_by_image on the live index with the real encoder."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from tests.conftest import photo_bytes
from visual_search.encoders import get_encoder
from visual_search.indexing.sync import sync_products
from visual_search.indexing.vector_index import index_name
from visual_search.models import ProductImageEmbedding
from visual_search.search.service import embed_query_image, nearest_images, search_by_image, similar_products

pytestmark = pytest.mark.django_db

PHOTOS = ["chelsea", "coffee", "astronaut", "rocket", "camera", "coins", "horse", "moon"]


@pytest.fixture
def catalogue(make_product):
    products = {name: make_product(name, name=name) for name in PHOTOS}
    # A second shot of the cat: smaller and re-compressed.
    products["chelsea-copy"] = make_product(photo_bytes("chelsea", size=200, quality=70), name="chelsea-copy")
    sync_products([p.pk for p in products.values()])
    return products


def names(results):
    return [r.product.name for r in results]


def test_similar_products_puts_the_near_duplicate_first(catalogue):
    results = similar_products(catalogue["chelsea"], k=5)
    assert names(results)[0] == "chelsea-copy"
    assert "chelsea" not in names(results)  # never itself
    assert results[0].score > 0.85
    assert results[1].score < results[0].score - 0.15
    assert [r.distance for r in results] == sorted(r.distance for r in results)


def test_search_by_photo_finds_the_product(catalogue):
    results = search_by_image(photo_bytes("coffee", quality=60), k=3)
    assert names(results)[0] == "coffee"
    assert results[0].score > 0.9


def test_a_product_with_a_gallery_appears_once(catalogue, make_product):
    gallery = make_product("rocket", gallery=["rocket", "moon"], name="rocket-gallery")
    sync_products([gallery.pk])
    found = names(search_by_image(photo_bytes("rocket"), k=5))
    assert found.count("rocket-gallery") == 1
    assert set(found[:2]) == {"rocket", "rocket-gallery"}


def test_filters_restrict_results_and_still_fill_k(catalogue):
    catalogue["chelsea-copy"].in_stock = False
    catalogue["chelsea-copy"].save()
    results = similar_products(catalogue["chelsea"], k=5, filters={"in_stock": True})
    assert "chelsea-copy" not in names(results)
    assert len(results) == 5


def test_product_without_embeddings_has_no_similar_products(make_product):
    assert similar_products(make_product(None)) == []


def test_nearest_neighbour_query_uses_the_hnsw_index(catalogue):
    encoder = get_encoder()
    vector = embed_query_image(photo_bytes("chelsea"))
    qs = nearest_images(ProductImageEmbedding.objects.all(), vector, encoder, 10)
    with transaction.atomic(), connection.cursor() as cursor:
        # With nine rows a scan and a sort are cheaper; forbid them to see that the index applies.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
        plan = qs.explain()
    assert index_name(encoder.id, encoder.dimensions) in plan
    assert "Index Scan" in plan


def test_large_k_over_products_with_many_images_stays_within_pgvector_limits(make_product, settings):
    """Widening the candidate pool must never ask pgvector for an ef_search above 1000."""
    settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH, "HNSW_EF_SEARCH": 5000,
                              "ENCODER": {"BACKEND": "visual_search.encoders.thumbnail.ThumbnailEncoder"}}
    from visual_search.indexing.vector_index import ensure_hnsw_index

    ensure_hnsw_index("thumbnail", get_encoder().dimensions)
    products = [make_product("chelsea", gallery=["chelsea", "coffee", "astronaut"]) for _ in range(3)]
    sync_products([p.pk for p in products])
    results = similar_products(products[0], k=100)
    assert sorted(r.product.pk for r in results) == sorted(p.pk for p in products[1:])
