"""OscarProductAdapter against django-oscar's real catalogue models, with eager Celery."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from PIL import Image

from visual_search.adapters import get_adapter
from visual_search.contrib.oscar.adapters import OscarProductAdapter
from visual_search.models import ProductImageEmbedding

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("thumbnail_encoder")]


def ready_keys(product) -> set[str]:
    return set(
        ProductImageEmbedding.objects.filter(product=product, status="ready")
        .values_list("image_key", flat=True)
    )


def test_migrate_points_the_embedding_table_at_oscars_product():
    from oscar.core.loading import get_model

    product_model = get_model("catalogue", "Product")
    field = ProductImageEmbedding._meta.get_field("product")
    assert field.related_model is product_model
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, ProductImageEmbedding._meta.db_table)
    targets = [c["foreign_key"] for c in constraints.values() if c["foreign_key"]]
    assert (product_model._meta.db_table, "id") in targets
    assert isinstance(get_adapter(), OscarProductAdapter)


def test_saving_a_product_with_images_embeds_each_image_under_its_pk(make_product, commit):
    product = make_product("Tabby", photos=("chelsea", "coffee"))
    image_pks = list(product.images.order_by("display_order").values_list("pk", flat=True))
    assert ready_keys(product) == {f"image:{pk}" for pk in image_pks}

    # Deleting one image removes its row only; the other key is unchanged.
    with commit():
        product.images.get(pk=image_pks[0]).delete()
    assert ready_keys(product) == {f"image:{image_pks[1]}"}


def test_only_public_products_are_searchable(make_product, commit):
    hidden = make_product("Hidden", is_public=False)
    shown = make_product("Shown")
    assert ready_keys(hidden) == set()
    assert ready_keys(shown)

    shown.is_public = False
    with commit():
        shown.save(update_fields=["is_public"])  # affects_embeddings: is_public
    assert ready_keys(shown) == set()
    assert list(get_adapter().get_queryset()) == []


def test_a_parent_is_searched_with_its_public_childrens_images(make_product, commit):
    parent = make_product("T-shirt", photos=("astronaut",), structure="parent")
    red = make_product("", photos=("chelsea",), parent=parent)
    hidden = make_product("", photos=("coffee",), parent=parent, is_public=False)

    own = {f"image:{pk}" for pk in parent.images.values_list("pk", flat=True)}
    red_keys = {f"image:{pk}" for pk in red.images.values_list("pk", flat=True)}
    assert ready_keys(parent) == own | red_keys
    assert ready_keys(red) == set() and ready_keys(hidden) == set()  # children are never results
    assert set(get_adapter().get_queryset()) == {parent}

    # Publishing a child adds its images to the parent; deleting one takes them away.
    hidden.is_public = True
    with commit():
        hidden.save()
    hidden_keys = {f"image:{pk}" for pk in hidden.images.values_list("pk", flat=True)}
    assert ready_keys(parent) == own | red_keys | hidden_keys
    with commit():
        red.delete()
    assert ready_keys(parent) == own | hidden_keys


def test_a_parent_without_images_of_its_own_is_found_through_its_children(make_product):
    parent = make_product("Mug", photos=(), structure="parent")
    child = make_product("", photos=("coffee",), parent=parent)
    assert ready_keys(parent) == {f"image:{child.images.get().pk}"}
    assert list(get_adapter().get_queryset()) == [parent]


def test_stock_updates_do_not_touch_embeddings():
    adapter = OscarProductAdapter()
    assert not adapter.affects_embeddings(frozenset({"title", "description", "rating"}))
    assert adapter.affects_embeddings(frozenset({"is_public"}))


def test_cards_use_oscars_thumbnailer_title_price_and_strategy(make_product, settings):
    product = make_product("Coffee cup", photos=("coffee",), price="12.50", num_in_stock=3)
    sold_out = make_product("Sold out", photos=("chelsea",), price="7.00", num_in_stock=0)
    adapter = get_adapter()

    display = adapter.get_display([product, sold_out])
    card = display[product.pk]
    assert card.title == "Coffee cup"
    assert card.url == product.get_absolute_url()
    assert card.price == Decimal("12.50")
    assert card.in_stock is True and display[sold_out.pk].in_stock is False

    original = product.images.get().original
    assert card.image_url != original.url
    assert card.image_url.startswith(settings.MEDIA_URL + "cache/")  # sorl-thumbnail's cache folder
    thumbnail_path = settings.MEDIA_ROOT + card.image_url[len(settings.MEDIA_URL) - 1 :]
    with Image.open(thumbnail_path) as thumb, Image.open(original.path) as full:
        assert max(thumb.size) <= 300 < max(full.size)


def test_parent_cards_read_prices_from_children(make_product):
    parent = make_product("T-shirt", photos=(), structure="parent")
    make_product("", photos=("chelsea",), parent=parent, price="20.00", num_in_stock=0)
    make_product("", photos=("astronaut",), parent=parent, price="15.00", num_in_stock=2)
    card = get_adapter().get_display([parent])[parent.pk]
    assert card.price == Decimal("15.00")
    assert card.in_stock is True
    assert card.title == "T-shirt" and card.image_url


@pytest.fixture
def catalogue(make_product):
    """Products across Oscar's category tree, prices, stock levels and product structures."""
    from oscar.apps.catalogue.categories import create_from_breadcrumbs

    cats = create_from_breadcrumbs("Clothing > Cats")
    clothing = type(cats).objects.get(slug="clothing")
    parent = make_product("Parent", photos=("astronaut",), structure="parent", category=cats)
    return {
        "a": make_product("A", category=cats, price="10.00", num_in_stock=5),
        "b": make_product("B", photos=("coffee",), category=clothing, price="30.00", num_in_stock=0),
        "c": make_product("C", photos=("rocket",), price="50.00", num_in_stock=2),
        "parent": parent,
        "children": [
            make_product("", photos=(), parent=parent, price="20.00", num_in_stock=0),
            make_product("", photos=(), parent=parent, price="40.00", num_in_stock=3),
        ],
    }


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"category": "clothing"}, {"a", "b", "parent"}),
        ({"category": "cats"}, {"a", "parent"}),
        ({"category": "Cats"}, {"a", "parent"}),  # a category's name works as its slug
        ({"price_min": "25"}, {"b", "c", "parent"}),
        ({"price_max": "25"}, {"a", "parent"}),
        ({"price_min": "15", "price_max": "25"}, {"parent"}),
        ({"in_stock": "true"}, {"a", "c", "parent"}),
        ({"in_stock": "false"}, {"b"}),
        ({"category": "clothing", "in_stock": "true", "price_max": "12"}, {"a"}),
    ],
)
def test_filters_by_category_price_and_availability(catalogue, params, expected):
    from visual_search.filters import parse_filters
    from visual_search.search.service import similar_products

    lookups = parse_filters(params)
    names = {product.pk: name for name, product in catalogue.items() if name != "children"}
    found = get_adapter().get_queryset().filter(**lookups)
    assert {names[p.pk] for p in found} == expected

    # The same lookups narrow a real nearest-neighbour query.
    results = similar_products(catalogue["c"], k=10, filters=lookups)
    assert {names[r.product.pk] for r in results} == expected - {"c"}


