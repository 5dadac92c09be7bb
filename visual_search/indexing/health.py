"""Is visual search working? Database, pgvector, broker, workers, encoder and backlog, each checked for real.

Behind ``GET /visual-search/health/`` (200 when healthy or degraded, 503 with
the reasons when unhealthy) and ``manage.py visual_search_health`` (exit 1 when
unhealthy). The checks run side by side in daemon threads and the answer comes
within ``HEALTH_TIMEOUT`` whatever is down: a check still waiting then (a
blackholed database, a broker that accepts and never answers) is reported as
not answering, by name. "Degraded" means everything answers but owed work is
not moving: an old save waiting, or a running bulk job that has stalled. None
imports TensorFlow unless ``deep`` asks for an encoder to be built and run.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.models import Min, Q
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from visual_search.conf import vs_settings


@dataclass
class Check:
    """One component's verdict: ``ok``, a one-line ``detail``, and numbers worth graphing."""

    name: str
    ok: bool
    detail: str
    data: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    degraded: bool = False  # answers, but work owed is not moving: not ok, yet nothing is down

    def as_dict(self) -> dict[str, Any]:
        verdict = {"ok": self.ok, "detail": self.detail, "seconds": round(self.seconds, 3), **self.data}
        return {**verdict, "degraded": True} if self.degraded else verdict


@dataclass
class Health:
    checks: list[Check]

    @property
    def healthy(self) -> bool:
        return all(check.ok for check in self.checks)

    @property
    def status(self) -> str:
        """``healthy``, ``degraded`` (only degraded checks fail) or ``unhealthy``."""
        if self.healthy:
            return "healthy"
        return "degraded" if all(check.ok or check.degraded for check in self.checks) else "unhealthy"

    @property
    def reasons(self) -> list[str]:
        return [f"{check.name}: {check.detail}" for check in self.checks if not check.ok]

    def as_dict(self) -> dict[str, Any]:
        return {
            "healthy": self.healthy,
            "status": self.status,
            "reasons": self.reasons,
            "checks": {check.name: check.as_dict() for check in self.checks},
        }


def check_database(using: str = DEFAULT_DB_ALIAS) -> Check:
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT 1")
    return Check("database", True, f"{connections[using].vendor} on {using!r} answers")


def check_pgvector(using: str = DEFAULT_DB_ALIAS) -> Check:
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        row = cursor.fetchone()
    if row is None:
        return Check("pgvector", False, "the vector extension is not installed (run migrate)")
    return Check("pgvector", True, f"pgvector {row[0]}", {"version": row[0]})


def _celery_app():
    from celery import current_app  # noqa: PLC0415

    return current_app._get_current_object()


def _redact(url: str) -> str:
    from kombu.utils.url import maybe_sanitize_url  # noqa: PLC0415

    return maybe_sanitize_url(url)


def check_broker(timeout: float) -> Check:
    app = _celery_app()
    url = _redact(app.conf.broker_url or "")
    try:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=timeout)
    except Exception as exc:  # noqa: BLE001 - any failure to connect is the answer
        return Check("broker", False, f"cannot connect to {url}: {type(exc).__name__}: {exc}", {"url": url})
    return Check("broker", True, f"connected to {url}", {"url": url})


def task_queues(*, bulk_required: bool = True) -> list[str]:
    """The queues this app's tasks are sent to: on-save work, and bulk work when it has its own queue."""
    app = _celery_app()
    queues = [vs_settings.TASK_QUEUE or app.conf.task_default_queue]
    bulk = vs_settings.TASK_QUEUE_BULK
    if bulk and bulk not in queues and bulk_required:
        queues.append(bulk)
    return queues


class _Covered(Exception):
    """Raised from a reply callback: every queue has a worker, stop waiting for more replies."""


def check_workers(timeout: float, *, bulk_required: bool | None = True) -> Check:
    """Ask every worker which queues it consumes; ours must be covered. Returns once they are.

    The broadcast stops waiting as soon as the replies cover every queue (a
    healthy answer takes one round trip, not ``timeout``); only a queue nobody
    consumes waits the whole ``timeout``. The bulk queue needs a worker only
    while a job is queued or running: bulk workers may be machines started for
    a re-embed and stopped after it. ``bulk_required=None`` asks about it
    without judging it (``run_checks`` judges once the database said whether a
    job runs).
    """
    app = _celery_app()
    queues = task_queues(bulk_required=bulk_required is not False)
    required = task_queues(bulk_required=bool(bulk_required))
    replies: dict[str, Any] = {}

    def consumers(queue: str) -> list[str]:
        return sorted(name for name, qs in replies.items() if any(q.get("name") == queue for q in qs or []))

    # kombu waits up to the timeout after each reply: half the budget each way keeps the total in it.
    wait, until = timeout / 2, time.monotonic() + timeout / 2

    def on_reply(reply: dict[str, Any]) -> None:
        replies.update(reply)
        if all(consumers(queue) for queue in queues) or time.monotonic() >= until:
            raise _Covered

    try:
        app.control.broadcast("active_queues", reply=True, timeout=wait, callback=on_reply)
    except _Covered:
        pass
    except Exception as exc:  # noqa: BLE001
        return Check("workers", False, f"cannot reach workers: {type(exc).__name__}: {exc}", {"queues": queues})
    consuming = {queue: consumers(queue) for queue in queues}
    data = {"queues": queues, "workers": consuming}
    idle = [queue for queue in required if not consuming[queue]]
    if idle:
        return Check("workers", False, f"no worker answered within {timeout:g} s for queue "
                     f"{', '.join(repr(q) for q in idle)}", data)
    count = len({name for names in consuming.values() for name in names})
    return Check("workers", True, f"{count} worker{'s' if count != 1 else ''} consuming "
                 f"{', '.join(q for q in queues if consuming[q])}", data)


