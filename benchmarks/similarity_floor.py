"""Calibrate ``VISUAL_SEARCH["SIMILARITY_FLOOR"]``: where "a close match" ends.

The catalogue is clothing-small's train + validation photos embedded with the
default encoder (EfficientNet-Lite0), or the one ``--encoder`` names. Three
kinds of query, each scored by its best cosine similarity to the catalogue
(exact, numpy):

- copies: catalogue photos cropped, shrunk and re-encoded as JPEG (the shopper
  photographs a product the shop sells);
- same kind: the test photos, other garments of the catalogue's classes;
- off-catalogue: scikit-image's photos (cat, coffee cup, rocket, astronaut...).

The floor should sit above every off-catalogue query and below the copies: the
script suggests the lowest multiple of 0.05 above the best off-catalogue score.
That is the encoder's ``similarity_floor``; ``--store-floor`` writes it into an
adapted encoder's head file, where ``AdaptedEncoder`` reads it.

    .venv/bin/python benchmarks/similarity_floor.py [--dataset DIR] [--encoder SPEC [--store-floor]]

SPEC is as for ``visual_search_evaluate --encoder``: ``zero-shot`` (the default)
or ``dotted.Backend:{json options}``.
"""

from __future__ import annotations

import argparse
import io
import math
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
STEP = 0.05  # floors are suggested on this grid


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


def catalogue_vectors(encoder, paths: list[Path], name: str) -> np.ndarray:
    """``encoder``'s vectors of ``paths``; an adapted encoder projects its base encoder's cached ones."""
    if hasattr(encoder, "project"):
        base = embed_files(encoder.base, paths, CACHE / f"floor-{name}-{encoder.base.id}.npz")
        return encoder.project(base)
    return embed_files(encoder, paths, CACHE / f"floor-{name}-{encoder.id}.npz")


def suggested_floor(off_best: np.ndarray) -> float:
    """The lowest multiple of ``STEP`` strictly above every off-catalogue best score."""
    return round((math.floor(float(off_best.max()) / STEP) + 1) * STEP, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    parser.add_argument("--encoder", default="zero-shot", help="Encoder spec, as for visual_search_evaluate.")
    parser.add_argument("--store-floor", action="store_true",
                        help="Write the suggested floor into the --encoder's head file (AdaptedEncoder).")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django  # noqa: PLC0415

    django.setup()
    from visual_search.quality.evaluation.run import resolve_encoder  # noqa: PLC0415

    _, encoder = resolve_encoder(args.encoder)
    if args.store_floor and not hasattr(encoder, "head_path"):
        parser.error("--store-floor needs an AdaptedEncoder: other encoders keep their floor in their class.")
    catalogue_paths = photos(args.dataset, ("train", "validation"))
    test_paths = photos(args.dataset, ("test",))
    catalogue = catalogue_vectors(encoder, catalogue_paths, "catalogue")
    tests = catalogue_vectors(encoder, test_paths, "test")

    rng = np.random.default_rng(7)
    picks = rng.choice(len(catalogue_paths), size=min(COPIES, len(catalogue_paths)), replace=False)
    copies = encoder.embed([copy_of(catalogue_paths[i], rng) for i in picks])
    off = skimage_photos()
    off_vectors = encoder.embed(list(off.values()))

    copy_best = (copies @ catalogue.T).max(axis=1)
    copy_top1 = float(np.mean((copies @ catalogue.T).argmax(axis=1) == picks))
    test_best = (tests @ catalogue.T).max(axis=1)
    off_best = (off_vectors @ catalogue.T).max(axis=1)
    floor = suggested_floor(off_best)

    print(f"catalogue: {len(catalogue)} photos of {args.dataset.name}; "
          f"encoder {encoder.id} v{encoder.version}\n")
    print("| queries | n | min | p1 | p5 | p50 | p95 | max |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    print(describe("copies (crop 75-90%, 60% size, JPEG q60)", copy_best))
    print(describe("same kind (test photos)", test_best))
    print(describe("off-catalogue (scikit-image)", off_best))
    print(f"\ncopies whose own original ranks first: {copy_top1:.3f}")
    print("off-catalogue, best score each: " + ", ".join(f"{n} {s:.3f}" for n, s in zip(off, off_best)))
    for candidate in sorted({*np.round(np.arange(floor - 4 * STEP, floor + 2.5 * STEP, STEP), 2)}):
        print(
            f"floor {candidate:.2f}: copies above {np.mean(copy_best >= candidate):.3f}, "
            f"test photos above {np.mean(test_best >= candidate):.3f}, "
            f"off-catalogue above {np.mean(off_best >= candidate):.3f}"
        )
    print(f"\nsuggested floor (lowest multiple of {STEP} above every off-catalogue photo): {floor:.2f}; "
          f"copies above it {np.mean(copy_best >= floor):.3f}; {type(encoder).__name__}.similarity_floor "
          f"is {encoder.similarity_floor}")
    if args.store_floor:
        from visual_search.quality.training import store_similarity_floor  # noqa: PLC0415

        calibration = {
            "script": "benchmarks/similarity_floor.py", "dataset": args.dataset.name,
            "catalogue": len(catalogue), "copies_above": float(np.mean(copy_best >= floor)),
            "test_photos_above": float(np.mean(test_best >= floor)),
            "off_catalogue_max": float(off_best.max()), "copies_min": float(copy_best.min()),
        }
        store_similarity_floor(encoder.head_path, floor, calibration)
        print(f"stored similarity_floor {floor:.2f} in {encoder.head_path}")


if __name__ == "__main__":
    main()