def test_unknown_and_malformed_filters_are_refused(catalogue):
    from visual_search.filters import FilterError, parse_filters

    with pytest.raises(FilterError) as unknown:
        parse_filters({"stockrecords__price__gte": "1"})
    assert unknown.value.code == "unknown_filter"
    with pytest.raises(FilterError) as malformed:
        parse_filters({"price_min": "cheap"})
    assert malformed.value.code == "invalid_filter"
    with pytest.raises(FilterError) as no_such_category:
        parse_filters({"category": "no-such-category"})
    assert no_such_category.value.code == "unknown_filter_value"
    assert no_such_category.value.valid_values == [("clothing", "Clothing"), ("cats", "Cats")]


def test_a_page_of_cards_costs_the_same_queries_for_any_number_of_products(make_product):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    products = []
    for n in range(3):
        products.append(make_product(f"Standalone {n}", photos=("chelsea",)))
        parent = make_product(f"Parent {n}", photos=(), structure="parent")
        make_product("", photos=("coffee",), parent=parent, price="5.00", num_in_stock=0)
        make_product("", photos=("rocket",), parent=parent, price="6.00", num_in_stock=1)
        products.append(parent)
    adapter = get_adapter()
    adapter.get_display(products)  # thumbnails are generated once, then read from sorl's cache

    counts = []
    for page in (products[:2], products):
        with CaptureQueriesContext(connection) as queries:
            cards = get_adapter().get_display(page)
        assert all(card.image_url and card.price is not None for card in cards.values())
        counts.append(len(queries))
    assert counts[0] == counts[1], counts
