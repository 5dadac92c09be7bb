"""A "Duplicates" page in a host's product admin, listing ``find_duplicates()`` pairs.

    class ProductAdmin(DuplicateProductsMixin, admin.ModelAdmin):
        ...

It lives at ``<changelist>/duplicates/`` for staff who may change products.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path

from visual_search.adapters import get_adapter
from visual_search.quality.duplicates import DEFAULT_THRESHOLD, find_duplicates

__all__ = ["DuplicateProductsMixin"]


class DuplicateProductsMixin:
    """Adds the duplicates page to a product ModelAdmin."""

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        view = self.admin_site.admin_view(self.duplicates_view)
        return [path("duplicates/", view, name=f"{info[0]}_{info[1]}_duplicates"), *super().get_urls()]

    def duplicates_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_change_permission(request):
            raise PermissionDenied
        try:
            threshold = min(max(float(request.GET.get("threshold", DEFAULT_THRESHOLD)), 0.5), 1.0)
        except ValueError:
            threshold = DEFAULT_THRESHOLD
        adapter = get_adapter()
        pairs = [
            {"similarity": pair.similarity, "exact": pair.exact,
             "sides": [{"pk": p.pk, "title": adapter.get_title(p), "image": adapter.get_image_url(p)}
                       for p in (pair.first, pair.second)]}
            for pair in find_duplicates(threshold)
        ]
        context = {**self.admin_site.each_context(request), "opts": self.opts, "title": "Duplicate products",
                   "pairs": pairs, "threshold": threshold}
        return TemplateResponse(request, "admin/visual_search/duplicates/duplicates.html", context)
