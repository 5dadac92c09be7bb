"""Retrieval quality of the encoders on clothing-small, through the live pgvector HNSW index and exactly.

Catalogue: the train + validation photos, one product per photo. Queries: the
test photos. A result is relevant when it has the query's class. Every query
runs through the app's own search path (``search._nearest``, the pgvector HNSW
index) and through an exact numpy ranking in the same run, so the table shows
both the encoders' quality and what the approximate index loses.

The products live in a dedicated database (``visual_search_bench``) on the
same server as the demo, so the demo's data is never touched. Embeddings are
cached per encoder in ``.data/bench-cache/``.

    .venv/bin/python benchmarks/retrieval.py --output /tmp/retrieval.md
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import random
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a plain script from a checkout

DEFAULT_DATASET = ROOT.parent / "shared" / "datasets" / "clothing-small"
DEFAULT_FIGURE = ROOT / "docs" / "images" / "retrieval-examples.png"
BENCH_DATABASE = "visual_search_bench"
CATALOGUE_SPLITS = ("train", "validation")
QUERY_SPLITS = ("test",)
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}
DECODE_CHUNK = 64  # photos decoded at a time, so the whole dataset is never held decoded

EFFICIENTNET = "visual_search.encoders.efficientnet_lite.EfficientNetLiteEncoder"
# Short name -> (backend, options). "thumbnail" is the naive baseline a user could write without a CNN.
ENCODERS: dict[str, tuple[str, dict[str, str]]] = {
    "lite0": (EFFICIENTNET, {"variant": "lite0", "pooling": "avg"}),
    "lite0-gem": (EFFICIENTNET, {"variant": "lite0", "pooling": "gem"}),
    "lite2": (EFFICIENTNET, {"variant": "lite2", "pooling": "avg"}),
    "lite2-gem": (EFFICIENTNET, {"variant": "lite2", "pooling": "gem"}),
    "thumbnail": ("visual_search.encoders.thumbnail.ThumbnailEncoder", {}),
}
DEFAULT_ENCODERS = ["lite0", "lite0-gem", "lite2", "thumbnail"]


@dataclass(frozen=True)
class Photo:
    """One dataset photo: its file, class and split."""

    path: Path
    label: str
    split: str

    def key(self, dataset: Path) -> str:
        """The path relative to the dataset folder (stable across checkouts)."""
        return self.path.relative_to(dataset).as_posix()


@dataclass
class Embeddings:
    """Vectors of a list of photos under one encoder, and what computing them cost."""

    vectors: np.ndarray
    hashes: list[str]
    seconds: float
    cached: bool


# --- dataset -----------------------------------------------------------------------------------


def list_photos(dataset: Path, splits: tuple[str, ...]) -> list[Photo]:
    """Photos of ``splits``, sorted by split, class and file name."""
    photos = []
    for split in splits:
        for class_dir in sorted(p for p in (dataset / split).iterdir() if p.is_dir()):
            photos += [
                Photo(path, class_dir.name, split)
                for path in sorted(class_dir.iterdir())
                if path.suffix.lower() in IMAGE_SUFFIXES
            ]
    return photos


def load_dataset(dataset: Path) -> tuple[list[Photo], list[Photo]]:
    """(catalogue, queries) photos; exit with a clear message if the folder is not a split dataset."""
    missing = [s for s in CATALOGUE_SPLITS + QUERY_SPLITS if not (dataset / s).is_dir()]
    if missing:
        raise SystemExit(
            f"Dataset not found: {dataset} has no {', '.join(missing)} folder(s). "
            "Pass --dataset DIR, a folder "
            "with train/, validation/ and test/, each with one sub-folder of photos per class "
            "(e.g. clothing-small)."
        )
    catalogue, queries = list_photos(dataset, CATALOGUE_SPLITS), list_photos(dataset, QUERY_SPLITS)
    if not catalogue or not queries:
        raise SystemExit(f"No photos found under {dataset}.")
    return catalogue, queries


# --- Django and the benchmark database -----------------------------------------------------------


def create_database(db: dict[str, Any], name: str) -> None:
    """CREATE DATABASE ``name`` on ``db``'s server unless it exists."""
    import psycopg  # noqa: PLC0415
    from psycopg import sql  # noqa: PLC0415

    params = {
        "dbname": "postgres",
        "user": db.get("USER") or None,
        "password": db.get("PASSWORD") or None,
        "host": db.get("HOST") or None,
        "port": db.get("PORT") or None,
    }
    with psycopg.connect(**{k: v for k, v in params.items() if v}, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def setup_django(database: str = BENCH_DATABASE) -> None:
    """Set up Django with the project settings, pointed at ``database`` (created and migrated here)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django  # noqa: PLC0415
    from django.conf import settings  # noqa: PLC0415
    from django.core.management import call_command  # noqa: PLC0415

    db = settings.DATABASES[
        "default"
    ]  # reading settings starts the embedded server when there is no DATABASE_URL
    create_database(db, database)
    # Changed before the first connection, so nothing in this process ever talks to the demo database.
    db["NAME"] = database
    django.setup()
    call_command("migrate", verbosity=0)


def load_encoder(name: str):
    """The encoder for a short name such as ``lite0``."""
    from visual_search.encoders import load_encoder as load  # noqa: PLC0415

    backend, options = ENCODERS[name]
    return load(backend, options)


def reset_catalogue(photos: list[Photo]) -> list[int]:
    """Empty the shop tables and create one product per photo; return their pks in ``photos`` order."""
    from django.db import connection  # noqa: PLC0415

    from shop.models import Category, Product  # noqa: PLC0415

    with connection.cursor() as cursor:
        # TRUNCATE, not delete(): no per-row cascade collection, and the sequences restart.
        cursor.execute(
            "TRUNCATE visual_search_productimageembedding, shop_productimage, shop_product, shop_category "
            "RESTART IDENTITY CASCADE"
        )
    labels = sorted({p.label for p in photos})
    categories = {c.name: c for c in Category.objects.bulk_create(Category(name=n, slug=n) for n in labels)}
    products = Product.objects.bulk_create(
        (
            # The image field only names the photo: nothing reads product files in this benchmark.
            Product(
                name=f"{p.label} {p.path.stem[:8]}",
                slug=f"{p.split}-{p.path.stem}"[:200],
                price=Decimal("10.00"),
                category=categories[p.label],
                image=f"{p.split}/{p.label}/{p.path.name}",
            )
            for p in photos
        ),
        batch_size=1000,
    )
    return [product.pk for product in products]


def store_vectors(encoder, pks: list[int], vectors: np.ndarray, hashes: list[str]) -> float:
    """Insert ready rows for ``encoder``, then build its HNSW index; return the build time in seconds."""
    from django.db import connection  # noqa: PLC0415
    from django.utils import timezone  # noqa: PLC0415

    from visual_search import vector_index  # noqa: PLC0415
    from visual_search.models import EmbeddingStatus, ProductImageEmbedding  # noqa: PLC0415

    # Inserting into a live HNSW index is much slower than building it once afterwards.
    vector_index.drop_hnsw_index(encoder.id, encoder.dimensions)
    now = timezone.now()
    ProductImageEmbedding.objects.bulk_create(
        (
            ProductImageEmbedding(
                product_id=pk,
                image_key="main",
                encoder=encoder.id,
                encoder_version=encoder.version,
                content_hash=digest,
                status=EmbeddingStatus.READY,
                attempts=1,
                embedding=vector,
                embedded_at=now,
            )
            for pk, vector, digest in zip(pks, vectors, hashes)
        ),
        batch_size=500,
    )
    start = time.perf_counter()
    vector_index.ensure_hnsw_index(encoder.id, encoder.dimensions)
    build_s = time.perf_counter() - start
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {ProductImageEmbedding._meta.db_table}")
    return build_s


@contextmanager
def forced_index_scans() -> Iterator[None]:
    """A transaction in which the planner may not answer a query with a sequential scan."""
    from django.db import connection, transaction  # noqa: PLC0415

    # _nearest's own atomic() becomes a savepoint inside this one, so the SET LOCAL holds for it too.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        yield


def nearest_plan(
    encoder,
    vector: np.ndarray,
    k: int,
    *,
    filters: dict[str, Any] | None = None,
    exclude_pk: Any = None,
    force_index: bool = False,
) -> str:
    """EXPLAIN ANALYZE of the query ``search._nearest`` sends for ``k`` results, with its SET LOCALs."""
    from django.db import connection, transaction  # noqa: PLC0415

    from visual_search.conf import vs_settings  # noqa: PLC0415
    from visual_search.models import ProductImageEmbedding  # noqa: PLC0415
    from visual_search.search import nearest_images  # noqa: PLC0415

    limit = 4 * k  # mirrors _nearest(): it over-fetches 4 rows per wanted product
    base = ProductImageEmbedding.objects.all()
    if exclude_pk is not None:
        base = base.exclude(product_id=exclude_pk)
    if filters:
        base = base.filter(**{f"product__{lookup}": value for lookup, value in filters.items()})
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL hnsw.ef_search = {max(int(vs_settings.HNSW_EF_SEARCH), limit)}")
        cursor.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
        if force_index:
            cursor.execute("SET LOCAL enable_seqscan = off")
        return nearest_images(base, vector, encoder, limit).explain(analyze=True)


def plan_kind(plan: str, encoder) -> str:
    """'HNSW index' when ``plan`` scans the encoder's HNSW index, else 'exact scan'."""
    from visual_search.vector_index import index_name  # noqa: PLC0415

    return "HNSW index" if index_name(encoder.id, encoder.dimensions) in plan else "exact scan"


# --- embeddings ---------------------------------------------------------------------------------


def _cache_file(encoder, photos: list[Photo], dataset: Path) -> Path:
    from config.embedded import DATA_DIR  # noqa: PLC0415 - honours VISUAL_SEARCH_DATA_DIR

    listing = "\n".join(f"{p.key(dataset)}:{p.path.stat().st_size}" for p in photos)
    digest = hashlib.sha1(listing.encode()).hexdigest()[:12]
    return DATA_DIR / "bench-cache" / f"{encoder.id}-v{encoder.version}-{digest}.npz"


def embed_photos(encoder, photos: list[Photo], dataset: Path, *, batch_size: int = 32) -> Embeddings:
    """Vectors of ``photos`` under ``encoder``, from the cache when the same files were embedded before."""
    from visual_search.images import open_image  # noqa: PLC0415

    cache = _cache_file(encoder, photos, dataset)
    if cache.exists():
        data = np.load(cache)
        return Embeddings(data["vectors"], [str(h) for h in data["hashes"]], float(data["seconds"]), True)
    vectors, hashes = [], []
    start = time.perf_counter()
    for i in range(0, len(photos), DECODE_CHUNK):
        chunk = [p.path.read_bytes() for p in photos[i : i + DECODE_CHUNK]]
        hashes += [hashlib.sha256(data).hexdigest() for data in chunk]
        # The app's own gate decodes the photos, exactly as for a stored product image.
        vectors.append(encoder.embed([open_image(data) for data in chunk], batch_size=batch_size))
        if (i // DECODE_CHUNK) % 16 == 15:
            print(f"  {encoder.id}: {i + DECODE_CHUNK}/{len(photos)} photos", flush=True)
    seconds = time.perf_counter() - start
    result = Embeddings(np.concatenate(vectors), hashes, seconds, False)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, vectors=result.vectors, hashes=np.array(hashes), seconds=seconds)
    return result


# --- rankings and metrics -----------------------------------------------------------------------


def exact_rankings(queries: np.ndarray, catalogue: np.ndarray) -> np.ndarray:
    """Catalogue indices of every query's full ranking by cosine similarity (vectors are unit length)."""
    similarity = queries @ catalogue.T
    return np.argsort(-similarity, axis=1, kind="stable")


def hnsw_rankings(
    encoder, queries: np.ndarray, k: int, index_of: dict[int, int]
) -> tuple[np.ndarray, list[float]]:
    """Top-``k`` catalogue indices per query through the app's HNSW search path, and each query's ms."""
    from visual_search.search import _nearest  # noqa: PLC0415

    rankings = np.full((len(queries), k), -1, dtype=np.int64)  # -1: fewer than k results came back
    millis = []
    # At a few thousand rows the planner may prefer an exact scan (see nearest_plan); this table is
    # about what the HNSW index returns, so sequential scans are ruled out here.
    with forced_index_scans():
        for i, vector in enumerate(queries):
            start = time.perf_counter()
            # What search_by_image() runs once the upload is embedded (ef_search, iterative scans, grouping).
            rows = _nearest([vector], k, encoder=encoder)
            millis.append((time.perf_counter() - start) * 1000)
            rankings[i, : len(rows)] = [index_of[pk] for pk, _, _ in rows]
    return rankings, millis


def relevance(rankings: np.ndarray, query_labels: np.ndarray, catalogue_labels: np.ndarray) -> np.ndarray:
    """Boolean matrix: is the result at each rank of the query's class (padding never is)."""
    labels = np.where(rankings >= 0, catalogue_labels[np.maximum(rankings, 0)], -1)
    return labels == query_labels[:, None]


def average_precision(relevant: np.ndarray, n_relevant: np.ndarray, k: int | None = None) -> np.ndarray:
    """Per-query AP over the first ``k`` ranks (all ranks when None), normalised by min(k, |relevant|)."""
    rel = relevant if k is None else relevant[:, :k]
    precision_at = np.cumsum(rel, axis=1) / np.arange(1, rel.shape[1] + 1)
    denominator = n_relevant if k is None else np.minimum(n_relevant, k)
    return (precision_at * rel).sum(axis=1) / np.maximum(denominator, 1)


def metrics_at(relevant: np.ndarray, n_relevant: np.ndarray, k: int) -> dict[str, float]:
    """Mean Precision, Recall, F1, hit rate and AP at ``k`` over all queries."""
    hits = relevant[:, :k].sum(axis=1)
    precision, recall = hits / k, hits / np.maximum(n_relevant, 1)
    f1 = np.divide(
        2 * precision * recall, precision + recall, out=np.zeros_like(precision), where=precision + recall > 0
    )
    return {
        "precision": precision.mean(),
        "recall": recall.mean(),
        "f1": f1.mean(),
        "hit_rate": (hits > 0).mean(),
        "map_at": average_precision(relevant, n_relevant, k).mean(),
    }


def overlap_at(approx: np.ndarray, exact: np.ndarray, k: int) -> float:
    """Mean fraction of the exact top-``k`` that the approximate top-``k`` contains."""
    return float(np.mean([len(set(a[:k]) & set(e[:k])) / k for a, e in zip(approx, exact)]))


# --- the example picture ------------------------------------------------------------------------


def render_examples(
    queries: list[Photo],
    catalogue: list[Photo],
    index_of: dict[int, int],
    out: Path,
    *,
    rows: int = 6,
    k: int = 5,
    seed: int = 7,
) -> None:
    """Draw query photos and their top-``k`` from ``search_by_image()``, framed green or red by class."""
    from PIL import Image, ImageDraw, ImageFont, ImageOps  # noqa: PLC0415

    from visual_search.search import search_by_image  # noqa: PLC0415

    width, height, frame, caption, gap = 150, 200, 6, 20, 10
    font = ImageFont.load_default(size=13)
    rng = random.Random(seed)
    # One random test photo from each of `rows` random classes: not picked for looking good.
    classes = sorted(rng.sample(sorted({q.label for q in queries}), rows))
    chosen = [rng.choice([q for q in queries if q.label == label]) for label in classes]
    header = 24
    canvas = Image.new(
        "RGB", (gap + (k + 1) * (width + gap), header + rows * (height + caption + gap)), "white"
    )
    draw = ImageDraw.Draw(canvas)
    draw.text((gap, 5), "query", fill="black", font=font)
    draw.text(
        (2 * gap + width, 5),
        f"top {k}: search_by_image(), default encoder, HNSW index",
        fill="black",
        font=font,
    )

    def tile(path: Path, column: int, row: int, colour: str, text: str) -> None:
        x, y = gap + column * (width + gap), header + row * (height + caption + gap)
        with Image.open(path) as image:
            thumb = ImageOps.fit(
                ImageOps.exif_transpose(image).convert("RGB"), (width - 2 * frame, height - 2 * frame)
            )
        draw.rectangle((x, y, x + width - 1, y + height - 1), fill=colour)
        canvas.paste(thumb, (x + frame, y + frame))
        draw.text((x + 2, y + height + 3), text, fill="black", font=font)

    for row, query in enumerate(chosen):
        tile(query.path, 0, row, "#3b6fd1", f"query: {query.label}")
        with forced_index_scans():  # the caption promises the HNSW index
            results = search_by_image(query.path.read_bytes(), k=k)
        for column, result in enumerate(results, start=1):
            photo = catalogue[index_of[result.product.pk]]
            colour = "#2e9e44" if photo.label == query.label else "#d13b3b"
            tile(photo.path, column, row, colour, f"{photo.label}  {result.score:.2f}")
    out.parent.mkdir(parents=True, exist_ok=True)
    # A 256-colour palette keeps the committed picture about 3x smaller at no visible cost.
    canvas.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.FLOYDSTEINBERG).save(
        out, optimize=True
    )


