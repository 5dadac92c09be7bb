"""Create (or rebuild) the configured encoder's HNSW index."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from visual_search.encoders import get_encoder
from visual_search.indexing.vector_index import drop_hnsw_index, ensure_hnsw_index, index_name


class Command(BaseCommand):
    help = "Ensure the configured encoder has its partial HNSW index (migrate also does this)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--concurrently", action="store_true",
            help="CREATE INDEX CONCURRENTLY: slower, but writes to the table go on while it builds.",
        )
        parser.add_argument(
            "--rebuild", action="store_true",
            help="Drop the index first, e.g. after changing HNSW_M or HNSW_EF_CONSTRUCTION "
                 "(searches scan every row until the new index is built).",
        )

    def handle(self, *args: Any, concurrently: bool = False, rebuild: bool = False, **options: Any) -> None:
        encoder = get_encoder()
        name = index_name(encoder.id, encoder.dimensions)
        try:
            if rebuild:
                drop_hnsw_index(encoder.id, encoder.dimensions, concurrently=concurrently)
            created = ensure_hnsw_index(encoder.id, encoder.dimensions, concurrently=concurrently)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        if created:
            self.stdout.write(self.style.SUCCESS(
                f"Created HNSW index {name} for {encoder.id} ({encoder.dimensions} dimensions)."
            ))
        else:
            self.stdout.write(f"HNSW index {name} for {encoder.id} already exists.")
