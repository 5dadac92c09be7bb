"""The guard a trained head must pass before it is saved: no category of the catalogue may pay for it.

A head fitted on part of a catalogue can lift those categories and quietly cost
the rest. ``guard()`` scores the whole catalogue, category by category, with
the head and without it (its frozen base features): leave-one-image-out
queries and phone-like views (``phone_views.py``), each a hit when its nearest
other image shares its category. It also compares off-catalogue rejection: the
share of leave-one-category-out queries under each space's own calibrated
floor (``calibration.fit_calibration``). ``visual_search_train`` refuses a head
the guard fails unless ``--force``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from visual_search.encoders.base import l2_normalize

__all__ = ["GuardReport", "guard", "unseen_categories"]

#: A category with at least this many queries counts...
MIN_QUERIES = 20
#: ...and may lose at most this many points of Recall@1.
MAX_DROP_POINTS = 2.0
#: Off-catalogue rejection may fall by at most this many points (less is noise of the calibration's fit).
MAX_REJECTION_DROP_POINTS = 1.0


@dataclass
class GuardReport:
    """Per category: queries, Recall@1 without and with the head; overall rejection; the verdict."""

    rows: list[dict[str, Any]]
    rejection: tuple[float, float]  # share of "not sold" queries flagged: frozen, adapted
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems

    def table(self) -> str:
        """The per-category table as Markdown, full category names."""
        width = max([len("category")] + [len(str(r["category"])) for r in self.rows])
        lines = [f"| {'category':<{width}} | queries | Recall@1 frozen | Recall@1 head | change (points) |",
                 f"|{'-' * (width + 2)}|--------:|----------------:|--------------:|----------------:|"]
        for r in self.rows:
            flag = " <- refused" if r["refused"] else ""
            lines.append(f"| {str(r['category']):<{width}} | {r['queries']:>7} | {100 * r['frozen']:>15.1f} | "
                         f"{100 * r['adapted']:>13.1f} | {r['change_points']:>+15.1f} |{flag}")
        frozen, adapted = self.rejection
        lines.append(f"Off-catalogue rejection (leave-one-category-out, at each space's calibrated floor): "
                     f"frozen {100 * frozen:.1f}%, head {100 * adapted:.1f}%.")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "rejection": {"frozen": self.rejection[0], "adapted": self.rejection[1]},
                "problems": self.problems, "passed": self.passed}


def _hits(queries: np.ndarray, catalogue: np.ndarray, labels: np.ndarray, sources: np.ndarray) -> np.ndarray:
    """Whether each query's nearest catalogue row, other than its source row, shares the source's label."""
    hits = np.zeros(len(queries), bool)
    for start in range(0, len(queries), 512):
        part = slice(start, start + 512)
        similarity = l2_normalize(queries[part]) @ catalogue.T
        similarity[np.arange(similarity.shape[0]), sources[part]] = -np.inf
        hits[part] = labels[similarity.argmax(axis=1)] == labels[sources[part]]
    return hits


def _rejection(catalogue: np.ndarray, labels: np.ndarray, views: np.ndarray | None, sources: np.ndarray | None) -> float:
    from visual_search.quality.calibration import fit_calibration  # noqa: PLC0415

    fit = fit_calibration(catalogue, [str(i) for i in range(len(catalogue))], labels,
                          view_vectors=views, view_sources=sources)
    return fit.rates.get("other_kind_below_floor", 0.0)


def guard(
    frozen: np.ndarray,
    adapted: np.ndarray,
    labels,
    *,
    frozen_views: np.ndarray | None = None,
    adapted_views: np.ndarray | None = None,
    view_sources: np.ndarray | None = None,
    min_queries: int = MIN_QUERIES,
    max_drop_points: float = MAX_DROP_POINTS,
) -> GuardReport:
    """Score the whole catalogue per category without (``frozen``) and with the head (``adapted``).

    Rows of ``frozen`` and ``adapted`` are the same catalogue photos; ``*_views`` are phone-like views of
    the rows ``view_sources``, through each space.
    """
    labels = np.asarray([str(label) for label in labels])
    frozen, adapted = l2_normalize(frozen), l2_normalize(adapted)
    everything = np.arange(len(labels))
    sources = everything
    hits_frozen = _hits(frozen, frozen, labels, everything)
    hits_adapted = _hits(adapted, adapted, labels, everything)
    if frozen_views is not None and len(frozen_views):
        view_sources = np.asarray(view_sources)
        sources = np.concatenate([everything, view_sources])
        hits_frozen = np.concatenate([hits_frozen, _hits(frozen_views, frozen, labels, view_sources)])
        hits_adapted = np.concatenate([hits_adapted, _hits(adapted_views, adapted, labels, view_sources)])
    rows, problems = [], []
    for category in sorted(set(labels)):
        mine = labels[sources] == category
        n = int(mine.sum())
        before, after = float(hits_frozen[mine].mean()), float(hits_adapted[mine].mean())
        change = 100 * (after - before)
        refused = n >= min_queries and change < -max_drop_points
        if refused:
            problems.append(f"{category}: Recall@1 {100 * before:.1f} -> {100 * after:.1f} ({change:+.1f} points, "
                            f"{n} queries)")
        rows.append({"category": category, "queries": n, "frozen": before, "adapted": after,
                     "change_points": change, "refused": refused})
    rejection = (0.0, 0.0)
    if len(set(labels)) >= 2:
        rejection = (_rejection(frozen, labels, frozen_views, view_sources),
                     _rejection(adapted, labels, adapted_views, view_sources))
        if 100 * (rejection[0] - rejection[1]) > MAX_REJECTION_DROP_POINTS:
            problems.append(f"off-catalogue rejection {100 * rejection[0]:.1f}% -> {100 * rejection[1]:.1f}%")
    return GuardReport(rows, rejection, problems)


def unseen_categories(trained: list[str]) -> set[str]:
    """Categories of searchable products (by name or slug) that are not among ``trained``."""
    from django.db.models import ForeignKey  # noqa: PLC0415

    from visual_search.adapters import get_adapter  # noqa: PLC0415
    from visual_search.conf import get_product_model, vs_settings  # noqa: PLC0415

    known = {str(c).casefold() for c in trained}
    name = vs_settings.CATEGORY_FIELD
    try:
        model_field = get_product_model()._meta.get_field(name)
    except Exception:  # noqa: BLE001 - no category field: nothing to compare
        return set()
    values = get_adapter().get_queryset().order_by().values_list(name, flat=True).distinct()
    if isinstance(model_field, ForeignKey):
        categories = model_field.related_model._default_manager.filter(pk__in=list(values))
        seen = {c: {str(c), str(getattr(c, "slug", "")), str(getattr(c, "name", ""))} for c in categories}
        return {str(c) for c, names in seen.items() if not {n.casefold() for n in names if n} & known}
    return {str(v) for v in values if v not in (None, "") and str(v).casefold() not in known}
