"""Declared filters: validated, never raw ORM lookups; a selective filter still returns k."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext

from shop.adapters import ShopProductAdapter
from tests.api_clients import api_client, api_key, fresh_throttles  # noqa: F401
from tests.synthetic import build_index, thumbnail_encoder, vector_catalogue  # noqa: F401
from visual_search.filters import FilterError, SearchFilter, parse_filters
from visual_search.search.service import search_by_vector, similar_products

#: The index walk ranks by the index's typed cast (HNSW_VECTOR_TYPE's default); the exact ranking by a
#: cast without a dimension, which no index matches.
WALK = "::halfvec(256) <=>"
EXACT = "::halfvec <=>"


pytestmark = pytest.mark.django_db


def test_parse_filters_accepts_exactly_the_declared_names(make_product):
    make_product(None)  # in the category "cats": a category value is checked against the products
    params = QueryDict("category=cats&price_min=5&price_max=20.50&in_stock=false&k=3")
    assert parse_filters(params, adapter=ShopProductAdapter(), ignore=["k"]) == {
        "category__slug": "cats", "price__gte": Decimal("5"), "price__lte": Decimal("20.50"), "in_stock": False,
    }
    assert parse_filters(QueryDict("category="), adapter=ShopProductAdapter()) == {}


@pytest.mark.parametrize(
    "query, code",
    [
        ("category__slug=dress", "unknown_filter"),
        ("price__gte=1", "unknown_filter"),
        ("name__icontains=x", "unknown_filter"),
        ("price_min=abc", "invalid_filter"),
        ("price_max=NaN", "invalid_filter"),
        ("price_max=1e400", "invalid_filter"),
        ("in_stock=maybe", "invalid_filter"),
        ("category=" + "x" * 101, "invalid_filter"),
    ],
)
def test_parse_filters_refuses_the_rest(query, code):
    with pytest.raises(FilterError) as caught:
        parse_filters(QueryDict(query), adapter=ShopProductAdapter())
    assert caught.value.code == code


def test_a_filter_type_must_be_known():
    with pytest.raises(ValueError):
        SearchFilter("price__gte", "float")


@pytest.mark.parametrize("path", ["exact scan", "hnsw iterative scan"])
def test_a_filter_keeping_5_percent_still_returns_k(vector_catalogue, thumbnail_encoder, settings, path):
    products, vectors = vector_catalogue(200, categories={"rare": 10, "common": 190})
    build_index(thumbnail_encoder)
    if path == "hnsw iterative scan":
        settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH, "EXACT_SEARCH_MAX_PRODUCTS": 0}
    # A query in the middle of the common products: the rare ones are far down an unfiltered ranking.
    query = vectors[150]
    with CaptureQueriesContext(connection) as queries:
        results = search_by_vector(query, k=8, filters={"category__slug": "rare"})
    walked = any("hnsw.ef_search" in q["sql"] for q in queries.captured_queries)
    ranked_exactly = any(EXACT in q["sql"] for q in queries.captured_queries)
    assert (walked, ranked_exactly) == {
        "exact scan": (False, True), "hnsw iterative scan": (True, False),
    }[path]
    assert len(results) == 8
    assert {r.product.category.slug for r in results} == {"rare"}
    rare = [i for i, p in enumerate(products) if p.category.slug == "rare"]
    exact = [products[i].pk for i in sorted(rare, key=lambda i: -float(vectors[i] @ query))[:8]]
    assert [r.product.pk for r in results] == exact


def test_an_index_walk_that_runs_dry_is_redone_exactly(vector_catalogue, thumbnail_encoder):
    """Fewer rows than asked for from the index: ranked exactly before giving fewer than k."""
    products, vectors = vector_catalogue(5)
    build_index(thumbnail_encoder)
    with CaptureQueriesContext(connection) as queries:
        results = search_by_vector(vectors[0], k=12)
    sql = [q["sql"] for q in queries.captured_queries]
    assert any(WALK in s for s in sql)  # the walk
    assert any(EXACT in s for s in sql)  # then the exact ranking
    assert sorted(r.product.pk for r in results) == sorted(p.pk for p in products)


def test_the_exact_path_ranks_only_the_filtered_products_without_the_index(vector_catalogue, thumbnail_encoder):
    products, vectors = vector_catalogue(60, categories={"rare": 3, "common": 57})
    build_index(thumbnail_encoder)
    with CaptureQueriesContext(connection) as queries:
        results = similar_products(products[0], k=5, filters={"category__slug": "rare"})
    assert [r.product.pk for r in results] == sorted(
        [p.pk for p in products[1:3]], key=lambda pk: -float(vectors[pk - products[0].pk] @ vectors[0])
    )
    sql = [q["sql"] for q in queries.captured_queries]
    assert not any("hnsw.ef_search" in s for s in sql)  # no index walk was set up
    assert any(EXACT in s for s in sql) and not any(WALK in s for s in sql)


def test_the_exact_path_looks_the_filtered_products_up_by_pk(vector_catalogue, thumbnail_encoder):
    """The filter's pks are collected once into an array and looked up by product_id, with sequential
    scans off: the planner cannot size a filter through a join and would otherwise read every product."""
    products, vectors = vector_catalogue(60, categories={"rare": 3, "common": 57})
    build_index(thumbnail_encoder)
    with CaptureQueriesContext(connection) as queries:
        results = search_by_vector(vectors[10], k=5, filters={"category__slug": "rare"})
    assert [r.product.pk for r in results] == sorted(
        [p.pk for p in products[:3]], key=lambda pk: -float(vectors[pk - products[0].pk] @ vectors[10])
    )
    sql = [q["sql"] for q in queries.captured_queries]
    ranking = [s for s in sql if EXACT in s]
    assert len(ranking) == 1 and "unnest(ARRAY(SELECT" in ranking[0]
    assert any("set_config('enable_seqscan', 'off', true)" in s for s in sql)
    assert search_by_vector(vectors[10], k=5, filters={"category__slug": "none-such"}) == []


def test_api_filters(api_client, vector_catalogue):
    products, _ = vector_catalogue(40, categories={"shirt": 20, "dress": 20})
    url = f"/api/v1/products/{products[0].pk}/similar/"
    body = api_client.get(url, {"k": 10, "category": "dress", "price_max": "40", "in_stock": "true",
                              "min_confidence": "0"}).json()
    assert body["results"]
    for item in body["results"]:
        product = next(p for p in products if str(p.pk) == item["id"])
        assert product.category.slug == "dress" and product.price <= 40 and product.in_stock
        assert Decimal(item["price"]) == product.price and item["in_stock"] is True


@pytest.mark.parametrize("query, code", [("category__slug=dress", "unknown_filter"), ("price_min=x", "invalid_filter")])
def test_api_refuses_unknown_and_invalid_filters(api_client, vector_catalogue, query, code):
    products, _ = vector_catalogue(3)
    for response in (
        api_client.get(f"/api/v1/products/{products[0].pk}/similar/?{query}"),
        api_client.post(f"/api/v1/search/image/?{query}", {}),
    ):
        assert response.status_code == 400
        assert response.json()["code"] == code and response.json()["detail"]
