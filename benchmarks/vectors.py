"""Measure the query service on the live database: latency percentiles and recall against exact search.

What ``benchmarks/search_latency.py`` runs (only benchmarks need it, so it
lives beside them, not in the app); it calls the app's public query service:

- ``perturbed_copies()`` grows a set of real embeddings to any size with small
  Gaussian perturbations (vectors that cluster like real ones, unlike uniform
  random ones);
- ``load_vectors()`` bulk loads ready rows with binary COPY, and
  ``build_index()`` builds the HNSW index afterwards, as a deployment would;
- ``ExactIndex`` is the naive baseline: every vector ranked with numpy;
- ``time_calls()``, ``recall_at()`` and ``distance_recall_at()`` turn calls into the report's figures.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.db import DEFAULT_DB_ALIAS, connections
from django.test.utils import override_settings
from django.utils import timezone

from visual_search.encoders import Encoder
from visual_search.models import EmbeddingStatus, ProductImageEmbedding


STEP = 10_000  # rows drawn at a time: with ``mix`` the draws interleave per step, so it fixes the rows


def perturbed_chunks(
    base: np.ndarray, n: int, noise: float, seed: int = 0, chunk: int = STEP, mix: float = 0.0
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """``perturbed_copies()`` a block at a time: ``(start, vectors, sources)`` for rows ``start`` onwards.

    The same draws in the same order whatever ``chunk`` (drawn ``STEP`` rows at a time, then
    grouped), so the rows are identical to ``perturbed_copies()``'s; at a million 1,280-d rows
    (5 GB as float32) the caller never has to hold them all.

    With ``mix`` > 0 each copy is first moved from its photo towards a second random one by a share
    drawn from [0, mix), then perturbed: products between photos instead of only near-copies of
    them (a copy-only catalogue of a million holds about 293 near-copies of every photo).
    """
    if chunk == STEP:
        yield from _perturbed_steps(base, n, noise, seed, mix)
        return
    pending: list[tuple[int, np.ndarray, np.ndarray]] = []
    for block in _perturbed_steps(base, n, noise, seed, mix):
        if block[0] == 0:
            yield block  # the real vectors themselves, as they are
            continue
        pending.append(block)
        if sum(len(v) for _, v, _ in pending) >= chunk:
            yield pending[0][0], np.concatenate([v for _, v, _ in pending]), np.concatenate([s for _, _, s in pending])
            pending = []
    if pending:
        yield pending[0][0], np.concatenate([v for _, v, _ in pending]), np.concatenate([s for _, _, s in pending])


def _perturbed_steps(base: np.ndarray, n: int, noise: float, seed: int, mix: float
                     ) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """perturbed_chunks() at ``STEP`` rows a block (after the real vectors): the one order of draws."""
    chunk = STEP
    rng = np.random.default_rng(seed)
    sources = np.concatenate([np.arange(min(n, len(base))), rng.integers(len(base), size=max(0, n - len(base)))])
    d = base.shape[1]
    head = min(n, len(base))
    out = base[:head].astype(np.float32)
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    yield 0, out, sources[:head]
    for start in range(len(base), n, chunk):
        stop = min(n, start + chunk)
        out = base[sources[start:stop]].astype(np.float32)
        # Per-dimension sigma noise/sqrt(d): the perturbation's length is about `noise` whatever d is.
        out += rng.normal(0.0, noise / np.sqrt(d), size=(stop - start, d)).astype(np.float32)
        if mix > 0:
            others = base[rng.integers(len(base), size=stop - start)].astype(np.float32)
            share = rng.uniform(0.0, mix, size=(stop - start, 1)).astype(np.float32)
            out += share * (others - base[sources[start:stop]])
        out /= np.linalg.norm(out, axis=1, keepdims=True)
        yield start, out, sources[start:stop]


def perturbed_copies(
    base: np.ndarray, n: int, noise: float, seed: int = 0, mix: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` unit vectors: ``base`` itself, then random rows of it plus noise of length about ``noise``.

    Returns the vectors and, for each, the row of ``base`` it came from (``mix``: see perturbed_chunks).
    """
    blocks = list(perturbed_chunks(base, n, noise, seed, mix=mix))
    return np.concatenate([b for _, b, _ in blocks]), np.concatenate([s for _, _, s in blocks])


def load_vectors(
    product_pks: Sequence[Any], vectors: np.ndarray, encoder: Encoder, *, using: str = DEFAULT_DB_ALIAS
) -> None:
    """Insert one ready ``main`` row per product with binary COPY (drop the HNSW index first: see build_index)."""
    load_vector_blocks([(product_pks, vectors)], encoder, using=using)


def load_vector_blocks(
    blocks: Iterable[tuple[Sequence[Any], np.ndarray]], encoder: Encoder, *, using: str = DEFAULT_DB_ALIAS
) -> int:
    """``load_vectors()`` for ``(pks, vectors)`` blocks, in one binary COPY; returns the rows written.

    Blocks are consumed one at a time, so a generator keeps memory at one block whatever the total.
    """
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
    rows = 0
    with connection.connection.cursor() as cursor, cursor.copy(
        f"COPY {table} ({columns}) FROM STDIN WITH (FORMAT BINARY)"
    ) as copy:
        copy.set_types(types)  # vectors travel as float32 bytes, not as text
        for product_pks, vectors in blocks:
            for pk, vector in zip(product_pks, vectors, strict=True):
                copy.write_row([int(pk), "main", encoder.id, encoder.version, "", EmbeddingStatus.READY, "", 1,
                                vector, now, now, now])
            rows += len(vectors)
    return rows


