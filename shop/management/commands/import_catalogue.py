from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from shop.catalogue import CatalogueError, import_folder


class Command(BaseCommand):
    help = "Import products from DIR/<category>/*.jpg (or DIR/<split>/<category>/*.jpg); safe to re-run."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("directory", type=Path, help="Folder with one sub-folder per category.")
        parser.add_argument(
            "--per-category",
            type=int,
            default=None,
            metavar="N",
            help="Import at most N images per category.",
        )

    def handle(self, *args, directory: Path, per_category: int | None, **options) -> None:
        try:
            created = import_folder(directory, per_category, log=self.stdout.write, warn=self.stderr.write)
        except CatalogueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(f"Imported {created} new products from {directory}."))
