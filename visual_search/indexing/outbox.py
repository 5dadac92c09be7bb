"""Work owed: request, claim and complete ``SyncRequest`` rows (a transactional outbox).

A save writes a row in its own transaction (``request_sync``); tasks are only a
way to get a worker to look. Workers ``claim`` rows with a lease, counting an
attempt before any inference, and ``complete`` them by compare-and-delete: a
row requested again while it was being worked on stays owed. A row whose lease
expired belonged to a worker that died; ``claim`` hands such rows out one at a
time, so an image that kills the worker is isolated from its batch and given
up on after ``TASK_MAX_RETRIES`` deaths. The periodic sweep (``due_count``)
notices work that nobody is working on.

Leases are short and renewed while the work runs (``renew_leases``, called by
the worker's lease keeper), so a dead worker's rows are free again within
``SYNC_LEASE_SECONDS``; a drain that lost the database gives its own rows back
as soon as it reconnects (``release_mine``). Each claim records its holder.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import random
import socket
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import connections, transaction
from django.utils.timezone import now as django_now

from visual_search.conf import vs_settings
from visual_search.images import without_server_paths
from visual_search.indexing.signals import bulk_jobs_finished
from visual_search.models import BulkJob, BulkJobState, SyncRequest
from visual_search.timeouts import set_local_timeouts

logger = logging.getLogger(__name__)

# Rows of these jobs are worked on; a paused or cancelled job's rows wait.
ACTIVE_JOB_STATES = (BulkJobState.QUEUED, BulkJobState.RUNNING)
_CHUNK = 1000


@dataclass(frozen=True)
class Claim:
    """One product a worker holds: what it must do, and what it must compare when done."""

    product_pk: Any
    requested_at: dt.datetime  # compared on completion: a newer request keeps the row owed
    force: bool
    job_id: int | None
    attempts: int  # this claim included
    crashed: bool  # the previous claim's lease ran out: its worker died (or lost the database)


_holder: tuple[int, str] | None = None


def holder() -> str:
    """This process's name on the leases it holds (new after a fork: a child is not its parent)."""
    global _holder
    if _holder is None or _holder[0] != os.getpid():
        _holder = (os.getpid(), f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:12]}")
    return _holder[1]


def _tables() -> dict[str, str]:
    ops = connections["default"].ops
    return {"req": ops.quote_name(SyncRequest._meta.db_table), "job": ops.quote_name(BulkJob._meta.db_table)}


def _prep(pks: Iterable[Any], using: str) -> list[Any]:
    field = SyncRequest._meta.pk.target_field
    connection = connections[using]
    return [field.get_db_prep_value(field.to_python(pk), connection) for pk in pks]


def max_attempts() -> int:
    """Claims of one request before it is given up on: the first try and ``TASK_MAX_RETRIES`` more."""
    return int(vs_settings.TASK_MAX_RETRIES) + 1


def backoff_seconds(attempts: int) -> float:
    """Wait before the next try: 10 s doubling per attempt, capped by ``TASK_RETRY_BACKOFF_MAX``, jittered.

    Five retries span about five minutes, longer than a database or broker restart.
    """
    cap = float(vs_settings.TASK_RETRY_BACKOFF_MAX)
    base = min(cap, 10.0 * 2.0 ** max(0, attempts - 1))
    return random.uniform(base / 2, base)


