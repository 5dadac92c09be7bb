"""Fit a small embedding head on frozen encoder features with the shop's own labels.

The loss is normalised softmax over learned class proxies (a metric-learning
loss that "Classification is a strong baseline for deep metric learning",
Zhai & Wu 2019, found on par with pair losses), trained with Adam on cached
features, so it runs in a minute or two on 2 CPU cores. The head is stored as
plain arrays; ``encoders.adapted.AdaptedEncoder`` applies it with numpy.

``held_out_check`` is the generalisation guard: fit on some labels, measure
Recall@1 on labels the head never saw, against the frozen features.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from visual_search.encoders.base import l2_normalize

# The head file format lives with the encoder that reads it (encoders/heads.py); re-exported for scripts.
from visual_search.encoders.heads import apply_head, head_digest, load_head, save_head, store_similarity_floor

__all__ = [
    "apply_head", "fit_head", "head_digest", "held_out_check", "load_head", "save_head", "store_similarity_floor",
]


def fit_head(
    features: np.ndarray,
    labels: np.ndarray,
    *,
    dimensions: int = 256,
    hidden: int = 0,
    epochs: int = 60,
    temperature: float = 0.05,
    learning_rate: float = 1e-3,
    batch_size: int = 128,
    mix: float = 0.0,
    keep: int = 0,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Train a linear (or one-hidden-layer) head with normalised-softmax proxies; return its arrays."""
    import tensorflow as tf  # noqa: PLC0415 - only for training

    tf.keras.utils.set_random_seed(seed)
    classes, y = np.unique(labels, return_inverse=True)
    x = l2_normalize(features)
    width = x.shape[1]
    params: dict[str, Any] = {}
    if hidden:
        params["w1"] = tf.Variable(tf.random.normal((width, hidden), stddev=width**-0.5))
        params["b1"] = tf.Variable(tf.zeros(hidden))
        width = hidden
    params["w"] = tf.Variable(tf.random.normal((width, dimensions), stddev=width**-0.5))
    proxies = tf.Variable(tf.random.normal((len(classes), dimensions)))
    variables = [*params.values(), proxies]
    optimizer = tf.keras.optimizers.Adam(learning_rate)

    @tf.function
    def step(batch: Any, targets: Any) -> Any:
        with tf.GradientTape() as tape:
            h = batch
            if hidden:
                h = tf.nn.relu(h @ params["w1"] + params["b1"])
            z = tf.math.l2_normalize(h @ params["w"], axis=1)
            logits = z @ tf.transpose(tf.math.l2_normalize(proxies, axis=1)) / temperature
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(targets, logits))
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        order = rng.permutation(len(x))
        for start in range(0, len(x), batch_size):
            chosen = order[start : start + batch_size]
            step(tf.constant(x[chosen]), tf.constant(y[chosen]))
    weights = {name: variable.numpy() for name, variable in params.items()}
    if mix:
        weights["mix"] = np.float32(mix)
        weights["keep"] = np.int64(keep or features.shape[1])
    return weights


def _recall_at_1(queries: np.ndarray, catalogue: np.ndarray, query_labels, catalogue_labels, leave_one_out: bool) -> float:
    similarity = l2_normalize(queries) @ l2_normalize(catalogue).T
    if leave_one_out:
        np.fill_diagonal(similarity, -np.inf)
    return float((np.asarray(catalogue_labels)[similarity.argmax(axis=1)] == np.asarray(query_labels)).mean())


def held_out_check(
    catalogue: np.ndarray,
    catalogue_labels: np.ndarray,
    queries: np.ndarray | None = None,
    query_labels: np.ndarray | None = None,
    *,
    folds: int = 3,
    seed: int = 0,
    reference: tuple[np.ndarray, np.ndarray] | None = None,
    **fit_options: Any,
) -> dict[str, Any]:
    """Fit on all labels but one fold, score Recall@1 on that fold's labels only; return per fold and pooled.

    Queries default to the catalogue itself, leave-one-out. ``reference`` is ``(catalogue, queries)``
    from the encoder to compare with (e.g. the zero-shot default); else the features themselves.
    """
    leave_one_out = queries is None
    if leave_one_out:
        queries, query_labels = catalogue, catalogue_labels
    labels = np.unique(catalogue_labels)
    shuffled = np.random.default_rng(seed).permutation(labels)
    results, frozen_hits, adapted_hits, total = [], 0.0, 0.0, 0
    for fold in np.array_split(shuffled, folds):
        train = ~np.isin(catalogue_labels, fold)
        head = fit_head(catalogue[train], catalogue_labels[train], seed=seed, **fit_options)
        in_fold, q_in_fold = np.isin(catalogue_labels, fold), np.isin(query_labels, fold)
        args = (query_labels[q_in_fold], catalogue_labels[in_fold], leave_one_out)
        ref_catalogue, ref_queries = reference if reference is not None else (catalogue, queries)
        frozen = _recall_at_1(ref_queries[q_in_fold], ref_catalogue[in_fold], *args)
        adapted = _recall_at_1(apply_head(head, queries[q_in_fold]), apply_head(head, catalogue[in_fold]), *args)
        n = int(q_in_fold.sum())
        results.append({"held_out": [str(label) for label in fold], "queries": n,
                        "recall@1_frozen": frozen, "recall@1_adapted": adapted})
        frozen_hits, adapted_hits, total = frozen_hits + frozen * n, adapted_hits + adapted * n, total + n
    return {"folds": results, "recall@1_frozen": frozen_hits / total, "recall@1_adapted": adapted_hits / total,
            "change_points": 100 * (adapted_hits - frozen_hits) / total}
