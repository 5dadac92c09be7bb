"""Rankings through the real pgvector path, in a scratch database on the same server.

The scratch database gets the app's own schema (``migrate``), rows written as
the workers write them (ready, with the encoder's id and version), each
encoder's partial HNSW index built by ``vector_index``, and then every query
runs through the search service's own SQL (``search.nearest_images`` under the
session settings ``search`` sets: ``hnsw.ef_search``, iterative scans), grouped
per product by its best image and widened until ``k`` products come back, as
``search`` does, with whatever plan PostgreSQL chooses (on a small catalogue
often an exact scan: the plan is reported, never forced). Evaluation photos are
not the host's products, so the scratch copy of the table drops its foreign key
to the product table, and the adapter's "searchable" filter (a product-table
query) is left out; the vector search itself is the app's.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from django.core.management import call_command
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models import IntegerField, UUIDField
from django.utils import timezone

from visual_search.encoders.base import Encoder
from visual_search.indexing import vector_index
from visual_search.models import EmbeddingStatus, ProductImageEmbedding

__all__ = ["LiveRankings", "live_rankings", "scratch_database"]


@dataclass
class LiveRankings:
    """Top products per query from PostgreSQL, their similarities, the plan and each query's time."""

    indices: np.ndarray  # (queries, k) product indices, -1 where fewer than k came back
    similarities: np.ndarray
    plan: str  # "HNSW index" or "exact scan"
    plan_text: str
    millis: list[float]
    index_build_s: float


def _server_params(settings_dict: dict) -> dict:
    params = {
        "dbname": "postgres",
        "user": settings_dict.get("USER") or None,
        "password": settings_dict.get("PASSWORD") or None,
        "host": settings_dict.get("HOST") or None,
        "port": settings_dict.get("PORT") or None,
    }
    return {key: value for key, value in params.items() if value}


def _admin(settings_dict: dict, statement: str) -> None:
    import psycopg  # noqa: PLC0415

    # CREATE/DROP DATABASE may not run in a transaction, so not on Django's (possibly atomic) connection.
    with psycopg.connect(**_server_params(settings_dict), autocommit=True) as conn:
        conn.execute(statement)


