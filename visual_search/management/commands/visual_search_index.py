"""Create (or rebuild) the configured encoder's HNSW index, or drop it for a bulk load that builds it after.

A bulk job costs about a third less CPU without the index (docs/benchmarks.md): each
row written to an indexed table is also inserted into the HNSW graph, while one build
at the end is several times cheaper. A large job for a first load or a new encoder
does this by itself (``BULK_DEFER_INDEX_MIN``, ``indexing/deferred_index.py``); by
hand: ``--drop``, run the re-embed, then ``visual_search_index`` builds the index once
(and the automatic switch, which waits for the index, happens after it).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from visual_search.encoders import get_encoder
from visual_search.indexing.deferred_index import read_by_searches
from visual_search.indexing.vector_index import drop_hnsw_index, ensure_hnsw_index, index_exists, index_name


class Command(BaseCommand):
    help = "Ensure the configured encoder has its partial HNSW index (migrate also does this)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--concurrently", action="store_true",
            help="CREATE INDEX CONCURRENTLY: slower, but writes to the table go on while it builds.",
        )
        parser.add_argument(
            "--drop", action="store_true",
            help="Drop the index before a large re-embed and build it after (with this command): refused "
                 "while searches answer from this encoder's vectors.",
        )
        parser.add_argument(
            "--rebuild", action="store_true",
            help="Drop the index first, e.g. after changing HNSW_M or HNSW_EF_CONSTRUCTION "
                 "(searches scan every row until the new index is built).",
        )

    def handle(
        self, *args: Any, concurrently: bool = False, rebuild: bool = False, drop: bool = False, **options: Any
    ) -> None:
        encoder = get_encoder()
        name = index_name(encoder.id, encoder.dimensions)
        if drop:
            self._drop(encoder, concurrently)
            return
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

    def _drop(self, encoder, concurrently: bool) -> None:
        if read_by_searches(encoder):
            raise CommandError(
                f"Searches answer from {encoder.id}'s vectors: without the index each would scan every row. "
                "Drop it only for a first load, or for a new encoder before searches switch to it."
            )
        if not index_exists(encoder.id, encoder.dimensions):
            self.stdout.write(f"{encoder.id} has no HNSW index.")
            return
        drop_hnsw_index(encoder.id, encoder.dimensions, concurrently=concurrently)
        self.stdout.write(self.style.SUCCESS(
            f"Dropped HNSW index {index_name(encoder.id, encoder.dimensions)} of {encoder.id}: after the "
            "re-embed, run visual_search_index to build it."
        ))
