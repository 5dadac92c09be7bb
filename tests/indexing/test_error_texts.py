"""Error texts shown in the admin and the API name storage files, never the server's file system."""

from __future__ import annotations

import os

import pytest
from django.conf import settings as django_settings
from django.test import override_settings

from shop.models import Product
from visual_search.models import EmbeddingStatus, ProductImageEmbedding
from visual_search.indexing.sync import sync_products, without_server_paths

pytestmark = pytest.mark.django_db

THUMBNAIL = {
    "ENCODER": {"BACKEND": "visual_search.encoders.thumbnail.ThumbnailEncoder"},
    "ADAPTER": "shop.adapters.ShopProductAdapter",
}


def test_paths_are_taken_out_urls_and_media_types_are_not():
    media = str(django_settings.MEDIA_ROOT).rstrip("/")
    text = (f"[Errno 13] Permission denied: '{media}/products/x.jpg'; joined path (/etc/passwd) is outside "
            f"({media}); see https://docs.example.com/a/b, image/png 1/2")

    cleaned = without_server_paths(text)

    assert media not in cleaned and "/etc/" not in cleaned
    assert "'products/x.jpg'" in cleaned and "(…/passwd)" in cleaned and "(MEDIA_ROOT)" in cleaned
    assert "https://docs.example.com/a/b" in cleaned and "image/png 1/2" in cleaned


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_an_unreadable_file_is_reported_by_its_storage_name(make_product):
    with override_settings(VISUAL_SEARCH=THUMBNAIL):
        product = make_product("chelsea")
        os.chmod(product.image.path, 0)
        try:
            sync_products([product.pk])
        finally:
            os.chmod(product.image.path, 0o644)
    row = ProductImageEmbedding.objects.get(product=product)
    assert row.status == EmbeddingStatus.FAILED and str(django_settings.MEDIA_ROOT) not in row.error


def test_a_name_outside_the_storage_is_reported_without_server_paths(make_product):
    with override_settings(VISUAL_SEARCH=THUMBNAIL):
        product = make_product("chelsea")
        Product.objects.filter(pk=product.pk).update(image="../../../../etc/passwd")
        sync_products([product.pk])
    row = ProductImageEmbedding.objects.get(product=product)
    assert row.status == EmbeddingStatus.FAILED
    assert "not allowed" in row.error and "outside" in row.error  # still says what is wrong
    assert str(django_settings.MEDIA_ROOT) not in row.error and "/etc/" not in row.error, row.error
