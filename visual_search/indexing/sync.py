"""Keep a product's embedding rows in step with its images, in three short steps.

1. ``plan_sync``: one short transaction reads the products, their images (the
   adapter's bulk hook) and their existing rows, without vectors, in bulk.
2. ``load_images`` reads, hashes and decodes each image that changed, shrunk
   to what the encoder uses (and, for encoders that can, turned into the
   network's input right away), and ``embed`` runs the encoders: no transaction
   or lock is held, so a product delete never waits for inference.
3. ``write_rows``: one short transaction upserts the rows, only where a row's
   content hash is still what the plan saw (re-checked under the product's lock).

An unreadable or undecodable image fails alone, with its reason on its row; a
retryable error (a storage hiccup) leaves only its own product to retry.
``sync_products`` runs the three steps for one batch; the Celery tasks run them
as a pipeline over work owed (``outbox.py``).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import SuspiciousFileOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from PIL import Image

from visual_search.adapters import ProductAdapter, get_adapter
from visual_search.conf import get_product_model, vs_settings
from visual_search.encoders import Encoder
from visual_search.images import InvalidImage, open_image, without_server_paths
from visual_search.indexing import outbox
from visual_search.indexing.encoder_switch import get_indexing_encoders
from visual_search.indexing.upsert import upsert_rows
from visual_search.models import EmbeddingStatus, EmbeddingWriteMark, ImagelessProduct, ProductImageEmbedding
from visual_search.timeouts import set_local_timeouts

logger = logging.getLogger(__name__)


class TransientEmbeddingError(Exception):
    """A failure worth retrying (storage or encoder hiccup); carries the affected products."""

    def __init__(self, message: str, product_pks: list[Any]):
        super().__init__(message)
        self.product_pks = product_pks


@dataclass
class SyncResult:
    """What one sync did, counted per image, plus the products that need more work."""

    embedded: int = 0
    unchanged: int = 0
    failed: int = 0
    deleted: int = 0
    missing_products: list[Any] = field(default_factory=list)
    failed_products: set[Any] = field(default_factory=set)  # an image failed for good this time
    retry: dict[Any, str] = field(default_factory=dict)  # retryable error: nothing of theirs was written
    conflicts: set[Any] = field(default_factory=set)  # rows changed under us: sync again

    def __iadd__(self, other: SyncResult) -> SyncResult:
        self.embedded += other.embedded
        self.unchanged += other.unchanged
        self.failed += other.failed
        self.deleted += other.deleted
        self.missing_products += other.missing_products
        self.failed_products |= other.failed_products
        self.retry.update(other.retry)
        self.conflicts |= other.conflicts
        return self


@dataclass(frozen=True)
class _Row:
    content_hash: str
    encoder_version: str
    status: str
    attempts: int


@dataclass
class _Image:
    product_pk: Any
    key: str
    ref: Any
    planned: dict[str, _Row | None]  # encoder id -> the row the plan saw
    force: bool
    content_hash: str = ""
    image: Image.Image | None = None
    pixels: dict[str, Any] = field(default_factory=dict)  # encoder id -> its prepared input (PreparedPixels)
    error: str = ""
    retry: str = ""
    needs: list[str] = field(default_factory=list)  # encoder ids that must embed it


@dataclass
class SyncPlan:
    """Step 1's output: what to read, and the rows as they were when planned."""

    encoders: list[Encoder]
    products: list[Any]
    missing_products: list[Any]
    images: list[_Image]
    removed: dict[tuple[Any, str], dict[str, str]]  # (product, encoder) -> image key -> planned hash
    vectors: dict[tuple[int, str], Any] = field(default_factory=dict)
    retry: dict[Any, str] = field(default_factory=dict)
    requests: dict[Any, Any] = field(default_factory=dict)  # save-time work owed as the plan saw it
    timings: tuple[float, float] = (0.0, 0.0)  # seconds waiting for decodes, seconds embedding
    load_cpu: float = 0.0  # CPU seconds its reader threads spent reading, hashing, decoding and preparing
    # Products the adapter does not list as searchable: their images were not looked at, so they are not
    # "without images" (their rows go, and no ImagelessProduct row says otherwise).
    unsearchable: set[Any] = field(default_factory=set)




