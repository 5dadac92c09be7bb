"""Template tags: ``{% similar_products_carousel product %}`` and ``{% search_by_photo_form %}``."""

from __future__ import annotations

from django import template

from visual_search.search import similar_products
from visual_search.views import PhotoSearchForm, result_cards

register = template.Library()


@register.inclusion_tag("visual_search/carousel.html")
def similar_products_carousel(product, k: int = 8, title: str = "Visually similar"):
    """A horizontal strip of the products that look most like ``product``."""
    return {"title": title, "items": result_cards(similar_products(product, k))}


@register.inclusion_tag("visual_search/search_form.html")
def search_by_photo_form():
    """A compact upload form that posts to the search-by-photo page."""
    return {"form": PhotoSearchForm()}
