"""Keep a product's embedding rows in step with its images.

One code path for one product on save and thousands in a bulk job:
``sync_products(pks)`` reads each product's images through the adapter, skips
those whose bytes and encoder are unchanged, embeds the rest in batches, and
upserts one row per (product, image, encoder). Rows of images the product no
longer has are deleted.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from typing import Any, Iterable

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from visual_search.adapters import ProductAdapter, get_adapter
from visual_search.conf import get_product_model, vs_settings
from visual_search.encoders import Encoder, get_encoder
from visual_search.images import InvalidImage, open_image
from visual_search.models import EmbeddingStatus, ProductImageEmbedding

logger = logging.getLogger(__name__)


class TransientEmbeddingError(Exception):
    """A failure worth retrying (storage or encoder hiccup); carries the affected products."""

    def __init__(self, message: str, product_pks: list[Any]):
        super().__init__(message)
        self.product_pks = product_pks


@dataclass
class SyncResult:
    """What one sync did, counted per image."""

    embedded: int = 0
    unchanged: int = 0
    failed: int = 0
    deleted: int = 0
    missing_products: list[Any] = field(default_factory=list)

    def __iadd__(self, other: "SyncResult") -> "SyncResult":
        self.embedded += other.embedded
        self.unchanged += other.unchanged
        self.failed += other.failed
        self.deleted += other.deleted
        self.missing_products += other.missing_products
        return self


@dataclass
class _Todo:
    product_pk: Any
    key: str
    content_hash: str
    data: bytes = b""  # decoded one encoder batch at a time, so a big gallery never sits in memory whole
    error: str = ""
    attempts: int = 1


def _hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _lock_product(product_pk: Any) -> None:
    # Serialises workers on one product (a gallery save and a product save may both
    # enqueue) without locking the product row that a web request might be saving.
    from django.db import connection  # noqa: PLC0415

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"visual_search:{product_pk}"])


def _plan_product(
    product, searchable: bool, adapter: ProductAdapter, encoder: Encoder, force: bool, result: SyncResult
) -> list[_Todo]:
    """Decide which of ``product``'s images need embedding; delete rows of removed images."""
    searchable = searchable and adapter.is_searchable(product)
    refs = adapter.get_images(product) if searchable else []
    existing = {
        row.image_key: row
        for row in ProductImageEmbedding.objects.for_encoder(encoder).filter(product_id=product.pk)
    }
    stale = set(existing) - {ref.key for ref in refs}
    if stale:
        result.deleted += ProductImageEmbedding.objects.filter(
            product_id=product.pk, encoder=encoder.id, image_key__in=stale
        ).delete()[0]

    todos = []
    for ref in refs:
        try:
            # One byte over the cap is enough for open_image to refuse it; a huge file is never loaded whole.
            data = ref.read(limit=int(vs_settings.MAX_IMAGE_BYTES) + 1)
        except FileNotFoundError:
            todos.append(_Todo(product.pk, ref.key, "", error="Image file is missing from storage."))
            continue
        except PermissionError as exc:  # retrying will not grant access
            todos.append(_Todo(product.pk, ref.key, "", error=f"Image file cannot be read: {exc}"))
            continue
        except OSError as exc:
            raise TransientEmbeddingError(f"Could not read image {ref.key!r}: {exc}", [product.pk]) from exc
        digest = _hash(data)
        row = existing.get(ref.key)
        if (
            not force
            and row is not None
            and row.content_hash == digest
            and row.encoder_version == encoder.version
            and row.status in (EmbeddingStatus.READY, EmbeddingStatus.FAILED)
        ):
            result.unchanged += 1
            continue
        # Tries of the same bytes add up (a retried task); new bytes start again at 1.
        attempts = row.attempts + 1 if row is not None and row.content_hash in (digest, "") else 1
        todos.append(_Todo(product.pk, ref.key, digest, data=data, attempts=attempts))
    return todos


def _decode(todos: list[_Todo], indexes: list[int]) -> tuple[list[int], list]:
    """Decode the images of ``todos[indexes]``; record refusals on their todo and skip them."""
    decoded, images = [], []
    for i in indexes:
        try:
            images.append(open_image(todos[i].data))
            decoded.append(i)
        except InvalidImage as exc:
            todos[i].error = f"{exc.code}: {exc}"
        todos[i].data = b""
    return decoded, images


