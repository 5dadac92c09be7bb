"""List near-duplicate products: identical image files and re-encoded copies."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from visual_search.adapters import get_adapter
from visual_search.quality.duplicates import DEFAULT_THRESHOLD, find_duplicates


class Command(BaseCommand):
    help = "List pairs of products whose images are identical or nearly so (cosine >= --threshold)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD,
                            help=f"Cosine similarity from which two images count as copies (default {DEFAULT_THRESHOLD}).")
        parser.add_argument("--neighbours", type=int, default=5, help="Nearest products checked per image (default 5).")
        parser.add_argument("--json", action="store_true", dest="as_json", help="Print a JSON list.")

    def handle(self, *args: Any, threshold: float, neighbours: int, as_json: bool, **options: Any) -> None:
        pairs = find_duplicates(threshold, neighbours)
        adapter = get_adapter()
        if as_json:
            data = [
                {"first": str(p.first.pk), "second": str(p.second.pk), "similarity": round(p.similarity, 4),
                 "exact": p.exact, "first_title": adapter.get_title(p.first), "second_title": adapter.get_title(p.second)}
                for p in pairs
            ]
            self.stdout.write(json.dumps(data, indent=2))
            return
        for p in pairs:
            kind = "identical file" if p.exact else "similar"
            self.stdout.write(f"{p.similarity:.4f}  {kind:<14}  {p.first.pk}: {adapter.get_title(p.first)}"
                              f"  <->  {p.second.pk}: {adapter.get_title(p.second)}")
        self.stdout.write(f"{len(pairs)} pair(s) at cosine >= {threshold}.")