def check_encoder(deep: bool = False) -> Check:
    """The configured and the serving encoder build, their weights resolve; ``deep`` also runs one image."""
    from visual_search.encoders import get_encoder  # noqa: PLC0415
    from visual_search.indexing.encoder_switch import indexing_encoders  # noqa: PLC0415

    try:
        encoders = indexing_encoders(record=False)  # reads (never writes) which encoder serves searches
    except DatabaseError:
        encoders = [get_encoder()]
    data: dict[str, Any] = {"encoders": [e.id for e in encoders]}
    for encoder in encoders:
        checkpoint = getattr(encoder, "checkpoint_path", None)
        if checkpoint is not None:
            path = checkpoint()
            if not path.is_file():
                return Check("encoder", False, f"{encoder.id}: weights file {path} is missing", data)
        if deep:
            from PIL import Image  # noqa: PLC0415

            started = time.perf_counter()
            vector = encoder.embed([Image.new("RGB", (64, 64), (200, 120, 40))])[0]
            data[f"{encoder.id}_embed_seconds"] = round(time.perf_counter() - started, 3)
            if vector.shape != (encoder.dimensions,):
                return Check("encoder", False, f"{encoder.id} made a {vector.shape} vector", data)
    how = "built and ran one image" if deep else "loadable"
    return Check("encoder", True, f"{', '.join(data['encoders'])} {how}", data)


def check_backlog(using: str = DEFAULT_DB_ALIAS) -> Check:
    """Work owed: how much, how old, and whether it moves; "degraded" when it does not.

    Save-time work older than ``HEALTH_MAX_BACKLOG_AGE`` is degraded, and so is
    a queued or running bulk job that still owes work and has settled nothing
    for ``HEALTH_STALLED_SECONDS``. A big job's rows are old by design: only
    its lack of progress counts. ``jobs_running`` tells the workers check
    whether the bulk queue needs a worker.
    """
    from visual_search.models import BulkJob, BulkJobState, SyncRequest  # noqa: PLC0415

    rows = SyncRequest.objects.using(using)
    now = timezone.now()
    oldest = rows.aggregate(oldest=Min("requested_at"), saves=Min("requested_at", filter=Q(job__isnull=True)))
    active = [BulkJobState.QUEUED, BulkJobState.RUNNING]
    stalled_after = float(vs_settings.HEALTH_STALLED_SECONDS)
    stalled = list(
        BulkJob.objects.using(using).filter(
            state__in=active, requests__isnull=False,
            updated_at__lt=now - dt.timedelta(seconds=stalled_after),
        ).distinct().values_list("pk", flat=True)
    )

    def age(at) -> float:
        return round((now - at).total_seconds(), 1) if at else 0.0

    data = {
        "owed": rows.count(),
        "owed_by_saves": rows.filter(job__isnull=True).count(),
        "owed_by_jobs": rows.filter(job__isnull=False).count(),
        "paused": rows.filter(job__state=BulkJobState.PAUSED).count(),
        "oldest_owed_seconds": age(oldest["oldest"]),
        "oldest_save_seconds": age(oldest["saves"]),
        "failing": rows.exclude(last_error="").count(),
        "stalled_jobs": stalled,
        "jobs_running": BulkJob.objects.using(using).filter(state__in=active).exists(),
    }
    limit = float(vs_settings.HEALTH_MAX_BACKLOG_AGE)
    if data["oldest_save_seconds"] > limit:
        return Check("backlog", False, f"work owed by a save has waited {data['oldest_save_seconds']:.0f} s "
                     f"(over {limit:.0f} s): is a worker draining it?", data, degraded=True)
    if stalled:
        return Check("backlog", False, f"bulk job{'s' if len(stalled) > 1 else ''} "
                     f"{', '.join(map(str, stalled))} owe work and settled nothing for over "
                     f"{stalled_after:.0f} s: is a worker draining them?", data, degraded=True)
    return Check("backlog", True, f"{data['owed']} products owed, oldest save {data['oldest_save_seconds']:.0f} s",
                 data)


def _run(name: str, function: Callable[[], Check]) -> Check:
    started = time.perf_counter()
    try:
        check = function()
    except Exception as exc:  # noqa: BLE001 - a check that breaks is a failed check, with its reason
        check = Check(name, False, f"{type(exc).__name__}: {exc}")
    check.seconds = time.perf_counter() - started
    return check


