"""One partial HNSW expression index per encoder over the untyped vector column.

pgvector indexes need a fixed dimension, so each encoder's rows are indexed as
``(embedding::vector(d)) vector_cosine_ops WHERE encoder = '<id>'`` (the
pattern from pgvector's FAQ). A new encoder gets its own index beside the old
one, without a schema change.
"""

from __future__ import annotations

import hashlib
import re

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import F, QuerySet
from django.db.models.functions import Cast
from pgvector.django import CosineDistance, VectorField

from visual_search.conf import vs_settings

_SAFE_ID = re.compile(r"^[A-Za-z0-9._:@-]{1,100}$")


def _table() -> str:
    from visual_search.models import ProductImageEmbedding  # noqa: PLC0415

    return ProductImageEmbedding._meta.db_table


def _check_id(encoder_id: str) -> str:
    # The id is written into DDL as a literal (DDL takes no parameters), so it is allow-listed.
    if not _SAFE_ID.match(encoder_id):
        raise ValueError(f"Encoder id {encoder_id!r} may only contain letters, digits and . _ : @ -")
    return encoder_id


def index_name(encoder_id: str, dimensions: int) -> str:
    """A stable PostgreSQL index name (under 63 bytes) for one encoder."""
    slug = re.sub(r"[^a-z0-9]+", "_", encoder_id.lower()).strip("_")[:24]
    digest = hashlib.sha1(f"{encoder_id}:{dimensions}".encode()).hexdigest()[:8]
    return f"vs_hnsw_{slug}_{dimensions}_{digest}"


def index_exists(encoder_id: str, dimensions: int, using: str = DEFAULT_DB_ALIAS) -> bool:
    with connections[using].cursor() as cursor:
        # A failed CREATE INDEX CONCURRENTLY leaves an invalid index behind: that one does not count.
        cursor.execute(
            "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = %s",
            [index_name(encoder_id, dimensions)],
        )
        row = cursor.fetchone()
        return bool(row and row[0])


def ensure_hnsw_index(
    encoder_id: str, dimensions: int, *, using: str = DEFAULT_DB_ALIAS, concurrently: bool = False
) -> bool:
    """Create the encoder's HNSW index if missing; return whether it was created."""
    if not 1 <= dimensions <= 2000:
        raise ValueError(f"pgvector's HNSW indexes a vector of 1 to 2,000 dimensions, not {dimensions}.")
    if index_exists(encoder_id, dimensions, using):
        return False
    drop_hnsw_index(encoder_id, dimensions, using=using, concurrently=concurrently)  # an invalid leftover
    sql = (
        "CREATE INDEX {concurrently} {name} ON {table} USING hnsw "
        "((embedding::vector({dims})) vector_cosine_ops) WITH (m = {m}, ef_construction = {efc}) "
        "WHERE encoder = '{encoder}'"
    ).format(
        concurrently="CONCURRENTLY" if concurrently else "",
        name=index_name(encoder_id, dimensions),
        table=connections[using].ops.quote_name(_table()),
        dims=int(dimensions),
        m=int(vs_settings.HNSW_M),
        efc=int(vs_settings.HNSW_EF_CONSTRUCTION),
        encoder=_check_id(encoder_id),
    )
    with connections[using].cursor() as cursor:
        cursor.execute(sql)
    return True


def drop_hnsw_index(
    encoder_id: str, dimensions: int, *, using: str = DEFAULT_DB_ALIAS, concurrently: bool = False
) -> None:
    """Drop the encoder's HNSW index if it exists."""
    with connections[using].cursor() as cursor:
        cursor.execute(
            f"DROP INDEX {'CONCURRENTLY ' if concurrently else ''}IF EXISTS {index_name(encoder_id, dimensions)}"
        )


def annotate_distance(queryset: QuerySet, encoder_id: str, dimensions: int, vector) -> QuerySet:
    """Filter to one encoder's vectors and annotate cosine ``distance`` to ``vector``.

    The cast and the ``encoder =`` filter match the partial index exactly, which
    is what lets the planner use it for ``ORDER BY distance LIMIT k``.
    """
    typed = Cast(F("embedding"), VectorField(dimensions=dimensions))
    return queryset.filter(encoder=encoder_id, embedding__isnull=False).annotate(
        distance=CosineDistance(typed, vector)
    )
