"""Changing the encoder without downtime: build the new vectors beside the old, then switch searches.

The database remembers which encoder serves searches (a ``StoredEncoder`` row
with its backend and options, so any process can build it again). When
``VISUAL_SEARCH["ENCODER"]`` names another encoder:

1. sync maintains both (``get_indexing_encoders()``), so products saved
   meanwhile stay searchable under the old one and get vectors under the new;
   a bulk job (``visual_search_reembed``) builds the new vectors for the rest;
2. searches keep answering from the old encoder until the new one covers the
   catalogue (no work owed, and every searchable product with old vectors has
   settled new ones), or until an admin switches (``visual_search_encoder switch``);
3. ``visual_search_encoder prune OLD_ID`` deletes the old vectors and index.

An old encoder that answers for no searchable product gives way at once: there
is nothing to keep searching (a fresh install, a test with its own encoder).
"""

from __future__ import annotations

import functools
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from django.core.signals import setting_changed
from django.db import DatabaseError, transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from visual_search.conf import vs_settings
from visual_search.encoders import Encoder, get_encoder, load_encoder
from visual_search.indexing.signals import encoder_switched

logger = logging.getLogger(__name__)

#: Seconds between two coverage checks in one process while a switch is pending.
COVERAGE_CHECK_INTERVAL = 30.0
_last_coverage_check: dict[tuple[str, str], float] = {}

#: Seconds a process trusts its last look at the serving encoder while it is the configured one, so a
#: search costs no extra query; a switch made by another process reaches searches within this.
SERVING_CHECK_INTERVAL = 10.0
_serving_checked: dict[str, float] = {}


@functools.lru_cache(maxsize=8)
def _build(backend: str, options_json: str) -> Encoder:
    return load_encoder(backend, json.loads(options_json))


def _record(encoder: Encoder, *, serving: bool = False):
    from visual_search.models import StoredEncoder  # noqa: PLC0415

    config = vs_settings.ENCODER
    stored, _ = StoredEncoder.objects.get_or_create(
        encoder=encoder.id,
        defaults={
            "backend": config["BACKEND"], "options": config.get("OPTIONS") or {}, "version": encoder.version,
            "dimensions": encoder.dimensions, "serving": serving, "switched_at": timezone.now() if serving else None,
        },
    )
    return stored


def serving_encoder(*, record: bool = True) -> Encoder:
    """The encoder searches answer from (``get_search_encoder()``); see the module docstring.

    With ``record`` False nothing is written: no first-use row, no automatic switch (health checks).
    """
    from visual_search.models import StoredEncoder  # noqa: PLC0415

    configured = get_encoder()
    if time.monotonic() - _serving_checked.get(configured.id, float("-inf")) < SERVING_CHECK_INTERVAL:
        return configured
    serving = StoredEncoder.objects.filter(serving=True).first()
    if serving is None:  # first use: the configured encoder serves
        if not record:
            return configured
        with transaction.atomic():
            _record(configured, serving=True)
            StoredEncoder.objects.filter(encoder=configured.id).update(serving=True)
        _serving_checked[configured.id] = time.monotonic()
        return configured
    if serving.encoder == configured.id:
        _serving_checked[configured.id] = time.monotonic()
        return configured
    if record and _covered_now(configured, serving.encoder):
        switch_to(configured, build_index=False)  # a search request never builds an index
        return configured
    try:
        old = _build(serving.backend, json.dumps(serving.options, sort_keys=True))
    except Exception:  # noqa: BLE001 - an old encoder that no longer loads cannot serve
        logger.exception("Cannot build the serving encoder %s; searching with %s", serving.encoder, configured.id)
        return configured
    if old.id != serving.encoder:
        logger.error("Encoder %s now builds as %s; searching with %s", serving.encoder, old.id, configured.id)
        return configured
    return old


def get_search_encoder() -> Encoder:
    """The encoder whose vectors searches are answered from: the configured one, except mid-switch."""
    return serving_encoder()


def get_indexing_encoders() -> list[Encoder]:
    """The encoders sync keeps up to date: the configured one first, then the one search serves.

    Read-only: workers never record or switch the serving encoder (searches,
    jobs and ``visual_search_encoder`` do).
    """
    return indexing_encoders(record=False)


def indexing_encoders(*, record: bool = True) -> list[Encoder]:
    """The configured encoder first, then the one still serving searches if it is another."""
    configured, serving = get_encoder(), serving_encoder(record=record)
    return [configured] if serving.id == configured.id else [configured, serving]


def _covered_now(configured: Encoder, old_id: str) -> bool:
    # Throttled per process: searches call this, and coverage is a grouped query over the catalogue.
    key = (configured.id, old_id)
    now = time.monotonic()
    if now - _last_coverage_check.get(key, float("-inf")) < COVERAGE_CHECK_INTERVAL:
        return False
    _last_coverage_check[key] = now
    return coverage(configured, old_id).complete


@dataclass(frozen=True)
class Coverage:
    """How far the configured encoder has caught up with the one serving searches."""

    encoder: str
    serving: str
    products_with_old_vectors: int  # searchable products the serving encoder answers for
    not_covered: int  # of those, products whose new vectors are missing, pending or stale
    owed: int  # products with work owed (SyncRequest rows)
    indexed: bool = True  # the configured encoder has its HNSW index (or is too wide for one)

    @property
    def complete(self) -> bool:
        """Searches may switch: the old encoder answers for nothing, or the new one covers it all, indexed."""
        if self.encoder == self.serving or not self.products_with_old_vectors:
            return True
        return not self.not_covered and not self.owed and self.indexed

    @property
    def percent(self) -> float:
        total = self.products_with_old_vectors
        return 100.0 if not total else round(100.0 * (total - self.not_covered) / total, 1)

    def as_dict(self) -> dict[str, Any]:
        return {"encoder": self.encoder, "serving": self.serving, "complete": self.complete,
                "percent": self.percent, "products_with_old_vectors": self.products_with_old_vectors,
                "not_covered": self.not_covered, "owed": self.owed, "indexed": self.indexed}


