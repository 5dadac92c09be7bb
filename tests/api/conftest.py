"""Fixtures for the API tests: a small photographed catalogue, embedded for real."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.files.base import ContentFile

from shop.models import Category, Product
from tests.api_clients import api_client, api_key, fresh_throttles  # noqa: F401 - fixtures
from tests.catalogue import category, make_product  # noqa: F401 - fixtures
from tests.conftest import photo_bytes
from visual_search.indexing.sync import sync_products


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def catalogue():
    """Four photographed products in two categories, embedded; one product without a photo."""
    hats = Category.objects.create(name="Hats", slug="hats")
    long_sleeves = Category.objects.create(name="Long sleeves", slug="long-sleeves")
    products = {}
    for name, category in [("chelsea", hats), ("coffee", hats), ("astronaut", long_sleeves),
                           ("rocket", long_sleeves)]:
        product = Product(name=name, slug=name, category=category, price=Decimal("10"))
        product.image.save(f"{name}.jpg", ContentFile(photo_bytes(name)), save=False)
        product.save()
        products[name] = product
    products["blank"] = Product.objects.create(name="blank", slug="blank", category=hats, price=Decimal("5"))
    sync_products([p.pk for p in products.values()])
    return products
