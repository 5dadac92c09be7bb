"""Celery tasks: drain the work owed (``outbox.py``) through the three sync steps (``sync.py``).

A message only tells a worker to look: the work itself is the ``SyncRequest``
rows, so a lost, duplicated or redelivered message loses or repeats nothing.
A drain claims a batch, plans it, and reads and decodes the next batch in a
small thread pool while the encoder runs on this one; after a while it sends
itself again if work is left (chained draining: one message at a time,
whatever the size of a bulk job). The periodic ``sweep`` (every few seconds)
re-sends work that nobody is working on: a lost task, a broker outage, a
killed worker. While a drain runs, its leases are renewed from a thread
(``indexing/liveness.py``), so a dead worker's work is free within one short
lease; a drain that loses the database waits for it and drains again at once.

The encoder is built in the worker child (``warm_up`` on ``worker_process_init``),
never in a parent that forks.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import math
import os
import threading
import time
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_process_init
from django.db import DatabaseError, connections, transaction
from django.dispatch import receiver
from PIL import Image

from visual_search.conf import vs_settings
from visual_search.indexing import deferred_index, outbox
from visual_search.indexing.signals import bulk_jobs_finished
from visual_search.indexing.sync import (
    SyncPlan,
    TransientEmbeddingError,
    embed,
    load_images,
    plan_sync,
    record_transient_failure,
    write_rows,
)

logger = logging.getLogger(__name__)

#: A drain sends itself again after this many seconds, so one message never runs for long.
DRAIN_SECONDS = 20.0
#: After a failed publish, saves skip the broker for this long: they return at once during an outage.
PUBLISH_PAUSE_SECONDS = 5.0
#: The most drain tasks one sweep sends (each chains itself).
SWEEP_MAX_TASKS = 8
#: glibc malloc arenas in a worker child (its default is 8 per core): see ``limit_malloc_arenas``.
MALLOC_ARENAS = 2

_pool: ThreadPoolExecutor | None = None
_write_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()
_publish_paused_until = 0.0


def decode_pool() -> ThreadPoolExecutor:
    """This process's image readers and decoders (created on first use, so never inherited by a fork)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="visual-search-decode")
        return _pool


def _libc() -> Any:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


_LIBC = _libc()
_M_ARENA_MAX = -8  # glibc's malloc.h


def limit_malloc_arenas(arenas: int = MALLOC_ARENAS) -> bool:
    """Cap glibc's malloc arenas in this process, unless ``MALLOC_ARENA_MAX`` already does; True if set.

    Every thread that allocates (TensorFlow's, the decoders, the writer) otherwise
    gets an arena of its own, and each keeps the memory its thread freed: tens of
    MiB of a worker child's resident set, for no measurable speed on two cores.
    """
    if os.environ.get("MALLOC_ARENA_MAX") or not hasattr(_LIBC, "mallopt"):
        return False
    return bool(_LIBC.mallopt(_M_ARENA_MAX, int(arenas)))


def release_free_memory() -> None:
    """Give the heap's free pages back to the system (glibc ``malloc_trim``; elsewhere nothing).

    Called when a drain ends: its batches' images, activations and rows are
    freed by then, and without it the arenas keep them resident while the
    worker idles. Not after every batch: the next batch would fault the same
    pages in again (measured: a third of the worker's system CPU in a bulk job).
    """
    if hasattr(_LIBC, "malloc_trim"):
        _LIBC.malloc_trim(0)


def warm_up() -> None:
    """Build the indexing encoders now: a worker child pays for its model before its first task."""
    from visual_search.indexing.encoder_switch import get_indexing_encoders  # noqa: PLC0415

    started = time.perf_counter()
    try:
        encoders = get_indexing_encoders()
        for encoder in encoders:
            # One tiny image builds the model and traces its graph: the first task pays for neither.
            size = int(getattr(encoder, "input_size", 224) or 224)
            encoder.embed([Image.new("RGB", (size, size))])
        logger.info(
            "Encoder(s) loaded in %.1f s: %s", time.perf_counter() - started, [e.id for e in encoders]
        )
    except Exception:  # noqa: BLE001 - the first task will try again and report it
        logger.exception("Could not load the encoder at worker start")
    finally:
        connections.close_all()  # the child's first task opens its own
        release_free_memory()  # the checkpoint and the model's build garbage


