"""Bulk re-embed jobs stored in the database: start, pause, resume, cancel, and how far each has got.

A job is a ``BulkJob`` row plus one ``SyncRequest`` row per product it still
owes (the outbox every sync reads). Starting a job writes those rows in one
transaction, so a job survives a worker's death and resumes where it stopped.
Its progress is derived from the rows still owed, never from counters alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from itertools import islice
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, F, Q, QuerySet
from django.utils import timezone

from visual_search.adapters import get_adapter
from visual_search.encoders import Encoder, get_encoder
from visual_search.indexing.encoder_switch import serving_encoder
from visual_search.models import (
    BulkJob,
    BulkJobMode,
    BulkJobState,
    EmbeddingStatus,
    ProductImageEmbedding,
    SyncRequest,
)

MODES = tuple(BulkJobMode.values)
ACTIVE_STATES = (BulkJobState.QUEUED, BulkJobState.RUNNING, BulkJobState.PAUSED)
#: Products written per INSERT while a job is started: bounded memory at any catalogue size.
CHUNK_SIZE = 2000

NOTHING_TO_DO = "Nothing to do: no searchable product needs this re-embed."


def _chunks(iterable: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(iterable)
    while chunk := list(islice(iterator, size)):
        yield chunk


def select_products(mode: str, encoder: Encoder | None = None) -> QuerySet:
    """Primary keys of the searchable products that ``mode`` re-embeds, in pk order.

    * ``missing``: not fully embedded under ``encoder``'s id and version (no row,
      a pending row or a row from an older version), or work owed by a save;
      failed rows alone do not count, so a broken image is not retried every run.
    * ``stale``: a row written by an older version of the encoder.
    * ``failed``: a row of the encoder has failed.
    * ``all`` and ``force``: every searchable product (``force`` re-embeds unchanged images too).
    """
    if mode not in MODES:
        raise ValueError(f"Unknown re-embed mode {mode!r}; choose one of {', '.join(MODES)}.")
    encoder = encoder or get_encoder()
    products = get_adapter().get_queryset()
    rows = ProductImageEmbedding.objects.for_encoder(encoder).order_by()
    if mode == "missing":
        # Products whose every row is ready or failed under this version need nothing;
        # NOT IN over one grouped subquery is a single hashed pass, not a probe per product.
        settled = (
            rows.values("product")
            .annotate(n=Count("pk"), ok=Count("pk", filter=Q(
                encoder_version=encoder.version, status__in=[EmbeddingStatus.READY, EmbeddingStatus.FAILED],
            )))
            .filter(n=F("ok"))
            .values("product")
        )
        owed = SyncRequest.objects.values("product")
        products = products.filter(~Q(pk__in=settled) | Q(pk__in=owed))
        products = products.exclude(pk__in=_known_without_images(encoder))
    elif mode == "stale":
        products = products.filter(pk__in=rows.exclude(encoder_version=encoder.version).values("product"))
    elif mode == "failed":
        products = products.filter(pk__in=rows.failed().values("product"))
    return products.select_related(None).order_by("pk").values_list("pk", flat=True)


def _known_without_images(encoder: Encoder) -> QuerySet:
    # Products already synced and found to have no images are done (their own state), not missing.
    from visual_search.indexing.progress import products_without_images  # noqa: PLC0415

    return products_without_images(encoder)


def reset_failed(pks: Iterable[Any], encoder: Encoder | None = None) -> int:
    """Mark the failed rows of ``pks`` pending, so a non-forced sync retries them; ready rows stay searchable."""
    encoder = encoder or get_encoder()
    changed = 0
    for chunk in _chunks(pks, CHUNK_SIZE):
        changed += (
            ProductImageEmbedding.objects.for_encoder(encoder).failed()
            .filter(product_id__in=chunk).update(status=EmbeddingStatus.PENDING, attempts=0)
        )
    return changed


def active_job(mode: str, encoder_id: str) -> BulkJob | None:
    """The queued, running or paused job of this mode and encoder, if any."""
    return BulkJob.objects.filter(mode=mode, encoder=encoder_id, state__in=ACTIVE_STATES).first()


def start_job(mode: str, *, encoder: Encoder | None = None, user: Any = None) -> tuple[BulkJob, bool]:
    """Record a job and the products it owes; return ``(job, created)``.

    An identical job (same mode and encoder) that is still active is returned
    instead (``created`` False), so starting a job twice does no work twice.
    A job with nothing to do is stored finished, with a message that says so.
    """
    from visual_search.indexing.outbox import request_sync  # noqa: PLC0415

    if mode not in MODES:
        raise ValueError(f"Unknown re-embed mode {mode!r}; choose one of {', '.join(MODES)}.")
    encoder = encoder or get_encoder()
    # Remember which encoder searches answer from before any work starts: a later change of
    # the configured encoder then builds beside it instead of replacing it.
    serving_encoder()
    with transaction.atomic():
        # Two admins clicking at once: the second waits here, then finds the first one's job.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"visual_search:job:{mode}:{encoder.id}"])
        existing = active_job(mode, encoder.id)
        if existing is not None:
            return existing, False
        now = timezone.now()
        job = BulkJob.objects.create(
            mode=mode, encoder=encoder.id, created_by=user if getattr(user, "pk", None) else None,
            state=BulkJobState.QUEUED, started_at=now,
        )
        # Products owed by a save or by another running job are left to it: taking their rows over
        # would let this job's cancel drop work a save is owed. A forced job still forces them.
        owed_elsewhere = SyncRequest.objects.filter(
            Q(job__isnull=True) | Q(job__state__in=[BulkJobState.QUEUED, BulkJobState.RUNNING])
        )
        force = mode == BulkJobMode.FORCE
        total = already = 0
        for chunk in _chunks(select_products(mode, encoder).iterator(chunk_size=CHUNK_SIZE), CHUNK_SIZE):
            taken = set(owed_elsewhere.filter(product__in=chunk).values_list("product", flat=True))
            mine = [pk for pk in chunk if pk not in taken]
            if mode == BulkJobMode.FAILED:
                reset_failed(chunk, encoder)
            if force and taken:
                SyncRequest.objects.filter(product__in=taken).update(force=True)
            request_sync(mine, force=force, job=job)
            total, already = total + len(mine), already + len(taken)
        job.total = total
        job.message = _start_message(total, already)
        if not total:
            job.state, job.finished_at = BulkJobState.FINISHED, now
        job.save(update_fields=["total", "state", "finished_at", "message", "updated_at"])
    if total:
        from visual_search.indexing.deferred_index import defer_for  # noqa: PLC0415

        defer_for(job, encoder)  # before any worker writes a row
    if total or already:
        _kick(job)
    return job, True


def _start_message(total: int, already: int) -> str:
    products = f"{already} product{'s' if already != 1 else ''}"
    if not total and not already:
        return NOTHING_TO_DO
    if not total:
        return f"Nothing new to start: the {products} it selects are already owed by saves or another job."
    if already:
        return f"{products} already owed by saves or another job {'is' if already == 1 else 'are'} left to them."
    return ""


def _kick(job: BulkJob) -> None:
    from visual_search.indexing.tasks import kick  # noqa: PLC0415 - keeps Celery out of model-level imports

    kick(job)


def pause_job(job: BulkJob) -> bool:
    """Stop handing out the job's products; those already being embedded finish. Return whether it changed."""
    changed = BulkJob.objects.filter(
        pk=job.pk, state__in=[BulkJobState.QUEUED, BulkJobState.RUNNING]
    ).update(state=BulkJobState.PAUSED, updated_at=timezone.now())
    job.refresh_from_db()
    return bool(changed)


