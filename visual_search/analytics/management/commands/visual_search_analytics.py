"""``visual_search_analytics export-manifest FILE`` and ``visual_search_analytics purge``."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_date

from visual_search.analytics.manifest import export_manifest, purge


class Command(BaseCommand):
    help = "Export clicked searches as an evaluation/training manifest, or purge searches past the retention."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        export = sub.add_parser("export-manifest", help="Write path,label,split,product_id for evaluate/train.")
        export.add_argument("file")
        export.add_argument("--since", help="Only interactions on or after this date (YYYY-MM-DD).")
        export.add_argument("--kind", action="append", choices=["click", "basket", "purchase"],
                            help="Which interactions count as a label (repeat it; default: all three).")
        old = sub.add_parser("purge", help="Delete searches older than ANALYTICS_RETENTION_DAYS (or --days).")
        old.add_argument("--days", type=int)

    def handle(self, *args, action: str, **options):
        if action == "purge":
            deleted = purge(options.get("days"))
            self.stdout.write(f"Deleted {deleted} searches (and their clicks).")
            return
        since = options.get("since")
        if since and parse_date(since) is None:
            raise CommandError(f"--since must be a date like 2026-12-01, not {since!r}.")
        counts = export_manifest(options["file"], kinds=options.get("kind") or ("click", "basket", "purchase"),
                                 since=parse_date(since) if since else None)
        if not counts["queries"]:
            self.stderr.write("No query photos with a click yet: photo searches are only kept while "
                              "QUERY_PHOTO_RETENTION_DAYS is set.")
        self.stdout.write(f"Wrote {options['file']}: {counts['queries']} queries, {counts['catalogue']} catalogue "
                          f"photos ({counts['skipped']} clicks skipped: product gone or photo purged).")
