"""The VISUAL_SEARCH settings object and the default adapter."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from visual_search.adapters import ImageFieldAdapter, get_adapter
from visual_search.conf import DEFAULTS, vs_settings
from visual_search.encoders import get_encoder
from visual_search.indexing.sync import sync_products
from visual_search.models import ProductImageEmbedding


def test_defaults_and_project_overrides():
    assert vs_settings.BATCH_SIZE == DEFAULTS["BATCH_SIZE"]
    assert vs_settings.ADAPTER.__name__ == "ShopProductAdapter"  # imported from its dotted path


def test_override_settings_reloads_values_and_the_encoder():
    assert get_encoder().id == "efficientnet-lite0"
    with override_settings(VISUAL_SEARCH={"BATCH_SIZE": 3,
                                          "ENCODER": {"BACKEND": "visual_search.encoders.thumbnail.ThumbnailEncoder"}}):
        assert vs_settings.BATCH_SIZE == 3
        assert get_encoder().id == "thumbnail"
    assert vs_settings.BATCH_SIZE == DEFAULTS["BATCH_SIZE"]
    assert get_encoder().id == "efficientnet-lite0"


def test_unknown_keys_are_an_error():
    with override_settings(VISUAL_SEARCH={"BACH_SIZE": 3}):
        with pytest.raises(ImproperlyConfigured, match="BACH_SIZE"):
            vs_settings.BATCH_SIZE  # noqa: B018


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError):
        vs_settings.NOT_A_SETTING  # noqa: B018


def test_unimportable_adapter_says_which_setting():
    with override_settings(VISUAL_SEARCH={"ADAPTER": "shop.nowhere.Adapter"}):
        with pytest.raises(ImproperlyConfigured, match="ADAPTER"):
            get_adapter()


@pytest.mark.django_db
def test_default_image_field_adapter_reads_one_field(make_product):
    product = make_product("chelsea", gallery=["coffee"])
    with override_settings(VISUAL_SEARCH={"ADAPTER": "visual_search.adapters.ImageFieldAdapter"}):
        assert isinstance(get_adapter(), ImageFieldAdapter)
        assert sync_products([product.pk]).embedded == 1
    assert list(ProductImageEmbedding.objects.values_list("image_key", flat=True)) == ["image"]
