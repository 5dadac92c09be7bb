"""One partial HNSW expression index per encoder over the untyped vector column.

pgvector indexes need a fixed dimension, so each encoder's rows are indexed as
``(embedding::halfvec(d)) halfvec_cosine_ops WHERE encoder = '<id>'`` (the
pattern from pgvector's FAQ). A new encoder gets its own index beside the old
one, without a schema change.

``HNSW_VECTOR_TYPE`` picks what the index holds: ``halfvec`` (the default)
stores half-precision copies, half the size of ``vector``'s single precision,
up to 4,000 dimensions instead of 2,000, and pgvector computes their distances
with F16C/AVX-512 code (measured here: 2-3x faster than single precision per
distance, with the same recall at 100,000 products; docs/benchmarks.md). The
column keeps single precision either way.
"""

from __future__ import annotations

import hashlib
import re

import numpy as np
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import F, QuerySet, Value
from django.db.models.functions import Cast
from pgvector.django import CosineDistance, HalfVectorField, VectorField

from visual_search.conf import vs_settings

_SAFE_ID = re.compile(r"^[A-Za-z0-9._:@-]{1,100}$")

#: pgvector's HNSW limits, and the field that casts the column, per HNSW_VECTOR_TYPE.
MAX_DIMENSIONS = {"vector": 2000, "halfvec": 4000}
FIELDS = {"vector": VectorField, "halfvec": HalfVectorField}


def vector_type() -> str:
    """``HNSW_VECTOR_TYPE``, checked: ``halfvec`` or ``vector``."""
    kind = str(vs_settings.HNSW_VECTOR_TYPE)
    if kind not in MAX_DIMENSIONS:
        raise ValueError(f'HNSW_VECTOR_TYPE must be "halfvec" or "vector", not {kind!r}.')
    return kind


def indexable(dimensions: int) -> bool:
    """Whether pgvector's HNSW can index vectors this wide with the configured type."""
    return 1 <= dimensions <= MAX_DIMENSIONS[vector_type()]


def _table() -> str:
    from visual_search.models import ProductImageEmbedding  # noqa: PLC0415

    return ProductImageEmbedding._meta.db_table


def _check_id(encoder_id: str) -> str:
    # The id is written into DDL as a literal (DDL takes no parameters), so it is allow-listed.
    if not _SAFE_ID.match(encoder_id):
        raise ValueError(f"Encoder id {encoder_id!r} may only contain letters, digits and . _ : @ -")
    return encoder_id


def index_name(encoder_id: str, dimensions: int, kind: str | None = None) -> str:
    """A stable PostgreSQL index name (under 63 bytes) for one encoder and vector type."""
    kind = kind or vector_type()
    slug = re.sub(r"[^a-z0-9]+", "_", encoder_id.lower()).strip("_")[:24]
    if kind == "vector":  # the name indexes had before halfvec, so they are still found
        digest = hashlib.sha1(f"{encoder_id}:{dimensions}".encode()).hexdigest()[:8]
        return f"vs_hnsw_{slug}_{dimensions}_{digest}"
    digest = hashlib.sha1(f"{encoder_id}:{dimensions}:{kind}".encode()).hexdigest()[:8]
    return f"vs_hnsw_{slug}_{dimensions}h_{digest}"


def index_exists(encoder_id: str, dimensions: int, using: str = DEFAULT_DB_ALIAS, kind: str | None = None) -> bool:
    """Whether the encoder has a valid index of ``kind`` (default: the configured HNSW_VECTOR_TYPE)."""
    with connections[using].cursor() as cursor:
        # A failed CREATE INDEX CONCURRENTLY leaves an invalid index behind: that one does not count.
        cursor.execute(
            "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = %s",
            [index_name(encoder_id, dimensions, kind)],
        )
        row = cursor.fetchone()
        return bool(row and row[0])


