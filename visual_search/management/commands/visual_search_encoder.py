"""Follow and finish an encoder switch: ``status``, ``switch`` (searches use the configured encoder now), ``prune OLD_ID``."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from visual_search.encoders import get_encoder
from visual_search.indexing import encoder_switch
from visual_search.indexing.encoder_switch import get_search_encoder
from visual_search.models import ProductImageEmbedding, StoredEncoder


class Command(BaseCommand):
    help = (
        "Encoder switch without downtime. status: which encoder serves searches and how far the configured "
        "one covers the catalogue; switch: serve searches from the configured encoder now; "
        "prune OLD_ID: delete an old encoder's vectors and HNSW index."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        status = sub.add_parser("status", help="Which encoder serves searches, and the switch's coverage.")
        status.add_argument("--json", action="store_true", dest="as_json")
        sub.add_parser("switch", help="Serve searches from the configured encoder now, covered or not.")
        prune = sub.add_parser("prune", help="Delete an old encoder's vectors and index.")
        prune.add_argument("encoder_id", metavar="OLD_ID")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        getattr(self, f"_{action}")(**options)

    def _status(self, as_json: bool = False, **options: Any) -> None:
        configured, serving = get_encoder(), get_search_encoder()
        cover = encoder_switch.coverage(configured, serving.id)
        stored = {
            s.encoder: ProductImageEmbedding.objects.filter(encoder=s.encoder).count()
            for s in StoredEncoder.objects.order_by("created_at")
        }
        if as_json:
            self.stdout.write(json.dumps({**cover.as_dict(), "stored_rows": stored}, indent=2, sort_keys=True))
            return
        self.stdout.write(f"Configured encoder: {configured.id} v{configured.version}")
        self.stdout.write(f"Searches answer from: {serving.id}")
        if cover.serving != cover.encoder:
            self.stdout.write(
                f"Switch pending: {cover.percent}% of {cover.products_with_old_vectors} products covered, "
                f"{cover.not_covered} not yet, {cover.owed} with work owed"
                f"{'' if cover.indexed else ', no HNSW index yet (run visual_search_index)'}. Searches switch by "
                "themselves once it is complete (run visual_search_reembed to build the rest), or now with `switch`."
            )
        for encoder_id, rows in stored.items():
            self.stdout.write(f"  {encoder_id}: {rows} rows")

    def _switch(self, **options: Any) -> None:
        encoder = get_encoder()
        if encoder_switch.switch_to(encoder):
            self.stdout.write(self.style.SUCCESS(f"Searches now answer from {encoder.id}."))
        else:
            self.stdout.write(f"Searches already answer from {encoder.id}.")

    def _prune(self, encoder_id: str, **options: Any) -> None:
        try:
            deleted = encoder_switch.prune(encoder_id)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(f"Deleted {deleted} rows of encoder {encoder_id} and its HNSW index."))