def build_index(
    encoder: Encoder, m: int, ef_construction: int, *, using: str = DEFAULT_DB_ALIAS,
    maintenance_work_mem: str = "2GB", parallel_workers: int = 2,
) -> float:
    """(Re)build the encoder's HNSW index with these parameters; return the build time in seconds.

    The graph must fit in ``maintenance_work_mem`` (about 3.7 KB a row at 1,280-d halfvec and m 32):
    past it pgvector says so in a NOTICE, printed here, and the build slows down several times.
    ``parallel_workers`` is ``max_parallel_maintenance_workers`` (pgvector builds in parallel
    from 0.6; the leader takes part too).
    """
    from django.conf import settings  # noqa: PLC0415

    from visual_search.indexing import vector_index  # noqa: PLC0415

    options = {**getattr(settings, "VISUAL_SEARCH", {}), "HNSW_M": m, "HNSW_EF_CONSTRUCTION": ef_construction}
    connection = connections[using]
    with override_settings(VISUAL_SEARCH=options), connection.cursor() as cursor:
        vector_index.drop_hnsw_index(encoder.id, encoder.dimensions, using=using)
        cursor.execute("SELECT set_config('maintenance_work_mem', %s, false), "
                       "set_config('max_parallel_maintenance_workers', %s, false)",
                       [maintenance_work_mem, str(int(parallel_workers))])
        handler = lambda diagnostic: print(f"  {diagnostic.severity}: {diagnostic.message_primary}", flush=True)  # noqa: E731
        connection.connection.add_notice_handler(handler)
        start = time.perf_counter()
        try:
            vector_index.ensure_hnsw_index(encoder.id, encoder.dimensions, using=using)
        finally:
            seconds = time.perf_counter() - start
            connection.connection.remove_notice_handler(handler)
        cursor.execute("RESET maintenance_work_mem")
        cursor.execute("RESET max_parallel_maintenance_workers")
        cursor.execute(f"ANALYZE {ProductImageEmbedding._meta.db_table}")
    return seconds


def exact_top_blocks(
    queries: np.ndarray, query_pks: Sequence[Any], blocks: Iterable[tuple[np.ndarray, np.ndarray]],
    masks: Callable[[np.ndarray], dict[str, np.ndarray | None]], k: int,
) -> dict[str, list[list[Any]]]:
    """The exact top-``k`` pks per query and per filter, ranking ``(pks, vectors)`` blocks as they come.

    ``ExactIndex.top()`` for catalogues too large to hold: ``masks(pks)`` gives, per filter name,
    which rows of a block pass (None: all). Each query's own pk is left out, as in ``top()``.
    """
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    query_pks = np.asarray(query_pks)
    best: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for pks, vectors in blocks:
        pks = np.asarray(pks)
        scores = queries @ np.ascontiguousarray(vectors, dtype=np.float32).T  # (queries, rows)
        scores[query_pks[:, None] == pks[None, :]] = -np.inf
        for name, mask in masks(pks).items():
            s = scores if mask is None else np.where(mask[None, :], scores, -np.inf)
            take = min(k, s.shape[1])
            idx = np.argpartition(-s, take - 1, axis=1)[:, :take]
            top_s, top_p = np.take_along_axis(s, idx, axis=1), pks[idx]
            if name in best:
                top_s, top_p = np.concatenate([best[name][0], top_s], 1), np.concatenate([best[name][1], top_p], 1)
            order = np.argsort(-top_s, axis=1, kind="stable")[:, :k]
            best[name] = (np.take_along_axis(top_s, order, 1), np.take_along_axis(top_p, order, 1))
    return {name: [p[np.isfinite(sc)].tolist() for sc, p in zip(s, ps)] for name, (s, ps) in best.items()}


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


EPSILON = 1e-3  # ann-benchmarks' absolute slack on the k-th distance


def distance_recall_at(found: Sequence[Sequence[float]], truth: Sequence[Sequence[float]], k: int,
                       epsilon: float = EPSILON) -> float:
    """ann-benchmarks' recall: mean share of the first ``k`` found whose distance is within the exact k-th + ``epsilon``.

    ``found`` and ``truth`` are distances (here cosine distance, 1 - cosine similarity), per query, of
    what was returned and of the exact top-``k``. Unlike ``recall_at()`` a returned item counts when it
    is as close as the exact k-th, whichever of several equally close items it is (ties among near
    copies); ``epsilon`` absorbs the rounding of the half-precision index. Queries with no truth are skipped.
    """
    shares = []
    for f, t in zip(found, truth, strict=True):
        if not len(t):
            continue
        n = min(k, len(t))
        threshold = float(np.sort(np.asarray(t, dtype=np.float64))[n - 1]) + epsilon
        shares.append(min(1.0, float(np.sum(np.asarray(f[:k], dtype=np.float64) <= threshold)) / n))
    return float(np.mean(shares)) if shares else float("nan")


def distance_ratio(found: Sequence[Sequence[float]], truth: Sequence[Sequence[float]], k: int) -> float:
    """ann-benchmarks' "rel": mean over queries of (sum of the found top-``k`` distances) / (the exact ones').

    1.0 when every returned item is as close as the exact answer; queries that returned fewer than
    the truth holds, or whose exact distances sum to 0, are skipped.
    """
    ratios = []
    for f, t in zip(found, truth, strict=True):
        n = min(k, len(t))
        if n and len(f) >= n and float(np.sum(t[:n])) > 0:
            ratios.append(float(np.sum(np.sort(f[:k])[:n])) / float(np.sum(np.sort(t)[:n])))
    return float(np.mean(ratios)) if ratios else float("nan")