def ensure_hnsw_index(
    encoder_id: str, dimensions: int, *, using: str = DEFAULT_DB_ALIAS, concurrently: bool = False
) -> bool:
    """Create the encoder's HNSW index if missing; return whether it was created.

    Once it exists, an index of the other vector type for the encoder (from
    before ``HNSW_VECTOR_TYPE`` changed) is dropped: it would only slow writes.
    """
    kind = vector_type()
    if not indexable(dimensions):
        raise ValueError(
            f"pgvector's HNSW indexes a {kind} of 1 to {MAX_DIMENSIONS[kind]:,} dimensions, not {dimensions}."
        )
    if index_exists(encoder_id, dimensions, using):
        _drop_other_types(encoder_id, dimensions, kind, using=using, concurrently=concurrently)
        return False
    drop_hnsw_index(encoder_id, dimensions, using=using, concurrently=concurrently)  # an invalid leftover
    sql = (
        "CREATE INDEX {concurrently} {name} ON {table} USING hnsw "
        "((embedding::{kind}({dims})) {kind}_cosine_ops) WITH (m = {m}, ef_construction = {efc}) "
        "WHERE encoder = '{encoder}'"
    ).format(
        concurrently="CONCURRENTLY" if concurrently else "",
        kind=kind,
        name=index_name(encoder_id, dimensions),
        table=connections[using].ops.quote_name(_table()),
        dims=int(dimensions),
        m=int(vs_settings.HNSW_M),
        efc=int(vs_settings.HNSW_EF_CONSTRUCTION),
        encoder=_check_id(encoder_id),
    )
    with connections[using].cursor() as cursor:
        cursor.execute(sql)
    _drop_other_types(encoder_id, dimensions, kind, using=using, concurrently=concurrently)
    return True


def _drop_other_types(encoder_id: str, dimensions: int, kind: str, *, using: str, concurrently: bool) -> None:
    for other in MAX_DIMENSIONS:
        if other != kind:
            drop_hnsw_index(encoder_id, dimensions, using=using, concurrently=concurrently, kind=other)


def drop_hnsw_index(
    encoder_id: str, dimensions: int, *, using: str = DEFAULT_DB_ALIAS, concurrently: bool = False,
    kind: str | None = None,
) -> None:
    """Drop the encoder's HNSW index of ``kind`` (default: the configured type) if it exists."""
    name = index_name(encoder_id, dimensions, kind)
    with connections[using].cursor() as cursor:
        cursor.execute(f"DROP INDEX {'CONCURRENTLY ' if concurrently else ''}IF EXISTS {name}")


def typed_embedding(dimensions: int | None) -> Cast:
    """The column cast as the index holds it (``embedding::halfvec(d)``); without ``dimensions`` no index matches."""
    field = FIELDS[vector_type()]
    return Cast(F("embedding"), field(dimensions=dimensions) if dimensions else field())


def vector_literal(vector) -> str:
    """pgvector's text form of a float32 vector: 9 significant digits, exact, and 3x faster to write than str()."""
    return "[" + ",".join(["%.9g" % x for x in np.asarray(vector, dtype=np.float32).tolist()]) + "]"


def annotate_distance(queryset: QuerySet, encoder_id: str, dimensions: int, vector, *, exact: bool = False) -> QuerySet:
    """Filter to one encoder's vectors and annotate cosine ``distance`` to ``vector``.

    ``vector`` is an array, or an expression giving a stored one (a subquery:
    the vector never leaves the database). The cast and the ``encoder =``
    filter match the partial index exactly, which is what lets the planner use
    it for ``ORDER BY distance LIMIT k``. With ``exact`` the cast leaves out the
    dimension, so the expression is the same arithmetic (same type, same
    distances) but no index matches it: the planner ranks every row the
    queryset keeps (a small, filtered set).
    """
    if not hasattr(vector, "resolve_expression"):
        vector = Value(vector_literal(vector))  # an untyped literal: PostgreSQL reads it as the column's type
    return queryset.filter(encoder=encoder_id, embedding__isnull=False).annotate(
        distance=CosineDistance(typed_embedding(None if exact else dimensions), vector)
    )
