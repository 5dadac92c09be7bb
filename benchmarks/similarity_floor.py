"""Calibrate ``VISUAL_SEARCH["SIMILARITY_FLOOR"]``: where "a close match" ends.

The catalogue is clothing-small's train + validation photos embedded with the
default encoder (EfficientNet-Lite0). Three kinds of query, each scored by its
best cosine similarity to the catalogue (exact, numpy):

- copies: catalogue photos cropped, shrunk and re-encoded as JPEG (the shopper
  photographs a product the shop sells);
- same kind: the test photos, other garments of the catalogue's classes;
- off-catalogue: scikit-image's photos (cat, coffee cup, rocket, astronaut...).

The floor should sit above every off-catalogue query and below the copies.

    .venv/bin/python benchmarks/similarity_floor.py [--dataset DIR]
"""

from __future__ import annotations

import argparse
import io
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a plain script from a checkout

DEFAULT_DATASET = ROOT.parent / "shared" / "datasets" / "clothing-small"
CACHE = ROOT / ".data" / "bench-cache"
OFF_CATALOGUE = (
    "chelsea", "coffee", "rocket", "astronaut", "camera", "horse", "moon", "coins", "clock", "brick",
    "grass", "gravel", "hubble_deep_field", "immunohistochemistry", "colorwheel", "page", "text", "logo",
    "retina", "microaneurysms", "cell", "motorcycle_left", "checkerboard",
)
COPIES = 300  # catalogue photos turned into copy queries


def photos(dataset: Path, splits: tuple[str, ...]) -> list[Path]:
    return sorted(p for s in splits for p in (dataset / s).glob("*/*") if p.is_file())


def copy_of(path: Path, rng: np.random.Generator):
    """A crop of 75-90% of the photo, shrunk to 60% and re-encoded at JPEG quality 60."""
    from PIL import Image  # noqa: PLC0415

    image = Image.open(path).convert("RGB")
    w, h = image.size
    share = rng.uniform(0.75, 0.9)
    cw, ch = int(w * share), int(h * share)
    x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    image = image.crop((x, y, x + cw, y + ch))
    image = image.resize((max(1, int(cw * 0.6)), max(1, int(ch * 0.6))))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=60)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def skimage_photos():
    from PIL import Image  # noqa: PLC0415
    from skimage import data  # noqa: PLC0415

    found = {}
    for name in OFF_CATALOGUE:
        try:
            array = getattr(data, name)()
        except Exception:  # noqa: BLE001 - a photo that would need a download
            continue
        found[name] = Image.fromarray(array).convert("RGB")
    return found


def embed_files(encoder, paths: list[Path], cache: Path) -> np.ndarray:
    from PIL import Image  # noqa: PLC0415

    if cache.exists():
        return np.load(cache)["vectors"]
    vectors = []
    for start in range(0, len(paths), 64):
        images = [Image.open(p).convert("RGB") for p in paths[start : start + 64]]
        vectors.append(encoder.embed(images))
        print(f"  embedded {start + len(images)}/{len(paths)}", file=sys.stderr)
    result = np.concatenate(vectors)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, vectors=result)
    return result


def describe(name: str, scores: np.ndarray) -> str:
    q = np.percentile(scores, [0, 1, 5, 50, 95, 100])
    return (
        f"| {name} | {len(scores)} | " + " | ".join(f"{v:.3f}" for v in q) + " |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from visual_search.encoders import load_encoder  # noqa: PLC0415

    encoder = load_encoder(
        "visual_search.encoders.efficientnet_lite.EfficientNetLiteEncoder", {"variant": "lite0", "pooling": "avg"}
    )
    catalogue_paths = photos(args.dataset, ("train", "validation"))
    test_paths = photos(args.dataset, ("test",))
    catalogue = embed_files(encoder, catalogue_paths, CACHE / f"floor-catalogue-{encoder.id}.npz")
    tests = embed_files(encoder, test_paths, CACHE / f"floor-test-{encoder.id}.npz")

    rng = np.random.default_rng(7)
    picks = rng.choice(len(catalogue_paths), size=min(COPIES, len(catalogue_paths)), replace=False)
    copies = encoder.embed([copy_of(catalogue_paths[i], rng) for i in picks])
    off = skimage_photos()
    off_vectors = encoder.embed(list(off.values()))

    copy_best = (copies @ catalogue.T).max(axis=1)
    copy_top1 = float(np.mean((copies @ catalogue.T).argmax(axis=1) == picks))
    test_best = (tests @ catalogue.T).max(axis=1)
    off_best = (off_vectors @ catalogue.T).max(axis=1)

    print(f"catalogue: {len(catalogue)} photos of {args.dataset.name}; encoder {encoder.id}\n")
    print("| queries | n | min | p1 | p5 | p50 | p95 | max |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    print(describe("copies (crop 75-90%, 60% size, JPEG q60)", copy_best))
    print(describe("same kind (test photos)", test_best))
    print(describe("off-catalogue (scikit-image)", off_best))
    print(f"\ncopies whose own original ranks first: {copy_top1:.3f}")
    print("off-catalogue, best score each: " + ", ".join(f"{n} {s:.3f}" for n, s in zip(off, off_best)))
    for floor in (0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6):
        print(
            f"floor {floor:.2f}: copies above {np.mean(copy_best >= floor):.3f}, "
            f"test photos above {np.mean(test_best >= floor):.3f}, "
            f"off-catalogue above {np.mean(off_best >= floor):.3f}"
        )


if __name__ == "__main__":
    main()
