"""The two guards on a calibration: the miss-rate cap on the floor, and the content check for photos."""

from __future__ import annotations

import numpy as np
import pytest

from visual_search.quality.calibration import (
    Calibrator,
    fit_calibration,
    fit_content_check,
    miss_rate_cap,
    shift_prior,
)
from visual_search.search.confidence import MATCH_CONFIDENCE


def _overlapping(seed: int = 0, n: int = 400):
    """Scores of "another item of a kind we sell" views and of held-out categories that overlap a lot."""
    rng = np.random.default_rng(seed)
    same_kind = rng.normal(0.55, 0.08, n)
    other_kind = rng.normal(0.42, 0.06, n)
    return {"same_kind_view": (same_kind, np.ones(n, bool)), "exact": (same_kind + 0.1, np.ones(n, bool)),
            "other_kind": (other_kind, np.zeros(n, bool))}


def test_the_cap_is_the_quantile_of_the_shopper_like_queries_right_or_wrong():
    scored = _overlapping()
    scores = scored["same_kind_view"][0]
    assert miss_rate_cap(scored, 0.05) == pytest.approx(np.quantile(scores, 0.05))
    assert miss_rate_cap(scored, None) is None
    # Without views, leave-one-image-out queries stand in; with too few queries there is no cap.
    clean = {"other_photo": (scores[:50], np.zeros(50, bool)), "other_kind": scored["other_kind"]}
    assert miss_rate_cap(clean, 0.1) == pytest.approx(np.quantile(scores[:50], 0.1))
    assert miss_rate_cap({"other_photo": (scores[:5], np.ones(5, bool))}, 0.1) is None


def test_shifting_the_prior_puts_the_floor_on_the_cap_and_keeps_the_order():
    calibrator = Calibrator.from_knots(np.array([0.2, 0.4, 0.5, 0.6, 0.8]), np.array([0.0, 0.1, 0.3, 0.7, 1.0]))
    shifted, factor = shift_prior(calibrator, 0.45)
    assert factor > 1  # a lower prior on "not sold" raises the odds of a match
    assert shifted.floor == pytest.approx(0.45) and shifted.confidence(0.45) == pytest.approx(MATCH_CONFIDENCE)
    ranked = np.linspace(1.0, -0.2, 300)
    assert np.all(np.diff(shifted.confidence(ranked)) <= 0)
    # Odds scale by one factor at every knot the two share.
    for x in calibrator.scores[1:-1]:
        before, after = calibrator.confidence(x), shifted.confidence(x)
        assert after / (1 - after) == pytest.approx(factor * before / (1 - before), rel=1e-6)


def test_the_fit_caps_the_floor_and_reports_the_prior_it_implies():
    rng = np.random.default_rng(4)
    centres = rng.normal(size=(4, 32))
    vectors = np.repeat(centres, 30, axis=0) + 1.2 * rng.normal(size=(120, 32))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    labels = np.repeat(["a", "b", "c", "d"], 30)
    views = vectors + 0.9 * rng.normal(size=vectors.shape) / np.sqrt(32)
    views /= np.linalg.norm(views, axis=1, keepdims=True)
    common = dict(view_vectors=views.astype(np.float32), view_sources=np.arange(120), not_sold_share=0.5)
    free = fit_calibration(vectors, [str(i) for i in range(120)], labels, miss_rate=None, **common)
    capped = fit_calibration(vectors, [str(i) for i in range(120)], labels, miss_rate=0.03, **common)
    assert free.prior["cap"] is None and free.prior["implied_not_sold_share"] == 0.5
    assert capped.prior["floor_without_cap"] == pytest.approx(free.calibrator.floor, abs=1e-4)
    assert capped.calibrator.floor < free.calibrator.floor  # the prior alone would miss more than 3%
    assert capped.calibrator.floor == pytest.approx(capped.prior["cap"], abs=1e-4)
    assert capped.rates["same_kind_view_below_floor"] <= 0.03 + 1 / 120
    assert 0 < capped.prior["implied_not_sold_share"] < 0.5


def _probabilities(rng, rows: int, on: slice, mass: float) -> np.ndarray:
    """Rows of class probabilities with about ``mass`` of each on the classes ``on``."""
    p = rng.random((rows, 1000)) ** 8
    p[:, on] *= 1000
    inside = p[:, on].sum(axis=1, keepdims=True)
    outside = p.sum(axis=1, keepdims=True) - inside
    p[:, on] *= mass / inside
    mask = np.ones(1000, bool)
    mask[on] = False
    p[:, mask] *= (1 - mass) / outside
    return p


def test_the_content_check_learns_what_the_catalogue_shows_and_lets_its_views_through():
    rng = np.random.default_rng(5)
    catalogue = _probabilities(rng, 200, slice(400, 440), 0.995)
    views = _probabilities(rng, 300, slice(400, 440), 0.97)
    check = fit_content_check(catalogue, views, miss_rate=0.01)
    profile = np.array(check["log_profile"])
    assert profile.shape == (1000,) and profile[400:440].min() > profile[:400].max()  # its classes weigh most
    calibrator = Calibrator.from_knots(np.array([0.0, 1.0]), np.array([0.0, 1.0]))
    calibrator = Calibrator(calibrator.scores, calibrator.confidences, calibrator.floor,
                            content_profile=tuple(check["log_profile"]), content_threshold=check["threshold"])
    caps = np.array([calibrator.content_cap(p) for p in views])
    assert np.mean(caps < 1.0) == pytest.approx(0.01, abs=0.005)  # the share of views it was fitted to fail
    assert caps.min() > 0.2  # a view that fails falls just short: "closest items", not "not sold"
    elsewhere = _probabilities(rng, 20, slice(0, 40), 0.99)  # a photo of something else entirely
    assert max(calibrator.content_cap(p) for p in elsewhere) < 0.05  # "we don't seem to sell this"
    assert calibrator.content_cap(None) == 1.0
    assert fit_content_check(catalogue, views[:10], miss_rate=0.01) == {}  # too few views to say
    assert fit_content_check(catalogue, views, miss_rate=None) == {}
