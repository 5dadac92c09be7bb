"""Show how much of the catalogue is embedded under the configured encoder."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from visual_search.encoders import get_encoder
from visual_search.indexing import encoder_switch, jobs
from visual_search.indexing.progress import catalogue_progress
from visual_search.indexing.vector_index import index_exists, index_name
from visual_search.models import BulkJob, SyncRequest


class Command(BaseCommand):
    help = ("Print embedding progress for the configured encoder, whether its HNSW index exists, the work owed "
            "and the running bulk jobs.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", dest="as_json",
                            help="Print one JSON object instead of a table.")

    def handle(self, *args: Any, as_json: bool = False, **options: Any) -> None:
        encoder = get_encoder()
        progress = catalogue_progress(encoder)
        has_index = index_exists(encoder.id, encoder.dimensions)
        running = jobs.jobs_progress(BulkJob.objects.filter(state__in=jobs.ACTIVE_STATES))
        owed = SyncRequest.objects.count()
        serving_encoder = encoder_switch.serving_encoder(record=False)
        serving = serving_encoder.id
        calibration = _calibration(serving_encoder)
        if as_json:
            data = {**progress.as_dict(), "dimensions": encoder.dimensions,
                    "hnsw_index": index_name(encoder.id, encoder.dimensions), "hnsw_index_exists": has_index,
                    "owed": owed, "search_encoder": serving, "jobs": [job.as_dict() for job in running],
                    "calibration": calibration}
            self.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str))
            return
        lines = [
            ("Encoder", f"{encoder.id} v{encoder.version} ({encoder.dimensions} dimensions)"),
            ("Searchable products", progress.total),
            ("Ready", f"{progress.ready} ({progress.percent_ready}%)"),
            ("With pending images", progress.pending),
            ("With failed images", progress.failed),
            ("Without images (done)", progress.no_images),
            ("Not embedded", progress.not_embedded),
            ("Outstanding", progress.outstanding),
            ("Image rows", ", ".join(f"{n} {status}" for status, n in progress.rows.items())),
            ("Stale rows (older version)", progress.stale_rows),
            ("HNSW index", "present" if has_index else "missing (run visual_search_index)"),
            ("Work owed", f"{owed} products"),
            ("Searches answer from", serving if serving == encoder.id else f"{serving} (switch pending: "
                                                                           "visual_search_encoder status)"),
            ("Confidence", f"calibrated {calibration['created_at']:%Y-%m-%d %H:%M} on {calibration['products']} "
                           f"products, floor {calibration['floor']:.3f}" if calibration else
                           "not calibrated (run visual_search_calibrate; bulk jobs do it by themselves)"),
        ]
        lines += [(f"Job #{job.id}", f"{job.mode} {job.state}: {job.processed}/{job.total} done, {job.failed} "
                                     f"failed, {job.remaining} left, time left {job.time_left}") for job in running]
        width = max(len(label) for label, _ in lines)
        for label, value in lines:
            self.stdout.write(f"{label:<{width}}  {value}")
        if not has_index:
            self.stdout.write(self.style.WARNING("Searches scan every vector until the index exists."))


def _calibration(encoder) -> dict[str, Any] | None:
    """The latest calibration of the encoder searches answer from, as status shows it."""
    from visual_search.models import Calibration  # noqa: PLC0415

    row = (Calibration.objects.filter(encoder=encoder.id, encoder_version=encoder.version)
           .order_by("-created_at", "-pk").first())
    if row is None:
        return None
    return {"created_at": row.created_at, "products": row.products, "floor": row.floor,
            "expected_calibration_error": row.expected_calibration_error}
