"""Category suggestion in a host's product admin: a column and an action.

    class ProductAdmin(CategorySuggestionMixin, admin.ModelAdmin):
        list_display = [..., "suggested_category"]
        actions = [apply_suggested_category]

The column costs one nearest-neighbour query per row shown.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from visual_search.conf import vs_settings
from visual_search.quality.suggest import suggest_category

__all__ = ["MIN_CONFIDENCE", "CategorySuggestionMixin", "apply_suggested_category"]

#: The action changes a product's category only when at least this share of the vote agrees.
MIN_CONFIDENCE = 0.6


class CategorySuggestionMixin:
    """Adds the ``suggested_category`` column: the vote's winner and its confidence, marked when it disagrees."""

    @admin.display(description="Suggested category")
    def suggested_category(self, obj: Any) -> str:
        suggestion = suggest_category(obj)
        if suggestion.category is None:
            return "—"
        current = getattr(obj, vs_settings.CATEGORY_FIELD, None)
        mark = "" if suggestion.category == current else " ≠"
        return format_html("{} ({}%){}", suggestion.category, round(100 * suggestion.confidence), mark)


@admin.action(description="Apply the suggested category (confidence ≥ 60%%)")  # %-formatted by the admin
def apply_suggested_category(modeladmin: Any, request: HttpRequest, queryset: QuerySet) -> None:
    """Set each selected product's category to the suggestion when the vote is confident enough."""
    field = vs_settings.CATEGORY_FIELD
    changed = unsure = 0
    for product in queryset:
        suggestion = suggest_category(product)
        if suggestion.category is None or suggestion.confidence < MIN_CONFIDENCE:
            unsure += 1
        elif suggestion.category != getattr(product, field):
            setattr(product, field, suggestion.category)
            product.save(update_fields=[field])  # not an image field: no re-embedding
            changed += 1
    modeladmin.message_user(
        request, f"{changed} product(s) moved to their suggested category; {unsure} left as they were "
        f"(no confident suggestion).", messages.SUCCESS,
    )