def product_keys(pks: Iterable[Any], *, invalid: list[Any] | None = None) -> list[Any]:
    """``pks`` as the product model's primary key values: ``"42"`` is 42, a UUID's text is a ``UUID``.

    Keys arrive as text from commands, URLs and JSON; compared with the keys the
    database returns, an unconverted one would be "missing" and its ``force`` ignored.
    A value that cannot be a key (no product has it) is left out, and added to ``invalid`` if given.
    """
    field = get_product_model()._meta.pk
    field = getattr(field, "target_field", field)  # a parent link (multi-table inheritance) holds the parent's key
    keys = []
    for pk in pks:
        try:
            keys.append(field.to_python(pk))
        except (DjangoValidationError, TypeError, ValueError):
            if invalid is not None:
                invalid.append(pk)
    return keys


def _bound_transaction() -> None:
    # Our own statement and lock timeouts: a product row locked by a stuck host transaction fails this
    # batch (retried later) instead of holding the worker.
    with connection.cursor() as cursor:
        set_local_timeouts(cursor)


def _hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def plan_sync(
    product_pks: Iterable[Any],
    *,
    force: bool | Iterable[Any] = False,
    encoders: list[Encoder] | None = None,
    adapter: ProductAdapter | None = None,
) -> SyncPlan:
    """Step 1, in one short transaction: the products' images and existing rows (no vectors), in bulk.

    ``force`` is True for every product, or the products to re-embed even if unchanged.
    """
    adapter = adapter or get_adapter()
    invalid: list[Any] = []
    pks = list(dict.fromkeys(product_keys(product_pks, invalid=invalid)))
    forced = set(pks) if force is True else set(product_keys(force or ()))
    with transaction.atomic():
        _bound_transaction()
        encoders = encoders or get_indexing_encoders()
        products = get_product_model()._default_manager.in_bulk(pks)
        searchable_pks = set(
            adapter.get_queryset().filter(pk__in=list(products)).values_list("pk", flat=True)
        )
        searchable = [p for pk, p in products.items() if pk in searchable_pks and adapter.is_searchable(p)]
        refs = adapter.get_images_bulk(searchable)
        existing: dict[tuple[Any, str, str], _Row] = {}
        for pk, key, enc, digest, version, status, attempts in ProductImageEmbedding.objects.filter(
            product_id__in=list(products), encoder__in=[e.id for e in encoders]
        ).values_list(
            "product_id", "image_key", "encoder", "content_hash", "encoder_version", "status", "attempts"
        ):
            existing[(pk, key, enc)] = _Row(digest, version, status, attempts)
        requests = outbox.unclaimed_requests(list(products))
    images = [
        _Image(pk, ref.key, ref, {e.id: existing.get((pk, ref.key, e.id)) for e in encoders}, pk in forced)
        for pk in products
        for ref in refs.get(pk, ())
    ]
    kept = {(i.product_pk, i.key) for i in images}
    removed: dict[tuple[Any, str], dict[str, str]] = {}
    for (pk, key, enc), row in existing.items():
        if (pk, key) not in kept:
            removed.setdefault((pk, enc), {})[key] = row.content_hash
    return SyncPlan(
        encoders, list(products), [pk for pk in pks if pk not in products] + invalid, images, removed,
        requests=requests,
        unsearchable={pk for pk in products if pk not in {p.pk for p in searchable}},
    )


def _shrink_size(encoders: list[Encoder]) -> int:
    return max(e.decode_size for e in encoders)


def _decode(data: bytes, size: int) -> Image.Image:
    """Decode shrunk right away (JPEG draft, else reduce): a 40 MP photo never becomes 40 MP of RGB."""
    return open_image(data, target_size=size)


def _needs(image: _Image, encoders: list[Encoder]) -> list[str]:
    needs = []
    for encoder in encoders:
        row = image.planned[encoder.id]
        unchanged = (
            row is not None
            and row.content_hash == image.content_hash
            and row.encoder_version == encoder.version
            and row.status in (EmbeddingStatus.READY, EmbeddingStatus.FAILED)
        )
        if image.force or not unchanged:
            needs.append(encoder.id)
    return needs


