"""Rebuild this folder from clothing-small: pick, resize and describe the demo photos.

Run from the repository root (about two minutes on two cores, most of it embedding):

    .venv/bin/python shop/demo_photos/curate.py ../shared/datasets/clothing-small

Only the train and validation splits are read, so the test split stays a held-out
set of queries (tests/shop/test_demo_quality.py). Per class it keeps the photos
whose nearest neighbours among all train + validation photos share their class
(clean, typical product shots), skipping near-duplicates, then writes them at most
400 pixels on the long side with ``manifest.csv`` (file, category, title, price, stock).
"""

from __future__ import annotations

import argparse
import csv
import random
import shutil
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

from visual_search.encoders.efficientnet_lite import EfficientNetLiteEncoder

SPLITS = ("train", "validation")
LONG_SIDE = 400
QUALITY = 82
NEIGHBOURS = 12
DUPLICATE_SIMILARITY = 0.95

#: Category shown in the shop for each clothing-small folder, and names its products get.
CLASSES = {
    "dress": ("Dresses", [
        "Wrap dress", "Midi dress", "Summer dress", "Shift dress", "Sundress", "Day dress",
    ]),
    "hat": ("Hats", ["Beanie", "Sun hat", "Knit hat", "Bucket hat", "Wide-brim hat", "Cap"]),
    "longsleeve": ("Long sleeves", ["Sweatshirt", "Long-sleeve top", "Jumper", "Henley", "Knit sweater"]),
    "outwear": ("Outerwear", ["Zip jacket", "Bomber jacket", "Parka", "Rain jacket", "Gilet", "Coat"]),
    "pants": ("Pants", ["Chinos", "Joggers", "Straight-leg trousers", "Slim jeans", "Wide-leg trousers"]),
    "shirt": ("Shirts", ["Oxford shirt", "Button-down shirt", "Check shirt", "Linen shirt", "Blouse"]),
    "shoes": ("Shoes", [
        "Sneakers", "Leather shoes", "Sandals", "Loafers", "Running shoes", "Boots",
    ]),
    "shorts": ("Shorts", ["Chino shorts", "Denim shorts", "Board shorts", "Sweat shorts", "Cargo shorts"]),
    "skirt": ("Skirts", ["A-line skirt", "Pencil skirt", "Pleated skirt", "Mini skirt", "Midi skirt"]),
    "t-shirt": ("T-shirts", [
        "Crew-neck tee", "Graphic tee", "Pocket tee", "V-neck tee", "Organic cotton tee",
    ]),
}
ADJECTIVES = ["Classic", "Everyday", "Relaxed", "Essential", "Vintage", "Soft", "Lightweight", "Weekend"]
PRICE_RANGE = {
    "hat": (12, 35), "t-shirt": (9, 30), "shorts": (15, 45), "skirt": (19, 59), "shoes": (39, 129),
    "outwear": (49, 189), "dress": (29, 99), "pants": (25, 79), "shirt": (19, 69), "longsleeve": (19, 69),
}


def load(path: Path) -> Image.Image:
    image = ImageOps.exif_transpose(Image.open(path)).convert("RGB")
    image.thumbnail((LONG_SIDE, LONG_SIDE), Image.Resampling.LANCZOS)
    return image


def pick(vectors: np.ndarray, labels: np.ndarray, per_class: int) -> list[int]:
    """Indices of ``per_class`` photos per class, most typical first, no near-duplicates."""
    similarity = vectors @ vectors.T
    np.fill_diagonal(similarity, -1)
    neighbours = np.argsort(-similarity, axis=1)[:, :NEIGHBOURS]
    purity = (labels[neighbours] == labels[:, None]).mean(axis=1)
    chosen: list[int] = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        # Highest purity first; mean similarity to the class breaks ties towards typical shots.
        centroid = vectors[members].mean(axis=0)
        order = sorted(members, key=lambda i: (-purity[i], -float(vectors[i] @ centroid)))
        kept: list[int] = []
        for i in order:
            if all(similarity[i, j] < DUPLICATE_SIMILARITY for j in kept):
                kept.append(i)
            if len(kept) == per_class:
                break
        chosen.extend(kept)
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("dataset", type=Path, help="clothing-small (with train/ and validation/)")
    parser.add_argument("--per-class", type=int, default=24)
    args = parser.parse_args()

    paths = sorted(p for split in SPLITS for p in (args.dataset / split).glob("*/*.jpg"))
    labels = np.array([p.parent.name for p in paths])
    encoder = EfficientNetLiteEncoder()
    vectors = np.concatenate([
        encoder.embed([load(p) for p in paths[i:i + 64]], batch_size=32) for i in range(0, len(paths), 64)
    ])
    chosen = pick(vectors, labels, args.per_class)

    for folder in HERE.iterdir():
        if folder.is_dir() and folder.name in CLASSES:
            shutil.rmtree(folder)
    rows = []
    for number, index in enumerate(chosen):
        path, folder = paths[index], labels[index]
        rng = random.Random(path.stem)
        category, names = CLASSES[folder]
        low, high = PRICE_RANGE[folder]
        name = f"{folder}/{path.stem[:8]}.jpg"
        (HERE / folder).mkdir(exist_ok=True)
        load(path).save(HERE / name, "JPEG", quality=QUALITY, optimize=True, progressive=True)
        stock = 0 if rng.random() < 0.15 else rng.randrange(1, 40)
        # Placeholder titles: they can contradict the photo; the committed manifest's were written by hand.
        rows.append([name, category, f"{rng.choice(ADJECTIVES)} {rng.choice(names).lower()}",
                     f"{rng.randrange(low, high)}.{rng.choice(['00', '50', '95', '99'])}", stock])
    with open(HERE / "manifest.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["file", "category", "title", "price", "stock"])
        writer.writerows(rows)
    size = sum(p.stat().st_size for p in HERE.glob("*/*.jpg"))
    print(f"Wrote {len(rows)} photos ({size / 1e6:.1f} MB) and manifest.csv to {HERE}")


if __name__ == "__main__":
    main()
