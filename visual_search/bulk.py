"""Bulk re-embedding: pick products by their embedding state, then queue or embed them in batches.

Both paths end in ``indexing.sync_products``: ``enqueue_reembed`` sends one
Celery task per batch (through ``tasks.enqueue_products``), and
``reembed_in_process`` calls it directly, batch after batch, for
``visual_search_reembed --sync``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import Any

from django.db.models import Count, F, Q, QuerySet

from visual_search.adapters import get_adapter
from visual_search.conf import vs_settings
from visual_search.encoders import Encoder, get_encoder
from visual_search.indexing import (
    SyncResult, TransientEmbeddingError, record_transient_failure, sync_products,
)
from visual_search.models import EmbeddingStatus, ProductImageEmbedding
from visual_search.tasks import enqueue_products

logger = logging.getLogger(__name__)

MODES = ("missing", "failed", "all")


def _chunks(iterable: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(iterable)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _batch_size(batch_size: int | None) -> int:
    return max(1, int(batch_size or vs_settings.BATCH_SIZE))


def task_count(products: int, batch_size: int | None = None) -> int:
    """How many tasks ``enqueue_reembed`` sends for ``products`` products when the broker takes them all."""
    return -(-products // _batch_size(batch_size))


def select_products(mode: str, encoder: Encoder | None = None) -> QuerySet:
    """Primary keys of the searchable products that ``mode`` re-embeds, in pk order.

    * ``missing``: not fully embedded under the current encoder id and version
      (no row, a pending row, or a row from an older version); failed rows
      alone do not count, so a broken image is not retried on every run.
    * ``failed``: any row of the current encoder has failed.
    * ``all``: every searchable product.
    """
    if mode not in MODES:
        raise ValueError(f"Unknown re-embed mode {mode!r}; choose one of {', '.join(MODES)}.")
    encoder = encoder or get_encoder()
    products = get_adapter().get_queryset()
    rows = ProductImageEmbedding.objects.for_encoder(encoder)
    if mode == "missing":
        # Products whose every row is ready or failed under this version need nothing;
        # NOT IN over one grouped subquery is a single hashed pass, not a probe per product.
        settled = (
            rows.order_by().values("product")
            .annotate(
                n=Count("pk"),
                ok=Count("pk", filter=Q(
                    encoder_version=encoder.version,
                    status__in=[EmbeddingStatus.READY, EmbeddingStatus.FAILED],
                )),
            )
            .filter(n=F("ok"))
            .values("product")
        )
        products = products.exclude(pk__in=settled)
    elif mode == "failed":
        products = products.filter(pk__in=rows.failed().values("product"))
    return products.select_related(None).order_by("pk").values_list("pk", flat=True)


def reset_failed(pks: Iterable[Any], encoder: Encoder | None = None) -> int:
    """Mark the failed rows of ``pks`` pending: a non-forced sync retries them, progress shows them queued.

    Only failed rows change: ready rows stay ready (and searchable) while their
    product is re-embedded.
    """
    encoder = encoder or get_encoder()
    changed = 0
    for chunk in _chunks(pks, 1000):
        changed += (
            ProductImageEmbedding.objects.for_encoder(encoder).failed()
            .filter(product_id__in=chunk).update(status=EmbeddingStatus.PENDING)
        )
    return changed


def enqueue_reembed(pks: Iterable[Any], *, batch_size: int | None = None, force: bool = False) -> int:
    """Send one embedding task per ``batch_size`` products (default ``BATCH_SIZE``); return the tasks sent.

    A batch whose task could not be published is logged by ``enqueue_products``
    and left out of the count; its products stay "missing" for the next run.
    """
    sent = 0
    for chunk in _chunks(pks, _batch_size(batch_size)):
        sent += enqueue_products(chunk, force=force)
    return sent


def queue_catalogue(
    mode: str, *, batch_size: int | None = None, force: bool = False
) -> tuple[list[Any], int]:
    """Queue the products ``mode`` selects; return their pks and the tasks sent.

    In "failed" mode the failed rows become pending first (unless ``force``,
    which rewrites every row anyway), because a non-forced sync skips an
    unchanged image that failed before.
    """
    pks = list(select_products(mode))
    if mode == "failed" and not force:
        reset_failed(pks)
    return pks, enqueue_reembed(pks, batch_size=batch_size, force=force)


def reembed_in_process(
    pks: Iterable[Any],
    *,
    batch_size: int | None = None,
    force: bool = False,
    progress_callback: Callable[[list[Any], SyncResult], None] | None = None,
) -> SyncResult:
    """Embed ``pks`` in this process, one ``sync_products`` call per batch; return the summed counts.

    A batch that hits a transient error (storage, encoder) is retried product by
    product, so one bad product cannot fail its neighbours; a product that
    still fails gets failed rows, like a task that ran out of retries.
    """
    total = SyncResult()
    for chunk in _chunks(pks, _batch_size(batch_size)):
        try:
            result = sync_products(chunk, force=force)
        except TransientEmbeddingError:
            result = SyncResult()
            for pk in chunk:
                result += _sync_one(pk, force)
        total += result
        if progress_callback is not None:
            progress_callback(chunk, result)
    return total


def _sync_one(pk: Any, force: bool) -> SyncResult:
    try:
        return sync_products([pk], force=force)
    except TransientEmbeddingError as exc:
        logger.error("Embedding product %s failed: %s", pk, exc)
        record_transient_failure([pk], f"{type(exc).__name__}: {exc}", final=True)
        rows = ProductImageEmbedding.objects.for_encoder(get_encoder()).failed().filter(product_id=pk)
        return SyncResult(failed=rows.count())