def _load_one(image: _Image, encoders: list[Encoder], max_bytes: int, size: int) -> _Image:
    try:
        # One byte over the cap is enough for open_image to refuse it; a huge file is never read whole.
        data = image.ref.read(limit=max_bytes + 1)
    except FileNotFoundError:
        image.error = "Image file is missing from storage."
        return image
    except PermissionError as exc:  # retrying will not grant access
        image.error = f"Image file cannot be read: {exc}"
        return image
    except SuspiciousFileOperation as exc:  # a stored name outside the storage: never readable
        image.error = f"Image file name is not allowed: {exc}"
        return image
    except Exception as exc:  # noqa: BLE001 - storages raise anything; retried, then given up with it
        image.retry = f"Could not read image {image.key!r}: {type(exc).__name__}: {exc}"
        return image
    image.content_hash = _hash(data)
    image.needs = _needs(image, encoders)
    if image.needs:
        try:
            image.image = _decode(data, size)
            _prepare(image, encoders)
        except InvalidImage as exc:
            image.image = None
            if exc.code == "busy":  # the process's decode budget was full: try again later
                image.retry = f"{exc.code}: {exc}"
            else:
                image.error = f"{exc.code}: {exc}"
        except Exception as exc:  # noqa: BLE001 - one bad file never aborts its batch
            image.image = None
            image.error = f"corrupt: The image could not be decoded: {exc}"
    return image


def _prepare(image: _Image, encoders: list[Encoder]) -> None:
    """Turn the decoded photo into each encoder's input now, in the decoding thread, where encoders can.

    The network's input is several times smaller than the photo, which is dropped
    once no encoder that needs it is left without its input.
    """
    for encoder in encoders:
        if encoder.id in image.needs and hasattr(encoder, "embed_prepared"):
            image.pixels[encoder.id] = encoder.prepare(image.image)
    if all(enc_id in image.pixels for enc_id in image.needs):
        image.image = None


def load_images(plan: SyncPlan, executor: Executor | None = None) -> SyncPlan:
    """Step 2a: read, hash and decode the plan's images (in ``executor``'s threads when given)."""
    max_bytes, size = int(vs_settings.MAX_IMAGE_BYTES), _shrink_size(plan.encoders)

    def load(image: _Image) -> float:
        started = time.thread_time()
        _load_one(image, plan.encoders, max_bytes, size)
        return time.thread_time() - started

    runner = map if executor is None else executor.map
    plan.load_cpu = sum(runner(load, plan.images))
    for image in plan.images:
        if image.retry:
            plan.retry.setdefault(image.product_pk, image.retry)
    return plan


def embed(plan: SyncPlan) -> SyncPlan:
    """Step 2b: run each encoder over the decoded images that need it; no transaction is open."""
    batch = max(1, int(vs_settings.INFERENCE_BATCH_SIZE))
    for encoder in plan.encoders:
        todo = [
            i
            for i, image in enumerate(plan.images)
            if (image.image is not None or encoder.id in image.pixels)
            and encoder.id in image.needs
            and image.product_pk not in plan.retry
        ]
        for start in range(0, len(todo), batch):
            chunk = todo[start : start + batch]
            try:
                if all(encoder.id in plan.images[i].pixels for i in chunk):
                    out = encoder.embed_prepared([plan.images[i].pixels[encoder.id] for i in chunk])
                else:
                    out = encoder.embed([plan.images[i].image for i in chunk])
            except Exception as exc:  # encoders raise anything; the caller retries the batch
                raise TransientEmbeddingError(f"Encoder {encoder.id} failed: {exc!r}", plan.products) from exc
            plan.vectors.update({(i, encoder.id): vector for i, vector in zip(chunk, out)})
    for image in plan.images:
        image.image, image.pixels = None, {}  # the batch's pixels are not needed past here
    return plan


