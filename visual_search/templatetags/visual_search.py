"""Template tags: the similar-products carousel, the compact search form, and ``|vs_price``."""

from __future__ import annotations

from django import template
from django.utils.formats import number_format
from django.utils.translation import gettext_lazy as _

from visual_search.conf import vs_settings
from visual_search.results import build_result_page
from visual_search.search import similar_products

register = template.Library()


@register.inclusion_tag("visual_search/carousel.html")
def similar_products_carousel(product, k: int = 12, title: str | None = None, min_confidence: float | None = None):
    """A strip of up to ``k`` products that look like ``product``, best first; nothing when none is left.

    Products under the calibrated floor are left out, or under ``min_confidence`` (0-1) when given.
    """
    page = build_result_page(similar_products(product, k)).at_least(min_confidence)
    return {"title": title or _("Visually similar"), "items": page.items, "product": product}


@register.inclusion_tag("visual_search/search_form.html")
def search_by_photo_form():
    """A compact upload form that posts to the search-by-photo page (no filters, no database query)."""
    return {}


@register.filter
def vs_price(amount) -> str:
    """An adapter's price as ``VISUAL_SEARCH["PRICE_FORMAT"]`` writes it; empty for no price."""
    if amount is None or amount == "":
        return ""
    return str(vs_settings.PRICE_FORMAT).format(amount=number_format(amount, 2))
