"""Send drain tasks for work owed that nobody is working on (what the Celery beat entry runs every 5 s)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from visual_search.indexing import outbox
from visual_search.indexing.tasks import sweep_now
from visual_search.models import SyncRequest


class Command(BaseCommand):
    help = (
        "Re-send work owed whose task was lost (broker outage, killed worker): products whose worker's "
        "lease expired, or that waited SYNC_SWEEP_AFTER seconds with no worker busy. Celery beat runs "
        "the same sweep every 5 s (task visual_search.sweep); use this from cron without beat."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        owed, due = SyncRequest.objects.count(), outbox.due_count()
        sent = sweep_now()
        self.stdout.write(
            f"{owed} products owe work; {due} with nobody working on them; {sent} drain task(s) sent."
        )
        if due and not sent:
            self.stderr.write("The broker did not take the tasks; the work stays owed. Is the broker up?")
