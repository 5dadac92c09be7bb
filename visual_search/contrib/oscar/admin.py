"""Embedding status, filter and re-embed action on the admin's Oscar product changelist.

Oscar registers its own ProductAdmin (or a forked catalogue app does); this
wraps whichever class is registered, so a host keeps its customisations. It
works whatever the order of the apps in INSTALLED_APPS: the catalogue app's
admin module is imported first.
"""

from __future__ import annotations

from importlib import import_module

from django.apps import apps
from django.contrib import admin

from visual_search.conf import get_product_model
from visual_search.web.admin import EmbeddingStatusFilter, EmbeddingStatusMixin, reembed_products


def with_embedding_status(base: type[admin.ModelAdmin]) -> type[admin.ModelAdmin]:
    """A subclass of ``base`` with the embedding column, filter and re-embed action."""
    return type(
        base.__name__,
        (EmbeddingStatusMixin, base),
        {
            "__module__": __name__,
            "list_display": [*base.list_display, "embedding_status"],
            "list_filter": [*base.list_filter, EmbeddingStatusFilter],
            "actions": [*(base.actions or []), reembed_products],
        },
    )


def register(site: admin.AdminSite = admin.site) -> None:
    """Swap the product admin on ``site`` for one with embedding state."""
    product_model = get_product_model()
    catalogue = apps.get_app_config(product_model._meta.app_label)
    admin_module = f"{catalogue.module.__name__}.admin"
    try:
        import_module(admin_module)  # registers Oscar's (or the fork's) ProductAdmin
    except ModuleNotFoundError as exc:
        if exc.name != admin_module:
            raise
    current = site._registry.get(product_model)
    base = type(current) if current is not None else admin.ModelAdmin
    if issubclass(base, EmbeddingStatusMixin):
        return  # already swapped
    if current is not None:
        site.unregister(product_model)
    site.register(product_model, with_embedding_status(base))


register()
