"""The embedding head: fitting, the held-out-labels check, storage, and serving it as an encoder."""

from __future__ import annotations

import json

import numpy as np
import pytest
from django.core.management import call_command
from PIL import Image

from tests.quality.conftest import MEAN_COLOUR
from visual_search.encoders import load_encoder
from visual_search.quality.evaluation import evaluate
from visual_search.quality.training import apply_head, fit_head, held_out_check, load_head, save_head

ADAPTED = "visual_search.encoders.adapted.AdaptedEncoder"


def clusters(n_labels=4, per_label=30, width=16, noise=0.9, seed=0):
    """Labels as Gaussian blobs hidden in a few directions plus strong nuisance noise in the others."""
    rng = np.random.default_rng(seed)
    centres = np.zeros((n_labels, width))
    centres[np.arange(n_labels), np.arange(n_labels)] = 1.0
    nuisance = np.zeros(width)
    nuisance[n_labels:] = 1.0
    x = np.concatenate([c + noise * rng.normal(size=(per_label, width)) * (0.3 + nuisance) for c in centres])
    return x.astype(np.float32), np.repeat([f"l{i}" for i in range(n_labels)], per_label)


def recall_at_1(x, y):
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    s = x @ x.T
    np.fill_diagonal(s, -np.inf)
    return float((y[s.argmax(axis=1)] == y).mean())


def test_head_pulls_labels_apart_and_survives_a_round_trip(tmp_path):
    x, y = clusters()
    head = fit_head(x, y, dimensions=4, epochs=200, learning_rate=1e-2)
    assert recall_at_1(apply_head(head, x), y) > recall_at_1(x, y) + 0.1
    path = save_head(tmp_path / "h.npz", head, {"name": "t", "version": "3"})
    weights, metadata = load_head(path)
    assert metadata["version"] == "3" and set(weights) == {"w"}
    np.testing.assert_allclose(apply_head(weights, x), apply_head(head, x))
    mixed = fit_head(x, y, dimensions=4, epochs=5, mix=0.5)
    assert apply_head(mixed, x).shape == (len(x), 16 + 4)  # frozen features kept beside the projection
    kept = fit_head(x, y, dimensions=4, epochs=5, mix=0.5, keep=3)
    assert apply_head(kept, x).shape == (len(x), 3 + 4)  # only the first 3 frozen columns


def test_held_out_check_scores_only_unseen_labels():
    x, y = clusters(n_labels=4)
    check = held_out_check(x, y, folds=2, dimensions=4, epochs=10)
    assert [len(f["held_out"]) for f in check["folds"]] == [2, 2]
    assert sum(f["queries"] for f in check["folds"]) == len(x)
    for fold in check["folds"]:
        assert 0.0 <= fold["recall@1_adapted"] <= 1.0 and 0.0 <= fold["recall@1_frozen"] <= 1.0
    assert check["change_points"] == pytest.approx(100 * (check["recall@1_adapted"] - check["recall@1_frozen"]))


def test_train_command_writes_a_head_that_serves_as_an_encoder(hand_set, tmp_path, capsys):
    head = tmp_path / "heads" / "colour-v2.npz"
    call_command("visual_search_train", str(hand_set), "--base", MEAN_COLOUR, "--output", str(head),
                 "--name", "colour", "--head-version", "2", "--dimensions", "2", "--epochs", "30",
                 "--held-out-folds", "2", "--compare", MEAN_COLOUR, "--cache-dir", str(tmp_path / "cache"),
                 "--guard-views", "0")
    out = capsys.readouterr().out
    assert "Held-out labels, Recall@1" in out and "| red      |       2 |" in out  # the guard's table
    _, metadata = load_head(head)
    assert metadata["trained_on"]["photos"] == 4  # catalogue photos only, never the test queries
    assert metadata["trained_on"]["categories"] == ["blue", "red"] and metadata["guard"]["passed"]
    encoder = load_encoder(ADAPTED, {"head": str(head)})
    assert (encoder.id, encoder.version, encoder.dimensions) == (f"test-mean-colour-colour-{encoder.weights_digest}", "2", 2)
    result = evaluate(hand_set, encoders=[f"{ADAPTED}:{json.dumps({'head': str(head)})}"], ks=(1, 3), vote_k=3,
                      cache_dir=tmp_path / "cache")
    (run,) = result.runs
    assert run.encoder.id == encoder.id and 0.0 <= run.metrics["recall@1"] <= 1.0
    green = [Image.new("RGB", (4, 4), (10, 200, 30))]
    # Stored base vectors give the same adapted vectors as the images do.
    np.testing.assert_allclose(encoder.project(load_encoder(MEAN_COLOUR).embed(green)), encoder.embed(green), rtol=1e-5)


def test_train_command_refuses_an_adapted_base(hand_set, tmp_path):
    from django.core.management.base import CommandError  # noqa: PLC0415

    first = tmp_path / "first.npz"
    call_command("visual_search_train", str(hand_set), "--base", MEAN_COLOUR, "--output", str(first),
                 "--dimensions", "2", "--epochs", "2", "--held-out-folds", "0", "--float16", "--guard-views", "0",
                 "--cache-dir", str(tmp_path / "cache"))
    with np.load(first) as data:
        assert data["w"].dtype == np.float16
    adapted = f"{ADAPTED}:{json.dumps({'head': str(first)})}"
    with pytest.raises(CommandError, match="itself an adapted head"):
        call_command("visual_search_train", str(hand_set), "--base", adapted, "--output",
                     str(tmp_path / "second.npz"), "--held-out-folds", "0", "--cache-dir", str(tmp_path))
