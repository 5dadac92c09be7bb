"""Small generated evaluation sets whose metrics are worked out by hand, and demo-shop products in categories."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from PIL import Image

from shop.models import Category, Product
from tests.conftest import photo_bytes

MEAN_COLOUR = "tests.quality.encoders.MeanColourEncoder"

# train/validation/test layout; solid PNGs, so the mean colour is exact.
HAND_SET = {
    "train/red/r1.png": (255, 0, 0),
    "train/red/r2.png": (255, 128, 0),
    "train/blue/b1.png": (0, 0, 255),
    "validation/blue/b2.png": (128, 0, 255),
    "test/red/q1.png": (255, 20, 0),
    "test/blue/q2.png": (255, 0, 200),
    "test/red/q3.png": (200, 0, 255),
}


def write_photos(root: Path, photos: dict[str, tuple[int, int, int]], size: int = 16) -> Path:
    for name, colour in photos.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (size, size), colour).save(path)
    return root


@pytest.fixture
def hand_set(tmp_path) -> Path:
    return write_photos(tmp_path / "hand", HAND_SET)


@pytest.fixture
def thirty_set(tmp_path) -> Path:
    """30 catalogue photos (3 labels x 10 shades) and 6 queries."""
    photos = {}
    bases = {"red": (230, 30, 20), "green": (30, 200, 40), "blue": (20, 40, 220)}
    for label, (r, g, b) in bases.items():
        for i in range(10):
            photos[f"train/{label}/{i}.png"] = (r - 3 * i, g + 2 * i, b + i)
        for i in range(2):
            photos[f"test/{label}/q{i}.png"] = (r - 5 * i - 1, g + 3 * i, b + 2 * i)
    return write_photos(tmp_path / "thirty", photos)


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



@pytest.fixture(autouse=True)
def fresh_calibration_cache():
    from visual_search.quality.calibration import clear_cache  # noqa: PLC0415

    clear_cache()
    yield
    clear_cache()
