"""Search latency: the app's HNSW search path against the exact scan a user would otherwise write.

Two catalogues, one after the other, in a dedicated database
(``visual_search_bench_latency``): clothing-small (train + validation, one
product per photo) and a synthetic one of ``--scale`` products made of the same
real EfficientNet-Lite0 vectors plus small Gaussian perturbations. For each:

- the nearest-neighbour SQL the app sends (``search.nearest_images`` under the
  app's ``SET LOCAL``s) against the query a user would write without the app,
  ``ORDER BY embedding <=> q LIMIT k`` (no cast, so no index: an exact scan);
- ``similar_products()`` against the same thing written by hand with the ORM;
- ``search_by_image()`` end to end (decode + embed + query) for test photos;

unfiltered, ``in_stock=True`` (about 85% of products) and one category (about
10%), with recall@12 of ours against the exact answer.

    .venv/bin/python benchmarks/search_latency.py --output /tmp/latency.md
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a plain script from a checkout

from benchmarks.retrieval import (  # noqa: E402
    DEFAULT_DATASET,
    embed_photos,
    load_dataset,
    nearest_plan,
    plan_kind,
    setup_django,
)

LATENCY_DATABASE = "visual_search_bench_latency"
K = 12
IN_STOCK_SHARE = 0.85
FILTER_CATEGORY = "shirt"  # 9.4% of clothing-small's catalogue; 1 in 10 of the synthetic one
WARMUP = 10
NEAR = 0.01  # relaxed recall: within 1% of the exact K-th distance
EF_SEARCH_SWEEP = (100, 200, 400, 1000)  # 1000 is pgvector's largest hnsw.ef_search
COPY_CHUNK = 10_000


@dataclass
class Catalogue:
    """What is loaded in the benchmark database right now."""

    name: str
    pks: np.ndarray
    vectors: np.ndarray
    build_s: float
    load_s: float
    table_mib: float
    index_mib: float


@dataclass
class Timing:
    """Latencies in milliseconds and the product pks each call returned."""

    millis: list[float]
    results: list[list[Any]]

    def pct(self, q: float) -> float:
        return float(np.percentile(self.millis, q))


@dataclass
class Row:
    """One line of the report: ours against the exact baseline for one call and filter."""

    catalogue: str
    call: str
    filter: str
    plan: str
    ours: Timing
    exact: Timing
    recall: float
    near_recall: float


def recalls(ours: Timing, exact: Timing, queries: np.ndarray, vectors: np.ndarray) -> tuple[float, float]:
    """Recall@K of ours against the exact top-K, and the share of ours within 1% of the exact K-th distance.

    The second is ann-benchmarks' relaxed recall: a result that is not in the exact top-K but is as close
    as its K-th member (near-duplicates, ties) still counts. Product pk p is row p - 1 of ``vectors``.
    """
    strict, near = [], []
    for mine, truth, query in zip(ours.results, exact.results, queries, strict=True):
        if not truth:
            continue
        wanted = min(K, len(truth))
        strict.append(len(set(mine[:K]) & set(truth[:K])) / wanted)
        kth = np.max(1 - vectors[np.asarray(truth[:K]) - 1] @ query)
        distances = 1 - vectors[np.asarray(mine[:K], dtype=np.int64) - 1] @ query
        near.append(min(wanted, int(np.sum(distances <= kth * (1 + NEAR) + 1e-6))) / wanted)
    return float(np.mean(strict)), float(np.mean(near))


# --- loading catalogues -------------------------------------------------------------------------


def raw_connection():
    """A plain psycopg connection to the benchmark database, with pgvector's types registered."""
    import psycopg  # noqa: PLC0415
    from django.db import connection  # noqa: PLC0415
    from pgvector.psycopg import register_vector  # noqa: PLC0415

    params = connection.get_connection_params()
    params.pop("cursor_factory", None)  # Django's own cursor class; COPY needs psycopg's
    conn = psycopg.connect(**params, autocommit=True)
    register_vector(conn)
    return conn


def clear_catalogue() -> None:
    """Empty the shop and embedding tables."""
    with raw_connection() as conn:
        conn.execute(
            "TRUNCATE visual_search_productimageembedding, shop_productimage, shop_product, shop_category "
            "RESTART IDENTITY CASCADE"
        )


