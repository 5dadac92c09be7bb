"""Fill the catalogue from an image folder or from Debian's Fashion-MNIST package.

Both importers are idempotent: each product's slug is derived from its source
(category + file stem, or the Fashion-MNIST row), and existing slugs are skipped.
Products are saved through ``Model.save()`` so visual_search's receivers see them.
"""

from __future__ import annotations

import gzip
import io
import logging
import random
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import BinaryIO

import numpy as np
from django.core.files import File
from django.core.files.base import ContentFile
from django.utils.text import slugify
from PIL import Image, UnidentifiedImageError

from shop.models import Category, Product

logger = logging.getLogger(__name__)

Log = Callable[[str], None]

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp"}
SPLIT_NAMES = ("train", "validation", "val", "test")
FASHION_MNIST_ROOT = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
FASHION_MNIST_SIZE = 224
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


def import_fashion_mnist(
    root: Path | str | None = None,
    per_category: int = 30,
    *,
    log: Log | None = None,
) -> int:
    """Create ``per_category`` products per Fashion-MNIST class from its training set; return how many."""
    log = log or logger.info
    root = Path(root or FASHION_MNIST_ROOT)
    images_path = root / "train-images-idx3-ubyte.gz"
    labels_path = root / "train-labels-idx1-ubyte.gz"
    if not (images_path.is_file() and labels_path.is_file()):
        raise CatalogueError(
            f"Fashion-MNIST not found in {root}. Install it with "
            "`apt-get install dataset-fashion-mnist`, or import a folder of photos instead."
        )
    with gzip.open(labels_path, "rb") as fh:
        labels = read_idx(fh)
    rows = _first_rows_per_class(labels, per_category)
    if not rows:
        return 0
    with gzip.open(images_path, "rb") as fh:
        # Only decode the prefix we need: the full file is 47 MB uncompressed.
        images = read_idx(fh, max_items=max(rows) + 1)
    created = 0
    for label, class_rows in enumerate(_rows_by_label(rows, labels)):
        if not class_rows:
            continue
        category = _get_category(FASHION_MNIST_CLASSES[label])
        new = 0
        for number, row in enumerate(class_rows, start=1):
            slug = f"fashion-mnist-{row}"
            if Product.objects.filter(slug=slug).exists():
                continue
            product = _new_product(category, f"{category.name} #{number}", slug)
            product.image.save(f"{slug}.png", ContentFile(_fashion_png(images[row])), save=False)
            product.save()
            new += 1
        created += new
        log(_summary(category, new))
    return created


def read_idx(fh: BinaryIO, max_items: int | None = None) -> np.ndarray:
    """Read an IDX file of unsigned bytes (the MNIST format) into an array, at most ``max_items`` rows."""
    header = fh.read(4)
    if len(header) != 4 or header[:2] != b"\x00\x00" or header[2] != 0x08:
        raise CatalogueError("Not an IDX file of unsigned bytes.")
    ndim = header[3]
    shape = [int(n) for n in np.frombuffer(fh.read(4 * ndim), dtype=">u4")]
    if max_items is not None:
        shape[0] = min(shape[0], max_items)
    count = int(np.prod(shape))
    data = fh.read(count)
    if len(data) != count:
        raise CatalogueError("IDX file is truncated.")
    return np.frombuffer(data, dtype=np.uint8).reshape(shape)


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


def _first_rows_per_class(labels: np.ndarray, per_category: int) -> list[int]:
    rows: list[int] = []
    for label in range(len(FASHION_MNIST_CLASSES)):
        rows.extend(int(i) for i in np.flatnonzero(labels == label)[:per_category])
    return sorted(rows)


def _rows_by_label(rows: list[int], labels: np.ndarray) -> list[list[int]]:
    grouped: list[list[int]] = [[] for _ in FASHION_MNIST_CLASSES]
    for row in rows:
        grouped[int(labels[row])].append(row)
    return grouped


def _fashion_png(pixels: np.ndarray) -> bytes:
    # Fashion-MNIST draws light garments on black; invert for the white background of catalogue shots.
    image = Image.fromarray(255 - pixels).resize(
        (FASHION_MNIST_SIZE, FASHION_MNIST_SIZE), Image.Resampling.BICUBIC
    )
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
