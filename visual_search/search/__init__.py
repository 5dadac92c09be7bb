"""Answering searches: the query service and what turns its results into cards.

``service`` ranks products (``similar_products``, ``search_by_image``,
``search_by_vector``); ``uploads`` and ``throttling`` guard a shopper's photo
on the way in, ``query_photos`` optionally keeps it, and ``results`` turns
ranked products into what a page or the API shows.
"""

from visual_search.search.service import (
    SearchResult,
    embed_query_image,
    nearest_images,
    search_by_image,
    search_by_vector,
    set_hnsw_options,
    similar_products,
    warm_up,
)

__all__ = [
    "SearchResult", "embed_query_image", "nearest_images", "search_by_image", "search_by_vector",
    "set_hnsw_options", "similar_products", "warm_up",
]
