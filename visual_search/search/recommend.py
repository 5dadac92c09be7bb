"""More like these, not those; and at most n per category: the similar-products query, steered and spread.

``recommend()`` ranks by one query vector built from stored vectors: the mean of
the positive products' images, pushed away from the mean of the negative ones'
(Qdrant's "average vector" strategy: ``p + (p - n)``), so "like this dress, not
like that one" needs no new embedding. ``per_category`` keeps at most that many
results from any one category (``VISUAL_SEARCH["CATEGORY_FIELD"]``), so a page of
similar items is not ten near-copies of one kind.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from visual_search.conf import vs_settings
from visual_search.encoders import Encoder
from visual_search.indexing.encoder_switch import get_search_encoder
from visual_search.models import ProductImageEmbedding
from visual_search.search.service import SearchResult, search_by_vector

#: How many more results a spread query fetches than it returns, so it can skip crowded categories.
SPREAD_FETCH = 4


def mean_vector(products: Sequence[Any], encoder: Encoder, using: str) -> np.ndarray | None:
    """The mean of the stored vectors of ``products``' images (unit length), or None if none is ready."""
    rows = (
        ProductImageEmbedding.objects.using(using).for_encoder(encoder).ready()
        .filter(product_id__in=[getattr(p, "pk", p) for p in products], embedding__isnull=False)
        .values_list("embedding", flat=True)
    )
    vectors = [np.asarray(v, dtype=np.float32) for v in rows]
    if not vectors:
        return None
    mean = np.mean(vectors, axis=0)
    return mean / (np.linalg.norm(mean) or 1.0)


def recommend(
    positive: Sequence[Any],
    negative: Sequence[Any] = (),
    k: int | None = None,
    filters: Mapping[str, Any] | None = None,
    *,
    per_category: int | None = None,
    using: str | None = None,
    trace: dict | None = None,
) -> list[SearchResult]:
    """Products like the ``positive`` ones and unlike the ``negative`` ones (instances or pks), best first.

    None of the named products is a result. Returns [] when no positive product has a ready vector.
    """
    encoder = get_search_encoder()
    using = using or vs_settings.SEARCH_DATABASE
    liked = mean_vector(positive, encoder, using)
    if liked is None:
        return []
    disliked = mean_vector(negative, encoder, using) if negative else None
    query = liked if disliked is None else liked + (liked - disliked)
    query = query / (np.linalg.norm(query) or 1.0)
    k = min(int(k or vs_settings.DEFAULT_RESULTS), int(vs_settings.MAX_RESULTS))
    fetch = min(k * SPREAD_FETCH, int(vs_settings.MAX_RESULTS)) if per_category else k
    results = search_by_vector(query, fetch, filters, exclude=[*positive, *negative], using=using, trace=trace)
    return spread(results, per_category, k) if per_category else results[:k]


def category_of(product: Any) -> Any:
    """The value of ``CATEGORY_FIELD`` that groups ``product`` (a foreign key's id, a set of ids, or a value)."""
    field = vs_settings.CATEGORY_FIELD
    if hasattr(product, f"{field}_id"):
        return getattr(product, f"{field}_id")
    value = getattr(product, field, None)
    if hasattr(value, "values_list"):  # a many-to-many (Oscar's categories): the set is the group
        return tuple(sorted(value.values_list("pk", flat=True)))
    return value


def spread(results: Sequence[SearchResult], per_category: int, k: int) -> list[SearchResult]:
    """The best ``k`` of ``results`` with at most ``per_category`` from any one category, in rank order."""
    counts: dict[Any, int] = {}
    kept = []
    for result in results:
        group = category_of(result.product)
        if counts.get(group, 0) < per_category:
            counts[group] = counts.get(group, 0) + 1
            kept.append(result)
            if len(kept) == k:
                break
    return kept
