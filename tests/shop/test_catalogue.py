from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest
from PIL import Image

from shop import catalogue
from shop.catalogue import CatalogueError, import_fashion_mnist, import_folder, read_idx
from shop.models import Category, Product
from tests.shop.factories import jpeg_bytes, make_fashion_mnist, make_photo_folder, write_idx

pytestmark = pytest.mark.django_db


def test_import_folder_creates_categories_and_products(tmp_path):
    root = make_photo_folder(tmp_path / "photos", {"dress": 3, "t-shirt": 2})

    assert import_folder(root) == 5

    assert list(Category.objects.values_list("name", "slug")) == [("Dress", "dress"), ("T-shirt", "t-shirt")]
    dresses = Product.objects.filter(category__slug="dress").order_by("pk")
    assert [p.name for p in dresses] == ["Dress #1", "Dress #2", "Dress #3"]
    product = dresses[0]
    assert product.slug == "dress-img00"
    assert product.image.name.startswith("products/")
    with product.image.open("rb") as fh, Image.open(fh) as image:
        assert image.format == "JPEG"


def test_import_folder_is_idempotent_and_deterministic(tmp_path):
    root = make_photo_folder(tmp_path / "photos", {"dress": 2, "hat": 2})
    import_folder(root)
    before = list(Product.objects.order_by("slug").values_list("slug", "price", "in_stock"))

    assert import_folder(root) == 0

    assert list(Product.objects.order_by("slug").values_list("slug", "price", "in_stock")) == before


def test_import_folder_respects_per_category_and_splits(tmp_path):
    root = tmp_path / "photos"
    make_photo_folder(root / "train", {"dress": 3, "hat": 1})
    make_photo_folder(root / "test", {"dress": 0, "shoes": 2})
    (root / "test" / "dress" / "other.jpg").write_bytes(jpeg_bytes())

    assert import_folder(root, per_category=2) == 2 + 1 + 2

    assert set(Category.objects.values_list("slug", flat=True)) == {"dress", "hat", "shoes"}
    assert Product.objects.filter(category__slug="dress").count() == 2


def test_import_folder_skips_unreadable_files(tmp_path):
    root = make_photo_folder(tmp_path / "photos", {"dress": 1})
    (root / "dress" / "broken.jpg").write_bytes(b"not an image")
    (root / "dress" / "truncated.jpg").write_bytes(jpeg_bytes(size=(64, 64))[:200])
    (root / "dress" / "notes.txt").write_text("ignored: not an image suffix")
    warnings: list[str] = []

    assert import_folder(root, warn=warnings.append) == 1

    assert len(warnings) == 2
    assert all("Skipping unreadable image" in w for w in warnings)


def test_import_folder_rejects_a_missing_folder(tmp_path):
    with pytest.raises(CatalogueError, match="not a folder"):
        import_folder(tmp_path / "missing")


def test_import_fashion_mnist(tmp_path):
    root = make_fashion_mnist(tmp_path / "fmnist", labels=[0, 3, 0, 9, 0, 3])

    assert import_fashion_mnist(root, per_category=2) == 5

    assert sorted(Category.objects.values_list("name", "slug")) == [
        ("Ankle boot", "ankle-boot"),
        ("Dress", "dress"),
        ("T-shirt/top", "t-shirt-top"),
    ]
    tops = Product.objects.filter(category__slug="t-shirt-top").order_by("pk")
    assert [(p.name, p.slug) for p in tops] == [
        ("T-shirt/top #1", "fashion-mnist-0"),
        ("T-shirt/top #2", "fashion-mnist-2"),
    ]
    with tops[0].image.open("rb") as fh, Image.open(fh) as image:
        assert image.format == "PNG"
        assert image.size == (224, 224)
        assert image.getpixel((112, 112)) == 255  # row 0 is all zeros, inverted to white
    assert import_fashion_mnist(root, per_category=2) == 0
    assert import_fashion_mnist(root, per_category=3) == 1


def test_import_fashion_mnist_uses_the_debian_path_by_default(tmp_path, monkeypatch):
    monkeypatch.setattr(catalogue, "FASHION_MNIST_ROOT", tmp_path / "absent")

    with pytest.raises(CatalogueError, match="apt-get install dataset-fashion-mnist"):
        import_fashion_mnist()


def test_read_idx_reads_a_prefix_and_rejects_other_files(tmp_path):
    path = tmp_path / "x.gz"
    write_idx(path, np.arange(24, dtype=np.uint8).reshape(4, 2, 3))
    with gzip.open(path, "rb") as fh:
        array = read_idx(fh, max_items=2)
    assert array.shape == (2, 2, 3)
    assert array[1, 1, 2] == 11

    with gzip.open(path, "wb") as fh:
        fh.write(b"\x00\x00\x0d\x01" + struct.pack(">I", 1) + b"\0" * 4)
    with gzip.open(path, "rb") as fh, pytest.raises(CatalogueError):
        read_idx(fh)
