"""Calibrated confidence on a catalogue the calibration never saw queries of (exact, numpy, no database).

Fits ``visual_search.quality.calibration`` on a catalogue (the demo's 240 photos
by default, one folder per category) from the catalogue alone, then asks what
a shopper would see with no threshold set by hand:

- held-out photos of classes the shop sells (clothing-small's test split, or
  ``--split validation`` while developing, so no choice is made on the check):
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
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET, help="Its --split photos are the queries.")
    parser.add_argument("--split", default="test",
                        help="test (the check) or validation (for development: choices are made on it, not on test)")
    parser.add_argument("--encoder", default="configured", help="Encoder spec, as for visual_search_evaluate.")
    parser.add_argument("--views", type=int, default=2000, help="As CALIBRATION_VIEWS.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--not-sold-share", type=float, default=0.25, help="As CALIBRATION_NOT_SOLD_SHARE.")
    parser.add_argument("--off", type=Path, help="A folder of photos of things not sold for development "
                        "(default: scikit-image's photos, the check); e.g. /usr/share/backgrounds (apt install "
                        "gnome-backgrounds mate-backgrounds lomiri-wallpapers)")
    parser.add_argument("--miss-rate", type=float, default=0.03, help="As CALIBRATION_MISS_RATE; negative: no cap.")
    parser.add_argument("--content-miss-rate", type=float, default=0.01,
                        help="As CALIBRATION_CONTENT_MISS_RATE; negative: no content check.")
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
    cat_paths, test_paths = [p for f in folders for p in photos(f)], photos(args.dataset / args.split)
    cat_labels = np.array([p.parent.name for p in cat_paths])
    test_labels = np.array([p.parent.name for p in test_paths])
    catalogue = embed_paths(encoder, cat_paths, cache).vectors

    def with_content(images):
        """Vectors and ImageNet class probabilities, as a search computes them (None: no classifier)."""
        pairs = [encoder.embed_with_content(images[i:i + 32]) for i in range(0, len(images), 32)]
        probabilities = None if pairs[0][1] is None else np.concatenate([p for _, p in pairs])
        return np.concatenate([v for v, _ in pairs]), probabilities

    # Queries decoded as a search decodes them: to the encoder's decode size.
    tests, test_probs = with_content([open_image(p.read_bytes(), target_size=encoder.decode_size)
                                      for p in test_paths])
    if args.off:  # a development set of things not sold (e.g. Debian's desktop backgrounds), not the check
        from PIL import Image  # noqa: PLC0415

        off = {p.stem[:24]: Image.open(p).convert("RGB") for p in sorted(args.off.rglob("*"))
               if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".webp")}
    else:
        off = skimage_photos()
    off_vectors, off_probs = with_content(list(off.values()))
    # Decoded as calibrate() decodes stored product images: to the encoder's decode size.
    images = [open_image(p.read_bytes(), target_size=encoder.decode_size) for p in cat_paths]
    print(f"{encoder!r}; catalogue {len(cat_paths)} photos of {', '.join(map(str, folders))}; embedding {args.views} views...",
          file=sys.stderr)
    seen = []

    def embed(batch):
        vectors, probabilities = encoder.embed_with_content(batch)
        if probabilities is not None:
            seen.append(probabilities)
        return vectors

    view_vectors, view_sources = embed_views(images, embed, args.views, seed=args.seed)
    view_probs = np.concatenate(seen) if seen else None
    cat_probs = with_content(images)[1]

    def fit(keep: np.ndarray):
        index = np.flatnonzero(keep)
        inside = np.isin(view_sources, index)
        remap = {old: new for new, old in enumerate(index)}
        return fit_calibration(catalogue[index], [str(i) for i in index], cat_labels[index],
                               view_vectors=view_vectors[inside], not_sold_share=args.not_sold_share,
                               miss_rate=None if args.miss_rate < 0 else args.miss_rate,
                               view_sources=np.array([remap[s] for s in view_sources[inside]]), seed=args.seed,
                               view_probabilities=None if view_probs is None else view_probs[inside],
                               catalogue_probabilities=None if cat_probs is None else cat_probs[index],
                               content_miss_rate=None if args.content_miss_rate < 0 else args.content_miss_rate)

    def answer(calibrator, vectors, probabilities, rows):
        """Per query: the best score, whether it is a close match, and its confidence, as a search says."""
        best = (vectors @ catalogue[rows].T).max(axis=1)
        caps = np.array([calibrator.content_cap(None if probabilities is None else p)
                         for p in (probabilities if probabilities is not None else [None] * len(vectors))])
        close = (best >= calibrator.floor) & (caps >= 1.0)
        return best, close, np.minimum(calibrator.confidence(best), caps)

    whole = fit(np.ones(len(cat_paths), bool))
    c = whole.calibrator
    everything = np.arange(len(cat_paths))
    best, close, conf = answer(c, tests, test_probs, everything)
    right = cat_labels[(tests @ catalogue.T).argmax(axis=1)] == test_labels
    off_best, off_close, off_conf = answer(c, off_vectors, off_probs, everything)
    content = {k: v for k, v in whole.content.items() if k != "log_profile"}
    print(f"\nfloor {c.floor:.3f}; prior {whole.prior}; content check {content}; fit queries {whole.queries}; "
          f"in-sample rates {whole.rates}")
    print(f"expected calibration error (held-out halves of the fit queries): {whole.expected_calibration_error:.3f}")
    print(f"test photos of classes it sells: {len(tests)}; 'no close match' {np.mean(~close):.3f} "
          f"(under the floor {np.mean(best < c.floor):.3f}, failing the content check "
          f"{np.mean(close != (best >= c.floor)):.3f}; 'we don't seem to sell this', confidence under {args.low}: "
          f"{np.mean(conf < args.low):.3f}); best result of the right class {right.mean():.3f}")
    print(f"off-catalogue photos ({args.off or 'scikit-image'}): {len(off)}; flagged {np.mean(~off_close):.3f} "
          f"('we don't seem to sell this': {np.mean(off_conf < args.low):.3f}); "
          + ", ".join(f"{n} {s:.2f}/{cf:.2f}" for n, s, cf in zip(off, off_best, off_conf)))
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
        keep = np.flatnonzero(cat_labels != label)
        held = test_labels == label
        probs = (lambda m: None if test_probs is None else test_probs[m])
        _, held_close, _ = answer(part.calibrator, tests[held], probs(held), keep)
        _, inside_close, _ = answer(part.calibrator, tests[~held], probs(~held), keep)
        flagged += int((~held_close).sum())
        asked += int(held.sum())
        per_class.append(f"{label} {np.mean(~held_close):.2f}/{np.mean(~inside_close):.2f}")
    print(f"\neach class held out of the catalogue in turn: its test photos flagged {flagged / asked:.3f} "
          f"(per class: flagged / other classes' 'no close match'): " + ", ".join(per_class))


if __name__ == "__main__":
    main()
