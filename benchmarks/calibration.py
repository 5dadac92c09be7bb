"""Calibrated confidence on a catalogue the calibration never saw queries of (exact, numpy, no database).

Fits ``visual_search.quality.calibration`` on a catalogue (the demo's 240 photos
by default, one folder per category) from the catalogue alone, then asks what
a shopper would see with no threshold set by hand:

- held-out photos of classes the shop sells (clothing-small's test split):
  how often "no close match" (best confidence under one half);
- photos of things it does not sell (scikit-image's photos): how often flagged;
- each category held out of the catalogue in turn and its test photos queried:
  how often flagged (the hard case: a shirt shop asked for a longsleeve);
- reliability diagram and expected calibration error on the test photos.

    .venv/bin/python benchmarks/calibration.py [--catalogue DIR] [--dataset DIR] [--encoder SPEC] [--views N]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.similarity_floor import skimage_photos  # noqa: E402

DEFAULT_CATALOGUE = ROOT / "shop" / "demo_photos"
DEFAULT_DATASET = ROOT.parent / "shared" / "datasets" / "clothing-small"


def photos(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*/*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--catalogue", type=Path, action="append",
                        help="A folder of category folders; give it twice for two (default: the demo's photos).")
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET, help="Its test/ split are the queries.")
    parser.add_argument("--encoder", default="configured", help="Encoder spec, as for visual_search_evaluate.")
    parser.add_argument("--views", type=int, default=700)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--not-sold-share", type=float, default=0.25, help="As CALIBRATION_NOT_SOLD_SHARE.")
    parser.add_argument("--low", type=float, default=0.2, help="As LOW_CONFIDENCE.")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django  # noqa: PLC0415

    django.setup()
    from visual_search.images import open_image  # noqa: PLC0415
    from visual_search.quality.calibration import (  # noqa: PLC0415
        embed_views,
        expected_calibration_error,
        fit_calibration,
        reliability,
    )
    from visual_search.quality.evaluation.cache import embed_paths  # noqa: PLC0415
    from visual_search.quality.evaluation.run import resolve_encoder  # noqa: PLC0415

    _, encoder = resolve_encoder(args.encoder)
    cache = ROOT / ".data" / "bench-cache"
    folders = args.catalogue or [DEFAULT_CATALOGUE]
    cat_paths, test_paths = [p for f in folders for p in photos(f)], photos(args.dataset / "test")
    cat_labels = np.array([p.parent.name for p in cat_paths])
    test_labels = np.array([p.parent.name for p in test_paths])
    catalogue = embed_paths(encoder, cat_paths, cache).vectors
    tests = embed_paths(encoder, test_paths, cache).vectors
    off = skimage_photos()
    off_vectors = encoder.embed(list(off.values()))
    # Decoded as calibrate() decodes stored product images: to the encoder's decode size.
    images = [open_image(p.read_bytes(), target_size=encoder.decode_size) for p in cat_paths]
    print(f"{encoder!r}; catalogue {len(cat_paths)} photos of {', '.join(map(str, folders))}; embedding {args.views} views...",
          file=sys.stderr)
    view_vectors, view_sources = embed_views(images, encoder.embed, args.views, seed=args.seed)

    def fit(keep: np.ndarray):
        index = np.flatnonzero(keep)
        inside = np.isin(view_sources, index)
        remap = {old: new for new, old in enumerate(index)}
        return fit_calibration(catalogue[index], [str(i) for i in index], cat_labels[index],
                               view_vectors=view_vectors[inside], not_sold_share=args.not_sold_share,
                               view_sources=np.array([remap[s] for s in view_sources[inside]]), seed=args.seed)

    whole = fit(np.ones(len(cat_paths), bool))
    c = whole.calibrator
    sim = tests @ catalogue.T
    best, top = sim.max(axis=1), sim.argmax(axis=1)
    right = cat_labels[top] == test_labels
    conf = c.confidence(best)
    off_best = (off_vectors @ catalogue.T).max(axis=1)
    print(f"\nfloor {c.floor:.3f}; fit queries {whole.queries}; in-sample rates {whole.rates}")
    print(f"expected calibration error (held-out halves of the fit queries): {whole.expected_calibration_error:.3f}")
    print(f"test photos of classes it sells: {len(tests)}; 'no close match' {np.mean(best < c.floor):.3f} "
          f"(of which 'we don't seem to sell this', confidence under {args.low}: {np.mean(conf < args.low):.3f}); "
          f"best result of the right class {right.mean():.3f}")
    print(f"off-catalogue photos (scikit-image): {len(off)}; flagged {np.mean(off_best < c.floor):.3f} "
          f"('we don't seem to sell this': {np.mean(c.confidence(off_best) < args.low):.3f}); "
          + ", ".join(f"{n} {s:.2f}" for n, s in zip(off, off_best)))
    print(f"test photos: expected calibration error {expected_calibration_error(conf, right):.3f} "
          "(confidence against 'the best result is of the right class')")
    print("| confidence bin | mean confidence | observed precision | queries |\n|---|---:|---:|---:|")
    for row in reliability(conf, right):
        print(f"| {row['low']:.1f}-{row['high']:.1f} | {row['confidence']:.3f} | {row['precision']:.3f} | "
              f"{row['queries']} |")
    flagged, asked = 0, 0
    per_class = []
    for label in sorted(set(cat_labels)):
        part = fit(cat_labels != label)
        keep = cat_labels != label
        held = test_labels == label
        scores = (tests[held] @ catalogue[keep].T).max(axis=1)
        inside = (tests[~held] @ catalogue[keep].T).max(axis=1)
        flagged += int((scores < part.calibrator.floor).sum())
        asked += int(held.sum())
        per_class.append(f"{label} {np.mean(scores < part.calibrator.floor):.2f}/"
                         f"{np.mean(inside < part.calibrator.floor):.2f}")
    print(f"\neach class held out of the catalogue in turn: its test photos flagged {flagged / asked:.3f} "
          f"(per class: flagged / other classes' 'no close match'): " + ", ".join(per_class))


if __name__ == "__main__":
    main()
