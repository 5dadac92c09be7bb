"""suggest_category(): a similarity-weighted vote of the nearest products' categories."""

from __future__ import annotations

import pytest

from shop.models import Category
from tests.api_clients import api_client, api_key, fresh_throttles  # noqa: F401
from tests.catalogue import category, make_product  # noqa: F401 - fixtures
from tests.conftest import photo_bytes
from tests.quality.rows import embed_products
from visual_search.encoders import get_encoder
from visual_search.images import open_image
from visual_search.quality.suggest import suggest_category

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalogue(make_product, category):
    cats = category
    drinks = Category.objects.create(name="Drinks", slug="drinks-s")
    space = Category.objects.create(name="Space", slug="space-s")
    def product(photo, name, in_category):
        made = make_product(photo, name=name)
        type(made).objects.filter(pk=made.pk).update(category=in_category)  # update(): no re-embedding signal
        made.refresh_from_db()
        return made

    products = [
        product(photo_bytes("chelsea", size=400, quality=80), "cat 1", cats),
        product(photo_bytes("chelsea", size=250, quality=60), "cat 2", cats),
        product("coffee", "coffee 1", drinks),
        product(photo_bytes("coffee", size=300, quality=70), "coffee 2", drinks),
        product("rocket", "rocket", space),
        product("astronaut", "astronaut", space),
    ]
    embed_products(products)
    return {"cats": cats, "drinks": drinks, "space": space, "products": products}


def test_suggests_the_category_of_similar_products(catalogue):
    cat_2 = catalogue["products"][1]
    suggestion = suggest_category(cat_2, k=3)
    assert suggestion.category == catalogue["cats"]  # its own category, from the other cat photo
    assert suggestion.neighbours == 3
    assert 1 / 3 < suggestion.confidence <= 1.0
    assert sum(suggestion.votes.values()) == pytest.approx(1.0)
    assert suggestion.confidence == max(suggestion.votes.values())


def test_suggests_for_a_query_vector(catalogue):
    vector = get_encoder().embed([open_image(photo_bytes("coffee", size=200, quality=50))])[0]
    suggestion = suggest_category(vector, k=4)
    assert suggestion.category == catalogue["drinks"]
    assert suggestion.votes[catalogue["drinks"]] > 0.5


def test_no_neighbours_no_suggestion(make_product):
    lonely = make_product("moon", name="moon")
    suggestion = suggest_category(lonely)
    assert suggestion.category is None and suggestion.confidence == 0.0


def test_api_endpoint(api_client, catalogue):
    cat_2 = catalogue["products"][1]
    response = api_client.get(f"/api/v1/products/{cat_2.pk}/category-suggestion/?k=3")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["category"] == {"id": str(catalogue["cats"].pk), "name": str(catalogue["cats"])}
    assert body["neighbours"] == 3 and body["votes"][0]["share"] == body["confidence"]
    assert api_client.get("/api/v1/products/999999/category-suggestion/").status_code == 404
    assert api_client.get(f"/api/v1/products/{cat_2.pk}/category-suggestion/?k=0").status_code == 400


def test_admin_column_and_action(admin_client, catalogue):
    cat_2 = catalogue["products"][1]
    type(cat_2).objects.filter(pk=cat_2.pk).update(category=catalogue["drinks"])  # filed wrongly
    page = admin_client.get("/admin/shop/product/").content.decode()
    assert "Suggested category" in page and "Cats (" in page and "≠" in page
    response = admin_client.post("/admin/shop/product/", {"action": "apply_suggested_category",
                                                          "_selected_action": [cat_2.pk]}, follow=True)
    assert "1 product(s) moved" in response.content.decode()
    cat_2.refresh_from_db()
    assert cat_2.category == catalogue["cats"]
