"""More like these, not those, and at most n per category: through recommend() and the similar endpoint."""

from __future__ import annotations

import numpy as np
import pytest

from shop.models import Category, Product
from tests.api_clients import api_client, api_key, fresh_throttles  # noqa: F401
from tests.synthetic import store_vectors, thumbnail_encoder, unit  # noqa: F401
from visual_search.search.recommend import recommend

pytestmark = pytest.mark.django_db


@pytest.fixture
def steered(thumbnail_encoder):
    """A query product at e0; "x" products lean towards e1, "y" products towards e2; e1 a shade closer."""
    dims = thumbnail_encoder.dimensions
    cats = {s: Category.objects.create(name=s.title(), slug=s) for s in ("x", "y")}
    names = ["query", "x1", "x2", "y1", "y2", "avoid"]
    products = {n: Product.objects.create(name=n, slug=n, category=cats["y" if n.startswith(("y", "avoid")) else "x"],
                                          price=10) for n in names}
    e = np.eye(dims, dtype=np.float32)
    vectors = {
        "query": e[0],
        "x1": e[0] + 0.60 * e[1], "x2": e[0] + 0.70 * e[1],
        "y1": e[0] + 0.55 * e[2], "y2": e[0] + 0.65 * e[2],
        "avoid": e[2],  # what the shopper does not want: the e2 side
    }
    store_vectors([products[n] for n in names], unit(np.stack([vectors[n] for n in names])))
    return products


def names(results) -> list[str]:
    return [r.product.name for r in results]


def test_without_negatives_the_nearest_come_first(steered):
    assert names(recommend([steered["query"]], k=4)) == ["y1", "x1", "y2", "x2"]


def test_a_negative_pushes_its_side_down(steered):
    ranked = names(recommend([steered["query"]], [steered["avoid"]], k=4))
    assert ranked[:2] == ["x1", "x2"] and set(ranked[2:]) == {"y1", "y2"}


def test_positive_and_negative_products_are_never_results(steered):
    ranked = names(recommend([steered["query"], steered["x1"]], [steered["avoid"]], k=10))
    assert "query" not in ranked and "x1" not in ranked and "avoid" not in ranked


def test_at_most_n_per_category(steered):
    ranked = recommend([steered["query"]], k=4, per_category=1)
    assert names(ranked) == ["y1", "x1"]  # one of each category, in rank order; no more categories to fill


def test_the_similar_endpoint_takes_positive_negative_and_per_category(api_client, steered, settings):
    settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH, "SIMILARITY_FLOOR": -1.0}  # every result counts as a match
    q, avoid = steered["query"].pk, steered["avoid"].pk
    plain = api_client.get(f"/api/v1/products/{q}/similar/?k=2").json()["results"]
    steered_away = api_client.get(f"/api/v1/products/{q}/similar/?k=2&negative={avoid}")
    assert steered_away.status_code == 200
    assert [r["title"] for r in plain] == ["y1", "x1"]
    assert [r["title"] for r in steered_away.json()["results"]] == ["x1", "x2"]
    spread = api_client.get(f"/api/v1/products/{q}/similar/?k=4&per_category=1").json()["results"]
    assert [r["title"] for r in spread] == ["y1", "x1"]
    unknown = api_client.get(f"/api/v1/products/{q}/similar/?negative=999999")
    assert unknown.status_code == 400 and unknown.json()["code"] == "unknown_product"
