"""Receivers that keep embeddings in step with the host's products.

They do no slow work: in the saving transaction they record that the product
owes a sync (a ``SyncRequest`` row, see ``outbox.py``) and, once that
transaction commits, send one task for the products it touched (one per
BATCH_SIZE products). A rolled-back save leaves no row and sends nothing; a
lost task leaves the row, which the sweep finds. Deleting a product removes
its rows through the foreign key's on_delete=CASCADE.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, connections, transaction
from django.db.models.signals import post_delete, post_save

from visual_search.adapters import get_adapter
from visual_search.conf import get_product_model, vs_settings

logger = logging.getLogger(__name__)


class _Pending:
    """Products touched in one transaction, sent in one go by the one on-commit hook registered for them."""

    def __init__(self, using: str) -> None:
        self.using = using
        self.pks: dict[Any, None] = {}

    def __call__(self) -> None:
        from visual_search.indexing.tasks import send_embed  # noqa: PLC0415 - keeps celery out of model import

        pks, self.pks = list(self.pks), {}
        batch = max(1, int(vs_settings.BATCH_SIZE))
        for start in range(0, len(pks), batch):  # a big import commits many products at once
            send_embed(pks[start : start + batch])


def _pending_hook(using: str) -> _Pending:
    # Reuse the hook still queued in this transaction; after a commit or a rollback Django has
    # dropped it, so nothing touched in a rolled-back transaction is ever sent.
    connection = connections[using]
    for entry in connection.run_on_commit:
        if isinstance(entry[1], _Pending):
            return entry[1]
    hook = _Pending(using)
    transaction.on_commit(hook, using=using, robust=True)
    return hook


def schedule_embedding(product_pk: Any, using: str = "default") -> None:
    """Record that ``product_pk`` owes a sync, in the current transaction, and send a task after it commits.

    A database error while recording is logged and never fails the save.
    """
    from visual_search.indexing.outbox import request_sync  # noqa: PLC0415

    if product_pk is None:
        return
    try:
        with transaction.atomic(
            using=using
        ):  # a savepoint: a failure here leaves the save's transaction usable
            request_sync([product_pk], using=using)
    except DatabaseError:
        logger.exception("Could not record that product %s needs embedding", product_pk)
        return
    if connections[using].in_atomic_block:
        _pending_hook(using).pks[product_pk] = None
    else:  # autocommit with no transaction: the row is committed already
        hook = _Pending(using)
        hook.pks[product_pk] = None
        transaction.on_commit(hook, using=using, robust=True)


def product_saved(
    sender, instance, raw: bool = False, using: str = "default", update_fields=None, **kwargs
) -> None:
    if raw or not vs_settings.AUTO_EMBED:
        return
    if update_fields is not None and not get_adapter().affects_embeddings(frozenset(update_fields)):
        return
    schedule_embedding(instance.pk, using)


def product_image_changed(
    sender, instance, raw: bool = False, using: str = "default", origin=None, **kwargs
) -> None:
    if raw or not vs_settings.AUTO_EMBED:
        return
    product_model = get_product_model()
    if isinstance(origin, product_model) or getattr(origin, "model", None) is product_model:
        return  # the image goes with its product: there is nothing left to sync (and no row may point at it)
    schedule_embedding(get_adapter().get_product_pk(instance), using)


def connect() -> None:
    """Connect the receivers; called from ``AppConfig.ready()``."""
    try:
        product_model = get_product_model()
    except ImproperlyConfigured:
        return  # reported by the visual_search.E002 system check
    post_save.connect(product_saved, sender=product_model, dispatch_uid="visual_search.product_saved")
    for model in get_adapter().get_image_models():
        uid = f"visual_search.image_changed.{model._meta.label_lower}"
        post_save.connect(product_image_changed, sender=model, dispatch_uid=uid + ".save")
        post_delete.connect(product_image_changed, sender=model, dispatch_uid=uid + ".delete")


def create_vector_index(sender, using: str = "default", plan=None, **kwargs) -> None:
    """After migrate, make sure the configured encoder has its HNSW index."""
    from visual_search.encoders import get_encoder  # noqa: PLC0415
    from visual_search.indexing import vector_index  # noqa: PLC0415

    if not _table_exists(using):
        return
    encoder = get_encoder()
    try:
        vector_index.ensure_hnsw_index(encoder.id, encoder.dimensions, using=using)
    except ValueError as exc:  # e.g. wider than pgvector's HNSW limit: searches still work, by exact scan
        logger.warning("No HNSW index for encoder %s: %s", encoder.id, exc)


def _table_exists(using: str) -> bool:
    from visual_search.models import ProductImageEmbedding  # noqa: PLC0415

    connection = connections[using]
    with connection.cursor() as cursor:
        return ProductImageEmbedding._meta.db_table in connection.introspection.table_names(cursor)
