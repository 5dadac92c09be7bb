"""Calibrated confidence per catalogue: how likely a similarity is to be a real match, learnt without labels.

The shop's own catalogue is its own test set. From the stored vectors (and a
sample of phone-like views of its images) ``fit_calibration`` builds queries
whose answer is known:

* in-catalogue queries: phone-like views of an image against the whole
  catalogue (the shopper photographed a product we sell), leave-one-image-out
  queries of products with several images (another photo of it), and
  leave-one-product-out queries (another item of a kind we sell). One counts
  as positive when its best result is the same product or the same category;
* "we do not sell this" queries: leave-one-category-out (a whole category held
  out, its images queried against the rest), always negative.

"Not sold" queries weigh ``CALIBRATION_NOT_SOLD_SHARE`` (the prior), the
in-catalogue kinds share the rest, and an isotonic regression
(pool-adjacent-violators, in numpy) maps the best result's cosine similarity to
the probability that it is a positive. The floor is where that probability
reaches one half, but never above the score that ``CALIBRATION_MISS_RATE`` of
the phone-like "another item of a kind we sell" queries fall under: where the
prior would put it higher, the prior is lowered until it does not (the mapping
shifts by a constant factor on its odds, so it stays monotone and a probability
under the prior it implies).

The content check (``fit_content_check``): how much a photo's ImageNet classes
(the network's own classifier, same pass) are the classes the catalogue's photos
show, with the threshold that ``CALIBRATION_CONTENT_MISS_RATE`` of the phone-like
views fall under. Pictures from outside the catalogue are never used.
``calibrate()`` stores the result per encoder (a ``Calibration`` row);
``current_calibrator()`` serves it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from visual_search.quality.phone_views import VIEW_KINDS, embed_views, phone_view

# What searches read lives in the search layer; re-exported here beside what fits it.
from visual_search.search.confidence import (
    CONTENT_FLOOR,
    MATCH_CONFIDENCE,
    Calibrator,
    clear_cache,
    current_calibrator,
    implied_floor,
    stored_calibrator,
)

logger = logging.getLogger(__name__)

__all__ = [
    "Calibrator", "CalibrationError", "calibrate", "current_calibrator", "expected_calibration_error",
    "fit_calibration", "isotonic", "phone_view", "reliability", "clear_cache", "stored_calibrator", "implied_floor",
    "MATCH_CONFIDENCE",
]



class CalibrationError(ValueError):
    """The catalogue cannot be calibrated (too few categories or vectors); the message says why."""


# ---------------------------------------------------------------------------- the mapping


def isotonic(x: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Weighted isotonic (non-decreasing) fit of ``y`` on ``x`` by pool-adjacent-violators.

    Returns knots ``(xs, ys)``: each pooled block's weighted mean ``x`` and its fitted value,
    both non-decreasing, for ``np.interp``.
    """
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    w = np.ones_like(x) if w is None else np.asarray(w, np.float64)
    order = np.argsort(x, kind="stable")
    x, y, w = x[order], y[order], w[order]
    # Blocks on a stack: (sum w*y, sum w*x, sum w); merge while the last two violate the order.
    wy, wx, ws = [], [], []
    for xi, yi, wi in zip(x, y, w):
        wy.append(wi * yi), wx.append(wi * xi), ws.append(wi)
        while len(ws) > 1 and wy[-2] / ws[-2] >= wy[-1] / ws[-1]:
            a, b, c = wy.pop(), wx.pop(), ws.pop()
            wy[-1] += a
            wx[-1] += b
            ws[-1] += c
    ws_ = np.array(ws)
    return np.array(wx) / ws_, np.array(wy) / ws_


def reliability(confidence: np.ndarray, outcome: np.ndarray, weight: np.ndarray | None = None,
                bins: int = 10) -> list[dict[str, float]]:
    """Reliability diagram rows: per confidence bin, mean confidence, observed precision, weight share."""
    confidence, outcome = np.asarray(confidence, np.float64), np.asarray(outcome, np.float64)
    weight = np.ones_like(confidence) if weight is None else np.asarray(weight, np.float64)
    total = weight.sum()
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    rows = []
    for b in range(bins):
        inside = which == b
        w = weight[inside].sum()
        if not w:
            continue
        rows.append({"low": b / bins, "high": (b + 1) / bins,
                     "confidence": float((confidence[inside] * weight[inside]).sum() / w),
                     "precision": float((outcome[inside] * weight[inside]).sum() / w),
                     "share": float(w / total), "queries": int(inside.sum())})
    return rows


