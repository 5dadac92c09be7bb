"""Training that cannot silently hurt: the per-category guard, and heads that never share vectors."""

from __future__ import annotations

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from tests.quality.conftest import MEAN_COLOUR, write_photos
from visual_search.encoders import get_encoder
from visual_search.indexing import jobs
from visual_search.indexing.encoder_switch import coverage, get_search_encoder
from visual_search.indexing.sync import sync_products
from visual_search.models import ProductImageEmbedding
from visual_search.quality.training import fit_head, load_head, save_head
from visual_search.quality.training_guard import guard

ADAPTED = "visual_search.encoders.adapted.AdaptedEncoder"


def _blobs(n_labels: int = 4, per_label: int = 30, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = np.eye(n_labels, 8) * 6
    x = np.concatenate([c + rng.normal(size=(per_label, 8)) for c in centres]).astype(np.float32)
    return x, np.repeat([f"category-{i}" for i in range(n_labels)], per_label)


def test_the_guard_refuses_a_head_that_costs_one_category_and_shows_the_table():
    frozen, labels = _blobs()
    # A "head" that keeps every direction but the one telling category-3 apart: category-3 collapses.
    projection = np.eye(8, dtype=np.float32)
    projection[3, 3] = 0.0
    report = guard(frozen, frozen @ projection, labels)
    assert not report.passed
    [problem] = [p for p in report.problems if p.startswith("category-3")]
    rows = {r["category"]: r for r in report.rows}
    assert rows["category-3"]["refused"] and rows["category-3"]["change_points"] < -2
    assert not any(rows[f"category-{i}"]["refused"] for i in range(3))
    table = report.table()
    assert "| category-3 |" in table and "<- refused" in table and "Off-catalogue rejection" in table
    assert guard(frozen, frozen.copy(), labels).passed  # the same space costs nothing


def test_a_small_category_is_shown_but_never_refused_on_a_few_queries():
    frozen, labels = _blobs(per_label=10)
    projection = np.eye(8, dtype=np.float32)
    projection[3, 3] = 0.0
    report = guard(frozen, frozen @ projection, labels, min_queries=20)
    assert all(not r["refused"] for r in report.rows) and len(report.rows) == 4


def test_the_train_command_refuses_a_head_fitted_on_part_of_the_catalogue(tmp_path, capsys):
    # Reds and greens to train on; the shop also sells blues, close to the greens in mean colour. The tiny
    # head squeezes the catalogue so that what the shop does not sell is no longer told apart.
    shades = {"red": (230, 30, 20), "green": (30, 200, 60), "blue": (30, 170, 110)}
    catalogue = {f"{label}/{i}.png": (r - 4 * i, g + 3 * i, b + 3 * i)
                 for label, (r, g, b) in shades.items() for i in range(12)}
    part = write_photos(tmp_path / "part", {k: v for k, v in catalogue.items() if not k.startswith("blue")})
    whole = write_photos(tmp_path / "whole", catalogue)
    head = tmp_path / "head.npz"
    args = [str(part), "--base", MEAN_COLOUR, "--output", str(head), "--name", "part", "--dimensions", "2",
            "--epochs", "40", "--held-out-folds", "0", "--catalogue", str(whole), "--guard-views", "60",
            "--cache-dir", str(tmp_path / "cache")]
    with pytest.raises(CommandError, match=r"The head costs the catalogue: .* Not saved; --force saves it anyway"):
        call_command("visual_search_train", *args)
    out = capsys.readouterr().out
    # Every category of the whole catalogue is in the table, blue too, though the head never saw it.
    assert "| blue     |" in out and "| green    |" in out and "Off-catalogue rejection" in out
    assert not head.exists()
    call_command("visual_search_train", *args, "--force")
    _, metadata = load_head(head)
    assert not metadata["guard"]["passed"] and metadata["trained_on"]["categories"] == ["green", "red"]


def _head(tmp_path, name: str, seed: int):
    rng = np.random.default_rng(seed)
    features = np.concatenate([rng.normal((1, 0.2, 0.1), 0.05, (20, 3)), rng.normal((0.1, 0.3, 1), 0.05, (20, 3))])
    weights = fit_head(features, np.repeat(["warm", "cold"], 20), dimensions=2, epochs=20, mix=1.0, seed=seed)
    metadata = {"name": "colours", "version": "1",
                "base": {"backend": MEAN_COLOUR, "options": {}, "id": "test-mean-colour", "version": "1"}}
    return {"BACKEND": ADAPTED, "OPTIONS": {"head": str(save_head(tmp_path / name, weights, metadata))}}


@pytest.mark.django_db
def test_a_retrained_head_with_the_same_name_gets_its_own_id_and_the_old_vectors_stop_being_current(
    tmp_path, make_product, quiet_saves,
):
    first, second = _head(tmp_path, "a.npz", seed=0), _head(tmp_path, "b.npz", seed=1)
    settings = {"ADAPTER": "shop.adapters.ShopProductAdapter", "AUTO_EMBED": False}
    products = [make_product(name) for name in ("chelsea", "coffee", "rocket")]
    with override_settings(VISUAL_SEARCH={**settings, "ENCODER": first}):
        old = get_encoder()
        sync_products([p.pk for p in products])
        assert get_search_encoder().id == old.id
    with override_settings(VISUAL_SEARCH={**settings, "ENCODER": second}):
        new = get_encoder()
        assert old.id != new.id and old.id.startswith("test-mean-colour-colours-")
        assert (old.version, old.dimensions) == (new.version, new.dimensions)  # same name, version and shape
        # The old head's vectors are not the new head's: every product still needs embedding under it,
        # and searches stay on the old vectors until the new ones cover the catalogue.
        assert set(jobs.select_products("missing", new)) == {p.pk for p in products}
        assert coverage(new, old.id).not_covered == 3 and get_search_encoder().id == old.id
        assert ProductImageEmbedding.objects.for_encoder(new).count() == 0


@pytest.mark.django_db
def test_check_warns_when_a_head_serves_categories_it_never_saw(tmp_path, make_product, quiet_saves):
    from visual_search.checks import check_head_catalogue  # noqa: PLC0415

    config = _head(tmp_path, "c.npz", seed=2)
    weights, metadata = load_head(config["OPTIONS"]["head"])
    metadata["trained_on"] = {"categories": ["cats"], "date": "2026-12-01T00:00:00+00:00"}
    save_head(config["OPTIONS"]["head"], weights, metadata)
    make_product("chelsea", category="cats")
    settings = {"ADAPTER": "shop.adapters.ShopProductAdapter", "AUTO_EMBED": False, "ENCODER": config}
    with override_settings(VISUAL_SEARCH=settings):
        assert check_head_catalogue() == []  # it serves only what it was trained on
        make_product("coffee", category="cups")
        [warning] = check_head_catalogue()
    assert warning.id == "visual_search.W009" and "never saw: Cups" in warning.msg and "2026-12-01" in warning.msg