def resume_job(job: BulkJob) -> bool:
    """Let a paused job go on where it stopped. Return whether it changed."""
    changed = BulkJob.objects.filter(pk=job.pk, state=BulkJobState.PAUSED).update(
        state=BulkJobState.RUNNING, updated_at=timezone.now()
    )
    job.refresh_from_db()
    if changed:
        _kick(job)
    return bool(changed)


def cancel_job(job: BulkJob) -> bool:
    """Drop the products the job still owes (never work owed by a save). Return whether it changed."""
    with transaction.atomic():
        changed = BulkJob.objects.filter(pk=job.pk, state__in=ACTIVE_STATES).update(
            state=BulkJobState.CANCELLED, finished_at=timezone.now(), updated_at=timezone.now()
        )
        if changed:
            dropped = SyncRequest.objects.filter(job=job).delete()[0]
            BulkJob.objects.filter(pk=job.pk).update(
                message=f"Cancelled with {dropped} product{'s' if dropped != 1 else ''} not re-embedded."
            )
    job.refresh_from_db()
    if changed and job.index_deferred:  # its encoder's index comes back now, not when it would have finished
        from visual_search.indexing.tasks import send_index_builds  # noqa: PLC0415

        transaction.on_commit(send_index_builds, robust=True)
    return bool(changed)


