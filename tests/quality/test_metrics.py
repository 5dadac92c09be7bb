"""Metrics against values worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from visual_search.quality.evaluation import metrics
from visual_search.quality.suggest import vote

RELEVANT = np.array(
    [
        [1, 1, 0, 0],
        [1, 0, 0, 1],
        [0, 0, 1, 1],
    ],
    dtype=bool,
)
N_RELEVANT = np.array([2, 2, 2])


def test_recall_precision_and_map_by_hand():
    assert metrics.recall_at(RELEVANT, 1) == pytest.approx(2 / 3)
    assert metrics.recall_at(RELEVANT, 2) == pytest.approx(2 / 3)
    assert metrics.recall_at(RELEVANT, 3) == pytest.approx(1.0)
    assert metrics.precision_at(RELEVANT, 2) == pytest.approx((1 + 0.5 + 0) / 3)
    assert metrics.precision_at(RELEVANT, 3) == pytest.approx((2 / 3 + 1 / 3 + 1 / 3) / 3)
    # AP@3: (1/1 + 2/2)/2 = 1; (1/1)/2 = 0.5; (1/3)/2 = 1/6.
    assert metrics.average_precision_at(RELEVANT, N_RELEVANT, 3) == pytest.approx((1 + 0.5 + 1 / 6) / 3)
    # A missing rank (padding) is a miss, never an error.
    assert metrics.precision_at(np.array([[True]]), 10) == pytest.approx(0.1)


def test_precision_recall_curve_by_hand():
    # One query, hits at ranks 1 and 3 of 4: precision 1 at recall 0.5, 2/3 at recall 1.
    curve = metrics.precision_recall_curve(np.array([[1, 0, 1, 0]], dtype=bool), np.array([2]), points=3)
    assert curve["recall"] == [0.0, 0.5, 1.0]
    assert curve["precision"] == pytest.approx([1.0, 1.0, 2 / 3])


def test_exhaustive_rankings_group_photos_into_products_and_exclude():
    queries = np.array([[1.0, 0.0]])
    catalogue = np.array([[0.0, 1.0], [0.6, 0.8], [1.0, 0.0]])
    # Photos 0 and 2 are one product: it scores its best photo (1.0) and ranks first.
    order, sims = metrics.exhaustive_rankings(queries, catalogue, np.array([0, 1, 0]))
    assert order.tolist() == [[0, 1]]
    assert sims[0].tolist() == pytest.approx([1.0, 0.6])
    order, _ = metrics.exhaustive_rankings(queries, catalogue, np.array([0, 1, 2]), exclude=np.array([2]))
    assert order.tolist() == [[1, 0]]


def test_classification_report_by_hand():
    report = metrics.classification_report(["red", "blue", "red"], ["red", "red", "blue"], ["blue", "red"])
    assert report["per_label"]["red"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    assert report["per_label"]["blue"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert report["macro"]["f1"] == pytest.approx(0.25)
    assert report["accuracy"] == pytest.approx(1 / 3)


def test_vote_weighs_similarity_and_breaks_ties_by_the_nearest():
    label, confidence, shares = vote(["a", "b", "b"], [0.9, 0.6, 0.5])
    assert label == "b" and confidence == pytest.approx(1.1 / 2.0)
    assert shares["a"] == pytest.approx(0.9 / 2.0)
    assert vote(["a", "b"], [0.5, 0.5])[0] == "a"
    assert vote([None, ""], [0.9, 0.9]) == (None, 0.0, {})
    assert vote(["a", "b"], [-0.2, 0.1])[:2] == ("b", 1.0)  # negative similarity carries no weight
