"""Embed a list of products in this process, batch after batch, without Celery or the outbox.

For scripts and tests that want vectors now (a fixture, an evaluation). Stored,
resumable re-embeds of the catalogue are bulk jobs (``jobs.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from visual_search.conf import vs_settings
from visual_search.indexing.jobs import _chunks
from visual_search.indexing.sync import (
    SyncResult,
    TransientEmbeddingError,
    record_transient_failure,
    sync_products,
)
from visual_search.models import ProductImageEmbedding

logger = logging.getLogger(__name__)


def reembed_in_process(
    pks: Iterable[Any],
    *,
    batch_size: int | None = None,
    force: bool = False,
    progress_callback: Callable[[list[Any], SyncResult], None] | None = None,
) -> SyncResult:
    """Embed ``pks`` here, one ``sync_products`` call per batch; return the summed counts.

    A product that hits a retryable error (storage, encoder) is tried once more
    on its own, then given failed rows, like a task that ran out of retries.
    """
    total = SyncResult()
    for chunk in _chunks(pks, max(1, int(batch_size or vs_settings.BATCH_SIZE))):
        result = sync_products(chunk, force=force, raise_transient=False)
        for pk in list(result.retry):  # the rest of the batch is written already
            del result.retry[pk]
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
        return SyncResult(failed=ProductImageEmbedding.objects.failed().filter(product_id=pk).count())
