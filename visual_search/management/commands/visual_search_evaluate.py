"""Measure search quality on a labelled photo set: Recall@K, mAP, precision, category suggestion."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from visual_search.quality.evaluation import evaluate
from visual_search.quality.evaluation.run import ALIASES, DEFAULT_ENCODERS


class Command(BaseCommand):
    help = (
        "Evaluate retrieval on a folder (train/validation/test, or one sub-folder per label) or a CSV "
        "manifest path,label,split,product_id, against baselines; print a table, write JSON and an HTML report."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("source", help="Folder of photos or CSV manifest.")
        parser.add_argument(
            "--encoder", action="append", dest="encoders", metavar="SPEC",
            help=f"Encoder to measure, repeatable: {', '.join(ALIASES)}, or a dotted backend path with "
            f"optional JSON options (path:{{...}}). Default: {' '.join(DEFAULT_ENCODERS)}.",
        )
        parser.add_argument("--live", action="store_true",
                            help="Also rank through pgvector in a scratch database (the real SQL path).")
        parser.add_argument("--no-exhaustive", action="store_true", help="Skip the exact numpy ranking.")
        parser.add_argument("--k", nargs="+", type=int, default=[1, 5, 10], help="Cut-offs K (default 1 5 10).")
        parser.add_argument("--vote-neighbours", type=int, default=10,
                            help="Neighbours voting in category suggestion (default 10).")
        parser.add_argument("--leave-one-out", action="store_true",
                            help="Pool all photos; query each against all others.")
        parser.add_argument("--label-depth", type=int, default=None, metavar="N",
                            help="Label = the first N folder names under the root (default: the whole path).")
        parser.add_argument("--cache-dir", type=Path, help="Embedding cache folder.")
        parser.add_argument("--json", type=Path, dest="json_path", help="Write every metric and the configuration here.")
        parser.add_argument("--report", type=Path, help="Write a self-contained HTML report into this folder.")
        parser.add_argument("--database", default="default",
                            help="Database alias whose server hosts the --live scratch database.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["no_exhaustive"] and not options["live"]:
            raise CommandError("--no-exhaustive needs --live: nothing would be measured.")
        try:
            result = evaluate(
                options["source"],
                encoders=options["encoders"] or DEFAULT_ENCODERS,
                live=options["live"],
                exhaustive=not options["no_exhaustive"],
                ks=options["k"],
                vote_k=options["vote_neighbours"],
                cache_dir=options["cache_dir"],
                leave_one_out=options["leave_one_out"],
                label_depth=options["label_depth"],
                using=options["database"],
                progress=lambda message: self.stderr.write(message) if options["verbosity"] > 0 else None,
            )
        except (ValueError, OSError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(table(result))
        if options["json_path"]:
            options["json_path"].parent.mkdir(parents=True, exist_ok=True)
            options["json_path"].write_text(result.to_json() + "\n")
            self.stdout.write(f"JSON: {options['json_path']}")
        if options["report"]:
            from visual_search.quality.evaluation.report import write_report  # noqa: PLC0415 - needs matplotlib

            self.stdout.write(f"Report: {write_report(result, options['report'])}")


def table(result) -> str:
    """A table sized to its longest name (never cut): one line per encoder and path, then the baselines."""
    data = result.as_dict()
    ks = data["configuration"]["ks"]
    top = max(ks)
    columns = [f"R@{k}" for k in ks] + [f"P@{top}", f"mAP@{top}", "suggest acc", "suggest F1", "ECE"]
    names = [f"{run['encoder']} ({run['role']})" for run in data["runs"]]
    width = max([len("encoder"), len("random ranking (expected)"), *map(len, names)])
    header = f"{'encoder':<{width}} {'path':<10} " + " ".join(f"{c:>11}" for c in columns)
    lines = [
        (f"{data['dataset']['name']}: {data['dataset']['queries']} queries, "
         f"{data['dataset']['catalogue_products']} catalogue products, relevance = {data['configuration']['relevance']}"),
        header, "-" * len(header),
    ]
    for name, run in zip(names, data["runs"]):
        m, s = run["metrics"], run["category_suggestion"]
        values = [m[f"recall@{k}"] for k in ks] + [m[f"precision@{top}"], m[f"map@{top}"], s["accuracy"], s["macro"]["f1"]]
        ece = run["calibration"]["expected_calibration_error"] if run["calibration"] else None
        lines.append(f"{name:<{width}} {run['path']:<10} " + " ".join(f"{100 * v:>11.1f}" for v in values)
                     + (f" {ece:>11.3f}" if ece is not None else f" {'n/a':>11}"))
        if run["path"] == "live":
            lines[-1] += f"   plan: {run['timing']['plan']}, p50 {run['timing']['query_ms_p50']} ms"
    chance = data["random_ranking"]
    lines.append(f"{'random ranking (expected)':<{width}} {'':<10} "
                 + " ".join(f"{100 * chance[f'recall@{k}']:>11.1f}" for k in ks)
                 + f" {100 * chance[f'precision@{top}']:>11.1f}")
    lines.append("ECE: expected calibration error of the confidence a shop would see (calibrated on the catalogue "
                 "alone) against whether the best result is a hit.")
    return "\n".join(lines)
