"""The demo shop's catalogue fixtures (category, make_product) for the tests of the app's layers."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.files.base import ContentFile

from shop.models import Category, Product, ProductImage
from tests.conftest import photo_bytes

__all__ = ["category", "make_product"]


@pytest.fixture
def category(db):
    return Category.objects.get_or_create(name="Cats", slug="cats")[0]


@pytest.fixture
def make_product(category):
    """Create a demo-shop product; ``photo`` is a scikit-image photo name, raw bytes, or None."""
    counter = iter(range(1, 10_000))

    def make(photo="chelsea", *, gallery=(), name=None, **fields):
        n = next(counter)
        product = Product(
            name=name or f"Product {n}", slug=f"product-{n}-{id(fields)}", category=category,
            price=fields.pop("price", Decimal("10.00")), **fields,
        )
        if photo is not None:
            data = photo if isinstance(photo, bytes) else photo_bytes(photo)
            product.image.save(f"p{n}.jpg", ContentFile(data), save=False)
        product.save()
        for i, item in enumerate(gallery):
            data = item if isinstance(item, bytes) else photo_bytes(item)
            image = ProductImage(product=product, position=i)
            image.image.save(f"p{n}-g{i}.jpg", ContentFile(data), save=False)
            image.save()
        return product

    return make
