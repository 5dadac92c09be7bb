from __future__ import annotations

from django.urls import reverse


def test_product_changelist_shows_thumbnails(admin_client, make_product):
    product = make_product("Red dress")
    make_product("Plain dress", image=False)

    response = admin_client.get(reverse("admin:shop_product_changelist"))

    assert response.status_code == 200
    assert f'<img src="{product.image.url}"' in response.content.decode()


def test_product_change_page_has_gallery_inline(admin_client, make_product):
    product = make_product("Red dress")

    response = admin_client.get(reverse("admin:shop_product_change", args=[product.pk]))

    assert response.status_code == 200
    assert "gallery-TOTAL_FORMS" in response.content.decode()
