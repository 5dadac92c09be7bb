"""Fill the catalogue from the committed demo photos or from any image folder.

Both importers are idempotent: each product's slug is derived from its source
(category + file stem), and existing slugs are skipped. Products are saved
through ``Model.save()`` so visual_search's receivers see them.
"""

from __future__ import annotations

import csv
import logging
import random
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from django.core.files import File
from django.utils.text import slugify
from PIL import Image, UnidentifiedImageError

from shop.models import Category, Product

logger = logging.getLogger(__name__)

Log = Callable[[str], None]

#: Real product photos committed with the demo (see demo_photos/SOURCE.md).
DEMO_PHOTOS = Path(__file__).resolve().parent / "demo_photos"
MANIFEST_COLUMNS = {"file", "category", "title", "price", "stock"}
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp"}
SPLIT_NAMES = ("train", "validation", "val", "test")
IN_STOCK_RATE = 0.85


class CatalogueError(Exception):
    """A catalogue source is missing or malformed."""


def import_folder(
    root: Path | str,
    per_category: int | None = None,
    *,
    log: Log | None = None,
    warn: Log | None = None,
) -> int:
    """Create a product per image in ``root/<category>/`` or ``root/<split>/<category>/``; return how many."""
    log = log or logger.info
    warn = warn or logger.warning
    created = 0
    for folder_name, files in _category_files(Path(root)).items():
        category = _get_category(_category_name(folder_name))
        new = 0
        for index, path in enumerate(files[:per_category], start=1):
            slug = slugify(f"{category.slug}-{path.stem}")[:200]
            if Product.objects.filter(slug=slug).exists():
                continue
            try:
                _check_image(path)
            except (OSError, UnidentifiedImageError, Image.DecompressionBombError) as exc:
                warn(f"Skipping unreadable image {path}: {exc}")
                continue
            product = _new_product(category, f"{category.name} #{index}", slug)
            with path.open("rb") as fh:
                product.image.save(f"{slug}{path.suffix.lower()}", File(fh), save=False)
            product.save()
            new += 1
        created += new
        log(_summary(category, new))
    return created


def import_demo_photos(
    root: Path | str | None = None,
    per_category: int | None = None,
    *,
    log: Log | None = None,
) -> int:
    """Create the products listed in ``root/manifest.csv`` (default: the committed demo photos)."""
    log = log or logger.info
    root = Path(root or DEMO_PHOTOS)
    by_category: dict[str, list[dict[str, str]]] = {}
    for row in _read_manifest(root / "manifest.csv"):
        by_category.setdefault(row["category"], []).append(row)
    categories = {name: _get_category(name) for name in by_category}
    new = dict.fromkeys(by_category, 0)
    # Round robin over the categories: the catalogue lists newest first, so importing one category
    # after another would fill the first page with the last category alone.
    taken = {name: rows[:per_category] for name, rows in by_category.items()}
    rounds = max((len(rows) for rows in taken.values()), default=0)
    for index in range(rounds):
        for name, rows in taken.items():
            if index >= len(rows):
                continue
            row, category = rows[index], categories[name]
            path = root / row["file"]
            slug = slugify(f"demo-{path.parent.name}-{path.stem}")[:200]
            if Product.objects.filter(slug=slug).exists():
                continue
            stock = int(row["stock"])
            product = Product(
                name=row["title"],
                slug=slug,
                category=category,
                description=_describe(row["title"], stock),
                price=Decimal(row["price"]),
                in_stock=stock > 0,
            )
            with path.open("rb") as fh:
                product.image.save(f"{slug}{path.suffix.lower()}", File(fh), save=False)
            product.save()
            new[name] += 1
    for name, category in categories.items():
        log(_summary(category, new[name]))
    return sum(new.values())


def _category_files(root: Path) -> dict[str, list[Path]]:
    """Map each category folder name to its image files, merging train/validation/test splits."""
    if not root.is_dir():
        raise CatalogueError(f"{root} is not a folder.")
    splits = [root / name for name in SPLIT_NAMES if (root / name).is_dir()]
    files: dict[str, list[Path]] = {}
    for base in splits or [root]:
        for folder in sorted(p for p in base.iterdir() if p.is_dir()):
            images = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            files.setdefault(folder.name, []).extend(images)
    if not files:
        raise CatalogueError(f"No category folders found in {root}.")
    return files


def _category_name(folder_name: str) -> str:
    name = folder_name.replace("_", " ").strip()
    return name[:1].upper() + name[1:]


def _get_category(name: str) -> Category:
    # "T-shirt/top" -> "t-shirt-top": slugify alone would drop the slash and join the words.
    category, _ = Category.objects.get_or_create(
        name=name, defaults={"slug": slugify(name.replace("/", " "))}
    )
    return category


def _new_product(category: Category, name: str, slug: str) -> Product:
    # Seeded by slug, so a product gets the same price and stock on every import.
    rng = random.Random(slug)
    return Product(
        name=name,
        slug=slug,
        category=category,
        description=f"{category.name} from the demo catalogue.",
        price=Decimal(rng.randrange(5, 150)) + Decimal("0.99"),
        in_stock=rng.random() < IN_STOCK_RATE,
    )


def _summary(category: Category, new: int) -> str:
    return f"{category.name}: {new} new, {category.products.count()} in total"


def _check_image(path: Path) -> None:
    # verify() checks structure without decoding; load() catches truncated pixel data.
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        image.load()


def _read_manifest(path: Path) -> list[dict[str, str]]:
    try:
        with path.open(newline="") as fh:
            rows = list(csv.DictReader(fh))
    except FileNotFoundError:
        raise CatalogueError(f"No manifest.csv in {path.parent}.") from None
    missing = MANIFEST_COLUMNS - set(rows[0] if rows else ())
    if missing:
        raise CatalogueError(f"{path} lacks the column(s) {', '.join(sorted(missing))}.")
    return rows


def _describe(title: str, stock: int) -> str:
    if stock == 0:
        return f"{title}. Sold out for now; back soon."
    if stock < 5:
        return f"{title}. Only {stock} left."
    return f"{title}. In stock and ready to ship."
