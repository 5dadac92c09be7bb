"""The latency benchmark's own arithmetic: recall by distance, and a catalogue that does not depend on its blocks."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.vectors import EPSILON, distance_ratio, distance_recall_at, perturbed_chunks, perturbed_copies


def test_distance_recall_counts_equally_close_items_that_recall_by_id_misses():
    truth = [[0.10, 0.20, 0.30]]
    assert distance_recall_at([[0.10, 0.20, 0.30 + EPSILON / 2]], truth, 3) == pytest.approx(1.0)
    assert distance_recall_at([[0.10, 0.20, 0.40]], truth, 3) == pytest.approx(2 / 3)
    assert distance_recall_at([[0.10, 0.20, 0.30 + EPSILON / 2]], truth, 3, epsilon=0.0) == pytest.approx(2 / 3)
    assert distance_recall_at([[0.10]], truth, 3) == pytest.approx(1 / 3)  # fewer returned than asked
    assert np.isnan(distance_recall_at([[0.1]], [[]], 3))


def test_distance_ratio():
    assert distance_ratio([[0.1, 0.3]], [[0.1, 0.1]], 2) == pytest.approx(2.0)
    assert distance_ratio([[0.2, 0.1]], [[0.1, 0.2]], 2) == pytest.approx(1.0)


@pytest.mark.parametrize("mix", [0.0, 0.5])
def test_perturbed_rows_do_not_depend_on_the_block_size(mix):
    base = np.random.default_rng(1).random((50, 16)).astype(np.float32)
    whole, _ = perturbed_copies(base, 25_000, 0.6, seed=3, mix=mix)
    blocks = list(perturbed_chunks(base, 25_000, 0.6, seed=3, chunk=12_000, mix=mix))
    assert np.array_equal(np.concatenate([v for _, v, _ in blocks]), whole)
    assert [start for start, _, _ in blocks] == [0, 50, 20_050]
