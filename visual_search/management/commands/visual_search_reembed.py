"""Re-embed the catalogue: queue Celery tasks (default), or embed here with ``--sync``."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from tqdm import tqdm

from visual_search.adapters import get_adapter
from visual_search.bulk import (
    MODES, queue_catalogue, reembed_in_process, reset_failed, select_products, task_count,
)
from visual_search.encoders import get_encoder
from visual_search.indexing import SyncResult
from visual_search.models import ProductImageEmbedding
from visual_search.progress import CatalogueProgress, catalogue_progress


NOTHING_TO_DO = "Nothing to re-embed: every selected product is up to date."


class Command(BaseCommand):
    help = (
        "Re-embed product images under the configured encoder. By default queues Celery tasks "
        "for products that are not fully embedded; --sync embeds in this process instead."
    )

    #: Seconds between two progress polls of --wait.
    poll_interval = 1.0
    #: With no pending rows left, --wait stops after this long without any change: the rest
    #: are products that have no images, or nothing is consuming the queue.
    stall_seconds = 60.0

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--mode", choices=MODES, default="missing",
                            help="missing: not fully embedded under the current encoder version (default); "
                                 "failed: products with a failed image; all: every searchable product.")
        parser.add_argument("--force", action="store_true",
                            help="Re-embed images even if their bytes and encoder version are unchanged.")
        parser.add_argument("--batch-size", type=int, default=None, metavar="N",
                            help="Products per task or per batch (default: VISUAL_SEARCH['BATCH_SIZE']).")
        how = parser.add_mutually_exclusive_group()
        how.add_argument("--sync", action="store_true", help="Embed in this process, with a progress bar.")
        how.add_argument("--wait", action="store_true",
                         help="After queueing, follow the workers' progress until the catalogue is settled.")
        parser.add_argument("--timeout", type=float, default=3600.0, metavar="S",
                            help="Give up waiting after S seconds (default 3600; with --wait).")

    def handle(self, *args: Any, mode: str, force: bool, sync: bool, wait: bool, batch_size: int | None,
               timeout: float, **options: Any) -> None:
        if batch_size is not None and batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        self.show_bars = options["verbosity"] > 0
        encoder = get_encoder()
        forced = " (forced)" if force else ""
        self.stdout.write(f"Encoder {encoder.id} v{encoder.version}, mode {mode}{forced}.")
        if sync:
            self._sync(mode, force, batch_size)
            return
        started = timezone.now()
        pks, tasks = queue_catalogue(mode, batch_size=batch_size, force=force)
        if not pks:
            self.stdout.write(self.style.SUCCESS(NOTHING_TO_DO))
        else:
            self._report_queued(len(pks), tasks, batch_size)
        if wait and pks:
            # A forced run rewrites rows that were already settled, so it also waits for their rewrite.
            self._wait(timeout, since=started if force else None, pks=None if mode == "all" else pks)

    def _bar(self, **kwargs: Any) -> tqdm:
        # tqdm draws with "\r"; Django's OutputWrapper would append a newline to every update.
        return tqdm(file=getattr(self.stderr, "_out", self.stderr), disable=not self.show_bars,
                    dynamic_ncols=True, **kwargs)

    def _sync(self, mode: str, force: bool, batch_size: int | None) -> None:
        pks = list(select_products(mode))
        if not pks:
            self.stdout.write(self.style.SUCCESS(NOTHING_TO_DO))
            return
        if mode == "failed" and not force:
            reset_failed(pks)
        with self._bar(total=len(pks), unit="product", desc="Embedding") as bar:
            def advance(chunk: list[Any], result: SyncResult) -> None:
                bar.update(len(chunk))
                bar.set_postfix(embedded=result.embedded, failed=result.failed, refresh=False)

            result = reembed_in_process(pks, batch_size=batch_size, force=force, progress_callback=advance)
        style = self.style.WARNING if result.failed else self.style.SUCCESS
        self.stdout.write(style(
            f"Done: {len(pks)} products, {result.embedded} images embedded, {result.unchanged} unchanged, "
            f"{result.failed} failed, {result.deleted} removed."
        ))
        if result.missing_products:
            self.stdout.write(f"{len(result.missing_products)} products were deleted while this ran.")

    def _report_queued(self, products: int, tasks: int, batch_size: int | None) -> None:
        expected = task_count(products, batch_size)
        self.stdout.write(self.style.SUCCESS(f"Queued {products} products in {tasks} tasks."))
        if tasks < expected:
            self.stderr.write(self.style.WARNING(
                f"{expected - tasks} of {expected} tasks could not be sent: is the broker running? "
                "Their products stay 'missing'; run this command again later."
            ))

    def _not_rewritten(self, since: datetime, pks: list[Any] | None) -> int:
        """Products with a row of the current encoder not written since ``since``."""
        rows = ProductImageEmbedding.objects.for_encoder(get_encoder()).filter(updated_at__lt=since)
        rows = rows.filter(product__in=get_adapter().get_queryset().values("pk")) if pks is None else \
            rows.filter(product_id__in=pks)
        return rows.values("product").distinct().count()

    def _wait(self, timeout: float, *, since: datetime | None, pks: list[Any] | None) -> None:
        start = last_change = time.monotonic()
        last_state: tuple | None = None
        with self._bar(total=0, unit="product", desc="Waiting for workers") as bar:
            while True:
                progress = catalogue_progress()
                left = max(progress.outstanding, self._not_rewritten(since, pks) if since else 0)
                bar.total, bar.n = progress.total, progress.total - left
                bar.set_postfix(ready=progress.ready, pending=progress.pending, failed=progress.failed,
                                refresh=False)
                bar.refresh()
                now = time.monotonic()
                state = (left, progress.pending, progress.ready, progress.failed)
                if state != last_state:
                    last_state, last_change = state, now
                if not left:
                    break
                if now - start > timeout:
                    raise CommandError(f"Timed out after {timeout:.0f} s with {left} products outstanding "
                                       f"({self._describe(progress)}).")
                if not progress.pending and now - last_change > self.stall_seconds:
                    self.stderr.write(self.style.WARNING(
                        f"No progress for {self.stall_seconds:.0f} s and nothing pending: {left} products "
                        "outstanding. Products without images never get rows; otherwise, is a worker running?"
                    ))
                    break
                time.sleep(self.poll_interval)
        self.stdout.write(self.style.SUCCESS(
            f"{progress.percent_ready}% of {progress.total} products ready ({self._describe(progress)})."
        ))

    @staticmethod
    def _describe(progress: CatalogueProgress) -> str:
        return (f"{progress.ready} ready, {progress.pending} pending, {progress.failed} with failed images, "
                f"{progress.not_embedded} not embedded")