def request_sync(
    product_pks: Iterable[Any], *, using: str = "default", force: bool = False, job: Any = None
) -> int:
    """Record, in the current transaction, that ``product_pks`` need syncing; return the rows written.

    A row already owed is requested again: its time moves on (so a worker that
    is embedding it now leaves it owed), ``force`` is kept if either asked for
    it, attempts and backoff start over, and it moves to ``job`` (None, for a
    save: save-time work is never paused or cancelled with a job).
    """
    pks = list(dict.fromkeys(pk for pk in product_pks if pk is not None))
    job_id = getattr(job, "pk", job)
    t = _tables()
    written = 0
    with connections[using].cursor() as cursor:
        for start in range(0, len(pks), _CHUNK):
            chunk = _prep(pks[start : start + _CHUNK], using)
            values = ", ".join(["(%s, clock_timestamp(), %s, %s, 0, '')"] * len(chunk))
            params: list[Any] = []
            for pk in chunk:
                params += [pk, force, job_id]
            # clock_timestamp(), not now(): two requests in one transaction still differ, and a long
            # transaction (a test, a big import) does not date its requests back to its start.
            cursor.execute(
                f"INSERT INTO {t['req']} AS r "
                "(product_id, requested_at, force, job_id, attempts, last_error) "
                f"VALUES {values} ON CONFLICT (product_id) DO UPDATE SET "
                "requested_at = clock_timestamp(), force = r.force OR EXCLUDED.force, "
                "job_id = EXCLUDED.job_id, "
                "attempts = 0, not_before = NULL, last_error = ''",
                params,
            )
            written += cursor.rowcount
    return written


def _claim_sql(t: dict[str, str], *, expired: bool, only_pks: bool) -> str:
    # statement_timestamp(), not clock_timestamp(): a stable value lets the partial lease index answer.
    lease = "r.claimed_until < statement_timestamp()" if expired else "r.claimed_until IS NULL"
    only = "AND r.product_id = ANY(%s)" if only_pks else ""
    return f"""
        WITH picked AS (
            SELECT r.product_id, r.claimed_until AS previous_lease FROM {t["req"]} r
            LEFT JOIN {t["job"]} j ON j.id = r.job_id
            WHERE {lease} AND (r.not_before IS NULL OR r.not_before <= clock_timestamp())
              AND (r.job_id IS NULL OR j.state = ANY(%s)) {only}
            ORDER BY r.job_id NULLS FIRST, r.requested_at
            LIMIT %s
            FOR UPDATE OF r SKIP LOCKED
        )
        UPDATE {t["req"]} r
        SET claimed_until = clock_timestamp() + %s * interval '1 second', attempts = r.attempts + 1,
            claimed_by = %s
        FROM picked WHERE r.product_id = picked.product_id
        RETURNING r.product_id, r.requested_at, r.force, r.job_id, r.attempts,
                  picked.previous_lease IS NOT NULL
    """


def claim(limit: int, *, product_pks: Iterable[Any] | None = None, using: str = "default") -> list[Claim]:
    """Claim up to ``limit`` owed products for this worker, attempts counted before any work.

    A product whose previous worker died is claimed alone, so that whatever
    killed the worker cannot take a batch of innocent neighbours down with it
    again. Rows in backoff and rows of paused or cancelled jobs are left alone.
    """
    t = _tables()
    lease = float(vs_settings.SYNC_LEASE_SECONDS)
    only = _prep(product_pks, using) if product_pks is not None else None
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        set_local_timeouts(cursor)
        for expired, size in ((True, 1), (False, max(1, limit))):
            params: list[Any] = [list(ACTIVE_JOB_STATES)]
            if only is not None:
                params.append(only)
            cursor.execute(
                _claim_sql(t, expired=expired, only_pks=only is not None), [*params, size, lease, holder()]
            )
            rows = cursor.fetchall()
            if rows:
                break
        claims = [Claim(*row) for row in rows]
        jobs = {c.job_id for c in claims if c.job_id is not None}
        if jobs:
            BulkJob.objects.using(using).filter(pk__in=jobs, state=BulkJobState.QUEUED).update(
                state=BulkJobState.RUNNING
            )
            BulkJob.objects.using(using).filter(pk__in=jobs, started_at__isnull=True).update(
                started_at=_now(cursor)
            )
    return claims


def _now(cursor) -> dt.datetime:
    cursor.execute("SELECT clock_timestamp()")
    return cursor.fetchone()[0]


