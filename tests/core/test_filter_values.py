"""A filter over a short list of values says which it takes: an unknown one is an error listing them."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.http import QueryDict

from shop.adapters import ShopProductAdapter
from shop.models import Category, Product
from visual_search.filters import FilterError, filter_choices, parse_filters

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop():
    for name, slug in [("Dresses", "dresses"), ("Long sleeves", "long-sleeves"), ("T-shirts", "t-shirts")]:
        category = Category.objects.create(name=name, slug=slug)
        Product.objects.create(name=f"One {name}", slug=f"one-{slug}", category=category, price=Decimal(9))
    Category.objects.create(name="Hats", slug="hats")  # no product: nothing to find there


def test_a_known_slug_passes_as_it_is(shop):
    assert parse_filters(QueryDict("category=dresses"), adapter=ShopProductAdapter()) == {
        "category__slug": "dresses"
    }


@pytest.mark.parametrize("value", ["Long sleeves", "long sleeves", "LONG SLEEVES"])
def test_a_name_stands_for_its_slug(shop, value):
    lookups = parse_filters({"category": value}, adapter=ShopProductAdapter())
    assert lookups == {"category__slug": "long-sleeves"}


@pytest.mark.parametrize("value", ["dress", "hats", "t-shirt"])
def test_an_unknown_value_lists_the_valid_ones(shop, value):
    with pytest.raises(FilterError) as caught:
        parse_filters({"category": value}, adapter=ShopProductAdapter())
    error = caught.value
    assert error.code == "unknown_filter_value" and error.name == "category"
    assert error.valid_values == [
        ("dresses", "Dresses"), ("long-sleeves", "Long sleeves"), ("t-shirts", "T-shirts"),
    ]
    assert str(error) == (
        f"Unknown category {value!r}. "
        "Valid values: dresses (Dresses), long-sleeves (Long sleeves), t-shirts (T-shirts)."
    )


def test_choices_are_none_for_filters_without_a_list(shop):
    filters = ShopProductAdapter().get_filters()
    assert filter_choices(filters["price_min"], ShopProductAdapter()) is None
    assert filter_choices(filters["category"], ShopProductAdapter(), limit=2) is None  # too many for a list
