"""Admin for the embedding table, a live "Embedding progress" page, and helpers for a host's product admin.

A host adds embedding state to its own ProductAdmin with three names from here:

    class ProductAdmin(EmbeddingStatusMixin, admin.ModelAdmin):
        list_display = [..., "embedding_status"]
        list_filter = [..., EmbeddingStatusFilter]
        actions = [reembed_products]
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.text import Truncator

from visual_search.bulk import MODES, enqueue_reembed, queue_catalogue, task_count
from visual_search.conf import vs_settings
from visual_search.encoders import get_encoder
from visual_search.models import ProductImageEmbedding
from visual_search.progress import catalogue_progress, embedding_statuses, filter_by_embedding_status
from visual_search.vector_index import index_exists

# Readable on the admin's light and dark themes alike.
STATUS_COLOURS = {"ready": "#2e9d4a", "pending": "#c98a00", "failed": "#d43a3a", "none": "#8a8a8a"}
STATUS_LABELS = {"ready": "Ready", "pending": "Pending", "failed": "Failed", "none": "Not embedded"}
MODE_LABELS = {
    "missing": "Missing: never embedded, pending or from an older encoder version",
    "failed": "Failed: products with an image that failed",
    "all": "All searchable products (unchanged images are skipped)",
}


def _status_badge(status: str, label: str | None = None) -> str:
    return format_html('<span style="color:{};font-weight:600">&#9679; {}</span>',
                       STATUS_COLOURS.get(status, "inherit"), label or STATUS_LABELS.get(status, status))


def _bar_widths(total: int, ready: int, settled: int) -> dict[str, float]:
    # Percentages for the two coloured segments of the progress bar (CSS widths, so "." decimals).
    total = total or 1
    return {"ready": round(100 * ready / total, 2), "failed": round(100 * (settled - ready) / total, 2)}


def _queued_message(products: int, tasks: int) -> str:
    message = (f"Queued {products} product{'s' if products != 1 else ''} for re-embedding "
               f"in {tasks} task{'s' if tasks != 1 else ''}.")
    expected = task_count(products)
    if tasks < expected:
        message += f" {expected - tasks} of {expected} tasks could not be sent: is the broker running?"
    return message


@admin.action(description="Re-embed images of selected products", permissions=["change"])
def reembed_products(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> None:
    """Admin action for a host's product admin: force a re-embed of the selected products."""
    pks = list(queryset.order_by("pk").values_list("pk", flat=True))
    tasks = enqueue_reembed(pks, force=True)
    modeladmin.message_user(request, _queued_message(len(pks), tasks),
                            messages.SUCCESS if tasks == task_count(len(pks)) else messages.ERROR)


class EmbeddingStatusFilter(admin.SimpleListFilter):
    """Filter a product changelist by its embedding state under the configured encoder."""

    title = "embedding status"
    parameter_name = "embedding_status"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return list(STATUS_LABELS.items())

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() not in STATUS_LABELS:
            return queryset
        return filter_by_embedding_status(queryset, self.value())


class EmbeddingStatusMixin:
    """For a host's product ModelAdmin: the ``embedding_status`` column.

    Statuses are looked up for the displayed page only, in one query, after
    pagination; an annotation would be computed over the whole table.
    """

    def get_changelist_instance(self, request: HttpRequest):
        changelist = super().get_changelist_instance(request)
        page = list(changelist.result_list)  # evaluated here; the template reuses the queryset's cache
        statuses = embedding_statuses([obj.pk for obj in page])
        for obj in page:
            obj._embedding_status = statuses[obj.pk]
        return changelist

    @admin.display(description="Embedding")
    def embedding_status(self, obj: Any) -> str:
        return _status_badge(getattr(obj, "_embedding_status", None) or embedding_statuses([obj.pk])[obj.pk])


@admin.register(ProductImageEmbedding)
class ProductImageEmbeddingAdmin(admin.ModelAdmin):
    """Read-only rows with their status, a bulk re-embed action and the progress page."""

    list_display = ["product", "image_key", "encoder", "encoder_version", "coloured_status", "attempts",
                    "short_error", "embedded_at"]
    list_filter = ["status", "encoder"]
    search_fields = ["product__pk__exact", "image_key", "error"]
    search_help_text = "Search by product id, image key or error text."
    ordering = ["-updated_at"]
    list_select_related = ["product"]
    # The vector itself (1,280 floats) would bury the page.
    fields = ["product", "image_key", "encoder", "encoder_version", "status", "error", "attempts",
              "content_hash", "created_at", "updated_at", "embedded_at"]
    readonly_fields = fields
    actions = ["reembed_rows"]
    change_list_template = "admin/visual_search/productimageembedding/change_list.html"
    progress_template = "admin/visual_search/productimageembedding/progress.html"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # rows come from sync_products only

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Rows are never edited by hand; the model-level permission still guards re-embedding.
        return obj is None and super().has_change_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="Status", ordering="status")
    def coloured_status(self, obj: ProductImageEmbedding) -> str:
        return _status_badge(obj.status, obj.get_status_display())

    @admin.display(description="Error")
    def short_error(self, obj: ProductImageEmbedding) -> str:
        if not obj.error:
            return ""
        return format_html('<span title="{}">{}</span>', obj.error, Truncator(obj.error).chars(80))

    @admin.action(description="Re-embed the products of the selected rows", permissions=["change"])
    def reembed_rows(self, request: HttpRequest, queryset: QuerySet) -> None:
        pks = list(queryset.order_by("product").values_list("product", flat=True).distinct())
        tasks = enqueue_reembed(pks, force=True)
        self.message_user(request, _queued_message(len(pks), tasks),
                          messages.SUCCESS if tasks == task_count(len(pks)) else messages.ERROR)

    def get_urls(self) -> list:
        info = self.opts.app_label, self.opts.model_name
        return [
            path("progress/", self.admin_site.admin_view(self.progress_view), name="%s_%s_progress" % info),
            *super().get_urls(),
        ]

    def progress_view(self, request: HttpRequest) -> HttpResponse:
        """GET: the progress page, or its numbers as JSON with ``?format=json``; POST: queue a re-embed."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        if request.method == "POST":
            return self._start_reembed(request)
        encoder = get_encoder()
        progress = catalogue_progress(encoder)
        data = {**progress.as_dict(), "hnsw_index_exists": index_exists(encoder.id, encoder.dimensions)}
        if request.GET.get("format") == "json":
            return JsonResponse(data)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Embedding progress",
            "progress": progress,
            "data": data,
            "bar": _bar_widths(progress.total, progress.ready, progress.settled),
            "batch_size": vs_settings.BATCH_SIZE,
            "modes": [(mode, MODE_LABELS[mode]) for mode in MODES],
            "can_reembed": self.has_change_permission(request),
        }
        return TemplateResponse(request, self.progress_template, context)

    def _start_reembed(self, request: HttpRequest) -> HttpResponse:
        if not self.has_change_permission(request):
            raise PermissionDenied
        mode = request.POST.get("mode", "missing")
        if mode not in MODES:
            self.message_user(request, f"Unknown mode {mode!r}.", messages.ERROR)
        else:
            pks, tasks = queue_catalogue(mode)
            if not pks:
                self.message_user(request, "Nothing to re-embed: every selected product is up to date.")
            else:
                self.message_user(request, _queued_message(len(pks), tasks),
                                  messages.SUCCESS if tasks == task_count(len(pks)) else messages.ERROR)
        return HttpResponseRedirect(reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_progress"))
