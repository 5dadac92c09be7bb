"""``attempts`` counts tries towards one success: a forced re-embed of bytes that embedded fine starts again at 1."""

from __future__ import annotations

import pytest
from django.test import override_settings

from visual_search.models import EmbeddingStatus, ProductImageEmbedding
from visual_search.indexing.sync import sync_products

pytestmark = pytest.mark.django_db

THUMBNAIL = {
    "ENCODER": {"BACKEND": "visual_search.encoders.thumbnail.ThumbnailEncoder"},
    "ADAPTER": "shop.adapters.ShopProductAdapter",
}


def test_successful_re_embeds_do_not_add_up(make_product):
    with override_settings(VISUAL_SEARCH=THUMBNAIL):
        product = make_product("chelsea")
        sync_products([product.pk])  # the first embedding (the save's task never runs in this transaction)
        sync_products([product.pk], force=True)
        sync_products([product.pk], force=True)
        row = ProductImageEmbedding.objects.get(product=product)
    assert row.status == EmbeddingStatus.READY
    assert row.attempts == 1  # three forced re-embeds of the same bytes, each the first try of its own


def test_failed_tries_of_the_same_bytes_still_add_up(make_product):
    with override_settings(VISUAL_SEARCH=THUMBNAIL):
        product = make_product("chelsea")
        sync_products([product.pk])
        assert ProductImageEmbedding.objects.filter(product=product).update(status=EmbeddingStatus.FAILED, attempts=2)
        sync_products([product.pk], force=True)
        row = ProductImageEmbedding.objects.get(product=product)
    assert row.status == EmbeddingStatus.READY and row.attempts == 3  # two failed tries, then this one
