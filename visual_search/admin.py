"""Admin for the embedding table, a live "Embedding progress" page, the bulk re-embed jobs page,
and helpers for a host's product admin.

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

from visual_search import encoder_switch, jobs
from visual_search.conf import vs_settings
from visual_search.encoders import get_encoder
from visual_search.models import BulkJob, BulkJobMode, ProductImageEmbedding
from visual_search.progress import catalogue_progress, embedding_statuses, filter_by_embedding_status
from visual_search.vector_index import index_exists

# Readable on the admin's light and dark themes alike.
STATUS_LABELS = {"ready": "Ready", "pending": "Pending", "failed": "Failed", "none": "Not embedded",
                 "no_images": "No images"}
#: Badge colours live in this stylesheet (the Content-Security-Policy blocks style attributes).
STATUS_CSS = "visual_search/admin/progress.css"
RUN_JOBS_PERMISSION = "visual_search.run_bulkjob"


def _status_badge(status: str, label: str | None = None) -> str:
    return format_html('<span class="vs-status vs-status-{}">&#9679; {}</span>',
                       status if status in STATUS_LABELS else "other", label or STATUS_LABELS.get(status, status))


def _bar_widths(total: int, ready: int, settled: int) -> dict[str, float]:
    # Percentages for the two coloured segments of the progress bar (CSS widths, so "." decimals).
    total = total or 1
    return {"ready": round(100 * ready / total, 2), "failed": round(100 * (settled - ready) / total, 2)}


def _request_reembed(pks: list[Any]) -> str:
    """Record forced work owed for ``pks`` (like a save would) and wake a worker; say what happened."""
    from visual_search.tasks import enqueue_products  # noqa: PLC0415 - keeps Celery out of admin import

    enqueue_products(pks, force=True)
    return (f"{len(pks)} product{'s' if len(pks) != 1 else ''} will be re-embedded: the work is recorded, "
            "and workers pick it up (progress on the Embedding progress page).")


@admin.action(description="Re-embed images of selected products", permissions=["change"])
def reembed_products(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> None:
    """Admin action for a host's product admin: force a re-embed of the selected products."""
    pks = list(queryset.order_by("pk").values_list("pk", flat=True))
    modeladmin.message_user(request, _request_reembed(pks), messages.SUCCESS)


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

    class Media:
        css = {"all": [STATUS_CSS]}

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

    class Media:
        css = {"all": [STATUS_CSS]}
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
        self.message_user(request, _request_reembed(pks), messages.SUCCESS)

    def get_urls(self) -> list:
        info = self.opts.app_label, self.opts.model_name
        return [
            path("progress/", self.admin_site.admin_view(self.progress_view), name="%s_%s_progress" % info),
            *super().get_urls(),
        ]

    def progress_view(self, request: HttpRequest) -> HttpResponse:
        """GET: the progress page, or its numbers as JSON with ``?format=json``."""
        if not self.has_view_permission(request):
            raise PermissionDenied
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
            "jobs_url": reverse("admin:visual_search_bulkjob_changelist"),
            "active_jobs": BulkJob.objects.filter(state__in=jobs.ACTIVE_STATES).count(),
        }
        return TemplateResponse(request, self.progress_template, context)