# --- report -------------------------------------------------------------------------------------


def encoder_label(name: str, encoder) -> str:
    default = " (default)" if name == "lite0" else ""
    return f"{name} `{encoder.id}`{default}"


def evaluate(
    name: str, catalogue: list[Photo], queries: list[Photo], dataset: Path, pks: list[int], ks: list[int]
) -> tuple[list[str], str]:
    """Embed, store, index and search with one encoder; return its table rows and its summary row."""
    encoder = load_encoder(name)
    print(f"{name}: embedding {len(catalogue) + len(queries)} photos (cached when run before)")
    embedded = embed_photos(encoder, catalogue + queries, dataset)
    catalogue_vectors, query_vectors = embedded.vectors[: len(catalogue)], embedded.vectors[len(catalogue) :]
    build_s = store_vectors(encoder, pks, catalogue_vectors, embedded.hashes[: len(catalogue)])
    k = max(ks)
    if plan_kind(nearest_plan(encoder, query_vectors[0], k, force_index=True), encoder) != "HNSW index":
        raise SystemExit(f"The HNSW index of {encoder.id} is not used even with sequential scans off.")

    index_of = {pk: i for i, pk in enumerate(pks)}
    names = sorted({p.label for p in catalogue})
    catalogue_labels = np.array([names.index(p.label) for p in catalogue])
    query_labels = np.array([names.index(p.label) for p in queries])
    n_relevant = (catalogue_labels[None, :] == query_labels[:, None]).sum(axis=1)

    exact = exact_rankings(query_vectors, catalogue_vectors)
    approx, millis = hnsw_rankings(encoder, query_vectors, k, index_of)
    exact_rel = relevance(exact, query_labels, catalogue_labels)
    approx_rel = relevance(approx, query_labels, catalogue_labels)
    full_map = average_precision(exact_rel, n_relevant).mean()

    rows = []
    label = encoder_label(name, encoder)
    for cut in ks:
        for ranking, rel in (("exact", exact_rel), ("HNSW", approx_rel)):
            m = metrics_at(rel, n_relevant, cut)
            whole = f"{full_map:.3f}" if ranking == "exact" else "n/a"
            agree = f"{overlap_at(approx, exact, cut):.3f}" if ranking == "HNSW" else ""
            rows.append(
                f"| {label} | {ranking} | {cut} | {m['precision']:.3f} | {m['recall']:.4f} | {m['f1']:.4f} "
                f"| {m['hit_rate']:.3f} | {m['map_at']:.3f} | {whole} | {agree} |"
            )
    rate = f"{len(embedded.vectors) / embedded.seconds:.0f}"
    summary = (
        f"| {label} | {encoder.dimensions} | {rate} | {build_s:.2f} | {np.percentile(millis, 50):.1f} "
        f"| {np.percentile(millis, 95):.1f} |"
    )
    return rows, summary