def lock_products(pks: list[Any]) -> set[Any]:
    """In the current transaction: serialise syncs of ``pks`` and keep them from being deleted until it ends.

    Returns the products that still exist. ``FOR KEY SHARE`` blocks only a
    delete, and only for this short write, never a save.
    """
    model = get_product_model()
    qn = connection.ops.quote_name
    pk_field = model._meta.pk
    if not pks:
        return set()
    with connection.cursor() as cursor:
        # A fixed lock order avoids deadlocks between workers; one round trip takes them all, in that order.
        keys = [f"visual_search:{pk}" for pk in sorted(pks, key=str)]
        cursor.execute(
            "SELECT count(pg_advisory_xact_lock(hashtext(k))) FROM unnest(%s::text[]) WITH ORDINALITY AS t(k, n)",
            [keys],
        )
        cursor.execute(
            f"SELECT {qn(pk_field.column)} FROM {qn(model._meta.db_table)} "
            f"WHERE {qn(pk_field.column)} = ANY(%s) FOR KEY SHARE",
            [[pk_field.get_db_prep_value(pk, connection) for pk in pks]],
        )
        return {pk_field.to_python(row[0]) for row in cursor.fetchall()}


def write_rows(plan: SyncPlan) -> SyncResult:
    """Step 3, in one short transaction: upsert rows, drop rows of removed images, where nothing changed."""
    result = SyncResult(retry=dict(plan.retry))
    settled = [pk for pk in plan.products if pk not in plan.retry]
    now = timezone.now()
    with transaction.atomic():
        _bound_transaction()
        alive = lock_products(settled)
        result.missing_products = plan.missing_products + [pk for pk in settled if pk not in alive]
        current = {
            (pk, key, enc): digest
            for pk, key, enc, digest in ProductImageEmbedding.objects.filter(
                product_id__in=list(alive), encoder__in=[e.id for e in plan.encoders]
            ).values_list("product_id", "image_key", "encoder", "content_hash")
        }
        rows, by_encoder = [], {e.id: e for e in plan.encoders}
        for i, image in enumerate(plan.images):
            if image.product_pk not in alive:
                continue
            if not image.needs and not image.error:
                result.unchanged += 1
                continue
            for enc_id in image.needs or list(by_encoder):
                planned = image.planned[enc_id]
                now_hash = current.get((image.product_pk, image.key, enc_id))
                if now_hash is not None and now_hash not in (
                    (planned.content_hash if planned else None),
                    image.content_hash,
                ):
                    result.conflicts.add(image.product_pk)  # another sync wrote newer bytes meanwhile
                    continue
                rows.append(_row(image, by_encoder[enc_id], plan.vectors.get((i, enc_id)), now))
        ok = [r for r in rows if r.status == EmbeddingStatus.READY]
        result.embedded, result.failed = len(ok), len(rows) - len(ok)
        result.failed_products = {r.product_id for r in rows if r.status == EmbeddingStatus.FAILED}
        if rows:
            upsert_rows(rows, now)
        with_images = {image.product_pk for image in plan.images}
        ImagelessProduct.objects.filter(
            product_id__in=[pk for pk in alive if pk in with_images or pk in plan.unsearchable]
        ).delete()
        ImagelessProduct.objects.bulk_create(
            [ImagelessProduct(product_id=pk) for pk in alive if pk not in with_images and pk not in plan.unsearchable],
            update_conflicts=True,
            unique_fields=["product"],
            update_fields=["checked_at"],
        )
        for (pk, enc_id), keys in plan.removed.items():
            if pk in alive:
                gone = [k for k, digest in keys.items() if current.get((pk, k, enc_id)) == digest]
                if gone:
                    result.deleted += ProductImageEmbedding.objects.filter(
                        product_id=pk, encoder=enc_id, image_key__in=gone
                    ).delete()[0]
        if rows or result.deleted:
            # After the commit, so a replica that has replayed this far holds these rows (search/routing.py).
            transaction.on_commit(EmbeddingWriteMark.record)
    for image in plan.images:
        if image.error and image.product_pk in alive:
            logger.warning(
                "Embedding failed for product %s image %s: %s", image.product_pk, image.key, image.error
            )
    return result


