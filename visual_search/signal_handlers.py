"""Receivers that keep embeddings in step with the host's products.

They do no slow work: they note the product's primary key and, once the
transaction commits, send tasks for the products touched in it (one per
BATCH_SIZE products). Deleting a product removes its rows through the foreign
key's on_delete=CASCADE.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import connections, transaction
from django.db.models.signals import post_delete, post_save

from visual_search.adapters import get_adapter
from visual_search.conf import get_product_model, vs_settings

logger = logging.getLogger(__name__)

# Products touched in the current transaction, kept on the (thread-local)
# connection so one commit sends each product once, however many saves it held.
_PENDING_ATTR = "_visual_search_pending"


def schedule_embedding(product_pk: Any, using: str = "default") -> None:
    """Embed ``product_pk`` after the current transaction commits (at once in autocommit)."""
    if product_pk is None:
        return
    connection = connections[using]
    pending: set = connection.__dict__.setdefault(_PENDING_ATTR, set())
    pending.add(product_pk)
    transaction.on_commit(lambda: _flush(using), using=using, robust=True)


def _flush(using: str) -> None:
    from visual_search.tasks import enqueue_products  # noqa: PLC0415 - keeps celery out of model import

    pending: set = connections[using].__dict__.get(_PENDING_ATTR, set())
    if pending:
        pks = sorted(pending, key=str)
        pending.clear()
        batch = max(1, int(vs_settings.BATCH_SIZE))
        for start in range(0, len(pks), batch):  # a big import commits many products at once
            enqueue_products(pks[start : start + batch])


def product_saved(
    sender, instance, raw: bool = False, using: str = "default", update_fields=None, **kwargs
) -> None:
    if raw or not vs_settings.AUTO_EMBED:
        return
    if update_fields is not None and not get_adapter().affects_embeddings(frozenset(update_fields)):
        return
    schedule_embedding(instance.pk, using)


def product_image_changed(sender, instance, raw: bool = False, using: str = "default", **kwargs) -> None:
    if raw or not vs_settings.AUTO_EMBED:
        return
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
    from visual_search import vector_index  # noqa: PLC0415
    from visual_search.encoders import get_encoder  # noqa: PLC0415

    if not _table_exists(using):
        return
    encoder = get_encoder()
    try:
        vector_index.ensure_hnsw_index(encoder.id, encoder.dimensions, using=using)
    except ValueError as exc:  # e.g. over 2,000 dimensions: searches still work, by exact scan
        logger.warning("No HNSW index for encoder %s: %s", encoder.id, exc)


def _table_exists(using: str) -> bool:
    from visual_search.models import ProductImageEmbedding  # noqa: PLC0415

    connection = connections[using]
    with connection.cursor() as cursor:
        return ProductImageEmbedding._meta.db_table in connection.introspection.table_names(cursor)