def _write_rows(todos: list[_Todo], vectors: dict[int, Any], encoder: Encoder) -> None:
    now = timezone.now()
    rows = []
    for i, todo in enumerate(todos):
        ok = i in vectors
        rows.append(
            ProductImageEmbedding(
                product_id=todo.product_pk,
                image_key=todo.key,
                encoder=encoder.id,
                encoder_version=encoder.version,
                content_hash=todo.content_hash,
                status=EmbeddingStatus.READY if ok else EmbeddingStatus.FAILED,
                error="" if ok else todo.error,
                attempts=todo.attempts,
                embedding=vectors[i] if ok else None,
                embedded_at=now if ok else None,
            )
        )
    # Idempotent upsert: a redelivered task rewrites the same rows.
    ProductImageEmbedding.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["product", "image_key", "encoder"],
        update_fields=[
            "encoder_version", "content_hash", "status", "error", "attempts", "embedding", "embedded_at",
            "updated_at",
        ],
    )


def sync_products(
    product_pks: Iterable[Any],
    *,
    force: bool = False,
    encoder: Encoder | None = None,
    adapter: ProductAdapter | None = None,
) -> SyncResult:
    """Bring the embedding rows of ``product_pks`` up to date; return counts."""
    encoder = encoder or get_encoder()
    adapter = adapter or get_adapter()
    pks = list(dict.fromkeys(product_pks))
    result = SyncResult()
    with transaction.atomic():
        for pk in sorted(pks, key=str):  # a fixed lock order avoids deadlocks between bulk jobs
            _lock_product(pk)
        products = get_product_model()._default_manager.in_bulk(pks)
        # Rows of deleted products went with them (the foreign key's on_delete=CASCADE).
        result.missing_products = [pk for pk in pks if pk not in products]
        searchable = set(adapter.get_queryset().filter(pk__in=list(products)).values_list("pk", flat=True))
        todos: list[_Todo] = []
        for pk, product in products.items():
            todos += _plan_product(product, pk in searchable, adapter, encoder, force, result)
        readable = [i for i, t in enumerate(todos) if not t.error]
        vectors: dict[int, Any] = {}
        batch = max(1, int(vs_settings.BATCH_SIZE))
        for start in range(0, len(readable), batch):
            chunk, images = _decode(todos, readable[start : start + batch])
            if not images:
                continue
            try:
                out = encoder.embed(images)
            except Exception as exc:  # encoders raise anything; the task decides whether to retry
                raise TransientEmbeddingError(f"Encoder {encoder.id} failed: {exc!r}", pks) from exc
            vectors.update(zip(chunk, out))
        if todos:
            _write_rows(todos, vectors, encoder)
        result.embedded += len(vectors)
        result.failed += len(todos) - len(vectors)
    for todo in todos:
        if todo.error:
            logger.warning("Embedding failed for product %s image %s: %s", todo.product_pk, todo.key, todo.error)
    return result


def record_transient_failure(
    product_pks: Iterable[Any], error: str, *, final: bool, encoder: Encoder | None = None
) -> None:
    """Make a retryable failure visible on the products' rows; mark them failed once retries run out.

    Rows that are not ready become ``pending`` with the error and an attempt
    count, then ``failed`` on the final attempt. Ready rows keep their vector.
    """
    encoder = encoder or get_encoder()
    adapter = get_adapter()
    for product in get_product_model()._default_manager.filter(pk__in=list(product_pks)):
        try:
            keys = [ref.key for ref in adapter.get_images(product)]
        except Exception:  # noqa: BLE001 - recording a failure must not fail on a broken adapter
            keys = []
        with transaction.atomic():
            _lock_product(product.pk)  # never overwrite a concurrent successful sync
            for key in keys:
                ProductImageEmbedding.objects.get_or_create(
                    product_id=product.pk, image_key=key, encoder=encoder.id,
                    defaults={"encoder_version": encoder.version},
                )
            rows = ProductImageEmbedding.objects.for_encoder(encoder).filter(product_id=product.pk)
            now = timezone.now()
            # Ready rows keep their status and vector (an outage must not take working images
            # out of search) but show the error; the others become pending, then failed.
            rows.filter(status=EmbeddingStatus.READY).update(
                error=error[:2000], attempts=F("attempts") + 1, updated_at=now
            )
            rows.exclude(status=EmbeddingStatus.READY).update(
                status=EmbeddingStatus.FAILED if final else EmbeddingStatus.PENDING,
                error=error[:2000], attempts=F("attempts") + 1, updated_at=now,
            )