def _row(image: _Image, encoder: Encoder, vector: Any, now) -> ProductImageEmbedding:
    planned = image.planned[encoder.id]
    # Tries of the same bytes since they last embedded add up (a retried task); new bytes, or a re-embed of
    # bytes that embedded fine, start again at 1: attempts counts tries towards one success, not re-embeds.
    same = (
        planned is not None
        and planned.content_hash in (image.content_hash, "")
        and planned.status != EmbeddingStatus.READY
    )
    ok = vector is not None
    return ProductImageEmbedding(
        product_id=image.product_pk,
        image_key=image.key,
        encoder=encoder.id,
        encoder_version=encoder.version,
        content_hash=image.content_hash,
        status=EmbeddingStatus.READY if ok else EmbeddingStatus.FAILED,
        error="" if ok else without_server_paths(image.error or "The image could not be embedded."),
        attempts=planned.attempts + 1 if same else 1,
        embedding=vector if ok else None,
        embedded_at=now if ok else None,
    )


def sync_products(
    product_pks: Iterable[Any],
    *,
    force: bool | Iterable[Any] = False,
    encoder: Encoder | None = None,
    adapter: ProductAdapter | None = None,
    executor: Executor | None = None,
    raise_transient: bool = True,
) -> SyncResult:
    """Bring the embedding rows of ``product_pks`` up to date (plan, load, embed, write); return counts.

    ``encoder`` limits the sync to one encoder (default: every indexing encoder).
    Products that hit a retryable read error are left out of the write; with
    ``raise_transient`` a ``TransientEmbeddingError`` naming them is raised after
    the others are written, else they are listed in ``result.retry``.
    """
    plan = plan_sync(product_pks, force=force, encoders=[encoder] if encoder else None, adapter=adapter)
    result = write_rows(embed(load_images(plan, executor)))
    # Work owed by saves committed before the plan is done now; a later request stays owed.
    done = set(plan.products) - set(result.retry) - result.conflicts
    outbox.settle({pk: at for pk, at in plan.requests.items() if pk in done})
    if raise_transient and result.retry:
        raise TransientEmbeddingError(next(iter(result.retry.values())), list(result.retry))
    return result


def record_transient_failure(
    product_pks: Iterable[Any],
    error: str,
    *,
    final: bool,
    encoder: Encoder | None = None,
    encoders: list[Encoder] | None = None,
) -> None:
    """Make a retryable failure visible on the products' rows; mark them failed once retries run out.

    Rows that are not ready become ``pending`` with the error and an attempt
    count, then ``failed`` on the final attempt. Ready rows keep their vector
    (an outage must not take working images out of search) but show the error.
    """
    encoders = [encoder] if encoder else (encoders or get_indexing_encoders())
    adapter = get_adapter()
    products = list(get_product_model()._default_manager.filter(pk__in=list(product_pks)))
    try:
        refs = adapter.get_images_bulk(products)
    except Exception:  # noqa: BLE001 - recording a failure must not fail on a broken adapter
        refs = {}
    now = timezone.now()
    with transaction.atomic():
        alive = lock_products([p.pk for p in products])  # never overwrite a concurrent successful sync
        for pk in alive:
            for enc in encoders:
                ProductImageEmbedding.objects.bulk_create(
                    [
                        ProductImageEmbedding(
                            product_id=pk, image_key=ref.key, encoder=enc.id, encoder_version=enc.version
                        )
                        for ref in refs.get(pk, ())
                    ],
                    ignore_conflicts=True,
                )
        rows = ProductImageEmbedding.objects.filter(
            product_id__in=list(alive), encoder__in=[e.id for e in encoders]
        )
        error = without_server_paths(error)[:2000]
        rows.filter(status=EmbeddingStatus.READY).update(
            error=error, attempts=F("attempts") + 1, updated_at=now
        )
        rows.exclude(status=EmbeddingStatus.READY).update(
            status=EmbeddingStatus.FAILED if final else EmbeddingStatus.PENDING,
            error=error,
            attempts=F("attempts") + 1,
            updated_at=now,
        )
