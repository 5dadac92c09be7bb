"""Keep a parent product's embeddings in step with its children.

A parent product is searched with its children's images (see
``OscarProductAdapter``), but visual_search's own receivers only re-sync the
product that was saved. Saving or deleting a child therefore also schedules
its parent: a child made public adds its images, a child deleted or hidden
takes them away.
"""

from __future__ import annotations

from django.db.models.signals import post_delete, post_save

from visual_search.conf import get_product_model, vs_settings
from visual_search.indexing.signal_handlers import schedule_embedding


def child_changed(sender, instance, raw: bool = False, using: str = "default", **kwargs) -> None:
    if raw or not vs_settings.AUTO_EMBED or not instance.parent_id:
        return
    schedule_embedding(instance.parent_id, using)


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