def complete(claims: Iterable[Claim], *, failed: Iterable[Any] = (), using: str = "default") -> int:
    """Settle ``claims``: delete each row not requested again since its claim; return rows deleted.

    Products in ``failed`` count as failed in their job, the others as done. A
    row requested again during the work stays owed and is handed out again.
    A job with no row left is finished.
    """
    claims = list(claims)
    if not claims:
        return 0
    failed = set(failed)
    t = _tables()
    field = SyncRequest._meta.pk.target_field
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        set_local_timeouts(cursor)
        cursor.execute(
            f"DELETE FROM {t['req']} r USING unnest(%s, %s) AS c(product_id, requested_at) "
            "WHERE r.product_id = c.product_id AND r.requested_at = c.requested_at RETURNING r.product_id",
            [_prep([c.product_pk for c in claims], using), [c.requested_at for c in claims]],
        )
        deleted_pks = {field.to_python(row[0]) for row in cursor.fetchall()}
        kept = [c.product_pk for c in claims if c.product_pk not in deleted_pks]
        if kept:  # requested again meanwhile: hand it out again at once
            SyncRequest.objects.using(using).filter(pk__in=kept).update(claimed_until=None)
        done, bad = Counter(), Counter()
        for c in claims:
            if c.product_pk in deleted_pks and c.job_id is not None:
                (bad if c.product_pk in failed else done)[c.job_id] += 1
        finished = _count_jobs(cursor, t, done, bad)
        if finished:  # once the job's last rows are settled: its encoder's vectors are what calibration reads
            transaction.on_commit(lambda: _job_finished(finished), using=using, robust=True)
    return len(deleted_pks)


def _job_finished(encoders: list[str]) -> None:
    bulk_jobs_finished.send(sender=BulkJob, encoders=list(dict.fromkeys(encoders)))


def _count_jobs(cursor, t: dict[str, str], done: Counter, bad: Counter) -> list[str]:
    """Add to the jobs' counters; finish those with no row left and return their encoders."""
    finished = []
    for job_id in sorted(set(done) | set(bad)):
        cursor.execute(
            f"UPDATE {t['job']} SET done = done + %s, failed = failed + %s, "
            "updated_at = clock_timestamp() WHERE id = %s",
            [done[job_id], bad[job_id], job_id],
        )
        cursor.execute(
            f"UPDATE {t['job']} j SET state = %s, finished_at = clock_timestamp(), "
            "updated_at = clock_timestamp() WHERE j.id = %s AND j.state = ANY(%s) "
            f"AND NOT EXISTS (SELECT 1 FROM {t['req']} r WHERE r.job_id = j.id) RETURNING j.encoder",
            [BulkJobState.FINISHED, job_id, list(ACTIVE_JOB_STATES)],
        )
        finished.extend(row[0] for row in cursor.fetchall())
    return finished


def release(
    claims: Iterable[Claim], error: str, *, retry_in: float | None = None, using: str = "default"
) -> None:
    """Give ``claims`` back after a retryable failure: owed again after a backoff, the error kept."""
    claims = list(claims)
    if not claims:
        return

    reason = without_server_paths(error)  # shown in the admin
    t = _tables()
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        set_local_timeouts(cursor)
        for c in claims:
            wait = backoff_seconds(c.attempts) if retry_in is None else retry_in
            cursor.execute(
                f"UPDATE {t['req']} SET claimed_until = NULL, last_error = %s, "
                "not_before = CASE WHEN requested_at = %s "
                "THEN clock_timestamp() + %s * interval '1 second' END "
                "WHERE product_id = %s",
                [reason[:2000], c.requested_at, wait, _prep([c.product_pk], using)[0]],
            )


def unclaimed_requests(product_pks: list[Any], using: str = "default") -> dict[Any, dt.datetime]:
    """Save-time work owed for ``product_pks`` that no worker holds: pk -> requested_at (for ``settle``)."""
    return dict(
        SyncRequest.objects.using(using)
        .filter(product__in=product_pks, job__isnull=True)
        .exclude(claimed_until__gte=django_now())
        .values_list("product_id", "requested_at")
    )


def settle(requests: dict[Any, dt.datetime], using: str = "default") -> int:
    """Delete save-time requests a direct sync has done, unless requested again since; return rows deleted."""
    t = _tables()
    deleted = 0
    with connections[using].cursor() as cursor:
        for pk, requested_at in requests.items():
            cursor.execute(
                f"DELETE FROM {t['req']} WHERE product_id = %s AND requested_at = %s AND job_id IS NULL",
                [_prep([pk], using)[0], requested_at],
            )
            deleted += cursor.rowcount
    return deleted


