"""The search log in the admin: searches and interactions read-only, and an analytics page with charts."""

from __future__ import annotations

import csv
import datetime

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.dateparse import parse_date

from visual_search.analytics import charts
from visual_search.analytics.models import Interaction, SearchEvent, Surface
from visual_search.analytics.reports import build_report

DEFAULT_DAYS = 30
UNSOLD_TITLE = "What shoppers photographed that you don't sell"
UNSOLD_EMPTY = "No photo searches without a close match were named in this range."


class ReadOnlyAdmin(admin.ModelAdmin):
    """A log is written by searches, never edited by hand (deleting old rows is the purge command's job)."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class InteractionInline(admin.TabularInline):
    model = Interaction
    extra = 0
    can_delete = False
    readonly_fields = ["kind", "product", "position", "created_at"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(SearchEvent)
class SearchEventAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at", "surface", "caller", "close_match", "photo_label", "result_count", "total_time",
    ]
    list_filter = ["surface", "close_match", "created_at"]
    date_hierarchy = "created_at"
    inlines = [InteractionInline]
    change_list_template = "admin/visual_search_analytics/searchevent/change_list.html"

    @admin.display(description="results")
    def result_count(self, event: SearchEvent) -> int:
        return len(event.results)

    @admin.display(description="time (ms)")
    def total_time(self, event: SearchEvent) -> str:
        return "" if event.total_ms is None else f"{event.total_ms:.0f}"

    def get_urls(self):
        view = self.admin_site.admin_view(self.analytics_view)
        return [path("analytics/", view, name="visual_search_analytics_searchevent_analytics"), *super().get_urls()]

    def analytics_view(self, request: HttpRequest) -> HttpResponse:
        """Charts over a date range (``start``, ``end``, ``surface``); ``?format=csv`` gives the daily rows."""
        today = timezone.localdate()
        end = parse_date(request.GET.get("end", "") or "") or today
        start = parse_date(request.GET.get("start", "") or "") or end - datetime.timedelta(days=DEFAULT_DAYS - 1)
        start, end = min(start, end), max(start, end)
        surface = request.GET.get("surface") if request.GET.get("surface") in Surface.values else None
        report = build_report(start, end, surface)
        if request.GET.get("format") == "csv":
            return _csv(report)
        labels = [d.day.strftime("%d %b") for d in report.days]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Search analytics",
            "report": report,
            "start": start, "end": end, "surface": surface or "", "surfaces": Surface.choices,
            "charts": [
                charts.stacked_bars("Searches per day", labels, [
                    ("with a close match", "vs-chart--match", [d.searches - d.no_close_match for d in report.days]),
                    ("no close match", "vs-chart--miss", [d.no_close_match for d in report.days]),
                ]),
                charts.lines("Time per search (decode + embed + query)", labels, [
                    ("p50", "vs-chart--p50", [d.p50_ms for d in report.days]),
                    ("p95", "vs-chart--p95", [d.p95_ms for d in report.days]),
                ], unit=" ms"),
                charts.stacked_bars("Click-through by rank", [str(r) for r, _, _ in report.ctr_by_rank], [
                    ("clicked", "vs-chart--match", [c / i if i else 0.0 for _, i, c in report.ctr_by_rank]),
                ], unit="%"),
                charts.horizontal_bars(UNSOLD_TITLE, report.unsold_labels, "vs-chart--miss",
                                       empty_text=UNSOLD_EMPTY),
            ],
            "csv_url": f"{reverse('admin:visual_search_analytics_searchevent_analytics')}?"
                       f"start={start}&end={end}&surface={surface or ''}&format=csv",
        }
        return TemplateResponse(request, "admin/visual_search_analytics/searchevent/analytics.html", context)


def _csv(report) -> HttpResponse:
    """The daily rows; after a blank line, photo searches with no close match per ImageNet class."""
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="visual-search-{report.start}-{report.end}.csv"'
    writer = csv.writer(response)
    writer.writerow(["day", "searches", "no_close_match", "p50_ms", "p95_ms"])
    for d in report.days:
        writer.writerow([d.day.isoformat(), d.searches, d.no_close_match,
                         "" if d.p50_ms is None else round(d.p50_ms, 1), "" if d.p95_ms is None else round(d.p95_ms, 1)])
    writer.writerow([])
    writer.writerow(["photographed_not_sold", "searches"])
    writer.writerows(report.unsold_labels)
    return response


@admin.register(Interaction)
class InteractionAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "kind", "product", "position", "event"]
    list_filter = ["kind", "created_at"]
    raw_id_fields = ["event"]