@dataclass(frozen=True)
class JobProgress:
    """A job's numbers as the admin and the command show them, derived from the database."""

    id: int
    mode: str
    encoder: str
    state: str
    total: int  # products the job selected
    remaining: int  # products it still owes (its SyncRequest rows); for a cancelled job, those never done
    processed: int  # total - remaining
    done: int  # products the workers reported done
    failed: int  # products the workers reported failed
    percent: float
    rate: float | None  # products per second since the job started
    seconds_left: float | None
    message: str
    started_by: str
    created_at: datetime
    finished_at: datetime | None

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES

    @property
    def time_left(self) -> str:
        return format_duration(self.seconds_left)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["created_at"] = self.created_at.isoformat()
        data["finished_at"] = self.finished_at.isoformat() if self.finished_at else None
        data["active"], data["time_left"] = self.active, self.time_left
        return data


def job_progress(job: BulkJob, *, remaining: int | None = None, now: datetime | None = None) -> JobProgress:
    """How far ``job`` has got: rows still owed, rate since it started and time left at that rate."""
    if job.state == BulkJobState.CANCELLED:
        # Its rows were dropped: what it did is what the workers counted, the rest was never done.
        remaining = max(0, job.total - job.done - job.failed)
    elif remaining is None:
        remaining = SyncRequest.objects.filter(job=job).count()
    remaining = min(remaining, job.total)
    processed = job.total - remaining
    now = now or timezone.now()
    end = job.finished_at or now
    elapsed = (end - job.started_at).total_seconds() if job.started_at else 0.0
    rate = processed / elapsed if processed and elapsed > 0 else None
    seconds_left = None
    if job.state in ACTIVE_STATES and rate:
        seconds_left = remaining / rate
    elif not remaining:
        seconds_left = 0.0
    return JobProgress(
        id=job.pk, mode=job.mode, encoder=job.encoder, state=job.state, total=job.total, remaining=remaining,
        processed=processed, done=job.done, failed=job.failed,
        percent=100.0 if not job.total else round(100.0 * processed / job.total, 1),
        rate=readable_rate(rate) if rate else None,
        seconds_left=round(seconds_left, 1) if seconds_left is not None else None,
        message=job.message, started_by=str(job.created_by) if job.created_by_id else "",
        created_at=job.created_at, finished_at=job.finished_at,
    )


def jobs_progress(jobs: Iterable[BulkJob]) -> list[JobProgress]:
    """``job_progress`` for several jobs with one grouped count of the rows they still owe."""
    jobs = list(jobs)
    owed = dict(
        SyncRequest.objects.filter(job__in=[j.pk for j in jobs]).order_by().values("job")
        .annotate(n=Count("pk")).values_list("job", "n")
    )
    now = timezone.now()
    return [job_progress(job, remaining=owed.get(job.pk, 0), now=now) for job in jobs]


def readable_rate(rate: float) -> float | int:
    """Products a second as people read them: whole from 100 up, else three significant figures (21.8, 0.412)."""
    if rate >= 100:
        return round(rate)
    return float(f"{rate:.3g}")


def format_duration(seconds: float | None) -> str:
    """``1 h 02 min``, ``3 min 05 s``, ``12 s``; an em dash when unknown."""
    if seconds is None:
        return "\u2014"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"
