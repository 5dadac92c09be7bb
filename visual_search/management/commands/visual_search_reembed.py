"""Re-embed the catalogue as a stored bulk job: the same jobs the admin starts, pauses and cancels."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from visual_search.encoders import get_encoder
from visual_search.indexing import jobs
from visual_search.models import BulkJob, BulkJobState


class Command(BaseCommand):
    help = (
        "Start a bulk re-embed job under the configured encoder (or join the identical one already running). "
        "Workers do the work; --wait follows it with a progress bar, --sync does it in this process."
    )

    #: Seconds between two progress polls of --wait.
    poll_interval = 1.0
    #: --wait warns once when nothing moved for this long (is a worker running?).
    stall_seconds = 60.0

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--mode", choices=jobs.MODES, default="missing",
                            help="missing: not fully embedded under the current encoder version, or owed by a "
                                 "save (default); stale: rows from an older encoder version; failed: products "
                                 "with a failed image; all: every searchable product, unchanged images skipped; "
                                 "force: every searchable product, every image re-embedded.")
        parser.add_argument("--force", action="store_true", help="Same as --mode force.")
        how = parser.add_mutually_exclusive_group()
        how.add_argument("--wait", action="store_true",
                         help="Follow the job with a progress bar until every product it selected is done.")
        how.add_argument("--sync", action="store_true",
                         help="Do the job's work in this process instead of waiting for workers.")
        parser.add_argument("--timeout", type=float, default=3600.0, metavar="S",
                            help="Give up waiting after S seconds (default 3600; with --wait or --sync).")

    def handle(self, *args: Any, mode: str, force: bool, wait: bool, sync: bool, timeout: float,
               **options: Any) -> None:
        self.show_bars = options["verbosity"] > 0
        mode = "force" if force else mode
        encoder = get_encoder()
        job, created = jobs.start_job(mode, encoder=encoder)
        if not created:
            self.stdout.write(f"Job #{job.pk} ({mode}, {encoder.id}) is already {job.state}: joining it, "
                              "nothing new started.")
        elif not job.total:
            self.stdout.write(self.style.SUCCESS(job.message))
        else:
            self.stdout.write(self.style.SUCCESS(
                f"Started job #{job.pk}: {job.total} products to re-embed (mode {mode}, encoder {encoder.id} "
                f"v{encoder.version})."
            ))
            if job.message:
                self.stdout.write(job.message)
        if (wait or sync) and job.state in jobs.ACTIVE_STATES:
            self._follow(job, timeout, in_process=sync)

    def _bar(self, **kwargs: Any) -> tqdm:
        # tqdm draws with "\r"; Django's OutputWrapper would append a newline to every update.
        return tqdm(file=getattr(self.stderr, "_out", self.stderr), disable=not self.show_bars,
                    dynamic_ncols=True, **kwargs)

    def _follow(self, job: BulkJob, timeout: float, *, in_process: bool) -> None:
        """Show the job's progress until it ends; with ``in_process``, do its work here meanwhile."""
        from visual_search.indexing.tasks import drain_owed  # noqa: PLC0415 - Celery stays out unless needed

        start = last_move = time.monotonic()
        warned = False
        last = -1
        desc = "Embedding" if in_process else "Waiting for workers"
        with self._bar(total=job.total, unit="product", desc=desc) as bar:
            while True:
                job.refresh_from_db()
                progress = jobs.job_progress(job)
                bar.n = progress.processed
                bar.set_postfix(done=progress.done, failed=progress.failed, state=progress.state, refresh=False)
                bar.refresh()
                now = time.monotonic()
                if progress.processed != last:
                    last, last_move = progress.processed, now
                if not progress.active:
                    break
                if now - start > timeout:
                    raise CommandError(f"Timed out after {timeout:.0f} s: job #{job.pk} has {progress.remaining} "
                                       f"products left ({progress.state}). It goes on; run this again to follow it.")
                if in_process and job.state != BulkJobState.PAUSED:
                    if not any(drain_owed(seconds=self.poll_interval * 5).values()):
                        time.sleep(self.poll_interval)  # what is left is in backoff or claimed elsewhere
                    continue
                if not warned and now - last_move > self.stall_seconds:
                    warned = True
                    hint = "it is paused" if job.state == BulkJobState.PAUSED else \
                        "is a worker running? (manage.py visual_search_health)"
                    self.stderr.write(self.style.WARNING(
                        f"No progress for {self.stall_seconds:.0f} s with {progress.remaining} products left: {hint}"
                    ))
                time.sleep(self.poll_interval)
        elapsed = time.monotonic() - start
        style = self.style.WARNING if progress.failed or progress.state != BulkJobState.FINISHED else self.style.SUCCESS
        self.stdout.write(style(
            f"Job #{job.pk} {progress.state}: {progress.processed} of {progress.total} products done "
            f"({progress.done} done, {progress.failed} with failed images) in {elapsed:.1f} s."
        ))