def expected_calibration_error(confidence, outcome, weight=None, bins: int = 10) -> float:
    """Weighted mean |confidence - observed precision| over confidence bins (0 = perfectly calibrated)."""
    return float(sum(r["share"] * abs(r["confidence"] - r["precision"])
                     for r in reliability(confidence, outcome, weight, bins)))


# ---------------------------------------------------------------------------- fitting


@dataclass
class Fit:
    """What ``fit_calibration`` learnt and the queries it learnt it from."""

    calibrator: Calibrator
    queries: dict[str, int]  # queries per kind
    positives: dict[str, float]  # share of in-catalogue queries whose best result was right, per kind
    expected_calibration_error: float  # of mappings fitted on one half of the queries, read on the other
    reliability: list[dict[str, float]]
    rates: dict[str, float] = field(default_factory=dict)  # what the floor does to each kind of query
    prior: dict[str, float | None] = field(default_factory=dict)  # the not-sold share asked for and implied
    content: dict[str, Any] = field(default_factory=dict)  # the content check, as stored

    def as_dict(self) -> dict[str, Any]:
        return {"queries": self.queries, "positives": self.positives, "rates": self.rates, "prior": self.prior,
                "content": self.content,
                "expected_calibration_error": self.expected_calibration_error, "reliability": self.reliability}


