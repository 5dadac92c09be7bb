"""Retrieval and classification metrics over rankings of catalogue products.

All functions are plain numpy on a boolean ``relevant`` matrix (one row per
query, one column per rank), so the exhaustive and the live path are scored
by the same code.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "average_precision_at",
    "classification_report",
    "exhaustive_rankings",
    "precision_at",
    "precision_recall_curve",
    "recall_at",
]


def exhaustive_rankings(
    queries: np.ndarray,
    catalogue: np.ndarray,
    product_of: np.ndarray,
    k: int | None = None,
    exclude: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Products ranked by their best photo's cosine similarity: ``(indices, similarities)``, best first.

    ``product_of`` maps each catalogue row to its product; ``exclude[q]`` is a product query
    ``q`` may not find (leave-one-out). ``k=None`` ranks every product.
    """
    similarity = queries @ catalogue.T
    n_products = int(product_of.max()) + 1
    if n_products == len(product_of) and (product_of == np.arange(n_products)).all():
        per_product = similarity  # one photo per product
    else:
        per_product = np.full((len(queries), n_products), -np.inf, dtype=np.float32)
        for column, product in enumerate(product_of):  # a product scores its best photo, as in the app
            np.maximum(per_product[:, product], similarity[:, column], out=per_product[:, product])
    if exclude is not None:
        per_product = per_product.copy()
        per_product[np.arange(len(queries)), exclude] = -np.inf
    order = np.argsort(-per_product, axis=1, kind="stable")
    if exclude is not None:
        order = order[:, :-1]  # the excluded product sorts last
    if k is not None:
        order = order[:, :k]
    return order, np.take_along_axis(per_product, order, axis=1)


def recall_at(relevant: np.ndarray, k: int) -> float:
    """Recall@K as metric-learning papers use it: share of queries with a hit in the top K."""
    return float(relevant[:, :k].any(axis=1).mean())


def precision_at(relevant: np.ndarray, k: int) -> float:
    """Mean share of hits among the top K (a missing rank counts as a miss)."""
    return float((relevant[:, :k].sum(axis=1) / k).mean())


def average_precision_at(relevant: np.ndarray, n_relevant: np.ndarray, k: int) -> float:
    """mAP@K: mean over queries of the precision at each hit in the top K, over min(K, hits there are)."""
    rel = relevant[:, :k].astype(np.float64)
    precision = np.cumsum(rel, axis=1) / np.arange(1, rel.shape[1] + 1)
    return float(((precision * rel).sum(axis=1) / np.maximum(np.minimum(n_relevant, k), 1)).mean())


def precision_recall_curve(relevant: np.ndarray, n_relevant: np.ndarray, points: int = 21) -> dict[str, list]:
    """Mean interpolated precision at ``points`` recall levels from 0 to 1 (the TREC 11-point curve, finer).

    ``relevant`` must cover each query's whole ranking, else high recall levels read as 0.
    """
    hits = np.cumsum(relevant, axis=1)
    recall = hits / np.maximum(n_relevant, 1)[:, None]
    precision = hits / np.arange(1, relevant.shape[1] + 1)
    # Interpolated precision: the best precision at this recall or any higher one.
    best_after = np.maximum.accumulate(precision[:, ::-1], axis=1)[:, ::-1]
    levels = np.linspace(0.0, 1.0, points)
    curve = []
    for level in levels:
        reached = recall >= level - 1e-12
        first = np.where(reached.any(axis=1), reached.argmax(axis=1), -1)
        values = np.where(first >= 0, best_after[np.arange(len(first)), np.maximum(first, 0)], 0.0)
        curve.append(float(values.mean()))
    return {"recall": [float(x) for x in levels], "precision": curve}


def classification_report(truth: Sequence[str], predicted: Sequence[str], labels: Sequence[str]) -> dict:
    """Per-label precision, recall, F1 and support, their macro averages, and accuracy.

    A label never predicted has precision 0 (as scikit-learn's ``zero_division=0``).
    """
    truth, predicted = np.asarray(truth, dtype=object), np.asarray(predicted, dtype=object)
    per_label = {}
    for label in labels:
        true_positive = int(((predicted == label) & (truth == label)).sum())
        n_predicted, support = int((predicted == label).sum()), int((truth == label).sum())
        precision = true_positive / n_predicted if n_predicted else 0.0
        recall = true_positive / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_label[label] = {"precision": precision, "recall": recall, "f1": f1, "support": support}
    present = [per_label[label] for label in labels if per_label[label]["support"]]
    macro = {m: float(np.mean([row[m] for row in present])) if present else 0.0 for m in ("precision", "recall", "f1")}
    return {"per_label": per_label, "macro": macro, "accuracy": float((truth == predicted).mean()) if len(truth) else 0.0}
