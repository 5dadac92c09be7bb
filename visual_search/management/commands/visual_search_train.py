"""Fit an embedding head on the shop's labelled photos and store it as a new, versioned encoder."""

from __future__ import annotations

import datetime
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
        parser.add_argument("--label-depth", type=int, default=None, metavar="N",
                            help="Label = the first N folder names under the root (default: the whole path).")
        parser.add_argument("--catalogue", default=None,
                            help="The shop's whole catalogue (folder or manifest) the guard scores per category "
                            "(default: the catalogue photos of SOURCE). Give it when SOURCE covers only part.")
        parser.add_argument("--guard-views", type=int, default=300,
                            help="Phone-like views of catalogue photos the guard adds to its queries (0: none).")
        parser.add_argument("--force", action="store_true",
                            help="Save the head even if the guard refuses it (a category loses more than 2 points "
                            "of Recall@1, or off-catalogue rejection falls).")

    def handle(self, *args: Any, **options: Any) -> None:
        from visual_search.quality.training import fit_head, held_out_check, save_head  # noqa: PLC0415

        self.verbosity = options.get("verbosity", 1)
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,40}", options["name"]):
            raise CommandError("--name may only hold letters, digits, - and _ (it becomes part of the encoder id).")
        try:
            data = load_evaluation_set(options["source"], label_depth=options["label_depth"])
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        _, base = resolve_encoder(options["base"])
        if hasattr(base, "head_path"):  # e.g. --base configured where ENCODER is already an adapted head
            raise CommandError(f"--base is {base!r}, itself an adapted head: fit on its base encoder instead "
                               "(e.g. --base zero-shot).")
        cache_dir = options["cache_dir"] or default_cache_dir()
        self.stderr.write(f"Embedding {len(data.catalogue)} catalogue photos with {base.id} (cached)...")
        catalogue = self._embed(base, [s.path for s in data.catalogue], cache_dir)
        labels = np.array([s.label for s in data.catalogue])
        fit = {k: options[k] for k in ("dimensions", "hidden", "epochs", "temperature", "mix", "seed")}
        fit["keep"] = options["keep_dims"]
        check = None
        if options["held_out_folds"]:
            queries = query_labels = None
            _, compare = resolve_encoder(options["compare"])
            reference_catalogue = self._embed(compare, [s.path for s in data.catalogue], cache_dir)
            reference = (reference_catalogue, reference_catalogue)
            if not data.leave_one_out:
                queries = self._embed(base, [s.path for s in data.queries], cache_dir)
                query_labels = np.array([s.label for s in data.queries])
                reference = (reference_catalogue, self._embed(compare, [s.path for s in data.queries], cache_dir))
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
        report = self._guard(options, base, weights, cache_dir, data)
        metadata = {
            "name": options["name"], "version": options["head_version"],
            "base": {"backend": f"{type(base).__module__}.{type(base).__qualname__}",
                     "options": _options(base), "id": base.id, "version": base.version},
            "trained_on": {"source": str(options["source"]), "photos": len(data.catalogue),
                           "products": len(data.products), "labels": sorted(set(labels.tolist())),
                           # The catalogue it was fitted for: `check` warns when it serves categories outside it.
                           "categories": sorted(set(labels.tolist())),
                           "date": datetime.datetime.now(datetime.UTC).isoformat()},
            "fit": fit, "held_out_check": check, "guard": report.as_dict(),
        }
        path = save_head(options["output"], weights, metadata, float16=options["float16"])
        path = path.resolve()
        self.stdout.write(f"Saved {path}. Serve it with ENCODER = "
                          + json.dumps({"BACKEND": "visual_search.encoders.adapted.AdaptedEncoder",
                                        "OPTIONS": {"head": str(path)}}))
        self.stdout.write("Once it serves, its confidence is calibrated on the catalogue after the re-embed "
                          "(or run manage.py visual_search_calibrate).")

    def _embed(self, encoder, paths, cache_dir) -> np.ndarray:
        """``embed_paths`` with a progress bar over the photos not yet in the cache."""
        from tqdm import tqdm  # noqa: PLC0415

        with tqdm(total=0, unit="photo", desc=f"Embedding with {encoder.id}", file=getattr(self.stderr, "_out", None),
                  disable=self.verbosity < 1, dynamic_ncols=True) as bar:
            def progress(done: int, total: int) -> None:
                bar.total = total
                bar.n = done
                bar.refresh()

            return embed_paths(encoder, paths, cache_dir, progress=progress).vectors

    def _guard(self, options, base, weights, cache_dir, data):
        """Score the whole catalogue per category with and without the head; refuse it unless --force."""
        from visual_search.images import open_image  # noqa: PLC0415
        from visual_search.quality.phone_views import embed_views  # noqa: PLC0415
        from visual_search.quality.training import apply_head  # noqa: PLC0415
        from visual_search.quality.training_guard import guard  # noqa: PLC0415

        whole = data
        if options["catalogue"]:
            try:
                whole = load_evaluation_set(options["catalogue"], label_depth=options["label_depth"])
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
        paths = [s.path for s in whole.catalogue]
        frozen = self._embed(base, paths, cache_dir)
        frozen_views = adapted_views = sources = None
        if options["guard_views"] > 0:
            self.stderr.write(f"Guard: {options['guard_views']} phone-like views of the catalogue...")
            images = [open_image(Path(p).read_bytes(), target_size=base.decode_size) for p in paths]
            frozen_views, sources = embed_views(images, base.embed, options["guard_views"], seed=options["seed"])
            adapted_views = apply_head(weights, frozen_views)
        report = guard(frozen, apply_head(weights, frozen), [s.label for s in whole.catalogue],
                       frozen_views=frozen_views, adapted_views=adapted_views, view_sources=sources)
        self.stdout.write(f"Guard over the whole catalogue ({len(paths)} photos), per category:")
        self.stdout.write(report.table())
        if not report.passed:
            message = "The head costs the catalogue: " + "; ".join(report.problems) + "."
            if not options["force"]:
                raise CommandError(message + " Not saved; --force saves it anyway.")
            self.stderr.write(self.style.WARNING(message + " Saved anyway (--force)."))
        return report


def _options(encoder) -> dict[str, Any]:
    """The constructor options of the stock backends, read back from the instance."""
    names = ("variant", "pooling", "grid", "weights_path", "model", "input_size", "weights", "path", "preprocess")
    return {name: getattr(encoder, name) for name in names if getattr(encoder, name, None) is not None
            and name != "input_size"}
