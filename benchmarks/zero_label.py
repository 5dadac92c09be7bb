"""Zero-label ways to match real photos better, measured side by side on clothing-small (exact, numpy).

Catalogue: train + validation photos; queries: the test photos as they are, and the same photos
through phone-like degradations (``visual_search.quality.phone_views``). Each technique needs no
label from the shop:

- multi-crop query pooling: the query's vector is the mean of its full frame and four corner crops
  (80% of each side), so the encoder sees the product and less of the room;
- catalogue-side augmentation: each catalogue photo's vector is the mean of itself and its mirror,
  a centre crop and a zoom-out on grey (views pooled, one vector per product as stored today);
- database-side augmentation (DBA): each catalogue vector averaged with its k nearest neighbours'
  (weights by similarity), computed once when the catalogue is embedded;
- average query expansion (alpha-QE): the query averaged with its top k results, searched again;
- with ``--self-supervised``: a head fitted on the catalogue alone, each photo its own class and two
  phone-like views of it as its other members (instance discrimination, no labels), frozen features
  kept beside it (mix 0.5).

Reports Recall@1 and mAP@10 for each, and the extra encoder passes per query (the search-time cost).

    .venv/bin/python benchmarks/zero_label.py [--dataset DIR]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_DATASET = ROOT.parent / "shared" / "datasets" / "clothing-small"


def _normalise(x: np.ndarray) -> np.ndarray:
    return (x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def corner_crops(image, share: float = 0.8):
    w, h = image.size
    cw, ch = int(w * share), int(h * share)
    return [image] + [image.crop((x, y, x + cw, y + ch)) for x in (0, w - cw) for y in (0, h - ch)]


def catalogue_views(image):
    from PIL import Image, ImageOps  # noqa: PLC0415

    w, h = image.size
    zoomed_out = Image.new("RGB", (int(w * 1.3), int(h * 1.3)), (128, 128, 128))
    zoomed_out.paste(image, ((zoomed_out.width - w) // 2, (zoomed_out.height - h) // 2))
    return [image, ImageOps.mirror(image), image.crop((w // 10, h // 10, w - w // 10, h - h // 10)), zoomed_out]


def dba(catalogue: np.ndarray, k: int) -> np.ndarray:
    similarity = catalogue @ catalogue.T
    top = np.argsort(-similarity, axis=1)[:, :k + 1]  # itself first
    weights = np.take_along_axis(similarity, top, axis=1).clip(0)
    return _normalise((catalogue[top] * weights[..., None]).sum(axis=1))


def query_expansion(queries: np.ndarray, catalogue: np.ndarray, k: int, alpha: float = 3.0) -> np.ndarray:
    similarity = queries @ catalogue.T
    top = np.argsort(-similarity, axis=1)[:, :k]
    weights = np.take_along_axis(similarity, top, axis=1).clip(0) ** alpha
    return _normalise(queries + (catalogue[top] * weights[..., None]).sum(axis=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    parser.add_argument("--encoder", default="zero-shot")
    parser.add_argument("--self-supervised", action="store_true", help="Also fit and score the self-supervised head.")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django  # noqa: PLC0415

    django.setup()
    from visual_search.images import open_image  # noqa: PLC0415
    from visual_search.quality.evaluation import load_evaluation_set, metrics  # noqa: PLC0415
    from visual_search.quality.evaluation.cache import embed_paths  # noqa: PLC0415
    from visual_search.quality.evaluation.run import resolve_encoder  # noqa: PLC0415
    from visual_search.quality.phone_views import VIEW_KINDS, phone_view  # noqa: PLC0415

    _, encoder = resolve_encoder(args.encoder)
    cache = ROOT / ".data" / "bench-cache"
    data = load_evaluation_set(args.dataset)
    n_relevant = data.relevant_counts()

    def score(queries: np.ndarray, catalogue: np.ndarray) -> tuple[float, float]:
        rankings, _ = metrics.exhaustive_rankings(queries, catalogue, data.product_of, 10)
        relevant = data.relevance(rankings)
        return metrics.recall_at(relevant, 1), metrics.average_precision_at(relevant, n_relevant, 10)

    def decode(path):
        return open_image(Path(path).read_bytes(), target_size=encoder.decode_size)

    catalogue = embed_paths(encoder, [s.path for s in data.catalogue], cache).vectors
    plain = embed_paths(encoder, [s.path for s in data.queries], cache).vectors
    rng = np.random.default_rng(0)
    query_images = [decode(s.path) for s in data.queries]
    phone_images = [phone_view(image, VIEW_KINDS[i % len(VIEW_KINDS)], rng, query_images[(i + 1) % len(query_images)])
                    for i, image in enumerate(query_images)]
    print(f"{encoder!r}: {len(data.catalogue)} catalogue photos, {len(data.queries)} queries", file=sys.stderr)
    phone = encoder.embed(phone_images)

    def pooled(images, views) -> np.ndarray:
        out = []
        for start in range(0, len(images), 16):
            batch = images[start:start + 16]
            expanded = [v for image in batch for v in views(image)]
            vectors = encoder.embed(expanded).reshape(len(batch), -1, encoder.dimensions)
            out.append(_normalise(vectors.mean(axis=1)))
        return np.concatenate(out)

    started = time.perf_counter()
    crops_plain, crops_phone = pooled(query_images, corner_crops), pooled(phone_images, corner_crops)
    print(f"query crops embedded in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    store = cache / f"zero-label-catalogue-views-{encoder.id}.npy"
    if store.exists():
        augmented = np.load(store)
    else:
        augmented = pooled([decode(s.path) for s in data.catalogue], catalogue_views)
        np.save(store, augmented)
    dba_catalogue = dba(catalogue, 3)
    rows = [
        ("baseline (as served)", plain, phone, catalogue, 1),
        ("multi-crop query pooling (full + 4 corners)", crops_plain, crops_phone, catalogue, 5),
        ("catalogue-side augmentation (4 views pooled)", plain, phone, augmented, 1),
        ("database-side augmentation (DBA, k=3)", plain, phone, dba_catalogue, 1),
        ("query expansion (alpha-QE, k=3)", query_expansion(plain, catalogue, 3),
         query_expansion(phone, catalogue, 3), catalogue, 1),
        ("catalogue augmentation + multi-crop", crops_plain, crops_phone, augmented, 5),
        ("DBA + query expansion", query_expansion(plain, dba_catalogue, 3), query_expansion(phone, dba_catalogue, 3),
         dba_catalogue, 1),
        ("catalogue augmentation + multi-crop + DBA", crops_plain, crops_phone, dba(augmented, 3), 5),
    ]
    if args.self_supervised:
        from visual_search.quality.training import apply_head, fit_head  # noqa: PLC0415

        views_store = cache / f"zero-label-catalogue-phone-views-{encoder.id}.npz"
        if views_store.exists():
            with np.load(views_store) as saved:
                view_vectors, view_sources = saved["vectors"], saved["sources"]
        else:
            view_rng = np.random.default_rng(1)
            view_vectors, view_sources = [], []
            for start in range(0, len(data.catalogue), 64):
                images = [decode(s.path) for s in data.catalogue[start:start + 64]]
                views = [phone_view(image, VIEW_KINDS[int(view_rng.integers(len(VIEW_KINDS)))], view_rng,
                                    images[(i + 1) % len(images)]) for image in images for i in range(2)]
                view_vectors.append(encoder.embed(views))
                view_sources += [start + i for i in range(len(images)) for _ in range(2)]
            view_vectors, view_sources = np.concatenate(view_vectors), np.array(view_sources)
            np.savez(views_store, vectors=view_vectors, sources=view_sources)
        features = np.concatenate([catalogue, view_vectors])
        instances = np.concatenate([np.arange(len(catalogue)), view_sources])
        started = time.perf_counter()
        head = fit_head(features, instances, dimensions=256, epochs=30, mix=0.5)
        print(f"self-supervised head fitted in {time.perf_counter() - started:.0f} s", file=sys.stderr)

        def project(x):
            return _normalise(apply_head(head, x))

        rows.append(("self-supervised head (instance discrimination on phone-like views, mix 0.5)",
                     project(plain), project(phone), project(catalogue), 1))
    print("| technique | R@1 | mAP@10 | R@1 phone-like | mAP@10 phone-like | encoder passes per query |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, queries, phone_queries, cat, passes in rows:
        r1, ap = score(queries, cat)
        pr1, pap = score(phone_queries, cat)
        print(f"| {name} | {100 * r1:.1f} | {100 * ap:.1f} | {100 * pr1:.1f} | {100 * pap:.1f} | {passes} |")
    one = [query_images[0]]
    encoder.embed(one)
    timings = {}
    for label, images in (("1 pass", one), ("5 passes (batched)", corner_crops(query_images[0]))):
        samples = []
        for _ in range(20):
            started = time.perf_counter()
            encoder.embed(images)
            samples.append(1000 * (time.perf_counter() - started))
        timings[label] = np.percentile(samples, [50, 95])
    print("\nquery embedding time on this machine, p50 / p95 ms: "
          + ", ".join(f"{k} {v[0]:.1f} / {v[1]:.1f}" for k, v in timings.items()))


if __name__ == "__main__":
    main()
