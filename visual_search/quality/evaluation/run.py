"""``evaluate()``: embed an evaluation set with each encoder, rank, and score, exhaustively and live."""

from __future__ import annotations

import datetime
import json
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from visual_search.encoders.base import Encoder
from visual_search.quality.evaluation import metrics
from visual_search.quality.evaluation.cache import default_cache_dir, embed_paths
from visual_search.quality.evaluation.dataset import EvaluationSet, load_evaluation_set
from visual_search.quality.suggest import vote

__all__ = ["EncoderRun", "Evaluation", "evaluate", "resolve_encoder"]

#: Short names for ``--encoder``; anything else is a dotted path, optionally ``path:{"json": "options"}``.
ALIASES = ("configured", "zero-shot", "color-histogram")
DEFAULT_ENCODERS = ("configured", "zero-shot", "color-histogram")
PR_POINTS = 21
CURVE_K = 20  # Recall@K is plotted for K = 1..20 (live: up to what the queries fetched)


@dataclass
class EncoderRun:
    """Metrics of one encoder through one path (``exhaustive`` or ``live``); rankings kept for the report."""

    role: str
    encoder: Encoder
    path: str
    metrics: dict[str, float]
    suggestion: dict[str, Any]
    recall_curve: list[float]
    pr_curve: dict[str, list] | None
    timing: dict[str, Any]
    rankings: np.ndarray = field(repr=False)
    similarities: np.ndarray = field(repr=False)
    predicted: list[Any] = field(repr=False)
    #: Confidence as a shop would see it (calibrated on the catalogue alone) against whether the best result is
    #: a hit: ``floor``, ``expected_calibration_error``, ``reliability`` rows; None when it cannot be fitted.
    calibration: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "role": self.role, "encoder": self.encoder.id, "encoder_version": self.encoder.version,
            "path": self.path, "metrics": self.metrics, "category_suggestion": self.suggestion,
            "recall_curve": self.recall_curve, "precision_recall_curve": self.pr_curve, "timing": self.timing,
            "calibration": self.calibration,
        }


@dataclass
class Evaluation:
    """Everything one ``evaluate()`` call measured, and the configuration it measured it under."""

    dataset: EvaluationSet
    configuration: dict[str, Any]
    runs: list[EncoderRun]

    def as_dict(self) -> dict[str, Any]:
        data = self.dataset
        return {
            "dataset": {
                "name": data.name, "layout": data.layout, "queries": len(data.queries),
                "catalogue_photos": len(data.catalogue), "catalogue_products": len(data.products),
                "labels": data.labels, "leave_one_out": data.leave_one_out,
            },
            "configuration": self.configuration,
            "random_ranking": random_ranking(data, self.configuration["ks"]),
            "runs": [run.as_dict() for run in self.runs],
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2, default=str)


def resolve_encoder(spec: str) -> tuple[str, Encoder]:
    """``(role, encoder)`` for an alias in ``ALIASES`` or ``dotted.Path`` / ``dotted.Path:{json options}``."""
    from visual_search.conf import DEFAULTS  # noqa: PLC0415
    from visual_search.encoders import get_encoder, load_encoder  # noqa: PLC0415

    if spec == "configured":
        return spec, get_encoder()
    if spec == "zero-shot":
        return spec, load_encoder(DEFAULTS["ENCODER"]["BACKEND"], DEFAULTS["ENCODER"]["OPTIONS"])
    if spec == "color-histogram":
        return spec, load_encoder("visual_search.encoders.color_histogram.ColorHistogramEncoder")
    backend, _, options = spec.partition(":")
    return backend.rsplit(".", 1)[-1], load_encoder(backend, json.loads(options) if options else {})


def _score(
    data: EvaluationSet, rankings: np.ndarray, similarities: np.ndarray, ks: Sequence[int], vote_k: int,
    n_relevant: np.ndarray, product_labels: np.ndarray,
) -> tuple[dict[str, float], dict[str, Any], list[float], list[Any]]:
    relevant = data.relevance(rankings)
    scores: dict[str, float] = {}
    for k in ks:
        scores[f"recall@{k}"] = metrics.recall_at(relevant, k)
    for k in ks:
        scores[f"precision@{k}"] = metrics.precision_at(relevant, k)
        scores[f"map@{k}"] = metrics.average_precision_at(relevant, n_relevant, k)
    curve = [metrics.recall_at(relevant, k) for k in range(1, min(CURVE_K, rankings.shape[1]) + 1)]
    predicted = []
    for row, sims in zip(rankings[:, :vote_k], similarities[:, :vote_k]):
        predicted.append(vote([product_labels[i] if i >= 0 else None for i in row], sims)[0])
    truth = [s.label for s in data.queries]
    report = metrics.classification_report(truth, predicted, data.labels)
    # The baseline a vote must beat: always answer the catalogue's most common label.
    values, counts = np.unique(product_labels, return_counts=True)
    report["majority_label"] = str(values[counts.argmax()])
    report["majority_accuracy"] = float(np.mean([t == report["majority_label"] for t in truth]))
    report["neighbours"] = vote_k
    return scores, report, curve, predicted


