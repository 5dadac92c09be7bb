"""Measure the query service on the live database: latency percentiles and recall against exact search.

What ``benchmarks/search_latency.py`` runs (only benchmarks need it, so it
lives beside them, not in the app); it calls the app's public query service:

- ``perturbed_copies()`` grows a set of real embeddings to any size with small
  Gaussian perturbations (vectors that cluster like real ones, unlike uniform
  random ones);
- ``load_vectors()`` bulk loads ready rows with binary COPY, and
  ``build_index()`` builds the HNSW index afterwards, as a deployment would;
- ``ExactIndex`` is the naive baseline: every vector ranked with numpy;
- ``time_calls()`` and ``recall_at()`` turn calls into the report's figures.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.db import DEFAULT_DB_ALIAS, connections
from django.test.utils import override_settings
from django.utils import timezone

from visual_search.encoders import Encoder
from visual_search.models import EmbeddingStatus, ProductImageEmbedding


def perturbed_copies(base: np.ndarray, n: int, noise: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` unit vectors: ``base`` itself, then random rows of it plus noise of length about ``noise``.

    Returns the vectors and, for each, the row of ``base`` it came from.
    """
    rng = np.random.default_rng(seed)
    sources = np.concatenate([np.arange(min(n, len(base))), rng.integers(len(base), size=max(0, n - len(base)))])
    out = base[sources].astype(np.float32)
    d = base.shape[1]
    for start in range(len(base), n, 10_000):
        stop = min(n, start + 10_000)
        # Per-dimension sigma noise/sqrt(d): the perturbation's length is about `noise` whatever d is.
        out[start:stop] += rng.normal(0.0, noise / np.sqrt(d), size=(stop - start, d)).astype(np.float32)
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out, sources


def load_vectors(
    product_pks: Sequence[Any], vectors: np.ndarray, encoder: Encoder, *, using: str = DEFAULT_DB_ALIAS
) -> None:
    """Insert one ready ``main`` row per product with binary COPY (drop the HNSW index first: see build_index)."""
    from pgvector.psycopg import register_vector  # noqa: PLC0415

    now = timezone.now()
    table = ProductImageEmbedding._meta.db_table
    columns = (
        "product_id, image_key, encoder, encoder_version, content_hash, status, error, attempts, "
        "embedding, created_at, updated_at, embedded_at"
    )
    types = ["int8", "text", "text", "text", "text", "text", "text", "int4", "vector"] + ["timestamptz"] * 3
    connection = connections[using]
    connection.ensure_connection()
    register_vector(connection.connection)
    with connection.connection.cursor() as cursor, cursor.copy(
        f"COPY {table} ({columns}) FROM STDIN WITH (FORMAT BINARY)"
    ) as copy:
        copy.set_types(types)  # vectors travel as float32 bytes, not as text
        for pk, vector in zip(product_pks, vectors, strict=True):
            copy.write_row([pk, "main", encoder.id, encoder.version, "", EmbeddingStatus.READY, "", 1, vector,
                            now, now, now])


def build_index(encoder: Encoder, m: int, ef_construction: int, *, using: str = DEFAULT_DB_ALIAS) -> float:
    """(Re)build the encoder's HNSW index with these parameters; return the build time in seconds."""
    from django.conf import settings  # noqa: PLC0415

    from visual_search.indexing import vector_index  # noqa: PLC0415

    options = {**getattr(settings, "VISUAL_SEARCH", {}), "HNSW_M": m, "HNSW_EF_CONSTRUCTION": ef_construction}
    with override_settings(VISUAL_SEARCH=options), connections[using].cursor() as cursor:
        vector_index.drop_hnsw_index(encoder.id, encoder.dimensions, using=using)
        # The build is many times slower once the graph no longer fits in maintenance_work_mem.
        cursor.execute("SET maintenance_work_mem = '2GB'")
        start = time.perf_counter()
        vector_index.ensure_hnsw_index(encoder.id, encoder.dimensions, using=using)
        seconds = time.perf_counter() - start
        cursor.execute("RESET maintenance_work_mem")
        cursor.execute(f"ANALYZE {ProductImageEmbedding._meta.db_table}")
    return seconds


class ExactIndex:
    """The naive baseline: every vector ranked by cosine similarity with numpy."""

    def __init__(self, pks: Sequence[Any], vectors: np.ndarray) -> None:
        self.pks = np.asarray(pks)
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)

    def top(self, query: np.ndarray, k: int, mask: np.ndarray | None = None, exclude: Any = None) -> list[Any]:
        """The pks of the ``k`` nearest rows to ``query`` among ``mask`` (all rows when None), best first."""
        scores = self.vectors @ np.asarray(query, dtype=np.float32)
        if mask is not None:
            scores = np.where(mask, scores, -np.inf)
        if exclude is not None:
            scores[self.pks == exclude] = -np.inf
        k = min(k, int(np.isfinite(scores).sum()))
        best = np.argpartition(-scores, k - 1)[:k] if k else np.array([], dtype=int)
        return self.pks[best[np.argsort(-scores[best])]].tolist()


@dataclass
class Timing:
    """Milliseconds per call, and what each call returned."""

    millis: list[float] = field(default_factory=list)
    results: list[Any] = field(default_factory=list)

    def pct(self, q: float) -> float:
        return float(np.percentile(self.millis, q)) if self.millis else float("nan")

    def summary(self) -> str:
        return f"{self.pct(50):.1f} / {self.pct(95):.1f} / {self.pct(99):.1f}"


def time_calls(call: Callable[[Any], Any], inputs: Sequence[Any], warmup: int = 5) -> Timing:
    """Call ``call`` on each input (after ``warmup`` untimed calls); wall-clock milliseconds each."""
    for item in list(inputs)[:warmup]:
        call(item)
    timing = Timing()
    for item in inputs:
        start = time.perf_counter()
        result = call(item)
        timing.millis.append((time.perf_counter() - start) * 1000)
        timing.results.append(result)
    return timing


def recall_at(found: Sequence[Sequence[Any]], truth: Sequence[Sequence[Any]], k: int) -> float:
    """Mean share of each exact top-``k`` that ``found`` holds (queries with no truth are skipped)."""
    shares = [
        len(set(f[:k]) & set(t[:k])) / min(k, len(t)) for f, t in zip(found, truth, strict=True) if len(t)
    ]
    return float(np.mean(shares)) if shares else float("nan")
