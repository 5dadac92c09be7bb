"""Only searchable products, ever: the similar endpoint 404s for a hidden product, results never hold one."""

from __future__ import annotations

import pytest

from shop.adapters import ShopProductAdapter
from tests.api_clients import api_client, api_key, fresh_throttles  # noqa: F401
from tests.synthetic import thumbnail_encoder, vector_catalogue  # noqa: F401
from visual_search.search.service import search_by_vector, similar_products

pytestmark = pytest.mark.django_db


class InStockOnlyAdapter(ShopProductAdapter):
    """A shop that hides what it cannot sell: out-of-stock products are not searchable."""

    def get_queryset(self):
        return super().get_queryset().filter(in_stock=True)


@pytest.fixture
def hiding(settings, vector_catalogue):
    products, vectors = vector_catalogue(24)  # every 4th product is out of stock
    settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH, "ADAPTER": f"{__name__}.InStockOnlyAdapter"}
    hidden = [p for p in products if not p.in_stock]
    assert hidden
    return products, vectors, hidden


def test_hidden_products_are_never_results_and_k_is_still_filled(hiding):
    products, vectors, hidden = hiding
    for vector in vectors[:6]:
        results = search_by_vector(vector, k=10)
        assert len(results) == 10
        assert not {r.product.pk for r in results} & {p.pk for p in hidden}
    # The hidden product's own vector ranks it first; it still does not show.
    assert hidden[0] not in [r.product for r in search_by_vector(vectors[products.index(hidden[0])], k=5)]


def test_similar_endpoint_404s_for_a_hidden_product(hiding, api_client):
    products, _, hidden = hiding
    response = api_client.get(f"/api/v1/products/{hidden[0].pk}/similar/")
    assert response.status_code == 404 and response.json()["code"] == "not_found"
    shown = next(p for p in products if p.in_stock)
    body = api_client.get(f"/api/v1/products/{shown.pk}/similar/?k=12&min_confidence=0").json()
    assert len(body["results"]) == 12
    assert not {item["id"] for item in body["results"]} & {str(p.pk) for p in hidden}
    assert similar_products(shown, k=30)  # the library call agrees
    assert not {r.product.pk for r in similar_products(shown, k=30)} & {p.pk for p in hidden}
