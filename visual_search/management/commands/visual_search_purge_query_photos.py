"""Delete kept query photos older than QUERY_PHOTO_RETENTION_DAYS (all of them when it is unset)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from visual_search.search import query_photos


class Command(BaseCommand):
    help = __doc__

    def handle(self, *args: Any, **options: Any) -> None:
        deleted = query_photos.purge()
        days = query_photos.retention_days()
        kept = f"kept for {days} days" if days > 0 else "not kept (QUERY_PHOTO_RETENTION_DAYS is unset)"
        self.stdout.write(
            f"Deleted {deleted} query photo{'s' if deleted != 1 else ''}; query photos are {kept}."
        )
