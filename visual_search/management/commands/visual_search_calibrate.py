"""Learn from the catalogue itself how similar a real match is: the calibrated confidence searches report."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = (
        "Fit the similarity -> confidence mapping of the encoder serving searches on this catalogue, with no "
        "labels: phone-like views and leave-one-out queries of its own images as matches, leave-one-category-out "
        "queries as things the shop does not sell. Also runs by itself after every bulk job and encoder switch."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--views", type=int, default=None,
                            help="Phone-like views to embed (default CALIBRATION_VIEWS; 0: stored vectors only).")
        parser.add_argument("--max-images", type=int, default=None,
                            help="Most catalogue images read (default CALIBRATION_MAX_IMAGES).")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--configured", action="store_true",
                            help="Calibrate the configured encoder (say, before it takes over searches) instead.")

    def handle(self, *args: Any, **options: Any) -> None:
        from visual_search.encoders import get_encoder  # noqa: PLC0415
        from visual_search.indexing.encoder_switch import serving_encoder  # noqa: PLC0415
        from visual_search.quality.calibration import CalibrationError, calibrate  # noqa: PLC0415

        if options["views"] is not None and options["views"] < 0:
            raise CommandError("--views cannot be negative.")
        encoder = get_encoder() if options["configured"] else serving_encoder()
        try:
            row = calibrate(encoder, views=options["views"], max_images=options["max_images"], seed=options["seed"],
                            progress=self.stderr.write)
        except CalibrationError as exc:
            raise CommandError(str(exc)) from exc
        details = row.details
        self.stdout.write(self.style.SUCCESS(
            f"Calibrated {row.encoder} v{row.encoder_version} on {row.products} products ({row.images} images, "
            f"{row.categories} categories, {details.get('views', 0)} phone-like views) in {details.get('seconds')} s."
        ))
        ece = row.expected_calibration_error
        self.stdout.write(f"Floor (confidence 0.5): {row.floor:.3f}. Expected calibration error on held-out "
                          f"halves: {'n/a' if ece is None else f'{ece:.3f}'}.")
        self.stdout.write("Queries: " + ", ".join(f"{kind} {n}" for kind, n in details.get("queries", {}).items()))
        for kind, rate in details.get("rates", {}).items():
            self.stdout.write(f"  {kind}: {100 * rate:.1f}%")
        self.stdout.write("| confidence bin | mean confidence | observed precision | share |")
        for r in details.get("reliability", []):
            self.stdout.write(f"| {r['low']:.1f}-{r['high']:.1f} | {r['confidence']:.3f} | {r['precision']:.3f} | "
                              f"{r['share']:.3f} |")
