"""Fixtures for the quality tests: demo-shop products from real photos, in two or more categories."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.files.base import ContentFile

from shop.models import Category, Product
from tests.conftest import photo_bytes
from tests.evaluation.conftest import hand_set, thirty_set  # noqa: F401 - small labelled photo sets


@pytest.fixture
def make_product(db):
    """Create a product in category ``category`` (a slug); ``photo`` is a scikit-image name or bytes."""
    counter = iter(range(1, 10_000))

    def make(photo="chelsea", *, category="cats", name=None) -> Product:
        n = next(counter)
        cat = Category.objects.get_or_create(slug=category, defaults={"name": category.title()})[0]
        product = Product(name=name or f"Product {n}", slug=f"q-product-{n}", category=cat, price=Decimal("10.00"))
        data = photo if isinstance(photo, bytes) else photo_bytes(photo)
        product.image.save(f"q{n}.jpg", ContentFile(data), save=False)
        product.save()
        return product

    return make


@pytest.fixture
def quiet_saves(settings):
    """Saves record no work owed, so only what a test starts is owed."""
    settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH, "AUTO_EMBED": False}


@pytest.fixture(autouse=True)
def fresh_calibration_cache():
    from visual_search.quality.calibration import clear_cache  # noqa: PLC0415

    clear_cache()
    yield
    clear_cache()
