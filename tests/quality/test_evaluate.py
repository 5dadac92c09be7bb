"""evaluate() and visual_search_evaluate on generated photos: hand-worked metrics, exhaustive and live."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from django.core.management import call_command
from django.db import connection

from tests.quality.conftest import MEAN_COLOUR
from visual_search.quality.evaluation import evaluate, load_evaluation_set

# Worked out by hand from the colours in conftest.HAND_SET (cosines of mean-colour directions):
# q1 ranks r1, r2, b2, b1 (hits 1 1 0 0); q2 ranks b2, r1, r2, b1 (1 0 0 1); q3 ranks b2, b1, r1, r2 (0 0 1 1).
HAND_METRICS = {
    "recall@1": 2 / 3, "recall@2": 2 / 3, "recall@3": 1.0,
    "precision@3": (2 / 3 + 1 / 3 + 1 / 3) / 3, "map@3": (1 + 0.5 + 1 / 6) / 3,
}


def _check_hand_metrics(run):
    for name, value in HAND_METRICS.items():
        assert run.metrics[name] == pytest.approx(value), name
    # Votes of the top 3: q1 red (right), q2 red (wrong: blue), q3 blue (wrong: red).
    assert run.predicted == ["red", "red", "blue"]
    assert run.suggestion["per_label"]["red"]["f1"] == pytest.approx(0.5)
    assert run.suggestion["macro"]["f1"] == pytest.approx(0.25)
    assert run.suggestion["accuracy"] == pytest.approx(1 / 3)


def test_layouts(hand_set, tmp_path):
    split = load_evaluation_set(hand_set)
    assert (len(split.queries), len(split.catalogue), split.leave_one_out) == (3, 4, False)
    pooled = load_evaluation_set(hand_set, leave_one_out=True)
    assert len(pooled.queries) == len(pooled.catalogue) == 7 and pooled.leave_one_out
    flat = load_evaluation_set(hand_set / "train")
    assert flat.leave_one_out and flat.labels == ["blue", "red"]
    manifest = tmp_path / "m.csv"
    with manifest.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label", "split", "product_id"])
        writer.writerow([hand_set / "train/red/r1.png", "red", "catalogue", "p1"])
        writer.writerow([hand_set / "train/red/r2.png", "red", "catalogue", "p1"])
        writer.writerow([hand_set / "train/blue/b1.png", "blue", "catalogue", "p2"])
        writer.writerow([hand_set / "test/red/q1.png", "red", "query", "p2"])
    data = load_evaluation_set(manifest)
    assert data.products == ["p1", "p2"] and data.product_of.tolist() == [0, 0, 1]
    # A hit is the same product_id when the query has one, whatever the label says.
    assert data.relevance(np.array([[0, 1]])).tolist() == [[False, True]]


def test_exhaustive_metrics_match_hand_values(hand_set, tmp_path):
    result = evaluate(hand_set, encoders=[MEAN_COLOUR], ks=(1, 2, 3), vote_k=3, cache_dir=tmp_path / "cache")
    (run,) = result.runs
    _check_hand_metrics(run)
    again = evaluate(hand_set, encoders=[MEAN_COLOUR], ks=(1, 2, 3), vote_k=3, cache_dir=tmp_path / "cache")
    assert again.runs[0].timing["embedded_now"] == 0  # every photo came from the cache
    assert again.runs[0].metrics == run.metrics


@pytest.mark.django_db
def test_live_matches_hand_values_and_leaves_no_database(hand_set, tmp_path):
    result = evaluate(hand_set, encoders=[MEAN_COLOUR], ks=(1, 2, 3), vote_k=3, live=True,
                      cache_dir=tmp_path / "cache")
    _, live = result.runs
    assert live.path == "live"
    _check_hand_metrics(live)
    assert live.timing["plan"] in ("HNSW index", "exact scan")
    assert result.configuration["pgvector"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_database WHERE datname = %s", [result.configuration["scratch_database"]])
        assert cursor.fetchone()[0] == 0  # the scratch database was dropped


@pytest.mark.django_db
def test_command_live_on_thirty_photos_writes_json_and_report(thirty_set, tmp_path, capsys):
    out = tmp_path / "out"
    call_command(
        "visual_search_evaluate", str(thirty_set), "--encoder", MEAN_COLOUR, "--encoder", "color-histogram",
        "--live", "--cache-dir", str(tmp_path / "cache"), "--json", str(out / "r.json"), "--report", str(out),
    )
    printed = capsys.readouterr().out
    assert "test-mean-colour" in printed and "live" in printed
    data = json.loads((out / "r.json").read_text())
    assert data["dataset"]["catalogue_products"] == 30 and data["dataset"]["queries"] == 6
    runs = {(r["encoder"], r["path"]): r for r in data["runs"]}
    assert set(runs) == {(e, p) for e in ("test-mean-colour", "color-histogram") for p in ("exhaustive", "live")}
    # Three well-separated colours: every neighbour in the top 10 shares the query's label.
    mean_live = runs["test-mean-colour", "live"]["metrics"]
    assert mean_live["recall@1"] == mean_live["precision@10"] == 1.0
    for encoder in ("test-mean-colour", "color-histogram"):
        assert runs[encoder, "live"]["metrics"] == pytest.approx(runs[encoder, "exhaustive"]["metrics"])
    page = (out / "index.html").read_text()
    assert page.count("data:image/jpeg;base64,") >= 6 and "data:image/png;base64," in page
    assert "macro average" in page and (out / "curves.png").read_bytes().startswith(b"\x89PNG")


@pytest.mark.django_db
def test_manifest_with_galleries_live_equals_exhaustive(thirty_set, tmp_path):
    # Products of two photos each (two shades of one colour); a hit is the query's own product.
    manifest = tmp_path / "products.csv"
    with manifest.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label", "split", "product_id"])
        for label in ("red", "green", "blue"):
            for i in range(10):
                writer.writerow([thirty_set / f"train/{label}/{i}.png", label, "catalogue", f"{label}-{i // 2}"])
            writer.writerow([thirty_set / f"test/{label}/q0.png", label, "query", f"{label}-0"])
    result = evaluate(manifest, encoders=[MEAN_COLOUR], live=True, ks=(1, 5), vote_k=5, cache_dir=tmp_path / "c")
    assert len(result.dataset.products) == 15 and result.configuration["relevance"] == "same product_id"
    exhaustive, live = result.runs
    assert live.metrics == pytest.approx(exhaustive.metrics)
    n = exhaustive.rankings.shape[1]  # 15 products, fewer than the 20 ranks asked for
    assert (live.rankings[:, :n] == exhaustive.rankings).all() and (live.rankings[:, n:] == -1).all()
    # Each query has exactly one relevant product among 15, so P@5 is at most 1/5.
    assert live.metrics["precision@5"] <= 0.2 + 1e-9 and live.metrics["recall@5"] > 0
