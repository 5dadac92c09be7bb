"""Is visual search working? Database, pgvector, broker, workers, encoder and backlog, each checked for real.

Behind ``GET /visual-search/health/`` (200 when healthy, 503 with the reasons)
and ``manage.py visual_search_health`` (exit 0 or 1). Every check is bounded
by a short timeout, and none imports TensorFlow unless ``deep`` asks for an
encoder to be built and run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.models import Min
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

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "detail": self.detail, "seconds": round(self.seconds, 3), **self.data}


@dataclass
class Health:
    checks: list[Check]

    @property
    def healthy(self) -> bool:
        return all(check.ok for check in self.checks)

    @property
    def reasons(self) -> list[str]:
        return [f"{check.name}: {check.detail}" for check in self.checks if not check.ok]

    def as_dict(self) -> dict[str, Any]:
        return {
            "healthy": self.healthy,
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


def _jobs_running() -> bool:
    from visual_search.models import BulkJob, BulkJobState  # noqa: PLC0415

    try:
        return BulkJob.objects.filter(state__in=[BulkJobState.QUEUED, BulkJobState.RUNNING]).exists()
    except DatabaseError:
        return False  # the database check reports it


def check_workers(timeout: float) -> Check:
    """Ask every worker which queues it consumes (one broadcast, ``timeout`` seconds); ours must be covered.

    The bulk queue needs a worker only while a job is queued or running: bulk
    workers may be machines started for a re-embed and stopped after it.
    """
    app = _celery_app()
    queues = task_queues(bulk_required=_jobs_running())
    try:
        replies = app.control.inspect(timeout=timeout).active_queues() or {}
    except Exception as exc:  # noqa: BLE001
        return Check("workers", False, f"cannot reach workers: {type(exc).__name__}: {exc}", {"queues": queues})
    consuming = {
        queue: sorted(name for name, qs in replies.items() if any(q.get("name") == queue for q in qs or []))
        for queue in queues
    }
    data = {"queues": queues, "workers": consuming}
    idle = [queue for queue, names in consuming.items() if not names]
    if idle:
        return Check("workers", False, f"no worker answered within {timeout:g} s for queue "
                     f"{', '.join(repr(q) for q in idle)}", data)
    count = len({name for names in consuming.values() for name in names})
    return Check("workers", True, f"{count} worker{'s' if count != 1 else ''} consuming {', '.join(queues)}", data)


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
    """Work owed: how much and how old. Save-time work older than ``HEALTH_MAX_BACKLOG_AGE`` is unhealthy.

    Rows of bulk jobs are reported but not judged by age: a big job is old by design.
    """
    from visual_search.models import BulkJobState, SyncRequest  # noqa: PLC0415

    rows = SyncRequest.objects.using(using)
    now = timezone.now()
    saves = rows.filter(job__isnull=True).aggregate(oldest=Min("requested_at"))["oldest"]
    data = {
        "owed": rows.count(),
        "owed_by_saves": rows.filter(job__isnull=True).count(),
        "owed_by_jobs": rows.filter(job__isnull=False).count(),
        "paused": rows.filter(job__state=BulkJobState.PAUSED).count(),
        "oldest_save_seconds": round((now - saves).total_seconds(), 1) if saves else 0.0,
        "failing": rows.exclude(last_error="").count(),
    }
    limit = float(vs_settings.HEALTH_MAX_BACKLOG_AGE)
    if data["oldest_save_seconds"] > limit:
        return Check("backlog", False, f"work owed by a save has waited {data['oldest_save_seconds']:.0f} s "
                     f"(over {limit:.0f} s): is a worker draining it?", data)
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


def run_checks(*, deep: bool = False, workers: bool = True, timeout: float | None = None) -> Health:
    """Run every check; the database ones are skipped (and failed) when the database is down."""
    timeout = float(vs_settings.HEALTH_TIMEOUT if timeout is None else timeout)
    checks = [_run("database", check_database)]
    if checks[0].ok:
        checks += [_run("pgvector", check_pgvector), _run("backlog", check_backlog)]
    checks.append(_run("broker", lambda: check_broker(timeout)))
    if workers:
        if checks[-1].ok:
            checks.append(_run("workers", lambda: check_workers(timeout)))
        else:
            checks.append(Check("workers", False, "not asked: the broker is down"))
    checks.append(_run("encoder", lambda: check_encoder(deep)))
    return Health(checks)


#: Seconds one process reuses its last answer: a flood of health requests costs one probe per window.
VIEW_CACHE_SECONDS = 5.0
_last_answer: dict[str, Any] = {}


@never_cache
@require_GET
def health_view(request: HttpRequest) -> JsonResponse:
    """``GET /visual-search/health/``: 200 when healthy, 503 with the reasons otherwise.

    Staff see every check's numbers; anyone else sees the verdicts and reasons
    only (no broker address, no worker names).
    """
    now = time.monotonic()
    if now - _last_answer.get("at", float("-inf")) > VIEW_CACHE_SECONDS:
        _last_answer.update(at=now, health=run_checks())
    health: Health = _last_answer["health"]
    data = health.as_dict()
    if not getattr(request.user, "is_staff", False):
        data["checks"] = {name: {"ok": check["ok"]} for name, check in data["checks"].items()}
        data["reasons"] = [reason.split(":", 1)[0] for reason in data["reasons"]]
    return JsonResponse(data, status=200 if health.healthy else 503)
