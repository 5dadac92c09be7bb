"""Celery tasks. They stay thin: the work is in ``indexing.py``.

The encoder is built lazily on first use inside the worker process (never in
a parent that forks), and tasks are idempotent upserts, which is what makes
late acks with reject-on-worker-lost safe.
"""

from __future__ import annotations

import logging
import random
from typing import Any, Iterable

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.db import DatabaseError, InterfaceError, OperationalError

from visual_search.conf import vs_settings
from visual_search.indexing import TransientEmbeddingError, record_transient_failure, sync_products

logger = logging.getLogger(__name__)

TRANSIENT_ERRORS = (TransientEmbeddingError, OperationalError, InterfaceError, SoftTimeLimitExceeded)


def retry_countdown(retries: int) -> float:
    """Exponential backoff with full jitter, capped by TASK_RETRY_BACKOFF_MAX seconds."""
    cap = float(vs_settings.TASK_RETRY_BACKOFF_MAX)
    return random.uniform(0, min(cap, 2.0 ** (retries + 1)))


@shared_task(
    bind=True,
    name="visual_search.embed_products",
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
)
def embed_products(self, product_pks: list[Any], force: bool = False) -> dict[str, int]:
    """Embed the images of ``product_pks`` whose bytes or encoder changed."""
    try:
        result = sync_products(product_pks, force=force)
    except TRANSIENT_ERRORS as exc:
        failing = [pk for pk in getattr(exc, "product_pks", product_pks) if pk in product_pks] or product_pks
        if len(failing) < len(product_pks):
            # One product's storage hiccup must not hold back the rest of the batch:
            # they go on at once in a task of their own; only the failing ones retry.
            enqueue_products([pk for pk in product_pks if pk not in failing], force=force)
            product_pks = failing
        max_retries = int(vs_settings.TASK_MAX_RETRIES)
        final = self.request.retries >= max_retries
        try:
            record_transient_failure(product_pks, f"{type(exc).__name__}: {exc}", final=final)
        except DatabaseError:
            logger.exception("Could not record the failure of products %s", product_pks)
        if final:
            logger.error("Giving up on products %s after %d retries: %s", product_pks, max_retries, exc)
            return {"failed": len(product_pks)}
        raise self.retry(args=(product_pks,), kwargs={"force": force}, exc=exc,
                         countdown=retry_countdown(self.request.retries), max_retries=max_retries)
    logger.info(
        "Embedded products %s: %d embedded, %d unchanged, %d failed, %d removed",
        product_pks, result.embedded, result.unchanged, result.failed, result.deleted,
    )
    return {
        "embedded": result.embedded, "unchanged": result.unchanged,
        "failed": result.failed, "deleted": result.deleted,
    }


def enqueue_products(product_pks: Iterable[Any], *, force: bool = False) -> bool:
    """Send one embedding task for ``product_pks``; log and return False if the broker is unreachable.

    Never raises: a product save must not fail because of embedding work. A
    product whose task was lost shows as "not embedded" and
    ``manage.py visual_search_reembed`` picks it up.
    """
    pks = list(product_pks)
    if not pks:
        return True
    options: dict[str, Any] = {
        # A short publish retry: long enough for a broker blip, short enough not to stall a request.
        "retry": True,
        "retry_policy": {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5},
    }
    if vs_settings.TASK_QUEUE:
        options["queue"] = vs_settings.TASK_QUEUE
    if vs_settings.TASK_SOFT_TIME_LIMIT:
        # Soft limit raises inside the task (then retried); the hard limit backs it up.
        options["soft_time_limit"] = float(vs_settings.TASK_SOFT_TIME_LIMIT)
        options["time_limit"] = float(vs_settings.TASK_SOFT_TIME_LIMIT) + 30
    try:
        embed_products.apply_async((pks,), {"force": force}, **options)
    except Exception:  # noqa: BLE001 - any broker failure is logged, never raised into a save
        logger.exception("Could not enqueue embedding of products %s; run visual_search_reembed later", pks)
        return False
    return True
