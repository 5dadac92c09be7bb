"""Show how much of the catalogue is embedded under the configured encoder."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from visual_search.encoders import get_encoder
from visual_search.progress import catalogue_progress
from visual_search.vector_index import index_exists, index_name


class Command(BaseCommand):
    help = "Print embedding progress for the configured encoder and whether its HNSW index exists."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", dest="as_json",
                            help="Print one JSON object instead of a table.")

    def handle(self, *args: Any, as_json: bool = False, **options: Any) -> None:
        encoder = get_encoder()
        progress = catalogue_progress(encoder)
        has_index = index_exists(encoder.id, encoder.dimensions)
        if as_json:
            data = {**progress.as_dict(), "dimensions": encoder.dimensions,
                    "hnsw_index": index_name(encoder.id, encoder.dimensions), "hnsw_index_exists": has_index}
            self.stdout.write(json.dumps(data, indent=2, sort_keys=True))
            return
        lines = [
            ("Encoder", f"{encoder.id} v{encoder.version} ({encoder.dimensions} dimensions)"),
            ("Searchable products", progress.total),
            ("Ready", f"{progress.ready} ({progress.percent_ready}%)"),
            ("With pending images", progress.pending),
            ("With failed images", progress.failed),
            ("Not embedded", progress.not_embedded),
            ("Outstanding", progress.outstanding),
            ("Image rows", ", ".join(f"{n} {status}" for status, n in progress.rows.items())),
            ("Stale rows (older version)", progress.stale_rows),
            ("HNSW index", "present" if has_index else "missing (run visual_search_index)"),
        ]
        width = max(len(label) for label, _ in lines)
        for label, value in lines:
            self.stdout.write(f"{label:<{width}}  {value}")
        if not has_index:
            self.stdout.write(self.style.WARNING("Searches scan every vector until the index exists."))