@dataclass
class _Batch:
    claims: list[outbox.Claim]
    plan: SyncPlan | None = None
    loaded: Future | None = None
    error: str = ""


def _start(claims: list[outbox.Claim]) -> _Batch:
    """Plan a claimed batch and start reading and decoding it in the background."""
    batch = _Batch(claims)
    given_up = _give_up_crashed(claims)
    batch.claims = [c for c in claims if c not in given_up]
    if not batch.claims:
        return batch
    try:
        batch.plan = plan_sync(
            [c.product_pk for c in batch.claims], force=[c.product_pk for c in batch.claims if c.force]
        )
    except DatabaseError as exc:
        batch.error = f"{type(exc).__name__}: {exc}"
        return batch
    batch.loaded = decode_pool().submit(load_images, batch.plan)
    return batch


def _give_up_crashed(claims: list[outbox.Claim]) -> list[outbox.Claim]:
    """Claims whose workers died ``TASK_MAX_RETRIES`` times: recorded failed without being tried again."""
    doomed = [c for c in claims if c.crashed and c.attempts > outbox.max_attempts()]
    for c in doomed:
        reason = f"The worker died while embedding this product's images {c.attempts - 1} times; giving up."
        logger.error("Product %s: %s", c.product_pk, reason)
        _finish_failed([c], reason)
    return doomed


def _finish_failed(claims: list[outbox.Claim], reason: str) -> None:
    """Record a final failure, then settle the requests; if the database refuses, the work stays owed."""
    try:
        record_transient_failure([c.product_pk for c in claims], reason, final=True)
        outbox.complete(claims, failed=[c.product_pk for c in claims])
    except DatabaseError:
        logger.exception(
            "Could not record the failure of products %s; they stay owed", [c.product_pk for c in claims]
        )


def _retry_or_give_up(claims: list[outbox.Claim], reason: str) -> None:
    """After a retryable failure: back off and stay owed, or give up once attempts run out."""
    final = [c for c in claims if c.attempts >= outbox.max_attempts()]
    again = [c for c in claims if c not in final]
    if final:
        logger.error(
            "Giving up on products %s after %d attempts: %s",
            [c.product_pk for c in final],
            outbox.max_attempts(),
            reason,
        )
        _finish_failed(final, reason)
    if again:
        try:
            record_transient_failure([c.product_pk for c in again], reason, final=False)
            outbox.release(again, reason)
        except DatabaseError:
            # The claim's lease runs out instead, and the sweep hands the work out again.
            logger.exception("Could not release products %s", [c.product_pk for c in again])


_NOTHING = {"embedded": 0, "unchanged": 0, "failed": 0, "deleted": 0}


def _embed_batch(batch: _Batch) -> SyncPlan | None:
    """Wait for the batch's decodes and embed it; on a retryable failure settle its claims and return None."""
    if not batch.claims:
        return None
    try:
        if batch.error:
            raise TransientEmbeddingError(batch.error, [c.product_pk for c in batch.claims])
        started = time.perf_counter()
        plan = batch.loaded.result()
        decoded = time.perf_counter()
        embed(plan)
        plan.timings = (decoded - started, time.perf_counter() - decoded)
        return plan
    except (TransientEmbeddingError, DatabaseError) as exc:
        logger.warning("Embedding products %s failed: %s", [c.product_pk for c in batch.claims], exc)
        _retry_or_give_up(batch.claims, f"{type(exc).__name__}: {exc}")
        return None