def report(
    rows: list[str], summaries: list[str], catalogue: list[Photo], queries: list[Photo], dataset: Path
) -> str:
    """The markdown tables and the conditions they were measured under."""
    from django.db import connection  # noqa: PLC0415

    from visual_search.conf import vs_settings  # noqa: PLC0415

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('server_version'), extversion FROM pg_extension WHERE extname = 'vector'"
        )
        pg_version, pgvector_version = cursor.fetchone()
    share = {
        label: sum(p.label == label for p in catalogue) / len(catalogue)
        for label in {p.label for p in queries}
    }
    chance = np.mean([share.get(q.label, 0.0) for q in queries])
    return "\n".join(
        [
            f"Catalogue: {len(catalogue)} photos ({' + '.join(CATALOGUE_SPLITS)}), queries: {len(queries)} "
            f"({' + '.join(QUERY_SPLITS)}) from `{dataset.name}`; relevant = same class. "
            "A random ranking would "
            f"score Precision@K = mAP = {chance:.3f} on average.",
            "",
            "| encoder | ranking | K | Precision@K | Recall@K | F1@K | HitRate@K (R@K in SOP papers) | mAP@K "
            "| mAP (full ranking) | HNSW ∩ exact top-K |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
            *rows,
            "",
            "| encoder | dimensions | embedding, photos/s (decode + embed, batch 32, when cached) "
            "| HNSW build (s) "
            "| HNSW query p50 (ms) | HNSW query p95 (ms) |",
            "|---|---:|---:|---:|---:|---:|",
            *summaries,
            "",
            f"PostgreSQL {pg_version}, pgvector {pgvector_version}, HNSW m={vs_settings.HNSW_M}, "
            f"ef_construction={vs_settings.HNSW_EF_CONSTRUCTION}, ef_search={vs_settings.HNSW_EF_SEARCH}. "
            f"{os.cpu_count()} CPUs ({platform.machine()}), Python {platform.python_version()}, "
            f"load average {os.getloadavg()[0]:.2f} at the end.",
        ]
    )


