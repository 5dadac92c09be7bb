"""The one results path: ranked search hits -> what a page, a tag or the API shows.

Public API::

    from visual_search.search.results import build_result_page, ResultPage, ResultItem

    page = build_result_page(similar_products(product, k=12))   # or search_by_image / search_by_vector
    page.close_match        # bool: the best result is likely what was photographed or the same kind of thing
    page.confidence         # the best result's confidence (0 with no results)
    page.verdict            # "match", "closest" (results, none likely) or "not_sold" (best confidence low)
    page.calibrated         # whether confidence comes from this catalogue's calibration (visual_search_calibrate)
    page.items              # list[ResultItem], best first
    page.matches            # the items at or above the floor
    page.others             # the items below it (show them, if at all, as "nearest items")
    page.floor              # the floor that was applied

    item.product, item.pk, item.title, item.url, item.image_url (a thumbnail),
    item.price (Decimal | None), item.in_stock (bool | None), item.score (cosine similarity),
    item.distance, item.confidence (0-1, calibrated on the catalogue, never higher than the item above),
    item.relevance ("near_identical" | "similar" | "not_close"),
    item.relevance_label (translated words), item.is_match, item.matched_image (the image key)

Everything shown of a product comes from the adapter's bulk ``get_display()``,
called once per page, so a page of k results costs the same number of queries
for every k.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import Model
from django.utils.translation import gettext_lazy as _

from visual_search.adapters import ProductAdapter, ProductDisplay, get_adapter
from visual_search.conf import vs_settings
from visual_search.search.confidence import Calibrator, current_calibrator
from visual_search.search.service import SearchResult

#: At or above this cosine similarity a result is (nearly) the same picture: a crop, a re-encode.
NEAR_IDENTICAL_SCORE = 0.9

RELEVANCE_LABELS = {
    "near_identical": _("Near-identical"),
    "similar": _("Similar"),
    "not_close": _("Not a close match"),
}


def similarity_floor() -> float:
    """``VISUAL_SEARCH["SIMILARITY_FLOOR"]`` when set, else the serving encoder's floor on this catalogue.

    That is the floor of its latest calibration (``visual_search_calibrate``), else the encoder's own
    ``similarity_floor``. Scores come from the encoder searches are served from, so its floor is the one
    that fits them, also during an encoder switch.
    """
    return current_calibrator().floor


def relevance(score: float, floor: float) -> str:
    """A stable code for how close a score is: ``near_identical``, ``similar`` or ``not_close``."""
    if score >= max(NEAR_IDENTICAL_SCORE, floor):
        return "near_identical"
    return "similar" if score >= floor else "not_close"


@dataclass(frozen=True)
class ResultItem:
    """One ranked product as every surface shows it."""

    product: Model
    pk: Any
    title: str
    url: str | None
    image_url: str | None
    price: Decimal | None
    in_stock: bool | None
    score: float
    distance: float
    relevance: str
    matched_image: str
    confidence: float = 0.0

    @property
    def is_match(self) -> bool:
        return self.relevance != "not_close"

    @property
    def relevance_label(self) -> str:
        return str(RELEVANCE_LABELS[self.relevance])


@dataclass(frozen=True)
class ResultPage:
    """Ranked items plus whether anything in the catalogue is close at all."""

    items: list[ResultItem] = field(default_factory=list)
    floor: float = 0.0
    calibrated: bool = False

    @property
    def close_match(self) -> bool:
        """The best result is likely what the shopper photographed, or the same kind of thing."""
        return bool(self.items) and self.items[0].is_match

    @property
    def confidence(self) -> float:
        return self.items[0].confidence if self.items else 0.0

    @property
    def verdict(self) -> str:
        """``match``; ``closest`` (results, none likely a match); ``not_sold`` (nothing, or the best is unlikely)."""
        if self.close_match:
            return "match"
        if self.items and self.confidence >= float(vs_settings.LOW_CONFIDENCE):
            return "closest"
        return "not_sold"

    def at_least(self, min_confidence: float | None = None) -> ResultPage:
        """The page without items under ``min_confidence``, or, when it is None, under the floor."""
        if min_confidence is None:
            kept = self.matches
        else:
            kept = [item for item in self.items if item.confidence >= float(min_confidence)]
        return ResultPage(items=kept, floor=self.floor, calibrated=self.calibrated)

    @property
    def matches(self) -> list[ResultItem]:
        return [item for item in self.items if item.is_match]

    @property
    def others(self) -> list[ResultItem]:
        return [item for item in self.items if not item.is_match]

    def __iter__(self):
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


def boosted(results: Sequence[SearchResult], adapter: ProductAdapter, displays: dict, floor: float) -> list:
    """``results`` re-ranked by ``BOOSTS``: score + the weighted signals (within +-``MAX_BOOST``), matches first.

    Without weights the order is the search's. A result under the floor never outranks one at or
    above it, so a boost can reorder matches among themselves, and the rest among themselves.
    """
    weights = {name: float(w) for name, w in (vs_settings.BOOSTS or {}).items() if w}
    if not weights or len(results) < 2:
        return list(results)
    signals = adapter.get_signals([r.product for r in results], displays)
    cap = abs(float(vs_settings.MAX_BOOST))

    def key(r: SearchResult) -> tuple[bool, float]:
        given = signals.get(r.product.pk, {})
        total = sum(w * min(1.0, max(0.0, float(given.get(name, 0.0)))) for name, w in weights.items())
        return r.score >= floor, r.score + min(cap, max(-cap, total))

    return sorted(results, key=key, reverse=True)  # stable: equal keys keep the search's order


def build_result_page(
    results: Sequence[SearchResult],
    *,
    floor: float | None = None,
    adapter: ProductAdapter | None = None,
    calibrator: Calibrator | None = None,
) -> ResultPage:
    """Turn ranked ``SearchResult``s into a ``ResultPage``; one ``adapter.get_display()`` call for all.

    ``floor`` overrides the calibrated floor (the confidence mapping stays).
    """
    calibrator = calibrator or current_calibrator()
    floor = calibrator.floor if floor is None else float(floor)
    adapter = adapter or get_adapter()
    displays = adapter.get_display([r.product for r in results]) if results else {}
    results = boosted(results, adapter, displays, floor)
    items = []
    ceiling = 1.0
    for r in results:
        # Results come best first; the running minimum keeps that true of confidence whatever ties do.
        ceiling = min(ceiling, calibrator.confidence(r.score), r.content)
        shown = displays.get(r.product.pk) or ProductDisplay(title=str(r.product))
        items.append(
            ResultItem(
                product=r.product,
                pk=r.product.pk,
                title=shown.title,
                url=shown.url,
                image_url=shown.image_url,
                price=shown.price,
                in_stock=shown.in_stock,
                score=r.score,
                distance=r.distance,
                # A photo unlike anything the catalogue shows is no match at any score.
                relevance=relevance(r.score, floor) if r.content >= 1.0 else "not_close",
                matched_image=r.image_key,
                confidence=round(float(ceiling), 4),
            )
        )
    return ResultPage(items=items, floor=floor, calibrated=calibrator.calibrated)
