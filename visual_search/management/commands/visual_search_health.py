"""Check that visual search works end to end: exit 0 when healthy, 1 with the reasons otherwise."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from visual_search.indexing.health import run_checks


class Command(BaseCommand):
    help = (
        "Check the database, pgvector, the Celery broker, workers consuming the app's queues, the encoder "
        "and the backlog of work owed. Exits 0 when healthy, 1 naming what is not (for healthchecks)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--deep", action="store_true",
                            help="Also build the encoder and embed one image (loads TensorFlow: seconds).")
        parser.add_argument("--no-workers", action="store_false", dest="workers",
                            help="Skip asking for workers (e.g. the web container's check while workers start).")
        parser.add_argument("--timeout", type=float, default=None, metavar="S",
                            help="Seconds for the broker and worker probes (default VISUAL_SEARCH['HEALTH_TIMEOUT']).")
        parser.add_argument("--json", action="store_true", dest="as_json", help="Print one JSON object.")

    def handle(self, *args: Any, deep: bool, workers: bool, timeout: float | None, as_json: bool,
               **options: Any) -> None:
        health = run_checks(deep=deep, workers=workers, timeout=timeout)
        if as_json:
            self.stdout.write(json.dumps(health.as_dict(), indent=2, sort_keys=True, default=str))
        else:
            width = max(len(check.name) for check in health.checks)
            for check in health.checks:
                verdict = self.style.SUCCESS("ok  ") if check.ok else self.style.ERROR("FAIL")
                self.stdout.write(f"{check.name:<{width}}  {verdict}  {check.detail}")
        if not health.healthy:
            raise CommandError("unhealthy: " + "; ".join(health.reasons))
