"""Fixtures for the demo shop tests: media in tmp_path, generated images, the demo's own encoder."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from django.core.files.base import ContentFile

from shop.models import Category, Product
from tests.shop.factories import jpeg_bytes


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path: Path) -> Path:
    """Keep uploaded files out of .data/media."""
    root = tmp_path / "media"
    settings.MEDIA_ROOT = root
    return root


@pytest.fixture(autouse=True)
def no_auto_embed(settings) -> None:
    """Keep the shop tests about the catalogue, not visual_search's embedding pipeline."""
    settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH, "AUTO_EMBED": False}


@pytest.fixture
def demo_encoder(settings):
    """Embed and search with the encoder the demo serves (config/settings.py), not the suite's default."""
    from tests.settings import DEMO_ENCODER  # noqa: PLC0415

    settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH, "ENCODER": DEMO_ENCODER}
    from visual_search.encoders import get_encoder  # noqa: PLC0415

    return get_encoder()


@pytest.fixture
def category(db) -> Category:
    return Category.objects.create(name="Dress", slug="dress")


@pytest.fixture
def make_product(category: Category):
    """Create a product, with a main image unless ``image=False``."""

    def make(name: str = "Red dress", *, image: bool = True, **fields) -> Product:
        fields.setdefault("category", category)
        fields.setdefault("price", Decimal("19.99"))
        product = Product(
            name=name, slug=fields.pop("slug", None) or name.lower().replace(" ", "-"), **fields
        )
        if image:
            product.image.save(f"{product.slug}.jpg", ContentFile(jpeg_bytes()), save=False)
        product.save()
        return product

    return make
