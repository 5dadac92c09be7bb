"""Check that visual search works end to end: exit 1 naming what is down; 0 when healthy or degraded."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from visual_search.indexing.health import run_checks


class Command(BaseCommand):
    help = (
        "Check the database, pgvector, the Celery broker, workers consuming the app's queues, the encoder "
        "and the backlog of work owed, side by side, answering within VISUAL_SEARCH['HEALTH_TIMEOUT'] seconds. "
        "Exits 1 naming what is down (for healthchecks); 0 when healthy, or degraded (work owed not moving: "
        "said on stderr)."
    )

    # No system checks first: one of them reads the database, and a health check must answer in its own
    # deadline whatever is down (``manage.py check`` is the place for them).
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--deep", action="store_true",
                            help="Also build the encoder and embed one image (loads TensorFlow: seconds).")
        parser.add_argument("--no-workers", action="store_false", dest="workers",
                            help="Skip asking for workers (e.g. the web container's check while workers start).")
        parser.add_argument("--timeout", type=float, default=None, metavar="S",
                            help="Seconds the whole check may take (default VISUAL_SEARCH['HEALTH_TIMEOUT']).")
        parser.add_argument("--json", action="store_true", dest="as_json", help="Print one JSON object.")

    def handle(self, *args: Any, deep: bool, workers: bool, timeout: float | None, as_json: bool,
               **options: Any) -> None:
        health = run_checks(deep=deep, workers=workers, timeout=timeout)
        if as_json:
            self.stdout.write(json.dumps(health.as_dict(), indent=2, sort_keys=True, default=str))
        else:
            width = max(len(check.name) for check in health.checks)
            for check in health.checks:
                verdict = (
                    self.style.SUCCESS("ok  ") if check.ok
                    else self.style.WARNING("SLOW") if check.degraded else self.style.ERROR("FAIL")
                )
                self.stdout.write(f"{check.name:<{width}}  {verdict}  {check.detail}")
        if health.status == "unhealthy":
            raise CommandError("unhealthy: " + "; ".join(health.reasons))
        if health.status == "degraded":
            self.stderr.write("degraded: " + "; ".join(health.reasons))
