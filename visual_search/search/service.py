"""The one query service behind every view, API endpoint and template tag.

Results are products ranked by their best-matching image, so a product with a
gallery appears once, and only products the adapter's ``get_queryset()``
returns (its searchable products) are ever results. Queries run through the
encoder's partial HNSW index, or exactly when a filter keeps few products.

Public: ``similar_products()``, ``search_by_image()``, ``search_by_vector()``
(each returns ``SearchResult``s, best first), ``embed_query_image()``. Turn
results into what a page or the API shows with ``visual_search.search.results``.
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass, replace
from typing import Any, Mapping, Sequence

import numpy as np
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models import Model, QuerySet, Subquery
from django.db.models.expressions import RawSQL

from visual_search.adapters import get_adapter
from visual_search.conf import vs_settings
from visual_search.encoders import Encoder
from visual_search.encoders.imagenet import ImageLabel, class_names
from visual_search.images import difference_hash, open_image
from visual_search.indexing.encoder_switch import get_search_encoder
from visual_search.indexing.vector_index import annotate_distance, typed_embedding
from visual_search.models import ProductImageEmbedding
from visual_search.search import query_photos, routing
from visual_search.search.confidence import current_calibrator
from visual_search.timeouts import set_local_timeouts

#: pgvector refuses a larger hnsw.ef_search; iterative scans still return more rows.
HNSW_EF_SEARCH_MAX = 1000

#: Most images a single product contributes as queries in ``similar_products``.
MAX_QUERY_IMAGES = 8

#: Planner settings for an exact ranking, transaction-local. It ranks few products (a selective
#: filter, or a walk that ran dry), so reading a whole table is never the plan wanted; but the
#: planner cannot size a filter through a join (a category by slug: it assumes a third of the
#: products) and, at a million products, read all of them for a 1% category: 50-70 of 106-128 ms
#: (docs/scaling.md). Without sequential scans it starts from the filter's index (9 ms there). A
#: filter with no index is still read sequentially: that is then the only plan left.
EXACT_SCAN_OPTIONS = {"enable_seqscan": "off"}


@dataclass(frozen=True)
class SearchResult:
    """A product and how close its best-matching image is (cosine distance, 0 = identical)."""

    product: Model
    distance: float
    image_key: str
    #: The most confidence the query allows (``Calibrator.content_cap``): below 1 for a photo unlike
    #: anything the catalogue shows.
    content: float = 1.0

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


def nearest_images(base: QuerySet, vector, encoder: Encoder, limit: int, *, exact: bool = False) -> QuerySet:
    """(product_id, distance, image_key) of the ``limit`` images nearest ``vector``.

    Through the encoder's HNSW index, or with ``exact`` by ranking every row of
    ``base`` (for a small, filtered ``base``). ``vector`` is an array or an
    expression giving a stored vector (see ``similar_products``).
    """
    qs = annotate_distance(base, encoder.id, encoder.dimensions, vector, exact=exact)
    return qs.order_by("distance").values_list("product_id", "distance", "image_key")[:limit]


def _filtered_products(filters: Mapping[str, Any] | None, using: str) -> QuerySet:
    """The searchable products that pass ``filters`` (ORM lookups on the product)."""
    products = get_adapter().get_queryset().using(using)
    return products.filter(**filters) if filters else products


def _is_selective(products: QuerySet) -> bool:
    """Whether so few products pass a filter that ranking them all beats walking the index.

    A COUNT on the filtered products (index-backed for the usual filters) is cheap
    next to an HNSW walk that has to skip most of what it visits.
    """
    limit = int(vs_settings.EXACT_SEARCH_MAX_PRODUCTS)
    return products.order_by()[: limit + 1].count() <= limit


def _nearest(
    vectors: Sequence[np.ndarray | Subquery],
    k: int,
    *,
    encoder: Encoder,
    exclude_pk: Any = None,
    filters: Mapping[str, Any] | None = None,
    using: str = DEFAULT_DB_ALIAS,
) -> list[SearchResult]:
    """The ``k`` searchable products nearest any of ``vectors``, each by its best image, best first.

    ``vectors`` are arrays, or subqueries giving stored vectors (``similar_products``).

    Unfiltered and broadly filtered queries walk the HNSW index with pgvector's
    iterative scan, so a filter still yields enough rows; a filter that keeps
    at most ``EXACT_SEARCH_MAX_PRODUCTS`` products is answered exactly, by
    ranking just those products' vectors (an expression the index cannot serve).
    An index walk that runs dry before ``k`` products is redone exactly, so a
    query returns ``k`` results whenever ``k`` products match.
    """
    products = _filtered_products(filters, using)
    exact = bool(filters) and _is_selective(products)
    # Rows, not products. Unfiltered, 2k leaves room for products with several images at little cost. A
    # filtered walk's cost grows with the rows it must find (it skips what fails the filter), so it asks
    # for k and grows by what it saw when products with several images leave it short.
    limit = k if filters else k * 2
    found: dict[Any, Model] = {}
    hidden: set[Any] = set()
    while True:
        base = _candidates(products, filters, exclude_pk, exact=exact, using=using)
        best: dict[Any, tuple[float, str]] = {}
        with transaction.atomic(using=using), connections[using].cursor() as cursor:
            # SET LOCAL: scoped to this transaction, so it never leaks through a pooled connection.
            if not exact:
                set_hnsw_options(cursor, limit, filtered=bool(filters), using=using)
            else:
                set_local_timeouts(cursor, EXACT_SCAN_OPTIONS)
            rows_seen = 0
            for vector in vectors:
                rows = list(nearest_images(base, vector, encoder, limit, exact=exact))
                rows_seen = max(rows_seen, len(rows))
                for pk, distance, key in rows:
                    if distance is None:
                        continue  # the query's stored vector was deleted meanwhile
                    if pk not in best or distance < best[pk][0]:
                        best[pk] = (float(distance), key)
        ranked = _searchable_in_rank_order(products, sorted(best, key=lambda pk: best[pk][0]), k, found, hidden)
        if len(ranked) >= k or limit >= 64 * k:
            break
        if rows_seen < limit:
            if exact:
                break  # every matching vector was ranked: fewer than k products match
            # The index walk ran dry early (a badly connected graph region, or max_scan_tuples):
            # rank the matching vectors exactly rather than return fewer than k.
            exact = True
            continue
        limit = min(64 * k, max(2 * limit, math.ceil(1.25 * limit * k / max(1, len(best)))))
    return [SearchResult(found[pk], *best[pk]) for pk in ranked]


def _searchable_in_rank_order(products: QuerySet, ranked: list, k: int, found: dict, hidden: set) -> list:
    """The first ``k`` of ``ranked`` (pks, best first) that ``products`` lists, loading only those.

    Only searchable products count (the adapter may hide some that still have
    vectors), and a page of k results instantiates about k products, however
    many rows the index walk returned. ``found`` and ``hidden`` carry what is
    known across a query's rounds.
    """
    out: list = []
    start = 0
    while len(out) < k and start < len(ranked):
        batch = ranked[start:start + k - len(out)]
        start += len(batch)
        unknown = [pk for pk in batch if pk not in found and pk not in hidden]
        if unknown:
            loaded = products.in_bulk(unknown)
            found.update(loaded)
            hidden.update(pk for pk in unknown if pk not in loaded)
        out.extend(pk for pk in batch if pk in found)
    return out


def _candidates(products: QuerySet, filters, exclude_pk, *, exact: bool, using: str) -> QuerySet:
    """The embedding rows a query ranks: ready ones, of products passing ``filters``, less ``exclude_pk`` (one or a list)."""
    base = ProductImageEmbedding.objects.using(using).ready()
    if isinstance(exclude_pk, (list, tuple, set, frozenset)):
        base = base.exclude(product_id__in=list(exclude_pk))
    elif exclude_pk is not None:
        base = base.exclude(product_id=exclude_pk)
    if exact:
        # The filtered pks are collected once into an array (an InitPlan), then each is looked up by
        # product_id (see EXACT_SCAN_OPTIONS for how the array itself is read).
        sql, params = products.order_by().values("pk").query.sql_with_params()
        return base.filter(product_id__in=RawSQL(f"SELECT unnest(ARRAY({sql}))", params))
    if filters:
        base = base.filter(**{f"product__{lookup}": value for lookup, value in filters.items()})
    return base


def set_hnsw_options(cursor, limit: int, *, filtered: bool, using: str) -> None:
    """The index walk's knobs, transaction-local (``set_config(..., true)`` is ``SET LOCAL``), in one round trip.

    Call it inside a transaction before ``nearest_images()`` (the evaluation's live path does, as searches do).
    """
    options = {"hnsw.ef_search": min(max(int(vs_settings.HNSW_EF_SEARCH), limit), HNSW_EF_SEARCH_MAX)}
    if _supports_iterative_scan(using):
        # Keeps filtered queries from returning fewer than `limit` rows; results are re-sorted here.
        options["hnsw.iterative_scan"] = "relaxed_order"
        options["hnsw.max_scan_tuples"] = int(vs_settings.HNSW_MAX_SCAN_TUPLES)
    if filtered:
        # A broad filter is cheapest as an index walk that checks each product's filter. Left alone,
        # the planner joins first and sorts every matching vector (measured: 260-320 ms at 100k
        # products for a 10% filter); without a sort, only the index can give the order.
        options["enable_sort"] = "off"
    set_local_timeouts(cursor, options)  # with the app's statement and lock timeouts, one round trip


def similar_products(
    product: Model | Any,
    k: int | None = None,
    filters: Mapping[str, Any] | None = None,
    *,
    using: str | None = None,
    trace: dict | None = None,
) -> list[SearchResult]:
    """Products that look like ``product`` (an instance or a primary key), excluding itself.

    ``filters`` are ORM lookups on the product (``{"category__slug": "shirt"}``);
    turn request parameters into them with ``visual_search.filters.parse_filters``.
    A ``trace`` dict receives the encoder's id and ``query_ms`` (the search log reads it).
    """
    started = time.perf_counter()
    encoder = get_search_encoder()
    using = using or routing.read_database()  # a read replica, once it holds the latest vectors
    pk = getattr(product, "pk", product)
    rows = (
        ProductImageEmbedding.objects.using(using).for_encoder(encoder).ready()
        .filter(product_id=pk, embedding__isnull=False)
    )
    keys = list(rows.order_by("image_key").values_list("image_key", flat=True)[:MAX_QUERY_IMAGES])
    # Each image's vector as a subquery: it never travels to Python and back as 1,280 numbers in text.
    vectors = [
        Subquery(rows.filter(image_key=key).values(v=typed_embedding(encoder.dimensions))[:1]) for key in keys
    ]
    results = _nearest(vectors, _clamp_k(k), encoder=encoder, exclude_pk=pk, filters=filters, using=using) if vectors else []
    if trace is not None:
        trace.update(encoder=encoder.id, query_ms=(time.perf_counter() - started) * 1000)
    return results


def search_by_vector(
    vector,
    k: int | None = None,
    filters: Mapping[str, Any] | None = None,
    *,
    exclude: Any = None,
    using: str | None = None,
    trace: dict | None = None,
) -> list[SearchResult]:
    """Products whose images are nearest ``vector`` (an embedding from the search encoder).

    ``exclude`` is a product (or pk), or a list of them, left out of the results; ``trace`` as for
    ``similar_products``.
    """
    started = time.perf_counter()
    encoder = get_search_encoder()
    using = using or routing.read_database()
    vector = np.asarray(vector, dtype=np.float32)
    if vector.shape != (encoder.dimensions,):
        raise ValueError(f"Expected a {encoder.dimensions}-d vector for {encoder.id}, got shape {vector.shape}.")
    if isinstance(exclude, (list, tuple, set, frozenset)):
        exclude_pk = [getattr(e, "pk", e) for e in exclude]
    else:
        exclude_pk = getattr(exclude, "pk", exclude)
    results = _nearest([vector], _clamp_k(k), encoder=encoder, exclude_pk=exclude_pk, filters=filters, using=using)
    if trace is not None:
        trace.update(encoder=encoder.id, query_ms=(time.perf_counter() - started) * 1000)
    return results


def query_decode_size(encoder: Encoder | None = None) -> int:
    """The short side query photos decode to: ``QUERY_IMAGE_SIZE``, else what the encoder needs.

    By default that is the size catalogue photos decode to for the encoder
    (``Encoder.decode_size``), so a query and a catalogue copy of the same photo
    go through the same resampling; a 1 MP JPEG then decodes at half scale,
    several milliseconds sooner.
    """
    if vs_settings.QUERY_IMAGE_SIZE:
        return int(vs_settings.QUERY_IMAGE_SIZE)
    return (encoder or get_search_encoder()).decode_size


@dataclass(frozen=True)
class QueryEmbedding:
    """A query photo's vector, and the most confidence what it shows allows (``Calibrator.content_cap``)."""

    vector: np.ndarray
    content: float = 1.0


def embed_query_image(image, *, trace: dict | None = None) -> np.ndarray:
    """Validate and embed one query image (PIL image, bytes or a file); ``embed_query`` for the rest."""
    return embed_query(image, trace=trace).vector


def embed_query(image, *, trace: dict | None = None) -> QueryEmbedding:
    """Validate and embed one query image (PIL image, bytes or a file), and check what it shows.

    The calibration's content check (``Calibrator.content_cap``) reads the ImageNet class
    probabilities of the same pass, where the encoder has a classifier.
    A ``trace`` dict receives ``decode_ms``, ``embed_ms``, ``content`` (that cap), the photo's
    ``photo_hash`` (a 64-bit difference hash) and ``photo`` (its storage name, when query photos are kept);
    with an encoder that ``describes`` what it sees, also ``describe_photo``: a function
    giving the photo's top ImageNet class (``ImageLabel``) from the features this pass
    computed, for a caller that wants it (the search log, when nothing close was found).
    """
    from PIL import Image  # noqa: PLC0415

    started = time.perf_counter()
    encoder = get_search_encoder()
    if not isinstance(image, Image.Image):
        # Decoded at a reduced size, upright RGB: a query photo never stays full size in memory.
        image = open_image(image, target_size=query_decode_size(encoder))
    decoded = time.perf_counter()
    kept = query_photos.keep(image)  # only when QUERY_PHOTO_RETENTION_DAYS is set, re-encoded, server-named
    vector, features = _embed_one(encoder, image)
    probabilities = None if features is None else encoder.class_probabilities(features)
    content = current_calibrator(encoder).content_cap(None if probabilities is None else probabilities[0])
    if trace is not None:
        trace.update(decode_ms=(decoded - started) * 1000, embed_ms=(time.perf_counter() - decoded) * 1000,
                      photo=kept or "", photo_hash=difference_hash(image), content=content)
        if features is not None:
            # Not computed here: a matrix product the caller runs only if it wants the name.
            trace["describe_photo"] = functools.partial(_top_label, encoder, features, probabilities)
    return QueryEmbedding(vector, content)


def _embed_one(encoder: Encoder, image) -> tuple[np.ndarray, np.ndarray | None]:
    """The photo's vector and, from an encoder that ``describes``, the features its classifier reads."""
    if encoder.describes:
        vectors, features = encoder.embed_with_features([image])
        return vectors[0], features
    return encoder.embed([image])[0], None


def _top_label(encoder: Encoder, features: np.ndarray, probabilities: np.ndarray | None) -> ImageLabel | None:
    """The most probable ImageNet class of the one photo whose ``features`` (and ``probabilities``) these are."""
    if probabilities is not None:  # the content check's, already computed: no second matrix product
        best = int(probabilities[0].argmax())
        return ImageLabel(class_names()[best], float(probabilities[0][best]), best)
    [labels] = encoder.describe(features, top=1)
    return labels[0] if labels else None


def search_by_image(
    image,
    k: int | None = None,
    filters: Mapping[str, Any] | None = None,
    *,
    using: str | None = None,
    trace: dict | None = None,
) -> list[SearchResult]:
    """Products whose images look like ``image``; raises ``InvalidImage`` for a bad upload."""
    query = embed_query(image, trace=trace)
    return with_content(search_by_vector(query.vector, k, filters, using=using, trace=trace), query.content)


def with_content(results: list[SearchResult], content: float) -> list[SearchResult]:
    """``results`` carrying the query's content cap."""
    return results if content >= 1.0 else [replace(r, content=content) for r in results]


def warm_up() -> None:
    """Load the search encoder and run it once, so a web worker's first search is as fast as the rest.

    Call it in each worker process after it starts (gunicorn's ``post_worker_init``,
    see ``config/gunicorn.conf.py``), never in a parent process that forks:
    TensorFlow loaded before a fork hangs in the children.
    """
    from django.db import DatabaseError  # noqa: PLC0415
    from PIL import Image  # noqa: PLC0415

    encoder = get_search_encoder()
    vector, features = _embed_one(encoder, Image.new("RGB", (256, 256), (128, 128, 128)))
    if features is not None:
        encoder.describe(features)  # reads its ImageNet layer now, not on the first photo nothing matches
    try:
        search_by_vector(vector, k=1)  # the query path too: connection, pgvector types, plans
    except DatabaseError:
        pass  # not migrated yet: the encoder is what matters
