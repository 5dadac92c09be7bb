"""The one results path: display records through the adapter's bulk hook, relevance and close_match."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.conftest import photo_bytes
from tests.synthetic import thumbnail_encoder, unit, vector_catalogue  # noqa: F401
from visual_search.adapters import ProductAdapter, ProductDisplay
from visual_search.indexing.sync import sync_products
from visual_search.search.results import build_result_page, relevance
from visual_search.search.service import search_by_image, search_by_vector, similar_products

pytestmark = pytest.mark.django_db


def test_relevance_codes_follow_the_floor():
    assert relevance(0.97, 0.5) == "near_identical"
    assert relevance(0.7, 0.5) == "similar"
    assert relevance(0.49, 0.5) == "not_close"


def test_display_records_come_from_the_adapter(vector_catalogue):
    products, vectors = vector_catalogue(6)
    page = build_result_page(search_by_vector(vectors[0], k=3), floor=0.5)
    first = page.items[0]
    assert first.product == products[0] and first.pk == products[0].pk
    assert first.title == products[0].name
    assert first.url == products[0].get_absolute_url()
    assert first.price == products[0].price and first.in_stock == products[0].in_stock
    assert first.score == pytest.approx(1.0, abs=1e-5) and first.relevance == "near_identical"
    assert first.matched_image == "main"
    assert page.close_match and page.matches[0] is first


def test_search_by_vector_excludes_and_rejects_wrong_dimensions(vector_catalogue):
    products, vectors = vector_catalogue(5)
    results = search_by_vector(vectors[1], k=4, exclude=products[1])
    assert products[1] not in [r.product for r in results] and len(results) == 4
    with pytest.raises(ValueError, match="256-d"):
        search_by_vector(np.ones(3), k=2)


def test_no_close_match_below_the_floor(vector_catalogue):
    products, vectors = vector_catalogue(8)
    # A direction orthogonal to every stored vector: nothing is close.
    query = unit(np.linalg.svd(vectors)[2][-1])
    page = build_result_page(search_by_vector(query, k=5))
    assert len(page) == 5
    assert not page.close_match
    assert page.matches == [] and len(page.others) == 5
    assert all(item.relevance_label == "Not a close match" for item in page)


def test_one_bulk_display_call_per_page(vector_catalogue):
    products, vectors = vector_catalogue(10)
    calls = []

    class CountingAdapter(ProductAdapter):
        def get_display(self, products):
            calls.append(len(products))
            return {p.pk: ProductDisplay(title=f"#{p.pk}", price=Decimal("1")) for p in products}

    page = build_result_page(search_by_vector(vectors[0], k=7), adapter=CountingAdapter())
    assert calls == [7]
    assert [item.title for item in page] == [f"#{r.pk}" for r in page]


@pytest.mark.parametrize("gallery_only", [False, True])
def test_a_page_costs_the_same_queries_for_any_k(make_product, settings, gallery_only):
    """Products, thumbnails (main image or first gallery image), price and stock: fixed queries."""
    settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH, "AUTO_EMBED": False,
                              "ENCODER": {"BACKEND": "visual_search.encoders.thumbnail.ThumbnailEncoder"}}
    photos = ["chelsea", "coffee", "astronaut", "rocket", "camera", "horse", "moon"]
    products = [
        make_product(None, gallery=[photos[i % 7]]) if gallery_only else make_product(photos[i % 7])
        for i in range(14)
    ]
    sync_products([p.pk for p in products])

    def count(k: int) -> int:
        with CaptureQueriesContext(connection) as queries:
            page = build_result_page(similar_products(products[0], k=k))
        assert len(page) == k and all(item.image_url for item in page)
        return len(queries)

    count(3)  # once-per-process look-ups (pgvector's version) out of the way
    assert count(3) == count(12)


def test_off_catalogue_photo_is_not_a_close_match(make_product):
    """The real encoder and the default floor: a cat against a catalogue of other things."""
    catalogue = [make_product(name, name=name) for name in ("coffee", "astronaut", "rocket", "camera", "horse")]
    sync_products([p.pk for p in catalogue])
    page = build_result_page(search_by_image(photo_bytes("chelsea"), k=3))
    assert len(page) == 3 and not page.close_match
    crop = build_result_page(search_by_image(photo_bytes("rocket", size=300, quality=60), k=3))
    assert crop.close_match and crop.items[0].title == "rocket"