def due_count(using: str = "default", *, limit: int = 1000) -> int:
    """Work owed that nobody is working on, counted up to ``limit``: what the sweep re-dispatches.

    That is any row whose lease expired (its worker died), and, when no worker
    holds a live lease at all, rows whose retry backoff is over and rows that
    waited ``SYNC_SWEEP_AFTER`` seconds unclaimed (their task was lost). While
    some worker drains, it takes them in turn. The first and second lookups
    read the partial index of leased rows (a few batches, however much is owed),
    and every count stops at ``limit``: the sweep costs about the same at any backlog.
    """
    t = _tables()
    after = float(vs_settings.SYNC_SWEEP_AFTER)
    ready = (
        "(r.not_before IS NULL OR r.not_before <= statement_timestamp()) "
        "AND (r.job_id IS NULL OR j.state = ANY(%s))"
    )
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        set_local_timeouts(cursor)
        cursor.execute(
            f"""SELECT count(*) FROM (SELECT 1 FROM {t["req"]} r LEFT JOIN {t["job"]} j ON j.id = r.job_id
            WHERE r.claimed_until < statement_timestamp() AND {ready} LIMIT %s) due""",
            [list(ACTIVE_JOB_STATES), limit],
        )
        expired = cursor.fetchone()[0]
        cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {t['req']} WHERE claimed_until >= statement_timestamp())")
        if cursor.fetchone()[0] or expired >= limit:
            return expired
        cursor.execute(
            f"""SELECT count(*) FROM (SELECT 1 FROM {t["req"]} r LEFT JOIN {t["job"]} j ON j.id = r.job_id
            WHERE r.claimed_until IS NULL AND {ready}
              AND (r.attempts > 0 OR r.requested_at <= statement_timestamp() - %s * interval '1 second')
            LIMIT %s) due""",
            [list(ACTIVE_JOB_STATES), after, limit - expired],
        )
        return expired + cursor.fetchone()[0]


def renew_leases(using: str = "default") -> int:
    """Extend every lease this process holds by ``SYNC_LEASE_SECONDS``; return the rows renewed.

    Only rows still claimed by this process: one another worker took over after
    this one's lease ran out is its own now.
    """
    t = _tables()
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        set_local_timeouts(cursor)
        cursor.execute(
            f"UPDATE {t['req']} SET claimed_until = clock_timestamp() + %s * interval '1 second' "
            "WHERE claimed_by = %s AND claimed_until IS NOT NULL",
            [float(vs_settings.SYNC_LEASE_SECONDS), holder()],
        )
        return cursor.rowcount


def release_mine(using: str = "default") -> int:
    """Hand out again, at once, every row this process still holds; return how many.

    For a drain whose database connection died under it: its claims were lost
    with the connection, and nobody should wait for their leases to run out.
    Attempts already counted stay counted.
    """
    t = _tables()
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        set_local_timeouts(cursor)
        cursor.execute(
            f"UPDATE {t['req']} SET claimed_until = NULL, claimed_by = '' "
            "WHERE claimed_by = %s AND claimed_until IS NOT NULL",
            [holder()],
        )
        return cursor.rowcount


def claimable(using: str = "default") -> bool:
    """Whether a worker could claim something right now (a chained drain goes on while this holds)."""
    t = _tables()
    with connections[using].cursor() as cursor:
        cursor.execute(
            f"""SELECT EXISTS (SELECT 1 FROM {t["req"]} r LEFT JOIN {t["job"]} j ON j.id = r.job_id
            WHERE (r.claimed_until IS NULL OR r.claimed_until < clock_timestamp())
              AND (r.not_before IS NULL OR r.not_before <= clock_timestamp())
              AND (r.job_id IS NULL OR j.state = ANY(%s)))""",
            [list(ACTIVE_JOB_STATES)],
        )
        return cursor.fetchone()[0]