@admin.register(BulkJob)
class BulkJobAdmin(admin.ModelAdmin):
    """The bulk re-embed jobs page: start a job, follow every running one live, pause, resume, cancel.

    Viewing needs the model's view permission (or the run permission); starting,
    pausing, resuming and cancelling need ``visual_search.run_bulkjob``.
    """

    jobs_template = "admin/visual_search/bulkjob/jobs.html"
    #: Finished and cancelled jobs listed under the running ones.
    recent = 10
    fields = ["mode", "encoder", "state", "created_by", "total", "done", "failed", "message", "created_at",
              "started_at", "finished_at", "updated_at"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # jobs start from the jobs page, which selects their products

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_view_permission(request, obj) or self.can_run(request)

    @staticmethod
    def can_run(request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_staff and request.user.has_perm(RUN_JOBS_PERMISSION)

    def get_urls(self) -> list:
        view = self.admin_site.admin_view
        return [
            path("status.json", view(self.status_view), name="visual_search_bulkjob_status"),
            path("start/", view(self.start_view), name="visual_search_bulkjob_start"),
            path("switch-encoder/", view(self.switch_view), name="visual_search_bulkjob_switch"),
            *(
                path(f"<int:pk>/{action}/", view(self.control_view), {"action": action},
                     name=f"visual_search_bulkjob_{action}")
                for action in ("pause", "resume", "cancel")
            ),
            *super().get_urls(),
        ]

    def _listed(self) -> list[BulkJob]:
        active = list(BulkJob.objects.filter(state__in=jobs.ACTIVE_STATES).select_related("created_by"))
        done = BulkJob.objects.exclude(state__in=jobs.ACTIVE_STATES).select_related("created_by")[: self.recent]
        return active + list(done)

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        listed = jobs.jobs_progress(self._listed())
        encoder = get_encoder()
        serving = encoder_switch.serving_encoder(record=False)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Bulk re-embed jobs",
            "encoder": encoder,
            # During an encoder switch: how far the configured encoder covers what searches answer from.
            "switch": encoder_switch.coverage(encoder, serving.id) if serving.id != encoder.id else None,
            "active": [p for p in listed if p.active],
            "finished": [p for p in listed if not p.active],
            "modes": BulkJobMode.choices,
            "can_run": self.can_run(request),
            "batch_size": vs_settings.BATCH_SIZE,
            "bulk_queue": vs_settings.TASK_QUEUE_BULK,
            **(extra_context or {}),
        }
        return TemplateResponse(request, self.jobs_template, context)

    def status_view(self, request: HttpRequest) -> JsonResponse:
        """The jobs page's live numbers: every active job and the latest finished ones."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        return JsonResponse({"jobs": [p.as_dict() for p in jobs.jobs_progress(self._listed())]})

    def _back(self) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse("admin:visual_search_bulkjob_changelist"))

    def start_view(self, request: HttpRequest) -> HttpResponse:
        if request.method != "POST":
            return self._back()
        if not self.can_run(request):
            raise PermissionDenied
        mode = request.POST.get("mode", "")
        if mode not in jobs.MODES:
            self.message_user(request, f"Unknown mode {mode!r}.", messages.ERROR)
            return self._back()
        job, created = jobs.start_job(mode, user=request.user)
        if not created:
            self.message_user(request, f"Job #{job.pk} ({job.get_mode_display()}) is already {job.state}: "
                                       "nothing new was started.", messages.WARNING)
        elif job.total:
            text = f"Started job #{job.pk}: {job.total} product{'s' if job.total != 1 else ''} to re-embed."
            self.message_user(request, " ".join(filter(None, [text, job.message])), messages.SUCCESS)
        else:
            self.message_user(request, job.message, messages.INFO)
        return self._back()

    def switch_view(self, request: HttpRequest) -> HttpResponse:
        """POST: searches answer from the configured encoder from now on, covered or not."""
        if request.method != "POST":
            return self._back()
        if not self.can_run(request):
            raise PermissionDenied
        encoder = get_encoder()
        if encoder_switch.switch_to(encoder):
            self.message_user(request, f"Searches now answer from {encoder.id}.", messages.SUCCESS)
        else:
            self.message_user(request, f"Searches already answer from {encoder.id}.", messages.INFO)
        return self._back()

    def control_view(self, request: HttpRequest, pk: int, action: str) -> HttpResponse:
        """POST pause, resume or cancel."""
        controls = {"pause": jobs.pause_job, "resume": jobs.resume_job, "cancel": jobs.cancel_job}
        if request.method != "POST" or action not in controls:
            return self._back()
        if not self.can_run(request):
            raise PermissionDenied
        job = BulkJob.objects.filter(pk=pk).first()
        if job is None:
            self.message_user(request, f"There is no job #{pk}.", messages.ERROR)
        elif controls[action](job):
            self.message_user(request, f"Job #{job.pk} is {job.state} now.", messages.SUCCESS)
        else:
            self.message_user(request, f"Job #{job.pk} is {job.state}: it cannot be {action}d.", messages.WARNING)
        return self._back()


from visual_search import calibration_admin  # noqa: E402, F401 - registers the read-only Calibration admin
