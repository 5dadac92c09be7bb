"""What Oscar's dashboard product list shows of visual search: each product's status, the catalogue's progress.

The product list's templates are overridden (``templates/oscar/dashboard/catalogue/``);
this module reads the numbers. A page's statuses are read once for all its rows
(three small queries), not per row.
"""

from __future__ import annotations

from typing import Any

from django.urls import NoReverseMatch, reverse

from visual_search.indexing.progress import catalogue_progress, embedding_statuses

#: Where the numbers come from in Django's admin, when the host includes the admin's URLs.
ADMIN_PAGES = {
    "progress_url": "admin:visual_search_productimageembedding_progress",
    "jobs_url": "admin:visual_search_bulkjob_changelist",
}


def _admin_url(name: str) -> str | None:
    try:
        return reverse(name)
    except NoReverseMatch:  # a host without django.contrib.admin's URLs: no link rather than a 500
        return None


def catalogue_summary() -> dict[str, Any]:
    """The catalogue's embedding progress and links to the admin's progress and jobs pages."""
    return {"progress": catalogue_progress(), **{key: _admin_url(name) for key, name in ADMIN_PAGES.items()}}


def page_statuses(table) -> dict[Any, str]:
    """Each product on the table's current page -> its embedding status, read once and kept on the table."""
    cached = getattr(table, "_visual_search_statuses", None)
    if cached is None:
        page = getattr(table, "page", None)
        rows = page.object_list if page is not None else table.rows
        cached = embedding_statuses([row.record.pk for row in rows])
        table._visual_search_statuses = cached
    return cached


def status_label(status: str) -> str:
    """The admin's words for a status ("Not embedded" for ``none``)."""
    from visual_search.web.admin import STATUS_LABELS  # noqa: PLC0415 - the admin module registers on import

    return STATUS_LABELS.get(status, status)