def _write_batch(batch: _Batch, plan: SyncPlan, *, own_connection: bool = False) -> dict[str, int]:
    """Write the batch's rows and settle its requests; never raises for the database."""
    if own_connection:  # the writer thread: a connection of its own, fresh after an outage
        connections["default"].close_if_unusable_or_obsolete()
    started, started_cpu = time.perf_counter(), time.thread_time()
    try:
        result = write_rows(plan)
        retry = [c for c in batch.claims if c.product_pk in result.retry]
        again = [c for c in batch.claims if c.product_pk in result.conflicts and c not in retry]
        settled = [c for c in batch.claims if c not in retry and c not in again]
        for c in retry:
            _retry_or_give_up([c], result.retry[c.product_pk])
        if again:
            outbox.release(again, "Rows changed while embedding; syncing again.", retry_in=0)
        outbox.complete(settled, failed=result.failed_products)
    except DatabaseError as exc:
        # Whatever was not settled stays claimed until its lease runs out; the sweep hands it out again.
        logger.warning("Writing products %s failed: %s", [c.product_pk for c in batch.claims], exc)
        _retry_or_give_up(batch.claims, f"{type(exc).__name__}: {exc}")
        return dict(_NOTHING)
    waited, embedded = plan.timings
    logger.info(
        "Synced products %s: %d embedded, %d unchanged, %d failed, %d removed "
        "(waited %.2f s for decoding, embedded in %.2f s, wrote in %.2f s; "
        "CPU: %.3f s reading and decoding, %.3f s writing)",
        [c.product_pk for c in settled],
        result.embedded,
        result.unchanged,
        result.failed,
        result.deleted,
        waited,
        embedded,
        time.perf_counter() - started,
        plan.load_cpu,
        time.thread_time() - started_cpu,
    )
    return {
        "embedded": result.embedded,
        "unchanged": result.unchanged,
        "failed": result.failed,
        "deleted": result.deleted,
    }


def _writer() -> ThreadPoolExecutor | None:
    """A single writer thread, so one batch's rows are written while the next is embedded.

    Not inside a transaction (eager tests, a caller's atomic block): another
    connection would not see its data, so writes stay on this thread there.
    """
    global _write_pool
    if connections["default"].in_atomic_block:
        return None
    with _pool_lock:
        if _write_pool is None:
            _write_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="visual-search-write")
        return _write_pool


def _add(totals: dict[str, int], counts: dict[str, int]) -> None:
    for key, value in counts.items():
        totals[key] += value


def drain_owed(product_pks: Iterable[Any] | None = None, *, seconds: float = DRAIN_SECONDS) -> dict[str, int]:
    """Claim and sync owed work for up to ``seconds`` (only ``product_pks`` when given); return counts.

    A pipeline of three: while one batch is embedded, the next is already
    planned and decoding (two reader threads) and the previous one is being
    written (one writer thread with its own connection). A product whose
    previous worker died is handled alone, with nothing prefetched beside it.
    """
    only = list(product_pks) if product_pks is not None else None
    size = max(1, int(vs_settings.BATCH_SIZE))
    bulk_size = max(size, int(vs_settings.BULK_BATCH_SIZE))

    def next_size(claims: list[outbox.Claim]) -> int:
        # Batches of BULK_BATCH_SIZE while the work is all bulk jobs' (saves' work is claimed first, and
        # a batch that holds any brings the size back to BATCH_SIZE): the per-batch queries and Python
        # are paid half as often per image.
        return bulk_size if claims and all(c.job_id is not None for c in claims) else size

    deadline = time.monotonic() + seconds
    totals = dict(_NOTHING)
    writer = _writer()
    writing: Future | None = None
    in_flight: list[_Batch] = [_start(outbox.claim(size, product_pks=only))]
    try:
        while in_flight[0].claims:
            current = in_flight[0]
            # Never prefetch beside a product that killed a worker: the next crash would take it along.
            if not any(c.crashed for c in current.claims) and time.monotonic() < deadline:
                in_flight.append(_start(outbox.claim(next_size(current.claims), product_pks=only)))
            plan = _embed_batch(current)
            in_flight.pop(0)
            if plan is not None:
                if writing is not None:
                    _add(totals, writing.result())  # one write at a time, in order
                    writing = None
                if writer is None:
                    _add(totals, _write_batch(current, plan))
                else:
                    writing = writer.submit(_write_batch, current, plan, own_connection=True)
            if not in_flight:
                if time.monotonic() >= deadline:
                    break
                in_flight.append(_start(outbox.claim(next_size(current.claims), product_pks=only)))
    except (SoftTimeLimitExceeded, DatabaseError) as exc:
        # The current batch counts as a failed try; what was prefetched goes back untouched.
        for i, batch in enumerate(in_flight):
            if i == 0:
                _retry_or_give_up(batch.claims, f"{type(exc).__name__}: {exc or 'time limit'}")
                continue
            try:
                outbox.release(batch.claims, "Given back unstarted.", retry_in=0)
            except DatabaseError:
                pass  # its lease runs out instead, and the sweep hands it out again
        raise
    finally:
        if writing is not None:
            _add(totals, writing.result())
        if writer is not None:  # the writer's connection is not kept between drains (nor pinned in a pool)
            writer.submit(connections.close_all).result()
        release_free_memory()
    return totals


