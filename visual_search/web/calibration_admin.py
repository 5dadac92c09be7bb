"""Admin: the calibrations of the catalogue, read-only (written by ``visual_search_calibrate`` and bulk jobs)."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from visual_search.models import Calibration


@admin.register(Calibration)
class CalibrationAdmin(admin.ModelAdmin):
    """Each fit: when, on how much of the catalogue, the floor it implies and how well calibrated it is."""

    list_display = ("encoder", "encoder_version", "created_at", "products", "images", "categories", "floor_shown",
                    "ece_shown")
    list_filter = ("encoder",)
    ordering = ("-created_at", "-pk")
    readonly_fields = [f.name for f in Calibration._meta.fields]

    @admin.display(description=_("floor"), ordering="floor")
    def floor_shown(self, obj: Calibration) -> str:
        return f"{obj.floor:.3f}"

    @admin.display(description=_("expected calibration error"), ordering="expected_calibration_error")
    def ece_shown(self, obj: Calibration) -> str:
        return "\u2014" if obj.expected_calibration_error is None else f"{obj.expected_calibration_error:.3f}"

    def has_add_permission(self, request) -> bool:
        return False  # fitted from the catalogue, never typed in

    def has_change_permission(self, request, obj=None) -> bool:
        return False