def figure(names: list[str], queries: list[Photo], catalogue: list[Photo], pks: list[int], out: Path) -> None:
    """Render the example picture when the configured (default) encoder's rows were loaded."""
    from visual_search.encoders import get_encoder  # noqa: PLC0415

    if get_encoder().id not in {load_encoder(name).id for name in names}:
        print(f"No picture: the configured encoder {get_encoder().id} is not among --encoders.")
        return
    render_examples(queries, catalogue, {pk: i for i, pk in enumerate(pks)}, out)
    print(f"Wrote {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dataset", type=Path, default=DEFAULT_DATASET, help="folder with train/validation/test"
    )
    parser.add_argument("--encoders", nargs="+", choices=sorted(ENCODERS), default=DEFAULT_ENCODERS)
    parser.add_argument("--k", nargs="+", type=int, default=[1, 5, 10], help="cut-offs K")
    parser.add_argument("--output", type=Path, help="also write the markdown report here")
    parser.add_argument(
        "--figure",
        type=Path,
        default=DEFAULT_FIGURE,
        help="example picture (needs lite0 among --encoders); '' to skip",
    )
    args = parser.parse_args()
    dataset = args.dataset.resolve()
    catalogue, queries = load_dataset(dataset)
    setup_django()
    pks = reset_catalogue(catalogue)
    rows, summaries = [], []
    for name in dict.fromkeys(args.encoders):
        encoder_rows, summary = evaluate(name, catalogue, queries, dataset, pks, sorted(set(args.k)))
        rows += encoder_rows
        summaries.append(summary)
    if str(args.figure) not in ("", "."):
        figure(args.encoders, queries, catalogue, pks, args.figure)
    text = report(rows, summaries, catalogue, queries, dataset)
    print(text)
    if args.output:
        args.output.write_text(text + "\n")


if __name__ == "__main__":
    main()
