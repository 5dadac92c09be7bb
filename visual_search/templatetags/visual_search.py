"""Template tags: the similar-products carousel, the compact search form, and ``|vs_price``."""

from __future__ import annotations

from django import template
from django.utils.formats import number_format
from django.utils.translation import gettext_lazy as _

from visual_search.analytics.log import click_url, record_search
from visual_search.conf import vs_settings
from visual_search.search.results import build_result_page
from visual_search.search.service import similar_products

register = template.Library()


@register.inclusion_tag("visual_search/carousel.html", takes_context=True)
def similar_products_carousel(context, product, k: int = 12, title: str | None = None,
                              min_confidence: float | None = None):
    """A strip of up to ``k`` products that look like ``product``, best first; nothing when none is left.

    Products under the calibrated floor are left out, or under ``min_confidence`` (0-1) when given.
    """
    trace: dict = {}
    page = build_result_page(similar_products(product, k, trace=trace)).at_least(min_confidence)
    # What the shopper is shown is what the log keeps: click positions are positions in this strip.
    event = record_search(context.get("request"), "carousel", page, k=k, trace=trace, query_product=product.pk)
    return {"title": title or _("Visually similar"), "items": page.items, "product": product, "search_event": event}


@register.simple_tag(takes_context=True)
def vs_click_url(context, item) -> str:
    """Where a result card reports its click (``analytics``); empty when the search was not logged."""
    return click_url(context.get("search_event"), item) or ""


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