def random_ranking(data: EvaluationSet, ks: Sequence[int]) -> dict[str, float]:
    """The expected Recall@K and Precision@K of a ranking drawn at random: the baseline any encoder must beat.

    With N candidate products (the query's own left out in leave-one-out) of which R are hits,
    P(a hit in the top K) = 1 - C(N - R, K) / C(N, K), and a random top K holds R / N hits on average.
    """
    n_relevant = data.relevant_counts().astype(np.float64)
    candidates = float(len(data.products) - (1 if data.leave_one_out else 0))
    out: dict[str, float] = {}
    for k in ks:
        miss = np.ones_like(n_relevant)
        for i in range(min(int(k), int(candidates))):
            miss *= np.clip(candidates - n_relevant - i, 0, None) / (candidates - i)
        out[f"recall@{k}"] = float(np.mean(1.0 - miss))
    for k in ks:
        out[f"precision@{k}"] = float(np.mean(n_relevant / max(candidates, 1.0)))
    return out


def _calibration(data: EvaluationSet, catalogue: np.ndarray, similarities: np.ndarray, hits: np.ndarray):
    """Fit the shop's calibration on the catalogue alone (labels as its categories) and read it on the queries."""
    from visual_search.quality.calibration import (  # noqa: PLC0415
        CalibrationError,
        expected_calibration_error,
        fit_calibration,
        reliability,
    )

    try:
        fit = fit_calibration(catalogue, [str(p) for p in data.product_of], [s.label for s in data.catalogue])
    except CalibrationError:
        return None
    confidence = fit.calibrator.confidence(similarities[:, 0])
    return {"floor": fit.calibrator.floor, "expected_calibration_error": expected_calibration_error(confidence, hits),
            "reliability": reliability(confidence, hits), "below_floor": float(np.mean(similarities[:, 0] < fit.calibrator.floor)),
            "fitted_on": fit.queries}


def _environment(live_alias: str | None) -> dict[str, Any]:
    import django  # noqa: PLC0415

    from visual_search.conf import vs_settings  # noqa: PLC0415

    env = {
        "python": platform.python_version(), "django": django.get_version(), "numpy": np.__version__,
        "machine": platform.machine(), "started_at": datetime.datetime.now(datetime.UTC).isoformat(),
    }
    if live_alias:
        from django.db import connections  # noqa: PLC0415

        with connections[live_alias].cursor() as cursor:
            cursor.execute(
                "SELECT current_setting('server_version'), extversion FROM pg_extension WHERE extname = 'vector'"
            )
            env["postgresql"], env["pgvector"] = cursor.fetchone()
        env["scratch_database"] = connections[live_alias].settings_dict["NAME"]
        env["hnsw"] = {"m": vs_settings.HNSW_M, "ef_construction": vs_settings.HNSW_EF_CONSTRUCTION,
                       "ef_search": vs_settings.HNSW_EF_SEARCH}
    return env