@shared_task(
    bind=True,
    name="visual_search.embed_products",
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
)
def embed_products(self, product_pks: list[Any], force: bool = False) -> dict[str, int]:
    """Sync the products of ``product_pks`` that owe work (sent after a save commits), then drain the rest.

    ``force`` is kept for messages sent by older versions; it travels on the request row now.
    """
    return _run(product_pks)


@shared_task(
    bind=True, name="visual_search.drain", acks_late=True, reject_on_worker_lost=True, ignore_result=True
)
def drain(self, bulk: bool = False) -> dict[str, int]:
    """Sync owed work for a while, then send itself again if more is owed (to the bulk queue if from it)."""
    return _run(None, bulk=bulk)


def _run(product_pks: list[Any] | None, *, bulk: bool = False) -> dict[str, int]:
    from visual_search.indexing.liveness import keep_leases, wait_for_database  # noqa: PLC0415

    try:
        with keep_leases():
            counts = drain_owed(product_pks)
        more = outbox.claimable()
    except DatabaseError as exc:
        # The database went away under the drain. Its rows are still there: wait for it, give back what this
        # process held (its claims died with the connection) and drain again at once, not at the next sweep.
        logger.warning("Lost the database while draining (%s); waiting for it", exc)
        if not wait_for_database(float(vs_settings.DATABASE_WAIT_SECONDS)):
            logger.error("The database did not come back; the sweep will send the work again")
            return {}
        try:
            released = outbox.release_mine()
        except DatabaseError:
            logger.exception("Could not give back this worker's claims; their leases run out instead")
            released = 0
        logger.info("The database is back; %d product(s) this worker held are owed again", released)
        counts, more = {}, True
    if more:
        kick(bulk=bulk)
    return counts


@shared_task(name="visual_search.sweep", ignore_result=True)
def sweep() -> int:
    """Send drains for work owed that nobody is working on; return how many (the beat schedule's task)."""
    try:
        return sweep_now()
    except DatabaseError as exc:  # an outage: the next sweep looks again, a few seconds on
        logger.warning("Sweep: the database does not answer: %s", exc)
        return 0


def sweep_now() -> int:
    """Look for work owed that nobody is working on and send drain tasks for it; return the tasks sent.

    Also sends the build of a deferred HNSW index that is due and that nobody is building.
    """
    send_index_builds(from_sweep=True)
    due = outbox.due_count(limit=SWEEP_MAX_TASKS * max(1, int(vs_settings.BATCH_SIZE)))
    if not due:
        return 0
    tasks = min(SWEEP_MAX_TASKS, math.ceil(due / max(1, int(vs_settings.BATCH_SIZE))))
    logger.info("Sweep: %d products owed with nobody working on them; sending %d drain task(s)", due, tasks)
    return sum(kick(force_publish=True) for _ in range(tasks))


def _options() -> dict[str, Any]:
    options: dict[str, Any] = {
        # A short publish retry: long enough for a broker blip, short enough not to stall a request.
        "retry": True,
        "retry_policy": {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5},
    }
    if vs_settings.TASK_QUEUE:
        options["queue"] = vs_settings.TASK_QUEUE
    if vs_settings.TASK_SOFT_TIME_LIMIT:
        # Soft limit raises inside the task (claims are given back); the hard limit backs it up.
        options["soft_time_limit"] = float(vs_settings.TASK_SOFT_TIME_LIMIT)
        options["time_limit"] = float(vs_settings.TASK_SOFT_TIME_LIMIT) + 30
    return options


