"""Tags for Oscar's dashboard: ``{% embedding_status product table %}`` and ``{% embedding_progress %}``."""

from __future__ import annotations

from django import template

from visual_search.contrib.oscar.dashboard import catalogue_summary, page_statuses, status_label
from visual_search.indexing.progress import embedding_statuses

register = template.Library()


@register.inclusion_tag("visual_search_oscar/dashboard/status.html")
def embedding_status(product, table=None):
    """A product's embedding status as a badge; with the table, the page's statuses are read once."""
    statuses = page_statuses(table) if table is not None else {}
    status = statuses.get(product.pk) or embedding_statuses([product.pk])[product.pk]
    return {"status": status, "label": status_label(status)}


@register.inclusion_tag("visual_search_oscar/dashboard/progress.html")
def embedding_progress():
    """The catalogue's embedding progress, with links to the admin's progress and jobs pages."""
    return catalogue_summary()
