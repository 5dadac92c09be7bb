"""The REST API on an Oscar catalogue: Oscar's filters, strategy prices and thumbnails in JSON."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.api_clients import api_client, api_key, fresh_throttles  # noqa: F401
from tests.contrib.oscar.test_adapter import catalogue  # noqa: F401 - the shared fixture

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("thumbnail_encoder")]


def similar(api_client, product, **params):
    return api_client.get(f"/api/v1/products/{product.pk}/similar/", {"k": 10, "min_confidence": 0, **params})


def test_similar_endpoint_filters_by_oscar_category_price_and_stock(api_client, catalogue):
    response = similar(api_client, catalogue["c"], category="clothing", in_stock="true")
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert {r["title"] for r in results} == {"A", "Parent"}

    cards = {r["title"]: r for r in similar(api_client, catalogue["c"]).json()["results"]}
    assert Decimal(cards["A"]["price"]) == Decimal("10.00") and cards["A"]["in_stock"] is True
    assert cards["B"]["in_stock"] is False
    # Oscar's strategy prices a parent from its children: the one in stock (40), not the cheaper sold-out one.
    assert Decimal(cards["Parent"]["price"]) == Decimal("40.00") and cards["Parent"]["in_stock"] is True
    assert "/media/cache/" in cards["A"]["image_url"]  # a thumbnail, not the original


def test_unknown_filters_are_a_400(api_client, catalogue):
    response = similar(api_client, catalogue["c"], stockrecords__price__gte="1")
    assert response.status_code == 400
    assert response.json()["code"] == "unknown_filter"


def test_the_schema_documents_oscars_filters(api_client):
    schema = api_client.get("/api/v1/schema/", {"format": "json"}).json()
    operation = schema["paths"]["/api/v1/products/{pk}/similar/"]["get"]
    names = {p["name"] for p in operation["parameters"]}
    assert {"category", "price_min", "price_max", "in_stock"} <= names
