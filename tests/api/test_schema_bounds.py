"""The OpenAPI schema states the bounds of ``k`` on every operation that takes it, from the current settings."""

from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def k_schemas(schema: dict) -> dict[str, dict]:
    """operation id -> the schema of its ``k`` (query parameter or multipart field)."""
    found = {}
    for path in schema["paths"].values():
        for operation in path.values():
            for parameter in operation.get("parameters", []):
                if parameter["name"] == "k":
                    found[operation["operationId"]] = parameter["schema"]
            body = operation.get("requestBody", {}).get("content", {}).get("multipart/form-data")
            if body:
                ref = body["schema"]["$ref"].rsplit("/", 1)[-1]
                k = schema["components"]["schemas"][ref]["properties"].get("k")
                if k:
                    found[operation["operationId"]] = k
    return found


def test_every_k_has_a_minimum_and_a_maximum(settings):
    settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH, "MAX_RESULTS": 40}
    schema = Client().get("/api/v1/schema/?format=json").json()

    bounds = {op: (k.get("minimum"), k.get("maximum")) for op, k in k_schemas(schema).items()}

    assert bounds["similar_products"] == (1, 40)  # MAX_RESULTS, read when the schema is generated
    assert bounds["search_by_image"] == (1, 40)
    assert bounds["category_suggestion"][0] == 1 and bounds["category_suggestion"][1] >= 1


def test_k_over_the_bound_is_a_400_saying_so(settings):
    import io  # noqa: PLC0415

    from django.core.management import call_command  # noqa: PLC0415

    from shop.models import Category, Product  # noqa: PLC0415

    settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH, "MAX_RESULTS": 40}
    out = io.StringIO()
    call_command("visual_search_apikey", "create", "bounds", stdout=out, stderr=io.StringIO())
    api_client = Client(headers={"Authorization": f"Api-Key {out.getvalue().strip()}"})

    product = Product.objects.create(
        name="p", slug="p", price=1, category=Category.objects.create(name="c", slug="c")
    )
    response = api_client.get(f"/api/v1/products/{product.pk}/similar/?k=41")
    assert response.status_code == 400
    assert "at most 40" in response.content.decode()
