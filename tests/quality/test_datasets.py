"""Evaluation sets and reports: nested labels, split folders, ambiguous layouts, baselines, no database."""

from __future__ import annotations

import datetime
import json

import pytest
from django.core.management import call_command
from django.db import connections

from tests.quality.conftest import MEAN_COLOUR, write_photos
from visual_search.quality.evaluation import evaluate, load_evaluation_set
from visual_search.quality.evaluation.run import random_ranking


def test_nested_label_folders_are_the_path_under_the_root_or_its_first_n_parts(tmp_path):
    root = write_photos(tmp_path / "fruit", {
        "fruit/apple/golden/1.png": (200, 180, 20), "fruit/apple/golden/2.png": (210, 170, 30),
        "fruit/apple/granny/1.png": (60, 200, 40), "fruit/pear/1.png": (180, 200, 60),
        "veg/leek/1.png": (40, 160, 40),
    })
    data = load_evaluation_set(root)
    assert data.labels == ["fruit/apple/golden", "fruit/apple/granny", "fruit/pear", "veg/leek"]
    assert load_evaluation_set(root, label_depth=2).labels == ["fruit/apple", "fruit/pear", "veg/leek"]
    assert load_evaluation_set(root, label_depth=1).labels == ["fruit", "veg"]
    with pytest.raises(ValueError, match="at least 1"):
        load_evaluation_set(root, label_depth=0)


def test_val_and_validation_splits_are_catalogue_and_test_the_queries(tmp_path):
    root = write_photos(tmp_path / "s", {
        "train/red/1.png": (250, 0, 0), "val/red/2.png": (240, 10, 0), "validation/blue/3.png": (0, 0, 250),
        "test/red/q.png": (230, 20, 10),
    })
    data = load_evaluation_set(root)
    assert not data.leave_one_out and len(data.catalogue) == 3 and len(data.queries) == 1
    assert data.layout == "train+val+validation/test"
    # Without a test split, the splits are pooled leave-one-out, never read as labels called "train" and "val".
    pooled = load_evaluation_set(write_photos(tmp_path / "p", {"train/red/1.png": (250, 0, 0),
                                                               "val/blue/2.png": (0, 0, 250)}))
    assert pooled.leave_one_out and pooled.labels == ["blue", "red"] and "pooled" in pooled.layout


def test_ambiguous_layouts_are_refused_with_a_reason(tmp_path):
    mixed = write_photos(tmp_path / "mixed", {"train/red/1.png": (250, 0, 0), "shoes/1.png": (10, 10, 10)})
    with pytest.raises(ValueError, match=r"mixes split folders \(train\) with other folders \(shoes\)"):
        load_evaluation_set(mixed)
    loose = write_photos(tmp_path / "loose", {"red/1.png": (250, 0, 0), "2.png": (0, 0, 250)})
    with pytest.raises(ValueError, match="directly in it have no label folder"):
        load_evaluation_set(loose)


def test_the_random_ranking_baseline_is_the_expected_score_of_chance(hand_set):
    # Every hand-set query has 2 hits among 4 catalogue products.
    chance = random_ranking(load_evaluation_set(hand_set), (1, 2, 4))
    assert chance["recall@1"] == pytest.approx(0.5) and chance["recall@2"] == pytest.approx(1 - 1 / 6)
    assert chance["recall@4"] == pytest.approx(1.0) and chance["precision@2"] == pytest.approx(0.5)


def test_an_exhaustive_evaluation_opens_no_database_connection_and_reports_honestly(thirty_set, tmp_path, capsys):
    # No django_db mark: pytest-django refuses any query, and no connection may even be opened.
    connections.close_all()  # what earlier tests of the session left open
    assert all(c.connection is None for c in connections.all(initialized_only=True))
    before = datetime.datetime.now(datetime.UTC)
    call_command("visual_search_evaluate", str(thirty_set), "--encoder", MEAN_COLOUR, "--k", "1", "5",
                 "--cache-dir", str(tmp_path / "cache"), "--json", str(tmp_path / "r.json"),
                 "--report", str(tmp_path / "report"))
    assert all(c.connection is None for c in connections.all(initialized_only=True))
    printed = capsys.readouterr().out
    assert "test-mean-colour (MeanColourEncoder)" in printed  # the whole name, never cut
    assert "random ranking (expected)" in printed and "ECE" in printed
    data = json.loads((tmp_path / "r.json").read_text())
    started = datetime.datetime.fromisoformat(data["configuration"]["started_at"])
    assert before <= started <= datetime.datetime.now(datetime.UTC) and data["configuration"]["seconds"] >= 0
    assert data["random_ranking"]["recall@1"] == pytest.approx(10 / 30)
    (run,) = data["runs"]
    assert run["timing"]["embedded_by"] == "test-mean-colour"
    calibration = run["calibration"]
    assert 0.0 <= calibration["expected_calibration_error"] <= 1.0 and calibration["reliability"]
    assert sum(r["queries"] for r in calibration["reliability"]) == 6
    page = (tmp_path / "report" / "index.html").read_text()
    assert "Reliability diagram" in page and (tmp_path / "report" / "reliability.png").read_bytes()[:4] == b"\x89PNG"


def test_evaluate_reads_nested_labels_to_the_depth_asked(tmp_path):
    root = write_photos(tmp_path / "n", {
        f"{top}/{sub}/{i}.png": colour for top, sub, colour in [
            ("warm", "red", (250, 10, 10)), ("warm", "orange", (250, 130, 10)), ("cold", "blue", (10, 10, 250)),
        ] for i in range(3)
    })
    result = evaluate(root, encoders=[MEAN_COLOUR], ks=(1,), vote_k=3, cache_dir=tmp_path / "c", label_depth=1)
    assert result.dataset.labels == ["cold", "warm"] and result.runs[0].metrics["recall@1"] == 1.0
