from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from shop.catalogue import DEMO_PHOTOS, CatalogueError, import_demo_photos, import_folder
from shop.models import Category, Product


class Command(BaseCommand):
    help = "Fill an empty catalogue with demo products: the committed photos, or a --source folder."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--source",
            type=Path,
            default=None,
            metavar="DIR",
            help=f"Folder with one sub-folder per category (default: the photos in {DEMO_PHOTOS.name}/).",
        )
        parser.add_argument(
            "--per-category", type=int, default=None, metavar="N", help="At most N products per category."
        )
        parser.add_argument(
            "--force", action="store_true", help="Import even if the catalogue already has products."
        )

    def handle(self, *args, source: Path | None, per_category: int | None, force: bool, **options) -> None:
        existing = Product.objects.count()
        if existing and not force:
            self.stdout.write(
                f"The catalogue already has {existing} products; skipping (use --force to import anyway)."
            )
            return
        self.stdout.write(f"Importing products from {source or DEMO_PHOTOS}...")
        try:
            if source is not None:
                created = import_folder(source, per_category, log=self._progress, warn=self.stderr.write)
            else:
                created = import_demo_photos(per_category=per_category, log=self._progress)
        except CatalogueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"Created {created} products; the catalogue now has {Product.objects.count()} "
                f"products in {Category.objects.count()} categories."
            )
        )

    def _progress(self, message: str) -> None:
        self.stdout.write(f"  {message}")