def evaluate(
    source: str | Path | EvaluationSet,
    *,
    encoders: Sequence[str] = DEFAULT_ENCODERS,
    live: bool = False,
    exhaustive: bool = True,
    ks: Sequence[int] = (1, 5, 10),
    vote_k: int = 10,
    cache_dir: str | Path | None = None,
    leave_one_out: bool = False,
    label_depth: int | None = None,
    using: str = "default",
    progress: Callable[[str], None] | None = None,
) -> Evaluation:
    """Score each encoder on ``source`` (a folder, a CSV manifest or an ``EvaluationSet``).

    ``exhaustive`` ranks the whole catalogue with numpy; ``live`` ranks it through
    pgvector in a scratch database beside ``using``'s. See ``dataset`` for the layouts.
    """
    started = datetime.datetime.now(datetime.UTC)
    clock = time.perf_counter()
    data = source if isinstance(source, EvaluationSet) else load_evaluation_set(
        source, leave_one_out=leave_one_out, label_depth=label_depth)
    say = progress or (lambda message: None)
    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
    ks = sorted({int(k) for k in ks})
    depth = max(max(ks), vote_k, CURVE_K)
    n_relevant = data.relevant_counts()
    product_labels = np.array(data.product_labels(), dtype=object)
    exclude = data.excluded_products()
    resolved: dict[str, tuple[str, Encoder]] = {}
    for spec in encoders:  # the same encoder under two names is measured once, under both names
        role, encoder = resolve_encoder(spec)
        key = f"{encoder.id}@{encoder.version}"
        resolved[key] = (f"{resolved[key][0]} = {role}", encoder) if key in resolved else (role, encoder)
    embedded = {}
    for key, (role, encoder) in resolved.items():
        say(f"{encoder.id}: embedding {len(data.catalogue)} catalogue + {len(data.queries)} query photos")
        paths = [s.path for s in data.catalogue] + ([] if data.leave_one_out else [s.path for s in data.queries])
        embedded[key] = embed_paths(
            encoder, paths, cache_dir,
            progress=lambda done, total, name=encoder.id: say(f"  {name}: {done}/{total} new"),
        )

    runs: list[EncoderRun] = []

    def add(role, encoder, path, rankings, sims, timing, pr_curve=None):
        scores, report, curve, predicted = _score(data, rankings, sims, ks, vote_k, n_relevant, product_labels)
        catalogue = embedded[f"{encoder.id}@{encoder.version}"].vectors[: len(data.catalogue)]
        calibration = _calibration(data, catalogue, sims, data.relevance(rankings[:, :1])[:, 0].astype(float))
        runs.append(EncoderRun(role, encoder, path, scores, report, curve, pr_curve, timing, rankings, sims, predicted,
                               calibration))

    for key, (role, encoder) in resolved.items():
        vectors = embedded[key].vectors
        catalogue = vectors[: len(data.catalogue)]
        queries = catalogue if data.leave_one_out else vectors[len(data.catalogue):]
        # An adapted encoder embeds through its base: the time is its base's, however it is listed.
        timing = {"embedded_now": embedded[key].embedded, "embed_seconds": round(embedded[key].seconds, 2),
                  "embedded_by": getattr(encoder, "base", encoder).id}
        if exhaustive:
            full, full_sims = metrics.exhaustive_rankings(queries, catalogue, data.product_of, None, exclude)
            pr = metrics.precision_recall_curve(data.relevance(full), n_relevant, PR_POINTS)
            add(role, encoder, "exhaustive", full[:, :depth], full_sims[:, :depth], timing, pr)
    live_alias = None
    if live:
        from visual_search.quality.evaluation.live import live_rankings, scratch_database  # noqa: PLC0415

        with scratch_database(using) as live_alias:
            environment = _environment(live_alias)
            for key, (role, encoder) in resolved.items():
                say(f"{encoder.id}: storing {len(data.catalogue)} rows and querying through pgvector")
                vectors = embedded[key].vectors
                catalogue = vectors[: len(data.catalogue)]
                queries = catalogue if data.leave_one_out else vectors[len(data.catalogue):]
                found = live_rankings(live_alias, encoder, catalogue, data.product_of,
                                      embedded[key].digests[: len(data.catalogue)], queries, depth, exclude)
                timing = {
                    "query_ms_p50": round(float(np.percentile(found.millis, 50)), 2),
                    "query_ms_p95": round(float(np.percentile(found.millis, 95)), 2),
                    "index_build_s": round(found.index_build_s, 2), "plan": found.plan, "plan_text": found.plan_text,
                }
                add(role, encoder, "live", found.indices, found.similarities, timing)
    else:
        environment = _environment(None)
    configuration = {
        "ks": ks, "vote_neighbours": vote_k, "ranking_depth": depth, "cache_dir": str(cache_dir),
        "exhaustive": exhaustive, "live": live,
        "encoders": [
            {"role": role, "id": enc.id, "version": enc.version, "dimensions": enc.dimensions,
             "class": f"{type(enc).__module__}.{type(enc).__qualname__}",
             "options": {k: v for k, v in vars(enc).items() if not k.startswith("_") and isinstance(v, (str, int, float, bool, type(None)))}}
            for role, enc in resolved.values()
        ],
        "relevance": "same product_id" if any(s.product_id for s in data.queries) else "same label",
        **environment,
        # When the evaluation began and how long it took (embedding included), not when the report was built.
        "started_at": started.isoformat(), "seconds": round(time.perf_counter() - clock, 2),
    }
    return Evaluation(data, configuration, runs)
