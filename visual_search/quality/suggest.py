"""Category suggestion: the categories of a product's nearest neighbours vote, weighted by similarity.

The same ``vote()`` scores ``visual_search_evaluate``'s per-label precision and
recall, so the figures it reports are those of ``suggest_category()``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.db import DEFAULT_DB_ALIAS
from django.db.models import ForeignKey, Model

from visual_search.conf import get_product_model, vs_settings

__all__ = ["Suggestion", "suggest_category", "vote"]


@dataclass(frozen=True)
class Suggestion:
    """The winning category, its share of the vote (0-1), and every category's share."""

    category: Any
    confidence: float
    votes: dict[Any, float] = field(default_factory=dict)
    neighbours: int = 0


def vote(labels: Sequence[Any], similarities: Sequence[float]) -> tuple[Any, float, dict[Any, float]]:
    """``(label, confidence, shares)`` from neighbours' labels and cosine similarities, nearest first.

    Each neighbour weighs its similarity (negative counts 0); a tie goes to the label
    of the nearest neighbour among the tied ones. With no usable neighbour: ``(None, 0, {})``.
    """
    weights: dict[Any, float] = {}
    for label, similarity in zip(labels, similarities):
        if label is None or label == "":
            continue
        weights[label] = weights.get(label, 0.0) + max(float(similarity), 0.0)
    total = sum(weights.values())
    if not weights or total <= 0:
        return None, 0.0, {}
    best = max(weights.values())
    # dict keeps first-seen (= nearest) order, so the first label at the top weight wins a tie.
    winner = next(label for label, weight in weights.items() if weight == best)
    return winner, best / total, {label: weight / total for label, weight in weights.items()}


def _categories(results: Sequence[Any]) -> list[Any]:
    """Category of each result's product: the related instance for a ForeignKey, else the field's value."""
    name = vs_settings.CATEGORY_FIELD
    model_field = get_product_model()._meta.get_field(name)
    if not isinstance(model_field, ForeignKey):
        return [getattr(r.product, name) for r in results]
    # One query for all related categories instead of one per product.
    ids = [getattr(r.product, model_field.attname) for r in results]
    related = model_field.related_model._default_manager.in_bulk({i for i in ids if i is not None})
    return [related.get(i) for i in ids]


def suggest_category(
    product_or_vector: Model | Any | np.ndarray, k: int | None = None, *, using: str = DEFAULT_DB_ALIAS
) -> Suggestion:
    """Suggest a category for a product (instance or pk; itself excluded) or a query vector.

    Neighbours come from ``similar_products`` / ``search_by_vector``, so only searchable
    products vote; ``k`` defaults to ``VISUAL_SEARCH["SUGGEST_NEIGHBOURS"]``.
    """
    from visual_search.search.service import search_by_vector, similar_products  # noqa: PLC0415

    k = int(k or vs_settings.SUGGEST_NEIGHBOURS)
    if isinstance(product_or_vector, np.ndarray):
        results = search_by_vector(product_or_vector, k, using=using)
    else:
        results = similar_products(product_or_vector, k, using=using)
    if not results:
        return Suggestion(None, 0.0)
    label, confidence, shares = vote(_categories(results), [r.score for r in results])
    return Suggestion(label, confidence, shares, len(results))
