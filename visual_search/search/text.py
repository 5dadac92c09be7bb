"""Words, alone or with a photo: PostgreSQL full-text search over the adapter's text, fused by rank.

``search_by_text()`` ranks searchable products by the words (``websearch_to_tsquery``
over the adapter's ``text_fields`` in its ``text_search_config``). ``search_by_image_and_text()``
ranks by the photo and by the words separately and fuses the two lists by reciprocal
rank fusion (each product scores ``sum(1 / (60 + rank))`` over the lists it is in), so
"this photo, but red" lifts the red items among those that look alike. Every fused
result keeps its visual score, so confidence means what it means for a photo alone.

Without an index PostgreSQL computes each product's document per query; for a large
catalogue add a GIN expression index on the same ``to_tsvector`` (docs/install.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector
from django.db.models import Value

from visual_search.adapters import ProductAdapter, get_adapter
from visual_search.conf import vs_settings
from visual_search.search.confidence import Calibrator
from visual_search.search.service import SearchResult, embed_query, search_by_vector, with_content

#: Reciprocal rank fusion's constant (Cormack et al. 2009): dampens the weight of the very top ranks.
RRF_K = 60
#: Candidates each ranking contributes to a fusion.
FUSION_CANDIDATES = 50
MAX_QUERY_LENGTH = 200


#: For words alone there is no visual similarity: a result's score and confidence are its text rank.
TEXT_RANK = Calibrator((0.0, 1.0), (0.0, 1.0), floor=0.0, calibrated=False, encoder="text")


class TextSearchUnavailable(ValueError):
    """The adapter declares no ``text_fields``: the shop has not turned searching with words on."""


def _clean(q: str) -> str:
    q = " ".join(str(q or "").split())
    if not q:
        raise ValueError("Give some words to search for.")
    if len(q) > MAX_QUERY_LENGTH or "\x00" in q:
        raise ValueError(f"Words to search for may be at most {MAX_QUERY_LENGTH} characters.")
    return q


def rank_by_text(
    q: str, limit: int, filters: Mapping[str, Any] | None = None, *, adapter: ProductAdapter | None = None,
    using: str | None = None,
) -> list[tuple[Any, float]]:
    """``(product, rank)`` for the searchable products matching the words, best first; rank in [0, 1)."""
    adapter = adapter or get_adapter()
    if not adapter.text_fields:
        raise TextSearchUnavailable("Searching with words is not set up for this shop (ProductAdapter.text_fields).")
    config = adapter.text_search_config
    query = SearchQuery(_clean(q), config=config, search_type="websearch")
    document = SearchVector(*adapter.text_fields, config=config)
    products = adapter.get_queryset().using(using or vs_settings.SEARCH_DATABASE).filter(**(filters or {}))
    # normalization 32 divides the rank by itself + 1: comparable across queries, below 1.
    ranked = (
        products.annotate(document=document, text_rank=SearchRank(document, query, normalization=Value(32)))
        .filter(document=query)
        .order_by("-text_rank", "pk")
    )
    seen: dict[Any, tuple[Any, float]] = {}
    for product in ranked[: limit * 4]:  # a join to a many-valued text field repeats a product
        seen.setdefault(product.pk, (product, float(product.text_rank)))
        if len(seen) == limit:
            break
    return list(seen.values())


def search_by_text(
    q: str, k: int | None = None, filters: Mapping[str, Any] | None = None, *, using: str | None = None,
) -> list[SearchResult]:
    """Products matching the words, best first. Their ``score`` is the text rank (0-1), not a similarity."""
    k = min(int(k or vs_settings.DEFAULT_RESULTS), int(vs_settings.MAX_RESULTS))
    return [SearchResult(product, 1.0 - rank, "") for product, rank in rank_by_text(q, k, filters, using=using)]


def fuse(rankings: list[list[Any]], k: int) -> list[Any]:
    """Reciprocal rank fusion of lists of keys (best first): the ``k`` best keys by ``sum(1 / (RRF_K + rank))``."""
    scores: dict[Any, float] = {}
    for ranking in rankings:
        for rank, key in enumerate(ranking, 1):
            scores[key] = scores.get(key, 0.0) + 1.0 / (RRF_K + rank)
    return sorted(scores, key=lambda key: -scores[key])[:k]


def search_by_image_and_text(
    image, q: str, k: int | None = None, filters: Mapping[str, Any] | None = None, *,
    using: str | None = None, trace: dict | None = None,
) -> list[SearchResult]:
    """Products that look like ``image`` and match the words ``q``, fused by rank; visual scores kept."""
    k = min(int(k or vs_settings.DEFAULT_RESULTS), int(vs_settings.MAX_RESULTS))
    words = [product.pk for product, _ in rank_by_text(q, FUSION_CANDIDATES, filters, using=using)]
    query = embed_query(image, trace=trace)
    vector = query.vector
    looks = search_by_vector(vector, max(k, FUSION_CANDIDATES), filters, using=using, trace=trace)
    by_pk = {r.product.pk: r for r in looks}
    missing = [pk for pk in words if pk not in by_pk]
    if missing:  # matched by the words only: their visual scores, so confidence stays a visual one
        extra = search_by_vector(vector, len(missing), {**(filters or {}), "pk__in": missing}, using=using)
        by_pk.update((r.product.pk, r) for r in extra)
    order = fuse([[r.product.pk for r in looks], words], k)
    return with_content([by_pk[pk] for pk in order if pk in by_pk], query.content)