def publish(
    task, args: tuple, *, force_publish: bool = False, queue: str | None = None, time_limits: bool = True
) -> bool:
    """Send ``task`` with the app's routing and options; never raises (a broker failure pauses sending 5 s).

    ``time_limits`` False sends it without ``TASK_SOFT_TIME_LIMIT`` (an index build may take longer).
    """
    global _publish_paused_until
    if not force_publish and time.monotonic() < _publish_paused_until:
        logger.warning(
            "Broker recently unreachable; %s not sent, the work stays owed for the sweep", task.name
        )
        return False
    try:
        options = {**_options(), **({"queue": queue} if queue else {})}
        if not time_limits:
            for limit in ("soft_time_limit", "time_limit"):
                options.pop(limit, None)
        task.apply_async(args, **options)
    except Exception:  # noqa: BLE001 - any broker failure is logged, never raised into a save
        _publish_paused_until = time.monotonic() + PUBLISH_PAUSE_SECONDS
        logger.exception("Could not enqueue %s; the work stays owed and the sweep sends it later", task.name)
        return False
    return True


def kick(job: Any = None, *, force_publish: bool = False, bulk: bool = False) -> bool:
    """Send one drain task (after a bulk job's rows are written, say); never raises; True if sent.

    The drain finds a job's rows itself. For a ``job`` (or a ``bulk`` drain's next link) the task goes
    to ``TASK_QUEUE_BULK`` when set, so bulk work has workers of its own; any drain still takes
    work owed by saves first.
    """
    queue = vs_settings.TASK_QUEUE_BULK if bulk or job is not None else None
    return publish(drain, (True,) if queue else (), force_publish=force_publish, queue=queue)


def send_embed(product_pks: Iterable[Any]) -> bool:
    """Send one task for ``product_pks`` (whose rows are owed already); never raises."""
    pks = list(product_pks)
    return publish(embed_products, (pks,)) if pks else True


def enqueue_products(product_pks: Iterable[Any], *, force: bool = False) -> bool:
    """Record work owed for ``product_pks`` and, once the transaction commits, send a task for it.

    Never raises for the broker: if it is unreachable the rows stay owed and the sweep sends them later.
    """
    pks = list(product_pks)
    if not pks:
        return True
    outbox.request_sync(pks, force=force)
    transaction.on_commit(lambda: send_embed(pks), robust=True)
    return True


@shared_task(
    name="visual_search.build_deferred_indexes", acks_late=True, reject_on_worker_lost=True, ignore_result=True
)
def build_deferred_indexes() -> list[str]:
    """Build the HNSW indexes that bulk jobs deferred and that are due (``deferred_index.py``); idempotent."""
    return deferred_index.build_due()


def send_index_builds(*, from_sweep: bool = False) -> bool:
    """Send one ``build_deferred_indexes`` task if a deferred index is due; never raises; True if sent.

    From the sweep, only when nobody holds a due index's build lock (a long build is not sent again
    every few seconds); if the task is lost or its worker dies, the next sweep sends it again.
    """
    try:
        due = deferred_index.due()
        if from_sweep:
            due = [encoder_id for encoder_id in due if not deferred_index.building_elsewhere(encoder_id)]
    except DatabaseError as exc:  # an outage: the sweep says so too, every few seconds
        logger.warning("Could not look for deferred HNSW indexes to build (%s); the sweep looks again", exc)
        return False
    if not due:
        return False
    logger.info("Sending the build of the deferred HNSW index(es) of %s", ", ".join(due))
    return publish(
        build_deferred_indexes, (), force_publish=from_sweep, queue=vs_settings.TASK_QUEUE_BULK or None,
        time_limits=False,
    )


@receiver(bulk_jobs_finished, dispatch_uid="visual_search.build_deferred_indexes")
def _build_after_bulk(sender: Any, encoders: list[str], **kwargs: Any) -> None:
    send_index_builds()


@worker_process_init.connect(dispatch_uid="visual_search.warm_up")
def _warm_up_child(**kwargs: Any) -> None:
    # Before any thread of the child allocates: arenas are created on a thread's first malloc.
    limit_malloc_arenas()
    # Each prefork child loads its own model as it starts, never the parent (TensorFlow dies in a fork).
    warm_up()