def _best(similarity: np.ndarray, exclude: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per query row: the best column's index and score, with columns where ``exclude`` is true left out."""
    masked = np.where(exclude, -np.inf, similarity)
    best = masked.argmax(axis=1)
    return best, masked[np.arange(len(best)), best]


def score_queries(
    queries: np.ndarray, sources: np.ndarray, catalogue: np.ndarray, products: np.ndarray,
    categories: np.ndarray, *, views: bool, chunk: int = 256,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Best scores and outcomes of each kind of query; ``sources`` are the catalogue rows queried from.

    Clean queries (``views`` False) are the catalogue vectors themselves: never scored against
    their own row. Returns ``kind -> (scores, right)``.
    """
    out: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    _, inverse, counts = np.unique(products, return_inverse=True, return_counts=True)
    multi = counts[inverse] > 1  # products with several images: leave-one-image-out queries
    for start in range(0, len(queries), chunk):
        q, src = queries[start:start + chunk], sources[start:start + chunk]
        sim = q @ catalogue.T
        same_product = products[None, :] == products[src][:, None]
        same_category = categories[None, :] == categories[src][:, None]
        kinds = {"other_kind": same_category}  # leave-one-category-out: always wrong
        kinds["same_kind_view" if views else "same_kind"] = same_product  # leave-one-product-out
        if views:
            kinds["exact"] = np.zeros_like(same_product)
        else:
            own = np.zeros_like(same_product)
            own[np.arange(len(src)), src] = True
            kinds["other_photo"] = own
        for kind, exclude in kinds.items():
            rows = slice(None) if kind != "other_photo" else multi[src]
            best, score = _best(sim[rows], exclude[rows])
            if kind == "other_kind":
                right = np.zeros(len(best), bool)
            else:
                right = (products[best] == products[src][rows]) | (categories[best] == categories[src][rows])
            keep = np.isfinite(score)
            out.setdefault(kind, []).append((score[keep], right[keep]))
    return {kind: (np.concatenate([s for s, _ in parts]), np.concatenate([r for _, r in parts]))
            for kind, parts in out.items()}


def _merge(*parts: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    merged: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for part in parts:
        for kind, (s, r) in part.items():
            old = merged.get(kind, (np.zeros(0), np.zeros(0, bool)))
            merged[kind] = (np.concatenate([old[0], s]), np.concatenate([old[1], r]))
    return merged


def _weighted(scored: dict[str, tuple[np.ndarray, np.ndarray]], not_sold_share: float = 0.25,
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scores, outcomes and weights: "not sold" weighs ``not_sold_share``, the in-catalogue kinds share the rest.

    With phone-like views, clean leave-one-product-out queries weigh nothing: a catalogue's own packshots
    find each other far more easily than a shopper's photo finds them (measured on the demo catalogue:
    5th percentile 0.61 against 0.43 for views and 0.42 for real held-out photos).
    """
    present = {k for k, (s, _) in scored.items() if len(s)}
    preferred = ["exact", "other_photo", "same_kind_view"] if present & {"exact", "same_kind_view"} else \
        ["other_photo", "same_kind"]
    inside = [k for k in preferred if k in present]
    xs, ys, ws = [], [], []
    for kind, (s, r) in scored.items():
        if not len(s) or (kind != "other_kind" and kind not in inside):
            continue
        share = not_sold_share if kind == "other_kind" else (1.0 - not_sold_share) / len(inside)
        xs.append(s), ys.append(r.astype(np.float64)), ws.append(np.full(len(s), share / len(s)))
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(ws)


#: The in-catalogue queries most like a shopper's photo of something the shop sells, best first: the
#: miss-rate cap is read on the first kind present.
SHOPPER_KINDS = ("same_kind_view", "other_photo", "same_kind")


def miss_rate_cap(scored: dict[str, tuple[np.ndarray, np.ndarray]], miss_rate: float | None) -> float | None:
    """The score that ``miss_rate`` of the shopper-like in-catalogue queries fall under (None: no cap).

    Read on all of them, right or wrong: a shopper told "no close match" for a kind the shop sells is
    a miss whatever the best result was.
    """
    if miss_rate is None:
        return None
    for kind in SHOPPER_KINDS:
        scores = scored.get(kind, (np.zeros(0), None))[0]
        if len(scores) >= 20:
            return float(np.quantile(scores, float(miss_rate)))
    return None


def shift_prior(calibrator: Calibrator, cap: float) -> tuple[Calibrator, float]:
    """``calibrator`` with its odds scaled so that confidence reaches one half at ``cap``, and the factor.

    Scaling the odds by a constant is what a lower prior does to a posterior: the mapping keeps its
    order and the floor moves down to ``cap``.
    """
    at_cap = float(np.clip(calibrator.confidence(cap), 1e-6, 1 - 1e-6))
    factor = (1.0 - at_cap) / at_cap * MATCH_CONFIDENCE / (1.0 - MATCH_CONFIDENCE)
    ys = np.asarray(calibrator.confidences, np.float64)
    shifted = factor * ys / (factor * ys + (1.0 - ys))
    # Knots are where the fit bends; the cap lies between two of them: add it so the floor lands on it.
    xs = np.append(calibrator.scores, cap)
    ys = np.append(shifted, MATCH_CONFIDENCE)
    order = np.argsort(xs, kind="stable")
    return Calibrator.from_knots(xs[order], np.maximum.accumulate(ys[order]), encoder=calibrator.encoder), factor


#: Catalogue photos whose classes make the content check's profile (decoded for the views anyway).
CONTENT_PROFILE_IMAGES = 500


def fit_content_check(catalogue: np.ndarray | None, views: np.ndarray | None, miss_rate: float | None,
                      ) -> dict[str, Any]:
    """The content check, from ImageNet class probabilities of catalogue photos and of phone-like views.

    The catalogue's profile is its photos' mean class probability; a photo's score is the log share
    its classes have in that profile, weighted by its own probabilities (a negative cross-entropy:
    high when it shows what the catalogue shows). The threshold is the score ``miss_rate`` of the
    views fall under. Returns ``{"log_profile", "threshold", "miss_rate"}``, or ``{}`` when there is
    nothing to fit (no classifier, the check turned off, fewer than 50 views).
    """
    if miss_rate is None or catalogue is None or views is None or len(views) < 50 or not len(catalogue):
        return {}
    log_profile = np.log(np.asarray(catalogue, np.float64).mean(axis=0) + CONTENT_FLOOR)
    shown = np.asarray(views, np.float64) @ log_profile
    return {"log_profile": [round(float(v), 4) for v in log_profile],
            "threshold": float(np.quantile(shown, float(miss_rate))), "miss_rate": float(miss_rate)}


def fit_calibration(
    vectors: np.ndarray,
    products: Sequence[Any],
    categories: Sequence[Any],
    *,
    view_vectors: np.ndarray | None = None,
    view_sources: np.ndarray | None = None,
    max_queries: int = 4000,
    not_sold_share: float = 0.25,
    miss_rate: float | None = None,
    view_probabilities: np.ndarray | None = None,
    catalogue_probabilities: np.ndarray | None = None,
    content_miss_rate: float | None = None,
    seed: int = 0,
    encoder: str = "",
) -> Fit:
    """Fit the similarity -> confidence mapping of one catalogue (rows of unit vectors, one per image).

    ``view_vectors`` are embedded phone-like views of the rows ``view_sources``. ``not_sold_share`` is
    the share of searches assumed to be for things the shop does not sell (the prior); ``miss_rate``
    caps the floor (module docstring). ``catalogue_probabilities`` and ``view_probabilities`` (ImageNet
    class probabilities of catalogue photos and of the views, from ``Encoder.embed_with_content``) fit
    the content check at ``content_miss_rate``. Both guards are off by default here; ``calibrate()``
    turns them on from the settings. Raises ``CalibrationError`` with fewer than two categories.
    """
    vectors = np.asarray(vectors, np.float32)
    products = np.asarray([str(p) for p in products])
    categories = np.asarray(["" if c is None else str(c) for c in categories])
    named = categories != ""
    if len(set(categories[named])) < 2:
        raise CalibrationError("Calibration needs products in at least two categories (CATEGORY_FIELD): it "
                               "learns what 'we do not sell this' looks like by holding out a whole category.")
    rng = np.random.default_rng(seed)
    rows = np.flatnonzero(named)
    if len(rows) > max_queries:
        rows = np.sort(rng.choice(rows, max_queries, replace=False))
    parts = [score_queries(vectors[rows], rows, vectors, products, categories, views=False)]
    if view_vectors is not None and len(view_vectors):
        view_sources = np.asarray(view_sources)
        ok = named[view_sources]
        parts.append(score_queries(np.asarray(view_vectors, np.float32)[ok], view_sources[ok], vectors, products,
                                   categories, views=True))
    scored = _merge(*parts)
    x, y, w = _weighted(scored, not_sold_share)
    calibrator = Calibrator.from_knots(*isotonic(x, y, w), encoder=encoder)
    cap, implied = miss_rate_cap(scored, miss_rate), not_sold_share
    uncapped = calibrator.floor
    if cap is not None and cap < uncapped:
        calibrator, factor = shift_prior(calibrator, cap)
        implied = _implied_share(not_sold_share, factor)
    content = fit_content_check(catalogue_probabilities, view_probabilities, content_miss_rate)
    if content:
        calibrator = replace(calibrator, content_profile=tuple(content["log_profile"]),
                             content_threshold=content["threshold"])
    ece, diagram = _held_out_reliability(scored, rng, not_sold_share, miss_rate)
    floor = calibrator.floor
    rates = {f"{kind}_below_floor": float((s < floor).mean()) for kind, (s, _) in scored.items() if len(s)}
    return Fit(
        calibrator=calibrator,
        queries={kind: int(len(s)) for kind, (s, _) in scored.items()},
        positives={kind: float(r.mean()) for kind, (s, r) in scored.items() if len(s) and kind != "other_kind"},
        expected_calibration_error=ece, reliability=diagram, rates=rates,
        prior={"not_sold_share": not_sold_share, "implied_not_sold_share": round(implied, 4),
               "miss_rate": miss_rate, "floor_without_cap": round(uncapped, 4),
               "cap": None if cap is None else round(cap, 4)},
        content=content,
    )


def _held_out_reliability(scored, rng: np.random.Generator, not_sold_share: float, miss_rate: float | None = None,
                          ) -> tuple[float, list[dict[str, float]]]:
    """Expected calibration error and reliability rows of mappings fitted on one half, read on the other."""
    conf, outcome, weight = [], [], []
    scored = {k: v for k, v in scored.items() if len(v[0]) >= 2}
    halves = {kind: rng.permutation(len(s)) % 2 == 0 for kind, (s, _) in scored.items()}
    for half in (True, False):
        fit_part = {k: (s[halves[k] == half], r[halves[k] == half]) for k, (s, r) in scored.items()}
        test_part = {k: (s[halves[k] != half], r[halves[k] != half]) for k, (s, r) in scored.items()}
        if "other_kind" not in scored or len(scored) < 2:
            break
        mapping = Calibrator.from_knots(*isotonic(*_weighted(fit_part, not_sold_share)))
        cap = miss_rate_cap(fit_part, miss_rate)
        if cap is not None and cap < mapping.floor:
            mapping, factor = shift_prior(mapping, cap)
        else:
            factor = 1.0
        # Read under the prior the mapping implies, so the error measures the mapping and not the prior.
        x, y, w = _weighted(test_part, _implied_share(not_sold_share, factor))
        conf.append(mapping.confidence(x)), outcome.append(y), weight.append(w)
    if not conf:
        return float("nan"), []
    c, o, w = np.concatenate(conf), np.concatenate(outcome), np.concatenate(weight)
    return expected_calibration_error(c, o, w), reliability(c, o, w)


def _implied_share(not_sold_share: float, factor: float) -> float:
    """The not-sold share under which a mapping fitted at ``not_sold_share`` has its odds scaled by ``factor``."""
    odds = not_sold_share / max(1.0 - not_sold_share, 1e-9)
    return float(odds / factor / (1.0 + odds / factor))


# ---------------------------------------------------------------------------- the stored calibration


def catalogue_rows(encoder, limit: int, seed: int = 0) -> tuple[np.ndarray, list, list, list]:
    """The ready vectors of ``encoder`` for searchable products (at most ``limit`` images, sampled):
    ``(vectors, product pks, categories, image keys)``."""
    from django.core.exceptions import FieldDoesNotExist  # noqa: PLC0415

    from visual_search.adapters import get_adapter  # noqa: PLC0415
    from visual_search.conf import get_product_model, vs_settings  # noqa: PLC0415
    from visual_search.models import ProductImageEmbedding  # noqa: PLC0415

    searchable = get_adapter().get_queryset().order_by().values("pk")
    rows = (ProductImageEmbedding.objects.for_encoder(encoder).ready()
            .filter(encoder_version=encoder.version, embedding__isnull=False, product__in=searchable))
    ids = list(rows.order_by("pk").values_list("pk", flat=True))
    if len(ids) > limit:
        ids = sorted(np.random.default_rng(seed).choice(ids, limit, replace=False).tolist())
    data = list(ProductImageEmbedding.objects.filter(pk__in=ids).order_by("pk")
                .values_list("product_id", "image_key", "embedding"))
    try:
        field_ = get_product_model()._meta.get_field(vs_settings.CATEGORY_FIELD)
        attname = getattr(field_, "attname", field_.name)
        category_of = dict(get_product_model()._default_manager.filter(pk__in={p for p, _, _ in data})
                           .values_list("pk", attname))
    except FieldDoesNotExist:
        category_of = {}
    vectors = np.array([np.asarray(v, np.float32) for _, _, v in data], np.float32).reshape(len(data), -1)
    products = [p for p, _, _ in data]
    return vectors, products, [category_of.get(p) for p in products], [k for _, k, _ in data]


def _catalogue_images(products: list, keys: list, wanted: np.ndarray, decode_size: int) -> tuple[list, list]:
    """Decoded images of the rows ``wanted`` (those whose files read and decode): ``(images, rows)``."""
    from visual_search.adapters import get_adapter  # noqa: PLC0415
    from visual_search.images import InvalidImage, open_image  # noqa: PLC0415

    adapter = get_adapter()
    wanted_products = {products[i] for i in wanted}
    instances = list(adapter.get_queryset().filter(pk__in=wanted_products))
    refs = {(pk, ref.key): ref for pk, items in adapter.get_images_bulk(instances).items() for ref in items}
    images, rows = [], []
    for i in wanted:
        ref = refs.get((products[i], keys[i]))
        if ref is None:
            continue
        try:
            images.append(open_image(ref.read(), target_size=decode_size))
        except (InvalidImage, OSError) as exc:
            logger.info("Calibration skips image %s of product %s: %s", keys[i], products[i], exc)
            continue
        rows.append(i)
    return images, rows


def calibrate(encoder=None, *, views: int | None = None, max_images: int | None = None, seed: int = 0,
              progress: Callable[[str], None] | None = None):
    """Fit and store the calibration of ``encoder`` (default: the one serving searches) on its catalogue.

    Returns the stored ``Calibration``; raises ``CalibrationError`` when the catalogue cannot be calibrated.
    """
    from visual_search.conf import vs_settings  # noqa: PLC0415
    from visual_search.models import Calibration  # noqa: PLC0415

    if encoder is None:
        from visual_search.indexing.encoder_switch import serving_encoder  # noqa: PLC0415

        encoder = serving_encoder()
    say = progress or (lambda message: None)
    started = time.perf_counter()
    views = int(vs_settings.CALIBRATION_VIEWS if views is None else views)
    vectors, products, categories, keys = catalogue_rows(
        encoder, int(max_images or vs_settings.CALIBRATION_MAX_IMAGES), seed)
    if len(vectors) < 4:
        raise CalibrationError(f"Only {len(vectors)} ready vectors under {encoder.id}: embed the catalogue first.")
    view_vectors = view_sources = view_probabilities = catalogue_probabilities = None
    if views:
        rng = np.random.default_rng(seed)
        wanted = np.unique(rng.integers(0, len(vectors), min(views, len(vectors) * len(VIEW_KINDS))))
        say(f"Decoding {len(wanted)} catalogue images for {views} phone-like views...")
        images, rows = _catalogue_images(products, keys, wanted, encoder.decode_size)
        if images:
            say(f"Embedding {views} phone-like views with {encoder.id}...")
            seen: list[np.ndarray] = []

            def embed(batch):
                vectors, probabilities = encoder.embed_with_content(batch)
                if probabilities is not None:
                    seen.append(probabilities)
                return vectors

            view_vectors, picked = embed_views(images, embed, views, seed=seed)
            view_sources = np.asarray(rows)[picked]
            if seen:
                view_probabilities = np.concatenate(seen)
                # The profile is a mean over the catalogue: a sample of its photos settles it.
                profiled = images[::-(-len(images) // CONTENT_PROFILE_IMAGES)]  # spread over all of them
                say(f"Classifying {len(profiled)} catalogue images for the content check...")
                catalogue_probabilities = np.concatenate(
                    [encoder.embed_with_content(profiled[i:i + 32])[1] for i in range(0, len(profiled), 32)])
    fit = fit_calibration(vectors, products, categories, view_vectors=view_vectors, view_sources=view_sources,
                          not_sold_share=float(vs_settings.CALIBRATION_NOT_SOLD_SHARE),
                          miss_rate=_optional_float(vs_settings.CALIBRATION_MISS_RATE),
                          view_probabilities=view_probabilities, catalogue_probabilities=catalogue_probabilities,
                          content_miss_rate=_optional_float(vs_settings.CALIBRATION_CONTENT_MISS_RATE),
                          seed=seed, encoder=encoder.id)
    named = [c for c in categories if c is not None]
    row = Calibration.objects.create(
        encoder=encoder.id, encoder_version=str(encoder.version), images=len(vectors),
        products=len(set(products)), categories=len(set(named)),
        scores=list(fit.calibrator.scores), confidences=list(fit.calibrator.confidences),
        floor=fit.calibrator.floor, expected_calibration_error=_finite(fit.expected_calibration_error),
        details={**fit.as_dict(), "views": 0 if view_vectors is None else len(view_vectors),
                 "seconds": round(time.perf_counter() - started, 2)},
    )
    clear_cache()
    return row


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _finite(value: float) -> float | None:
    return None if value != value else float(value)  # NaN -> None


def calibrate_quietly(encoder_id: str | None = None) -> None:
    """``calibrate`` for the encoder ``encoder_id`` if it is the configured or serving one; logs, never raises.

    Runs at the end of every bulk job and after an encoder switch.
    """
    from visual_search.encoders import get_encoder  # noqa: PLC0415
    from visual_search.indexing.encoder_switch import serving_encoder  # noqa: PLC0415

    try:
        candidates = {e.id: e for e in (get_encoder(), serving_encoder(record=False))}
        encoder = candidates.get(encoder_id) if encoder_id else serving_encoder(record=False)
        if encoder is None:
            logger.info("Not calibrating %s: neither configured nor serving.", encoder_id)
            return
        row = calibrate(encoder)
        logger.info("Calibrated %s on %d images: floor %.3f, expected calibration error %s",
                    encoder.id, row.images, row.floor, row.expected_calibration_error)
    except CalibrationError as exc:
        logger.warning("Not calibrated: %s", exc)
    except Exception:  # noqa: BLE001 - a failed calibration must never fail the job that triggered it
        logger.exception("Calibration of %s failed; confidence stays as it was.", encoder_id)
