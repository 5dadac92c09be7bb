"""Keep a parent product's embeddings in step with its children; count basket adds from searches.

A parent product is searched with its children's images (see
``OscarProductAdapter``), but visual_search's own receivers only re-sync the
product that was saved. Saving or deleting a child therefore also schedules
its parent: a child made public adds its images, a child deleted or hidden
takes them away.

With ``visual_search.analytics`` installed, Oscar's ``basket_addition`` signal
records a basket add of a product the shopper reached from a search result
(the parent is credited when a child variant goes into the basket).
"""

from __future__ import annotations

from django.apps import apps
from django.db.models.signals import post_delete, post_save

from visual_search.conf import get_product_model, vs_settings
from visual_search.indexing.signal_handlers import schedule_embedding


def child_changed(sender, instance, raw: bool = False, using: str = "default", **kwargs) -> None:
    if raw or not vs_settings.AUTO_EMBED or not instance.parent_id:
        return
    schedule_embedding(instance.parent_id, using)


def basket_added(sender, product, request=None, **kwargs) -> None:
    from visual_search.analytics.interactions import record_conversion  # noqa: PLC0415 - only when installed

    if request is not None:
        record_conversion(product.parent_id or product.pk, "basket", request=request)


def connect() -> None:
    """Connect the receivers when the host's product model is Oscar's."""
    from django.core.exceptions import ImproperlyConfigured  # noqa: PLC0415

    try:
        product_model = get_product_model()
    except ImproperlyConfigured:
        return  # reported by visual_search.E002
    if product_model._meta.label != "catalogue.Product":
        return
    post_save.connect(child_changed, sender=product_model, dispatch_uid="visual_search_oscar.child_saved")
    post_delete.connect(child_changed, sender=product_model, dispatch_uid="visual_search_oscar.child_deleted")
    if apps.is_installed("visual_search.analytics"):
        from oscar.core.loading import get_class  # noqa: PLC0415

        get_class("basket.signals", "basket_addition").connect(basket_added, dispatch_uid="visual_search_oscar.basket")
