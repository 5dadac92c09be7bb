from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from shop.models import Category, Product
from shop.views import PRODUCTS_PER_PAGE


def test_product_list_shows_products_and_categories(client, make_product):
    make_product("Red dress")
    make_product("Plain dress", image=False)

    response = client.get(reverse("shop:product_list"))

    assert response.status_code == 200
    content = response.content.decode()
    assert "Red dress" in content
    assert "Plain dress" in content
    assert "?category=dress" in content
    assert "Visual Search Demo Shop" in content


def test_product_list_filters_by_category(client, make_product):
    hats = Category.objects.create(name="Hat", slug="hat")
    make_product("Red dress")
    make_product("Straw hat", category=hats)

    response = client.get(reverse("shop:product_list"), {"category": "hat"})

    assert response.status_code == 200
    assert list(response.context["products"]) == [Product.objects.get(slug="straw-hat")]
    assert "Red dress" not in response.content.decode()


def test_product_list_unknown_category_is_404(client, db):
    assert client.get(reverse("shop:product_list"), {"category": "nope"}).status_code == 404


def test_product_list_paginates(client, make_product):
    for i in range(PRODUCTS_PER_PAGE + 1):
        make_product(f"Dress {i}", image=False)

    first = client.get(reverse("shop:product_list"))
    second = client.get(reverse("shop:product_list"), {"page": 2})

    assert len(first.context["products"]) == PRODUCTS_PER_PAGE
    assert len(second.context["products"]) == 1
    assert "page=2" in first.content.decode()


def test_product_list_empty_catalogue(client, db):
    response = client.get(reverse("shop:product_list"))

    assert response.status_code == 200
    assert "seed_demo" in response.content.decode()


def test_product_detail(client, make_product):
    product = make_product("Red dress", price=Decimal("42.50"), description="Linen, knee length.")

    response = client.get(product.get_absolute_url())

    assert response.status_code == 200
    content = response.content.decode()
    assert "Red dress" in content
    assert "42.50" in content
    assert "Linen, knee length." in content
    assert product.image.url in content


@pytest.mark.django_db
def test_product_detail_missing_is_404(client):
    assert client.get(reverse("shop:product_detail", args=[999999])).status_code == 404
