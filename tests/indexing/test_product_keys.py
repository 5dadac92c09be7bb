"""``sync_products`` takes keys as text (commands, URLs, JSON) and converts them to the product model's keys."""

from __future__ import annotations

import uuid

import pytest
from django.db import models
from django.test import override_settings

from visual_search.models import EmbeddingStatus, ProductImageEmbedding
from visual_search.indexing.sync import product_keys, sync_products

pytestmark = pytest.mark.django_db

THUMBNAIL = {
    "ENCODER": {"BACKEND": "visual_search.encoders.thumbnail.ThumbnailEncoder"},
    "ADAPTER": "shop.adapters.ShopProductAdapter",
}


class UUIDProduct(models.Model):
    """A host's product keyed by UUID (no table: only its key field is used here)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)

    class Meta:
        app_label = "testapp"
        managed = False


def test_text_keys_become_uuids_on_a_host_with_uuid_keys(monkeypatch):
    # The demo's table has integer keys; the conversion only needs the model's key field.
    monkeypatch.setattr("visual_search.indexing.sync.get_product_model", lambda: UUIDProduct)
    key = uuid.uuid4()
    invalid: list = []

    assert product_keys([str(key), key, "not-a-uuid"], invalid=invalid) == [key, key]
    assert invalid == ["not-a-uuid"]


def test_text_keys_are_synced_and_forced_like_real_ones(make_product):
    with override_settings(VISUAL_SEARCH=THUMBNAIL):
        product = make_product("chelsea")
        first = sync_products([str(product.pk)])
        again = sync_products([str(product.pk)], force=[str(product.pk)])
        bad = sync_products(["abc"])
    assert first.embedded == 1 and first.missing_products == []
    assert again.embedded == 1 and again.unchanged == 0  # the forced key was recognised: re-embedded
    assert bad.missing_products == ["abc"] and bad.embedded == 0
    assert ProductImageEmbedding.objects.get(product=product).status == EmbeddingStatus.READY
