"""Embedding status column, filter and re-embed action on the admin's Oscar product changelist."""

from __future__ import annotations

import pytest
from django.contrib import admin
from oscar.apps.catalogue.admin import ProductAdmin as OscarProductAdmin

from visual_search.models import ProductImageEmbedding
from visual_search.web.admin import EmbeddingStatusMixin, reembed_products

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("thumbnail_encoder")]

CHANGELIST = "/admin/catalogue/product/"


def test_oscars_product_admin_is_extended_not_replaced():
    from oscar.core.loading import get_model

    model_admin = admin.site._registry[get_model("catalogue", "Product")]
    assert isinstance(model_admin, OscarProductAdmin) and isinstance(model_admin, EmbeddingStatusMixin)
    assert "get_title" in model_admin.list_display and "embedding_status" in model_admin.list_display
    assert "is_public" in model_admin.list_filter  # Oscar's filters stay


def test_changelist_shows_status_filters_by_it_and_reembeds(staff_client, make_product, settings, commit):
    embedded = make_product("Embedded cat", photos=("chelsea",))
    settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH, "AUTO_EMBED": False}
    waiting = make_product("Waiting cup", photos=("coffee",))

    html = staff_client.get(CHANGELIST).content.decode()
    assert "Embedding" in html and "embedding status" in html.lower()
    assert "Embedded cat" in html and "Waiting cup" in html

    ready = staff_client.get(CHANGELIST, {"embedding_status": "ready"}).content.decode()
    assert "Embedded cat" in ready and "Waiting cup" not in ready
    missing = staff_client.get(CHANGELIST, {"embedding_status": "none"}).content.decode()
    assert "Waiting cup" in missing and "Embedded cat" not in missing

    with commit():
        response = staff_client.post(
            CHANGELIST, {"action": reembed_products.__name__, "_selected_action": [waiting.pk]}, follow=True
        )
    assert response.status_code == 200
    assert any("1 product" in str(m) for m in response.context["messages"])
    # Eager Celery ran the re-embed.
    assert ProductImageEmbedding.objects.filter(product=waiting, status="ready").exists()


def test_a_shops_own_product_admin_is_wrapped_once_on_any_site():
    from django.contrib.admin import AdminSite
    from oscar.core.loading import get_model

    from visual_search.contrib.oscar.admin import register

    product_model = get_model("catalogue", "Product")

    class ShopProductAdmin(OscarProductAdmin):
        list_display = ("title", "upc")

    site = AdminSite(name="shop")
    site.register(product_model, ShopProductAdmin)
    register(site)
    register(site)  # a second call changes nothing
    wrapped = site._registry[product_model]
    assert isinstance(wrapped, ShopProductAdmin)
    assert list(wrapped.list_display) == ["title", "upc", "embedding_status"]

    bare = AdminSite(name="bare")  # nothing registered yet: a plain ModelAdmin with the column
    register(bare)
    assert "embedding_status" in bare._registry[product_model].list_display