def coverage(configured: Encoder | None = None, old_id: str | None = None) -> Coverage:
    """Compare the configured encoder's vectors with the serving (or ``old_id``) encoder's."""
    from visual_search.adapters import get_adapter  # noqa: PLC0415
    from visual_search.indexing import vector_index  # noqa: PLC0415
    from visual_search.models import EmbeddingStatus, ProductImageEmbedding, StoredEncoder, SyncRequest  # noqa: PLC0415

    configured = configured or get_encoder()
    if old_id is None:
        old_id = StoredEncoder.objects.filter(serving=True).values_list("encoder", flat=True).first() or configured.id
    if old_id == configured.id:
        return Coverage(configured.id, old_id, 0, 0, 0)
    searchable = get_adapter().get_queryset().order_by().values("pk")
    with_old = ProductImageEmbedding.objects.filter(encoder=old_id, product__in=searchable).values("product")
    settled_new = (
        ProductImageEmbedding.objects.for_encoder(configured).order_by().values("product")
        .annotate(n=Count("pk"), ok=Count("pk", filter=Q(
            encoder_version=configured.version, status__in=[EmbeddingStatus.READY, EmbeddingStatus.FAILED],
        )))
        .filter(n=F("ok")).values("product")
    )
    products = get_adapter().get_queryset().order_by().filter(pk__in=with_old)
    return Coverage(
        encoder=configured.id, serving=old_id,
        products_with_old_vectors=products.count(),
        not_covered=products.exclude(pk__in=settled_new).count(),
        owed=SyncRequest.objects.count(),
        # Never switch searches by themselves to an encoder that would scan every row.
        indexed=not vector_index.indexable(configured.dimensions) or vector_index.index_exists(configured.id, configured.dimensions),
    )


def switch_to(encoder: Encoder | None = None, *, build_index: bool = True) -> bool:
    """Make ``encoder`` (default: the configured one) serve searches; return whether anything changed.

    With ``build_index`` its HNSW index is built first if it is missing, so the
    first search after the switch does not scan every row.
    """
    from visual_search.indexing import vector_index  # noqa: PLC0415
    from visual_search.models import StoredEncoder  # noqa: PLC0415

    encoder = encoder or get_encoder()
    try:
        if build_index:
            with transaction.atomic():  # a savepoint: a failed CREATE INDEX must not break the caller's transaction
                vector_index.ensure_hnsw_index(encoder.id, encoder.dimensions)
    except (ValueError, DatabaseError) as exc:  # e.g. wider than pgvector's HNSW limit: searches work, by exact scan
        logger.warning("No HNSW index for encoder %s: %s", encoder.id, exc)
    with transaction.atomic():
        _record(encoder)
        current = StoredEncoder.objects.select_for_update().filter(serving=True).first()
        if current is not None and current.encoder == encoder.id:
            return False
        StoredEncoder.objects.filter(serving=True).update(serving=False)
        StoredEncoder.objects.filter(encoder=encoder.id).update(serving=True, switched_at=timezone.now())
    _serving_checked.clear()
    logger.info("Searches now answer from encoder %s (was %s)", encoder.id, current and current.encoder)
    # The new vector space spreads similarities its own way: its confidence is learnt again (quality/tasks.py).
    transaction.on_commit(lambda: encoder_switched.send(sender=None, encoder=encoder), robust=True)
    return True


def prune(encoder_id: str, *, chunk: int = 5000) -> int:
    """Delete an encoder's vectors and HNSW index; return the rows deleted.

    Refuses the configured encoder and the one serving searches. Rows go in
    chunks, so the table is never locked for one huge DELETE.
    """
    from visual_search.indexing import vector_index  # noqa: PLC0415
    from visual_search.models import ProductImageEmbedding, StoredEncoder  # noqa: PLC0415

    if encoder_id == get_encoder().id:
        raise ValueError(f"{encoder_id} is the configured encoder; configure another one before pruning it.")
    serving = StoredEncoder.objects.filter(serving=True).values_list("encoder", flat=True).first()
    if encoder_id == serving:
        raise ValueError(f"Searches still answer from {encoder_id}; switch first (visual_search_encoder switch).")
    stored = StoredEncoder.objects.filter(encoder=encoder_id).first()
    rows = ProductImageEmbedding.objects.filter(encoder=encoder_id)
    dimensions = stored.dimensions if stored else _stored_dimensions(encoder_id)
    deleted = 0
    while pks := list(rows.order_by().values_list("pk", flat=True)[:chunk]):
        deleted += ProductImageEmbedding.objects.filter(pk__in=pks).delete()[0]
    if dimensions:
        vector_index.drop_hnsw_index(encoder_id, dimensions)
    StoredEncoder.objects.filter(encoder=encoder_id).delete()
    return deleted


def _stored_dimensions(encoder_id: str) -> int | None:
    from django.db import connection  # noqa: PLC0415

    from visual_search.models import ProductImageEmbedding  # noqa: PLC0415

    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT vector_dims(embedding) FROM {ProductImageEmbedding._meta.db_table} "
            "WHERE encoder = %s AND embedding IS NOT NULL LIMIT 1", [encoder_id],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def clear_caches() -> None:
    """Forget built encoders, coverage and serving checks (on ``setting_changed``, and in tests)."""
    _build.cache_clear()
    _last_coverage_check.clear()
    _serving_checked.clear()


def _on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting == "VISUAL_SEARCH":
        clear_caches()


setting_changed.connect(_on_setting_changed)
