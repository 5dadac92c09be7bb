"""Calibrated confidence: the mapping, phone-like views, the fit, and calibration after a bulk job."""

from __future__ import annotations

import io

import numpy as np
import pytest
from django.core.management import call_command
from PIL import Image

from tests.conftest import photo_bytes
from visual_search.encoders import get_encoder
from visual_search.indexing import jobs
from visual_search.models import Calibration
from visual_search.quality.calibration import (
    VIEW_KINDS,
    CalibrationError,
    Calibrator,
    expected_calibration_error,
    fit_calibration,
    implied_floor,
    isotonic,
    phone_view,
)
from visual_search.search import search_by_image
from visual_search.search.results import build_result_page


def test_isotonic_pools_violators_and_never_decreases():
    xs, ys = isotonic([0.1, 0.2, 0.3, 0.4, 0.5], [0, 1, 0, 1, 1])
    assert list(ys) == [0.0, 0.5, 1.0] and list(xs) == pytest.approx([0.1, 0.25, 0.45])
    rng = np.random.default_rng(1)
    x = rng.random(500)
    y = (rng.random(500) < x).astype(float)  # P(y) = x
    xs, ys = isotonic(x, y, rng.random(500))
    assert np.all(np.diff(ys) >= 0) and np.all(np.diff(xs) > 0)


def test_the_floor_is_where_confidence_reaches_one_half_and_confidence_never_rises_down_a_ranking():
    calibrator = Calibrator.from_knots(np.array([0.2, 0.4, 0.6, 0.8]), np.array([0.0, 0.2, 0.8, 1.0]))
    assert calibrator.floor == pytest.approx(0.5)
    assert calibrator.confidence(calibrator.floor) == pytest.approx(0.5)
    assert calibrator.confidence(-1.0) == 0.0 and calibrator.confidence(1.0) == 1.0
    ranked = np.sort(np.random.default_rng(2).uniform(-0.2, 1.0, 200))[::-1]
    assert np.all(np.diff(calibrator.confidence(ranked)) <= 0)
    assert implied_floor(np.array([0.1, 0.9]), np.array([0.1, 0.3])) == 1.0  # nothing ever reaches one half
    fallback = Calibrator.fallback(0.55)
    assert not fallback.calibrated and fallback.confidence(0.55) == pytest.approx(0.5, abs=1e-3)


def test_expected_calibration_error_is_zero_when_confidence_is_the_observed_rate_and_large_when_not():
    confidence = np.repeat([0.15, 0.85], 100)
    outcome = np.concatenate([np.arange(100) < 15, np.arange(100) < 85]).astype(float)
    assert expected_calibration_error(confidence, outcome) == pytest.approx(0.0, abs=1e-9)
    assert expected_calibration_error(confidence, 1 - outcome) == pytest.approx(0.7)


@pytest.mark.parametrize("kind", VIEW_KINDS)
def test_phone_views_change_the_photo_and_keep_it_a_photo(kind):
    image = Image.open(io.BytesIO(photo_bytes("astronaut"))).convert("RGB")
    backdrop = Image.open(io.BytesIO(photo_bytes("coffee"))).convert("RGB")
    view = phone_view(image, kind, np.random.default_rng(3), backdrop)
    assert view.mode == "RGB" and min(view.size) >= 32
    same_size = view.resize(image.size)
    assert np.abs(np.asarray(same_size, np.float32) - np.asarray(image, np.float32)).mean() > 1.0
    with pytest.raises(ValueError, match="Unknown view kind"):
        phone_view(image, "sepia", np.random.default_rng(0))


