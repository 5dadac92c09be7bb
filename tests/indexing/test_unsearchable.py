"""A product the adapter does not list as searchable is not "No images" when it has images."""

from __future__ import annotations

import pytest
from django.test import override_settings

from shop.adapters import ShopProductAdapter
from visual_search.models import ImagelessProduct, ProductImageEmbedding
from visual_search.indexing.progress import embedding_statuses
from visual_search.indexing.sync import sync_products

pytestmark = pytest.mark.django_db


class HiddenAdapter(ShopProductAdapter):
    """The demo's adapter, with products named "hidden" left out of search."""

    def is_searchable(self, product) -> bool:
        return product.name != "hidden"


SETTINGS = {
    "ENCODER": {"BACKEND": "visual_search.encoders.thumbnail.ThumbnailEncoder"},
    "ADAPTER": "tests.indexing.test_unsearchable.HiddenAdapter",
}


def test_an_unsearchable_product_with_images_is_not_said_to_have_none(make_product):
    with override_settings(VISUAL_SEARCH=SETTINGS):
        shown, hidden, bare = make_product("chelsea"), make_product("coffee"), make_product(None)
        type(hidden).objects.filter(pk=hidden.pk).update(name="hidden")
        sync_products([shown.pk, hidden.pk, bare.pk])
        statuses = embedding_statuses([shown.pk, hidden.pk, bare.pk])
    assert statuses[shown.pk] == "ready"
    assert statuses[bare.pk] == "no_images"  # really without images
    assert statuses[hidden.pk] == "none"  # has a photo; not embedded because it is not searchable
    assert not ImagelessProduct.objects.filter(product=hidden).exists()
    assert not ProductImageEmbedding.objects.filter(product=hidden).exists()


def test_a_product_that_stops_being_searchable_loses_its_no_images_mark(make_product):
    with override_settings(VISUAL_SEARCH=SETTINGS):
        product = make_product(None)
        sync_products([product.pk])
        assert embedding_statuses([product.pk])[product.pk] == "no_images"
        type(product).objects.filter(pk=product.pk).update(name="hidden")
        sync_products([product.pk])
        assert embedding_statuses([product.pk])[product.pk] == "none"
