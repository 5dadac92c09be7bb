"""Write a batch of embedding rows in one ``INSERT ... ON CONFLICT``, the vectors in pgvector's binary form.

A 1,280-d vector is 5 KiB as four-byte floats and about 14 KiB as text: formatted
in Python it cost the worker's writer thread about 0.6 core-ms an image, and
PostgreSQL then parsed it back digit by digit. On psycopg 3 the statement is
sent with server-side parameters instead, every vector a binary parameter
(``vector_recv``'s layout: dimensions, a reserved word, big-endian floats),
built for the whole batch by one numpy conversion. Other drivers (psycopg2)
get the text form, still one statement.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
from django.db import connection

from visual_search.models import ProductImageEmbedding

#: The columns ``upsert_rows`` writes; all but the first four are rewritten when the row exists.
_UPSERT_KEY = ("product_id", "image_key", "encoder", "created_at")
_UPSERT_SET = ("encoder_version", "content_hash", "status", "error", "attempts", "embedding", "embedded_at",
               "updated_at")


def vector_text(vector: Any) -> str | None:
    """pgvector's text form of a vector, exact for single precision (9 significant digits).

    Formatted in one C-level operation: about a third of the CPU of
    pgvector-python's conversion, which an ORM insert spends per row.
    """
    if vector is None:
        return None
    values = np.asarray(vector, dtype=np.float32).tolist()
    return ("[" + ",".join(["%.9g"] * len(values)) + "]") % tuple(values)


def upsert_rows(rows: list[ProductImageEmbedding], now) -> None:
    """Insert ``rows``, or rewrite the existing row of each (product, image, encoder), in one statement.

    Idempotent: a redelivered task rewrites the same rows. One ``INSERT ... ON
    CONFLICT`` like ``bulk_create(update_conflicts=True)``, without the ORM's
    per-value conversions; vectors travel binary where the driver allows it.
    """
    if not rows:
        return
    binary = _binary_driver()
    vectors = _binary_vectors(rows) if binary else [vector_text(row.embedding) for row in rows]
    qn = connection.ops.quote_name
    product_pk = ProductImageEmbedding._meta.get_field("product").target_field
    one = "(" + ", ".join(["%s"] * 9 + ["%b::vector" if binary else "%s::vector", "%s", "%s"]) + ")"
    params: list[Any] = []
    for row, vector in zip(rows, vectors):
        params += [
            product_pk.get_db_prep_value(row.product_id, connection), row.image_key, row.encoder, now,
            row.encoder_version, row.content_hash, row.status, row.error, row.attempts,
            vector, row.embedded_at, now,
        ]
    columns = ", ".join(qn(c) for c in _UPSERT_KEY + _UPSERT_SET)
    updates = ", ".join(f"{qn(c)} = EXCLUDED.{qn(c)}" for c in _UPSERT_SET)
    sql = (
        f"INSERT INTO {qn(ProductImageEmbedding._meta.db_table)} ({columns}) VALUES "
        f"{', '.join([one] * len(rows))} ON CONFLICT (product_id, image_key, encoder) DO UPDATE SET {updates}"
    )
    if not binary:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
        return
    import psycopg  # noqa: PLC0415 - only on psycopg 3

    connection.ensure_connection()
    # Django's cursors bind parameters client-side (into the SQL text); a binary parameter needs the
    # server's binding, so this one statement runs on a plain psycopg cursor of the same connection
    # (same transaction), its errors turned into Django's as a Django cursor would.
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        cursor.adapters.register_dumper(_VectorBytes, _vector_dumper())
        cursor.execute(sql, params, prepare=False)


class _VectorBytes(bytes):
    """One vector in pgvector's binary form (``vector_recv``)."""


def _binary_driver() -> bool:
    if connection.vendor != "postgresql":
        return False
    from django.db.backends.postgresql.psycopg_any import is_psycopg3  # noqa: PLC0415

    return bool(is_psycopg3)


def _binary_vectors(rows: list[ProductImageEmbedding]) -> list[_VectorBytes | None]:
    """The rows' vectors in pgvector's binary form, converted together (None stays None: a failed row)."""
    present = [i for i, row in enumerate(rows) if row.embedding is not None]
    out: list[_VectorBytes | None] = [None] * len(rows)
    if not present:
        return out
    big_endian = np.asarray([rows[i].embedding for i in present], dtype=">f4")  # (n, d), one conversion
    header = struct.pack(">HH", big_endian.shape[1], 0)
    for i, values in zip(present, big_endian):
        out[i] = _VectorBytes(header + values.tobytes())
    return out


_DUMPER: type | None = None


def _vector_dumper() -> type:
    """A psycopg dumper sending ``_VectorBytes`` as they are, binary, type left to the ``::vector`` cast.

    With no type id of its own the parameter's type comes from the statement's
    cast, so the ``vector`` type's id (one per database) is never looked up.
    """
    global _DUMPER
    if _DUMPER is None:
        from psycopg.adapt import Dumper  # noqa: PLC0415
        from psycopg.pq import Format  # noqa: PLC0415

        class VectorBytesDumper(Dumper):
            format = Format.BINARY
            oid = 0

            def dump(self, obj: _VectorBytes) -> bytes:
                return obj

        _DUMPER = VectorBytesDumper
    return _DUMPER