def copy_catalogue(
    encoder, vectors: np.ndarray, categories: Sequence[str], in_stock: np.ndarray
) -> np.ndarray:
    """Replace the shop and embedding tables with one product per vector; return the product pks."""
    from django.utils import timezone  # noqa: PLC0415

    names = sorted(set(categories))
    pks = np.arange(1, len(vectors) + 1)
    now = timezone.now()
    clear_catalogue()
    with raw_connection() as conn:
        conn.execute(
            "INSERT INTO shop_category (id, name, slug) SELECT i, n, n FROM unnest(%s::text[]) "
            "WITH ORDINALITY AS t(n, i)",
            [names],
        )
        category_ids = np.array([names.index(c) + 1 for c in categories])
        # Set-based INSERT: one statement for all products instead of one row per round trip.
        conn.execute(
            "INSERT INTO shop_product (id, name, slug, description, price, in_stock, category_id, image, "
            "created_at, updated_at) SELECT id, 'Product ' || id, 'p-' || id, '', 10, s, c, '', %s, %s "
            "FROM unnest(%s::bigint[], %s::bool[], %s::bigint[]) AS t(id, s, c)",
            [now, now, pks.tolist(), in_stock.tolist(), category_ids.tolist()],
        )
        conn.execute("SELECT setval(pg_get_serial_sequence('shop_product', 'id'), %s)", [len(pks)])
        columns = (
            "product_id, image_key, encoder, encoder_version, content_hash, status, error, attempts, "
            "embedding, created_at, updated_at, embedded_at"
        )
        types = [
            "int8",
            "text",
            "text",
            "text",
            "text",
            "text",
            "text",
            "int4",
            "vector",
            "timestamptz",
            "timestamptz",
            "timestamptz",
        ]
        with (
            conn.cursor() as cursor,
            cursor.copy(
                f"COPY visual_search_productimageembedding ({columns}) FROM STDIN WITH (FORMAT BINARY)"
            ) as copy,
        ):
            copy.set_types(types)  # binary COPY: vectors travel as float32 bytes, not as text
            for pk, vector in zip(pks.tolist(), vectors):
                copy.write_row(
                    [pk, "main", encoder.id, encoder.version, "", "ready", "", 1, vector, now, now, now]
                )
    return pks


def build_index(encoder) -> float:
    """Build the encoder's HNSW index after the bulk load, as a deployment would; return seconds."""
    from django.db import connection  # noqa: PLC0415

    from visual_search import vector_index  # noqa: PLC0415

    with connection.cursor() as cursor:
        # The build is many times slower once the graph no longer fits in maintenance_work_mem.
        cursor.execute("SET maintenance_work_mem = '2GB'")
        start = time.perf_counter()
        vector_index.ensure_hnsw_index(encoder.id, encoder.dimensions)
        build_s = time.perf_counter() - start
        cursor.execute("RESET maintenance_work_mem")
        cursor.execute("ANALYZE")
    return build_s


def relation_mib(name: str) -> float:
    """Total on-disk size of a relation (with TOAST) in MiB."""
    from django.db import connection  # noqa: PLC0415

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_total_relation_size(%s::regclass)", [name])
        return cursor.fetchone()[0] / 2**20


def load_catalogue(
    name: str, encoder, vectors: np.ndarray, categories: Sequence[str], in_stock: np.ndarray
) -> Catalogue:
    """Bulk load ``vectors`` as products, then build the HNSW index."""
    from visual_search import vector_index  # noqa: PLC0415

    print(f"{name}: loading {len(vectors):,} products", flush=True)
    vector_index.drop_hnsw_index(encoder.id, encoder.dimensions)
    start = time.perf_counter()
    pks = copy_catalogue(encoder, vectors, categories, in_stock)
    load_s = time.perf_counter() - start
    build_s = build_index(encoder)
    print(f"{name}: loaded in {load_s:.1f} s, HNSW index built in {build_s:.1f} s", flush=True)
    index = vector_index.index_name(encoder.id, encoder.dimensions)
    return Catalogue(
        name,
        pks,
        vectors,
        build_s,
        load_s,
        relation_mib("visual_search_productimageembedding"),
        relation_mib(index),
    )


