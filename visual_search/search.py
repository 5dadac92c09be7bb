"""The one query service behind every view, API endpoint and template tag.

Results are products ranked by their best-matching image, so a product with a
gallery appears once. Queries run through the encoder's partial HNSW index.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models import Model, QuerySet

from visual_search.adapters import get_adapter
from visual_search.conf import vs_settings
from visual_search.encoders import Encoder, get_encoder
from visual_search.images import open_image
from visual_search.models import ProductImageEmbedding
from visual_search.vector_index import annotate_distance

#: pgvector refuses a larger hnsw.ef_search; iterative scans still return more rows.
HNSW_EF_SEARCH_MAX = 1000

#: Most images a single product contributes as queries in ``similar_products``.
MAX_QUERY_IMAGES = 8


@dataclass(frozen=True)
class SearchResult:
    """A product and how close its best-matching image is (cosine distance, 0 = identical)."""

    product: Model
    distance: float
    image_key: str

    @property
    def score(self) -> float:
        """Cosine similarity, 1 for identical images."""
        return 1.0 - self.distance


def _clamp_k(k: int | None) -> int:
    k = vs_settings.DEFAULT_RESULTS if k is None else int(k)
    return max(1, min(k, int(vs_settings.MAX_RESULTS)))


_iterative_scan_support: dict[str, bool] = {}


def _supports_iterative_scan(using: str) -> bool:
    # hnsw.iterative_scan exists from pgvector 0.8.0; setting it on older versions is an error.
    if using not in _iterative_scan_support:
        with connections[using].cursor() as cursor:
            cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
            row = cursor.fetchone()
        version = tuple(int(p) for p in row[0].split(".")[:2]) if row else (0, 0)
        _iterative_scan_support[using] = version >= (0, 8)
    return _iterative_scan_support[using]


def nearest_images(base: QuerySet, vector, encoder: Encoder, limit: int) -> QuerySet:
    """(product_id, distance, image_key) of the ``limit`` images nearest ``vector``, via the HNSW index."""
    qs = annotate_distance(base, encoder.id, encoder.dimensions, np.asarray(vector, dtype=np.float32))
    return qs.order_by("distance").values_list("product_id", "distance", "image_key")[:limit]


def _nearest(
    vectors: Sequence[np.ndarray],
    k: int,
    *,
    encoder: Encoder,
    exclude_pk: Any = None,
    filters: Mapping[str, Any] | None = None,
    using: str = DEFAULT_DB_ALIAS,
) -> list[tuple[Any, float, str]]:
    """Best (product_pk, distance, image_key) per product over all query ``vectors``, best first."""
    limit = k * 4  # room for products with several images among the nearest rows
    base = ProductImageEmbedding.objects.using(using)
    if exclude_pk is not None:
        base = base.exclude(product_id=exclude_pk)
    if filters:
        base = base.filter(**{f"product__{lookup}": value for lookup, value in filters.items()})
    while True:
        best: dict[Any, tuple[float, str]] = {}
        with transaction.atomic(using=using), connections[using].cursor() as cursor:
            # SET LOCAL: scoped to this transaction, so it never leaks through a pooled connection.
            ef_search = min(max(int(vs_settings.HNSW_EF_SEARCH), limit), HNSW_EF_SEARCH_MAX)
            cursor.execute(f"SET LOCAL hnsw.ef_search = {ef_search}")
            if _supports_iterative_scan(using):
                # Keeps filtered queries from returning fewer than `limit` rows.
                cursor.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
            rows_seen = 0
            for vector in vectors:
                rows = list(nearest_images(base, vector, encoder, limit))
                rows_seen = max(rows_seen, len(rows))
                for pk, distance, key in rows:
                    if pk not in best or distance < best[pk][0]:
                        best[pk] = (float(distance), key)
        if len(best) >= k or rows_seen < limit or limit >= 64 * k:
            break
        limit *= 4
    ranked = sorted(best.items(), key=lambda item: item[1][0])[:k]
    return [(pk, distance, key) for pk, (distance, key) in ranked]


def _to_results(ranked: list[tuple[Any, float, str]], using: str) -> list[SearchResult]:
    products = get_adapter().get_queryset().using(using).in_bulk([pk for pk, _, _ in ranked])
    return [SearchResult(products[pk], distance, key) for pk, distance, key in ranked if pk in products]


def similar_products(
    product: Model | Any,
    k: int | None = None,
    filters: Mapping[str, Any] | None = None,
    *,
    using: str = DEFAULT_DB_ALIAS,
) -> list[SearchResult]:
    """Products that look like ``product`` (an instance or a primary key), excluding itself."""
    encoder = get_encoder()
    pk = getattr(product, "pk", product)
    vectors = list(
        ProductImageEmbedding.objects.using(using).for_encoder(encoder).ready()
        .filter(product_id=pk, embedding__isnull=False)
        .order_by("image_key").values_list("embedding", flat=True)[:MAX_QUERY_IMAGES]
    )
    if not vectors:
        return []
    k = _clamp_k(k)
    return _to_results(_nearest(vectors, k, encoder=encoder, exclude_pk=pk, filters=filters, using=using), using)


def embed_query_image(image) -> np.ndarray:
    """Validate and embed one query image (PIL image, bytes or a file)."""
    from PIL import Image  # noqa: PLC0415

    if not isinstance(image, Image.Image):
        image = open_image(image)
    return get_encoder().embed([image])[0]


def search_by_image(
    image,
    k: int | None = None,
    filters: Mapping[str, Any] | None = None,
    *,
    using: str = DEFAULT_DB_ALIAS,
) -> list[SearchResult]:
    """Products whose images look like ``image``; raises ``InvalidImage`` for a bad upload."""
    vector = embed_query_image(image)
    k = _clamp_k(k)
    return _to_results(_nearest([vector], k, encoder=get_encoder(), filters=filters, using=using), using)
