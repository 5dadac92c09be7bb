"""Near-duplicate products: pairs whose images are (almost) the same picture.

Exact copies share an image's SHA-256 and are found by one GROUP BY; re-encoded,
resized or re-compressed copies are found through the vector index: each
image's nearest products above a cosine ``threshold``. The default threshold
was measured on clothing-small with EfficientNet-Lite0 (docs/evaluation.md):
re-encoded copies score 0.93-0.99 (median 0.97), distinct photos' nearest
neighbours 0.74 at the median and 0.94 at the 99.9th percentile.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import combinations
from typing import Any

from django.db import DEFAULT_DB_ALIAS
from django.db.models import Count, Model

from visual_search.adapters import get_adapter
from visual_search.indexing.encoder_switch import get_search_encoder
from visual_search.models import ProductImageEmbedding

__all__ = ["DEFAULT_THRESHOLD", "DuplicatePair", "find_duplicates"]

DEFAULT_THRESHOLD = 0.95


@dataclass(frozen=True)
class DuplicatePair:
    """Two products, the cosine similarity of their closest images, and whether the bytes are identical."""

    first: Model
    second: Model
    similarity: float
    exact: bool


def _key(a: Any, b: Any) -> tuple[Any, Any]:
    return (a, b) if str(a) <= str(b) else (b, a)


def _exact_pairs(rows) -> Iterator[tuple[Any, Any]]:
    shared = rows.values("content_hash").annotate(n=Count("product_id", distinct=True)).filter(n__gt=1)
    hashes = [row["content_hash"] for row in shared if row["content_hash"]]
    groups: dict[str, set] = {}
    for digest, pk in rows.filter(content_hash__in=hashes).values_list("content_hash", "product_id"):
        groups.setdefault(digest, set()).add(pk)
    for pks in groups.values():
        yield from (_key(a, b) for a, b in combinations(sorted(pks, key=str), 2))


def find_duplicates(
    threshold: float = DEFAULT_THRESHOLD, neighbours: int = 5, *, using: str = DEFAULT_DB_ALIAS
) -> list[DuplicatePair]:
    """Pairs of searchable products with images at cosine >= ``threshold``, most similar first.

    Each image asks the index for its ``neighbours`` nearest other products
    (``search_by_vector``), so a cluster of more copies than that is reported
    through chains of pairs rather than every pair.
    """
    from visual_search.search.service import search_by_vector  # noqa: PLC0415

    encoder = get_search_encoder()
    rows = ProductImageEmbedding.objects.using(using).for_encoder(encoder).ready().filter(embedding__isnull=False)
    best: dict[tuple[Any, Any], float] = {key: 1.0 for key in _exact_pairs(rows)}
    exact = set(best)
    for pk, vector in rows.values_list("product_id", "embedding").iterator(chunk_size=500):
        for result in search_by_vector(vector, neighbours, exclude=pk, using=using):
            if result.score < threshold:
                break  # results come best first
            key = _key(pk, result.product.pk)
            best[key] = max(best.get(key, -1.0), min(result.score, 1.0))
    products = get_adapter().get_queryset().using(using).in_bulk({pk for pair in best for pk in pair})
    pairs = [
        DuplicatePair(products[a], products[b], similarity, (a, b) in exact)
        for (a, b), similarity in best.items()
        if a in products and b in products  # only searchable products
    ]
    return sorted(pairs, key=lambda pair: (-pair.similarity, str(pair.first.pk), str(pair.second.pk)))