def _clusters(categories: int = 3, products: int = 8, spread: float = 0.35, seed: int = 0):
    """Unit vectors: one direction per category, products scattered around it."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(categories, 64))
    vectors = np.repeat(centres, products, axis=0) + spread * rng.normal(size=(categories * products, 64)) * 3
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    labels = np.repeat([f"c{i}" for i in range(categories)], products)
    return vectors.astype(np.float32), [str(i) for i in range(len(vectors))], labels


def test_the_fit_puts_the_floor_between_same_kind_and_other_kind_queries():
    vectors, products, labels = _clusters()
    fit = fit_calibration(vectors, products, labels)
    similarity = vectors @ vectors.T
    same = labels[:, None] == labels[None, :]
    np.fill_diagonal(same, False)
    within = np.where(same, similarity, -np.inf).max(axis=1)
    across = np.where(labels[:, None] != labels[None, :], similarity, -np.inf).max(axis=1)
    assert across.max() < within.min()  # the toy catalogue is separable...
    assert across.max() <= fit.calibrator.floor <= within.min()  # ...and the floor separates it
    assert fit.queries == {"other_kind": 24, "same_kind": 24, "other_photo": 0}
    assert fit.rates == {"other_kind_below_floor": 1.0, "same_kind_below_floor": 0.0}
    assert 0.0 <= fit.expected_calibration_error < 0.2 and fit.reliability
    # Products with two images each: leave-one-image-out queries join in, finding their own product.
    paired = fit_calibration(vectors, [str(i // 2) for i in range(len(vectors))], labels)
    assert paired.queries["other_photo"] == 24 and paired.positives["other_photo"] == 1.0


def test_a_catalogue_of_one_category_cannot_say_what_is_not_sold():
    vectors, products, _ = _clusters(categories=1)
    with pytest.raises(CalibrationError, match="at least two categories"):
        fit_calibration(vectors, products, ["only"] * len(products))


@pytest.fixture
def small_catalogue(make_product, quiet_saves, settings):
    """Six products in three categories, each a real photo or a crop of one."""
    settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH, "CALIBRATION_VIEWS": 21}

    def crop(name: str) -> bytes:
        image = Image.open(io.BytesIO(photo_bytes(name))).convert("RGB")
        w, h = image.size
        buffer = io.BytesIO()
        image.crop((w // 8, h // 8, w - w // 8, h - h // 8)).save(buffer, format="JPEG", quality=80)
        return buffer.getvalue()

    return [make_product(photo, category=category) for photo, category in [
        ("chelsea", "cats"), (crop("chelsea"), "cats"), ("coffee", "cups"), (crop("coffee"), "cups"),
        ("rocket", "space"), ("astronaut", "space"),
    ]]


def test_a_bulk_job_calibrates_its_encoder_when_it_finishes(small_catalogue, django_capture_on_commit_callbacks):
    encoder = get_encoder()
    assert not Calibration.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        job, _ = jobs.start_job("missing")  # eager here: the drain, then the calibration task, run inline
    job.refresh_from_db()
    assert job.state == "finished" and job.done == 6
    row = Calibration.objects.get()
    assert (row.encoder, row.encoder_version) == (encoder.id, encoder.version)
    assert (row.products, row.images, row.categories) == (6, 6, 3) and row.details["views"] == 21
    assert 0.0 < row.floor <= 1.0 and len(row.scores) == len(row.confidences) >= 2
    page = build_result_page(search_by_image(photo_bytes("chelsea"), k=3))
    assert page.calibrated and page.floor == pytest.approx(row.floor)
    confidences = [item.confidence for item in page]
    assert all(0.0 <= c <= 1.0 for c in confidences) and confidences == sorted(confidences, reverse=True)


def test_no_calibration_after_a_job_when_switched_off(small_catalogue, settings, django_capture_on_commit_callbacks):
    settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH, "CALIBRATE_AUTOMATICALLY": False}
    with django_capture_on_commit_callbacks(execute=True):
        jobs.start_job("missing")
    assert not Calibration.objects.exists()
    page = build_result_page(search_by_image(photo_bytes("chelsea"), k=3))
    assert not page.calibrated and page.floor == get_encoder().similarity_floor


def test_the_command_calibrates_and_the_configured_floor_still_overrides(small_catalogue, settings):
    from visual_search.indexing.bulk import reembed_in_process  # noqa: PLC0415

    reembed_in_process([p.pk for p in small_catalogue])
    status = io.StringIO()
    call_command("visual_search_status", stdout=status)
    assert "not calibrated (run visual_search_calibrate" in status.getvalue()
    out = io.StringIO()
    call_command("visual_search_calibrate", "--views", "14", stdout=out, stderr=io.StringIO())
    row = Calibration.objects.get()
    status = io.StringIO()
    call_command("visual_search_status", stdout=status)
    assert f"on 6 products, floor {row.floor:.3f}" in status.getvalue()
    assert f"Floor (confidence 0.5): {row.floor:.3f}" in out.getvalue() and row.details["views"] == 14
    assert "| confidence bin |" in out.getvalue()
    settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH, "SIMILARITY_FLOOR": 0.99}
    page = build_result_page(search_by_image(photo_bytes("chelsea"), k=3))
    assert page.floor == 0.99 and page.calibrated


def test_the_command_says_why_it_cannot_calibrate(make_product, quiet_saves):
    from django.core.management.base import CommandError  # noqa: PLC0415

    from visual_search.indexing.bulk import reembed_in_process  # noqa: PLC0415

    products = [make_product(name) for name in ("chelsea", "coffee", "rocket", "astronaut")]  # one category
    reembed_in_process([p.pk for p in products])
    with pytest.raises(CommandError, match="at least two categories"):
        call_command("visual_search_calibrate", "--views", "0", stdout=io.StringIO(), stderr=io.StringIO())
    with pytest.raises(CommandError, match="cannot be negative"):
        call_command("visual_search_calibrate", "--views", "-1", stdout=io.StringIO(), stderr=io.StringIO())


def test_an_encoder_switch_calibrates_the_encoder_that_now_serves(
    small_catalogue, settings, django_capture_on_commit_callbacks,
):
    from visual_search.indexing import encoder_switch  # noqa: PLC0415
    from visual_search.indexing.bulk import reembed_in_process  # noqa: PLC0415

    pks = [p.pk for p in small_catalogue]
    default = {k: v for k, v in settings.VISUAL_SEARCH.items() if k != "ENCODER"}
    settings.VISUAL_SEARCH = {**default, "ENCODER": {"BACKEND": "visual_search.encoders.thumbnail.ThumbnailEncoder"}}
    reembed_in_process(pks)
    assert encoder_switch.serving_encoder().id == "thumbnail"
    settings.VISUAL_SEARCH = default  # back to EfficientNet-Lite0: built beside, thumbnail still serving
    reembed_in_process(pks)
    assert not Calibration.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        assert encoder_switch.switch_to()
    row = Calibration.objects.get()
    assert row.encoder == get_encoder().id == encoder_switch.serving_encoder().id and row.products == 6


def test_the_admin_lists_calibrations_read_only(small_catalogue, admin_client):
    from django.urls import reverse  # noqa: PLC0415

    from visual_search.indexing.bulk import reembed_in_process  # noqa: PLC0415

    reembed_in_process([p.pk for p in small_catalogue])
    call_command("visual_search_calibrate", "--views", "7", stdout=io.StringIO(), stderr=io.StringIO())
    row = Calibration.objects.get()
    page = admin_client.get(reverse("admin:visual_search_calibration_changelist")).content.decode()
    assert f"{row.floor:.3f}" in page and get_encoder().id in page
    assert admin_client.get(reverse("admin:visual_search_calibration_add")).status_code == 403
    detail = reverse("admin:visual_search_calibration_change", args=[row.pk])
    assert admin_client.get(detail).status_code == 200 and admin_client.post(detail, {}).status_code == 403
