"""A large bulk job for an encoder no search reads builds that encoder's HNSW index once, after it.

Each row written to an indexed table is also inserted into the HNSW graph,
which costs several times more CPU than building the graph once over all the
rows (docs/benchmarks.md). So when a job starts (``jobs.start_job``) that is
large (``BULK_DEFER_INDEX_MIN`` products or more, and at least half as many as
the encoder has vectors already: a rebuild re-reads them all) and its
encoder's index is read by no search (a first load, or a new encoder before
searches switch to it), the job is marked ``index_deferred`` and the index is
dropped. Never for an encoder whose vectors answer searches.

The mark is written before the drop, and only cleared once the index exists
again, so the index comes back whatever happens: when a deferring job ends
(finished or cancelled) a ``build_deferred_indexes`` task is sent, and the
periodic sweep sends one too while a finished job's mark is still set (a lost
task, a worker killed mid-build). The build is idempotent (create if missing,
an invalid leftover of an interrupted build replaced) and one at a time per
encoder (an advisory lock); it waits while another deferring job of the same
encoder is still active. Searches do not switch to an encoder by themselves
while its index is missing (``encoder_switch.coverage``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import DatabaseError, connection, transaction

from visual_search.conf import vs_settings
from visual_search.encoders import Encoder, get_encoder
from visual_search.indexing import vector_index
from visual_search.indexing.encoder_switch import serving_encoder
from visual_search.models import BulkJob, BulkJobState, ProductImageEmbedding, StoredEncoder

logger = logging.getLogger(__name__)

#: States in which a deferring job still writes rows: its encoder's index stays away until it ends.
ACTIVE_STATES = (BulkJobState.QUEUED, BulkJobState.RUNNING, BulkJobState.PAUSED)


def read_by_searches(encoder: Encoder) -> bool:
    """Whether searches answer from ``encoder``'s vectors now: it serves them and has ready rows."""
    serving = serving_encoder(record=False)
    return serving.id == encoder.id and ProductImageEmbedding.objects.for_encoder(encoder).ready().exists()


def worth_deferring(job: BulkJob, encoder: Encoder) -> bool:
    """Whether ``job`` should build ``encoder``'s index after it instead of inserting into it row by row."""
    minimum = vs_settings.BULK_DEFER_INDEX_MIN
    if minimum is None or job.total < max(1, int(minimum)) or not vector_index.indexable(encoder.dimensions):
        return False
    if read_by_searches(encoder):
        return False
    existing = ProductImageEmbedding.objects.filter(encoder=encoder.id, embedding__isnull=False).count()
    return 2 * job.total >= existing


def defer_for(job: BulkJob, encoder: Encoder | None = None) -> bool:
    """At a job's start: mark it and drop its encoder's index when that is safe and cheaper; True if done.

    The mark is committed before the index is dropped: a crash in between
    leaves a mark over an index that exists, which the rebuild handles.
    """
    encoder = encoder or get_encoder()
    if job.encoder != encoder.id or not worth_deferring(job, encoder):
        return False
    BulkJob.objects.filter(pk=job.pk).update(index_deferred=True)
    job.index_deferred = True
    # Outside a transaction the drop does not lock out searches of other encoders while it waits.
    vector_index.drop_hnsw_index(encoder.id, encoder.dimensions, concurrently=not connection.in_atomic_block)
    logger.info("Job %s: %s's HNSW index dropped; it is built once the job ends", job.pk, encoder.id)
    return True


def due() -> list[str]:
    """Encoders whose deferred index should be built now: a deferring job ended and none is active."""
    ended = set(
        BulkJob.objects.filter(index_deferred=True).exclude(state__in=ACTIVE_STATES)
        .values_list("encoder", flat=True).distinct()
    )
    if not ended:
        return []
    active = set(
        BulkJob.objects.filter(index_deferred=True, state__in=ACTIVE_STATES, encoder__in=ended)
        .values_list("encoder", flat=True)
    )
    return sorted(ended - active)


def build_due() -> list[str]:
    """Build every due deferred index (one builder per encoder at a time); return the encoders built.

    Run by the ``build_deferred_indexes`` task, outside any transaction, so the
    build is ``CONCURRENTLY``: saves of other products keep writing meanwhile.
    """
    built = []
    for encoder_id in due():
        with _builder(encoder_id) as mine:
            if not mine:  # another worker is building it; the sweep looks again later
                continue
            if encoder_id not in due():  # built and cleared while this one waited for the lock
                continue
            dimensions = _dimensions(encoder_id)
            started = time.perf_counter()
            if dimensions and vector_index.indexable(dimensions):
                created = vector_index.ensure_hnsw_index(
                    encoder_id, dimensions, concurrently=not connection.in_atomic_block
                )
                logger.info(
                    "%s HNSW index of %s after its bulk job in %.1f s",
                    "Built" if created else "Found the", encoder_id, time.perf_counter() - started,
                )
            BulkJob.objects.filter(index_deferred=True, encoder=encoder_id).exclude(
                state__in=ACTIVE_STATES
            ).update(index_deferred=False)
            built.append(encoder_id)
    return built


def _dimensions(encoder_id: str) -> int | None:
    """The encoder's vector width: configured, recorded, or read from one of its rows."""
    from visual_search.indexing.encoder_switch import _stored_dimensions  # noqa: PLC0415

    configured = get_encoder()
    if configured.id == encoder_id:
        return configured.dimensions
    stored = StoredEncoder.objects.filter(encoder=encoder_id).values_list("dimensions", flat=True).first()
    return stored or _stored_dimensions(encoder_id)


@contextmanager
def _builder(encoder_id: str) -> Iterator[bool]:
    """A session-level advisory lock naming the encoder's index build: True if this process holds it."""
    key = f"visual_search:index:{encoder_id}"
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(hashtext(%s))", [key])
        mine = bool(cursor.fetchone()[0])
    try:
        yield mine
    finally:
        if mine:
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(hashtext(%s))", [key])
            except DatabaseError:  # the connection died: so did its lock
                pass


def building_elsewhere(encoder_id: str) -> bool:
    """Whether some session holds the build lock of ``encoder_id`` (the sweep then sends nothing)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(hashtext(%s))", [f"visual_search:index:{encoder_id}"])
        return not cursor.fetchone()[0]
