"""Confidence for a search result: a monotone mapping from similarity, fitted per catalogue.

``quality/calibration.py`` fits the mapping on the shop's own catalogue
(``visual_search_calibrate``, and by itself after bulk jobs and encoder
switches) and stores it as a ``Calibration`` row; this module serves it to
searches: ``current_calibrator()`` for the encoder searches answer from, or a
logistic around the encoder's own floor until a calibration exists.

A calibration also holds a content check for photos: the ImageNet classes the
catalogue's own photos show, as a profile. A query photo whose classes are rare
in it (a rocket asked of a clothes shop) gets no close match, whatever its best
similarity: ``Calibrator.content_cap()``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from visual_search.conf import vs_settings
from visual_search.indexing.encoder_switch import serving_encoder

__all__ = ["Calibrator", "clear_cache", "current_calibrator", "implied_floor", "stored_calibrator"]

#: The confidence at which a best result counts as a close match: the floor is where the mapping reaches it.
MATCH_CONFIDENCE = 0.5
#: Seconds a process trusts its last look at the stored calibration.
CACHE_SECONDS = 30.0
#: Without a stored calibration: confidence is a logistic around the encoder's floor, this wide.
FALLBACK_WIDTH = 0.05
#: Added to every class's share of the catalogue's profile before its log: a class the catalogue's
#: photos never show counts as a tenth of a uniform share, not as impossible.
CONTENT_FLOOR = 1e-4


def implied_floor(xs: np.ndarray, ys: np.ndarray, level: float = MATCH_CONFIDENCE) -> float:
    """The lowest score whose interpolated confidence reaches ``level`` (1.0 when none does)."""
    xs, ys = np.asarray(xs, np.float64), np.asarray(ys, np.float64)
    above = np.flatnonzero(ys >= level)
    if not len(above):
        return 1.0
    j = int(above[0])
    if j == 0:
        return float(xs[0])
    # Linear between the knot below the level and the first at or above it, as np.interp reads them.
    x0, x1, y0, y1 = xs[j - 1], xs[j], ys[j - 1], ys[j]
    return float(x0 + (level - y0) * (x1 - x0) / (y1 - y0))


@dataclass(frozen=True)
class Calibrator:
    """Similarity -> confidence, monotone, and the floor where confidence reaches ``MATCH_CONFIDENCE``."""

    scores: tuple[float, ...]
    confidences: tuple[float, ...]
    floor: float
    calibrated: bool = True
    encoder: str = ""
    #: The content check: the log share of each ImageNet class in the catalogue's photos, and the
    #: least a photo of something the shop sells scores on it (None: no check).
    content_profile: tuple[float, ...] = ()
    content_threshold: float | None = None

    def confidence(self, score: float | np.ndarray) -> Any:
        """Confidence in [0, 1] for one score or an array; never lower for a higher score."""
        value = np.clip(np.interp(score, self.scores, self.confidences), 0.0, 1.0)
        return float(value) if np.ndim(value) == 0 else value

    def content_cap(self, probabilities: np.ndarray | None) -> float:
        """The most confidence a query photo may get, from its ImageNet class ``probabilities``.

        1.0 when it passes the check (or there is none); under it, ``MATCH_CONFIDENCE`` times the
        ratio of the photo's (geometric mean) share in the profile to the threshold's, so a photo of
        nothing the catalogue shows reads as "not sold" and a near miss as "closest items".
        """
        if self.content_threshold is None or probabilities is None or len(self.content_profile) != len(probabilities):
            return 1.0
        shown = float(np.asarray(probabilities, np.float64) @ np.asarray(self.content_profile, np.float64))
        if shown >= self.content_threshold:
            return 1.0
        return MATCH_CONFIDENCE * float(np.exp(shown - self.content_threshold))

    @classmethod
    def from_knots(cls, xs: np.ndarray, ys: np.ndarray, **kwargs: Any) -> Calibrator:
        xs, ys = np.asarray(xs, np.float64), np.maximum.accumulate(np.clip(np.asarray(ys, np.float64), 0, 1))
        if len(xs) > 1:  # np.interp needs strictly increasing x: merge equal knots, keeping the higher value
            keep = np.append(np.diff(xs) > 1e-9, True)
            xs, ys = xs[keep], ys[keep]
        return cls(tuple(map(float, xs)), tuple(map(float, ys)), floor=implied_floor(xs, ys), **kwargs)

    @classmethod
    def fallback(cls, floor: float, encoder: str = "") -> Calibrator:
        """An uncalibrated mapping: a logistic around ``floor`` (the encoder's or the configured one)."""
        xs = np.linspace(-1.0, 1.0, 81)
        ys = 1.0 / (1.0 + np.exp(-(xs - floor) / FALLBACK_WIDTH))
        return cls(tuple(map(float, xs)), tuple(map(float, ys)), floor=float(floor), calibrated=False,
                   encoder=encoder)


_cache: dict[tuple[str, str], tuple[float, Calibrator | None]] = {}


def stored_calibrator(encoder) -> Calibrator | None:
    """The latest stored calibration of ``encoder`` (its id and version), cached for ``CACHE_SECONDS``."""
    from django.db import DatabaseError  # noqa: PLC0415

    from visual_search.models import Calibration  # noqa: PLC0415

    key = (encoder.id, str(encoder.version))
    hit = _cache.get(key)
    if hit is not None and time.monotonic() - hit[0] < CACHE_SECONDS:
        return hit[1]
    try:
        rows = Calibration.objects.filter(encoder=encoder.id, encoder_version=encoder.version)
        row = rows.order_by("-created_at", "-pk").first()
    except DatabaseError:  # not migrated yet: uncalibrated
        row = None
    calibrator = None
    if row is not None:
        content = (row.details or {}).get("content") or {}
        calibrator = Calibrator(tuple(row.scores), tuple(row.confidences), float(row.floor), True, row.encoder,
                                content_profile=tuple(content.get("log_profile") or ()),
                                content_threshold=content.get("threshold"))
    _cache[key] = (time.monotonic(), calibrator)
    return calibrator


def current_calibrator(encoder=None) -> Calibrator:
    """The mapping for the encoder searches are served from: stored, else a logistic around its floor.

    ``VISUAL_SEARCH["SIMILARITY_FLOOR"]``, when set, overrides the floor (the mapping stays).
    """
    if encoder is None:
        encoder = serving_encoder(record=False)  # reads the database
    calibrator = stored_calibrator(encoder) or Calibrator.fallback(float(encoder.similarity_floor), encoder.id)
    configured = vs_settings.SIMILARITY_FLOOR
    if configured is not None:
        calibrator = replace(calibrator, floor=float(configured))
    return calibrator


def clear_cache() -> None:
    _cache.clear()