def synthetic_vectors(base: np.ndarray, n: int, noise: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` unit vectors (``base`` itself, then random rows of it plus Gaussian noise of length ~``noise``)
    and the row of ``base`` each one came from."""
    rng = np.random.default_rng(seed)
    sources = np.concatenate(
        [np.arange(min(n, len(base))), rng.integers(len(base), size=max(0, n - len(base)))]
    )
    out = base[sources]
    for start in range(len(base), n, COPY_CHUNK):
        stop = min(n, start + COPY_CHUNK)
        # Per-dimension sigma noise/sqrt(d): the perturbation's length is about `noise` whatever d is.
        out[start:stop] += rng.normal(0.0, noise / np.sqrt(base.shape[1]), size=(stop - start, base.shape[1]))
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out, sources


def describe_noise(base: np.ndarray, vectors: np.ndarray, sources: np.ndarray) -> str:
    """How far apart two perturbed copies of one photo are, against a real photo and its nearest neighbour."""
    similarity = base @ base.T
    np.fill_diagonal(similarity, -1.0)
    real_nn = np.median(1 - similarity.max(axis=1))
    copies = np.arange(len(base), len(vectors))
    order = copies[np.argsort(sources[copies], kind="stable")]
    # Neighbours in `order` with the same source are two copies of one photo.
    same = sources[order[:-1]] == sources[order[1:]]
    pairs = np.sum(vectors[order[:-1][same]] * vectors[order[1:][same]], axis=1)
    return (
        f"median cosine distance between two perturbed copies of one photo {np.median(1 - pairs):.3f}, "
        f"against {real_nn:.3f} between a real photo and its nearest other photo"
    )


# --- the calls being timed ----------------------------------------------------------------------


def filters_for(name: str) -> dict[str, Any] | None:
    return {"none": None, "in_stock": {"in_stock": True}, "category": {"category__slug": FILTER_CATEGORY}}[
        name
    ]


def product_qs(filters: dict[str, Any] | None):
    from visual_search.models import ProductImageEmbedding  # noqa: PLC0415

    base = ProductImageEmbedding.objects.all()
    return base.filter(**{f"product__{k}": v for k, v in filters.items()}) if filters else base


def ours_sql(
    encoder, filters: dict[str, Any] | None, *, ef_search: int | None = None, force_index: bool = False
) -> Callable[[np.ndarray], list[Any]]:
    """The SQL the app sends for k=12 (LIMIT 4k, under its SET LOCALs), as one timed call."""
    from django.db import connection, transaction  # noqa: PLC0415

    from visual_search.conf import vs_settings  # noqa: PLC0415
    from visual_search.search import nearest_images  # noqa: PLC0415

    limit = 4 * K  # what _nearest() asks for when k=12
    ef_search = max(int(ef_search or vs_settings.HNSW_EF_SEARCH), limit)
    base = product_qs(filters)

    def call(vector: np.ndarray) -> list[Any]:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL hnsw.ef_search = {ef_search}")
            cursor.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
            if force_index:  # what the planner would have to be told to use HNSW with a selective filter
                for method in ("seqscan", "bitmapscan", "hashjoin"):
                    cursor.execute(f"SET LOCAL enable_{method} = off")
            rows = sorted(nearest_images(base, vector, encoder, limit), key=lambda row: row[1])
        return [pk for pk, _, _ in rows]

    return call


def exact_sql(
    encoder, filters: dict[str, Any] | None, exclude_pk: Any = None
) -> Callable[[np.ndarray], list[Any]]:
    """The query a user writes with pgvector's Django field: ORDER BY embedding <=> q LIMIT k (no index)."""
    from pgvector.django import CosineDistance  # noqa: PLC0415

    base = product_qs(filters).filter(encoder=encoder.id)

    def call(vector: np.ndarray, exclude: Any = exclude_pk) -> list[Any]:
        qs = base.exclude(product_id=exclude) if exclude is not None else base
        # No cast to vector(1280), so the expression does not match the HNSW index: an exact scan.
        qs = qs.annotate(distance=CosineDistance("embedding", vector)).order_by("distance")
        return list(qs.values_list("product_id", flat=True)[:K])

    return call


def ours_similar(filters: dict[str, Any] | None) -> Callable[[Any], list[Any]]:
    from visual_search.search import similar_products  # noqa: PLC0415

    return lambda pk: [r.product.pk for r in similar_products(pk, k=K, filters=filters)]


def exact_similar(encoder, filters: dict[str, Any] | None) -> Callable[[Any], list[Any]]:
    """similar_products() as a user writes it without the app: fetch the vector, exact scan, in_bulk."""
    from shop.models import Product  # noqa: PLC0415
    from visual_search.models import ProductImageEmbedding  # noqa: PLC0415

    search = exact_sql(encoder, filters)

    def call(pk: Any) -> list[Any]:
        vector = ProductImageEmbedding.objects.filter(product_id=pk, encoder=encoder.id).values_list(
            "embedding", flat=True
        )[0]
        pks = search(vector, exclude=pk)
        products = Product.objects.in_bulk(pks)
        return [p for p in pks if p in products]

    return call


def ours_photo() -> Callable[[bytes], list[Any]]:
    from visual_search.search import search_by_image  # noqa: PLC0415

    return lambda data: [r.product.pk for r in search_by_image(data, k=K)]


def exact_photo(encoder) -> Callable[[bytes], list[Any]]:
    """Decode, embed and exact-scan: search by photo as a user would write it around the same encoder."""
    from shop.models import Product  # noqa: PLC0415
    from visual_search.images import open_image  # noqa: PLC0415

    search = exact_sql(encoder, None)

    def call(data: bytes) -> list[Any]:
        pks = search(encoder.embed([open_image(data)])[0])
        products = Product.objects.in_bulk(pks)
        return [p for p in pks if p in products]

    return call


def timed(call: Callable[[Any], list[Any]], inputs: Sequence[Any]) -> Timing:
    """Run ``call`` on every input after a few untimed warm-up calls."""
    for item in inputs[:WARMUP]:
        call(item)
    millis, results = [], []
    for item in inputs:
        start = time.perf_counter()
        results.append(call(item))
        millis.append((time.perf_counter() - start) * 1000)
    return Timing(millis, results)


# --- one catalogue ------------------------------------------------------------------------------


def measure(
    catalogue: Catalogue,
    encoder,
    query_vectors: np.ndarray,
    photos: list[bytes],
    photo_vectors: np.ndarray,
    n: int,
    seed: int,
) -> tuple[list[Row], np.ndarray, dict[str, Timing]]:
    """Every call and filter on the catalogue that is loaded now; also the SQL queries and exact answers."""
    rng = np.random.default_rng(seed)
    queries = (
        query_vectors[rng.integers(len(query_vectors), size=n)]
        if n > len(query_vectors)
        else query_vectors[rng.permutation(len(query_vectors))[:n]]
    )
    products = rng.choice(catalogue.pks, size=n, replace=False).tolist()
    product_vectors = catalogue.vectors[np.asarray(products) - 1]
    rows, exact_answers = [], {}

    def row(call: str, label: str, plan: str, ours: Timing, exact: Timing, vectors: np.ndarray) -> Row:
        return Row(
            catalogue.name, call, label, plan, ours, exact, *recalls(ours, exact, vectors, catalogue.vectors)
        )

    for name in ("none", "in_stock", "category"):
        filters = filters_for(name)
        label = filter_label(name)
        print(f"{catalogue.name}: {label}", flush=True)
        plan = plan_kind(nearest_plan(encoder, queries[0], K, filters=filters), encoder)
        exact = timed(exact_sql(encoder, filters), list(queries))
        exact_answers[name] = exact
        rows.append(
            row(
                "nearest-neighbour SQL",
                label,
                plan,
                timed(ours_sql(encoder, filters), list(queries)),
                exact,
                queries,
            )
        )
        plan = plan_kind(
            nearest_plan(encoder, product_vectors[0], K, filters=filters, exclude_pk=products[0]), encoder
        )
        rows.append(
            row(
                "`similar_products()`",
                label,
                plan,
                timed(ours_similar(filters), products),
                timed(exact_similar(encoder, filters), products),
                product_vectors,
            )
        )
    plan = plan_kind(nearest_plan(encoder, photo_vectors[0], K), encoder)
    rows.append(
        row(
            "`search_by_image()` end to end",
            filter_label("none"),
            plan,
            timed(ours_photo(), photos),
            timed(exact_photo(encoder), photos),
            photo_vectors,
        )
    )
    return rows, queries, exact_answers


def sweep(catalogue: Catalogue, encoder, queries: np.ndarray, exact: dict[str, Timing]) -> list[str]:
    """Rows: the nearest-neighbour SQL at several ef_search, and the category filter forced onto HNSW."""
    lines = []
    cases = [("none", ef, False) for ef in EF_SEARCH_SWEEP] + [("category", ef, True) for ef in (100, 400)]
    for name, ef, force in cases:
        print(f"{catalogue.name}: ef_search={ef} {name}{' (HNSW forced)' if force else ''}", flush=True)
        ours = timed(ours_sql(encoder, filters_for(name), ef_search=ef, force_index=force), list(queries))
        recall, near = recalls(ours, exact[name], queries, catalogue.vectors)
        how = "HNSW forced (`enable_seqscan/bitmapscan/hashjoin = off`)" if force else "as the app runs it"
        lines.append(
            f"| {catalogue.name} | {filter_label(name)} | {how} | {max(ef, 4 * K)} "
            f"| {ms(ours, (50, 95, 99))} | {recall:.3f} | {near:.3f} |"
        )
    return lines


def filter_label(name: str) -> str:
    """The filter with the share of products it keeps in the loaded catalogue."""
    from shop.models import Product  # noqa: PLC0415

    filters = filters_for(name)
    if not filters:
        return "none"
    share = Product.objects.filter(**filters).count() / max(1, Product.objects.count())
    lookup, value = next(iter(filters.items()))
    return f"`{lookup}={value}` ({share:.0%})"


# --- report -------------------------------------------------------------------------------------


def server_facts() -> str:
    from django.db import connection  # noqa: PLC0415

    names = (
        "server_version",
        "shared_buffers",
        "work_mem",
        "max_parallel_workers_per_gather",
        "max_parallel_maintenance_workers",
        "jit",
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(f"current_setting('{n}')" for n in names))
        values = cursor.fetchone()
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        pgvector = cursor.fetchone()[0]
    facts = ", ".join(f"{n}={v}" for n, v in zip(names[1:], values[1:]))
    return f"PostgreSQL {values[0]}, pgvector {pgvector} ({facts})"


def ms(timing: Timing, qs: Sequence[float]) -> str:
    return " / ".join(f"{timing.pct(q):.1f}" for q in qs)


def report(
    rows: list[Row],
    sweep_rows: list[str],
    catalogues: list[Catalogue],
    args: argparse.Namespace,
    n_photos: int,
    started: float,
) -> str:
    from visual_search.conf import vs_settings  # noqa: PLC0415

    lines = [
        f"| catalogue | call (k={K}) | filter | ours: plan | ours p50 / p95 / p99 (ms) "
        f"| exact baseline p50 / p95 / p99 (ms) | p50 speed-up | recall@{K} vs exact "
        f"| within {NEAR:.0%} of exact {K}th |",
        "|---|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row.catalogue} | {row.call} | {row.filter} | {row.plan} | {ms(row.ours, (50, 95, 99))} "
            f"| {ms(row.exact, (50, 95, 99))} | {row.exact.pct(50) / row.ours.pct(50):.1f}x "
            f"| {row.recall:.3f} | {row.near_recall:.3f} |"
        )
    if sweep_rows:
        lines += [
            "",
            f"| catalogue | filter | plan | hnsw.ef_search | p50 / p95 / p99 (ms) | recall@{K} vs exact "
            f"| within {NEAR:.0%} of exact {K}th |",
            "|---|---|---|---:|---:|---:|---:|",
            *sweep_rows,
        ]
    lines += [
        "",
        "| catalogue | products | load (s) | HNSW build (s) | table + TOAST (MiB) | HNSW index (MiB) |",
        "|---|---:|---:|---:|---:|---:|",
        *[
            f"| {c.name} | {len(c.pks):,} | {c.load_s:.1f} | {c.build_s:.1f} | {c.table_mib:.0f} "
            f"| {c.index_mib:.0f} |"
            for c in catalogues
        ],
        "",
        f"{args.queries} queries per cell (after {WARMUP} untimed), "
        f"{n_photos} photos for `search_by_image()`; "
        f"HNSW m={vs_settings.HNSW_M}, ef_construction={vs_settings.HNSW_EF_CONSTRUCTION}, "
        f"ef_search={vs_settings.HNSW_EF_SEARCH}, index built with maintenance_work_mem=2GB. "
        f"{server_facts()}. "
        f"{os.cpu_count()} CPUs ({platform.machine()}), Python {platform.python_version()}; total "
        f"{time.perf_counter() - started:.0f} s, load average {os.getloadavg()[0]:.2f} at the end.",
    ]
    return "\n".join(lines)


def override_hnsw(m: int | None, ef_construction: int | None) -> None:
    """Build the index with other HNSW parameters, through the app's own settings."""
    from django.conf import settings  # noqa: PLC0415
    from django.test.utils import override_settings  # noqa: PLC0415

    changes = {k: v for k, v in (("HNSW_M", m), ("HNSW_EF_CONSTRUCTION", ef_construction)) if v}
    if changes:
        # override_settings sends setting_changed, which clears vs_settings' cache.
        override_settings(VISUAL_SEARCH={**getattr(settings, "VISUAL_SEARCH", {}), **changes}).enable()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dataset", type=Path, default=DEFAULT_DATASET, help="folder with train/validation/test"
    )
    parser.add_argument("--scale", type=int, default=100_000, help="synthetic catalogue size (0: skip)")
    parser.add_argument(
        "--noise",
        type=float,
        default=0.6,
        help="length of the Gaussian perturbation added to a unit vector at --scale",
    )
    parser.add_argument("--queries", type=int, default=200, help="timed queries per cell")
    parser.add_argument("--photos", type=int, default=36, help="test photos for search_by_image()")
    parser.add_argument("--keep", action="store_true", help="leave the last catalogue in the database")
    parser.add_argument("--output", type=Path, help="also write the markdown report here")
    parser.add_argument("--hnsw-m", type=int, help="override VISUAL_SEARCH['HNSW_M'] (default 16)")
    parser.add_argument(
        "--hnsw-ef-construction", type=int, help="override VISUAL_SEARCH['HNSW_EF_CONSTRUCTION'] (default 64)"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    started = time.perf_counter()
    dataset = args.dataset.resolve()
    catalogue_photos, query_photos = load_dataset(dataset)
    setup_django(LATENCY_DATABASE)
    override_hnsw(args.hnsw_m, args.hnsw_ef_construction)
    from visual_search.encoders import get_encoder  # noqa: PLC0415

    encoder = get_encoder()  # the configured (default) encoder: the one similar_products() uses
    embedded = embed_photos(encoder, catalogue_photos + query_photos, dataset)
    base, query_vectors = embedded.vectors[: len(catalogue_photos)], embedded.vectors[len(catalogue_photos) :]
    rng = np.random.default_rng(args.seed)
    chosen = rng.permutation(len(query_photos))[: args.photos]
    photos, photo_vectors = [query_photos[i].path.read_bytes() for i in chosen], query_vectors[chosen]

    catalogues, rows = [], []
    small = load_catalogue(
        "clothing-small",
        encoder,
        base,
        [p.label for p in catalogue_photos],
        rng.random(len(base)) < IN_STOCK_SHARE,
    )
    catalogues.append(small)
    rows += measure(small, encoder, query_vectors, photos, photo_vectors, args.queries, args.seed)[0]
    sweep_rows: list[str] = []
    noise_note = ""
    if args.scale:
        vectors, sources = synthetic_vectors(base, args.scale, args.noise, args.seed)
        noise_note = describe_noise(base, vectors, sources)
        labels = sorted({p.label for p in catalogue_photos})
        big = load_catalogue(
            f"synthetic {args.scale // 1000}k",
            encoder,
            vectors,
            [labels[i] for i in rng.integers(len(labels), size=args.scale)],
            rng.random(args.scale) < IN_STOCK_SHARE,
        )
        catalogues.append(big)
        big_rows, queries, exact = measure(
            big, encoder, query_vectors, photos, photo_vectors, args.queries, args.seed
        )
        rows += big_rows
        sweep_rows = sweep(big, encoder, queries, exact)
    text = report(rows, sweep_rows, catalogues, args, len(photos), started)
    if noise_note:
        text += f"\n\nSynthetic vectors: {noise_note}."
    if not args.keep:
        clear_catalogue()  # give the disk space back
    print(text)
    if args.output:
        args.output.write_text(text + "\n")


if __name__ == "__main__":
    main()