@contextmanager
def scratch_database(using: str = DEFAULT_DB_ALIAS, *, keep: bool = False) -> Iterator[str]:
    """A new database beside ``using``'s, migrated, as a connection alias; dropped afterwards unless ``keep``."""
    base = connections[using].settings_dict
    suffix = uuid.uuid4().hex[:8]
    name, alias = f"vs_eval_{suffix}", f"visual_search_eval_{suffix}"
    _admin(base, f'CREATE DATABASE "{name}"')
    # A copy of the wrapper registered only on this thread: DATABASES itself is left alone.
    wrapper = connections[using].copy(alias)
    wrapper.settings_dict["NAME"] = name
    connections[alias] = wrapper
    try:
        call_command("migrate", database=alias, verbosity=0, interactive=False)
        table = ProductImageEmbedding._meta.db_table
        with wrapper.cursor() as cursor:
            cursor.execute(
                "SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'f'", [table]
            )
            for (constraint,) in cursor.fetchall():
                cursor.execute(f'ALTER TABLE "{table}" DROP CONSTRAINT "{constraint}"')
        yield alias
    finally:
        wrapper.close()
        del connections[alias]
        if not keep:
            _admin(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def product_keys(count: int) -> list:
    """Primary-key values for ``count`` scratch products, of the host's product pk type."""
    target = ProductImageEmbedding._meta.get_field("product").target_field
    if isinstance(target, UUIDField):
        return [uuid.UUID(int=i + 1) for i in range(count)]
    if isinstance(target, IntegerField):
        return list(range(1, count + 1))
    return [str(i + 1) for i in range(count)]


def store(
    alias: str, encoder: Encoder, vectors: np.ndarray, product_of: np.ndarray, digests: Sequence[str]
) -> float:
    """Insert ready rows (one per catalogue photo) and build the encoder's HNSW index; return the build seconds."""
    keys = product_keys(int(product_of.max()) + 1)
    now = timezone.now()
    vector_index.drop_hnsw_index(encoder.id, encoder.dimensions, using=alias)  # bulk load first, index after
    ProductImageEmbedding.objects.using(alias).bulk_create(
        (
            ProductImageEmbedding(
                product_id=keys[product], image_key=f"photo-{row}", encoder=encoder.id,
                encoder_version=encoder.version, content_hash=digest, status=EmbeddingStatus.READY,
                attempts=1, embedding=vector, embedded_at=now,
            )
            for row, (product, vector, digest) in enumerate(zip(product_of, vectors, digests))
        ),
        batch_size=500,
    )
    start = time.perf_counter()
    vector_index.ensure_hnsw_index(encoder.id, encoder.dimensions, using=alias)
    seconds = time.perf_counter() - start
    with connections[alias].cursor() as cursor:
        cursor.execute(f'ANALYZE "{ProductImageEmbedding._meta.db_table}"')
    return seconds


def nearest_products(alias: str, encoder: Encoder, vector: np.ndarray, k: int, exclude_pk=None) -> list[tuple]:
    """``(product_pk, distance)`` of the ``k`` nearest products by best image, as ``search`` asks PostgreSQL."""
    from visual_search.search.service import nearest_images, set_hnsw_options  # noqa: PLC0415

    base = ProductImageEmbedding.objects.using(alias).ready()
    if exclude_pk is not None:
        base = base.exclude(product_id=exclude_pk)
    limit = 4 * k  # search's own over-fetch for products with several images
    while True:
        with transaction.atomic(using=alias), connections[alias].cursor() as cursor:
            set_hnsw_options(cursor, limit, filtered=False, using=alias)  # SET LOCALs, as search sets them
            rows = list(nearest_images(base, vector, encoder, limit))
        best: dict = {}
        for pk, distance, _ in rows:
            best[pk] = min(float(distance), best.get(pk, np.inf))
        if len(best) >= k or len(rows) < limit or limit >= 64 * k:
            return sorted(best.items(), key=lambda item: item[1])[:k]
        limit *= 4


def _plan(alias: str, encoder: Encoder, vector: np.ndarray, k: int) -> tuple[str, str]:
    from visual_search.search.service import nearest_images  # noqa: PLC0415

    with transaction.atomic(using=alias):
        text = nearest_images(ProductImageEmbedding.objects.using(alias).ready(), vector, encoder, 4 * k).explain()
    kind = "HNSW index" if vector_index.index_name(encoder.id, encoder.dimensions) in text else "exact scan"
    return kind, text


def live_rankings(
    alias: str,
    encoder: Encoder,
    catalogue: np.ndarray,
    product_of: np.ndarray,
    digests: Sequence[str],
    queries: np.ndarray,
    k: int,
    exclude: np.ndarray | None = None,
) -> LiveRankings:
    """Store the catalogue for ``encoder`` in the scratch database ``alias`` and run every query there."""
    build_s = store(alias, encoder, catalogue, product_of, digests)
    keys = product_keys(int(product_of.max()) + 1)
    index_of = {key: i for i, key in enumerate(keys)}
    indices = np.full((len(queries), k), -1, dtype=np.int64)
    similarities = np.full((len(queries), k), -np.inf, dtype=np.float32)
    millis = []
    for q, vector in enumerate(queries):
        exclude_pk = keys[exclude[q]] if exclude is not None else None
        start = time.perf_counter()
        rows = nearest_products(alias, encoder, vector, k, exclude_pk)
        millis.append((time.perf_counter() - start) * 1000)
        indices[q, : len(rows)] = [index_of[pk] for pk, _ in rows]
        similarities[q, : len(rows)] = [1.0 - distance for _, distance in rows]
    plan, plan_text = _plan(alias, encoder, queries[0], k)
    return LiveRankings(indices, similarities, plan, plan_text, millis, build_s)
