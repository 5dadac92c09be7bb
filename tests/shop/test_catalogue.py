from __future__ import annotations

import csv

import pytest
from PIL import Image

from shop.catalogue import DEMO_PHOTOS, CatalogueError, import_demo_photos, import_folder
from shop.models import Category, Product
from tests.shop.factories import jpeg_bytes, make_photo_folder

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


def test_committed_demo_photos_are_small_real_photos_of_every_class():
    with (DEMO_PHOTOS / "manifest.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    files = sorted(DEMO_PHOTOS.glob("*/*.jpg"))

    assert sorted(str(f.relative_to(DEMO_PHOTOS)) for f in files) == sorted(row["file"] for row in rows)
    assert sum(f.stat().st_size for f in files) <= 6 * 1024 * 1024
    assert {f.parent.name for f in files} == {
        "dress", "hat", "longsleeve", "outwear", "pants", "shirt", "shoes", "shorts", "skirt", "t-shirt",
    }  # fmt: skip
    for path in files[::20]:
        with Image.open(path) as image:
            assert image.format == "JPEG" and image.mode == "RGB"
            assert max(image.size) <= 400
    assert (DEMO_PHOTOS / "LICENSE").read_text().startswith("Creative Commons")
    assert any(int(row["stock"]) == 0 for row in rows)
    assert len({row["title"] for row in rows}) > 100


def test_import_demo_photos_uses_the_manifest(tmp_path):
    assert import_demo_photos(per_category=2) == 20

    shirt = Product.objects.filter(category__name="Shirts").order_by("pk").first()
    with (DEMO_PHOTOS / "manifest.csv").open(newline="") as fh:
        row = next(r for r in csv.DictReader(fh) if r["category"] == "Shirts")
    assert shirt.name == row["title"]
    assert str(shirt.price) == row["price"]
    assert shirt.in_stock == (int(row["stock"]) > 0)
    assert shirt.image.name.startswith("products/demo-shirt-")
    assert Category.objects.count() == 10
    assert import_demo_photos(per_category=2) == 0
    assert import_demo_photos(per_category=3) == 10


def test_import_demo_photos_rejects_a_folder_without_manifest(tmp_path):
    with pytest.raises(CatalogueError, match="No manifest.csv"):
        import_demo_photos(tmp_path)
    (tmp_path / "manifest.csv").write_text("file,title\nx.jpg,X\n")
    with pytest.raises(CatalogueError, match="category, price, stock"):
        import_demo_photos(tmp_path)