def _database_group(deep: bool) -> list[Check]:
    checks = [_run("database", check_database)]
    if checks[0].ok:
        checks += [_run("pgvector", check_pgvector), _run("backlog", check_backlog)]
    else:
        checks += [Check(name, False, "not asked: the database is down") for name in ("pgvector", "backlog")]
    # After the database: the encoder check reads which encoder serves searches from it.
    checks.append(_run("encoder", lambda: check_encoder(deep)))
    return checks


def _broker_group(deadline: float, workers: bool) -> list[Check]:
    checks = [_run("broker", lambda: check_broker(max(0.2, (deadline - time.monotonic()) / 2)))]
    if workers:
        if checks[0].ok:
            left = max(0.2, deadline - time.monotonic())
            checks.append(_run("workers", lambda: check_workers(left, bulk_required=None)))
        else:
            checks.append(Check("workers", False, "not asked: the broker is down"))
    return checks


class _Done:
    """Stands in for a thread when a group ran in the caller's thread."""

    def join(self, timeout: float | None = None) -> None:
        pass


def _in_thread(
    function: Callable[[], list[Check]], *, inline: bool = False
) -> tuple[threading.Thread | _Done, list[list[Check]]]:
    out: list[list[Check]] = []
    if inline:
        out.append(function())
        return _Done(), out

    def run() -> None:
        try:
            out.append(function())
        finally:
            connections.close_all()  # this thread's own connection, never reused

    thread = threading.Thread(target=run, name="visual-search-health", daemon=True)
    thread.start()
    return thread, out


def run_checks(*, deep: bool = False, workers: bool = True, timeout: float | None = None) -> Health:
    """Run every check, the database's and the broker's side by side; answer within ``timeout`` seconds.

    A group still waiting at the deadline is reported as not answering: its
    thread is a daemon and is left to finish (or time out) on its own.
    """
    timeout = float(vs_settings.HEALTH_TIMEOUT if timeout is None else timeout)
    started = time.monotonic()
    # The probes end a little before the deadline, so their own timeouts are what usually reports.
    probes_end = started + max(0.2, timeout * 0.85)
    groups = [
        # Inside a transaction (a caller's atomic block, a test) another connection would not see its data.
        (("database", "pgvector", "backlog", "encoder"),
         _in_thread(lambda: _database_group(deep), inline=connections[DEFAULT_DB_ALIAS].in_atomic_block)),
        (("broker", "workers") if workers else ("broker",), _in_thread(lambda: _broker_group(probes_end, workers))),
    ]
    # A deep check builds the encoder (seconds): it gets its own allowance on top.
    deadline = started + timeout + (30.0 if deep else 0.0)
    checks: list[Check] = []
    for names, (thread, out) in groups:
        thread.join(max(0.0, deadline - time.monotonic()))
        if out:
            checks += out[0]
            continue
        waited = time.monotonic() - started
        first, *rest = names
        checks.append(Check(first, False, f"no answer within {waited:.1f} s", seconds=waited))
        checks += [Check(name, False, f"not asked: {first} does not answer") for name in rest]
    _require_bulk_workers(checks)
    order = ["database", "pgvector", "backlog", "broker", "workers", "encoder"]
    return Health(sorted(checks, key=lambda c: order.index(c.name)))


def _require_bulk_workers(checks: list[Check]) -> None:
    """The bulk queue without a worker fails the workers check only while a bulk job is queued or running."""
    by_name = {check.name: check for check in checks}
    workers, backlog = by_name.get("workers"), by_name.get("backlog")
    if workers is None or not workers.ok or workers.data.get("queues") is None:
        return
    bulk = vs_settings.TASK_QUEUE_BULK
    if not bulk or bulk not in workers.data["queues"]:
        return
    if backlog is not None and backlog.data.get("jobs_running") is False:
        return  # no job: bulk workers may be stopped
    if not workers.data["workers"].get(bulk):
        workers.ok = False
        workers.detail = f"no worker answered for queue {bulk!r}, and a bulk job is queued or running"


#: Seconds one process reuses its last answer: a flood of health requests costs one probe per window.
VIEW_CACHE_SECONDS = 5.0
_last_answer: dict[str, Any] = {}


@never_cache
@require_GET
def health_view(request: HttpRequest) -> JsonResponse:
    """``GET /visual-search/health/``: 200 when healthy or degraded (``status`` says which), 503 when unhealthy.

    Staff see every check's numbers; anyone else sees the verdicts and reasons
    only (no broker address, no worker names).
    """
    now = time.monotonic()
    if now - _last_answer.get("at", float("-inf")) > VIEW_CACHE_SECONDS:
        _last_answer.update(at=now, health=run_checks())
    health: Health = _last_answer["health"]
    data = health.as_dict()
    try:
        staff = getattr(request.user, "is_staff", False)  # a session cookie reads the database
    except DatabaseError:
        staff = False
    if not staff:
        data["checks"] = {name: {"ok": check["ok"]} for name, check in data["checks"].items()}
        data["reasons"] = [reason.split(":", 1)[0] for reason in data["reasons"]]
    return JsonResponse(data, status=503 if health.status == "unhealthy" else 200)
