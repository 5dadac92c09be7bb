"""Fit an embedding head on the shop's labelled photos and store it as a new, versioned encoder."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
from django.core.management.base import BaseCommand, CommandError, CommandParser

from visual_search.quality.evaluation import load_evaluation_set
from visual_search.quality.evaluation.cache import default_cache_dir, embed_paths
from visual_search.quality.evaluation.run import resolve_encoder


class Command(BaseCommand):
    help = (
        "Fit a small head on frozen encoder features using the labels of a photo folder or manifest "
        "(catalogue photos only: queries are never trained on), run the held-out-labels check, and save "
        "it for visual_search.encoders.adapted.AdaptedEncoder."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("source", help="Folder or CSV manifest, as for visual_search_evaluate.")
        parser.add_argument("--output", type=Path, required=True, help="Where to write the head (.npz).")
        parser.add_argument("--name", default="adapted", help="Encoder id suffix (letters, digits, - and _).")
        parser.add_argument("--head-version", default="1", help="Stored as the encoder's version.")
        parser.add_argument("--base", default="configured", help="Base encoder spec (as --encoder of evaluate).")
        parser.add_argument("--dimensions", type=int, default=256)
        parser.add_argument("--hidden", type=int, default=0, help="Width of a hidden ReLU layer (0: linear head).")
        parser.add_argument("--epochs", type=int, default=60)
        parser.add_argument("--temperature", type=float, default=0.05)
        parser.add_argument("--mix", type=float, default=0.0,
                            help="Weight of the frozen features kept beside the projection (0: projection only).")
        parser.add_argument("--keep-dims", type=int, default=0,
                            help="With --mix: keep only the first N frozen dimensions (e.g. 1280, the global part "
                            "of a regional base; default all).")
        parser.add_argument("--compare", default="zero-shot",
                            help="Encoder spec the held-out check compares with (default zero-shot).")
        parser.add_argument("--held-out-folds", type=int, default=3,
                            help="Folds of labels for the generalisation check (0: skip).")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--float16", action="store_true",
                            help="Store the weights at half precision (half the file, e.g. to commit it).")
        parser.add_argument("--cache-dir", type=Path)

    def handle(self, *args: Any, **options: Any) -> None:
        from visual_search.quality.training import fit_head, held_out_check, save_head  # noqa: PLC0415

        if not re.fullmatch(r"[A-Za-z0-9_-]{1,40}", options["name"]):
            raise CommandError("--name may only hold letters, digits, - and _ (it becomes part of the encoder id).")
        try:
            data = load_evaluation_set(options["source"])
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        _, base = resolve_encoder(options["base"])
        if hasattr(base, "head_path"):  # e.g. --base configured where ENCODER is already an adapted head
            raise CommandError(f"--base is {base!r}, itself an adapted head: fit on its base encoder instead "
                               "(e.g. --base zero-shot).")
        cache_dir = options["cache_dir"] or default_cache_dir()
        self.stderr.write(f"Embedding {len(data.catalogue)} catalogue photos with {base.id} (cached)...")
        catalogue = embed_paths(base, [s.path for s in data.catalogue], cache_dir).vectors
        labels = np.array([s.label for s in data.catalogue])
        fit = {k: options[k] for k in ("dimensions", "hidden", "epochs", "temperature", "mix", "seed")}
        fit["keep"] = options["keep_dims"]
        check = None
        if options["held_out_folds"]:
            queries = query_labels = None
            _, compare = resolve_encoder(options["compare"])
            reference_catalogue = embed_paths(compare, [s.path for s in data.catalogue], cache_dir).vectors
            reference = (reference_catalogue, reference_catalogue)
            if not data.leave_one_out:
                queries = embed_paths(base, [s.path for s in data.queries], cache_dir).vectors
                query_labels = np.array([s.label for s in data.queries])
                reference = (reference_catalogue, embed_paths(compare, [s.path for s in data.queries], cache_dir).vectors)
            self.stderr.write(f"Held-out check: {options['held_out_folds']} folds of labels...")
            check = held_out_check(catalogue, labels, queries, query_labels, folds=options["held_out_folds"],
                                   reference=reference, **fit)
            check["compared_with"] = compare.id
            self.stdout.write(
                f"Held-out labels, Recall@1: {compare.id} {100 * check['recall@1_frozen']:.1f}, adapted "
                f"{100 * check['recall@1_adapted']:.1f} ({check['change_points']:+.1f} points)."
            )
        self.stderr.write(f"Fitting on all {len(set(labels))} labels...")
        weights = fit_head(catalogue, labels, **fit)
        metadata = {
            "name": options["name"], "version": options["head_version"],
            "base": {"backend": f"{type(base).__module__}.{type(base).__qualname__}",
                     "options": _options(base), "id": base.id, "version": base.version},
            "trained_on": {"source": str(options["source"]), "photos": len(data.catalogue),
                           "labels": sorted(set(labels.tolist()))},
            "fit": fit, "held_out_check": check,
        }
        path = save_head(options["output"], weights, metadata, float16=options["float16"])
        path = path.resolve()
        self.stdout.write(f"Saved {path}. Serve it with ENCODER = "
                          + json.dumps({"BACKEND": "visual_search.encoders.adapted.AdaptedEncoder",
                                        "OPTIONS": {"head": str(path)}}))
        self.stdout.write("Its similarity floor is not calibrated yet: benchmarks/similarity_floor.py "
                          "--encoder ADAPTED_SPEC --store-floor measures and stores it.")


def _options(encoder) -> dict[str, Any]:
    """The constructor options of the stock backends, read back from the instance."""
    names = ("variant", "pooling", "grid", "weights_path", "model", "input_size", "weights", "path", "preprocess")
    return {name: getattr(encoder, name) for name in names if getattr(encoder, name, None) is not None
            and name != "input_size"}
